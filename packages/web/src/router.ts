import { createRouter, createWebHistory } from 'vue-router';
import ComparePage from './pages/ComparePage.vue';
import DeploymentPage from './pages/DeploymentPage.vue';
import DeploymentsPage from './pages/DeploymentsPage.vue';
import ExperimentsPage from './pages/ExperimentsPage.vue';
import ModelPage from './pages/ModelPage.vue';
import ModelsPage from './pages/ModelsPage.vue';
import NotFoundPage from './pages/NotFoundPage.vue';
import PipelineRunPage from './pages/PipelineRunPage.vue';
import RunPage from './pages/RunPage.vue';
import RunsPage from './pages/RunsPage.vue';

/** The UI's pages; each keeps its view state (search, filter, columns, chart) in the query. */
export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', redirect: '/experiments' },
    { path: '/experiments', name: 'experiments', component: ExperimentsPage },
    { path: '/experiments/:experimentId', name: 'runs', component: RunsPage, props: true },
    { path: '/runs/:runId', name: 'run', component: RunPage, props: true },
    { path: '/compare', name: 'compare', component: ComparePage },
    { path: '/models', name: 'models', component: ModelsPage },
    { path: '/models/:name', name: 'model', component: ModelPage, props: true },
    { path: '/deployments', name: 'deployments', component: DeploymentsPage },
    { path: '/deployments/:name', name: 'deployment', component: DeploymentPage, props: true },
    {
      path: '/pipeline-runs/:trackingRunId',
      name: 'pipeline-run',
      component: PipelineRunPage,
      props: true,
    },
    { path: '/:path(.*)*', name: 'not-found', component: NotFoundPage },
  ],
});

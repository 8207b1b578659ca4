import { createRouter, createWebHistory } from 'vue-router';
import NotFoundPage from './pages/NotFoundPage.vue';

/**
 * The UI's pages; each keeps its view state (search, filter, columns, chart) in the query. Each
 * page is its own chunk, loaded when first visited: the runs table does not wait for echarts
 * (compare) or dagre (pipeline graphs) to download and parse.
 */
export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', redirect: '/experiments' },
    {
      path: '/experiments',
      name: 'experiments',
      component: () => import('./pages/ExperimentsPage.vue'),
    },
    {
      path: '/experiments/:experimentId',
      name: 'runs',
      component: () => import('./pages/RunsPage.vue'),
      props: true,
    },
    {
      path: '/runs/:runId',
      name: 'run',
      component: () => import('./pages/RunPage.vue'),
      props: true,
    },
    { path: '/compare', name: 'compare', component: () => import('./pages/ComparePage.vue') },
    { path: '/models', name: 'models', component: () => import('./pages/ModelsPage.vue') },
    {
      path: '/models/:name',
      name: 'model',
      component: () => import('./pages/ModelPage.vue'),
      props: true,
    },
    {
      path: '/deployments',
      name: 'deployments',
      component: () => import('./pages/DeploymentsPage.vue'),
    },
    {
      path: '/deployments/:name',
      name: 'deployment',
      component: () => import('./pages/DeploymentPage.vue'),
      props: true,
    },
    {
      path: '/pipeline-runs/:trackingRunId',
      name: 'pipeline-run',
      component: () => import('./pages/PipelineRunPage.vue'),
      props: true,
    },
    { path: '/:path(.*)*', name: 'not-found', component: NotFoundPage },
  ],
});

import { createRouter, createWebHistory } from 'vue-router';
import ExperimentsPage from './pages/ExperimentsPage.vue';
import NotFoundPage from './pages/NotFoundPage.vue';
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
    { path: '/:path(.*)*', name: 'not-found', component: NotFoundPage },
  ],
});

export { createClient } from './create-client.js';
export type {
  ClientOptions,
  DeploymentsApi,
  ExperimentsApi,
  ModelVersionsApi,
  RegisteredModelsApi,
  RunsApi,
  YardClient,
} from './create-client.js';
export type * from './api-types.js';
export { YardClientError, YardConnectionError, isYardClientError } from './client-error.js';
export { paginate, collect } from './paging.js';

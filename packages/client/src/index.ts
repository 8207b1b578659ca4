export { createClient } from './create-client.js';
export type {
  BlobsApi,
  ClientOptions,
  DeploymentsApi,
  ExperimentsApi,
  ModelVersionsApi,
  PipelineCacheApi,
  RegisteredModelsApi,
  RunArtifactsApi,
  RunsApi,
  YardClient,
} from './create-client.js';
export type * from './api-types.js';
export { YardClientError, YardConnectionError, isYardClientError } from './client-error.js';
export { paginate, collect } from './paging.js';

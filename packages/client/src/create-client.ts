import type {
  AbReport,
  Deployment,
  Experiment,
  Metric,
  ModelVersion,
  PipelineCacheEntry,
  PipelineCacheEntryInput,
  PipelineCacheLookup,
  RegisteredModel,
  Run,
  ViewType,
} from '@modelyard/core';
import type {
  BlobPutResult,
  CreateDeploymentInput,
  CreateExperimentInput,
  CreateModelVersionInput,
  CreateRegisteredModelInput,
  CreateRunInput,
  DeploymentEventPage,
  DeploymentMetrics,
  DownsampledHistoryOptions,
  DownsampledMetricHistory,
  ExperimentPage,
  HealthStatus,
  LogBatchInput,
  MetricPage,
  ModelVersionPage,
  OutcomeInput,
  RegisteredModelPage,
  RolloutInput,
  RunArtifactListing,
  RunArtifactWritten,
  RunPage,
  SearchExperimentsOptions,
  SearchOptions,
  SearchRunsOptions,
  StepRunsApi,
  UpdateDeploymentInput,
  UpdateRegisteredModelInput,
  UpdateRunInput,
} from './api-types.js';
import { YardClientError } from './client-error.js';
import { createTransport } from './http-transport.js';
import type { BinaryData, QueryValue } from './http-transport.js';
import { paginate } from './paging.js';

/** How to reach the server. */
export interface ClientOptions {
  /** The server's address, e.g. `http://127.0.0.1:5000`. */
  baseUrl: string;
  /** A `fetch` implementation; the global one by default. */
  fetch?: typeof globalThis.fetch;
  /** Headers sent with every request (an `authorization` header, say). */
  headers?: Record<string, string>;
}

/** Experiments: `/api/v1/experiments`. */
export interface ExperimentsApi {
  /** One page of experiments matching `options`. */
  search(options?: SearchExperimentsOptions): Promise<ExperimentPage>;
  /** Every matching experiment, fetching pages as the iteration goes. */
  searchAll(options?: Omit<SearchExperimentsOptions, 'pageToken'>): AsyncGenerator<Experiment>;
  /** @throws YardClientError `RESOURCE_ALREADY_EXISTS` when the name is taken. */
  create(input: CreateExperimentInput): Promise<Experiment>;
  /** @throws YardClientError `RESOURCE_DOES_NOT_EXIST` */
  get(experimentId: string): Promise<Experiment>;
  /** @throws YardClientError `RESOURCE_DOES_NOT_EXIST` */
  getByName(name: string): Promise<Experiment>;
  rename(experimentId: string, newName: string): Promise<Experiment>;
  /** Soft-deletes the experiment and its runs (restorable). */
  delete(experimentId: string): Promise<void>;
  restore(experimentId: string): Promise<Experiment>;
  setTag(experimentId: string, key: string, value: string): Promise<void>;
  deleteTag(experimentId: string, key: string): Promise<void>;
}

/** Runs: `/api/v1/runs`. */
export interface RunsApi {
  /** One page of runs; sent as `POST /api/v1/runs/search` so long filters fit. */
  search(options: SearchRunsOptions): Promise<RunPage>;
  /** Every matching run, fetching pages as the iteration goes. */
  searchAll(options: Omit<SearchRunsOptions, 'pageToken'>): AsyncGenerator<Run>;
  create(input: CreateRunInput): Promise<Run>;
  /** @throws YardClientError `RESOURCE_DOES_NOT_EXIST` */
  get(runId: string): Promise<Run>;
  update(runId: string, input: UpdateRunInput): Promise<Run>;
  delete(runId: string): Promise<void>;
  restore(runId: string): Promise<Run>;
  /** Logs metrics, params and tags in one transaction: all or nothing. */
  logBatch(runId: string, batch: LogBatchInput): Promise<void>;
  /** One page of every point logged for metric `key`. */
  getMetricHistory(
    runId: string,
    key: string,
    options?: { maxResults?: number; pageToken?: string },
  ): Promise<MetricPage>;
  /** Every point logged for metric `key`. */
  metricHistoryAll(
    runId: string,
    key: string,
    options?: { maxResults?: number },
  ): AsyncGenerator<Metric>;
  /**
   * Metric `key`'s history reduced to at most `maxPoints` points for a chart (largest triangle
   * three buckets: first and last points kept, peaks preferred), optionally only in a step range
   * (a zoomed chart asks for its range again at full resolution).
   * @throws YardClientError `INVALID_PARAMETER_VALUE` naming a `maxPoints` outside 10..10,000 or
   *   a bad step range; `RESOURCE_DOES_NOT_EXIST` for an unknown run.
   * @example
   * const { metrics, totalPoints } = await yard.runs.downsampledHistory(runId, 'loss', {
   *   maxPoints: 2000,
   * });
   */
  downsampledHistory(
    runId: string,
    key: string,
    options?: DownsampledHistoryOptions,
  ): Promise<DownsampledMetricHistory>;
  deleteTag(runId: string, key: string): Promise<void>;
  /** The run's artifact files. */
  readonly artifacts: RunArtifactsApi;
}

/**
 * A run's artifacts: `/api/v1/runs/{runId}/artifacts`. Paths are relative to the run's artifact
 * root, '/'-separated; the server refuses `..`, absolute paths and percent-encoded separators.
 * Only for runs whose artifacts the server proxies (`mlflow-artifacts:` URIs); for others the
 * server answers `INVALID_PARAMETER_VALUE`.
 */
export interface RunArtifactsApi {
  /**
   * The direct children of folder `path` (the root when omitted). A missing folder lists empty.
   * @throws YardClientError `RESOURCE_DOES_NOT_EXIST` for an unknown run.
   */
  list(runId: string, path?: string): Promise<RunArtifactListing>;
  /**
   * The bytes of file `path`.
   * @throws YardClientError `RESOURCE_DOES_NOT_EXIST` for an unknown run or file.
   */
  download(runId: string, path: string): Promise<Uint8Array>;
  /**
   * Stores `data` as file `path` (replacing it); an async iterable is streamed chunk by chunk.
   * @throws YardClientError `RESOURCE_DOES_NOT_EXIST` for an unknown run,
   *   `INVALID_PARAMETER_VALUE` for a refused path or a deleted run.
   */
  upload(runId: string, path: string, data: BinaryData): Promise<RunArtifactWritten>;
}

/**
 * Content-addressed blobs: `/api/v1/blobs/sha256/{hex}`. A blob is named by its digest,
 * `sha256:<64 lower-case hex>`; the server checks the digest while storing.
 */
export interface BlobsApi {
  /**
   * Uploads `data` as the blob named `digest`; an async iterable is streamed chunk by chunk.
   * Putting a blob the server has already is safe (`created: false`).
   * @throws Error for a malformed digest (before any request); YardClientError
   *   `INVALID_PARAMETER_VALUE` when the bytes' sha256 is not `digest` (nothing is stored).
   * @example
   * const bytes = new TextEncoder().encode('hello');
   * const hex = createHash('sha256').update(bytes).digest('hex');
   * await yard.blobs.put(`sha256:${hex}`, bytes);
   */
  put(digest: string, data: BinaryData): Promise<BlobPutResult>;
  /** Whether the server stores the blob (one HEAD request). */
  has(digest: string): Promise<boolean>;
  /**
   * The blob's bytes.
   * @throws YardClientError `RESOURCE_DOES_NOT_EXIST` when it is not stored.
   */
  get(digest: string): Promise<Uint8Array>;
}

/**
 * The pipeline step cache: `/api/v1/pipeline-cache/{key}`, where a key is a sha256 as 64
 * lower-case hex digits.
 */
export interface PipelineCacheApi {
  /**
   * The entry under `key`, or undefined when there is none (a miss); with `requireOutput`, also
   * undefined when the entry's output blob no longer exists.
   */
  get(key: string, options?: { requireOutput?: boolean }): Promise<PipelineCacheEntry | undefined>;
  /**
   * Writes the entry under `key`, replacing any entry there; `createdAt` becomes now.
   * @throws YardClientError `INVALID_PARAMETER_VALUE` for a malformed key or digest.
   */
  put(key: string, input: PipelineCacheEntryInput): Promise<PipelineCacheEntry>;
  /** Deletes the entry under `key`; deleting a missing entry is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Every entry whose scope is one of `scopes` (1 to 1,000 sha256 hex strings), newest first,
   * in one request; with `requireOutput`, only those whose output blob exists. `complete` is
   * false when the server had more than it answers (10,000): look the rest up by key.
   * @throws YardClientError `INVALID_PARAMETER_VALUE` naming a malformed scope.
   */
  lookup(scopes: string[], options?: { requireOutput?: boolean }): Promise<PipelineCacheLookup>;
}

/** Registered models: `/api/v1/registered-models`. */
export interface RegisteredModelsApi {
  search(options?: SearchOptions): Promise<RegisteredModelPage>;
  searchAll(options?: Omit<SearchOptions, 'pageToken'>): AsyncGenerator<RegisteredModel>;
  create(input: CreateRegisteredModelInput): Promise<RegisteredModel>;
  get(name: string): Promise<RegisteredModel>;
  /** Renames the model (`input.name`) and/or sets its description. */
  update(name: string, input: UpdateRegisteredModelInput): Promise<RegisteredModel>;
  /** Deletes the model and all its versions. */
  delete(name: string): Promise<void>;
  setTag(name: string, key: string, value: string): Promise<void>;
  deleteTag(name: string, key: string): Promise<void>;
  /** Points `alias` at `version` and returns that version. */
  setAlias(name: string, alias: string, version: string | number): Promise<ModelVersion>;
  getByAlias(name: string, alias: string): Promise<ModelVersion>;
  deleteAlias(name: string, alias: string): Promise<void>;
}

/** Model versions: `/api/v1/model-versions` and `/api/v1/registered-models/{name}/versions`. */
export interface ModelVersionsApi {
  search(options?: SearchOptions): Promise<ModelVersionPage>;
  searchAll(options?: Omit<SearchOptions, 'pageToken'>): AsyncGenerator<ModelVersion>;
  /** Registers a new version of model `name`. */
  create(name: string, input: CreateModelVersionInput): Promise<ModelVersion>;
  get(name: string, version: string | number): Promise<ModelVersion>;
  update(
    name: string,
    version: string | number,
    input: { description: string },
  ): Promise<ModelVersion>;
  delete(name: string, version: string | number): Promise<void>;
  /** Moves a version to a legacy stage (`None`, `Staging`, `Production`, `Archived`). */
  transitionStage(
    name: string,
    version: string | number,
    stage: string,
    options?: { archiveExistingVersions?: boolean },
  ): Promise<ModelVersion>;
  setTag(name: string, version: string | number, key: string, value: string): Promise<void>;
  deleteTag(name: string, version: string | number, key: string): Promise<void>;
}

/** Deployments: `/api/v1/deployments`. */
export interface DeploymentsApi {
  /**
   * Deploys a model version behind a named endpoint. Returns at once with status `loading`;
   * poll {@link DeploymentsApi.get} (or use {@link DeploymentsApi.waitUntilSettled}).
   * @throws YardClientError `INVALID_PARAMETER_VALUE` for a bad name or model URI,
   *   `RESOURCE_DOES_NOT_EXIST` for an unknown model/version/alias, `RESOURCE_ALREADY_EXISTS`.
   */
  create(input: CreateDeploymentInput): Promise<Deployment>;
  list(): Promise<Deployment[]>;
  /** @throws YardClientError `RESOURCE_DOES_NOT_EXIST` */
  get(name: string): Promise<Deployment>;
  /** Changes the replica count; the new replicas replace the old ones once loaded. */
  scale(name: string, replicas: number, options?: { reason?: string }): Promise<Deployment>;
  /**
   * Changes the description and/or the primary's sizing (replicas, concurrency, batching); the
   * primary loads again beside the serving copy and replaces it when ready. To serve another
   * model version, start a {@link DeploymentsApi.rollout}.
   * @throws YardClientError `INVALID_PARAMETER_VALUE` for a bad value or an empty change,
   *   `RESOURCE_DOES_NOT_EXIST`.
   */
  update(name: string, input: UpdateDeploymentInput): Promise<Deployment>;
  /**
   * Starts a rollout of a new model version (canary, blue-green, A/B or shadow). Returns at once
   * with the rollout in phase `warming`; the server then moves traffic, promotes or rolls back by
   * itself. Follow it with {@link DeploymentsApi.metrics} or {@link DeploymentsApi.waitForRollout}.
   * @example
   * await client.deployments.rollout('churn', {
   *   modelUri: 'models:/churn/4',
   *   strategy: 'canary',
   *   stages: [10, 50, 100],
   *   holdSeconds: 120,
   *   gates: { maxErrorRateIncrease: 0.01, maxP95LatencyRatio: 1.2 },
   * });
   * @throws YardClientError `INVALID_STATE` when a rollout is in progress or the primary is not
   *   ready, `INVALID_PARAMETER_VALUE` for a setting that is out of range or does not apply to
   *   the strategy, `RESOURCE_DOES_NOT_EXIST` for an unknown deployment or model version.
   */
  rollout(name: string, input: RolloutInput): Promise<Deployment>;
  /**
   * Makes the rollout's candidate the primary now.
   * @throws YardClientError `INVALID_STATE` when no rollout is in progress or the candidate is
   *   still loading.
   */
  promote(name: string, options?: { reason?: string }): Promise<Deployment>;
  /**
   * Rolls the rollout's candidate back now; the primary takes all traffic at once.
   * @throws YardClientError `INVALID_STATE` when no rollout is in progress.
   */
  rollback(name: string, options?: { reason?: string }): Promise<Deployment>;
  /**
   * Records outcomes of a running A/B test's metric (1 to 10000 per call) and answers the test's
   * report with its p-value.
   * @throws YardClientError `INVALID_STATE` when no A/B test with a metric is running,
   *   `INVALID_PARAMETER_VALUE` for an unknown variant or a value the metric refuses.
   */
  recordOutcomes(name: string, outcomes: OutcomeInput[]): Promise<AbReport>;
  /** Live per-variant requests, errors and latency, and the rollout's state. */
  metrics(name: string): Promise<DeploymentMetrics>;
  /**
   * Polls {@link DeploymentsApi.metrics} until the rollout has ended (`completed` or
   * `rolled-back`) and returns the last figures. `onPoll` sees each poll (default every second)
   * and is awaited before the next one; waits without limit unless `timeoutMs` is given.
   * @throws Error when the deployment has no rollout, or it has not ended after `timeoutMs`.
   */
  waitForRollout(
    name: string,
    options?: {
      intervalMs?: number;
      timeoutMs?: number;
      onPoll?: (metrics: DeploymentMetrics) => void | Promise<void>;
    },
  ): Promise<DeploymentMetrics>;
  /** Stops serving and deletes the deployment (its events are kept). */
  delete(name: string, options?: { reason?: string }): Promise<void>;
  /** One page of the deployment's events, oldest first (`order: 'desc'`: newest first). */
  events(
    name: string,
    options?: { maxResults?: number; pageToken?: string; order?: 'asc' | 'desc' },
  ): Promise<DeploymentEventPage>;
  /**
   * Polls until the deployment is no longer `loading` and returns it (`ready`, `failed`, ...).
   * `onPoll` sees each state polled; gives up after `timeoutMs` (default 5 minutes).
   */
  waitUntilSettled(
    name: string,
    options?: { intervalMs?: number; timeoutMs?: number; onPoll?: (d: Deployment) => void },
  ): Promise<Deployment>;
}

/** A typed client of the native API (`/api/v1`). */
export interface YardClient {
  /** The base URL requests go to, without a trailing slash. */
  readonly baseUrl: string;
  /** `GET /api/v1/health`. */
  health(): Promise<HealthStatus>;
  readonly experiments: ExperimentsApi;
  readonly runs: RunsApi;
  readonly registeredModels: RegisteredModelsApi;
  readonly modelVersions: ModelVersionsApi;
  readonly deployments: DeploymentsApi;
  readonly blobs: BlobsApi;
  readonly pipelineCache: PipelineCacheApi;
  /**
   * Pipeline step runs: many tracking runs (ids chosen by the caller), their tags and their
   * pipeline cache entries recorded in one request and one server transaction.
   */
  readonly stepRuns: StepRunsApi;
}

const V1 = '/api/v1';

const BLOB_DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The URL path of a blob; refuses a malformed digest before anything is sent. */
function blobPath(digest: string): string {
  if (!BLOB_DIGEST.test(digest)) {
    throw new Error(
      `Invalid blob digest ${JSON.stringify(digest)}: expected 'sha256:' followed by 64 ` +
        `lower-case hex digits (the sha256 of the bytes).`,
    );
  }
  return `${V1}/blobs/sha256/${digest.slice('sha256:'.length)}`;
}

/** True for the server's answer that a named resource does not exist (not a missing route). */
function isMissing(error: unknown): boolean {
  return (
    error instanceof YardClientError &&
    error.status === 404 &&
    error.code === 'RESOURCE_DOES_NOT_EXIST'
  );
}

/** Encodes one path segment (names may hold `/`, spaces, `?`). */
const seg = (value: string | number): string => encodeURIComponent(String(value));

/** JSON cannot carry non-finite numbers; the server reads them as these strings. */
function encodeDouble(value: number): number | string {
  if (Number.isFinite(value)) return value;
  return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
}

function decodeDouble(value: number | string): number {
  if (typeof value === 'number') return value;
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  return value === 'NaN' ? NaN : Number(value);
}

function decodeMetric(metric: Metric): Metric {
  return { ...metric, value: decodeDouble(metric.value) };
}

function decodeRun(run: Run): Run {
  return { ...run, data: { ...run.data, metrics: run.data.metrics.map(decodeMetric) } };
}

function orderByList(orderBy: string | string[] | undefined): string[] | undefined {
  return orderBy === undefined ? undefined : typeof orderBy === 'string' ? [orderBy] : orderBy;
}

function searchQuery(options: SearchOptions & { viewType?: ViewType }): Record<string, QueryValue> {
  return {
    filter: options.filter,
    orderBy: orderByList(options.orderBy),
    maxResults: options.maxResults,
    pageToken: options.pageToken,
    viewType: options.viewType,
  };
}

/**
 * Creates a typed client of a Modelyard server's native API. Every method sends one request;
 * `searchAll`-style methods return async iterators that follow page tokens.
 *
 * Failures throw `YardClientError` (the server's `code`, HTTP `status`, `message` and
 * `requestId`) or, when the server cannot be reached, `YardConnectionError`. Metric values
 * come back as numbers, NaN and ±Infinity included.
 *
 * @example
 * import { createClient } from '@modelyard/client';
 *
 * const yard = createClient({ baseUrl: 'http://127.0.0.1:5000' });
 * const experiment = await yard.experiments.create({ name: 'churn' });
 * const run = await yard.runs.create({ experimentId: experiment.experimentId, runName: 'baseline' });
 * await yard.runs.logBatch(run.info.runId, {
 *   params: [{ key: 'lr', value: '0.1' }],
 *   metrics: [{ key: 'rmse', value: 0.42, step: 1 }],
 * });
 * for await (const r of yard.runs.searchAll({
 *   experimentIds: [experiment.experimentId],
 *   filter: 'metrics.rmse < 0.5',
 *   orderBy: 'metrics.rmse ASC',
 * })) {
 *   console.log(r.info.runName, r.data.metrics);
 * }
 */
export function createClient(options: ClientOptions): YardClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const http = createTransport({
    baseUrl,
    fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
    headers: options.headers ?? {},
  });

  const experiments: ExperimentsApi = {
    search: (o = {}) =>
      http<ExperimentPage>({ method: 'GET', path: `${V1}/experiments`, query: searchQuery(o) }),
    searchAll: (o = {}) =>
      paginate(
        (pageToken) => experiments.search({ ...o, ...(pageToken && { pageToken }) }),
        (p) => p.experiments,
      ),
    create: (input) => http({ method: 'POST', path: `${V1}/experiments`, body: input }),
    get: (id) => http({ method: 'GET', path: `${V1}/experiments/${seg(id)}` }),
    getByName: (name) => http({ method: 'GET', path: `${V1}/experiments/by-name/${seg(name)}` }),
    rename: (id, name) =>
      http({ method: 'PATCH', path: `${V1}/experiments/${seg(id)}`, body: { name } }),
    delete: (id) => http({ method: 'DELETE', path: `${V1}/experiments/${seg(id)}` }),
    restore: (id) => http({ method: 'POST', path: `${V1}/experiments/${seg(id)}/restore` }),
    setTag: (id, key, value) =>
      http({
        method: 'PUT',
        path: `${V1}/experiments/${seg(id)}/tags/${seg(key)}`,
        body: { value },
      }),
    deleteTag: (id, key) =>
      http({ method: 'DELETE', path: `${V1}/experiments/${seg(id)}/tags/${seg(key)}` }),
  };

  const runs: RunsApi = {
    search: async (o) => {
      const page = await http<RunPage>({
        method: 'POST',
        path: `${V1}/runs/search`,
        body: { experimentIds: o.experimentIds, ...searchQuery(o) },
      });
      return { ...page, runs: page.runs.map(decodeRun) };
    },
    searchAll: (o) =>
      paginate(
        (pageToken) => runs.search({ ...o, ...(pageToken && { pageToken }) }),
        (p) => p.runs,
      ),
    create: async (input) =>
      decodeRun(await http<Run>({ method: 'POST', path: `${V1}/runs`, body: input })),
    get: async (runId) =>
      decodeRun(await http<Run>({ method: 'GET', path: `${V1}/runs/${seg(runId)}` })),
    update: async (runId, input) =>
      decodeRun(
        await http<Run>({ method: 'PATCH', path: `${V1}/runs/${seg(runId)}`, body: input }),
      ),
    delete: (runId) => http({ method: 'DELETE', path: `${V1}/runs/${seg(runId)}` }),
    restore: async (runId) =>
      decodeRun(await http<Run>({ method: 'POST', path: `${V1}/runs/${seg(runId)}/restore` })),
    logBatch: (runId, batch) =>
      http({
        method: 'POST',
        path: `${V1}/runs/${seg(runId)}/log-batch`,
        body: {
          ...batch,
          metrics: batch.metrics?.map((m) => ({ ...m, value: encodeDouble(m.value) })),
        },
      }),
    getMetricHistory: async (runId, key, o = {}) => {
      const page = await http<MetricPage>({
        method: 'GET',
        path: `${V1}/runs/${seg(runId)}/metric-history`,
        query: { key, maxResults: o.maxResults, pageToken: o.pageToken },
      });
      return { ...page, metrics: page.metrics.map(decodeMetric) };
    },
    metricHistoryAll: (runId, key, o = {}) =>
      paginate(
        (pageToken) => runs.getMetricHistory(runId, key, { ...o, ...(pageToken && { pageToken }) }),
        (p) => p.metrics,
      ),
    downsampledHistory: async (runId, key, o = {}) => {
      const page = await http<DownsampledMetricHistory>({
        method: 'GET',
        path: `${V1}/runs/${seg(runId)}/metrics/${seg(key)}/history`,
        query: { maxPoints: o.maxPoints, minStep: o.minStep, maxStep: o.maxStep },
      });
      return { ...page, metrics: page.metrics.map(decodeMetric) };
    },
    deleteTag: (runId, key) =>
      http({ method: 'DELETE', path: `${V1}/runs/${seg(runId)}/tags/${seg(key)}` }),
    artifacts: {
      list: (runId, path) =>
        http({ method: 'GET', path: `${V1}/runs/${seg(runId)}/artifacts`, query: { path } }),
      download: (runId, path) =>
        http({
          method: 'GET',
          path: `${V1}/runs/${seg(runId)}/artifacts/content`,
          query: { path },
          responseType: 'bytes',
        }),
      upload: (runId, path, data) =>
        http({
          method: 'PUT',
          path: `${V1}/runs/${seg(runId)}/artifacts/content`,
          query: { path },
          binaryBody: data,
        }),
    },
  };

  const model = (name: string): string => `${V1}/registered-models/${seg(name)}`;
  const version = (name: string, v: string | number): string => `${model(name)}/versions/${seg(v)}`;

  const registeredModels: RegisteredModelsApi = {
    search: (o = {}) =>
      http({ method: 'GET', path: `${V1}/registered-models`, query: searchQuery(o) }),
    searchAll: (o = {}) =>
      paginate(
        (pageToken) => registeredModels.search({ ...o, ...(pageToken && { pageToken }) }),
        (p) => p.registeredModels,
      ),
    create: (input) => http({ method: 'POST', path: `${V1}/registered-models`, body: input }),
    get: (name) => http({ method: 'GET', path: model(name) }),
    update: (name, input) => http({ method: 'PATCH', path: model(name), body: input }),
    delete: (name) => http({ method: 'DELETE', path: model(name) }),
    setTag: (name, key, value) =>
      http({ method: 'PUT', path: `${model(name)}/tags/${seg(key)}`, body: { value } }),
    deleteTag: (name, key) => http({ method: 'DELETE', path: `${model(name)}/tags/${seg(key)}` }),
    setAlias: (name, alias, v) =>
      http({
        method: 'PUT',
        path: `${model(name)}/aliases/${seg(alias)}`,
        body: { version: String(v) },
      }),
    getByAlias: (name, alias) =>
      http({ method: 'GET', path: `${model(name)}/aliases/${seg(alias)}` }),
    deleteAlias: (name, alias) =>
      http({ method: 'DELETE', path: `${model(name)}/aliases/${seg(alias)}` }),
  };

  const modelVersions: ModelVersionsApi = {
    search: (o = {}) =>
      http({ method: 'GET', path: `${V1}/model-versions`, query: searchQuery(o) }),
    searchAll: (o = {}) =>
      paginate(
        (pageToken) => modelVersions.search({ ...o, ...(pageToken && { pageToken }) }),
        (p) => p.modelVersions,
      ),
    create: (name, input) => http({ method: 'POST', path: `${model(name)}/versions`, body: input }),
    get: (name, v) => http({ method: 'GET', path: version(name, v) }),
    update: (name, v, input) => http({ method: 'PATCH', path: version(name, v), body: input }),
    delete: (name, v) => http({ method: 'DELETE', path: version(name, v) }),
    transitionStage: (name, v, stage, o = {}) =>
      http({
        method: 'POST',
        path: `${version(name, v)}/stage`,
        body: { stage, archiveExistingVersions: o.archiveExistingVersions ?? false },
      }),
    setTag: (name, v, key, value) =>
      http({ method: 'PUT', path: `${version(name, v)}/tags/${seg(key)}`, body: { value } }),
    deleteTag: (name, v, key) =>
      http({ method: 'DELETE', path: `${version(name, v)}/tags/${seg(key)}` }),
  };

  const deploymentPath = (name: string): string => `${V1}/deployments/${seg(name)}`;
  const deployments: DeploymentsApi = {
    create: (input) => http({ method: 'POST', path: `${V1}/deployments`, body: input }),
    list: async () =>
      (await http<{ deployments: Deployment[] }>({ method: 'GET', path: `${V1}/deployments` }))
        .deployments,
    get: (name) => http({ method: 'GET', path: deploymentPath(name) }),
    scale: (name, replicas, o = {}) =>
      http({
        method: 'POST',
        path: `${deploymentPath(name)}/scale`,
        body: { replicas, reason: o.reason },
      }),
    update: (name, input) => http({ method: 'PATCH', path: deploymentPath(name), body: input }),
    rollout: (name, input) =>
      http({ method: 'POST', path: `${deploymentPath(name)}/rollout`, body: input }),
    promote: (name, o = {}) =>
      http({ method: 'POST', path: `${deploymentPath(name)}/promote`, body: { reason: o.reason } }),
    rollback: (name, o = {}) =>
      http({
        method: 'POST',
        path: `${deploymentPath(name)}/rollback`,
        body: { reason: o.reason },
      }),
    recordOutcomes: (name, outcomes) =>
      http({ method: 'POST', path: `${deploymentPath(name)}/outcomes`, body: { outcomes } }),
    metrics: (name) => http({ method: 'GET', path: `${deploymentPath(name)}/metrics` }),
    waitForRollout: async (name, o = {}) => {
      const deadline = o.timeoutMs === undefined ? Infinity : Date.now() + o.timeoutMs;
      for (;;) {
        const metrics = await deployments.metrics(name);
        await o.onPoll?.(metrics);
        const phase = metrics.rollout?.phase;
        if (phase === undefined) {
          throw new Error(
            `Deployment '${name}' has no rollout to wait for; start one with deployments.rollout.`,
          );
        }
        if (phase === 'completed' || phase === 'rolled-back') return metrics;
        if (Date.now() > deadline) {
          throw new Error(
            `The rollout of deployment '${name}' is still ${phase} after ${String(o.timeoutMs)} ms.`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, o.intervalMs ?? 1000));
      }
    },
    delete: (name, o = {}) =>
      http({ method: 'DELETE', path: deploymentPath(name), query: { reason: o.reason } }),
    events: (name, o = {}) =>
      http({
        method: 'GET',
        path: `${deploymentPath(name)}/events`,
        query: { maxResults: o.maxResults, pageToken: o.pageToken, order: o.order },
      }),
    waitUntilSettled: async (name, o = {}) => {
      const deadline = Date.now() + (o.timeoutMs ?? 300_000);
      for (;;) {
        const deployment = await deployments.get(name);
        o.onPoll?.(deployment);
        if (deployment.status !== 'loading') return deployment;
        if (Date.now() > deadline) {
          throw new Error(
            `Deployment '${name}' is still loading after ${o.timeoutMs ?? 300_000} ms.`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, o.intervalMs ?? 250));
      }
    },
  };

  const blobs: BlobsApi = {
    put: async (digest, data) => http({ method: 'PUT', path: blobPath(digest), binaryBody: data }),
    has: async (digest) => {
      const path = blobPath(digest);
      try {
        await http({ method: 'HEAD', path, responseType: 'none' });
        return true;
      } catch (error) {
        // A HEAD answer carries no error body, so a 404 is all there is to go by.
        if (error instanceof YardClientError && error.status === 404) return false;
        throw error;
      }
    },
    get: async (digest) => http({ method: 'GET', path: blobPath(digest), responseType: 'bytes' }),
  };

  const cacheEntry = (key: string): string => `${V1}/pipeline-cache/${seg(key)}`;
  const pipelineCache: PipelineCacheApi = {
    get: async (key, options = {}) => {
      try {
        return await http<PipelineCacheEntry>({
          method: 'GET',
          path: `${cacheEntry(key)}${options.requireOutput === true ? '?requireOutput=true' : ''}`,
        });
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw error;
      }
    },
    put: (key, input) => http({ method: 'PUT', path: cacheEntry(key), body: input }),
    delete: (key) => http({ method: 'DELETE', path: cacheEntry(key) }),
    lookup: (scopes, options = {}) =>
      http({
        method: 'POST',
        path: `${V1}/pipeline-cache/lookup`,
        body: { scopes, requireOutput: options.requireOutput === true },
      }),
  };

  const stepRuns: StepRunsApi = {
    record: async (records) => {
      await http({ method: 'POST', path: `${V1}/pipeline-step-runs`, body: { records } });
    },
  };

  return {
    baseUrl,
    health: () => http({ method: 'GET', path: `${V1}/health` }),
    experiments,
    runs,
    registeredModels,
    modelVersions,
    deployments,
    blobs,
    pipelineCache,
    stepRuns,
  };
}

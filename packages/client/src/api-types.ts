import type {
  BatchingOptions,
  DeploymentEvent,
  Experiment,
  Metric,
  ModelVersion,
  Param,
  RegisteredModel,
  RolloutOptions,
  RolloutStrategy,
  Run,
  RunStatus,
  StepRunRecord,
  Tag,
  ViewType,
} from '@modelyard/core';

/** Options shared by every search. */
export interface SearchOptions {
  /** MLflow search filter, e.g. `metrics.rmse < 0.5 and params.lr = '0.1'`. */
  filter?: string;
  /** Order-by clauses, e.g. `['metrics.rmse DESC']`; a single string is one clause. */
  orderBy?: string | string[];
  /** Page size. The server's default applies when omitted. */
  maxResults?: number;
  /** The `nextPageToken` of the previous page. */
  pageToken?: string;
}

/** Options of an experiment search. */
export interface SearchExperimentsOptions extends SearchOptions {
  /** Which lifecycle stages to return; `ACTIVE_ONLY` by default. */
  viewType?: ViewType;
}

/** Options of a run search. */
export interface SearchRunsOptions extends SearchOptions {
  /** The experiments to search in (at least one). */
  experimentIds: string[];
  viewType?: ViewType;
}

/** One page of experiments. */
export interface ExperimentPage {
  experiments: Experiment[];
  nextPageToken?: string;
}

/** One page of runs. */
export interface RunPage {
  runs: Run[];
  nextPageToken?: string;
}

/** One page of a metric's history. */
export interface MetricPage {
  metrics: Metric[];
  nextPageToken?: string;
}

/** What `runs.downsampledHistory` answers: a metric's history reduced for drawing. */
export interface DownsampledMetricHistory {
  /** The points kept (first and last of the range always), ordered by step then timestamp. */
  metrics: Metric[];
  /** How many points the metric has in the step range asked for. */
  totalPoints: number;
  /** Whether points were left out (`totalPoints` > `metrics.length`). */
  downsampled: boolean;
}

/** Options of `runs.downsampledHistory`. */
export interface DownsampledHistoryOptions {
  /** The most points to answer, 10 to 10,000; the server's default is 2,000. */
  maxPoints?: number;
  /** Only points at this step or later. */
  minStep?: number;
  /** Only points at this step or earlier. */
  maxStep?: number;
}

/** One page of registered models. */
export interface RegisteredModelPage {
  registeredModels: RegisteredModel[];
  nextPageToken?: string;
}

/** One page of model versions. */
export interface ModelVersionPage {
  modelVersions: ModelVersion[];
  nextPageToken?: string;
}

/** What `experiments.create` takes. */
export interface CreateExperimentInput {
  name: string;
  artifactLocation?: string;
  tags?: Tag[];
}

/** What `runs.create` takes. */
export interface CreateRunInput {
  experimentId: string;
  /** A generated name (`clever-fox-123`) when omitted. */
  runName?: string;
  userId?: string;
  /** Milliseconds since the epoch; now when omitted. */
  startTime?: number;
  tags?: Tag[];
}

/** What `runs.update` takes. */
export interface UpdateRunInput {
  status?: RunStatus;
  endTime?: number;
  runName?: string;
}

/** A metric point to log; `timestamp` defaults to now and `step` to 0 on the server. */
export interface MetricInput {
  key: string;
  /** May be NaN or ±Infinity. */
  value: number;
  timestamp?: number;
  step?: number;
  modelId?: string;
  datasetName?: string;
  datasetDigest?: string;
}

/** What `runs.logBatch` takes. */
export interface LogBatchInput {
  metrics?: MetricInput[];
  params?: Param[];
  tags?: Tag[];
}

/** What `registeredModels.create` takes. */
export interface CreateRegisteredModelInput {
  name: string;
  description?: string;
  tags?: Tag[];
}

/** What `registeredModels.update` takes: a new name, a new description, or both. */
export interface UpdateRegisteredModelInput {
  name?: string;
  description?: string;
}

/** What `modelVersions.create` takes. */
export interface CreateModelVersionInput {
  /** Where the model files are, e.g. `runs:/<run id>/model`. */
  source: string;
  runId?: string;
  runLink?: string;
  description?: string;
  tags?: Tag[];
  modelId?: string;
}

/** `GET /api/v1/health`. */
export interface HealthStatus {
  status: 'ok';
  version: string;
}

/** What `deployments.create` sends. */
export interface CreateDeploymentInput {
  /** Endpoint name: a DNS label (lower-case letters, digits, `-`). */
  name: string;
  /** `models:/<model>/<version>` or `models:/<model>@<alias>`. */
  modelUri: string;
  description?: string;
  /** Worker replicas holding the model; default 1. */
  replicas?: number;
  /** Requests one replica runs at once; default 4. */
  maxConcurrency?: number;
  /** Dynamic batching: up to `maxBatchSize` rows, or whatever arrived within `maxLatencyMs`. */
  batching?: { maxBatchSize: number; maxLatencyMs: number };
  /** Why (recorded on the deployment's event). */
  reason?: string;
}

/** A page of a deployment's events, in the order asked for (oldest first by default). */
export interface DeploymentEventPage {
  events: DeploymentEvent[];
  nextPageToken?: string;
}

/**
 * What `deployments.update` sends: the fields to change (at least one). Sizing applies to the
 * primary variant, which loads again beside the serving copy and replaces it when ready.
 */
export interface UpdateDeploymentInput {
  description?: string;
  /** Worker replicas holding the primary's model (1 to 64). */
  replicas?: number;
  /** Requests one replica runs at once (1 to 64). */
  maxConcurrency?: number;
  /** Dynamic batching of the primary's requests; `null` turns it off. */
  batching?: BatchingOptions | null;
  /** Why (recorded on the deployment's event). */
  reason?: string;
}

/**
 * What `deployments.rollout` sends: the candidate version, the strategy and its settings (see
 * `RolloutOptions` in `@modelyard/core` for which setting applies to which strategy; the server
 * refuses a setting that does not apply), and the candidate's sizing (the primary's by default).
 */
export interface RolloutInput extends RolloutOptions {
  /** The candidate: `models:/<model>/<version>` or `models:/<model>@<alias>`. */
  modelUri: string;
  strategy: RolloutStrategy;
  replicas?: number;
  maxConcurrency?: number;
  /** The candidate's dynamic batching; `null` turns it off, absent copies the primary's. */
  batching?: BatchingOptions | null;
  /** Why (recorded on the deployment's event). */
  reason?: string;
}

/**
 * One outcome of an A/B test's declared metric: the variant that answered (the
 * `x-modelyard-variant` response header), or the request's sticky key. Proportion metrics take
 * 0 or 1.
 */
export interface OutcomeInput {
  variant?: string;
  key?: string;
  value: number;
}

export type { DeploymentMetrics, VariantMetrics } from '@modelyard/core';

/** What `blobs.put` answers. */
export interface BlobPutResult {
  /** `sha256:<hex>`. */
  digest: string;
  /** Size in bytes. */
  size: number;
  /** False when the server had the blob already (the upload was checked, not stored again). */
  created: boolean;
}

/** One entry of a run's artifact listing. */
export interface RunArtifactFile {
  /** Path relative to the run's artifact root, '/'-separated. */
  path: string;
  isDir: boolean;
  /** Size in bytes; absent for folders. */
  fileSize?: number;
}

/** What `runs.artifacts.list` answers. */
export interface RunArtifactListing {
  /** The run's artifact URI. */
  rootUri: string;
  /** The folder's direct children, sorted by path. */
  files: RunArtifactFile[];
}

/** What `runs.artifacts.upload` answers. */
export interface RunArtifactWritten {
  /** The normalised path the file was stored at, relative to the run's artifact root. */
  path: string;
  fileSize: number;
  /** `sha256:<hex>` of the bytes stored. */
  digest: string;
}

export type {
  PipelineCacheEntry,
  PipelineCacheEntryInput,
  PipelineCacheLookup,
  StepRunRecord,
} from '@modelyard/core';

/**
 * Pipeline step runs: `POST /api/v1/pipeline-step-runs`, which records many step runs (tracking
 * runs whose ids the caller chooses, their tags and pipeline cache entries) in one request and
 * one server transaction. Declared here, beside the types it uses, so the package entry exports
 * it with them.
 */
export interface StepRunsApi {
  /**
   * Records 1 to `STEP_RUN_RECORDS_MAX` (1000) step run records, all or nothing. A record whose
   * `runId` is new creates the run; a later record of the same run (in this batch or a later
   * one) sets its status, its end time when given, and upserts its tags. A record's `cache`
   * entry is written (last wins) in the same transaction.
   * @throws YardClientError `INVALID_PARAMETER_VALUE` (400) naming the record's index, field and
   *   value, or a run id of another experiment; `RESOURCE_DOES_NOT_EXIST` (404) for an unknown
   *   experiment. Nothing is written when the request fails.
   * @example
   * await client.stepRuns.record([{ runId: randomUUID().replaceAll('-', ''), experimentId: '1',
   *   runName: 'train', startTime: Date.now(), status: 'RUNNING' }]);
   */
  record(records: StepRunRecord[]): Promise<void>;
}
export type { BinaryData } from './http-transport.js';

/**
 * The domain entities of tracking and the registry. Field meanings follow MLflow's protos
 * (`service.proto`, `model_registry.proto`); names are camelCase here and are mapped to MLflow's
 * snake_case JSON at the HTTP boundary. Times are milliseconds since the Unix epoch.
 */

/** Whether an experiment or run is live or soft-deleted (restorable). */
export type LifecycleStage = 'active' | 'deleted';

/** Which lifecycle stages a search returns. */
export type ViewType = 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL';

/** A run's status, as MLflow's `RunStatus`. */
export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

/** All run statuses, for validation. */
export const RUN_STATUSES: readonly RunStatus[] = [
  'RUNNING',
  'SCHEDULED',
  'FINISHED',
  'FAILED',
  'KILLED',
];

/** A key/value string pair: experiment, run, model and version tags. */
export interface Tag {
  key: string;
  value: string;
}

/** A run parameter. Once logged, its value never changes. */
export interface Param {
  key: string;
  value: string;
}

/** One metric point. `value` may be NaN or ±Infinity. */
export interface Metric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
  /** MLflow 3: the logged model this point is about, if any. */
  modelId?: string | null;
  datasetName?: string | null;
  datasetDigest?: string | null;
  /** Filled in for bulk metric history answers; otherwise undefined. */
  runId?: string;
}

export interface Experiment {
  experimentId: string;
  name: string;
  artifactLocation: string;
  lifecycleStage: LifecycleStage;
  creationTime: number;
  lastUpdateTime: number;
  tags: Tag[];
}

export interface RunInfo {
  runId: string;
  runName: string;
  experimentId: string;
  userId: string;
  status: RunStatus;
  startTime: number;
  endTime: number | null;
  artifactUri: string;
  lifecycleStage: LifecycleStage;
}

export interface RunData {
  /** The latest point of each metric key (highest step, then timestamp, then value). */
  metrics: Metric[];
  params: Param[];
  tags: Tag[];
}

/** A dataset as logged with `log_inputs` (MLflow's `Dataset`). */
export interface Dataset {
  name: string;
  digest: string;
  sourceType: string;
  source: string;
  schema?: string | null;
  profile?: string | null;
}

export interface DatasetInput {
  dataset: Dataset;
  tags: Tag[];
}

export interface RunInputs {
  datasetInputs: DatasetInput[];
  modelInputs: { modelId: string }[];
}

export interface RunOutputs {
  modelOutputs: { modelId: string; step: number }[];
}

export interface Run {
  info: RunInfo;
  data: RunData;
  inputs: RunInputs;
  outputs: RunOutputs;
}

/** MLflow 3 logged model status. */
export type LoggedModelStatus =
  | 'LOGGED_MODEL_STATUS_UNSPECIFIED'
  | 'LOGGED_MODEL_PENDING'
  | 'LOGGED_MODEL_READY'
  | 'LOGGED_MODEL_UPLOAD_FAILED';

/** An MLflow 3 logged model: a model artifact that exists independently of runs. */
export interface LoggedModel {
  modelId: string;
  experimentId: string;
  name: string;
  artifactUri: string;
  creationTimestampMs: number;
  lastUpdatedTimestampMs: number;
  modelType: string | null;
  sourceRunId: string | null;
  status: LoggedModelStatus;
  statusMessage: string | null;
  tags: Tag[];
  params: Param[];
  metrics: Metric[];
}

/** Legacy registry stages, as MLflow. */
export type ModelStage = 'None' | 'Staging' | 'Production' | 'Archived';

/** All legacy stages, for validation (MLflow matches them case-insensitively). */
export const MODEL_STAGES: readonly ModelStage[] = ['None', 'Staging', 'Production', 'Archived'];

export type ModelVersionStatus = 'PENDING_REGISTRATION' | 'FAILED_REGISTRATION' | 'READY';

export interface ModelVersion {
  name: string;
  /** A positive integer, as a string (MLflow's JSON form). */
  version: string;
  creationTimestamp: number;
  lastUpdatedTimestamp: number;
  userId: string;
  currentStage: ModelStage;
  description: string;
  source: string;
  runId: string;
  status: ModelVersionStatus;
  statusMessage: string;
  runLink: string;
  tags: Tag[];
  aliases: string[];
  /** MLflow 3: the logged model this version was registered from, if any. */
  modelId: string | null;
  /** sha256 of the version's artifacts, when known (hex). */
  digest: string | null;
}

export interface RegisteredModelAlias {
  alias: string;
  version: string;
}

export interface RegisteredModel {
  name: string;
  creationTimestamp: number;
  lastUpdatedTimestamp: number;
  description: string;
  /** The latest version in each stage. */
  latestVersions: ModelVersion[];
  tags: Tag[];
  aliases: RegisteredModelAlias[];
}

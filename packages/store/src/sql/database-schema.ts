/**
 * Kysely table types of the metadata schema. The layout follows MLflow's SQL store
 * (`mlflow/store/tracking/dbmodels/models.py`, `mlflow/store/model_registry/dbmodels/models.py`);
 * differences are noted on the tables. Times are milliseconds since the Unix epoch. Flags are
 * stored as 0/1 integers so both dialects read them the same way.
 */
import type { Generated } from 'kysely';

export interface ExperimentsTable {
  experiment_id: Generated<number>;
  name: string;
  artifact_location: string;
  lifecycle_stage: string;
  creation_time: number;
  last_update_time: number;
}

export interface ExperimentTagsTable {
  experiment_id: number;
  key: string;
  value: string;
}

export interface RunsTable {
  run_uuid: string;
  name: string;
  experiment_id: number;
  user_id: string;
  status: string;
  start_time: number;
  end_time: number | null;
  deleted_time: number | null;
  lifecycle_stage: string;
  artifact_uri: string;
}

export interface KeyValueRow {
  run_uuid: string;
  key: string;
  value: string;
}

/** Every metric point. NaN is stored as value 0 with `is_nan` 1 (as MLflow); ±Infinity as is. */
export interface MetricsTable {
  run_uuid: string;
  key: string;
  value: number;
  is_nan: number;
  timestamp: number;
  step: number;
  model_id: string | null;
  dataset_name: string | null;
  dataset_digest: string | null;
}

/** The latest point of each metric of each run, maintained on write for search and sort. */
export interface LatestMetricsTable {
  run_uuid: string;
  key: string;
  value: number;
  is_nan: number;
  timestamp: number;
  step: number;
}

export interface DatasetsTable {
  dataset_uuid: string;
  experiment_id: number;
  name: string;
  digest: string;
  source_type: string;
  source: string;
  schema: string | null;
  profile: string | null;
}

/** Links a source (`DATASET` or `MODEL`) to a run, as MLflow's `inputs` table. */
export interface InputsTable {
  input_uuid: string;
  source_type: string;
  source_id: string;
  destination_type: string;
  destination_id: string;
}

export interface InputTagsTable {
  input_uuid: string;
  name: string;
  value: string;
}

/** Logged models a run produced (MLflow 3 model outputs). */
export interface RunOutputsTable {
  run_uuid: string;
  model_id: string;
  step: number;
}

export interface LoggedModelsTable {
  model_id: string;
  experiment_id: number;
  name: string;
  artifact_location: string;
  creation_timestamp_ms: number;
  last_updated_timestamp_ms: number;
  status: string;
  status_message: string | null;
  lifecycle_stage: string;
  model_type: string | null;
  source_run_id: string | null;
}

export interface LoggedModelKeyValueRow {
  model_id: string;
  key: string;
  value: string;
}

export interface LoggedModelMetricsTable {
  model_id: string;
  metric_name: string;
  metric_timestamp_ms: number;
  metric_step: number;
  metric_value: number;
  is_nan: number;
  experiment_id: number;
  run_id: string | null;
  dataset_name: string | null;
  dataset_digest: string | null;
}

/**
 * `max_version` is the highest version number ever created; new versions take the next one, so
 * numbers of deleted versions are never reused (MLflow soft-deletes versions to the same end).
 */
export interface RegisteredModelsTable {
  name: string;
  creation_time: number;
  last_updated_time: number;
  description: string;
  max_version: number;
}

export interface RegisteredModelTagsTable {
  name: string;
  key: string;
  value: string;
}

export interface ModelVersionsTable {
  name: string;
  version: number;
  creation_time: number;
  last_updated_time: number;
  description: string;
  user_id: string;
  current_stage: string;
  source: string;
  run_id: string;
  run_link: string;
  status: string;
  status_message: string;
  model_id: string | null;
  digest: string | null;
}

export interface ModelVersionTagsTable {
  name: string;
  version: number;
  key: string;
  value: string;
}

export interface RegisteredModelAliasesTable {
  name: string;
  alias: string;
  version: number;
}

/**
 * A deployment (Modelyard's own; MLflow has none). `variants` is the JSON text of the
 * `DeploymentVariant[]`, replaced as a whole on every change; it is decoded and checked on read.
 */
export interface DeploymentsTable {
  name: string;
  description: string;
  status: string;
  status_reason: string;
  variants: string;
  /** The current or last rollout as JSON (`Rollout`), null before the first. */
  rollout: string | null;
  created_at: number;
  updated_at: number;
}

/**
 * Every recorded change of a deployment, numbered per deployment name from 1. Rows outlive the
 * deployment (no foreign key); a deployment created again under the same name continues the
 * numbering. `details` is the JSON text of an object.
 */
export interface DeploymentEventsTable {
  deployment_name: string;
  sequence: number;
  at: number;
  actor: string;
  action: string;
  reason: string;
  details: string;
}

/**
 * The pipeline step cache, one row per cache key (a sha256 hex). `metadata` is the JSON text of
 * an object; `output_digest` is `sha256:<hex>`.
 */
export interface PipelineCacheTable {
  cache_key: string;
  output_digest: string;
  metadata: string;
  pipeline_run_id: string;
  step_name: string;
  /** Added by migration 0005; null for entries written without one (and before it). */
  scope: string | null;
  created_at: number;
}

export interface SchemaMigrationsTable {
  name: string;
  applied_at: number;
}

/** The whole metadata schema, for `Kysely<MetadataDatabase>`. */
export interface MetadataDatabase {
  experiments: ExperimentsTable;
  experiment_tags: ExperimentTagsTable;
  runs: RunsTable;
  params: KeyValueRow;
  tags: KeyValueRow;
  metrics: MetricsTable;
  latest_metrics: LatestMetricsTable;
  datasets: DatasetsTable;
  inputs: InputsTable;
  input_tags: InputTagsTable;
  run_outputs: RunOutputsTable;
  logged_models: LoggedModelsTable;
  logged_model_tags: LoggedModelKeyValueRow;
  logged_model_params: LoggedModelKeyValueRow;
  logged_model_metrics: LoggedModelMetricsTable;
  registered_models: RegisteredModelsTable;
  registered_model_tags: RegisteredModelTagsTable;
  model_versions: ModelVersionsTable;
  model_version_tags: ModelVersionTagsTable;
  registered_model_aliases: RegisteredModelAliasesTable;
  deployments: DeploymentsTable;
  deployment_events: DeploymentEventsTable;
  pipeline_cache: PipelineCacheTable;
  modelyard_schema_migrations: SchemaMigrationsTable;
}

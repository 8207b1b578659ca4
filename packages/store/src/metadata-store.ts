import type {
  DatasetInput,
  Deployment,
  DeploymentEvent,
  DeploymentStatus,
  DeploymentVariant,
  Experiment,
  Filter,
  LoggedModel,
  LoggedModelStatus,
  Metric,
  ModelStage,
  ModelVersion,
  OrderBy,
  Param,
  PipelineCacheEntry,
  PipelineCacheLookup,
  RegisteredModel,
  Rollout,
  Run,
  RunInfo,
  RunStatus,
  StepRunRecord,
  Tag,
  ViewType,
} from '@modelyard/core';

/**
 * One page of a search. `nextOffset` is the offset of the next page, or null on the last page;
 * the HTTP layer turns it into an opaque page token.
 */
export interface Page<T> {
  items: T[];
  nextOffset: number | null;
}

/** Paging of a search: at most `maxResults` items starting at `offset`. */
export interface PageRequest {
  maxResults: number;
  offset: number;
}

/** The order of a deployment's events: `asc` oldest first (the default), `desc` newest first. */
export type EventOrder = 'asc' | 'desc';

export interface SearchExperimentsQuery extends PageRequest {
  viewType: ViewType;
  filter: Filter;
  orderBy: OrderBy[];
}

export interface SearchRunsQuery extends PageRequest {
  experimentIds: string[];
  viewType: ViewType;
  filter: Filter;
  orderBy: OrderBy[];
}

export interface SearchLoggedModelsQuery extends PageRequest {
  experimentIds: string[];
  filter: Filter;
  orderBy: OrderBy[];
}

export interface SearchRegistryQuery extends PageRequest {
  filter: Filter;
  orderBy: OrderBy[];
}

export interface CreateExperimentInput {
  name: string;
  /** Where the experiment's runs store artifacts; defaults to `<defaultArtifactRoot>/<id>`. */
  artifactLocation?: string | undefined;
  tags?: Tag[] | undefined;
}

export interface CreateRunInput {
  experimentId: string;
  userId: string;
  runName: string;
  startTime: number;
  tags: Tag[];
}

export interface UpdateRunInput {
  status?: RunStatus | undefined;
  endTime?: number | null | undefined;
  runName?: string | undefined;
}

export interface LogBatchInput {
  metrics: Metric[];
  params: Param[];
  tags: Tag[];
}

/** An inclusive range of metric steps; an absent end is open. */
export interface StepRange {
  minStep?: number | undefined;
  maxStep?: number | undefined;
}

/** A run of consecutive points of one metric, as columns: the `i`th point is `steps[i]`, … */
export interface MetricSeriesChunk {
  steps: number[];
  timestamps: number[];
  /** NaN and ±Infinity as they were logged. */
  values: number[];
}

/** What {@link MetadataStore.sampleMetricSeries} answers: some points, sorted by step. */
export interface MetricSeriesSample extends MetricSeriesChunk {
  /** How many points the step range holds. */
  totalPoints: number;
  /** Whether the answer holds fewer points than the range (a MinMax preselection). */
  sampled: boolean;
}

export interface MetricHistoryBulkIntervalQuery {
  runIds: string[];
  metricKey: string;
  startStep?: number | undefined;
  endStep?: number | undefined;
  /** The most points per run; the steps returned are spread evenly over the run's steps. */
  maxResults: number;
}

export interface CreateLoggedModelInput {
  experimentId: string;
  name: string;
  modelType?: string | undefined;
  sourceRunId?: string | undefined;
  params?: Param[] | undefined;
  tags?: Tag[] | undefined;
}

export interface CreateRegisteredModelInput {
  name: string;
  description?: string | undefined;
  tags?: Tag[] | undefined;
}

export interface CreateModelVersionInput {
  name: string;
  source: string;
  runId?: string | undefined;
  runLink?: string | undefined;
  description?: string | undefined;
  tags?: Tag[] | undefined;
  userId?: string | undefined;
  modelId?: string | undefined;
  digest?: string | undefined;
}

/** A new deployment; its variants must be non-empty with unique names. */
export interface CreateDeploymentInput {
  name: string;
  description?: string | undefined;
  variants: DeploymentVariant[];
  /** Who asked (recorded on the `created` event). */
  actor: string;
  reason?: string | undefined;
}

/**
 * A change to a deployment, recorded as one event in the same transaction. Only the fields given
 * change; `updatedAt` always moves to now.
 */
export interface UpdateDeploymentInput {
  description?: string | undefined;
  variants?: DeploymentVariant[] | undefined;
  status?: DeploymentStatus | undefined;
  statusReason?: string | undefined;
  /** The rollout to store (null clears it). */
  rollout?: Rollout | null | undefined;
  /**
   * The event that records the change; leave it out only for bookkeeping that is not a change
   * of the deployment (e.g. A/B outcome counts).
   */
  event?: DeploymentEventInput | undefined;
}

/** A pipeline cache write: the entry without its time, which the store stamps; no scope = null. */
export type PutPipelineCacheEntryInput = Omit<PipelineCacheEntry, 'createdAt' | 'scope'> & {
  scope?: string | null | undefined;
};

/** An event to record with a deployment change. */
export interface DeploymentEventInput {
  actor: string;
  action: string;
  reason?: string | undefined;
  details?: Record<string, unknown> | undefined;
}

/**
 * The metadata store port: everything the tracking and registry services persist. Adapters:
 * SQLite and PostgreSQL on Kysely. The contract suite in `metadata-store.contract.ts` is the
 * executable specification; every adapter runs it.
 *
 * Semantics follow MLflow's SQL store. Every method is atomic: when it throws, nothing changed.
 * Methods throw `NotFoundError` for a missing resource, `AlreadyExistsError` for a taken unique
 * name, `InvalidStateError` when writing to a deleted experiment or run, and
 * `InvalidParameterError` for values the semantics forbid (such as changing a logged param).
 * Limits on sizes and lengths are checked by the caller (the service), not here.
 */
export interface MetadataStore {
  /** `sqlite` or `postgres`. */
  readonly dialect: 'sqlite' | 'postgres';

  /**
   * Applies pending schema migrations and makes sure the Default experiment (id `0`) exists.
   * Safe to call from several processes at once.
   */
  migrate(): Promise<void>;
  /** Closes connections. The store is unusable afterwards. */
  close(): Promise<void>;
  /** Cheap liveness check of the underlying database. */
  ping(): Promise<void>;

  // ---- experiments ----
  /** Creates an experiment and returns its id (a decimal integer string). */
  createExperiment(input: CreateExperimentInput): Promise<string>;
  getExperiment(experimentId: string): Promise<Experiment>;
  /** The experiment with this exact name (active or deleted), or null. */
  getExperimentByName(name: string): Promise<Experiment | null>;
  searchExperiments(query: SearchExperimentsQuery): Promise<Page<Experiment>>;
  /** Throws `InvalidStateError` if the experiment is deleted, `AlreadyExistsError` if the name is taken. */
  renameExperiment(experimentId: string, newName: string): Promise<void>;
  /** Soft-deletes the experiment and its runs. The Default experiment `0` cannot be deleted. */
  deleteExperiment(experimentId: string): Promise<void>;
  /** Restores a deleted experiment and the runs deleted with it. */
  restoreExperiment(experimentId: string): Promise<void>;
  setExperimentTag(experimentId: string, tag: Tag): Promise<void>;
  deleteExperimentTag(experimentId: string, key: string): Promise<void>;

  // ---- runs ----
  /** Creates a run with a fresh 32-hex-digit id in an active experiment. */
  createRun(input: CreateRunInput): Promise<Run>;
  getRun(runId: string): Promise<Run>;
  updateRun(runId: string, input: UpdateRunInput): Promise<RunInfo>;
  deleteRun(runId: string): Promise<void>;
  restoreRun(runId: string): Promise<void>;
  /**
   * Logs metrics, params and tags in one transaction: params are immutable (re-logging the same
   * value is allowed, a different value throws `InvalidParameterError` naming the key, old and new
   * value), metrics append, tags are last-write-wins. The run must be active.
   */
  logBatch(runId: string, batch: LogBatchInput): Promise<void>;
  deleteRunTag(runId: string, key: string): Promise<void>;
  /** Records dataset inputs (deduplicated by experiment, name and digest) and model inputs. */
  logInputs(runId: string, datasets: DatasetInput[], models?: { modelId: string }[]): Promise<void>;
  logOutputs(runId: string, models: { modelId: string; step: number }[]): Promise<void>;
  searchRuns(query: SearchRunsQuery): Promise<Page<Run>>;
  /** Every point of one metric of one run, ordered by step, then timestamp. */
  getMetricHistory(runId: string, metricKey: string, page: PageRequest): Promise<Page<Metric>>;
  /**
   * Every point of one metric of one run, in the order of `getMetricHistory`, as a sequence of
   * chunks read one short query at a time (for answers too large to hold at once). With
   * `steps`, only the points whose step is in `[minStep, maxStep]` (either end may be left
   * open), read from the index without scanning the steps before the range.
   */
  streamMetricHistory(
    runId: string,
    metricKey: string,
    chunkSize?: number,
    steps?: StepRange,
  ): AsyncGenerator<Metric[], void, undefined>;
  /**
   * The points of {@link MetadataStore.streamMetricHistory} as column chunks of step, timestamp
   * and value (charts read a long series through {@link MetadataStore.sampleMetricSeries}).
   */
  streamMetricSeries(
    runId: string,
    metricKey: string,
    steps?: StepRange,
    chunkSize?: number,
  ): AsyncGenerator<MetricSeriesChunk, void, undefined>;
  /**
   * The points of one metric in a step range that a chart `buckets` pixels wide needs: when the
   * range holds more than `4 * buckets` points, its first and last point and, in each of
   * `buckets` equal step intervals, the point with the lowest and the one with the highest value
   * (the MinMax preselection of MinMaxLTTB: aggregated by the database, so a million points cost
   * a few thousand rows); NaN points are then left out. Otherwise every point of the range.
   * Sorted by step, then timestamp.
   */
  sampleMetricSeries(
    runId: string,
    metricKey: string,
    steps: StepRange,
    buckets: number,
  ): Promise<MetricSeriesSample>;
  /** Points of one metric across runs, sampled by step as MLflow's bulk-interval endpoint does. */
  getMetricHistoryBulkInterval(query: MetricHistoryBulkIntervalQuery): Promise<Metric[]>;

  // ---- logged models (MLflow 3) ----
  createLoggedModel(input: CreateLoggedModelInput): Promise<LoggedModel>;
  getLoggedModel(modelId: string): Promise<LoggedModel>;
  finalizeLoggedModel(modelId: string, status: LoggedModelStatus): Promise<LoggedModel>;
  deleteLoggedModel(modelId: string): Promise<void>;
  setLoggedModelTags(modelId: string, tags: Tag[]): Promise<void>;
  deleteLoggedModelTag(modelId: string, key: string): Promise<void>;
  logLoggedModelParams(modelId: string, params: Param[]): Promise<void>;
  searchLoggedModels(query: SearchLoggedModelsQuery): Promise<Page<LoggedModel>>;

  // ---- registered models ----
  createRegisteredModel(input: CreateRegisteredModelInput): Promise<RegisteredModel>;
  getRegisteredModel(name: string): Promise<RegisteredModel>;
  renameRegisteredModel(name: string, newName: string): Promise<RegisteredModel>;
  updateRegisteredModel(name: string, description: string): Promise<RegisteredModel>;
  /** Deletes the model with its versions, tags and aliases (hard delete, as MLflow). */
  deleteRegisteredModel(name: string): Promise<void>;
  searchRegisteredModels(query: SearchRegistryQuery): Promise<Page<RegisteredModel>>;
  /** The latest version in each of `stages` (all stages when empty). */
  getLatestVersions(name: string, stages: ModelStage[]): Promise<ModelVersion[]>;
  setRegisteredModelTag(name: string, tag: Tag): Promise<void>;
  deleteRegisteredModelTag(name: string, key: string): Promise<void>;
  setRegisteredModelAlias(name: string, alias: string, version: string): Promise<void>;
  deleteRegisteredModelAlias(name: string, alias: string): Promise<void>;
  getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion>;

  // ---- model versions ----
  /** Creates the next version number of the model (safe under concurrent calls). */
  createModelVersion(input: CreateModelVersionInput): Promise<ModelVersion>;
  getModelVersion(name: string, version: string): Promise<ModelVersion>;
  updateModelVersion(name: string, version: string, description: string): Promise<ModelVersion>;
  /** Deletes the version and the aliases that point to it. */
  deleteModelVersion(name: string, version: string): Promise<void>;
  searchModelVersions(query: SearchRegistryQuery): Promise<Page<ModelVersion>>;
  /** Moves a version to a stage; with `archiveExisting`, other versions in that stage go to Archived. */
  transitionModelVersionStage(
    name: string,
    version: string,
    stage: ModelStage,
    archiveExisting: boolean,
  ): Promise<ModelVersion>;
  setModelVersionTag(name: string, version: string, tag: Tag): Promise<void>;
  deleteModelVersionTag(name: string, version: string, key: string): Promise<void>;
  /**
   * Records the sha256 digest of a version's artifacts (see the server's artifact digests).
   * Throws `NotFoundError` when the version does not exist.
   */
  setModelVersionDigest(name: string, version: string, digest: string): Promise<void>;

  // ---- deployments ----
  /**
   * Creates a deployment (status `loading`, empty status reason) and its `created` event, whose
   * details are `{ variants }`. Event numbers continue those of an earlier deployment of the
   * same name, if one was deleted. Throws `AlreadyExistsError` when the name is taken and
   * `InvalidParameterError` for an empty variant list or duplicate variant names.
   */
  createDeployment(input: CreateDeploymentInput): Promise<Deployment>;
  /** Throws `NotFoundError` when no deployment has that name. */
  getDeployment(name: string): Promise<Deployment>;
  /** Every deployment, by name. */
  listDeployments(): Promise<Deployment[]>;
  /**
   * Applies the change and appends its event (the next sequence number) atomically; returns the
   * updated deployment. Throws `NotFoundError` for a missing deployment, `InvalidParameterError`
   * for empty or duplicate-named variants or event details that are not JSON-serialisable.
   */
  updateDeployment(name: string, input: UpdateDeploymentInput): Promise<Deployment>;
  /**
   * Deletes the deployment; its events are kept and a `deleted` event (details: the last
   * `{ variants }`) is appended. Throws `NotFoundError` when it does not exist.
   */
  deleteDeployment(name: string, actor: string, reason?: string): Promise<void>;
  /**
   * The events recorded under a deployment name, also after deletion: oldest first, or newest
   * first with `order` `'desc'`. Throws `NotFoundError` only when the name has no events at all.
   */
  listDeploymentEvents(
    name: string,
    page: PageRequest,
    order?: EventOrder,
  ): Promise<Page<DeploymentEvent>>;

  // ---- pipeline step cache ----
  /**
   * The cache entry under `key` (a sha256 hex). Throws `NotFoundError` when there is none and
   * `InvalidParameterError` for a key that is not 64 lower-case hex digits.
   */
  getPipelineCacheEntry(key: string): Promise<PipelineCacheEntry>;
  /**
   * Writes the entry under its key, replacing any entry already there (last write wins, also
   * under concurrent writes); `createdAt` becomes now. Throws `InvalidParameterError` for a bad
   * key or digest (`sha256:<hex>`), metadata that is not a JSON object, or an empty run id or
   * step name.
   */
  putPipelineCacheEntry(entry: PutPipelineCacheEntryInput): Promise<PipelineCacheEntry>;
  /**
   * The entries whose scope is one of `scopes` (1 to `PIPELINE_CACHE_LOOKUP_SCOPES_MAX` sha256
   * hex strings), newest first, at most `limit`; `complete` is false when more exist. Entries
   * without a scope are never among them. Throws `InvalidParameterError` naming a malformed
   * scope, or for a limit that is not a whole number >= 1.
   */
  lookupPipelineCacheEntries(scopes: string[], limit: number): Promise<PipelineCacheLookup>;
  /** Removes the entry under `key`; a missing entry is not an error. */
  deletePipelineCacheEntry(key: string): Promise<void>;

  // ---- pipeline step runs ----
  /**
   * Records a batch of pipeline step runs (1 to `STEP_RUN_RECORDS_MAX` records, checked with
   * `validateStepRunRecords`) in ONE write transaction: all or nothing. Records apply in order.
   * A record whose run id is new creates the run as `createRun` does (in an active experiment;
   * the run name also as the `mlflow.runName` tag; user id from an `mlflow.user` tag, else '')
   * with the record's status, start and end time. A record of an existing run (created earlier
   * or earlier in the batch) sets its status, its end time when given non-null, and upserts its
   * tags (last value per key wins). A record's cache entry is upserted as
   * `putPipelineCacheEntry` does.
   *
   * Throws `InvalidParameterError` for a malformed record, or a run id that belongs to another
   * experiment; `NotFoundError` for an experiment that does not exist; `InvalidStateError` for
   * a deleted experiment (new runs) or a deleted run. Each error names the record's index.
   */
  recordStepRuns(records: StepRunRecord[]): Promise<void>;
}

import {
  AlreadyExistsError,
  InvalidParameterError,
  NotFoundError,
  RUN_STATUSES,
  decodePageToken,
  encodePageToken,
  generateRunName,
  parseFilter,
  parseLoggedModelOrderBy,
  parseOrderBy,
  validateExperimentName,
  validateExperimentTag,
  validateLogBatch,
  validateMaxResults,
} from '@modelyard/core';
import type {
  DatasetInput,
  Experiment,
  LoggedModel,
  LoggedModelOrderByInput,
  LoggedModelStatus,
  Metric,
  Param,
  Run,
  RunInfo,
  RunStatus,
  Tag,
  ViewType,
} from '@modelyard/core';
import type { MetadataStore, MetricSeriesSample, StepRange } from '@modelyard/store';

/** A search answer: the items and the token of the next page, if any. */
export interface SearchResult<T> {
  items: T[];
  nextPageToken: string | undefined;
}

/** Search arguments as the API receives them (strings still to be parsed). */
export interface SearchArgs {
  filter?: string | undefined;
  orderBy?: string[] | undefined;
  maxResults?: number | undefined;
  pageToken?: string | undefined;
}

const VIEW_TYPES: Record<string, ViewType> = {
  ACTIVE_ONLY: 'ACTIVE_ONLY',
  DELETED_ONLY: 'DELETED_ONLY',
  ALL: 'ALL',
  '1': 'ACTIVE_ONLY',
  '2': 'DELETED_ONLY',
  '3': 'ALL',
};

/** Reads a view type as MLflow accepts it (name or enum number); ACTIVE_ONLY by default. */
export function toViewType(raw: string | undefined, field = 'view_type'): ViewType {
  if (raw === undefined || raw === '') return 'ACTIVE_ONLY';
  const viewType = VIEW_TYPES[raw.toUpperCase()];
  if (viewType === undefined) {
    throw new InvalidParameterError(
      `Invalid value '${raw}' for parameter '${field}'. Valid values are ACTIVE_ONLY, DELETED_ONLY, ALL.`,
      { field, value: raw },
    );
  }
  return viewType;
}

/** Reads a run status (name or MLflow enum number). */
export function toRunStatus(raw: string): RunStatus {
  const byNumber: Record<string, RunStatus> = {
    '1': 'RUNNING',
    '2': 'SCHEDULED',
    '3': 'FINISHED',
    '4': 'FAILED',
    '5': 'KILLED',
  };
  const status = byNumber[raw] ?? RUN_STATUSES.find((s) => s === raw.toUpperCase());
  if (status === undefined) {
    throw new InvalidParameterError(
      `Invalid run status '${raw}'. Valid statuses are ${RUN_STATUSES.join(', ')}.`,
      { status: raw },
    );
  }
  return status;
}

const RUN_NAME_TAG = 'mlflow.runName';
const USER_TAG = 'mlflow.user';

/**
 * Experiment and run tracking: validates what the API received with MLflow's rules, then
 * persists through the metadata store. Thin on purpose; the semantics live in the store.
 */
export class TrackingService {
  constructor(private readonly store: MetadataStore) {}

  async createExperiment(
    name: string,
    artifactLocation: string | undefined,
    tags: Tag[],
  ): Promise<string> {
    validateExperimentName(name);
    const existing = await this.store.getExperimentByName(name);
    if (existing !== null) {
      const state =
        existing.lifecycleStage === 'deleted'
          ? ' (deleted; restore it or choose another name)'
          : '';
      throw new AlreadyExistsError(`Experiment '${name}' already exists${state}.`, {
        name,
        experimentId: existing.experimentId,
      });
    }
    tags.forEach((t, i) => validateExperimentTag(t, `tags[${i}]`));
    return this.store.createExperiment({
      name,
      artifactLocation: artifactLocation || undefined,
      tags,
    });
  }

  getExperiment(id: string): Promise<Experiment> {
    return this.store.getExperiment(id);
  }

  async getExperimentByName(name: string): Promise<Experiment> {
    const experiment = await this.store.getExperimentByName(name);
    if (experiment === null) {
      throw new NotFoundError(`Could not find experiment with name '${name}'`, { name });
    }
    return experiment;
  }

  async searchExperiments(
    args: SearchArgs & { viewType: ViewType },
  ): Promise<SearchResult<Experiment>> {
    const maxResults = args.maxResults ?? 1000;
    validateMaxResults('experiments', maxResults);
    const offset = decodePageToken(args.pageToken);
    const page = await this.store.searchExperiments({
      viewType: args.viewType,
      filter: parseFilter('experiments', args.filter),
      orderBy: parseOrderBy('experiments', args.orderBy),
      maxResults,
      offset,
    });
    return { items: page.items, nextPageToken: tokenOf(page.nextOffset) };
  }

  async renameExperiment(id: string, newName: string): Promise<void> {
    validateExperimentName(newName);
    await this.store.renameExperiment(id, newName);
  }

  deleteExperiment(id: string): Promise<void> {
    return this.store.deleteExperiment(id);
  }

  restoreExperiment(id: string): Promise<void> {
    return this.store.restoreExperiment(id);
  }

  async setExperimentTag(id: string, tag: Tag): Promise<void> {
    validateExperimentTag(tag);
    await this.store.setExperimentTag(id, tag);
  }

  deleteExperimentTag(id: string, key: string): Promise<void> {
    return this.store.deleteExperimentTag(id, key);
  }

  async createRun(input: {
    experimentId: string | undefined;
    userId: string | undefined;
    runName: string | undefined;
    startTime: number | undefined;
    tags: Tag[];
  }): Promise<Run> {
    validateLogBatch({ metrics: [], params: [], tags: input.tags });
    const tagged = input.tags.find((t) => t.key === RUN_NAME_TAG)?.value;
    if (input.runName && tagged !== undefined && tagged !== input.runName) {
      throw new InvalidParameterError(
        `Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='${input.runName}', mlflow.runName='${tagged}').`,
        { runName: input.runName, tag: tagged },
      );
    }
    const runName = input.runName || tagged || generateRunName();
    const tags = input.tags.filter((t) => t.key !== RUN_NAME_TAG);
    tags.push({ key: RUN_NAME_TAG, value: runName });
    const userId = input.userId ?? input.tags.find((t) => t.key === USER_TAG)?.value ?? '';
    return this.store.createRun({
      experimentId: input.experimentId ?? '0',
      userId,
      runName,
      startTime: input.startTime ?? Date.now(),
      tags,
    });
  }

  getRun(runId: string): Promise<Run> {
    return this.store.getRun(runId);
  }

  updateRun(
    runId: string,
    input: {
      status?: RunStatus | undefined;
      endTime?: number | undefined;
      runName?: string | undefined;
    },
  ): Promise<RunInfo> {
    return this.store.updateRun(runId, input);
  }

  deleteRun(runId: string): Promise<void> {
    return this.store.deleteRun(runId);
  }

  restoreRun(runId: string): Promise<void> {
    return this.store.restoreRun(runId);
  }

  async logBatch(
    runId: string,
    batch: { metrics: Metric[]; params: Param[]; tags: Tag[] },
  ): Promise<void> {
    validateLogBatch(batch);
    await this.store.logBatch(runId, batch);
  }

  deleteRunTag(runId: string, key: string): Promise<void> {
    return this.store.deleteRunTag(runId, key);
  }

  logInputs(runId: string, datasets: DatasetInput[], models: { modelId: string }[]): Promise<void> {
    return this.store.logInputs(runId, datasets, models);
  }

  logOutputs(runId: string, models: { modelId: string; step: number }[]): Promise<void> {
    return this.store.logOutputs(runId, models);
  }

  async searchRuns(
    args: SearchArgs & { experimentIds: string[]; viewType: ViewType },
  ): Promise<SearchResult<Run>> {
    const maxResults = args.maxResults ?? 1000;
    validateMaxResults('runs', maxResults);
    const offset = decodePageToken(args.pageToken);
    const page = await this.store.searchRuns({
      experimentIds: args.experimentIds,
      viewType: args.viewType,
      filter: parseFilter('runs', args.filter),
      orderBy: parseOrderBy('runs', args.orderBy),
      maxResults,
      offset,
    });
    return { items: page.items, nextPageToken: tokenOf(page.nextOffset) };
  }

  async getMetricHistory(
    runId: string,
    key: string,
    maxResults: number | undefined,
    pageToken: string | undefined,
  ): Promise<SearchResult<Metric>> {
    if (maxResults !== undefined && maxResults <= 0) {
      throw new InvalidParameterError(
        `Invalid value ${maxResults} for parameter 'max_results': it must be a positive integer.`,
        { maxResults },
      );
    }
    const offset = decodePageToken(pageToken);
    const page = await this.store.getMetricHistory(runId, key, {
      maxResults: maxResults ?? Number.MAX_SAFE_INTEGER,
      offset,
    });
    return { items: page.items, nextPageToken: tokenOf(page.nextOffset) };
  }

  /** Every point of one metric, in chunks (see `MetadataStore.streamMetricHistory`). */
  streamMetricHistory(runId: string, key: string): AsyncGenerator<Metric[], void, undefined> {
    return this.store.streamMetricHistory(runId, key);
  }

  /**
   * One metric's points in a step range as a chart `buckets` wide needs them (see
   * `MetadataStore.sampleMetricSeries`): all of them, or a MinMax preselection for LTTB.
   */
  sampleMetricSeries(
    runId: string,
    key: string,
    steps: StepRange,
    buckets: number,
  ): Promise<MetricSeriesSample> {
    return this.store.sampleMetricSeries(runId, key, steps, buckets);
  }

  getMetricHistoryBulkInterval(query: {
    runIds: string[];
    metricKey: string;
    startStep: number | undefined;
    endStep: number | undefined;
    maxResults: number | undefined;
  }): Promise<Metric[]> {
    const maxRuns = 100;
    if (query.runIds.length === 0) {
      throw new InvalidParameterError(
        'GetMetricHistoryBulkInterval request must specify at least one run_id.',
      );
    }
    if (query.runIds.length > maxRuns) {
      throw new InvalidParameterError(
        `GetMetricHistoryBulkInterval request cannot specify more than ${maxRuns} run_ids. Received ${query.runIds.length} run_ids.`,
        { count: query.runIds.length },
      );
    }
    const maxResults = query.maxResults ?? 320;
    if (maxResults <= 0 || maxResults > 1000) {
      throw new InvalidParameterError(
        `max_results must be between 1 and 1000, got ${maxResults}.`,
        { maxResults },
      );
    }
    if (
      query.startStep !== undefined &&
      query.endStep !== undefined &&
      query.startStep > query.endStep
    ) {
      throw new InvalidParameterError(
        `end_step must be greater than start_step. Found start_step=${query.startStep} and end_step=${query.endStep}.`,
      );
    }
    return this.store.getMetricHistoryBulkInterval({ ...query, maxResults });
  }

  // ---- logged models ----
  createLoggedModel(input: {
    experimentId: string;
    name: string | undefined;
    modelType: string | undefined;
    sourceRunId: string | undefined;
    params: Param[];
    tags: Tag[];
  }): Promise<LoggedModel> {
    validateLogBatch({ metrics: [], params: input.params, tags: input.tags });
    return this.store.createLoggedModel({ ...input, name: input.name || generateRunName() });
  }

  getLoggedModel(id: string): Promise<LoggedModel> {
    return this.store.getLoggedModel(id);
  }

  finalizeLoggedModel(id: string, status: LoggedModelStatus): Promise<LoggedModel> {
    return this.store.finalizeLoggedModel(id, status);
  }

  deleteLoggedModel(id: string): Promise<void> {
    return this.store.deleteLoggedModel(id);
  }

  async setLoggedModelTags(id: string, tags: Tag[]): Promise<void> {
    validateLogBatch({ metrics: [], params: [], tags });
    await this.store.setLoggedModelTags(id, tags);
  }

  deleteLoggedModelTag(id: string, key: string): Promise<void> {
    return this.store.deleteLoggedModelTag(id, key);
  }

  async logLoggedModelParams(id: string, params: Param[]): Promise<void> {
    validateLogBatch({ metrics: [], params, tags: [] });
    await this.store.logLoggedModelParams(id, params);
  }

  async searchLoggedModels(
    args: Omit<SearchArgs, 'orderBy'> & {
      experimentIds: string[];
      orderBy: LoggedModelOrderByInput[];
    },
  ): Promise<SearchResult<LoggedModel>> {
    const maxResults = args.maxResults ?? 100;
    validateMaxResults('logged_models', maxResults);
    const page = await this.store.searchLoggedModels({
      experimentIds: args.experimentIds,
      filter: parseFilter('logged_models', args.filter),
      orderBy: parseLoggedModelOrderBy(args.orderBy),
      maxResults,
      offset: decodePageToken(args.pageToken),
    });
    return { items: page.items, nextPageToken: tokenOf(page.nextOffset) };
  }
}

/** The page token for a store's next offset. */
export function tokenOf(nextOffset: number | null): string | undefined {
  return nextOffset === null ? undefined : encodePageToken(nextOffset);
}

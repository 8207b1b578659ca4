/**
 * The `MetadataStore` adapter for SQL databases (SQLite and PostgreSQL through Kysely), with
 * MLflow's SQL store semantics. Every write method runs in one transaction of the back end.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { RawBuilder, Selectable, SqlBool } from 'kysely';
import {
  AlreadyExistsError,
  InvalidParameterError,
  InvalidStateError,
  MODEL_STAGES,
  NotFoundError,
  validateCacheKey,
  validateCacheScopes,
  validatePipelineCacheEntryInput,
  validateStepRunRecords,
} from '@modelyard/core';
import type {
  DatasetInput,
  Deployment,
  DeploymentEvent,
  Experiment,
  LifecycleStage,
  LoggedModel,
  LoggedModelStatus,
  Metric,
  ModelStage,
  ModelVersion,
  ModelVersionStatus,
  Param,
  PipelineCacheEntry,
  PipelineCacheLookup,
  RegisteredModel,
  Run,
  RunInfo,
  RunStatus,
  StepRunRecord,
  Tag,
  ViewType,
} from '@modelyard/core';
import type {
  CreateDeploymentInput,
  DeploymentEventInput,
  CreateExperimentInput,
  CreateLoggedModelInput,
  CreateModelVersionInput,
  CreateRegisteredModelInput,
  CreateRunInput,
  LogBatchInput,
  MetadataStore,
  MetricHistoryBulkIntervalQuery,
  MetricSeriesChunk,
  MetricSeriesSample,
  Page,
  EventOrder,
  PageRequest,
  PutPipelineCacheEntryInput,
  SearchExperimentsQuery,
  SearchLoggedModelsQuery,
  SearchRegistryQuery,
  SearchRunsQuery,
  StepRange,
  UpdateDeploymentInput,
  UpdateRunInput,
} from '../metadata-store.js';
import type {
  ExperimentsTable,
  LoggedModelsTable,
  PipelineCacheTable,
  ModelVersionsTable,
  RegisteredModelsTable,
  RunsTable,
} from './database-schema.js';
import {
  checkVariants,
  encodeDetails,
  encodeVariants,
  encodeRollout,
  toDeployment,
  toDeploymentEvent,
} from './deployment-rows.js';
import { evenlySpaced, sampleBulkIntervalSteps } from './metric-sampling.js';
import { applyMigrations } from './migrations.js';
import { sampleFromRows } from './series-sample.js';
import type { SampledRow } from './series-sample.js';
import {
  experimentSearchSql,
  loggedModelSearchSql,
  modelVersionSearchSql,
  registeredModelSearchSql,
  runSearchSql,
} from './search-sql.js';
import type { SearchSql } from './search-sql.js';
import { MAX_BOUND_PARAMETERS } from './sql-backend.js';
import type { Db, SqlBackend } from './sql-backend.js';

/** The structured logger the store reports to (pino's signature). */
export interface MetadataStoreLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

/** Options of the SQL metadata store. */
export interface SqlMetadataStoreOptions {
  /** Root under which experiments store artifacts by default: `<root>/<experimentId>`. */
  defaultArtifactRoot: string;
  logger?: MetadataStoreLogger | undefined;
}

type ExperimentRow = Selectable<ExperimentsTable>;
type RunRow = Selectable<RunsTable>;
type LoggedModelRow = Selectable<LoggedModelsTable>;
type RegisteredModelRow = Selectable<RegisteredModelsTable>;
type ModelVersionRow = Selectable<ModelVersionsTable>;

const RUN_NAME_TAG = 'mlflow.runName';
const USER_TAG = 'mlflow.user';

/** What one batch of step run records does to one run, merged over its records in order. */
interface StepRunPlan {
  /** The run's row before the batch, or null when the batch creates it. */
  existing: RunRow | null;
  experiment: ExperimentRow | null;
  runName: string;
  startTime: number;
  status: RunStatus;
  endTime: number | null;
  /** Last value per key wins. */
  tags: Map<string, string>;
}

const newRunId = (): string => randomUUID().replaceAll('-', '');
const newLoggedModelId = (): string => `m-${randomBytes(16).toString('hex')}`;

function encodeValue(value: number): { value: number; is_nan: number } {
  return Number.isNaN(value) ? { value: 0, is_nan: 1 } : { value, is_nan: 0 };
}

function decodeValue(value: number, isNan: number | boolean): number {
  return isNan === 1 || isNan === true ? NaN : value;
}

/** A cache row as the domain's entry; the metadata must still decode to a JSON object. */
function toPipelineCacheEntry(row: Selectable<PipelineCacheTable>): PipelineCacheEntry {
  let metadata: unknown;
  try {
    metadata = JSON.parse(row.metadata);
  } catch {
    metadata = undefined;
  }
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new Error(
      `The metadata of pipeline cache entry '${row.cache_key}' is not a JSON object ` +
        `(${row.metadata.slice(0, 100)}); the row was changed outside Modelyard. Delete the entry.`,
    );
  }
  return {
    key: row.cache_key,
    outputDigest: row.output_digest,
    metadata: metadata as Record<string, unknown>,
    pipelineRunId: row.pipeline_run_id,
    stepName: row.step_name,
    scope: row.scope,
    createdAt: row.created_at,
  };
}

/** Splits `rows` so that one INSERT binds at most MAX_BOUND_PARAMETERS values. */
function chunks<T>(rows: readonly T[], columns: number): T[][] {
  const size = Math.max(1, Math.floor(MAX_BOUND_PARAMETERS / columns));
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

function groupBy<T>(rows: readonly T[], key: (row: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    const list = map.get(k);
    if (list) list.push(row);
    else map.set(k, [row]);
  }
  return map;
}

/** Last value wins for duplicate keys, as MLflow's tag semantics. */
function lastWins(tags: readonly Tag[] | undefined): Tag[] {
  const map = new Map<string, string>();
  for (const tag of tags ?? []) map.set(tag.key, tag.value);
  return [...map].map(([key, value]) => ({ key, value }));
}

function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}

/** A param list with duplicates removed; duplicates with different values are rejected. */
function dedupeParams(params: readonly Param[], owner: string): Param[] {
  const map = new Map<string, string>();
  for (const p of params) {
    const seen = map.get(p.key);
    if (seen !== undefined && seen !== p.value) {
      throw new InvalidParameterError(
        `Duplicate parameter keys have been submitted with different values for ${owner}: param '${p.key}' has values '${seen}' and '${p.value}'. A param can have only one value.`,
        { key: p.key, oldValue: seen, newValue: p.value },
      );
    }
    map.set(p.key, p.value);
  }
  return [...map]
    .map(([key, value]) => ({ key, value }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function lifecycleStages(viewType: ViewType): LifecycleStage[] {
  switch (viewType) {
    case 'ACTIVE_ONLY':
      return ['active'];
    case 'DELETED_ONLY':
      return ['deleted'];
    case 'ALL':
      return ['active', 'deleted'];
  }
}

function parseExperimentId(experimentId: string): number | null {
  return /^\d{1,15}$/.test(experimentId) ? Number(experimentId) : null;
}

function parseVersion(version: string): number | null {
  return /^\d{1,9}$/.test(version) ? Number(version) : null;
}

function joinSql(parts: RawBuilder<unknown>[], separator: RawBuilder<unknown>) {
  return parts.length === 0 ? sql`` : sql.join(parts, separator);
}

/** A page from rows fetched with `maxResults + 1` as the limit. */
function toPage<T>(items: T[], request: PageRequest): Page<T> {
  const more = items.length > request.maxResults;
  return {
    items: more ? items.slice(0, request.maxResults) : items,
    nextOffset: more ? request.offset + request.maxResults : null,
  };
}

function checkPage(request: PageRequest): void {
  if (!Number.isInteger(request.maxResults) || request.maxResults < 1) {
    throw new InvalidParameterError(
      `maxResults must be a positive integer, got ${request.maxResults}.`,
      { maxResults: request.maxResults },
    );
  }
  if (!Number.isInteger(request.offset) || request.offset < 0) {
    throw new InvalidParameterError(
      `The page offset must be a non-negative integer, got ${request.offset}.`,
      { offset: request.offset },
    );
  }
}

function compareKeys(a: { key: string }, b: { key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** Whether metric point a is later than b: by step, then timestamp, then value (NaN lowest). */
function isLater(
  a: { step: number; timestamp: number; value: number },
  b: { step: number; timestamp: number; value: number },
): boolean {
  if (a.step !== b.step) return a.step > b.step;
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp;
  const av = Number.isNaN(a.value) ? 0 : a.value;
  const bv = Number.isNaN(b.value) ? 0 : b.value;
  return av > bv;
}

/** The orders `listDeploymentEvents` takes. */
const EVENT_ORDERS: ReadonlySet<string> = new Set<EventOrder>(['asc', 'desc']);

/**
 * A `MetadataStore` on SQLite or PostgreSQL. Create it with `createMetadataStore`; call
 * `migrate()` before first use.
 */
export class SqlMetadataStore implements MetadataStore {
  readonly dialect: 'sqlite' | 'postgres';
  readonly #backend: SqlBackend;
  readonly #db: Db;
  readonly #options: SqlMetadataStoreOptions;

  constructor(backend: SqlBackend, options: SqlMetadataStoreOptions) {
    this.dialect = backend.dialect;
    this.#backend = backend;
    this.#db = backend.db;
    this.#options = options;
  }

  async migrate(): Promise<void> {
    const { applied } = await applyMigrations(this.#backend, this.#options.defaultArtifactRoot);
    if (applied.length > 0) {
      this.#options.logger?.info(
        { dialect: this.dialect, migrations: applied },
        'applied metadata schema migrations',
      );
    }
  }

  async close(): Promise<void> {
    await this.#backend.close();
  }

  async ping(): Promise<void> {
    await sql`SELECT 1`.execute(this.#db);
  }

  // ------------------------------------------------------------------ experiments

  async createExperiment(input: CreateExperimentInput): Promise<string> {
    try {
      return await this.#backend.write(async (trx) => {
        const taken = await trx
          .selectFrom('experiments')
          .select('experiment_id')
          .where('name', '=', input.name)
          .executeTakeFirst();
        if (taken) throw this.#experimentExists(input.name);
        const now = Date.now();
        const { experiment_id: id } = await trx
          .insertInto('experiments')
          .values({
            name: input.name,
            artifact_location: input.artifactLocation ?? '',
            lifecycle_stage: 'active',
            creation_time: now,
            last_update_time: now,
          })
          .returning('experiment_id')
          .executeTakeFirstOrThrow();
        if (input.artifactLocation === undefined) {
          await trx
            .updateTable('experiments')
            .set({ artifact_location: this.#defaultLocation(String(id)) })
            .where('experiment_id', '=', id)
            .execute();
        }
        const tags = lastWins(input.tags);
        if (tags.length > 0) {
          await trx
            .insertInto('experiment_tags')
            .values(tags.map((t) => ({ experiment_id: id, key: t.key, value: t.value })))
            .execute();
        }
        return String(id);
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw this.#experimentExists(input.name);
      throw error;
    }
  }

  async getExperiment(experimentId: string): Promise<Experiment> {
    const row = await this.#requireExperiment(this.#db, experimentId);
    return (await this.#loadExperiments(this.#db, [row]))[0] as Experiment;
  }

  async getExperimentByName(name: string): Promise<Experiment | null> {
    const row = await this.#db
      .selectFrom('experiments')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? ((await this.#loadExperiments(this.#db, [row]))[0] as Experiment) : null;
  }

  async searchExperiments(query: SearchExperimentsQuery): Promise<Page<Experiment>> {
    checkPage(query);
    const search = experimentSearchSql(this.#backend, query.filter, query.orderBy);
    search.where.unshift(
      this.#backend.inList('e.lifecycle_stage', lifecycleStages(query.viewType)),
    );
    const rows = await this.#pageRows<ExperimentRow>(
      sql`SELECT e.* FROM experiments AS e`,
      search,
      query,
    );
    return toPage(await this.#loadExperiments(this.#db, rows), query);
  }

  async renameExperiment(experimentId: string, newName: string): Promise<void> {
    try {
      await this.#backend.write(async (trx) => {
        const row = await this.#requireExperiment(trx, experimentId);
        this.#checkExperimentActive(row);
        if (row.name === newName) return;
        const taken = await trx
          .selectFrom('experiments')
          .select('experiment_id')
          .where('name', '=', newName)
          .executeTakeFirst();
        if (taken) throw this.#experimentExists(newName);
        await trx
          .updateTable('experiments')
          .set({ name: newName, last_update_time: Date.now() })
          .where('experiment_id', '=', row.experiment_id)
          .execute();
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw this.#experimentExists(newName);
      throw error;
    }
  }

  async deleteExperiment(experimentId: string): Promise<void> {
    if (experimentId === '0') {
      throw new InvalidParameterError(
        "The Default experiment '0' cannot be deleted: it is reserved for runs created without an experiment.",
        { experimentId },
      );
    }
    await this.#backend.write(async (trx) => {
      const row = await this.#requireExperiment(trx, experimentId);
      this.#checkExperimentActive(row);
      const now = Date.now();
      await trx
        .updateTable('experiments')
        .set({ lifecycle_stage: 'deleted', last_update_time: now })
        .where('experiment_id', '=', row.experiment_id)
        .execute();
      await trx
        .updateTable('runs')
        .set({ lifecycle_stage: 'deleted', deleted_time: now })
        .where('experiment_id', '=', row.experiment_id)
        .where('lifecycle_stage', '=', 'active')
        .execute();
    });
  }

  async restoreExperiment(experimentId: string): Promise<void> {
    await this.#backend.write(async (trx) => {
      const row = await this.#requireExperiment(trx, experimentId);
      if (row.lifecycle_stage !== 'deleted') {
        throw new InvalidStateError(
          `Cannot restore experiment ${experimentId}: it is not deleted (lifecycle stage '${row.lifecycle_stage}').`,
          { experimentId },
        );
      }
      await trx
        .updateTable('experiments')
        .set({ lifecycle_stage: 'active', last_update_time: Date.now() })
        .where('experiment_id', '=', row.experiment_id)
        .execute();
      // The runs deleted with the experiment carry its deletion time; runs deleted before stay.
      await trx
        .updateTable('runs')
        .set({ lifecycle_stage: 'active', deleted_time: null })
        .where('experiment_id', '=', row.experiment_id)
        .where('lifecycle_stage', '=', 'deleted')
        .where('deleted_time', '=', row.last_update_time)
        .execute();
    });
  }

  async setExperimentTag(experimentId: string, tag: Tag): Promise<void> {
    await this.#backend.write(async (trx) => {
      const row = await this.#requireExperiment(trx, experimentId);
      this.#checkExperimentActive(row);
      await trx
        .insertInto('experiment_tags')
        .values({ experiment_id: row.experiment_id, key: tag.key, value: tag.value })
        .onConflict((oc) => oc.columns(['experiment_id', 'key']).doUpdateSet({ value: tag.value }))
        .execute();
      await trx
        .updateTable('experiments')
        .set({ last_update_time: Date.now() })
        .where('experiment_id', '=', row.experiment_id)
        .execute();
    });
  }

  async deleteExperimentTag(experimentId: string, key: string): Promise<void> {
    await this.#backend.write(async (trx) => {
      const row = await this.#requireExperiment(trx, experimentId);
      this.#checkExperimentActive(row);
      const result = await trx
        .deleteFrom('experiment_tags')
        .where('experiment_id', '=', row.experiment_id)
        .where('key', '=', key)
        .executeTakeFirst();
      if (result.numDeletedRows === 0n) {
        throw new NotFoundError(
          `No tag with name '${key}' in experiment with id ${experimentId}.`,
          { experimentId, key },
        );
      }
      await trx
        .updateTable('experiments')
        .set({ last_update_time: Date.now() })
        .where('experiment_id', '=', row.experiment_id)
        .execute();
    });
  }

  // ------------------------------------------------------------------ runs

  async createRun(input: CreateRunInput): Promise<Run> {
    const runId = newRunId();
    const tags = lastWins(input.tags);
    const tagName = tags.find((t) => t.key === RUN_NAME_TAG)?.value;
    const runName = input.runName !== '' ? input.runName : (tagName ?? '');
    if (runName !== '') {
      const i = tags.findIndex((t) => t.key === RUN_NAME_TAG);
      if (i >= 0) tags[i] = { key: RUN_NAME_TAG, value: runName };
      else tags.push({ key: RUN_NAME_TAG, value: runName });
    }
    await this.#backend.write(async (trx) => {
      const experiment = await this.#requireExperiment(trx, input.experimentId);
      this.#checkExperimentActive(experiment);
      await trx
        .insertInto('runs')
        .values({
          run_uuid: runId,
          name: runName,
          experiment_id: experiment.experiment_id,
          user_id: input.userId,
          status: 'RUNNING',
          start_time: input.startTime,
          end_time: null,
          deleted_time: null,
          lifecycle_stage: 'active',
          artifact_uri: `${experiment.artifact_location.replace(/\/+$/, '')}/${runId}/artifacts`,
        })
        .execute();
      for (const part of chunks(tags, 3)) {
        await trx
          .insertInto('tags')
          .values(part.map((t) => ({ run_uuid: runId, key: t.key, value: t.value })))
          .execute();
      }
    });
    return this.getRun(runId);
  }

  async getRun(runId: string): Promise<Run> {
    const row = await this.#requireRun(this.#db, runId);
    return (await this.#loadRuns(this.#db, [row]))[0] as Run;
  }

  async updateRun(runId: string, input: UpdateRunInput): Promise<RunInfo> {
    return this.#backend.write(async (trx) => {
      const row = await this.#requireRun(trx, runId);
      this.#checkRunActive(row);
      const changes: Partial<RunRow> = {};
      if (input.status !== undefined) changes.status = input.status;
      if (input.endTime !== undefined) changes.end_time = input.endTime;
      if (input.runName !== undefined && input.runName !== '') {
        changes.name = input.runName;
        await this.#upsertRunTags(trx, runId, [{ key: RUN_NAME_TAG, value: input.runName }]);
      }
      if (Object.keys(changes).length > 0) {
        await trx.updateTable('runs').set(changes).where('run_uuid', '=', runId).execute();
      }
      return this.#runInfo({ ...row, ...changes });
    });
  }

  async deleteRun(runId: string): Promise<void> {
    await this.#backend.write(async (trx) => {
      await this.#requireRun(trx, runId);
      await trx
        .updateTable('runs')
        .set({ lifecycle_stage: 'deleted', deleted_time: Date.now() })
        .where('run_uuid', '=', runId)
        .execute();
    });
  }

  async restoreRun(runId: string): Promise<void> {
    await this.#backend.write(async (trx) => {
      await this.#requireRun(trx, runId);
      await trx
        .updateTable('runs')
        .set({ lifecycle_stage: 'active', deleted_time: null })
        .where('run_uuid', '=', runId)
        .execute();
    });
  }

  async logBatch(runId: string, batch: LogBatchInput): Promise<void> {
    const params = dedupeParams(batch.params, `run '${runId}'`);
    const tags = lastWins(batch.tags).sort(compareKeys);
    const metrics = [...batch.metrics].sort(compareKeys);
    if (params.length === 0 && tags.length === 0 && metrics.length === 0) {
      // Still report a missing or deleted run, as MLflow does.
      this.#checkRunActive(await this.#requireRun(this.#db, runId));
      return;
    }
    await this.#backend.write(async (trx) => {
      const run = await this.#requireRun(trx, runId);
      this.#checkRunActive(run);
      if (params.length > 0) await this.#insertParams(trx, runId, params);
      if (metrics.length > 0) await this.#insertMetrics(trx, run, metrics);
      if (tags.length > 0) await this.#upsertRunTags(trx, runId, tags);
    });
  }

  async deleteRunTag(runId: string, key: string): Promise<void> {
    await this.#backend.write(async (trx) => {
      const run = await this.#requireRun(trx, runId);
      this.#checkRunActive(run);
      const result = await trx
        .deleteFrom('tags')
        .where('run_uuid', '=', runId)
        .where('key', '=', key)
        .executeTakeFirst();
      if (result.numDeletedRows === 0n) {
        throw new NotFoundError(`No tag with name '${key}' in run with id ${runId}.`, {
          runId,
          key,
        });
      }
    });
  }

  async logInputs(
    runId: string,
    datasets: DatasetInput[],
    models: { modelId: string }[] = [],
  ): Promise<void> {
    await this.#backend.write(async (trx) => {
      const run = await this.#requireRun(trx, runId);
      this.#checkRunActive(run);
      for (const input of datasets) {
        const d = input.dataset;
        await trx
          .insertInto('datasets')
          .values({
            dataset_uuid: randomUUID(),
            experiment_id: run.experiment_id,
            name: d.name,
            digest: d.digest,
            source_type: d.sourceType,
            source: d.source,
            schema: d.schema ?? null,
            profile: d.profile ?? null,
          })
          .onConflict((oc) => oc.columns(['experiment_id', 'name', 'digest']).doNothing())
          .execute();
        const { dataset_uuid: datasetId } = await trx
          .selectFrom('datasets')
          .select('dataset_uuid')
          .where('experiment_id', '=', run.experiment_id)
          .where('name', '=', d.name)
          .where('digest', '=', d.digest)
          .executeTakeFirstOrThrow();
        const inserted = await this.#linkInput(trx, 'DATASET', datasetId, runId);
        const inputTags = lastWins(input.tags);
        if (inserted !== null && inputTags.length > 0) {
          await trx
            .insertInto('input_tags')
            .values(inputTags.map((t) => ({ input_uuid: inserted, name: t.key, value: t.value })))
            .execute();
        }
      }
      for (const model of models) await this.#linkInput(trx, 'MODEL', model.modelId, runId);
    });
  }

  async logOutputs(runId: string, models: { modelId: string; step: number }[]): Promise<void> {
    await this.#backend.write(async (trx) => {
      const run = await this.#requireRun(trx, runId);
      this.#checkRunActive(run);
      for (const model of models) {
        await trx
          .insertInto('run_outputs')
          .values({ run_uuid: runId, model_id: model.modelId, step: model.step })
          .onConflict((oc) =>
            oc.columns(['run_uuid', 'model_id']).doUpdateSet({ step: model.step }),
          )
          .execute();
      }
    });
  }

  async searchRuns(query: SearchRunsQuery): Promise<Page<Run>> {
    checkPage(query);
    const experimentIds = query.experimentIds
      .map(parseExperimentId)
      .filter((id): id is number => id !== null);
    const search = runSearchSql(this.#backend, query.filter, query.orderBy);
    search.where.unshift(
      this.#backend.inList('r.experiment_id', experimentIds),
      this.#backend.inList('r.lifecycle_stage', lifecycleStages(query.viewType)),
    );
    const rows = await this.#pageRows<RunRow>(sql`SELECT r.* FROM runs AS r`, search, query);
    return toPage(await this.#loadRuns(this.#db, rows), query);
  }

  async getMetricHistory(
    runId: string,
    metricKey: string,
    page: PageRequest,
  ): Promise<Page<Metric>> {
    checkPage(page);
    await this.#requireRun(this.#db, runId);
    const rows = await this.#db
      .selectFrom('metrics')
      .selectAll()
      .where('run_uuid', '=', runId)
      .where('key', '=', metricKey)
      .orderBy('step')
      .orderBy('timestamp')
      .orderBy('value')
      .limit(page.maxResults + 1)
      .offset(page.offset)
      .execute();
    return toPage(
      rows.map((r) => this.#metric(r)),
      page,
    );
  }

  async *streamMetricHistory(
    runId: string,
    metricKey: string,
    chunkSize = 5_000,
    steps: StepRange = {},
  ): AsyncGenerator<Metric[], void, undefined> {
    await this.#requireRun(this.#db, runId);
    const { minStep, maxStep } = steps;
    // Keyset paging over the primary key's order: each chunk is one short query, so a slow
    // reader never holds the connection, and memory stays bounded by the chunk.
    let after: { step: number; timestamp: number; value: number; is_nan: number } | null = null;
    for (;;) {
      let query = this.#db
        .selectFrom('metrics')
        .selectAll()
        .where('run_uuid', '=', runId)
        .where('key', '=', metricKey);
      if (minStep !== undefined) query = query.where('step', '>=', minStep);
      if (maxStep !== undefined) query = query.where('step', '<=', maxStep);
      if (after !== null) {
        query = query.where(
          sql<SqlBool>`(step, timestamp, value, is_nan) > (${after.step}, ${after.timestamp}, ${after.value}, ${after.is_nan})`,
        );
      }
      const rows = await query
        .orderBy('step')
        .orderBy('timestamp')
        .orderBy('value')
        .orderBy('is_nan')
        .limit(chunkSize)
        .execute();
      if (rows.length > 0) yield rows.map((r) => this.#metric(r));
      const last = rows.at(-1);
      if (rows.length < chunkSize || last === undefined) return;
      after = last;
    }
  }

  async *streamMetricSeries(
    runId: string,
    metricKey: string,
    steps: StepRange = {},
    chunkSize = 20_000,
  ): AsyncGenerator<MetricSeriesChunk, void, undefined> {
    for await (const metrics of this.streamMetricHistory(runId, metricKey, chunkSize, steps)) {
      yield {
        steps: metrics.map((m) => m.step),
        timestamps: metrics.map((m) => m.timestamp),
        values: metrics.map((m) => m.value),
      };
    }
  }

  async sampleMetricSeries(
    runId: string,
    metricKey: string,
    steps: StepRange,
    buckets: number,
  ): Promise<MetricSeriesSample> {
    if (!Number.isInteger(buckets) || buckets < 1) {
      throw new InvalidParameterError(`buckets must be a positive integer, got ${buckets}.`);
    }
    await this.#requireRun(this.#db, runId);
    const { minStep, maxStep } = steps;
    const query = { runId, metricKey, minStep, maxStep, buckets };
    if (this.#backend.sampleSeries) return this.#backend.sampleSeries(query);
    // PostgreSQL: the same preselection, with DISTINCT ON for each interval's extreme point.
    const inRange = sql<SqlBool>`run_uuid = ${runId} AND key = ${metricKey}${
      minStep === undefined ? sql`` : sql` AND step >= ${minStep}`
    }${maxStep === undefined ? sql`` : sql` AND step <= ${maxStep}`}`;
    const extent = await sql<{ n: number; lo: number | null; hi: number | null }>`
      SELECT count(*) AS n, min(step) AS lo, max(step) AS hi FROM metrics WHERE ${inRange}`.execute(
      this.#db,
    );
    const { n, lo, hi } = extent.rows[0] ?? { n: 0, lo: null, hi: null };
    type Row = { step: number; timestamp: number; value: number; is_nan: number };
    const toSampled = (r: Row): SampledRow => ({ ...r, isNan: r.is_nan === 1 });
    if (n <= 4 * buckets || lo === null || hi === null) {
      const all: SampledRow[] = [];
      for await (const metrics of this.streamMetricHistory(runId, metricKey, 20_000, steps)) {
        for (const m of metrics) all.push({ ...m, isNan: Number.isNaN(m.value) });
      }
      return sampleFromRows(all, n, false);
    }
    // Equal step intervals over [lo, hi]; PostgreSQL's CAST rounds, so floor() first.
    const width = (hi - lo + 1) / buckets;
    const bucket = sql`CAST(floor((step - CAST(${lo} AS BIGINT)) / CAST(${width} AS DOUBLE PRECISION)) AS BIGINT)`;
    const extreme = (order: 'ASC' | 'DESC') => sql<Row>`
      SELECT DISTINCT ON (b) step, timestamp, value, is_nan FROM (
        SELECT ${bucket} AS b, step, timestamp, value, is_nan FROM metrics
        WHERE ${inRange} AND is_nan = 0) AS s
      ORDER BY b, value ${sql.raw(order)}, step, timestamp`;
    const end = (order: 'ASC' | 'DESC') => sql<Row>`
      SELECT step, timestamp, value, is_nan FROM metrics WHERE ${inRange}
      ORDER BY step ${sql.raw(order)}, timestamp ${sql.raw(order)} LIMIT 1`;
    const rows: SampledRow[] = [];
    for (const q of [end('ASC'), extreme('ASC'), extreme('DESC'), end('DESC')]) {
      rows.push(...(await q.execute(this.#db)).rows.map(toSampled));
    }
    return sampleFromRows(rows, n, true);
  }

  async getMetricHistoryBulkInterval(query: MetricHistoryBulkIntervalQuery): Promise<Metric[]> {
    if (!Number.isInteger(query.maxResults) || query.maxResults < 1) {
      throw new InvalidParameterError(
        `maxResults must be a positive integer, got ${query.maxResults}.`,
      );
    }
    const { startStep, endStep } = query;
    if ((startStep === undefined) !== (endStep === undefined)) {
      throw new InvalidParameterError(
        'If either start step or end step are specified, both must be specified.',
        { startStep, endStep },
      );
    }
    if (startStep !== undefined && endStep !== undefined && startStep > endStep) {
      throw new InvalidParameterError(
        `end_step must be greater than start_step. Found start_step=${startStep} and end_step=${endStep}.`,
        { startStep, endStep },
      );
    }
    if (query.runIds.length === 0) return [];
    let stepQuery = this.#db
      .selectFrom('metrics')
      .select(['run_uuid', 'step'])
      .distinct()
      .where(this.#backend.inList('run_uuid', query.runIds))
      .where('key', '=', query.metricKey);
    if (startStep !== undefined && endStep !== undefined) {
      stepQuery = stepQuery.where('step', '>=', startStep).where('step', '<=', endStep);
    }
    const stepRows = await stepQuery.execute();
    const stepsByRun = new Map<string, number[]>();
    for (const [run, rows] of groupBy(stepRows, (r) => r.run_uuid)) {
      stepsByRun.set(
        run,
        rows.map((r) => r.step),
      );
    }
    const steps = sampleBulkIntervalSteps(stepsByRun, query.maxResults, startStep, endStep);
    if (steps.length === 0) return [];
    const points = await this.#db
      .selectFrom('metrics')
      .selectAll()
      .where(this.#backend.inList('run_uuid', [...stepsByRun.keys()]))
      .where('key', '=', query.metricKey)
      .where(this.#backend.inList('step', steps))
      .orderBy('run_uuid')
      .orderBy('step')
      .orderBy('timestamp')
      .orderBy('value')
      .execute();
    const byRun = groupBy(points, (p) => p.run_uuid);
    const out: Metric[] = [];
    for (const runId of new Set(query.runIds)) {
      const runPoints = byRun.get(runId) ?? [];
      for (const p of evenlySpaced(runPoints, query.maxResults)) {
        out.push({ ...this.#metric(p), runId });
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ logged models

  async createLoggedModel(input: CreateLoggedModelInput): Promise<LoggedModel> {
    const modelId = newLoggedModelId();
    const params = dedupeParams(input.params ?? [], `logged model '${modelId}'`);
    const tags = lastWins(input.tags);
    await this.#backend.write(async (trx) => {
      const experiment = await this.#requireExperiment(trx, input.experimentId);
      this.#checkExperimentActive(experiment);
      const now = Date.now();
      await trx
        .insertInto('logged_models')
        .values({
          model_id: modelId,
          experiment_id: experiment.experiment_id,
          name: input.name,
          artifact_location: `${experiment.artifact_location.replace(/\/+$/, '')}/models/${modelId}/artifacts`,
          creation_timestamp_ms: now,
          last_updated_timestamp_ms: now,
          status: 'LOGGED_MODEL_PENDING',
          status_message: null,
          lifecycle_stage: 'active',
          model_type: input.modelType ?? null,
          source_run_id: input.sourceRunId ?? null,
        })
        .execute();
      if (params.length > 0) {
        await trx
          .insertInto('logged_model_params')
          .values(params.map((p) => ({ model_id: modelId, key: p.key, value: p.value })))
          .execute();
      }
      if (tags.length > 0) {
        await trx
          .insertInto('logged_model_tags')
          .values(tags.map((t) => ({ model_id: modelId, key: t.key, value: t.value })))
          .execute();
      }
    });
    return this.getLoggedModel(modelId);
  }

  async getLoggedModel(modelId: string): Promise<LoggedModel> {
    const row = await this.#requireLoggedModel(this.#db, modelId);
    return (await this.#loadLoggedModels(this.#db, [row]))[0] as LoggedModel;
  }

  async finalizeLoggedModel(modelId: string, status: LoggedModelStatus): Promise<LoggedModel> {
    await this.#backend.write(async (trx) => {
      await this.#requireLoggedModel(trx, modelId);
      await trx
        .updateTable('logged_models')
        .set({ status, last_updated_timestamp_ms: Date.now() })
        .where('model_id', '=', modelId)
        .execute();
    });
    return this.getLoggedModel(modelId);
  }

  async deleteLoggedModel(modelId: string): Promise<void> {
    await this.#backend.write(async (trx) => {
      await this.#requireLoggedModel(trx, modelId);
      await trx
        .updateTable('logged_models')
        .set({ lifecycle_stage: 'deleted', last_updated_timestamp_ms: Date.now() })
        .where('model_id', '=', modelId)
        .execute();
    });
  }

  async setLoggedModelTags(modelId: string, tags: Tag[]): Promise<void> {
    const unique = lastWins(tags).sort(compareKeys);
    await this.#backend.write(async (trx) => {
      await this.#requireLoggedModel(trx, modelId);
      for (const part of chunks(unique, 3)) {
        await trx
          .insertInto('logged_model_tags')
          .values(part.map((t) => ({ model_id: modelId, key: t.key, value: t.value })))
          .onConflict((oc) =>
            oc
              .columns(['model_id', 'key'])
              .doUpdateSet((eb) => ({ value: eb.ref('excluded.value') })),
          )
          .execute();
      }
      await this.#touchLoggedModel(trx, modelId);
    });
  }

  async deleteLoggedModelTag(modelId: string, key: string): Promise<void> {
    await this.#backend.write(async (trx) => {
      await this.#requireLoggedModel(trx, modelId);
      const result = await trx
        .deleteFrom('logged_model_tags')
        .where('model_id', '=', modelId)
        .where('key', '=', key)
        .executeTakeFirst();
      if (result.numDeletedRows === 0n) {
        throw new NotFoundError(`No tag with key '${key}' found for logged model '${modelId}'.`, {
          modelId,
          key,
        });
      }
      await this.#touchLoggedModel(trx, modelId);
    });
  }

  async logLoggedModelParams(modelId: string, params: Param[]): Promise<void> {
    const unique = dedupeParams(params, `logged model '${modelId}'`);
    await this.#backend.write(async (trx) => {
      await this.#requireLoggedModel(trx, modelId);
      for (const part of chunks(unique, 3)) {
        await trx
          .insertInto('logged_model_params')
          .values(part.map((p) => ({ model_id: modelId, key: p.key, value: p.value })))
          .onConflict((oc) => oc.columns(['model_id', 'key']).doNothing())
          .execute();
      }
      const stored = await trx
        .selectFrom('logged_model_params')
        .select(['key', 'value'])
        .where('model_id', '=', modelId)
        .where(
          this.#backend.inList(
            'key',
            unique.map((p) => p.key),
          ),
        )
        .execute();
      this.#checkParamsUnchanged(unique, stored, `logged model '${modelId}'`);
      await this.#touchLoggedModel(trx, modelId);
    });
  }

  async searchLoggedModels(query: SearchLoggedModelsQuery): Promise<Page<LoggedModel>> {
    checkPage(query);
    const experimentIds = query.experimentIds
      .map(parseExperimentId)
      .filter((id): id is number => id !== null);
    const search = loggedModelSearchSql(this.#backend, query.filter, query.orderBy);
    search.where.unshift(
      this.#backend.inList('lm.experiment_id', experimentIds),
      sql`lm.lifecycle_stage = 'active'`,
    );
    const rows = await this.#pageRows<LoggedModelRow>(
      sql`SELECT lm.* FROM logged_models AS lm`,
      search,
      query,
    );
    return toPage(await this.#loadLoggedModels(this.#db, rows), query);
  }

  // ------------------------------------------------------------------ registered models

  async createRegisteredModel(input: CreateRegisteredModelInput): Promise<RegisteredModel> {
    const tags = lastWins(input.tags);
    try {
      await this.#backend.write(async (trx) => {
        const taken = await trx
          .selectFrom('registered_models')
          .select('name')
          .where('name', '=', input.name)
          .executeTakeFirst();
        if (taken) throw this.#registeredModelExists(input.name);
        const now = Date.now();
        await trx
          .insertInto('registered_models')
          .values({
            name: input.name,
            creation_time: now,
            last_updated_time: now,
            description: input.description ?? '',
            max_version: 0,
          })
          .execute();
        if (tags.length > 0) {
          await trx
            .insertInto('registered_model_tags')
            .values(tags.map((t) => ({ name: input.name, key: t.key, value: t.value })))
            .execute();
        }
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw this.#registeredModelExists(input.name);
      throw error;
    }
    return this.getRegisteredModel(input.name);
  }

  async getRegisteredModel(name: string): Promise<RegisteredModel> {
    const row = await this.#requireRegisteredModel(this.#db, name);
    return (await this.#loadRegisteredModels(this.#db, [row]))[0] as RegisteredModel;
  }

  async renameRegisteredModel(name: string, newName: string): Promise<RegisteredModel> {
    try {
      await this.#backend.write(async (trx) => {
        await this.#requireRegisteredModel(trx, name);
        if (name === newName) return;
        const taken = await trx
          .selectFrom('registered_models')
          .select('name')
          .where('name', '=', newName)
          .executeTakeFirst();
        if (taken) throw this.#registeredModelExists(newName);
        // Versions, tags and aliases follow through ON UPDATE CASCADE foreign keys.
        await trx
          .updateTable('registered_models')
          .set({ name: newName, last_updated_time: Date.now() })
          .where('name', '=', name)
          .execute();
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw this.#registeredModelExists(newName);
      throw error;
    }
    return this.getRegisteredModel(newName);
  }

  async updateRegisteredModel(name: string, description: string): Promise<RegisteredModel> {
    await this.#backend.write(async (trx) => {
      await this.#requireRegisteredModel(trx, name);
      await trx
        .updateTable('registered_models')
        .set({ description, last_updated_time: Date.now() })
        .where('name', '=', name)
        .execute();
    });
    return this.getRegisteredModel(name);
  }

  async deleteRegisteredModel(name: string): Promise<void> {
    await this.#backend.write(async (trx) => {
      await this.#requireRegisteredModel(trx, name);
      await trx.deleteFrom('registered_models').where('name', '=', name).execute();
    });
  }

  async searchRegisteredModels(query: SearchRegistryQuery): Promise<Page<RegisteredModel>> {
    checkPage(query);
    const search = registeredModelSearchSql(this.#backend, query.filter, query.orderBy);
    const rows = await this.#pageRows<RegisteredModelRow>(
      sql`SELECT rm.* FROM registered_models AS rm`,
      search,
      query,
    );
    return toPage(await this.#loadRegisteredModels(this.#db, rows), query);
  }

  async getLatestVersions(name: string, stages: ModelStage[]): Promise<ModelVersion[]> {
    await this.#requireRegisteredModel(this.#db, name);
    const wanted = stages.length > 0 ? stages : MODEL_STAGES;
    const rows = await this.#latestVersionRows(this.#db, [name]);
    const byStage = new Map(rows.map((r) => [r.current_stage, r]));
    const picked = wanted
      .map((stage) => byStage.get(stage))
      .filter((r): r is ModelVersionRow => r !== undefined);
    return this.#loadModelVersions(this.#db, [...new Set(picked)]);
  }

  async setRegisteredModelTag(name: string, tag: Tag): Promise<void> {
    await this.#backend.write(async (trx) => {
      await this.#requireRegisteredModel(trx, name);
      await trx
        .insertInto('registered_model_tags')
        .values({ name, key: tag.key, value: tag.value })
        .onConflict((oc) => oc.columns(['name', 'key']).doUpdateSet({ value: tag.value }))
        .execute();
    });
  }

  async deleteRegisteredModelTag(name: string, key: string): Promise<void> {
    await this.#backend.write(async (trx) => {
      await this.#requireRegisteredModel(trx, name);
      await trx
        .deleteFrom('registered_model_tags')
        .where('name', '=', name)
        .where('key', '=', key)
        .execute();
    });
  }

  async setRegisteredModelAlias(name: string, alias: string, version: string): Promise<void> {
    await this.#backend.write(async (trx) => {
      const mv = await this.#requireModelVersion(trx, name, version);
      await trx
        .insertInto('registered_model_aliases')
        .values({ name, alias, version: mv.version })
        .onConflict((oc) => oc.columns(['name', 'alias']).doUpdateSet({ version: mv.version }))
        .execute();
    });
  }

  async deleteRegisteredModelAlias(name: string, alias: string): Promise<void> {
    await this.#backend.write(async (trx) => {
      await this.#requireRegisteredModel(trx, name);
      await trx
        .deleteFrom('registered_model_aliases')
        .where('name', '=', name)
        .where('alias', '=', alias)
        .execute();
    });
  }

  async getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion> {
    await this.#requireRegisteredModel(this.#db, name);
    const row = await this.#db
      .selectFrom('model_versions as mv')
      .innerJoin('registered_model_aliases as a', (join) =>
        join.onRef('a.name', '=', 'mv.name').onRef('a.version', '=', 'mv.version'),
      )
      .selectAll('mv')
      .where('a.name', '=', name)
      .where('a.alias', '=', alias)
      .executeTakeFirst();
    if (!row) {
      throw new NotFoundError(`Registered model alias '${alias}' not found for model '${name}'.`, {
        name,
        alias,
      });
    }
    return (await this.#loadModelVersions(this.#db, [row]))[0] as ModelVersion;
  }

  // ------------------------------------------------------------------ model versions

  async createModelVersion(input: CreateModelVersionInput): Promise<ModelVersion> {
    const tags = lastWins(input.tags);
    const version = await this.#backend.write(async (trx) => {
      const now = Date.now();
      // One atomic increment hands out the number: concurrent writers serialise on the row.
      const bumped = await trx
        .updateTable('registered_models')
        .set((eb) => ({ max_version: eb('max_version', '+', 1), last_updated_time: now }))
        .where('name', '=', input.name)
        .returning('max_version')
        .executeTakeFirst();
      if (!bumped) throw this.#registeredModelNotFound(input.name);
      const number = bumped.max_version;
      await trx
        .insertInto('model_versions')
        .values({
          name: input.name,
          version: number,
          creation_time: now,
          last_updated_time: now,
          description: input.description ?? '',
          user_id: input.userId ?? '',
          current_stage: 'None',
          source: input.source,
          run_id: input.runId ?? '',
          run_link: input.runLink ?? '',
          status: 'READY',
          status_message: '',
          model_id: input.modelId ?? null,
          digest: input.digest ?? null,
        })
        .execute();
      if (tags.length > 0) {
        await trx
          .insertInto('model_version_tags')
          .values(
            tags.map((t) => ({ name: input.name, version: number, key: t.key, value: t.value })),
          )
          .execute();
      }
      return String(number);
    });
    return this.getModelVersion(input.name, version);
  }

  async getModelVersion(name: string, version: string): Promise<ModelVersion> {
    const row = await this.#requireModelVersion(this.#db, name, version);
    return (await this.#loadModelVersions(this.#db, [row]))[0] as ModelVersion;
  }

  async updateModelVersion(
    name: string,
    version: string,
    description: string,
  ): Promise<ModelVersion> {
    await this.#backend.write(async (trx) => {
      const mv = await this.#requireModelVersion(trx, name, version);
      await trx
        .updateTable('model_versions')
        .set({ description, last_updated_time: Date.now() })
        .where('name', '=', name)
        .where('version', '=', mv.version)
        .execute();
    });
    return this.getModelVersion(name, version);
  }

  async deleteModelVersion(name: string, version: string): Promise<void> {
    await this.#backend.write(async (trx) => {
      const mv = await this.#requireModelVersion(trx, name, version);
      // Tags and aliases of the version go with it (ON DELETE CASCADE).
      await trx
        .deleteFrom('model_versions')
        .where('name', '=', name)
        .where('version', '=', mv.version)
        .execute();
      await trx
        .updateTable('registered_models')
        .set({ last_updated_time: Date.now() })
        .where('name', '=', name)
        .execute();
    });
  }

  async searchModelVersions(query: SearchRegistryQuery): Promise<Page<ModelVersion>> {
    checkPage(query);
    const search = modelVersionSearchSql(this.#backend, query.filter, query.orderBy);
    const rows = await this.#pageRows<ModelVersionRow>(
      sql`SELECT mv.* FROM model_versions AS mv`,
      search,
      query,
    );
    return toPage(await this.#loadModelVersions(this.#db, rows), query);
  }

  async transitionModelVersionStage(
    name: string,
    version: string,
    stage: ModelStage,
    archiveExisting: boolean,
  ): Promise<ModelVersion> {
    if (archiveExisting && stage !== 'Staging' && stage !== 'Production') {
      throw new InvalidParameterError(
        `Model version transition cannot archive existing model versions because '${stage}' is not an active stage. Valid active stages are Staging and Production.`,
        { stage },
      );
    }
    await this.#backend.write(async (trx) => {
      const mv = await this.#requireModelVersion(trx, name, version);
      const now = Date.now();
      if (archiveExisting) {
        await trx
          .updateTable('model_versions')
          .set({ current_stage: 'Archived', last_updated_time: now })
          .where('name', '=', name)
          .where('current_stage', '=', stage)
          .where('version', '<>', mv.version)
          .execute();
      }
      await trx
        .updateTable('model_versions')
        .set({ current_stage: stage, last_updated_time: now })
        .where('name', '=', name)
        .where('version', '=', mv.version)
        .execute();
      await trx
        .updateTable('registered_models')
        .set({ last_updated_time: now })
        .where('name', '=', name)
        .execute();
    });
    return this.getModelVersion(name, version);
  }

  async setModelVersionTag(name: string, version: string, tag: Tag): Promise<void> {
    await this.#backend.write(async (trx) => {
      const mv = await this.#requireModelVersion(trx, name, version);
      await trx
        .insertInto('model_version_tags')
        .values({ name, version: mv.version, key: tag.key, value: tag.value })
        .onConflict((oc) =>
          oc.columns(['name', 'version', 'key']).doUpdateSet({ value: tag.value }),
        )
        .execute();
    });
  }

  async deleteModelVersionTag(name: string, version: string, key: string): Promise<void> {
    await this.#backend.write(async (trx) => {
      const mv = await this.#requireModelVersion(trx, name, version);
      await trx
        .deleteFrom('model_version_tags')
        .where('name', '=', name)
        .where('version', '=', mv.version)
        .where('key', '=', key)
        .execute();
    });
  }

  async setModelVersionDigest(name: string, version: string, digest: string): Promise<void> {
    await this.#backend.write(async (trx) => {
      const mv = await this.#requireModelVersion(trx, name, version);
      // The digest is Modelyard's own bookkeeping, not an MLflow field: the version's
      // last-updated time (which MLflow clients see) stays as it is.
      await trx
        .updateTable('model_versions')
        .set({ digest })
        .where('name', '=', name)
        .where('version', '=', mv.version)
        .execute();
    });
  }

  // ------------------------------------------------------------------ deployments

  async createDeployment(input: CreateDeploymentInput): Promise<Deployment> {
    checkVariants(input.name, input.variants);
    const variants = encodeVariants(input.variants);
    return this.#backend.write(async (trx) => {
      const taken = await trx
        .selectFrom('deployments')
        .select('name')
        .where('name', '=', input.name)
        .executeTakeFirst();
      if (taken) throw this.#deploymentExists(input.name);
      const now = Date.now();
      let row;
      try {
        row = await trx
          .insertInto('deployments')
          .values({
            name: input.name,
            description: input.description ?? '',
            status: 'loading',
            status_reason: '',
            variants,
            rollout: null,
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
      } catch (error) {
        // A concurrent create of the same name committed between the check and the insert.
        if (isUniqueViolation(error)) throw this.#deploymentExists(input.name);
        throw error;
      }
      const deployment = toDeployment(row);
      await this.#appendDeploymentEvent(trx, input.name, now, {
        actor: input.actor,
        action: 'created',
        reason: input.reason,
        details: { variants: deployment.variants },
      });
      return deployment;
    });
  }

  async getDeployment(name: string): Promise<Deployment> {
    const row = await this.#db
      .selectFrom('deployments')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    if (!row) throw this.#deploymentNotFound(name);
    return toDeployment(row);
  }

  async listDeployments(): Promise<Deployment[]> {
    const rows = await this.#db.selectFrom('deployments').selectAll().orderBy('name').execute();
    return rows.map(toDeployment);
  }

  async updateDeployment(name: string, input: UpdateDeploymentInput): Promise<Deployment> {
    if (input.variants !== undefined) checkVariants(name, input.variants);
    const variants = input.variants === undefined ? undefined : encodeVariants(input.variants);
    return this.#backend.write(async (trx) => {
      const now = Date.now();
      // The UPDATE comes first: on PostgreSQL it locks the row, so concurrent changes of one
      // deployment take their event numbers one after the other.
      const row = await trx
        .updateTable('deployments')
        .set({
          ...(input.description === undefined ? {} : { description: input.description }),
          ...(variants === undefined ? {} : { variants }),
          ...(input.status === undefined ? {} : { status: input.status }),
          ...(input.statusReason === undefined ? {} : { status_reason: input.statusReason }),
          ...(input.rollout === undefined ? {} : { rollout: encodeRollout(input.rollout) }),
          updated_at: now,
        })
        .where('name', '=', name)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw this.#deploymentNotFound(name);
      const deployment = toDeployment(row);
      if (input.event !== undefined) {
        await this.#appendDeploymentEvent(trx, name, now, input.event);
      }
      return deployment;
    });
  }

  async deleteDeployment(name: string, actor: string, reason?: string): Promise<void> {
    await this.#backend.write(async (trx) => {
      const row = await trx
        .deleteFrom('deployments')
        .where('name', '=', name)
        .returningAll()
        .executeTakeFirst();
      if (!row) throw this.#deploymentNotFound(name);
      // The last variants go into the event, so the history says what stopped serving.
      await this.#appendDeploymentEvent(trx, name, Date.now(), {
        actor,
        action: 'deleted',
        reason,
        details: { variants: toDeployment(row).variants },
      });
    });
  }

  async listDeploymentEvents(
    name: string,
    page: PageRequest,
    order: EventOrder = 'asc',
  ): Promise<Page<DeploymentEvent>> {
    checkPage(page);
    // Checked at run time too: the order may come from a caller that skipped the types.
    if (!EVENT_ORDERS.has(order)) {
      throw new InvalidParameterError(
        `The order of events is 'asc' (oldest first) or 'desc' (newest first), got '${order}'.`,
        { order },
      );
    }
    const rows = await this.#db
      .selectFrom('deployment_events')
      .selectAll()
      .where('deployment_name', '=', name)
      .orderBy('sequence', order)
      .limit(page.maxResults + 1)
      .offset(page.offset)
      .execute();
    if (rows.length === 0) {
      const any = await this.#db
        .selectFrom('deployment_events')
        .select('sequence')
        .where('deployment_name', '=', name)
        .limit(1)
        .executeTakeFirst();
      if (!any) {
        throw new NotFoundError(
          `Deployment '${name}' has no events: no deployment of that name was ever created. List the deployments with \`yard deployments list\`.`,
          { deploymentName: name },
        );
      }
    }
    return toPage(rows.map(toDeploymentEvent), page);
  }

  // ------------------------------------------------------------------ pipeline cache

  async getPipelineCacheEntry(key: string): Promise<PipelineCacheEntry> {
    validateCacheKey(key);
    const row = await this.#db
      .selectFrom('pipeline_cache')
      .selectAll()
      .where('cache_key', '=', key)
      .executeTakeFirst();
    if (!row) {
      throw new NotFoundError(
        `No pipeline cache entry has key '${key}': the step has not run with these inputs ` +
          `(or its entry was deleted).`,
        { key },
      );
    }
    return toPipelineCacheEntry(row);
  }

  async putPipelineCacheEntry(entry: PutPipelineCacheEntryInput): Promise<PipelineCacheEntry> {
    validateCacheKey(entry.key);
    const checked = validatePipelineCacheEntryInput(entry);
    const values = {
      output_digest: checked.outputDigest,
      metadata: JSON.stringify(checked.metadata),
      pipeline_run_id: checked.pipelineRunId,
      step_name: checked.stepName,
      scope: checked.scope,
      created_at: Date.now(),
    };
    // One upsert statement: concurrent writers of one key never collide, the last one wins.
    const row = await this.#backend.write((trx) =>
      trx
        .insertInto('pipeline_cache')
        .values({ cache_key: entry.key, ...values })
        .onConflict((oc) => oc.column('cache_key').doUpdateSet(values))
        .returningAll()
        .executeTakeFirstOrThrow(),
    );
    return toPipelineCacheEntry(row);
  }

  async lookupPipelineCacheEntries(scopes: string[], limit: number): Promise<PipelineCacheLookup> {
    const unique = validateCacheScopes(scopes);
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new InvalidParameterError(
        `Invalid lookup limit ${String(limit)}: expected a whole number >= 1.`,
        { limit },
      );
    }
    // One more than asked tells whether there are more.
    const rows = await this.#db
      .selectFrom('pipeline_cache')
      .selectAll()
      .where(this.#backend.inList('scope', unique))
      .orderBy('created_at', 'desc')
      .orderBy('cache_key')
      .limit(limit + 1)
      .execute();
    return {
      entries: rows.slice(0, limit).map(toPipelineCacheEntry),
      complete: rows.length <= limit,
    };
  }

  async deletePipelineCacheEntry(key: string): Promise<void> {
    validateCacheKey(key);
    await this.#backend.write((trx) =>
      trx.deleteFrom('pipeline_cache').where('cache_key', '=', key).execute(),
    );
  }

  // ------------------------------------------------------------------ pipeline step runs

  async recordStepRuns(records: StepRunRecord[]): Promise<void> {
    const checked = validateStepRunRecords(records);
    await this.#backend.write(async (trx) => {
      const plans = await this.#planStepRuns(trx, checked);
      const created = [...plans].filter(([, plan]) => plan.existing === null);
      const runRows = created.map(([runId, plan]) => {
        const experiment = plan.experiment as ExperimentRow;
        return {
          run_uuid: runId,
          name: plan.tags.get(RUN_NAME_TAG) ?? plan.runName,
          experiment_id: experiment.experiment_id,
          user_id: plan.tags.get(USER_TAG) ?? '',
          status: plan.status,
          start_time: plan.startTime,
          end_time: plan.endTime,
          deleted_time: null,
          lifecycle_stage: 'active',
          artifact_uri: `${experiment.artifact_location.replace(/\/+$/, '')}/${runId}/artifacts`,
        };
      });
      for (const part of chunks(runRows, 10)) {
        await trx.insertInto('runs').values(part).execute();
      }
      for (const [runId, plan] of plans) {
        const row = plan.existing;
        if (row === null) continue;
        const changes: Partial<RunRow> = {};
        if (plan.status !== row.status) changes.status = plan.status;
        if (plan.endTime !== row.end_time) changes.end_time = plan.endTime;
        const runName = plan.tags.get(RUN_NAME_TAG);
        if (runName !== undefined && runName !== row.name) changes.name = runName;
        if (Object.keys(changes).length > 0) {
          await trx.updateTable('runs').set(changes).where('run_uuid', '=', runId).execute();
        }
      }
      await this.#upsertTagRows(
        trx,
        [...plans].flatMap(([runId, plan]) =>
          [...plan.tags].map(([key, value]) => ({ run_uuid: runId, key, value })),
        ),
      );
      const entries = new Map<string, NonNullable<StepRunRecord['cache']>>();
      for (const record of checked) if (record.cache) entries.set(record.cache.key, record.cache);
      const createdAt = Date.now();
      const cacheRows = [...entries.values()].map((entry) => ({
        cache_key: entry.key,
        output_digest: entry.outputDigest,
        metadata: JSON.stringify(entry.metadata ?? {}),
        pipeline_run_id: entry.pipelineRunId,
        step_name: entry.stepName,
        scope: entry.scope ?? null,
        created_at: createdAt,
      }));
      for (const part of chunks(cacheRows, 7)) {
        await trx
          .insertInto('pipeline_cache')
          .values(part)
          .onConflict((oc) =>
            oc.column('cache_key').doUpdateSet((eb) => ({
              output_digest: eb.ref('excluded.output_digest'),
              metadata: eb.ref('excluded.metadata'),
              pipeline_run_id: eb.ref('excluded.pipeline_run_id'),
              step_name: eb.ref('excluded.step_name'),
              scope: eb.ref('excluded.scope'),
              created_at: eb.ref('excluded.created_at'),
            })),
          )
          .execute();
      }
    });
  }

  /**
   * Merges the records per run id, in order, after checking each against the database: a new
   * run needs an active experiment; an existing run must be active and in the record's
   * experiment. Errors name the first offending record.
   */
  async #planStepRuns(trx: Db, records: StepRunRecord[]): Promise<Map<string, StepRunPlan>> {
    const experimentIds = [
      ...new Set(records.map((r) => parseExperimentId(r.experimentId)).filter((id) => id !== null)),
    ];
    const runIds = [...new Set(records.map((r) => r.runId))];
    const [experimentRows, runRows] = await Promise.all([
      experimentIds.length === 0
        ? []
        : trx
            .selectFrom('experiments')
            .selectAll()
            .where(this.#backend.inList('experiment_id', experimentIds))
            .execute(),
      trx.selectFrom('runs').selectAll().where(this.#backend.inList('run_uuid', runIds)).execute(),
    ]);
    const experiments = new Map(experimentRows.map((row) => [String(row.experiment_id), row]));
    const existingRuns = new Map(runRows.map((row) => [row.run_uuid, row]));
    const plans = new Map<string, StepRunPlan>();
    records.forEach((record, index) => {
      const at = `step run record records[${index}] (run '${record.runId}')`;
      let plan = plans.get(record.runId);
      if (plan === undefined) {
        const existing = existingRuns.get(record.runId) ?? null;
        if (existing !== null) {
          if (String(existing.experiment_id) !== record.experimentId) {
            throw new InvalidParameterError(
              `Run '${record.runId}' of ${at} belongs to experiment ${existing.experiment_id}, ` +
                `not to experiment ${record.experimentId} as the record says. Send its records ` +
                `with experimentId '${existing.experiment_id}', or choose a new run id.`,
              {
                index,
                runId: record.runId,
                experimentId: record.experimentId,
                runExperimentId: String(existing.experiment_id),
              },
            );
          }
          if (existing.lifecycle_stage !== 'active') {
            throw new InvalidStateError(
              `The run ${record.runId} of ${at} must be in the 'active' state. Current state ` +
                `is ${existing.lifecycle_stage}; restore it first, or choose a new run id.`,
              { index, runId: record.runId, lifecycleStage: existing.lifecycle_stage },
            );
          }
          plan = {
            existing,
            experiment: null,
            runName: existing.name,
            startTime: existing.start_time,
            status: existing.status as RunStatus,
            endTime: existing.end_time,
            tags: new Map(),
          };
        } else {
          const experiment = experiments.get(record.experimentId);
          if (experiment === undefined) {
            throw new NotFoundError(
              `No experiment with id '${record.experimentId}' exists (${at}). Create it first, ` +
                `or record the run in an existing experiment.`,
              { index, runId: record.runId, experimentId: record.experimentId },
            );
          }
          if (experiment.lifecycle_stage !== 'active') {
            throw new InvalidStateError(
              `The experiment ${record.experimentId} of ${at} must be in the 'active' state. ` +
                `Current state is ${experiment.lifecycle_stage}; restore it first.`,
              {
                index,
                experimentId: record.experimentId,
                lifecycleStage: experiment.lifecycle_stage,
              },
            );
          }
          plan = {
            existing: null,
            experiment,
            runName: record.runName,
            startTime: record.startTime,
            status: record.status,
            endTime: record.endTime ?? null,
            tags: new Map([[RUN_NAME_TAG, record.runName]]),
          };
        }
        plans.set(record.runId, plan);
      }
      plan.status = record.status;
      if (record.endTime !== undefined && record.endTime !== null) plan.endTime = record.endTime;
      for (const tag of record.tags ?? []) plan.tags.set(tag.key, tag.value);
    });
    return plans;
  }

  // ------------------------------------------------------------------ internals: lookups

  async #requireExperiment(db: Db, experimentId: string): Promise<ExperimentRow> {
    const id = parseExperimentId(experimentId);
    const row =
      id === null
        ? undefined
        : await db
            .selectFrom('experiments')
            .selectAll()
            .where('experiment_id', '=', id)
            .executeTakeFirst();
    if (!row) {
      throw new NotFoundError(`No experiment with id '${experimentId}' exists.`, {
        experimentId,
      });
    }
    return row;
  }

  #checkExperimentActive(row: ExperimentRow): void {
    if (row.lifecycle_stage !== 'active') {
      throw new InvalidStateError(
        `The experiment ${row.experiment_id} must be in the 'active' state. Current state is ${row.lifecycle_stage}.`,
        { experimentId: String(row.experiment_id), lifecycleStage: row.lifecycle_stage },
      );
    }
  }

  async #requireRun(db: Db, runId: string): Promise<RunRow> {
    const row = await db
      .selectFrom('runs')
      .selectAll()
      .where('run_uuid', '=', runId)
      .executeTakeFirst();
    if (!row) throw new NotFoundError(`Run with id=${runId} not found.`, { runId });
    return row;
  }

  #checkRunActive(row: RunRow): void {
    if (row.lifecycle_stage !== 'active') {
      throw new InvalidStateError(
        `The run ${row.run_uuid} must be in the 'active' state. Current state is ${row.lifecycle_stage}.`,
        { runId: row.run_uuid, lifecycleStage: row.lifecycle_stage },
      );
    }
  }

  async #requireLoggedModel(db: Db, modelId: string): Promise<LoggedModelRow> {
    const row = await db
      .selectFrom('logged_models')
      .selectAll()
      .where('model_id', '=', modelId)
      .where('lifecycle_stage', '=', 'active')
      .executeTakeFirst();
    if (!row) throw new NotFoundError(`Logged model with ID '${modelId}' not found.`, { modelId });
    return row;
  }

  async #requireRegisteredModel(db: Db, name: string): Promise<RegisteredModelRow> {
    const row = await db
      .selectFrom('registered_models')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    if (!row) throw this.#registeredModelNotFound(name);
    return row;
  }

  async #requireModelVersion(db: Db, name: string, version: string): Promise<ModelVersionRow> {
    const number = parseVersion(version);
    const row =
      number === null
        ? undefined
        : await db
            .selectFrom('model_versions')
            .selectAll()
            .where('name', '=', name)
            .where('version', '=', number)
            .executeTakeFirst();
    if (!row) {
      throw new NotFoundError(`Model Version (name=${name}, version=${version}) not found.`, {
        name,
        version,
      });
    }
    return row;
  }

  #registeredModelNotFound(name: string): NotFoundError {
    return new NotFoundError(`Registered Model with name=${name} not found.`, { name });
  }

  #registeredModelExists(name: string): AlreadyExistsError {
    return new AlreadyExistsError(`Registered Model (name=${name}) already exists.`, { name });
  }

  #deploymentNotFound(name: string): NotFoundError {
    return new NotFoundError(
      `Deployment '${name}' not found. List the deployments with \`yard deployments list\`.`,
      { deploymentName: name },
    );
  }

  #deploymentExists(name: string): AlreadyExistsError {
    return new AlreadyExistsError(
      `A deployment named '${name}' already exists. Choose another name, or change the existing one with \`yard deployments update ${name}\`.`,
      { deploymentName: name },
    );
  }

  #experimentExists(name: string): AlreadyExistsError {
    return new AlreadyExistsError(
      `An experiment named '${name}' already exists (it may be deleted: restore it or choose another name).`,
      { name },
    );
  }

  #defaultLocation(experimentId: string): string {
    return `${this.#options.defaultArtifactRoot.replace(/\/+$/, '')}/${experimentId}`;
  }

  // ------------------------------------------------------------------ internals: writes

  async #insertParams(trx: Db, runId: string, params: Param[]): Promise<void> {
    for (const part of chunks(params, 3)) {
      await trx
        .insertInto('params')
        .values(part.map((p) => ({ run_uuid: runId, key: p.key, value: p.value })))
        .onConflict((oc) => oc.columns(['run_uuid', 'key']).doNothing())
        .execute();
    }
    // Read back after inserting: a concurrent writer's value is visible here (PostgreSQL waits
    // for it on the unique key), so a race cannot slip a changed value through.
    const stored = await trx
      .selectFrom('params')
      .select(['key', 'value'])
      .where('run_uuid', '=', runId)
      .where(
        this.#backend.inList(
          'key',
          params.map((p) => p.key),
        ),
      )
      .execute();
    this.#checkParamsUnchanged(params, stored, `run ID '${runId}'`);
  }

  #checkParamsUnchanged(
    params: readonly Param[],
    stored: readonly { key: string; value: string }[],
    owner: string,
  ): void {
    const storedByKey = new Map(stored.map((s) => [s.key, s.value]));
    const changed = params
      .filter((p) => storedByKey.has(p.key) && storedByKey.get(p.key) !== p.value)
      .map((p) => ({ key: p.key, oldValue: storedByKey.get(p.key), newValue: p.value }));
    if (changed.length > 0) {
      const list = changed
        .map((c) => `'${c.key}' (logged value '${c.oldValue}', new value '${c.newValue}')`)
        .join(', ');
      throw new InvalidParameterError(
        `Changing param values is not allowed. Params already logged for ${owner} with a different value: ${list}.`,
        { changed },
      );
    }
  }

  async #insertMetrics(trx: Db, run: RunRow, metrics: Metric[]): Promise<void> {
    const rows = metrics.map((m) => ({
      run_uuid: run.run_uuid,
      key: m.key,
      ...encodeValue(m.value),
      timestamp: m.timestamp,
      step: m.step,
      model_id: m.modelId ?? null,
      dataset_name: m.datasetName ?? null,
      dataset_digest: m.datasetDigest ?? null,
    }));
    for (const part of chunks(rows, 9)) {
      await trx
        .insertInto('metrics')
        .values(part)
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    const latest = new Map<string, Metric>();
    for (const m of metrics) {
      const seen = latest.get(m.key);
      if (seen === undefined || isLater(m, seen)) latest.set(m.key, m);
    }
    const latestRows = [...latest.values()].map((m) => ({
      run_uuid: run.run_uuid,
      key: m.key,
      ...encodeValue(m.value),
      timestamp: m.timestamp,
      step: m.step,
    }));
    for (const part of chunks(latestRows, 6)) {
      await trx
        .insertInto('latest_metrics')
        .values(part)
        .onConflict((oc) =>
          oc
            .columns(['run_uuid', 'key'])
            .doUpdateSet((eb) => ({
              value: eb.ref('excluded.value'),
              is_nan: eb.ref('excluded.is_nan'),
              timestamp: eb.ref('excluded.timestamp'),
              step: eb.ref('excluded.step'),
            }))
            .where(
              sql<boolean>`(${sql.ref('excluded.step')}, ${sql.ref('excluded.timestamp')}, ${sql.ref('excluded.value')}) > (${sql.ref('latest_metrics.step')}, ${sql.ref('latest_metrics.timestamp')}, ${sql.ref('latest_metrics.value')})`,
            ),
        )
        .execute();
    }
    const modelRows = metrics
      .filter((m) => m.modelId !== undefined && m.modelId !== null && m.modelId !== '')
      .map((m) => {
        const encoded = encodeValue(m.value);
        return {
          model_id: m.modelId as string,
          metric_name: m.key,
          metric_timestamp_ms: m.timestamp,
          metric_step: m.step,
          metric_value: encoded.value,
          is_nan: encoded.is_nan,
          experiment_id: run.experiment_id,
          run_id: run.run_uuid,
          dataset_name: m.datasetName ?? null,
          dataset_digest: m.datasetDigest ?? null,
        };
      });
    for (const part of chunks(modelRows, 10)) {
      await trx.insertInto('logged_model_metrics').values(part).execute();
    }
  }

  async #upsertRunTags(trx: Db, runId: string, tags: Tag[]): Promise<void> {
    await this.#upsertTagRows(
      trx,
      tags.map((t) => ({ run_uuid: runId, key: t.key, value: t.value })),
    );
    const runName = tags.find((t) => t.key === RUN_NAME_TAG);
    if (runName !== undefined) {
      await trx
        .updateTable('runs')
        .set({ name: runName.value })
        .where('run_uuid', '=', runId)
        .execute();
    }
  }

  /**
   * Upserts tags of any number of runs, at most one row per run and key (PostgreSQL refuses to
   * update a row twice in one statement). Callers keep `runs.name` in step with `mlflow.runName`.
   */
  async #upsertTagRows(
    trx: Db,
    rows: readonly { run_uuid: string; key: string; value: string }[],
  ): Promise<void> {
    for (const part of chunks(rows, 3)) {
      await trx
        .insertInto('tags')
        .values(part)
        .onConflict((oc) =>
          oc
            .columns(['run_uuid', 'key'])
            .doUpdateSet((eb) => ({ value: eb.ref('excluded.value') })),
        )
        .execute();
    }
  }

  /** Links a source to a run; returns the new input's id, or null when the link existed. */
  async #linkInput(
    trx: Db,
    sourceType: 'DATASET' | 'MODEL',
    sourceId: string,
    runId: string,
  ): Promise<string | null> {
    const inserted = await trx
      .insertInto('inputs')
      .values({
        input_uuid: randomUUID(),
        source_type: sourceType,
        source_id: sourceId,
        destination_type: 'RUN',
        destination_id: runId,
      })
      .onConflict((oc) =>
        oc.columns(['source_type', 'source_id', 'destination_type', 'destination_id']).doNothing(),
      )
      .returning('input_uuid')
      .executeTakeFirst();
    return inserted?.input_uuid ?? null;
  }

  async #touchLoggedModel(trx: Db, modelId: string): Promise<void> {
    await trx
      .updateTable('logged_models')
      .set({ last_updated_timestamp_ms: Date.now() })
      .where('model_id', '=', modelId)
      .execute();
  }

  /**
   * Appends the next event of a deployment (sequence: one past the name's last event, 1 for the
   * first). Callers change or lock the deployment row first in the same transaction, which
   * orders concurrent appends on PostgreSQL; SQLite has one writer anyway.
   */
  async #appendDeploymentEvent(
    trx: Db,
    name: string,
    at: number,
    event: DeploymentEventInput,
  ): Promise<void> {
    const last = await trx
      .selectFrom('deployment_events')
      .select((eb) => eb.fn.max<number | null>('sequence').as('last'))
      .where('deployment_name', '=', name)
      .executeTakeFirst();
    await trx
      .insertInto('deployment_events')
      .values({
        deployment_name: name,
        sequence: (last?.last ?? 0) + 1,
        at,
        actor: event.actor,
        action: event.action,
        reason: event.reason ?? '',
        details: encodeDetails(event.details),
      })
      .execute();
  }

  // ------------------------------------------------------------------ internals: reads

  /** Runs a search query for one page plus one row (to know whether another page follows). */
  async #pageRows<Row>(
    select: RawBuilder<unknown>,
    search: SearchSql,
    page: PageRequest,
  ): Promise<Row[]> {
    const where =
      search.where.length > 0 ? sql`WHERE ${sql.join(search.where, sql` AND `)}` : sql``;
    const query = sql<Row>`${select} ${joinSql(search.joins, sql` `)} ${where} ORDER BY ${sql.join(search.orderBy)} LIMIT ${page.maxResults + 1} OFFSET ${page.offset}`;
    return (await query.execute(this.#db)).rows;
  }

  async #loadExperiments(db: Db, rows: ExperimentRow[]): Promise<Experiment[]> {
    if (rows.length === 0) return [];
    const tags = await db
      .selectFrom('experiment_tags')
      .selectAll()
      .where(
        this.#backend.inList(
          'experiment_id',
          rows.map((r) => r.experiment_id),
        ),
      )
      .execute();
    const byExperiment = groupBy(tags, (t) => String(t.experiment_id));
    return rows.map((r) => ({
      experimentId: String(r.experiment_id),
      name: r.name,
      artifactLocation: r.artifact_location,
      lifecycleStage: r.lifecycle_stage as LifecycleStage,
      creationTime: r.creation_time,
      lastUpdateTime: r.last_update_time,
      tags: (byExperiment.get(String(r.experiment_id)) ?? []).map((t) => ({
        key: t.key,
        value: t.value,
      })),
    }));
  }

  #runInfo(r: RunRow): RunInfo {
    return {
      runId: r.run_uuid,
      runName: r.name,
      experimentId: String(r.experiment_id),
      userId: r.user_id,
      status: r.status as RunStatus,
      startTime: r.start_time,
      endTime: r.end_time === null ? null : r.end_time,
      artifactUri: r.artifact_uri,
      lifecycleStage: r.lifecycle_stage as LifecycleStage,
    };
  }

  #metric(r: {
    key: string;
    value: number;
    is_nan: number;
    timestamp: number;
    step: number;
    model_id?: string | null;
    dataset_name?: string | null;
    dataset_digest?: string | null;
  }): Metric {
    const metric: Metric = {
      key: r.key,
      value: decodeValue(r.value, r.is_nan),
      timestamp: r.timestamp,
      step: r.step,
    };
    if (r.model_id !== undefined) metric.modelId = r.model_id;
    if (r.dataset_name !== undefined) metric.datasetName = r.dataset_name;
    if (r.dataset_digest !== undefined) metric.datasetDigest = r.dataset_digest;
    return metric;
  }

  /** Loads params, tags, latest metrics, inputs and outputs of `rows` in a fixed few queries. */
  async #loadRuns(db: Db, rows: RunRow[]): Promise<Run[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.run_uuid);
    const inRuns = (column: string) => this.#backend.inList(column, ids);
    const [params, tags, metrics, datasets, inputTags, modelInputs, outputs] = await Promise.all([
      db.selectFrom('params').selectAll().where(inRuns('run_uuid')).execute(),
      db.selectFrom('tags').selectAll().where(inRuns('run_uuid')).execute(),
      db.selectFrom('latest_metrics').selectAll().where(inRuns('run_uuid')).execute(),
      db
        .selectFrom('inputs as i')
        .innerJoin('datasets as d', 'd.dataset_uuid', 'i.source_id')
        .select([
          'i.destination_id as run_uuid',
          'i.input_uuid',
          'd.name',
          'd.digest',
          'd.source_type',
          'd.source',
          'd.schema',
          'd.profile',
        ])
        .where('i.destination_type', '=', 'RUN')
        .where('i.source_type', '=', 'DATASET')
        .where(inRuns('i.destination_id'))
        .execute(),
      db
        .selectFrom('input_tags as it')
        .innerJoin('inputs as i', 'i.input_uuid', 'it.input_uuid')
        .select(['it.input_uuid', 'it.name', 'it.value'])
        .where('i.destination_type', '=', 'RUN')
        .where('i.source_type', '=', 'DATASET')
        .where(inRuns('i.destination_id'))
        .execute(),
      db
        .selectFrom('inputs')
        .select(['destination_id', 'source_id'])
        .where('destination_type', '=', 'RUN')
        .where('source_type', '=', 'MODEL')
        .where(inRuns('destination_id'))
        .execute(),
      db.selectFrom('run_outputs').selectAll().where(inRuns('run_uuid')).execute(),
    ]);
    const paramsByRun = groupBy(params, (p) => p.run_uuid);
    const tagsByRun = groupBy(tags, (t) => t.run_uuid);
    const metricsByRun = groupBy(metrics, (m) => m.run_uuid);
    const datasetsByRun = groupBy(datasets, (d) => d.run_uuid);
    const tagsByInput = groupBy(inputTags, (t) => t.input_uuid);
    const modelInputsByRun = groupBy(modelInputs, (m) => m.destination_id);
    const outputsByRun = groupBy(outputs, (o) => o.run_uuid);
    const kv = (list: { key: string; value: string }[] | undefined) =>
      (list ?? []).map((x) => ({ key: x.key, value: x.value }));
    return rows.map((r) => ({
      info: this.#runInfo(r),
      data: {
        metrics: (metricsByRun.get(r.run_uuid) ?? []).map((m) => this.#metric(m)),
        params: kv(paramsByRun.get(r.run_uuid)),
        tags: kv(tagsByRun.get(r.run_uuid)),
      },
      inputs: {
        datasetInputs: (datasetsByRun.get(r.run_uuid) ?? []).map((d) => ({
          dataset: {
            name: d.name,
            digest: d.digest,
            sourceType: d.source_type,
            source: d.source,
            schema: d.schema,
            profile: d.profile,
          },
          tags: (tagsByInput.get(d.input_uuid) ?? []).map((t) => ({ key: t.name, value: t.value })),
        })),
        modelInputs: (modelInputsByRun.get(r.run_uuid) ?? []).map((m) => ({
          modelId: m.source_id,
        })),
      },
      outputs: {
        modelOutputs: (outputsByRun.get(r.run_uuid) ?? []).map((o) => ({
          modelId: o.model_id,
          step: o.step,
        })),
      },
    }));
  }

  async #loadLoggedModels(db: Db, rows: LoggedModelRow[]): Promise<LoggedModel[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.model_id);
    const inModels = this.#backend.inList('model_id', ids);
    const [tags, params, metrics] = await Promise.all([
      db.selectFrom('logged_model_tags').selectAll().where(inModels).execute(),
      db.selectFrom('logged_model_params').selectAll().where(inModels).execute(),
      sql<{
        model_id: string;
        metric_name: string;
        metric_value: number;
        is_nan: number;
        metric_timestamp_ms: number;
        metric_step: number;
        run_id: string | null;
        dataset_name: string | null;
        dataset_digest: string | null;
      }>`SELECT * FROM (SELECT x.*, ROW_NUMBER() OVER (PARTITION BY x.model_id, x.metric_name ORDER BY x.metric_step DESC, x.metric_timestamp_ms DESC, x.metric_value DESC) AS rn FROM logged_model_metrics AS x WHERE ${this.#backend.inList('x.model_id', ids)}) AS latest WHERE latest.rn = 1`
        .execute(db)
        .then((r) => r.rows),
    ]);
    const tagsByModel = groupBy(tags, (t) => t.model_id);
    const paramsByModel = groupBy(params, (p) => p.model_id);
    const metricsByModel = groupBy(metrics, (m) => m.model_id);
    return rows.map((r) => ({
      modelId: r.model_id,
      experimentId: String(r.experiment_id),
      name: r.name,
      artifactUri: r.artifact_location,
      creationTimestampMs: r.creation_timestamp_ms,
      lastUpdatedTimestampMs: r.last_updated_timestamp_ms,
      modelType: r.model_type,
      sourceRunId: r.source_run_id,
      status: r.status as LoggedModelStatus,
      statusMessage: r.status_message,
      tags: (tagsByModel.get(r.model_id) ?? []).map((t) => ({ key: t.key, value: t.value })),
      params: (paramsByModel.get(r.model_id) ?? []).map((p) => ({ key: p.key, value: p.value })),
      metrics: (metricsByModel.get(r.model_id) ?? []).map((m) => ({
        key: m.metric_name,
        value: decodeValue(m.metric_value, m.is_nan),
        timestamp: m.metric_timestamp_ms,
        step: m.metric_step,
        modelId: m.model_id,
        datasetName: m.dataset_name,
        datasetDigest: m.dataset_digest,
        ...(m.run_id === null ? {} : { runId: m.run_id }),
      })),
    }));
  }

  /** The latest version in each stage of each of `names`. */
  async #latestVersionRows(db: Db, names: string[]): Promise<ModelVersionRow[]> {
    return (
      await sql<ModelVersionRow>`SELECT mv.* FROM model_versions AS mv WHERE ${this.#backend.inList('mv.name', names)} AND mv.version = (SELECT MAX(x.version) FROM model_versions AS x WHERE x.name = mv.name AND x.current_stage = mv.current_stage) ORDER BY mv.name, mv.version`.execute(
        db,
      )
    ).rows;
  }

  async #loadModelVersions(db: Db, rows: ModelVersionRow[]): Promise<ModelVersion[]> {
    if (rows.length === 0) return [];
    const names = [...new Set(rows.map((r) => r.name))];
    const [tags, aliases] = await Promise.all([
      db
        .selectFrom('model_version_tags')
        .selectAll()
        .where(this.#backend.inList('name', names))
        .execute(),
      db
        .selectFrom('registered_model_aliases')
        .selectAll()
        .where(this.#backend.inList('name', names))
        .execute(),
    ]);
    const versionKey = (name: string, version: number | string) => `${name}\u0000${version}`;
    const tagsByVersion = groupBy(tags, (t) => versionKey(t.name, t.version));
    const aliasesByVersion = groupBy(aliases, (a) => versionKey(a.name, a.version));
    return rows.map((r) => ({
      name: r.name,
      version: String(r.version),
      creationTimestamp: r.creation_time,
      lastUpdatedTimestamp: r.last_updated_time,
      userId: r.user_id,
      currentStage: r.current_stage as ModelStage,
      description: r.description,
      source: r.source,
      runId: r.run_id,
      status: r.status as ModelVersionStatus,
      statusMessage: r.status_message,
      runLink: r.run_link,
      tags: (tagsByVersion.get(versionKey(r.name, r.version)) ?? []).map((t) => ({
        key: t.key,
        value: t.value,
      })),
      aliases: (aliasesByVersion.get(versionKey(r.name, r.version)) ?? [])
        .map((a) => a.alias)
        .sort(),
      modelId: r.model_id,
      digest: r.digest,
    }));
  }

  async #loadRegisteredModels(db: Db, rows: RegisteredModelRow[]): Promise<RegisteredModel[]> {
    if (rows.length === 0) return [];
    const names = rows.map((r) => r.name);
    const [tags, aliases, latestRows] = await Promise.all([
      db
        .selectFrom('registered_model_tags')
        .selectAll()
        .where(this.#backend.inList('name', names))
        .execute(),
      db
        .selectFrom('registered_model_aliases')
        .selectAll()
        .where(this.#backend.inList('name', names))
        .orderBy('alias')
        .execute(),
      this.#latestVersionRows(db, names),
    ]);
    const latest = await this.#loadModelVersions(db, latestRows);
    const tagsByModel = groupBy(tags, (t) => t.name);
    const aliasesByModel = groupBy(aliases, (a) => a.name);
    const latestByModel = groupBy(latest, (v) => v.name);
    return rows.map((r) => ({
      name: r.name,
      creationTimestamp: r.creation_time,
      lastUpdatedTimestamp: r.last_updated_time,
      description: r.description,
      latestVersions: latestByModel.get(r.name) ?? [],
      tags: (tagsByModel.get(r.name) ?? []).map((t) => ({ key: t.key, value: t.value })),
      aliases: (aliasesByModel.get(r.name) ?? []).map((a) => ({
        alias: a.alias,
        version: String(a.version),
      })),
    }));
  }
}

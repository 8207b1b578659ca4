import { createHash, randomUUID } from 'node:crypto';
import { InvalidParameterError, PIPELINE_CACHE_LOOKUP_SCOPES_MAX } from '@modelyard/core';
import type {
  PipelineCacheEntry,
  RunSummary,
  StepStatus,
  StepSummary,
  UnitSummary,
} from '@modelyard/core';
import type { YardClient } from '@modelyard/client';
import { YardClientError } from '@modelyard/client';
import { resolveParams } from './params.js';
import type { Pipeline } from './pipeline.js';
import { producersOf } from './pipeline.js';
import { deserializeOutput, digestOf, serializeOutput } from './serialize.js';
import type { Step } from './step.js';
import type { BlobLoader, OutputRef, UnitExecutor, UnitResult, UnitTask } from './execute.js';
import { TAGS, blobLoader, inlineExecutor, loadRef, messageOf } from './execute.js';
import type { PipelineBundle } from './load.js';
import { StepRecorder } from './step-recorder.js';
import { StepThreadPool, withStepThreads } from './threads.js';

// The summary's types live in core, which the web UI that draws them shares.
export type { RunSummary, StepStatus, StepSummary, UnitSummary };

/** Progress of a run, for progress views. */
export type RunEvent =
  | { type: 'run-started'; summary: RunSummary }
  | { type: 'step'; step: StepSummary; item?: number }
  | {
      type: 'attempt-failed';
      step: string;
      item?: number;
      attempt: number;
      error: string;
      retryInMs?: number;
    }
  | {
      type: 'log';
      step: string;
      item?: number;
      level: 'info' | 'warn' | 'error';
      message: string;
    }
  | { type: 'run-finished'; summary: RunSummary };

/** What {@link runPipeline} takes. */
export interface RunOptions {
  client: YardClient;
  /** Parameters as given (`--param k=v` strings are converted to the declared types). */
  params?: Readonly<Record<string, unknown>>;
  /** Read cached outputs (default true); with false every step runs (and the cache is refreshed). */
  cache?: boolean;
  /** The experiment the run goes in; default: the pipeline's name (created if missing). */
  experiment?: string;
  /** Recorded with the run and part of every cache key; default 0. */
  seed?: number;
  /**
   * Step calls in flight at once; default: the executor's (8 in this process, where calls mostly
   * wait on the server; 1000 on Redis, where they wait in the queue for workers).
   */
  concurrency?: number;
  /**
   * Where step calls run; default: in this process, with `worker: true` steps in worker threads
   * when `bundle` is given. The caller closes what it passes.
   */
  executor?: UnitExecutor;
  /** The bundle the pipeline was imported from (`loadPipeline`): worker threads import it too. */
  bundle?: PipelineBundle;
  /** A failed run's tracking run id: its finished steps are reused, the rest run. */
  resume?: string;
  /** Tags for the pipeline's tracking run (e.g. the git commit, the source file). */
  tags?: Readonly<Record<string, string>>;
  /** Progress. */
  onEvent?: (event: RunEvent) => void;
  /** Cancels the run: running steps see their signal abort. */
  signal?: AbortSignal;
}

/** Step calls in flight at once unless told otherwise. */
export const DEFAULT_CONCURRENCY = 8;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function emptyUnit(): UnitSummary {
  return {
    status: 'pending',
    cached: false,
    attempts: 0,
    durationMs: 0,
    key: null,
    outputDigest: null,
    runId: null,
    cachedFrom: null,
    error: null,
  };
}

/** A small counting semaphore for the concurrency limit. */
class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(size: number) {
    this.#free = size;
  }
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free -= 1;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#free += 1;
    }
  }
}

/** One unit's result inside the run. */
interface Produced {
  status: StepStatus;
  key: string | null;
  /** The output as consumers receive it (for a map step: its items' digests). */
  ref: OutputRef;
  /** The identity that goes into consumers' cache keys. */
  digest: string | null;
}

/**
 * Runs a pipeline: steps whose producers are done run concurrently (up to `concurrency`), each
 * cached by its code digest, its inputs' identities and the params; every output is stored
 * content-addressed on the server; the run and each executed step are tracked runs (the step
 * runs nested under the pipeline's). Steps run where `executor` puts them (default: in this
 * process). A failing step stops only its consumers; the others finish, and the run is failed.
 *
 * @returns the run's summary (also stored with the run, tag `modelyard.pipeline.summary`).
 * @throws InvalidParameterError for bad parameters or options, before anything runs.
 */
export async function runPipeline(
  pipeline: Pipeline<unknown>,
  options: RunOptions,
): Promise<RunSummary> {
  const { client } = options;
  const params = resolveParams(pipeline.params, options.params ?? {});
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) {
    throw new InvalidParameterError(`The seed must be a whole number, got ${String(seed)}.`, {
      seed,
    });
  }
  const executor = options.executor ?? localExecutor(client, pipeline, options.bundle);
  const concurrency = options.concurrency ?? executor.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new InvalidParameterError(
      `concurrency must be a whole number ≥ 1, got ${String(concurrency)}.`,
      { concurrency },
    );
  }
  const useCache = options.cache ?? true;
  const emit = options.onEvent ?? (() => undefined);
  const cancel = options.signal ?? new AbortController().signal;
  const previous =
    options.resume === undefined ? undefined : await readSummary(client, options.resume);

  const scopes = new Map(pipeline.steps.map((s) => [s.name, cacheScope(s, params, seed)]));
  // The cache index is fetched while the run is being created.
  const cacheIndex = useCache ? fetchCacheIndex(client, pipeline, scopes) : undefined;
  void cacheIndex?.catch(() => undefined);
  const experimentId = await ensureExperiment(client, options.experiment ?? pipeline.name);
  const codeDigest = sha256(pipeline.steps.map((s) => `${s.name}:${s.codeDigest}`).join('\n'));
  const pipelineRunId = randomUUID();
  const startedAt = Date.now();
  const run = await client.runs.create({
    experimentId,
    runName: `${pipeline.name}-${new Date(startedAt).toISOString().replace(/[:.]/g, '-')}`,
    startTime: startedAt,
    tags: [
      { key: TAGS.pipeline, value: pipeline.name },
      { key: TAGS.pipelineRunId, value: pipelineRunId },
      { key: TAGS.codeDigest, value: codeDigest },
      { key: TAGS.seed, value: String(seed) },
      { key: TAGS.executor, value: executor.name },
      ...(options.resume === undefined ? [] : [{ key: TAGS.resumedFrom, value: options.resume }]),
      ...Object.entries(options.tags ?? {}).map(([key, value]) => ({ key, value })),
    ],
  });
  const trackingRunId = run.info.runId;
  const paramEntries = Object.entries(params).map(([key, value]) => ({
    key,
    value: typeof value === 'string' ? value : JSON.stringify(value),
  }));
  for (let i = 0; i < paramEntries.length; i += 100) {
    await client.runs.logBatch(trackingRunId, { params: paramEntries.slice(i, i + 100) });
  }

  const summary: RunSummary = {
    pipeline: pipeline.name,
    pipelineRunId,
    trackingRunId,
    experimentId,
    status: 'running',
    startedAt,
    endedAt: null,
    params,
    seed,
    codeDigest,
    resumedFrom: options.resume ?? null,
    steps: pipeline.steps.map((s) => ({
      name: s.name,
      kind: s.kind,
      inputs: producersOf(s).map((p) => p.step.name),
      ...emptyUnit(),
      ...(s.kind === 'map' && { items: [] }),
    })),
  };
  emit({ type: 'run-started', summary });
  if (options.executor === undefined && options.bundle === undefined) {
    for (const s of pipeline.steps.filter((x) => x.config.worker)) {
      emit({
        type: 'log',
        step: s.name,
        level: 'warn',
        message:
          'runs in the main thread: worker threads need the pipeline to come from a file ' +
          '(yard run, or runPipeline with the bundle from loadPipeline)',
      });
    }
  }
  const summaryOf = new Map(summary.steps.map((s) => [s.name, s]));
  const slots = new Slots(concurrency);
  const results = new Map<string, Promise<Produced>>();

  const context: RunContext = {
    client,
    params,
    seed,
    useCache,
    cancel,
    emit,
    trackingRunId,
    pipelineRunId,
    experimentId,
    previous,
    load: blobLoader(client),
    executor,
    deferred: [],
    storing: new Map(),
    recorder: new StepRecorder(client),
    scopes,
    cacheIndex: await cacheIndex,
  };

  try {
    for (const s of pipeline.steps) {
      const stepSummary = summaryOf.get(s.name);
      if (stepSummary === undefined) continue;
      const producers = producersOf(s).map((p) => ({ ...p, result: results.get(p.step.name) }));
      results.set(
        s.name,
        (async (): Promise<Produced> => {
          const inputs = new Map<string, Produced>();
          for (const p of producers) {
            if (p.result !== undefined) inputs.set(p.as, await p.result);
          }
          const blocked = [...inputs.entries()].find(
            ([, r]) => r.status === 'failed' || r.status === 'skipped',
          );
          if (blocked !== undefined) {
            const producer = producers.find((p) => p.as === blocked[0]);
            stepSummary.status = 'skipped';
            // Skipping after a skipped (conditional) producer is normal; after a failure it is not.
            stepSummary.error =
              blocked[1].status === 'failed'
                ? `not run: input '${blocked[0]}' from step '${producer?.step.name ?? '?'}' failed`
                : null;
            emit({ type: 'step', step: stepSummary });
            return NOTHING('skipped');
          }
          return s.kind === 'map'
            ? runMap(context, s, stepSummary, inputs, slots)
            : slots.run(() => runUnit(context, s, stepSummary, stepSummary, inputs, undefined));
        })(),
      );
    }
    await Promise.all(results.values());
    // The run is reported only once every output is stored and every step run recorded.
    await Promise.all(context.deferred);
    await context.recorder.flush().catch(() => undefined);
    markUnrecorded(summary, context.recorder.failures);
  } finally {
    if (options.executor === undefined) await executor.close();
  }
  summary.endedAt = Date.now();
  summary.status = summary.steps.some((s) => s.status === 'failed') ? 'failed' : 'succeeded';
  const stored = await serializeOutput('(summary)', summary);
  await client.blobs.put(stored.digest, stored.bytes);
  await client.runs.logBatch(trackingRunId, {
    tags: [{ key: TAGS.summary, value: stored.digest }],
  });
  await client.runs.update(trackingRunId, {
    status: summary.status === 'succeeded' ? 'FINISHED' : 'FAILED',
    endTime: summary.endedAt,
  });
  emit({ type: 'run-finished', summary });
  return summary;
}

/** Fails the calls whose step runs could not be written (a run is reported only when recorded). */
function markUnrecorded(summary: RunSummary, failures: ReadonlyMap<string, string>): void {
  if (failures.size === 0) return;
  for (const s of summary.steps) {
    for (const unit of [s, ...(s.items ?? [])]) {
      const why = unit.runId === null ? undefined : failures.get(unit.runId);
      if (why === undefined) continue;
      unit.status = 'failed';
      unit.error = `its step run was not recorded: ${why}`;
      s.status = 'failed';
      s.error ??= unit.error;
    }
  }
}

/** In this process; `worker: true` steps in worker threads when the bundle is known. */
function localExecutor(
  client: YardClient,
  pipeline: Pipeline<unknown>,
  bundle: PipelineBundle | undefined,
): UnitExecutor {
  const inline = inlineExecutor(client, pipeline);
  if (bundle === undefined || !pipeline.steps.some((s) => s.config.worker)) return inline;
  return withStepThreads(inline, pipeline, new StepThreadPool({ client, bundle, worker: 'local' }));
}

function NOTHING(status: 'failed' | 'skipped'): Produced {
  return { status, key: null, digest: null, ref: { digest: null } };
}

interface RunContext {
  client: YardClient;
  params: Record<string, unknown>;
  seed: number;
  useCache: boolean;
  cancel: AbortSignal;
  emit: (event: RunEvent) => void;
  trackingRunId: string;
  pipelineRunId: string;
  experimentId: string;
  previous: RunSummary | undefined;
  load: BlobLoader;
  executor: UnitExecutor;
  /** Bookkeeping of finished calls still going on (see `UnitHooks.defer`). */
  deferred: Promise<void>[];
  /** Outputs produced in this process whose storing is still going on, by digest. */
  storing: Map<string, Promise<void>>;
  /** Step runs of calls made in this process, written in batches. */
  recorder: StepRecorder;
  /** Each step's cache scope (its keys' derivation less the inputs). */
  scopes: Map<string, string>;
  /** The cache entries of the run's scopes, fetched once at the start (none with `--no-cache`). */
  cacheIndex: CacheIndex | undefined;
}

/**
 * The cache entries a run can hit, fetched in one request before its steps run. When `complete`,
 * a key missing from it had no entry when the run started, so the run asks no further; an entry
 * written meanwhile by another run is then not reused (the step runs again, which is safe).
 */
interface CacheIndex {
  entries: Map<string, PipelineCacheEntry>;
  complete: boolean;
}

async function runMap(
  run: RunContext,
  s: Step<unknown>,
  stepSummary: StepSummary,
  inputs: Map<string, Produced>,
  slots: Slots,
): Promise<Produced> {
  const over = inputs.get('(over)');
  let list: unknown;
  try {
    list = over === undefined ? [] : await loadRef(over.ref, run.load);
  } catch (error) {
    list = error;
  }
  if (!Array.isArray(list)) {
    stepSummary.status = 'failed';
    stepSummary.error =
      list instanceof Error
        ? `could not load the list from step '${s.over?.name ?? '?'}': ${list.message}`
        : `'over' must produce a list, but step '${s.over?.name ?? '?'}' produced ${typeof list}.`;
    run.emit({ type: 'step', step: stepSummary });
    return NOTHING('failed');
  }
  const items = list.map((_, index) => ({ index, ...emptyUnit() }));
  stepSummary.items = items;
  stepSummary.status = 'running';
  run.emit({ type: 'step', step: stepSummary });
  const started = Date.now();
  const itemInputs = new Map(inputs);
  itemInputs.delete('(over)');
  const overRef = over?.ref ?? { digest: null };
  const outcomes = await Promise.all(
    items.map((unit, index) =>
      slots.run(() =>
        runUnit(run, s, stepSummary, unit, itemInputs, {
          index,
          value: list[index] as unknown,
          over: overRef,
        }),
      ),
    ),
  );
  stepSummary.durationMs = Date.now() - started;
  stepSummary.attempts = items.reduce((n, u) => n + u.attempts, 0);
  const failed = items.find((u) => u.status === 'failed');
  stepSummary.cached = items.length > 0 && items.every((u) => u.cached);
  if (failed !== undefined) {
    stepSummary.status = 'failed';
    stepSummary.error = `item ${String(failed.index)} failed: ${failed.error ?? ''}`;
    run.emit({ type: 'step', step: stepSummary });
    return NOTHING('failed');
  }
  const digests = outcomes.map((o) => o.digest);
  stepSummary.key = sha256(JSON.stringify(outcomes.map((o) => o.key)));
  stepSummary.outputDigest = digestOf(Buffer.from(JSON.stringify(digests), 'utf8'));
  stepSummary.status = stepSummary.cached ? 'cached' : 'succeeded';
  run.emit({ type: 'step', step: stepSummary });
  return {
    status: stepSummary.status,
    key: stepSummary.key,
    digest: stepSummary.outputDigest,
    ref: { digest: stepSummary.outputDigest, items: digests },
  };
}

/**
 * A step's cache scope: what its calls' keys are derived from less their inputs and item (name,
 * code, params, seed). Entries are stored with it, so that a run fetches all it could hit at once.
 */
function cacheScope(s: Step<unknown>, params: Record<string, unknown>, seed: number): string {
  return sha256(JSON.stringify({ v: 1, step: s.name, code: s.codeDigest, params, seed }));
}

/** One request for every live entry of the run's cached steps' scopes. */
async function fetchCacheIndex(
  client: YardClient,
  pipeline: Pipeline<unknown>,
  scopes: Map<string, string>,
): Promise<CacheIndex | undefined> {
  const wanted = pipeline.steps
    .filter((s) => s.config.cache && !s.config.refresh)
    .map((s) => scopes.get(s.name))
    .filter((scope) => scope !== undefined);
  if (wanted.length === 0) return undefined;
  const entries = new Map<string, PipelineCacheEntry>();
  let complete = true;
  for (let i = 0; i < wanted.length; i += PIPELINE_CACHE_LOOKUP_SCOPES_MAX) {
    const part = wanted.slice(i, i + PIPELINE_CACHE_LOOKUP_SCOPES_MAX);
    const found = await client.pipelineCache.lookup(part, { requireOutput: true });
    for (const entry of found.entries) entries.set(entry.key, entry);
    complete &&= found.complete;
  }
  return { entries, complete };
}

/** The cache key of one call: code, params, seed, inputs' keys and digests, and the item. */
function cacheKey(
  run: RunContext,
  s: Step<unknown>,
  inputs: Map<string, Produced>,
  item: { index: number; digest: string } | undefined,
): string {
  return sha256(
    JSON.stringify({
      v: 1,
      step: s.name,
      code: s.codeDigest,
      params: run.params,
      seed: run.seed,
      inputs: [...inputs.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([as, p]) => [as, p.key, p.digest]),
      item: item ?? null,
    }),
  );
}

async function runUnit(
  run: RunContext,
  s: Step<unknown>,
  stepSummary: StepSummary,
  unit: UnitSummary,
  inputs: Map<string, Produced>,
  item: { index: number; value: unknown; over: OutputRef } | undefined,
): Promise<Produced> {
  const { client } = run;
  const itemDigest =
    item === undefined
      ? undefined
      : { index: item.index, digest: (await serializeOutput(s.name, item.value)).digest };
  const key = cacheKey(run, s, inputs, itemDigest);
  unit.key = key;
  const report = () => {
    run.emit({ type: 'step', step: stepSummary, ...(item !== undefined && { item: item.index }) });
  };
  const reused = (digest: string | null): Produced => {
    report();
    return { status: 'cached', key: unit.key, digest, ref: { digest } };
  };

  // Resumed: reuse what the earlier run finished.
  const earlier = reusable(run.previous, s.name, item?.index);
  if (earlier !== undefined) {
    Object.assign(unit, {
      status: 'cached',
      cached: true,
      outputDigest: earlier.outputDigest,
      runId: earlier.runId,
      cachedFrom: run.previous?.pipelineRunId ?? null,
      key: earlier.key ?? key,
    });
    return reused(earlier.outputDigest);
  }
  if (run.useCache && s.config.cache && !s.config.refresh) {
    const hit = await lookup(client, run.cacheIndex, key, s.config.ttlMs);
    if (hit !== undefined) {
      Object.assign(unit, {
        status: 'cached',
        cached: true,
        outputDigest: hit.outputDigest,
        runId: typeof hit.metadata['runId'] === 'string' ? hit.metadata['runId'] : null,
        cachedFrom: hit.pipelineRunId,
      });
      return reused(hit.outputDigest);
    }
  }

  const task: UnitTask = {
    step: s.name,
    key,
    scope: run.scopes.get(s.name) ?? cacheScope(s, run.params, run.seed),
    inputs: Object.fromEntries([...inputs.entries()].map(([as, p]) => [as, p.ref])),
    item: item === undefined ? null : { index: item.index, over: item.over },
    params: run.params,
    pipelineRunId: run.pipelineRunId,
    trackingRunId: run.trackingRunId,
    experimentId: run.experimentId,
  };
  const itemField = item === undefined ? {} : { item: item.index };
  let result: UnitResult;
  let produced: string | undefined;
  try {
    result = await run.executor.execute(task, {
      load: run.load,
      cancel: run.cancel,
      recorder: run.recorder,
      onOutput: (digest, bytes) => {
        produced = digest;
        run.load.seed(digest, bytes);
      },
      inputsStored: async () => {
        const storing = refDigests(task)
          .map((digest) => run.storing.get(digest))
          .filter((work) => work !== undefined);
        await Promise.all(storing);
      },
      defer: (work) => {
        if (produced !== undefined) {
          run.storing.set(
            produced,
            work.catch(() => undefined),
          );
        }
        run.deferred.push(
          work.catch((error: unknown) => {
            unit.status = 'failed';
            unit.error = messageOf(error);
            stepSummary.status = 'failed';
            stepSummary.error ??= `${item === undefined ? '' : `item ${String(item.index)}: `}${messageOf(error)}`;
            report();
          }),
        );
      },
      ...(item !== undefined && { itemValue: { value: item.value } }),
      onEvent: (event) => {
        switch (event.type) {
          case 'started':
            unit.status = 'running';
            unit.runId = event.runId;
            if (event.worker !== null) unit.worker = event.worker;
            if (item === undefined) report();
            break;
          case 'attempt-failed':
            unit.attempts = event.attempt;
            run.emit({ ...event, step: s.name, ...itemField });
            break;
          case 'log':
            run.emit({ ...event, step: s.name, ...itemField });
            break;
        }
      },
    });
  } catch (error) {
    // The executor itself failed (lost connection, worker gave up): the step did not finish.
    result = {
      status: 'failed',
      outputDigest: null,
      runId: unit.runId,
      attempts: unit.attempts,
      durationMs: 0,
      error: `the ${run.executor.name} executor failed: ${messageOf(error)}`,
      worker: unit.worker ?? null,
    };
  }
  Object.assign(unit, {
    status: result.status,
    attempts: result.attempts,
    durationMs: result.durationMs,
    outputDigest: result.outputDigest,
    runId: result.runId,
    error: result.error,
    ...(result.worker !== null && { worker: result.worker }),
  });
  report();
  if (result.status !== 'succeeded') return NOTHING(result.status);
  return {
    status: 'succeeded',
    key,
    digest: result.outputDigest,
    ref: { digest: result.outputDigest },
  };
}

/** Every blob a call reads: its inputs' outputs (map lists item by item) and its list. */
function refDigests(task: UnitTask): string[] {
  const refs = [...Object.values(task.inputs), ...(task.item === null ? [] : [task.item.over])];
  return refs.flatMap((ref) =>
    [ref.digest, ...(ref.items ?? [])].filter((d): d is string => d !== null),
  );
}

function reusable(
  previous: RunSummary | undefined,
  step: string,
  item: number | undefined,
): UnitSummary | undefined {
  const s = previous?.steps.find((x) => x.name === step);
  if (s === undefined) return undefined;
  const unit = item === undefined ? s : s.items?.find((i) => i.index === item);
  if (unit === undefined || (unit.status !== 'succeeded' && unit.status !== 'cached'))
    return undefined;
  return unit.outputDigest === null ? undefined : unit;
}

async function lookup(
  client: YardClient,
  index: CacheIndex | undefined,
  key: string,
  ttlMs: number | undefined,
): Promise<PipelineCacheEntry | undefined> {
  // The server answers a hit only while its output still exists (the index was filtered so too).
  const entry =
    index?.entries.get(key) ??
    (index?.complete === true
      ? undefined
      : await client.pipelineCache.get(key, { requireOutput: true }));
  if (entry === undefined) return undefined;
  if (ttlMs !== undefined && Date.now() - entry.createdAt > ttlMs) return undefined;
  return entry;
}

async function ensureExperiment(client: YardClient, name: string): Promise<string> {
  try {
    return (await client.experiments.getByName(name)).experimentId;
  } catch (error) {
    if (!(error instanceof YardClientError) || error.status !== 404) throw error;
  }
  try {
    return (await client.experiments.create({ name })).experimentId;
  } catch (error) {
    // Another run created it meanwhile.
    if (error instanceof YardClientError && error.code === 'RESOURCE_ALREADY_EXISTS') {
      return (await client.experiments.getByName(name)).experimentId;
    }
    throw error;
  }
}

/**
 * The stored summary of a pipeline run, by its tracking run id.
 * @throws InvalidParameterError when the run is not a pipeline run or has no summary yet.
 */
export async function readSummary(client: YardClient, trackingRunId: string): Promise<RunSummary> {
  const run = await client.runs.get(trackingRunId);
  const digest = run.data.tags.find((t) => t.key === TAGS.summary)?.value;
  if (digest === undefined) {
    throw new InvalidParameterError(
      `Run ${trackingRunId} has no pipeline summary: it is not a pipeline run, or it is still running.`,
      { runId: trackingRunId },
    );
  }
  return (await deserializeOutput(await client.blobs.get(digest), digest)) as RunSummary;
}

import { createHash, randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { InvalidParameterError } from '@modelyard/core';
import type { YardClient } from '@modelyard/client';
import { YardClientError } from '@modelyard/client';
import { resolveParams } from './params.js';
import type { Pipeline } from './pipeline.js';
import { producersOf } from './pipeline.js';
import { runAttempts } from './retry.js';
import { deserializeOutput, digestOf, serializeOutput } from './serialize.js';
import type { Step, StepContext } from './step.js';
import { createStepContext } from './step-context.js';

/** Where a step stands in a run. */
export type StepStatus = 'pending' | 'running' | 'succeeded' | 'cached' | 'failed' | 'skipped';

/** One call of a step (a task step has one; a map step one per item). */
export interface UnitSummary {
  status: StepStatus;
  cached: boolean;
  attempts: number;
  durationMs: number;
  /** The cache key (sha256 of code, params and input identities). */
  key: string | null;
  /** `sha256:<hex>` of the stored output. */
  outputDigest: string | null;
  /** The tracking run that produced the output (for a cached one: the earlier run's). */
  runId: string | null;
  /** For a cached output: the pipeline run that produced it. */
  cachedFrom: string | null;
  error: string | null;
}

/** A step in a run's summary. */
export interface StepSummary extends UnitSummary {
  name: string;
  kind: 'task' | 'map';
  /** The steps it consumes. */
  inputs: string[];
  /** Map steps: each item's call. */
  items?: (UnitSummary & { index: number })[];
}

/** A pipeline run's summary: `yard run --json` prints it; it is stored with the run. */
export interface RunSummary {
  pipeline: string;
  pipelineRunId: string;
  trackingRunId: string;
  experimentId: string;
  status: 'running' | 'succeeded' | 'failed';
  startedAt: number;
  endedAt: number | null;
  params: Record<string, unknown>;
  seed: number;
  codeDigest: string;
  resumedFrom: string | null;
  steps: StepSummary[];
}

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
  | { type: 'log'; step: string; level: 'info' | 'warn' | 'error'; message: string }
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
  /** Steps run at once; default: the machine's CPU count (at least 2). */
  concurrency?: number;
  /** A failed run's tracking run id: its finished steps are reused, the rest run. */
  resume?: string;
  /** Tags for the pipeline's tracking run (e.g. the git commit, the source file). */
  tags?: Readonly<Record<string, string>>;
  /** Progress. */
  onEvent?: (event: RunEvent) => void;
  /** Cancels the run: running steps see their signal abort. */
  signal?: AbortSignal;
}

/** Tag keys written on pipeline runs. */
export const TAGS = {
  pipeline: 'modelyard.pipeline.name',
  pipelineRunId: 'modelyard.pipeline.run_id',
  codeDigest: 'modelyard.pipeline.code_digest',
  seed: 'modelyard.pipeline.seed',
  summary: 'modelyard.pipeline.summary',
  resumedFrom: 'modelyard.pipeline.resumed_from',
  step: 'modelyard.step.name',
  stepItem: 'modelyard.step.item',
  stepKey: 'modelyard.step.cache_key',
  stepCode: 'modelyard.step.code_digest',
  stepDigest: 'modelyard.step.output_digest',
  stepAttempts: 'modelyard.step.attempts',
  parentRun: 'mlflow.parentRunId',
} as const;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
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
  digest: string | null;
  /** Loaded on demand. */
  value?: Promise<unknown>;
}

/**
 * Runs a pipeline in this process: steps whose producers are done run concurrently (up to
 * `concurrency`), each cached by its code digest, its inputs' identities and the params; every
 * output is stored content-addressed on the server; the run and each executed step are tracked
 * runs (the step runs nested under the pipeline's). A failing step stops only its consumers;
 * the others finish, and the run is failed.
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
  const concurrency = options.concurrency ?? Math.max(2, availableParallelism());
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
  const summaryOf = new Map(summary.steps.map((s) => [s.name, s]));
  const slots = new Slots(concurrency);
  const results = new Map<string, Promise<Produced>>();

  const load = (produced: Produced): Promise<unknown> => {
    if (produced.digest === null) return Promise.resolve(undefined);
    const digest = produced.digest;
    produced.value ??= client.blobs.get(digest).then((bytes) => deserializeOutput(bytes, digest));
    return produced.value;
  };

  const context = {
    client,
    pipeline,
    params,
    seed,
    useCache,
    cancel,
    emit,
    trackingRunId,
    pipelineRunId,
    experimentId,
    previous,
    load,
  };

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
          return { status: 'skipped', key: null, digest: null };
        }
        return s.kind === 'map'
          ? runMap(context, s, stepSummary, inputs, slots)
          : slots.run(() => runUnit(context, s, stepSummary, stepSummary, inputs, undefined));
      })(),
    );
  }
  await Promise.all(results.values());
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

interface RunContext {
  client: YardClient;
  pipeline: Pipeline<unknown>;
  params: Record<string, unknown>;
  seed: number;
  useCache: boolean;
  cancel: AbortSignal;
  emit: (event: RunEvent) => void;
  trackingRunId: string;
  pipelineRunId: string;
  experimentId: string;
  previous: RunSummary | undefined;
  load: (produced: Produced) => Promise<unknown>;
}

async function runMap(
  run: RunContext,
  s: Step<unknown>,
  stepSummary: StepSummary,
  inputs: Map<string, Produced>,
  slots: Slots,
): Promise<Produced> {
  const overResult = inputs.get('(over)');
  const list = overResult === undefined ? [] : await run.load(overResult);
  if (!Array.isArray(list)) {
    stepSummary.status = 'failed';
    stepSummary.error = `'over' must produce a list, but step '${s.over?.name ?? '?'}' produced ${typeof list}.`;
    run.emit({ type: 'step', step: stepSummary });
    return { status: 'failed', key: null, digest: null };
  }
  const items = list.map((_, index) => ({ index, ...emptyUnit() }));
  stepSummary.items = items;
  stepSummary.status = 'running';
  run.emit({ type: 'step', step: stepSummary });
  const started = Date.now();
  const itemInputs = new Map(inputs);
  itemInputs.delete('(over)');
  const outcomes = await Promise.all(
    items.map((unit, index) =>
      slots.run(() =>
        runUnit(run, s, stepSummary, unit, itemInputs, { index, value: list[index] as unknown }),
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
    return { status: 'failed', key: null, digest: null };
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
    value: Promise.all(outcomes.map((o) => run.load(o))),
  };
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
  item: { index: number; value: unknown } | undefined,
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
    if (item === undefined) report();
    return { status: 'cached', key: unit.key, digest: earlier.outputDigest };
  }
  if (run.useCache && s.config.cache && !s.config.refresh) {
    const hit = await lookup(client, key, s.config.ttlMs);
    if (hit !== undefined) {
      Object.assign(unit, {
        status: 'cached',
        cached: true,
        outputDigest: hit.outputDigest,
        runId: typeof hit.metadata['runId'] === 'string' ? hit.metadata['runId'] : null,
        cachedFrom: hit.pipelineRunId,
      });
      if (item === undefined) report();
      return { status: 'cached', key, digest: hit.outputDigest };
    }
  }

  const values: Record<string, unknown> = {};
  for (const [as, produced] of inputs) values[as] = await run.load(produced);
  if (item === undefined && s.config.when !== undefined && !s.config.when(values, run.params)) {
    unit.status = 'skipped';
    report();
    return { status: 'skipped', key: null, digest: null };
  }

  unit.status = 'running';
  if (item === undefined) report();
  const started = Date.now();
  const stepRun = await client.runs.create({
    experimentId: run.experimentId,
    runName: item === undefined ? s.name : `${s.name}[${String(item.index)}]`,
    startTime: started,
    tags: [
      { key: TAGS.parentRun, value: run.trackingRunId },
      { key: TAGS.pipelineRunId, value: run.pipelineRunId },
      { key: TAGS.step, value: s.name },
      { key: TAGS.stepKey, value: key },
      { key: TAGS.stepCode, value: s.codeDigest },
      ...(item === undefined ? [] : [{ key: TAGS.stepItem, value: String(item.index) }]),
    ],
  });
  const runId = stepRun.info.runId;
  unit.runId = runId;
  const { ctx, flush } = createStepContext({
    client,
    step: s.name,
    item: item?.index,
    runId,
    pipelineRunId: run.pipelineRunId,
    params: run.params,
    onLog: (level, message) => {
      run.emit({ type: 'log', step: s.name, level, message });
    },
  });
  let failure: unknown;
  let stored: Awaited<ReturnType<typeof serializeOutput>> | undefined;
  try {
    const { value, attempts } = await runAttempts(
      s.name,
      s.config,
      run.cancel,
      (attempt, signal) => {
        unit.attempts = attempt;
        const attemptCtx: StepContext<unknown> = { ...ctx, attempt, signal };
        return s.call(values, attemptCtx, item?.value);
      },
      (failed) => {
        run.emit({
          type: 'attempt-failed',
          step: s.name,
          ...(item !== undefined && { item: item.index }),
          attempt: failed.attempt,
          error: messageOf(failed.error),
          ...(failed.retryInMs !== undefined && { retryInMs: Math.round(failed.retryInMs) }),
        });
      },
    );
    unit.attempts = attempts;
    stored = await serializeOutput(s.name, value);
    if (!(await client.blobs.has(stored.digest)))
      await client.blobs.put(stored.digest, stored.bytes);
  } catch (error) {
    failure = error;
  }
  unit.durationMs = Date.now() - started;
  try {
    await flush();
  } catch (error) {
    run.emit({
      type: 'log',
      step: s.name,
      level: 'warn',
      message: `could not record the step's metrics, params or logs: ${messageOf(error)}`,
    });
  }
  if (stored !== undefined) {
    if (s.config.cache) {
      await client.pipelineCache.put(key, {
        outputDigest: stored.digest,
        pipelineRunId: run.pipelineRunId,
        stepName: s.name,
        metadata: {
          runId,
          kind: stored.kind,
          attempts: unit.attempts,
          durationMs: unit.durationMs,
        },
      });
    }
    unit.outputDigest = stored.digest;
    unit.status = 'succeeded';
  } else {
    unit.status = 'failed';
    unit.error = messageOf(failure);
  }
  await client.runs.logBatch(runId, {
    tags: [
      { key: TAGS.stepAttempts, value: String(unit.attempts) },
      ...(stored === undefined ? [] : [{ key: TAGS.stepDigest, value: stored.digest }]),
    ],
  });
  await client.runs.update(runId, {
    status: stored === undefined ? 'FAILED' : 'FINISHED',
    endTime: Date.now(),
  });
  if (item === undefined) {
    report();
  }
  return stored === undefined
    ? { status: 'failed', key: null, digest: null }
    : { status: 'succeeded', key, digest: stored.digest };
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
  key: string,
  ttlMs: number | undefined,
): Promise<
  { outputDigest: string; pipelineRunId: string; metadata: Record<string, unknown> } | undefined
> {
  const entry = await client.pipelineCache.get(key);
  if (entry === undefined) return undefined;
  if (ttlMs !== undefined && Date.now() - entry.createdAt > ttlMs) return undefined;
  // A hit counts only while its output still exists.
  if (!(await client.blobs.has(entry.outputDigest))) return undefined;
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

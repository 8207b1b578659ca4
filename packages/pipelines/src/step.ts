import { createHash } from 'node:crypto';
import { InvalidParameterError } from '@modelyard/core';
import type { YardClient } from '@modelyard/client';
import type { Duration } from './duration.js';
import { parseDuration } from './duration.js';
import type { ParamsDef } from './params.js';

/** Marks step objects (a symbol from the global registry, so two copies of the SDK agree). */
export const STEP_BRAND: unique symbol = Symbol.for('modelyard.pipelines.step') as never;

/** How a step is retried after a failure. */
export interface RetryPolicy {
  /** Attempts after the first; 0 means no retry. */
  retries: number;
  /** How the wait grows: `exponential` (delay × 2ⁿ⁻¹, the default), `linear` (delay × n), `fixed`. */
  backoff?: 'exponential' | 'linear' | 'fixed';
  /** The first wait; default 1 s. */
  delay?: Duration;
  /** The longest wait; default 5 min. */
  maxDelay?: Duration;
  /** Randomise each wait between half and all of it (default true), so retries do not align. */
  jitter?: boolean;
  /** Retry only errors this accepts (an `UnrecoverableError` is never retried). */
  retryIf?: (error: unknown, attempt: number) => boolean;
}

/** A step's logger: lines to the run's log, and metrics and params into its tracking run. */
export interface StepLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** Logs a metric to the step's tracking run (sent in batches). */
  metric(key: string, value: number, step?: number): void;
  /** Logs a param to the step's tracking run. */
  param(key: string, value: string | number | boolean): void;
}

/** What a step function receives besides its inputs. */
export interface StepContext<P = Record<string, unknown>> {
  /** The pipeline's parameters, validated. */
  params: P;
  /** Aborted when the step times out or the run is cancelled; pass it to fetch, streams, etc. */
  signal: AbortSignal;
  /** The step's name, and for `step.map` the item's index. */
  step: string;
  item: number | undefined;
  /** 1 for the first try. */
  attempt: number;
  log: StepLogger;
  /** The step's own (nested) tracking run and the pipeline's run. */
  runId: string;
  pipelineRunId: string;
  /** The server, for anything the context does not wrap. */
  client: YardClient;
  /** Files of the step's tracking run. */
  artifacts: {
    /** Stores `data` as the run artifact `path` (e.g. `plots/roc.svg`). */
    put(path: string, data: Uint8Array | string): Promise<void>;
  };
  /** The model registry, with lineage back to this pipeline run. */
  models: {
    /**
     * Uploads the MLflow model folder `dir` as the step run's artifact `model/` and registers it
     * as a new version of `name` (created if missing), tagged with the pipeline run.
     * @returns the new version's number.
     */
    register(name: string, dir: string, options?: { description?: string }): Promise<string>;
    /** The version an alias points at, or undefined. */
    versionByAlias(name: string, alias: string): Promise<string | undefined>;
    setAlias(name: string, alias: string, version: string): Promise<void>;
  };
}

/** Step settings; every one optional. */
export interface StepOptions<I extends InputMap = InputMap, P = Record<string, unknown>> {
  /** The steps whose outputs this step consumes, by the name it receives them under. */
  inputs?: I;
  /** The pipeline's parameters, to type `ctx.params` (see `defineParams`). */
  params?: ParamsDef<P>;
  /** Retries: a count (exponential backoff from 1 s, with jitter) or a full policy. */
  retries?: number | RetryPolicy;
  /** Aborts an attempt after this long (its signal fires and the attempt fails). */
  timeout?: Duration;
  /** Cache the output (default true); `{ ttl }` limits how long a cached output is reused. */
  cache?: boolean | { ttl?: Duration };
  /** Bump to invalidate cached outputs when code the step calls (not its own body) changed. */
  version?: string;
  /** Ignore cached outputs of this step for this run (they are replaced). */
  refresh?: boolean;
  /** Run only when this returns true; otherwise the step and its consumers are skipped. */
  when?: (inputs: ResolvedInputs<I>, params: P) => boolean;
  /** Run in a worker thread (CPU-heavy steps; local executor, pipelines run from a file). */
  worker?: boolean;
}

/** Steps by the name the consumer receives their outputs under. */
export type InputMap = Readonly<Record<string, Step<unknown>>>;

/** The output type of a step. */
export type OutputOf<S> = S extends Step<infer O> ? O : never;

/** The values a step function receives for its inputs. */
export type ResolvedInputs<I extends InputMap> = { [K in keyof I]: OutputOf<I[K]> };

/** The settings of a step after parsing. */
export interface StepConfig {
  retry: {
    retries: number;
    backoff: 'exponential' | 'linear' | 'fixed';
    /** Milliseconds. */
    delay: number;
    maxDelay: number;
    jitter: boolean;
    retryIf?: RetryPolicy['retryIf'];
  };
  timeoutMs: number | undefined;
  cache: boolean;
  ttlMs: number | undefined;
  version: string;
  refresh: boolean;
  worker: boolean;
  when: ((inputs: Record<string, unknown>, params: unknown) => boolean) | undefined;
}

/** A step of a pipeline, made by {@link step} or {@link step.map}. */
export interface Step<Out> {
  readonly [STEP_BRAND]: true;
  readonly name: string;
  /** `task`: one call; `map`: one call per item of `over`'s output, giving the list of results. */
  readonly kind: 'task' | 'map';
  readonly inputs: Readonly<Record<string, Step<unknown>>>;
  /** The step whose list a `map` step runs over. */
  readonly over: Step<unknown> | undefined;
  readonly config: StepConfig;
  /** sha256 of the step's function source, its `when`, its kind and its `version`. */
  readonly codeDigest: string;
  /** Runs the step's function (for `map`: on one item). */
  readonly call: (
    inputs: Record<string, unknown>,
    ctx: StepContext<unknown>,
    item: unknown,
  ) => Promise<unknown>;
  /** Type-level only: the output. */
  readonly __output?: Out;
}

const STEP_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

function checkName(name: string): void {
  if (typeof name !== 'string' || !STEP_NAME.test(name)) {
    throw new InvalidParameterError(
      `Invalid step name ${JSON.stringify(name)}: use 1 to 100 letters, digits, '_', '.' or '-', ` +
        'starting with a letter or digit.',
      { name },
    );
  }
}

/** True for step objects, also those made by another copy of this SDK. */
export function isStep(value: unknown): value is Step<unknown> {
  return typeof value === 'object' && value !== null && STEP_BRAND in value;
}

function resolveConfig(name: string, options: StepOptions<InputMap, unknown>): StepConfig {
  const what = (field: string) => `Step '${name}': ${field}`;
  const policy: RetryPolicy =
    typeof options.retries === 'object' ? options.retries : { retries: options.retries ?? 0 };
  if (!Number.isInteger(policy.retries) || policy.retries < 0 || policy.retries > 100) {
    throw new InvalidParameterError(
      `${what('retries')} must be a whole number from 0 to 100, got ${typeof policy.retries === 'string' ? JSON.stringify(policy.retries) : String(policy.retries)}.`,
      { step: name, retries: policy.retries },
    );
  }
  const backoff = policy.backoff ?? 'exponential';
  if (!['exponential', 'linear', 'fixed'].includes(backoff)) {
    throw new InvalidParameterError(
      `${what('backoff')} must be 'exponential', 'linear' or 'fixed', got ${JSON.stringify(backoff)}.`,
      { step: name, backoff },
    );
  }
  const timeoutMs =
    options.timeout === undefined ? undefined : parseDuration(options.timeout, what('timeout'));
  const cache = options.cache ?? true;
  const ttl = typeof cache === 'object' ? cache.ttl : undefined;
  return {
    retry: {
      retries: policy.retries,
      backoff,
      delay: parseDuration(policy.delay ?? 1000, what('retries.delay')),
      maxDelay: parseDuration(policy.maxDelay ?? 300_000, what('retries.maxDelay')),
      jitter: policy.jitter ?? true,
      ...(policy.retryIf !== undefined && { retryIf: policy.retryIf }),
    },
    timeoutMs,
    cache: cache !== false,
    ttlMs: ttl === undefined ? undefined : parseDuration(ttl, what('cache.ttl')),
    version: options.version ?? '',
    refresh: options.refresh ?? false,
    worker: options.worker ?? false,
    when: options.when,
  };
}

function digestOf(parts: readonly string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex');
}

function make<Out>(
  kind: 'task' | 'map',
  name: string,
  options: StepOptions<InputMap, unknown>,
  over: Step<unknown> | undefined,
  fn: (...args: never[]) => unknown,
  call: Step<Out>['call'],
): Step<Out> {
  checkName(name);
  if (typeof fn !== 'function') {
    throw new InvalidParameterError(`Step '${name}' needs a function to run.`, { step: name });
  }
  const inputs = options.inputs ?? {};
  for (const [key, producer] of Object.entries(inputs)) {
    if (!isStep(producer)) {
      throw new InvalidParameterError(
        `Step '${name}' takes input '${key}' from something that is not a step; pass the ` +
          'value returned by step(...).',
        { step: name, input: key },
      );
    }
  }
  const config = resolveConfig(name, options);
  return Object.freeze({
    [STEP_BRAND]: true as const,
    name,
    kind,
    inputs: Object.freeze({ ...inputs }),
    over,
    config,
    codeDigest: digestOf([kind, fn.toString(), options.when?.toString() ?? '', config.version]),
    call,
  });
}

/**
 * Defines a step: a typed function of the outputs of the steps it names in `inputs`. The types
 * flow from producer to consumer, so wiring a step to the wrong producer does not compile.
 *
 * @example
 * ```ts
 * const data = step('load', () => readCsv('churn.csv'));
 * const model = step(
 *   'train',
 *   { inputs: { data }, retries: 3, timeout: '10m', cache: { ttl: '7d' } },
 *   async ({ data }, ctx) => train(data, ctx.signal),
 * );
 * ```
 */
export function step<Out>(
  name: string,
  fn: (inputs: Record<string, never>, ctx: StepContext) => Out | Promise<Out>,
): Step<Awaited<Out>>;
export function step<const I extends InputMap, Out, P = Record<string, unknown>>(
  name: string,
  options: StepOptions<I, P>,
  fn: (inputs: ResolvedInputs<I>, ctx: StepContext<P>) => Out | Promise<Out>,
): Step<Awaited<Out>>;
export function step(
  name: string,
  optionsOrFn: StepOptions<InputMap, unknown> | ((...args: never[]) => unknown),
  maybeFn?: (...args: never[]) => unknown,
): Step<unknown> {
  const options = typeof optionsOrFn === 'function' ? {} : optionsOrFn;
  const fn = typeof optionsOrFn === 'function' ? optionsOrFn : maybeFn;
  const run = fn as unknown as (inputs: unknown, ctx: unknown) => unknown;
  return make(
    'task',
    name,
    options,
    undefined,
    fn as (...args: never[]) => unknown,
    (inputs, ctx) => Promise.resolve().then(() => run(inputs, ctx)),
  );
}

/** Options of {@link step.map}: the step whose list to run over, and the usual step options. */
export interface MapOptions<T, I extends InputMap, P> extends StepOptions<I, P> {
  over: Step<readonly T[]>;
}

/**
 * Fans out: runs `fn` once per item of `over`'s output (each call cached, retried and, on the
 * redis executor, spread over workers on its own) and gives the list of results in order (fan in).
 *
 * @example
 * ```ts
 * const shards = step('shard', () => [0, 1, 2, 3]);
 * const scores = step.map('score', { over: shards, inputs: { model } }, (shard, { model }) => score(model, shard));
 * const total = step('sum', { inputs: { scores } }, ({ scores }) => scores.reduce((a, b) => a + b, 0));
 * ```
 */
function mapStep<T, const I extends InputMap, Out, P = Record<string, unknown>>(
  name: string,
  options: MapOptions<T, I, P>,
  fn: (item: T, inputs: ResolvedInputs<I>, ctx: StepContext<P>) => Out | Promise<Out>,
): Step<Awaited<Out>[]> {
  if (!isStep(options.over)) {
    throw new InvalidParameterError(
      `Step '${name}' maps over something that is not a step; give 'over' a step whose output is a list.`,
      { step: name },
    );
  }
  const run = fn as unknown as (item: unknown, inputs: unknown, ctx: unknown) => unknown;
  return make<Awaited<Out>[]>(
    'map',
    name,
    options as StepOptions<InputMap, unknown>,
    options.over,
    fn,
    (inputs, ctx, item) => Promise.resolve().then(() => run(item, inputs, ctx)),
  );
}

step.map = mapStep;

import { randomUUID } from 'node:crypto';
import { PIPELINE_TAGS, STEP_RUN_OUTPUT_INLINE_MAX } from '@modelyard/core';
import type { StepRunRecord } from '@modelyard/core';
import type { YardClient } from '@modelyard/client';
import type { Pipeline } from './pipeline.js';
import { runAttempts } from './retry.js';
import { deserializeOutput, serializeOutput } from './serialize.js';
import type { StepContext } from './step.js';
import { createStepContext } from './step-context.js';
import { StepRecorder } from './step-recorder.js';

/** Tag keys written on pipeline runs (`PIPELINE_TAGS` of core, which the web UI shares). */
export const TAGS = PIPELINE_TAGS;

/**
 * A producer's output as a consumer receives it: one stored blob (`digest`), or for a `map`
 * step the list of its items' blobs (`items`), or nothing (`digest` null: the step returned
 * `undefined`).
 */
export interface OutputRef {
  digest: string | null;
  items?: (string | null)[];
}

/**
 * One call of a step, as data: what an executor needs to run it anywhere (in this process, a
 * worker thread, or a `yard worker` on another machine). Executors run it with the same pipeline
 * bundle the run was planned with (workers fetch it by digest), so the step's code is the same.
 */
export interface UnitTask {
  step: string;
  /** The cache key; a success is written to the cache under it when the step caches. */
  key: string;
  /** The key's scope (its derivation less the inputs), written with the cache entry. */
  scope: string;
  inputs: Record<string, OutputRef>;
  /** For a `map` step: the item's index in the list `over` produced. */
  item: { index: number; over: OutputRef } | null;
  params: Record<string, unknown>;
  pipelineRunId: string;
  trackingRunId: string;
  experimentId: string;
}

/** How one call ended. */
export interface UnitResult {
  status: 'succeeded' | 'failed' | 'skipped';
  outputDigest: string | null;
  /** The step's tracking run (none when skipped). */
  runId: string | null;
  attempts: number;
  durationMs: number;
  error: string | null;
  /** Who ran it (`host:pid`, a thread, ...). */
  worker: string | null;
}

/** What happens while a call runs, for progress views. */
export type UnitEvent =
  | { type: 'started'; runId: string; worker: string | null }
  | { type: 'attempt-failed'; attempt: number; error: string; retryInMs?: number }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string };

/** What an executor gives {@link executeUnit} besides the task. */
export interface UnitHooks {
  /** A stored output by digest, deserialised (executors memoise it). */
  load: (digest: string) => Promise<unknown>;
  onEvent: (event: UnitEvent) => void;
  /** Cancels the call: the attempt's signal aborts. */
  cancel: AbortSignal;
  /** Named in the step run's tags and the result. */
  worker?: string;
  /** A `map` item's value when the caller has it already (saves loading the list). */
  itemValue?: { value: unknown };
  /**
   * Records step runs in batches; default: one of the call's own, flushed when it ends. With
   * `defer`, the caller flushes it (before it reports the run).
   */
  recorder?: StepRecorder;
  /**
   * When given, a successful call returns as soon as its output is known: storing the output,
   * the cache entry and the step run's final state go on in `work`, which the caller must await
   * before it reports the run (it rejects when the output could not be stored). The output's
   * bytes go to `onOutput` so that consumers in this process need not fetch them.
   */
  defer?: (work: Promise<void>) => void;
  onOutput?: (digest: string, bytes: Uint8Array) => void;
  /**
   * Resolves when the outputs the call reads are stored on the server (their producers' deferred
   * bookkeeping may still be going on): an executor that runs the call elsewhere, where they
   * are fetched by digest, awaits it before it sends the call.
   */
  inputsStored?: () => Promise<void>;
}

/** Runs one call of a step somewhere. */
export interface UnitExecutor {
  /** Shown in the run's tags (`modelyard.pipeline.executor`). */
  readonly name: string;
  /** Calls worth having in flight at once when the run does not say (default 8). */
  readonly concurrency?: number;
  execute(task: UnitTask, hooks: UnitHooks): Promise<UnitResult>;
  /** Frees what the executor holds (threads, connections); the executor is done after. */
  close(): Promise<void>;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Loads a producer's output: one blob, or a map step's items as a list. */
export async function loadRef(
  ref: OutputRef,
  load: (digest: string) => Promise<unknown>,
): Promise<unknown> {
  if (ref.items !== undefined) {
    return Promise.all(ref.items.map((d) => (d === null ? Promise.resolve(undefined) : load(d))));
  }
  return ref.digest === null ? undefined : load(ref.digest);
}

/** Stored outputs by digest, deserialised; `seed` adds one this process has the bytes of. */
export interface BlobLoader {
  (digest: string): Promise<unknown>;
  seed(digest: string, bytes: Uint8Array): void;
}

/** A loader that fetches blobs from the server and keeps the last `size` values. */
export function blobLoader(client: YardClient, size = 256): BlobLoader {
  const memo = new Map<string, Promise<unknown>>();
  const remember = (digest: string, value: Promise<unknown>) => {
    // A failed fetch is not remembered.
    value.catch(() => memo.delete(digest));
    memo.delete(digest);
    memo.set(digest, value);
    if (memo.size > size) {
      const oldest = memo.keys().next().value;
      if (oldest !== undefined) memo.delete(oldest);
    }
    return value;
  };
  const load = (digest: string): Promise<unknown> =>
    remember(
      digest,
      memo.get(digest) ??
        client.blobs.get(digest).then((bytes) => deserializeOutput(bytes, digest)),
    );
  return Object.assign(load, {
    seed(digest: string, bytes: Uint8Array) {
      if (!memo.has(digest)) void remember(digest, deserializeOutput(bytes, digest));
    },
  });
}

function unitFailure(error: string, worker: string | null): UnitResult {
  return {
    status: 'failed',
    outputDigest: null,
    runId: null,
    attempts: 0,
    durationMs: 0,
    error,
    worker,
  };
}

/**
 * Runs one call of a step: loads its inputs, checks its condition, records a nested tracking
 * run, makes the attempts its retry policy allows, stores the output content-addressed, and
 * writes the cache entry. Never throws for the step's own failures: they are in the result.
 */
export async function executeUnit(
  client: YardClient,
  pipeline: Pipeline<unknown>,
  task: UnitTask,
  hooks: UnitHooks,
): Promise<UnitResult> {
  const worker = hooks.worker ?? null;
  const s = pipeline.steps.find((x) => x.name === task.step);
  if (s === undefined) {
    return unitFailure(
      `step '${task.step}' is not in this copy of pipeline '${pipeline.name}'`,
      worker,
    );
  }
  const values: Record<string, unknown> = {};
  let itemValue: unknown;
  try {
    for (const [as, ref] of Object.entries(task.inputs))
      values[as] = await loadRef(ref, hooks.load);
    if (task.item !== null) {
      if (hooks.itemValue !== undefined) itemValue = hooks.itemValue.value;
      else {
        const { index, over } = task.item;
        const one = over.items?.[index];
        itemValue =
          over.items === undefined
            ? ((await loadRef(over, hooks.load)) as unknown[])[index]
            : one === null || one === undefined
              ? undefined
              : await hooks.load(one);
      }
    }
  } catch (error) {
    return unitFailure(`could not load the step's inputs: ${messageOf(error)}`, worker);
  }
  if (task.item === null && s.config.when !== undefined && !s.config.when(values, task.params)) {
    return {
      status: 'skipped',
      outputDigest: null,
      runId: null,
      attempts: 0,
      durationMs: 0,
      error: null,
      worker,
    };
  }

  const item = task.item?.index;
  const started = Date.now();
  // The run's id is chosen here; the run reaches the server with the recorder's next batch.
  const recorder = hooks.recorder ?? new StepRecorder(client);
  const runId = randomUUID().replace(/-/g, '');
  const runName = item === undefined ? s.name : `${s.name}[${String(item)}]`;
  const record = (
    fields: Pick<StepRunRecord, 'status' | 'tags' | 'endTime' | 'cache' | 'output'>,
  ) => {
    recorder.record({
      runId,
      experimentId: task.experimentId,
      runName,
      startTime: started,
      ...fields,
    });
  };
  record({
    status: 'RUNNING',
    tags: [
      { key: TAGS.parentRun, value: task.trackingRunId },
      { key: TAGS.pipelineRunId, value: task.pipelineRunId },
      { key: TAGS.step, value: s.name },
      { key: TAGS.stepKey, value: task.key },
      { key: TAGS.stepCode, value: s.codeDigest },
      ...(item === undefined ? [] : [{ key: TAGS.stepItem, value: String(item) }]),
      ...(worker === null ? [] : [{ key: TAGS.stepWorker, value: worker }]),
    ],
  });
  // Elsewhere than the run's own process (threads, workers), the running step is on the server
  // before its body starts, so a worker that dies mid-step leaves a run to mark.
  if (hooks.defer === undefined) await recorder.flush();
  hooks.onEvent({ type: 'started', runId, worker });
  const { ctx, flush } = createStepContext({
    client,
    step: s.name,
    item,
    runId,
    pipelineRunId: task.pipelineRunId,
    params: task.params,
    onLog: (level, message) => {
      hooks.onEvent({ type: 'log', level, message });
    },
    ready: () => recorder.ensure(runId),
  });
  let attempts = 0;
  let failure: unknown;
  let stored: Awaited<ReturnType<typeof serializeOutput>> | undefined;
  try {
    const result = await runAttempts(
      s.name,
      s.config,
      hooks.cancel,
      (attempt, signal) => {
        attempts = attempt;
        const attemptCtx: StepContext<unknown> = { ...ctx, attempt, signal };
        return s.call(values, attemptCtx, itemValue);
      },
      (failed) => {
        hooks.onEvent({
          type: 'attempt-failed',
          attempt: failed.attempt,
          error: messageOf(failed.error),
          ...(failed.retryInMs !== undefined && { retryInMs: Math.round(failed.retryInMs) }),
        });
      },
    );
    attempts = result.attempts;
    stored = await serializeOutput(s.name, result.value);
  } catch (error) {
    failure = error;
  }
  const durationMs = Date.now() - started;
  const output = stored;
  // What is left: storing the output, then the cache entry and the step run's final state.
  // In the run's own process (deferred bookkeeping, a shared recorder), a small output travels
  // inline with the step run's final record: one batched request instead of one upload each.
  const inline =
    output !== undefined &&
    hooks.defer !== undefined &&
    hooks.recorder !== undefined &&
    output.bytes.byteLength <= STEP_RUN_OUTPUT_INLINE_MAX;
  const finish = async (): Promise<void> => {
    let storeFailure: unknown;
    if (output !== undefined && !inline) {
      try {
        // Small outputs are sent without asking first: a put of a blob the server has is a no-op.
        if (output.bytes.byteLength <= 65_536 || !(await client.blobs.has(output.digest))) {
          await client.blobs.put(output.digest, output.bytes);
        }
      } catch (error) {
        storeFailure = error;
      }
    }
    try {
      await flush();
    } catch (error) {
      hooks.onEvent({
        type: 'log',
        level: 'warn',
        message: `could not record the step's metrics, params or logs: ${messageOf(error)}`,
      });
    }
    const ok = output !== undefined && storeFailure === undefined;
    record({
      status: ok ? 'FINISHED' : 'FAILED',
      endTime: Date.now(),
      tags: [
        { key: TAGS.stepAttempts, value: String(attempts) },
        ...(ok ? [{ key: TAGS.stepDigest, value: output.digest }] : []),
      ],
      ...(ok &&
        s.config.cache && {
          cache: {
            key: task.key,
            scope: task.scope,
            outputDigest: output.digest,
            pipelineRunId: task.pipelineRunId,
            stepName: s.name,
            metadata: { runId, kind: output.kind, attempts, durationMs },
          },
        }),
      ...(ok &&
        inline && {
          output: {
            digest: output.digest,
            data: Buffer.from(
              output.bytes.buffer,
              output.bytes.byteOffset,
              output.bytes.byteLength,
            ).toString('base64'),
          },
        }),
    });
    // Deferred: the caller's recorder sends it with others; otherwise it is written now.
    if (hooks.defer === undefined) await recorder.flush();
    else if (inline) {
      // The output is stored only once its record's batch is written.
      try {
        await recorder.written(runId);
      } catch (error) {
        storeFailure = error;
      }
    }
    if (storeFailure !== undefined) {
      throw new Error(`could not store the output: ${messageOf(storeFailure)}`);
    }
  };
  if (output !== undefined && hooks.defer !== undefined) {
    // Consumers in this process read the output from memory; the bookkeeping goes on meanwhile.
    hooks.onOutput?.(output.digest, output.bytes);
    hooks.defer(finish());
  } else {
    try {
      await finish();
    } catch (error) {
      failure ??= error;
      stored = undefined;
    }
  }
  return {
    status: stored === undefined ? 'failed' : 'succeeded',
    outputDigest: stored?.digest ?? null,
    runId,
    attempts,
    durationMs,
    error: stored === undefined ? messageOf(failure) : null,
    worker,
  };
}

/** Runs every call in this process. */
export function inlineExecutor(client: YardClient, pipeline: Pipeline<unknown>): UnitExecutor {
  return {
    name: 'local',
    execute: (task, hooks) => executeUnit(client, pipeline, task, hooks),
    close: () => Promise.resolve(),
  };
}

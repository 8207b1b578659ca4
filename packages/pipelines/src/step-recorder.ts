import type { StepRunRecord } from '@modelyard/core';
import { STEP_RUN_OUTPUTS_BATCH_MAX, STEP_RUN_RECORDS_MAX, base64Size } from '@modelyard/core';
import type { YardClient } from '@modelyard/client';

/** Options of {@link StepRecorder}. */
export interface StepRecorderOptions {
  /** How long a record may wait for others to share its request (default 20 ms). */
  delayMs?: number;
}

/**
 * Writes step runs (their tracking runs, cache entries and small outputs) in batches: records
 * wait up to `delayMs` and go in one request, which the server writes in one transaction.
 * Records of one run merge while they wait (a step that starts and ends within the delay costs
 * one row write). Batches are sent one after the other, in order; a batch goes early when it
 * holds `STEP_RUN_RECORDS_MAX` records or half of `STEP_RUN_OUTPUTS_BATCH_MAX` in outputs.
 */
export class StepRecorder {
  readonly #client: YardClient;
  readonly #delayMs: number;
  /** Waiting records by run id, merged. */
  readonly #pending = new Map<string, StepRunRecord>();
  /** The batches being sent, in order. */
  #sending: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  /** Output bytes (decoded) the waiting records carry. */
  #pendingBytes = 0;
  /** Settles when the waiting records have been sent (created on demand). */
  #next:
    { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void } | undefined;
  /** Run ids whose records could not be written, with why. */
  readonly failures = new Map<string, string>();

  constructor(client: YardClient, options: StepRecorderOptions = {}) {
    this.#client = client;
    this.#delayMs = options.delayMs ?? 20;
  }

  /** Queues a record; a later one for the same run overrides status and end time, adds tags. */
  record(record: StepRunRecord): void {
    const earlier = this.#pending.get(record.runId);
    if (record.output !== undefined) {
      if (earlier?.output !== undefined) this.#pendingBytes -= base64Size(earlier.output.data);
      this.#pendingBytes += base64Size(record.output.data);
    }
    this.#pending.set(
      record.runId,
      earlier === undefined
        ? { ...record, tags: [...(record.tags ?? [])] }
        : {
            ...earlier,
            status: record.status,
            ...(record.endTime !== undefined && { endTime: record.endTime }),
            tags: [...(earlier.tags ?? []), ...(record.tags ?? [])],
            ...(record.cache !== undefined && { cache: record.cache }),
            ...(record.output !== undefined && { output: record.output }),
          },
    );
    if (
      this.#pending.size >= STEP_RUN_RECORDS_MAX ||
      this.#pendingBytes >= STEP_RUN_OUTPUTS_BATCH_MAX / 2
    ) {
      void this.flush().catch(() => undefined);
    } else
      this.#timer ??= setTimeout(() => void this.flush().catch(() => undefined), this.#delayMs);
  }

  /**
   * Resolves once the run's records so far are on the server (sending them now if they wait),
   * for calls that need the run to exist: artifact uploads, metrics, model registration.
   * @throws the error of the batch that held them.
   */
  async ensure(runId: string): Promise<void> {
    await (this.#pending.has(runId) ? this.flush() : this.#sending).catch(() => undefined);
    const failure = this.failures.get(runId);
    if (failure !== undefined) throw new Error(`the step run was not recorded: ${failure}`);
  }

  /**
   * Resolves once the run's records so far are on the server, without sending them early: they
   * go with their batch. For work that must not finish before its record is written (a step
   * whose output travels inline).
   * @throws Error saying why when the batch that held them failed.
   */
  async written(runId: string): Promise<void> {
    if (this.#pending.has(runId)) {
      this.#next ??= deferred();
      await this.#next.promise.catch(() => undefined);
    } else {
      await this.#sending.catch(() => undefined);
    }
    const failure = this.failures.get(runId);
    if (failure !== undefined) throw new Error(`the step run was not recorded: ${failure}`);
  }

  /** Sends what waits; resolves when it (and every earlier batch) is written. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = [...this.#pending.values()];
    this.#pending.clear();
    this.#pendingBytes = 0;
    const waiting = this.#next;
    this.#next = undefined;
    if (batch.length === 0) return this.#sending;
    const send = async () => {
      for (let i = 0; i < batch.length; i += STEP_RUN_RECORDS_MAX) {
        const part = batch.slice(i, i + STEP_RUN_RECORDS_MAX);
        try {
          await this.#client.stepRuns.record(part);
        } catch (error) {
          const why = error instanceof Error ? error.message : String(error);
          for (const r of part) this.failures.set(r.runId, why);
          throw error;
        }
      }
    };
    // A failed batch does not stop the ones after it.
    const sent = this.#sending.catch(() => undefined).then(send);
    this.#sending = sent;
    if (waiting !== undefined) void sent.then(waiting.resolve, waiting.reject);
    return sent;
  }
}

function deferred(): {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
} {
  let resolve: () => void = () => undefined;
  let reject: (error: unknown) => void = () => undefined;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

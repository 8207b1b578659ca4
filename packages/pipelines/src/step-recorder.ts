import type { StepRunRecord } from '@modelyard/core';
import { STEP_RUN_RECORDS_MAX } from '@modelyard/core';
import type { YardClient } from '@modelyard/client';

/** Options of {@link StepRecorder}. */
export interface StepRecorderOptions {
  /** How long a record may wait for others to share its request (default 20 ms). */
  delayMs?: number;
}

/**
 * Writes step runs (their tracking runs and cache entries) in batches: records wait up to
 * `delayMs` and go in one request, which the server writes in one transaction. Records of one
 * run merge while they wait (a step that starts and ends within the delay costs one row write).
 * Batches are sent one after the other, in order.
 */
export class StepRecorder {
  readonly #client: YardClient;
  readonly #delayMs: number;
  /** Waiting records by run id, merged. */
  readonly #pending = new Map<string, StepRunRecord>();
  /** The batches being sent, in order. */
  #sending: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  /** Run ids whose records could not be written, with why. */
  readonly failures = new Map<string, string>();

  constructor(client: YardClient, options: StepRecorderOptions = {}) {
    this.#client = client;
    this.#delayMs = options.delayMs ?? 20;
  }

  /** Queues a record; a later one for the same run overrides status and end time, adds tags. */
  record(record: StepRunRecord): void {
    const earlier = this.#pending.get(record.runId);
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
          },
    );
    if (this.#pending.size >= STEP_RUN_RECORDS_MAX) void this.flush().catch(() => undefined);
    else this.#timer ??= setTimeout(() => void this.flush().catch(() => undefined), this.#delayMs);
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

  /** Sends what waits; resolves when it (and every earlier batch) is written. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = [...this.#pending.values()];
    this.#pending.clear();
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
    return sent;
  }
}

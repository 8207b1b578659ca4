import type { StepConfig } from './step.js';

/**
 * Thrown by a step to fail at once, without retries (bad data, a missing file: things another
 * attempt would not fix).
 */
export class UnrecoverableError extends Error {
  override readonly name = 'UnrecoverableError';
}

/** An attempt that ran past the step's `timeout`. Retried like any other failure. */
export class StepTimeoutError extends Error {
  override readonly name = 'StepTimeoutError';
  constructor(
    readonly step: string,
    readonly timeoutMs: number,
  ) {
    super(`Step '${step}' timed out after ${String(timeoutMs)} ms; its signal was aborted.`);
  }
}

/** The run was cancelled (its signal aborted) while the step waited or ran. */
export class StepCancelledError extends Error {
  override readonly name = 'StepCancelledError';
}

/**
 * The wait before attempt `attempt + 1` (attempt counts from 1): exponential `delay × 2ⁿ⁻¹`,
 * linear `delay × n` or fixed `delay`, capped at `maxDelay`; with jitter, a uniform draw between
 * half and all of it.
 */
export function backoffDelay(
  retry: StepConfig['retry'],
  attempt: number,
  random: () => number = Math.random,
): number {
  const base =
    retry.backoff === 'exponential'
      ? retry.delay * 2 ** (attempt - 1)
      : retry.backoff === 'linear'
        ? retry.delay * attempt
        : retry.delay;
  const capped = Math.min(base, retry.maxDelay);
  return retry.jitter ? capped / 2 + (random() * capped) / 2 : capped;
}

/** The longest a Node.js timer can wait (about 24.8 days); longer ones would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** setTimeout for any length: long waits are chained. Returns the function that cancels it. */
function later(ms: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = (left: number): void => {
    timer = setTimeout(
      () => {
        if (left > MAX_TIMER_MS) arm(left - MAX_TIMER_MS);
        else fn();
      },
      Math.min(left, MAX_TIMER_MS),
    );
  };
  arm(ms);
  return () => {
    clearTimeout(timer);
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new StepCancelledError('The run was cancelled.'));
      return;
    }
    const stop = later(ms, () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
    const onAbort = () => {
      stop();
      reject(new StepCancelledError('The run was cancelled.'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** What {@link runAttempts} reports of each failed attempt. */
export interface AttemptFailure {
  attempt: number;
  error: unknown;
  /** The wait before the next attempt, or undefined when there is none. */
  retryInMs: number | undefined;
}

/**
 * Runs `attempt` until it succeeds or the retry policy gives up. Each attempt gets its own
 * AbortSignal, aborted at the step's timeout or when `cancel` aborts; a timed-out attempt stops
 * being waited for even if its code ignores the signal.
 *
 * @returns the value and the number of attempts made.
 * @throws the last attempt's error (an `UnrecoverableError` at once).
 */
export async function runAttempts<T>(
  step: string,
  config: StepConfig,
  cancel: AbortSignal,
  attempt: (n: number, signal: AbortSignal) => Promise<T>,
  onFailure: (failure: AttemptFailure) => void = () => undefined,
): Promise<{ value: T; attempts: number }> {
  for (let n = 1; ; n += 1) {
    if (cancel.aborted)
      throw new StepCancelledError(`The run was cancelled before step '${step}'.`);
    const controller = new AbortController();
    const onCancel = () => {
      controller.abort(new StepCancelledError('The run was cancelled.'));
    };
    cancel.addEventListener('abort', onCancel, { once: true });
    let stopTimer: (() => void) | undefined;
    try {
      const work = attempt(n, controller.signal);
      const aborted = new Promise<never>((_, reject) => {
        controller.signal.addEventListener(
          'abort',
          () => {
            reject(controller.signal.reason as Error);
          },
          { once: true },
        );
      });
      // Whichever loses the race settles later with nobody waiting: keep that quiet.
      work.catch(() => undefined);
      aborted.catch(() => undefined);
      if (config.timeoutMs !== undefined) {
        const timeoutMs = config.timeoutMs;
        stopTimer = later(timeoutMs, () => {
          controller.abort(new StepTimeoutError(step, timeoutMs));
        });
      }
      const value = await Promise.race([work, aborted]);
      return { value, attempts: n };
    } catch (error) {
      const last =
        error instanceof UnrecoverableError ||
        error instanceof StepCancelledError ||
        n > config.retry.retries ||
        (config.retry.retryIf !== undefined && !config.retry.retryIf(error, n));
      const retryInMs = last ? undefined : backoffDelay(config.retry, n);
      onFailure({ attempt: n, error, retryInMs });
      if (retryInMs === undefined) throw error;
      await sleep(retryInMs, cancel);
    } finally {
      stopTimer?.();
      cancel.removeEventListener('abort', onCancel);
      controller.abort();
    }
  }
}

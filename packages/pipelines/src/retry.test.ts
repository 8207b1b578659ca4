import { describe, expect, it } from 'vitest';
import type { AttemptFailure } from './retry.js';
import {
  backoffDelay,
  runAttempts,
  StepCancelledError,
  StepTimeoutError,
  UnrecoverableError,
} from './retry.js';
import type { StepConfig, StepOptions } from './step.js';
import { step } from './step.js';

/** A step's parsed config, through step() so the tests use what users get. */
function configOf(options: StepOptions): StepConfig {
  return step('train', options, () => undefined).config;
}

type Retry = StepConfig['retry'];

function retry(overrides: Partial<Retry>): Retry {
  return {
    retries: 3,
    backoff: 'exponential',
    delay: 100,
    maxDelay: 10_000,
    jitter: false,
    ...overrides,
  };
}

/** Runs attempts, recording every failure reported. */
function run<T>(
  config: StepConfig,
  attempt: (n: number, signal: AbortSignal) => Promise<T>,
  cancel: AbortSignal = new AbortController().signal,
) {
  const failures: AttemptFailure[] = [];
  const calls: number[] = [];
  const result = runAttempts(
    'train',
    config,
    cancel,
    (n, signal) => {
      calls.push(n);
      return attempt(n, signal);
    },
    (failure) => {
      failures.push(failure);
    },
  );
  return { result, failures, calls };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

const never = () => new Promise<never>(() => undefined);

/** Rejects with the signal's reason when it aborts (as fetch and streams do). */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    signal.addEventListener('abort', () => {
      reject(signal.reason as Error);
    });
  });
}

describe('backoffDelay', () => {
  it('doubles exponentially from the first delay', () => {
    const policy = retry({ backoff: 'exponential', delay: 100 });
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(policy, n))).toEqual([100, 200, 400, 800, 1600]);
  });

  it('grows linearly', () => {
    const policy = retry({ backoff: 'linear', delay: 100 });
    expect([1, 2, 3, 4].map((n) => backoffDelay(policy, n))).toEqual([100, 200, 300, 400]);
  });

  it('stays fixed', () => {
    const policy = retry({ backoff: 'fixed', delay: 250 });
    expect([1, 2, 10].map((n) => backoffDelay(policy, n))).toEqual([250, 250, 250]);
  });

  it('caps every kind at maxDelay', () => {
    expect(backoffDelay(retry({ backoff: 'exponential', maxDelay: 250 }), 3)).toBe(250);
    expect(backoffDelay(retry({ backoff: 'exponential', maxDelay: 250 }), 60)).toBe(250);
    expect(backoffDelay(retry({ backoff: 'linear', maxDelay: 250 }), 5)).toBe(250);
    expect(backoffDelay(retry({ backoff: 'fixed', delay: 500, maxDelay: 250 }), 1)).toBe(250);
  });

  it('with jitter, draws between half and all of the (capped) wait', () => {
    const policy = retry({ backoff: 'exponential', delay: 100, jitter: true });
    expect(backoffDelay(policy, 3, () => 0)).toBe(200);
    expect(backoffDelay(policy, 3, () => 0.5)).toBe(300);
    expect(backoffDelay(policy, 3, () => 0.999)).toBeCloseTo(399.8, 6);
    const capped = retry({ backoff: 'exponential', delay: 100, maxDelay: 150, jitter: true });
    expect(backoffDelay(capped, 4, () => 0)).toBe(75);
    expect(backoffDelay(capped, 4, () => 0.5)).toBe(112.5);
  });

  it('with jitter and Math.random, stays within bounds', () => {
    const policy = retry({ backoff: 'linear', delay: 100, jitter: true });
    for (let i = 0; i < 200; i += 1) {
      const wait = backoffDelay(policy, 2);
      expect(wait).toBeGreaterThanOrEqual(100);
      expect(wait).toBeLessThanOrEqual(200);
    }
  });

  it('uses the defaults a step gets from a retry count', () => {
    const { retry: fromCount } = configOf({ retries: 3 });
    expect(backoffDelay(fromCount, 1, () => 0)).toBe(500);
    expect(backoffDelay(fromCount, 1, () => 1)).toBe(1000);
    expect(backoffDelay({ ...fromCount, jitter: false }, 20)).toBe(300_000);
  });
});

describe('runAttempts', () => {
  const fast = (retries: number, more: Partial<StepOptions> = {}) =>
    configOf({ retries: { retries, backoff: 'fixed', delay: 1, jitter: false }, ...more });

  it('returns the value and one attempt when the first succeeds', async () => {
    const { result, failures } = run(fast(3), () => Promise.resolve('model'));
    await expect(result).resolves.toEqual({ value: 'model', attempts: 1 });
    expect(failures).toEqual([]);
  });

  it('succeeds after failures, reporting each', async () => {
    const errors = [new Error('flaky 1'), new Error('flaky 2')];
    const { result, failures, calls } = run(fast(3), (n) =>
      n <= 2 ? Promise.reject(errors[n - 1] as Error) : Promise.resolve(n * 10),
    );
    await expect(result).resolves.toEqual({ value: 30, attempts: 3 });
    expect(calls).toEqual([1, 2, 3]);
    expect(failures).toEqual([
      { attempt: 1, error: errors[0], retryInMs: 1 },
      { attempt: 2, error: errors[1], retryInMs: 1 },
    ]);
  });

  it('treats a synchronous throw like a rejection', async () => {
    const { result, calls } = run(fast(1), (n) => {
      if (n === 1) throw new Error('sync');
      return Promise.resolve('ok');
    });
    await expect(result).resolves.toEqual({ value: 'ok', attempts: 2 });
    expect(calls).toEqual([1, 2]);
  });

  it('gives up after the retries and throws the last error', async () => {
    const { result, failures, calls } = run(fast(2), (n) =>
      Promise.reject(new Error(`failure ${String(n)}`)),
    );
    await expect(result).rejects.toThrow('failure 3');
    expect(calls).toEqual([1, 2, 3]);
    expect(failures.map((f) => f.retryInMs)).toEqual([1, 1, undefined]);
  });

  it('makes one attempt when there are no retries', async () => {
    const { result, calls, failures } = run(fast(0), () => Promise.reject(new Error('once')));
    await expect(result).rejects.toThrow('once');
    expect(calls).toEqual([1]);
    expect(failures).toHaveLength(1);
  });

  it('does not retry an UnrecoverableError', async () => {
    const error = new UnrecoverableError('the CSV has no header');
    const { result, calls, failures } = run(fast(5), () => Promise.reject(error));
    expect(await rejection(result)).toBe(error);
    expect(calls).toEqual([1]);
    expect(failures).toEqual([{ attempt: 1, error, retryInMs: undefined }]);
    expect(error.name).toBe('UnrecoverableError');
  });

  it('stops when retryIf says no, passing it the error and the attempt', async () => {
    const seen: [unknown, number][] = [];
    const config = configOf({
      retries: {
        retries: 5,
        backoff: 'fixed',
        delay: 1,
        jitter: false,
        retryIf: (error, attempt) => {
          seen.push([error, attempt]);
          return error instanceof TypeError;
        },
      },
    });
    const errors = [
      new TypeError('network'),
      new TypeError('network'),
      new RangeError('bad value'),
    ];
    const { result, calls, failures } = run(config, (n) => Promise.reject(errors[n - 1] as Error));
    expect(await rejection(result)).toBe(errors[2]);
    expect(calls).toEqual([1, 2, 3]);
    expect(seen).toEqual([
      [errors[0], 1],
      [errors[1], 2],
      [errors[2], 3],
    ]);
    expect(failures.map((f) => f.retryInMs)).toEqual([1, 1, undefined]);
  });

  it('does not ask retryIf once the retries are spent', async () => {
    let asked = 0;
    const config = configOf({
      retries: { retries: 1, delay: 1, jitter: false, retryIf: () => ++asked > 0 },
    });
    const { result } = run(config, () => Promise.reject(new Error('no')));
    await expect(result).rejects.toThrow('no');
    expect(asked).toBe(1);
  });

  it('reports retryInMs from the backoff policy', async () => {
    const config = configOf({
      retries: { retries: 3, backoff: 'exponential', delay: 1, jitter: false },
    });
    const { result, failures } = run(config, () => Promise.reject(new Error('down')));
    await expect(result).rejects.toThrow('down');
    expect(failures.map((f) => [f.attempt, f.retryInMs])).toEqual([
      [1, 1],
      [2, 2],
      [3, 4],
      [4, undefined],
    ]);
  });

  it('gives each attempt its own signal and attempt number', async () => {
    const signals: AbortSignal[] = [];
    const { result } = run(fast(2), (n, signal) => {
      signals.push(signal);
      return n < 3 ? Promise.reject(new Error('again')) : Promise.resolve('ok');
    });
    await expect(result).resolves.toEqual({ value: 'ok', attempts: 3 });
    expect(new Set(signals).size).toBe(3);
  });

  describe('timeouts', () => {
    it("aborts the attempt's signal with a StepTimeoutError, and retries", async () => {
      const reasons: unknown[] = [];
      const { result, failures } = run(fast(2, { timeout: '20ms' }), (n, signal) => {
        if (n > 1) return Promise.resolve('second time lucky');
        return untilAborted(signal).catch((error: unknown) => {
          reasons.push(error, signal.aborted);
          throw error;
        });
      });
      await expect(result).resolves.toEqual({ value: 'second time lucky', attempts: 2 });
      expect(reasons[0]).toBeInstanceOf(StepTimeoutError);
      expect(reasons[1]).toBe(true);
      const failure = failures[0];
      expect(failure?.attempt).toBe(1);
      expect(failure?.retryInMs).toBe(1);
      const error = failure?.error as StepTimeoutError;
      expect(error).toBeInstanceOf(StepTimeoutError);
      expect(error.step).toBe('train');
      expect(error.timeoutMs).toBe(20);
      expect(error.message).toBe("Step 'train' timed out after 20 ms; its signal was aborted.");
    });

    it('does not wait past the timeout for an attempt that ignores its signal', async () => {
      // The attempt never settles: if runAttempts waited for it, the test would hang.
      const { result, calls } = run(fast(0, { timeout: '10ms' }), never);
      const error = await rejection(result);
      expect(error).toBeInstanceOf(StepTimeoutError);
      expect(calls).toEqual([1]);
    });

    it('retries an attempt that ignored its signal, and keeps the next one', async () => {
      const { result } = run(fast(1, { timeout: '10ms' }), (n) =>
        n === 1 ? never() : Promise.resolve(n),
      );
      await expect(result).resolves.toEqual({ value: 2, attempts: 2 });
    });

    it('throws the timeout once the retries are spent', async () => {
      const { result, calls, failures } = run(fast(2, { timeout: '5ms' }), never);
      expect(await rejection(result)).toBeInstanceOf(StepTimeoutError);
      expect(calls).toEqual([1, 2, 3]);
      expect(failures.every((f) => f.error instanceof StepTimeoutError)).toBe(true);
    });

    it('honours a timeout longer than 24.8 days', async () => {
      const { result } = run(
        fast(0, { timeout: '30d' }),
        () =>
          new Promise((resolve) => {
            setTimeout(() => {
              resolve('done');
            }, 20);
          }),
      );
      await expect(result).resolves.toEqual({ value: 'done', attempts: 1 });
    });

    it('honours a retry wait longer than 24.8 days', async () => {
      const cancel = new AbortController();
      const config = configOf({
        retries: { retries: 1, backoff: 'fixed', delay: '30d', maxDelay: '30d', jitter: false },
      });
      const calls: number[] = [];
      const result = runAttempts(
        'train',
        config,
        cancel.signal,
        (n) => {
          calls.push(n);
          return Promise.reject(new Error('down'));
        },
        () => {
          setTimeout(() => {
            cancel.abort();
          }, 50);
        },
      );
      expect(await rejection(result)).toBeInstanceOf(StepCancelledError);
      expect(calls).toEqual([1]);
    });
  });

  describe('cancellation', () => {
    it('makes no attempt when the run is already cancelled', async () => {
      const cancel = new AbortController();
      cancel.abort();
      const { result, calls } = run(fast(3), () => Promise.resolve(1), cancel.signal);
      const error = await rejection(result);
      expect(error).toBeInstanceOf(StepCancelledError);
      expect((error as Error).message).toBe("The run was cancelled before step 'train'.");
      expect(calls).toEqual([]);
    });

    it('stops waiting between attempts when the run is cancelled', async () => {
      const cancel = new AbortController();
      // A 2-minute wait: if the cancel did not end it, the test would time out.
      const config = configOf({
        retries: { retries: 3, backoff: 'fixed', delay: '2m', jitter: false },
      });
      const calls: number[] = [];
      const failures: AttemptFailure[] = [];
      const result = runAttempts(
        'train',
        config,
        cancel.signal,
        (n) => {
          calls.push(n);
          return Promise.reject(new Error('down'));
        },
        (failure) => {
          failures.push(failure);
          setTimeout(() => {
            cancel.abort();
          }, 5);
        },
      );
      const error = await rejection(result);
      expect(error).toBeInstanceOf(StepCancelledError);
      expect(calls).toEqual([1]);
      expect(failures).toEqual([{ attempt: 1, error: new Error('down'), retryInMs: 120_000 }]);
    });

    it('aborts a running attempt, without retrying it', async () => {
      const cancel = new AbortController();
      const reasons: unknown[] = [];
      const { result, calls, failures } = run(
        fast(3),
        (_, signal) => {
          setTimeout(() => {
            cancel.abort();
          }, 5);
          return untilAborted(signal).catch((error: unknown) => {
            reasons.push(error);
            throw error;
          });
        },
        cancel.signal,
      );
      const error = await rejection(result);
      expect(error).toBeInstanceOf(StepCancelledError);
      expect(reasons[0]).toBeInstanceOf(StepCancelledError);
      expect(calls).toEqual([1]);
      expect(failures).toEqual([{ attempt: 1, error, retryInMs: undefined }]);
    });

    it('aborts a running attempt that ignores its signal, without waiting for it', async () => {
      const cancel = new AbortController();
      const { result } = run(
        fast(3),
        () => {
          setTimeout(() => {
            cancel.abort();
          }, 5);
          return never();
        },
        cancel.signal,
      );
      expect(await rejection(result)).toBeInstanceOf(StepCancelledError);
    });
  });
});

import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { siblingModule, startModuleWorker } from '@modelyard/core/module-worker';
import type { YardClient } from '@modelyard/client';
import type { UnitEvent, UnitExecutor, UnitHooks, UnitResult, UnitTask } from './execute.js';
import type { PipelineBundle } from './load.js';
import type { Pipeline } from './pipeline.js';

/** What a step thread starts with. */
export interface ThreadData {
  baseUrl: string;
  bundle: { code: string; digest: string; source: string };
  bundleDir: string;
}

/** Main thread to step thread. */
export type ThreadRequest =
  | { type: 'run'; id: number; task: UnitTask; worker: string }
  | { type: 'cancel'; id: number }
  | { type: 'close' };

/** Step thread to main thread. */
export type ThreadReply =
  | { type: 'ready' }
  | { type: 'event'; id: number; event: UnitEvent }
  | { type: 'result'; id: number; result: UnitResult }
  | { type: 'error'; id: number; message: string };

interface Call {
  task: UnitTask;
  hooks: UnitHooks;
  resolve: (result: UnitResult) => void;
  reject: (error: Error) => void;
}

interface Thread {
  worker: Worker;
  /** The call it runs, by request id. */
  busy: number | undefined;
}

/**
 * Worker threads that run calls of `worker: true` steps, one call per thread at a time, so a
 * CPU-heavy step uses its own core and never blocks the event loop that reports progress (or,
 * in `yard worker`, renews job locks). Threads start when first needed and import the same
 * bundle; a thread that crashes fails its call and is replaced.
 */
export class StepThreadPool {
  readonly #data: ThreadData;
  readonly #size: number;
  readonly #worker: string;
  readonly #threads: Thread[] = [];
  readonly #queue: { id: number; call: Call }[] = [];
  readonly #calls = new Map<number, Call>();
  #nextId = 1;
  #closed = false;

  constructor(options: {
    client: YardClient;
    bundle: Pick<PipelineBundle, 'code' | 'digest' | 'source'>;
    /** Threads at most (default: the CPU count). */
    size?: number;
    /** Names the caller in step runs (`<worker> thread <n>`). */
    worker: string;
    bundleDir?: string;
  }) {
    this.#data = {
      baseUrl: options.client.baseUrl,
      bundle: {
        code: options.bundle.code,
        digest: options.bundle.digest,
        source: options.bundle.source,
      },
      bundleDir: options.bundleDir ?? join(process.cwd(), '.modelyard', 'pipelines'),
    };
    this.#size = options.size ?? availableParallelism();
    this.#worker = options.worker;
  }

  async run(task: UnitTask, hooks: UnitHooks): Promise<UnitResult> {
    // The thread fetches the inputs from the server: they must be there.
    await hooks.inputsStored?.();
    return this.#enqueue(task, hooks);
  }

  #enqueue(task: UnitTask, hooks: UnitHooks): Promise<UnitResult> {
    if (this.#closed) return Promise.reject(new Error('the step thread pool is closed'));
    return new Promise<UnitResult>((resolve, reject) => {
      const id = this.#nextId++;
      const call: Call = { task, hooks, resolve, reject };
      this.#calls.set(id, call);
      hooks.cancel.addEventListener(
        'abort',
        () => {
          const queued = this.#queue.findIndex((q) => q.id === id);
          if (queued >= 0) {
            this.#queue.splice(queued, 1);
            this.#calls.delete(id);
            reject(new Error('cancelled before it started'));
          } else {
            this.#threads
              .find((t) => t.busy === id)
              ?.worker.postMessage({ type: 'cancel', id } satisfies ThreadRequest);
          }
        },
        { once: true },
      );
      this.#queue.push({ id, call });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      let thread = this.#threads.find((t) => t.busy === undefined);
      if (thread === undefined && this.#threads.length < this.#size) thread = this.#start();
      if (thread === undefined) return;
      const next = this.#queue.shift();
      if (next === undefined) return;
      thread.busy = next.id;
      thread.worker.postMessage({
        type: 'run',
        id: next.id,
        task: next.call.task,
        worker: this.#worker,
      } satisfies ThreadRequest);
    }
  }

  #start(): Thread {
    const worker = startModuleWorker(siblingModule(import.meta.url, 'step-thread'), {
      workerData: this.#data,
    });
    const thread: Thread = { worker, busy: undefined };
    this.#threads.push(thread);
    const settle = (id: number, outcome: UnitResult | Error) => {
      const call = this.#calls.get(id);
      this.#calls.delete(id);
      if (thread.busy === id) thread.busy = undefined;
      if (call !== undefined) {
        if (outcome instanceof Error) call.reject(outcome);
        else call.resolve(outcome);
      }
      this.#dispatch();
    };
    worker.on('message', (message: ThreadReply) => {
      switch (message.type) {
        case 'ready':
          break;
        case 'event':
          this.#calls.get(message.id)?.hooks.onEvent(message.event);
          break;
        case 'result':
          settle(message.id, message.result);
          break;
        case 'error':
          settle(message.id, new Error(message.message));
          break;
      }
    });
    const lost = (why: string) => {
      const index = this.#threads.indexOf(thread);
      if (index < 0) return;
      this.#threads.splice(index, 1);
      if (thread.busy !== undefined) settle(thread.busy, new Error(`its worker thread ${why}`));
      else this.#dispatch();
    };
    worker.on('error', (error) => {
      lost(`failed: ${error.message}`);
    });
    worker.on('exit', (code) => {
      lost(`exited with code ${String(code)}`);
    });
    return thread;
  }

  /**
   * Lets idle threads end by themselves, so that their HTTP connections close cleanly (a
   * terminated thread can leave the server a half-open keep-alive connection that holds up its
   * shutdown); a thread still running a call after 5 s is terminated.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const threads = this.#threads.splice(0);
    await Promise.all(
      threads.map(
        (t) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              void t.worker.terminate().then(() => {
                resolve();
              });
            }, 5000);
            t.worker.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            t.worker.postMessage({ type: 'close' } satisfies ThreadRequest);
          }),
      ),
    );
  }
}

/**
 * An executor that sends calls of `worker: true` steps to a {@link StepThreadPool} and every
 * other call to `inner`.
 */
export function withStepThreads(
  inner: UnitExecutor,
  pipeline: Pipeline<unknown>,
  pool: StepThreadPool,
): UnitExecutor {
  const threaded = new Set(pipeline.steps.filter((s) => s.config.worker).map((s) => s.name));
  return {
    name: inner.name,
    ...(inner.concurrency !== undefined && { concurrency: inner.concurrency }),
    execute: (task, hooks) =>
      threaded.has(task.step) ? pool.run(task, hooks) : inner.execute(task, hooks),
    async close() {
      await Promise.all([inner.close(), pool.close()]);
    },
  };
}

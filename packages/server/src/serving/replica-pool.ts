import type { Worker } from 'node:worker_threads';
import { InvalidParameterError, YardError } from '@modelyard/core';
import type { ModelRuntimeStatus } from './model-runtime.js';
import type { InferMessage, ReadyMessage, WireTensor, WorkerReply } from './worker-protocol.js';
import { transferableBuffers } from './worker-protocol.js';

/** Options of {@link ReplicaPool.start}. */
export interface ReplicaPoolOptions {
  /** Model name for messages. */
  name: string;
  replicas: number;
  maxConcurrency: number;
  maxQueue: number;
  /** Starts one worker thread that speaks worker-protocol.ts. */
  startWorker: () => Worker;
  /** Consecutive failed restarts after which a replica is given up; default 3. */
  maxRestartAttempts?: number;
}

/** What an inference sent to a worker resolves to. */
export type InferReply =
  { ok: true; outputs: WireTensor[] } | { ok: false; message: string; fault?: 'input' | undefined };

interface Job {
  inputs: WireTensor[];
  outputs: string[];
  transfer: boolean;
  resolve: (reply: InferReply) => void;
  reject: (error: Error) => void;
}

interface Replica {
  index: number;
  worker: Worker;
  ready: boolean;
  /** Gave up restarting it. */
  failed: boolean;
  running: Map<number, Job>;
}

function describeExit(code: number, error: Error | undefined): string {
  return error === undefined ? `exit code ${code}` : `${error.name}: ${error.message}`;
}

/**
 * A fixed set of worker threads ("replicas"), each holding one copy of a model, with a
 * per-replica concurrency limit and a bounded FIFO queue in front. A replica whose worker
 * stops unexpectedly fails the requests it was running (never leaves them hanging) and is
 * replaced by a fresh worker; the others keep serving meanwhile.
 */
export class ReplicaPool {
  readonly #options: Required<ReplicaPoolOptions>;
  readonly #replicas: Replica[] = [];
  readonly #queue: Job[] = [];
  #nextId = 1;
  #restarts = 0;
  #closed = false;

  private constructor(options: ReplicaPoolOptions) {
    this.#options = { maxRestartAttempts: 3, ...options };
  }

  /**
   * Starts every replica and waits until each has loaded the model.
   *
   * @returns the pool and the first replica's `ready` report (the model's metadata).
   * @throws InvalidParameterError with the runtime's message when a replica cannot load the
   *   model (every replica is stopped again).
   */
  static async start(
    options: ReplicaPoolOptions,
  ): Promise<{ pool: ReplicaPool; ready: ReadyMessage }> {
    const pool = new ReplicaPool(options);
    const starts = Array.from({ length: options.replicas }, (_, index) => pool.#spawn(index));
    const results = await Promise.allSettled(starts);
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure !== undefined) {
      await pool.close();
      throw failure.reason;
    }
    const first = results[0];
    if (first?.status !== 'fulfilled') throw new Error('a replica pool needs at least 1 replica');
    return { pool, ready: first.value };
  }

  /** Spawns the worker of replica `index` and resolves when it reports its model loaded. */
  #spawn(index: number): Promise<ReadyMessage> {
    const worker = this.#options.startWorker();
    const replica: Replica = { index, worker, ready: false, failed: false, running: new Map() };
    this.#replicas[index] = replica;
    return new Promise<ReadyMessage>((resolve, reject) => {
      let lastError: Error | undefined;
      worker.on('message', (reply: WorkerReply) => {
        switch (reply.type) {
          case 'ready':
            replica.ready = true;
            resolve(reply);
            this.#drain();
            return;
          case 'load-failed':
            reject(
              new InvalidParameterError(
                `Model '${this.#options.name}' could not be loaded: ${reply.message}`,
                { model: this.#options.name, replica: index },
              ),
            );
            void worker.terminate();
            return;
          case 'result':
          case 'failed': {
            const job = replica.running.get(reply.id);
            if (job === undefined) return;
            replica.running.delete(reply.id);
            job.resolve(
              reply.type === 'result'
                ? { ok: true, outputs: reply.outputs }
                : { ok: false, message: reply.message, fault: reply.fault },
            );
            this.#drain();
            return;
          }
        }
      });
      worker.on('error', (error) => {
        lastError = error;
      });
      worker.on('exit', (code) => {
        const wasReady = replica.ready;
        replica.ready = false;
        const reason = describeExit(code, lastError);
        if (!wasReady) {
          // Stopped while loading: the start (or restart) that spawned it reports the failure.
          reject(
            new InvalidParameterError(
              `Model '${this.#options.name}' could not be loaded: its worker stopped (${reason}).`,
              { model: this.#options.name, replica: index },
            ),
          );
          return;
        }
        this.#onWorkerExit(replica, reason);
      });
    });
  }

  #onWorkerExit(replica: Replica, reason: string): void {
    const running = [...replica.running.values()];
    replica.running.clear();
    if (this.#closed) return;
    for (const job of running) {
      job.reject(
        new YardError(
          'INTERNAL_ERROR',
          `Model '${this.#options.name}' replica ${replica.index} stopped unexpectedly ` +
            `(${reason}) while running this request; the replica is being replaced.`,
          { model: this.#options.name, replica: replica.index, reason },
        ),
      );
    }
    void this.#restart(replica.index, 1);
  }

  async #restart(index: number, attempt: number): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#spawn(index);
      this.#restarts += 1;
    } catch {
      const replica = this.#replicas[index];
      if (replica === undefined) return;
      if (attempt >= this.#options.maxRestartAttempts) {
        replica.failed = true;
        this.#failQueueIfNoReplicaLeft();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      await this.#restart(index, attempt + 1);
    }
  }

  #failQueueIfNoReplicaLeft(): void {
    if (this.#replicas.some((replica) => !replica.failed)) return;
    const queued = this.#queue.splice(0);
    for (const job of queued) {
      job.reject(
        new YardError(
          'TEMPORARILY_UNAVAILABLE',
          `Model '${this.#options.name}' has no working replica: every replica failed to restart.`,
          { model: this.#options.name },
        ),
      );
    }
  }

  /**
   * Runs one inference on the least busy ready replica, or queues it.
   *
   * @param transfer move the inputs' whole buffers to the worker instead of copying them.
   * @throws YardError `RESOURCE_EXHAUSTED` when the queue is full, `TEMPORARILY_UNAVAILABLE`
   *   after {@link close} or when no replica is left, `INTERNAL_ERROR` when the replica's
   *   worker stops while running it.
   */
  run(inputs: WireTensor[], outputs: string[], transfer: boolean): Promise<InferReply> {
    if (this.#closed) {
      return Promise.reject(
        new YardError('TEMPORARILY_UNAVAILABLE', `Model '${this.#options.name}' is closed.`, {
          model: this.#options.name,
        }),
      );
    }
    if (this.#replicas.every((replica) => replica.failed)) {
      return Promise.reject(
        new YardError(
          'TEMPORARILY_UNAVAILABLE',
          `Model '${this.#options.name}' has no working replica: every replica failed to restart.`,
          { model: this.#options.name },
        ),
      );
    }
    return new Promise<InferReply>((resolve, reject) => {
      const job: Job = { inputs, outputs, transfer, resolve, reject };
      if (this.#dispatch(job)) return;
      if (this.#queue.length >= this.#options.maxQueue) {
        reject(
          new YardError(
            'RESOURCE_EXHAUSTED',
            `Model '${this.#options.name}' is at capacity: ${this.#options.maxQueue} requests ` +
              'are already waiting. Retry later or add replicas.',
            { model: this.#options.name, maxQueue: this.#options.maxQueue },
          ),
        );
        return;
      }
      this.#queue.push(job);
    });
  }

  /** Sends `job` to the least busy ready replica with a free slot; false when there is none. */
  #dispatch(job: Job): boolean {
    let best: Replica | undefined;
    for (const replica of this.#replicas) {
      if (!replica.ready || replica.running.size >= this.#options.maxConcurrency) continue;
      if (best === undefined || replica.running.size < best.running.size) best = replica;
    }
    if (best === undefined) return false;
    const id = this.#nextId++;
    best.running.set(id, job);
    const message: InferMessage = { type: 'infer', id, inputs: job.inputs, outputs: job.outputs };
    try {
      best.worker.postMessage(message, job.transfer ? transferableBuffers(job.inputs) : []);
    } catch (error) {
      best.running.delete(id);
      job.reject(
        new InvalidParameterError(
          `The inputs of model '${this.#options.name}' cannot be sent to its worker: ` +
            (error as Error).message,
          { model: this.#options.name },
        ),
      );
    }
    return true;
  }

  #drain(): void {
    while (this.#queue.length > 0) {
      const job = this.#queue[0];
      if (job === undefined || !this.#dispatch(job)) return;
      this.#queue.shift();
    }
  }

  /** The replicas' current worker threads, by replica index (for diagnostics and tests). */
  workers(): Worker[] {
    return this.#replicas.map((replica) => replica.worker);
  }

  /** Replica, queue and restart counters. */
  status(): ModelRuntimeStatus {
    let inFlight = 0;
    for (const replica of this.#replicas) inFlight += replica.running.size;
    return {
      replicas: this.#options.replicas,
      readyReplicas: this.#replicas.filter((replica) => replica.ready).length,
      inFlight,
      queued: this.#queue.length,
      restarts: this.#restarts,
    };
  }

  /** Stops every worker; queued and running requests fail with `TEMPORARILY_UNAVAILABLE`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closedError = (): YardError =>
      new YardError(
        'TEMPORARILY_UNAVAILABLE',
        `Model '${this.#options.name}' was closed before this request finished.`,
        { model: this.#options.name },
      );
    for (const job of this.#queue.splice(0)) job.reject(closedError());
    for (const replica of this.#replicas) {
      for (const job of replica.running.values()) job.reject(closedError());
      replica.running.clear();
    }
    await Promise.all(this.#replicas.map((replica) => replica.worker.terminate()));
  }
}

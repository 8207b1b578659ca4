import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { siblingModule, startModuleWorker } from '@modelyard/core/module-worker';
import type { MetricSeriesSample } from '../metadata-store.js';
import type { SeriesSampleQuery } from './series-sample.js';

/** A request to a sampler worker. */
export interface SamplerRequest {
  id: number;
  query: SeriesSampleQuery;
}
/** A sampler worker's answer. */
export type SamplerReply =
  { id: number; sample: MetricSeriesSample } | { id: number; error: string };

const WORKER_MODULE = siblingModule(import.meta.url, 'sqlite-sampler-worker');

interface Slot {
  worker: Worker;
  busy: number;
}

/**
 * Worker threads that sample metric series from a SQLite file, each on its own read-only
 * connection: better-sqlite3 is synchronous, so on the store's one connection ten charts of
 * 100,000 points would each hold the event loop for tens of milliseconds, one after another;
 * here they run beside it, as many at once as there are workers (at most 2, one per core).
 * Workers start on first use and do not keep the process alive.
 */
export class SqliteSamplerPool {
  readonly #path: string;
  readonly #size: number;
  readonly #slots: Slot[] = [];
  readonly #pending = new Map<
    number,
    { resolve: (s: MetricSeriesSample) => void; reject: (e: Error) => void; slot: Slot }
  >();
  #nextId = 0;
  #closed = false;

  constructor(path: string, size = Math.min(2, availableParallelism())) {
    this.#path = path;
    this.#size = Math.max(1, size);
  }

  sample(query: SeriesSampleQuery): Promise<MetricSeriesSample> {
    if (this.#closed) return Promise.reject(new Error('The metadata store is closed.'));
    const slot = this.#slot();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, slot });
      slot.busy += 1;
      slot.worker.ref();
      slot.worker.postMessage({ id, query } satisfies SamplerRequest);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const slots = this.#slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  /** The least busy worker, starting one while there are fewer than `size`. */
  #slot(): Slot {
    const idle = this.#slots.find((s) => s.busy === 0);
    if (idle !== undefined) return idle;
    if (this.#slots.length < this.#size) return this.#start();
    return this.#slots.reduce((a, b) => (b.busy < a.busy ? b : a));
  }

  #start(): Slot {
    const worker = startModuleWorker(WORKER_MODULE, {
      workerData: { path: this.#path },
      name: 'sqlite-sampler',
    });
    const slot: Slot = { worker, busy: 0 };
    worker.unref();
    worker.on('message', (reply: SamplerReply) => {
      const waiting = this.#pending.get(reply.id);
      if (waiting === undefined) return;
      this.#pending.delete(reply.id);
      slot.busy -= 1;
      if (slot.busy === 0) worker.unref();
      if ('error' in reply) waiting.reject(new Error(reply.error));
      else waiting.resolve(reply.sample);
    });
    // A worker that dies fails what it was given; the next request starts another.
    const fail = (error: Error) => {
      const index = this.#slots.indexOf(slot);
      if (index >= 0) this.#slots.splice(index, 1);
      for (const [id, waiting] of this.#pending) {
        if (waiting.slot !== slot) continue;
        this.#pending.delete(id);
        waiting.reject(error);
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (!this.#closed) fail(new Error(`The SQLite sampler worker exited (code ${code}).`));
    });
    this.#slots.push(slot);
    return slot;
  }
}

// A worker thread that runs calls of `worker: true` steps (see threads.ts). It imports the same
// pipeline bundle as the thread that started it and runs each call with executeUnit, so inputs,
// retries, tracking and caching work as they do in the main thread; progress goes back by message.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { createClient } from '@modelyard/client';
import type { UnitTask } from './execute.js';
import { blobLoader, executeUnit, messageOf } from './execute.js';
import { importBundle } from './load.js';
import type { ThreadData, ThreadReply, ThreadRequest } from './threads.js';

const data = workerData as ThreadData;
const port = parentPort;
if (port === null) throw new Error('step-thread.js runs as a worker thread only');

const client = createClient({ baseUrl: data.baseUrl });
const pipeline = await importBundle(data.bundle, data.bundleDir);
const load = blobLoader(client, 32);
const controllers = new Map<number, AbortController>();
const reply = (message: ThreadReply) => {
  port.postMessage(message);
};

async function run(id: number, task: UnitTask, worker: string): Promise<void> {
  const controller = new AbortController();
  controllers.set(id, controller);
  try {
    const result = await executeUnit(client, pipeline, task, {
      load,
      cancel: controller.signal,
      worker: `${worker} thread ${String(threadId)}`,
      onEvent: (event) => {
        reply({ type: 'event', id, event });
      },
    });
    reply({ type: 'result', id, result });
  } catch (error) {
    reply({ type: 'error', id, message: messageOf(error) });
  } finally {
    controllers.delete(id);
  }
}

async function closeConnections(): Promise<void> {
  const dispatcher = (globalThis as Record<symbol, unknown>)[
    Symbol.for('undici.globalDispatcher.1')
  ] as { close?: () => Promise<void> } | undefined;
  await dispatcher?.close?.().catch(() => undefined);
}

port.on('message', (message: ThreadRequest) => {
  switch (message.type) {
    case 'cancel':
      controllers.get(message.id)?.abort();
      break;
    case 'run':
      void run(message.id, message.task, message.worker);
      break;
    case 'close':
      // Nothing more will come: close the thread's HTTP connections cleanly (fetch's global
      // dispatcher, shared under this well-known symbol), then end the thread (in a worker
      // thread, process.exit ends the thread only).
      void closeConnections().finally(() => {
        process.exit(0);
      });
      break;
  }
});
reply({ type: 'ready' });

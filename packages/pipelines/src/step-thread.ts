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

port.on('message', (message: ThreadRequest) => {
  if (message.type === 'cancel') controllers.get(message.id)?.abort();
  else void run(message.id, message.task, message.worker);
});
reply({ type: 'ready' });

// A worker thread of `SqliteSamplerPool`: samples metric series on its own read-only connection
// to the store's SQLite file (WAL: it reads the last committed state, beside the writer).
import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import type { SamplerReply, SamplerRequest } from './sqlite-sampler-pool.js';
import { sampleSqliteSeries } from './series-sample.js';

const port = parentPort;
if (port === null) throw new Error('sqlite-sampler-worker must run in a worker thread');
const { path } = workerData as { path: string };
const db = new BetterSqlite3(path, { readonly: true, fileMustExist: true, timeout: 10_000 });
port.on('message', (request: SamplerRequest) => {
  let reply: SamplerReply;
  try {
    reply = { id: request.id, sample: sampleSqliteSeries(db, request.query) };
  } catch (error) {
    reply = { id: request.id, error: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(reply);
});

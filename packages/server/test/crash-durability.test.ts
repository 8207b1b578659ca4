import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnServer, stopServer } from './support/spawn-server.js';

const API = '/api/2.0/mlflow';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'yard-crash-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function post(url: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}${API}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

describe('a server killed with SIGKILL', () => {
  it('loses none of the log-batch calls it acknowledged', async () => {
    const args = [
      '--backend-store-uri',
      `sqlite:///${join(dir, 'yard.db')}`,
      '--artifacts-destination',
      join(dir, 'a'),
    ];
    const first = await spawnServer(args);
    const exp = await post(first.url, '/experiments/create', { name: 'crash' });
    const run = await post(first.url, '/runs/create', { experiment_id: exp.experiment_id });
    const runId = (run.run as { info: { run_id: string } }).info.run_id;

    // Four writers stream batches of 50 points each; each batch covers its own step range.
    const acknowledged: number[] = [];
    let stop = false;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const batch = w * 1_000_000 + i;
        const metrics = Array.from({ length: 50 }, (_, j) => ({
          key: 'loss',
          value: j,
          timestamp: 1,
          step: batch * 50 + j,
        }));
        try {
          await post(first.url, '/runs/log-batch', { run_id: runId, metrics });
          acknowledged.push(batch);
        } catch {
          return; // the server died mid-request: this batch was never acknowledged
        }
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    while (acknowledged.length < 200) await new Promise((r) => setTimeout(r, 5));
    await stopServer(first, 'SIGKILL');
    stop = true;
    await Promise.all(writers);

    const second = await spawnServer(args);
    try {
      const res = await fetch(
        `${second.url}${API}/metrics/get-history?run_id=${runId}&metric_key=loss`,
      );
      const body = (await res.json()) as { metrics?: { step: number }[] };
      const steps = new Set((body.metrics ?? []).map((m) => m.step));
      const missing = acknowledged.filter((batch) => {
        for (let j = 0; j < 50; j++) if (!steps.has(batch * 50 + j)) return true;
        return false;
      });
      expect(acknowledged.length).toBeGreaterThanOrEqual(200);
      expect(missing).toEqual([]);
      // Batches are atomic: the history holds whole batches only.
      expect(steps.size % 50).toBe(0);
    } finally {
      await stopServer(second);
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@modelyard/client';
import type { RunningServer } from '@modelyard/server';
import { startIrisServer } from './test-support/iris-server.js';
import type { IrisServer } from './test-support/iris-server.js';
import { runYard as yard } from './test-support/run-yard.js';

describe('yard deployments against a real server', () => {
  let iris: IrisServer;
  let server: RunningServer;

  beforeAll(async () => {
    iris = await startIrisServer('yard-cli-deployments-');
    server = iris.server;
  });

  afterAll(async () => {
    await iris.close();
  });

  it('creates a deployment, waits until it is ready, and it answers inference', async () => {
    const created = await yard([
      '--server',
      server.url,
      'deployments',
      'create',
      'iris',
      '--model',
      'models:/iris@champion',
      '--wait',
    ]);
    expect(created.error).toBeUndefined();
    expect(created.err).toMatch(/Loading models:\/iris@champion -> iris\/1 into 'iris'.* ready/);
    expect(created.out).toContain('ready');
    const infer = await fetch(`${server.url}/v2/models/iris/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          { name: 'float_input', datatype: 'FP32', shape: [1, 20], data: Array(20).fill(0) },
        ],
      }),
    });
    expect(infer.status).toBe(200);
  });

  it('lists and gets deployments as tables and JSON', async () => {
    const list = await yard(['--server', server.url, 'deployments', 'list']);
    expect(list.error).toBeUndefined();
    expect(list.out).toContain('iris');
    expect(list.out).toContain('models:/iris@champion -> iris/1');
    const get = await yard(['--server', server.url, 'deployments', 'get', 'iris', '--json']);
    const parsed = JSON.parse(get.out) as { name: string; status: string };
    expect(parsed).toMatchObject({ name: 'iris', status: 'ready' });
  });

  it('reports a bad model URI and an unknown deployment as errors', async () => {
    const bad = await yard([
      '--server',
      server.url,
      'deployments',
      'create',
      'other',
      '--model',
      'iris',
    ]);
    expect(bad.error?.message).toMatch(/Invalid model URI 'iris'/);
    const missing = await yard(['--server', server.url, 'deployments', 'get', 'nope']);
    expect(missing.error?.message).toMatch(/nope/);
  });

  it('creates a deployment with dynamic batching and refuses a latency without a size', async () => {
    const created = await yard([
      '--server',
      server.url,
      'deployments',
      'create',
      'iris-batched',
      '--model',
      'models:/iris/1',
      '--max-batch-size',
      '16',
      '--max-latency-ms',
      '3',
      '--wait',
      '--json',
    ]);
    expect(created.error).toBeUndefined();
    const parsed = JSON.parse(created.out) as {
      status: string;
      statusReason: string;
      variants: { batching: unknown }[];
    };
    expect(parsed.status).toBe('ready');
    expect(parsed.variants[0]?.batching).toEqual({ maxBatchSize: 16, maxLatencyMs: 3 });
    expect(parsed.statusReason).toContain('Dynamic batching');
    const lonely = await yard([
      '--server',
      server.url,
      'deployments',
      'create',
      'iris-latency',
      '--model',
      'models:/iris/1',
      '--max-latency-ms',
      '3',
    ]);
    expect(lonely.error?.message).toMatch(/--max-latency-ms needs --max-batch-size/);
    expect(
      (await yard(['--server', server.url, 'deployments', 'delete', 'iris-batched'])).error,
    ).toBeUndefined();
  });

  it('shows one deployment with its variants, and updates its description and sizing', async () => {
    const get = await yard(['--server', server.url, 'deployments', 'get', 'iris']);
    expect(get.error).toBeUndefined();
    expect(get.out).toContain('Deployment: iris');
    expect(get.out).toMatch(/v1 +│ primary +│ 100% +│ ready +│ models:\/iris@champion -> iris\/1/);
    expect(get.out).not.toContain('Rollout:');
    const described = await yard([
      '--server',
      server.url,
      'deployments',
      'update',
      'iris',
      '--description',
      'iris classifier',
      '--max-batch-size',
      '8',
      '--reason',
      'batch the nightly scoring',
      '--json',
    ]);
    expect(described.error).toBeUndefined();
    const parsed = JSON.parse(described.out) as {
      description: string;
      variants: { batching: unknown }[];
    };
    expect(parsed.description).toBe('iris classifier');
    expect(parsed.variants[0]?.batching).toEqual({ maxBatchSize: 8, maxLatencyMs: 5 });
    const unbatched = await yard([
      '--server',
      server.url,
      'deployments',
      'update',
      'iris',
      '--no-batching',
    ]);
    expect(unbatched.error).toBeUndefined();
    expect(unbatched.out).toContain('About:      iris classifier');
    expect(unbatched.out).toMatch(/v1 +│ primary +│ 100% .*│ off +│/);
    const events = await createClient({ baseUrl: server.url }).deployments.events('iris');
    expect(events.events.filter((e) => e.action === 'updated').map((e) => e.reason)).toEqual([
      'batch the nightly scoring',
      '',
    ]);
    // `yard deployments events`: newest first, paged, the next page's command printed.
    const newest = await yard([
      '--server',
      server.url,
      'deployments',
      'events',
      'iris',
      '--max-results',
      '2',
    ]);
    expect(newest.error).toBeUndefined();
    const last = events.events.at(-1);
    expect(newest.out).toMatch(new RegExp(`│ ${String(last?.sequence)} +│ .*│ updated +│`));
    expect(newest.out).toMatch(
      /More events: yard deployments events iris --max-results 2 --page-token \S+/,
    );
    const oldest = await yard([
      '--server',
      server.url,
      'deployments',
      'events',
      'iris',
      '--oldest-first',
      '--max-results',
      '1000',
      '--json',
    ]);
    expect(oldest.error).toBeUndefined();
    const page = JSON.parse(oldest.out) as { events: { sequence: number }[] };
    expect(page.events.map((e) => e.sequence)).toEqual(events.events.map((e) => e.sequence));
    const unknown = await yard(['--server', server.url, 'deployments', 'events', 'ghost']);
    expect(unknown.error?.message).toMatch(/ghost/);
  });

  it('refuses an empty or contradictory update, and one of an unknown deployment', async () => {
    const empty = await yard(['--server', server.url, 'deployments', 'update', 'iris']);
    expect(empty.error?.message).toMatch(/Nothing to update: give --description, --replicas/);
    const both = await yard([
      '--server',
      server.url,
      'deployments',
      'update',
      'iris',
      '--no-batching',
      '--max-batch-size',
      '8',
    ]);
    expect(both.error?.message).toMatch(/--no-batching turns batching off/);
    const replicas = await yard([
      '--server',
      server.url,
      'deployments',
      'update',
      'iris',
      '--replicas',
      'two',
    ]);
    expect(replicas.error?.message).toMatch(/'--replicas <n>' argument 'two' is invalid/);
    const missing = await yard([
      '--server',
      server.url,
      'deployments',
      'update',
      'nope',
      '--replicas',
      '2',
    ]);
    expect(missing.error?.message).toMatch(/nope/);
  });

  it('deletes a deployment', async () => {
    const deleted = await yard(['--server', server.url, 'deployments', 'delete', 'iris']);
    expect(deleted.error).toBeUndefined();
    expect(deleted.out).toContain("Deleted deployment 'iris'");
    const list = await yard(['--server', server.url, 'deployments', 'list']);
    expect(list.out).toContain('No deployments found.');
  });
});

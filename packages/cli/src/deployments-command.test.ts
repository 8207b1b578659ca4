import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@modelyard/client';
import { DEFAULT_CONFIG, startServer } from '@modelyard/server';
import type { RunningServer } from '@modelyard/server';
import { buildProgram } from './program.js';

const FIXTURE = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../server/test/fixtures/iris-like-onnx',
);

/** Runs `yard <args>` in-process and returns what it printed, or the error it ended with. */
async function yard(args: string[]): Promise<{ out: string; err: string; error?: Error }> {
  let out = '';
  let err = '';
  const program = buildProgram({
    out: (text) => {
      out += text;
    },
    err: (text) => {
      err += text;
    },
  });
  const noExit = (command: Command): void => {
    command.exitOverride();
    command.commands.forEach(noExit);
  };
  noExit(program);
  try {
    await program.parseAsync(args, { from: 'user' });
    return { out, err };
  } catch (error) {
    return { out, err, error: error as Error };
  }
}

describe('yard deployments against a real server', () => {
  let dir: string;
  let server: RunningServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'yard-cli-deployments-'));
    server = await startServer({
      ...DEFAULT_CONFIG,
      port: 0,
      backendStoreUri: `sqlite:///${join(dir, 'yard.db')}`,
      artifactsDestination: join(dir, 'artifacts'),
      logLevel: 'silent',
    });
    const client = createClient({ baseUrl: server.url });
    const experiment = await client.experiments.create({ name: 'iris' });
    const run = await client.runs.create({ experimentId: experiment.experimentId });
    const base = run.info.artifactUri.replace(/^mlflow-artifacts:\/*/, '');
    // Upload through the server's artifact proxy, as MLflow's client does.
    for (const file of await readdir(FIXTURE)) {
      const res = await fetch(
        `${server.url}/api/2.0/mlflow-artifacts/artifacts/${base}/model/${file}`,
        { method: 'PUT', body: await readFile(join(FIXTURE, file)) },
      );
      expect(res.status).toBe(200);
    }
    await client.registeredModels.create({ name: 'iris' });
    await client.modelVersions.create('iris', { source: `runs:/${run.info.runId}/model` });
    await client.registeredModels.setAlias('iris', 'champion', 1);
  });

  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
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

  it('deletes a deployment', async () => {
    const deleted = await yard(['--server', server.url, 'deployments', 'delete', 'iris']);
    expect(deleted.error).toBeUndefined();
    expect(deleted.out).toContain("Deleted deployment 'iris'");
    const list = await yard(['--server', server.url, 'deployments', 'list']);
    expect(list.out).toContain('No deployments found.');
  });
});

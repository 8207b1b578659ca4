import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@modelyard/client';
import type { YardClient } from '@modelyard/client';
import { DEFAULT_CONFIG, startServer } from '@modelyard/server';
import type { RunningServer } from '@modelyard/server';
import { buildProgram } from './program.js';
import { runYard as yard } from './test-support/run-yard.js';

function findCommand(program: Command, path: string[]): Command {
  let current = program;
  for (const name of path) {
    const next = current.commands.find((c) => c.name() === name);
    if (next === undefined) throw new Error(`no command ${path.join(' ')}`);
    current = next;
  }
  return current;
}

describe('yard experiments / runs / models against a real server', () => {
  let dir: string;
  let server: RunningServer;
  let client: YardClient;
  const runIds: Record<string, string> = {};

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'yard-cli-'));
    server = await startServer({
      ...DEFAULT_CONFIG,
      port: 0,
      backendStoreUri: `sqlite:///${join(dir, 'yard.db')}`,
      artifactsDestination: join(dir, 'artifacts'),
      logLevel: 'silent',
    });
    client = createClient({ baseUrl: server.url });
    const churn = await client.experiments.create({ name: 'churn' });
    const pricing = await client.experiments.create({ name: 'pricing' });
    const old = await client.experiments.create({ name: 'old-stuff' });
    await client.experiments.delete(old.experimentId);
    const seed = [
      { exp: churn.experimentId, name: 'tree-a', model: 'tree', rmse: 0.31, depth: '4' },
      { exp: churn.experimentId, name: 'tree-b', model: 'tree', rmse: 0.62, depth: '8' },
      { exp: churn.experimentId, name: 'linear', model: 'linear', rmse: 0.45, depth: '0' },
      { exp: pricing.experimentId, name: 'gbm', model: 'gbm', rmse: 0.12, depth: '6' },
    ];
    for (const s of seed) {
      const run = await client.runs.create({ experimentId: s.exp, runName: s.name });
      runIds[s.name] = run.info.runId;
      await client.runs.logBatch(run.info.runId, {
        params: [
          { key: 'model', value: s.model },
          { key: 'depth', value: s.depth },
        ],
        metrics: [
          { key: 'rmse', value: s.rmse },
          { key: 'mae', value: s.rmse / 2 },
        ],
      });
    }
    await client.registeredModels.create({ name: 'churn-clf', description: 'predicts churn' });
    await client.modelVersions.create('churn-clf', { source: `runs:/${runIds['tree-a']}/model` });
    await client.registeredModels.setAlias('churn-clf', 'champion', 1);
    await client.registeredModels.create({ name: 'pricer' });
  });

  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists active experiments as a table', async () => {
    const { out, error } = await yard(['--server', server.url, 'experiments', 'list']);
    expect(error).toBeUndefined();
    expect(out).toContain('Name');
    expect(out).toContain('churn');
    expect(out).toContain('pricing');
    expect(out).not.toContain('old-stuff');
  });

  it('lists deleted experiments with --view deleted, as JSON with --json', async () => {
    const { out, error } = await yard([
      '--server',
      server.url,
      'experiments',
      'list',
      '--view',
      'deleted',
      '--json',
    ]);
    expect(error).toBeUndefined();
    const parsed = JSON.parse(out) as { name: string; lifecycleStage: string }[];
    expect(parsed.map((e) => [e.name, e.lifecycleStage])).toEqual([['old-stuff', 'deleted']]);
  });

  it('filters experiments by name', async () => {
    const { out } = await yard([
      '--server',
      server.url,
      'experiments',
      'list',
      '--filter',
      "name LIKE 'pri%'",
      '--json',
    ]);
    expect((JSON.parse(out) as { name: string }[]).map((e) => e.name)).toEqual(['pricing']);
  });

  it('searches runs with a filter and order, showing the named params and metrics', async () => {
    const { out, error } = await yard([
      '--server',
      server.url,
      'runs',
      'search',
      '--experiment',
      'churn',
      '--filter',
      "params.model = 'tree'",
      '--order-by',
      'metrics.rmse DESC',
    ]);
    expect(error).toBeUndefined();
    const lines = out.split('\n');
    const header = lines.find((l) => l.includes('Run ID')) ?? '';
    expect(header).toContain('params.model');
    expect(header).toContain('metrics.rmse');
    expect(header).not.toContain('metrics.mae');
    const b = out.indexOf('tree-b');
    const a = out.indexOf('tree-a');
    expect(b).toBeGreaterThan(0);
    expect(a).toBeGreaterThan(b);
    expect(out).not.toContain('linear');
    expect(out).toContain(runIds['tree-a']!.slice(0, 8));
    expect(out).not.toContain(runIds['tree-a']!);
    expect(out).toContain('0.62');
  });

  it('shows the first params and metrics when the search names none', async () => {
    const { out } = await yard(['--server', server.url, 'runs', 'search', '--experiment', 'churn']);
    expect(out).toContain('params.depth');
    expect(out).toContain('params.model');
    expect(out).toContain('metrics.mae');
    expect(out).toContain('metrics.rmse');
    for (const name of ['tree-a', 'tree-b', 'linear']) expect(out).toContain(name);
  });

  it('searches runs of several experiments given as a comma list, as JSON, up to --max', async () => {
    const { out, err, error } = await yard([
      '--server',
      server.url,
      'runs',
      'search',
      '--experiment',
      'churn,pricing',
      '--order-by',
      'metrics.rmse ASC',
      '--max',
      '3',
      '--json',
    ]);
    expect(error).toBeUndefined();
    expect(err).toBe('');
    const runs = JSON.parse(out) as { info: { runName: string } }[];
    expect(runs.map((r) => r.info.runName)).toEqual(['gbm', 'tree-a', 'linear']);
  });

  it('says how many runs it left out when --max cuts the table', async () => {
    const { out, err } = await yard([
      '--server',
      server.url,
      'runs',
      'search',
      '--experiment',
      'churn,pricing',
      '--max',
      '2',
    ]);
    expect(out).toContain('Experiment');
    expect(err).toContain('raise --max');
  });

  it('names unknown experiments and says how to list the existing ones', async () => {
    const { error } = await yard([
      '--server',
      server.url,
      'runs',
      'search',
      '--experiment',
      'churn,nope,nada',
    ]);
    expect(error?.message).toContain("No experiment named 'nope', 'nada'");
    expect(error?.message).toContain('yard experiments list');
  });

  it("passes the server's refusal of a bad filter on", async () => {
    const { error } = await yard([
      '--server',
      server.url,
      'runs',
      'search',
      '--experiment',
      'churn',
      '--filter',
      'metrics.rmse <<< 1',
    ]);
    expect(error?.name).toBe('YardClientError');
    expect(error?.message).toBeTruthy();
  });

  it('lists registered models with their versions and aliases', async () => {
    const { out, error } = await yard(['--server', server.url, 'models', 'list']);
    expect(error).toBeUndefined();
    expect(out).toContain('churn-clf');
    expect(out).toContain('v1 (None)');
    expect(out).toContain('champion -> v1');
    expect(out).toContain('pricer');
  });

  it('lists registered models matching a filter as JSON', async () => {
    const { out } = await yard([
      '--server',
      server.url,
      'models',
      'list',
      '--filter',
      "name = 'pricer'",
      '--json',
    ]);
    expect((JSON.parse(out) as { name: string }[]).map((m) => m.name)).toEqual(['pricer']);
  });

  it('takes the server URL from MODELYARD_SERVER_URL when --server is absent', async () => {
    const saved = process.env.MODELYARD_SERVER_URL;
    process.env.MODELYARD_SERVER_URL = server.url;
    try {
      const { out, error } = await yard(['models', 'list', '--json']);
      expect(error).toBeUndefined();
      expect((JSON.parse(out) as unknown[]).length).toBe(2);
    } finally {
      if (saved === undefined) delete process.env.MODELYARD_SERVER_URL;
      else process.env.MODELYARD_SERVER_URL = saved;
    }
  });
});

describe('yard without a server', () => {
  it('fails with one line naming the URL and how to start a server', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'yard-cli-down-'));
    const server = await startServer({
      ...DEFAULT_CONFIG,
      port: 0,
      backendStoreUri: `sqlite:///${join(dir, 'yard.db')}`,
      artifactsDestination: join(dir, 'artifacts'),
      logLevel: 'silent',
    });
    const url = server.url;
    await server.close();
    await rm(dir, { recursive: true, force: true });
    const { error } = await yard(['--server', url, 'experiments', 'list']);
    expect(error?.message).toContain(url);
    expect(error?.message).toContain('yard server');
    expect(error?.message).toContain('npm start');
    expect(error?.message).not.toContain('\n');
  });

  it('refuses a --server value that is not an http URL', async () => {
    const { error } = await yard(['--server', 'localhost:5000', 'models', 'list']);
    expect(error?.message).toContain("got 'localhost:5000'");
  });
});

describe('yard --help', () => {
  it('shows examples on every command', async () => {
    const program = buildProgram();
    const commands: string[][] = [
      [],
      ['server'],
      ['experiments'],
      ['experiments', 'list'],
      ['runs'],
      ['runs', 'search'],
      ['models'],
      ['models', 'list'],
    ];
    for (const path of commands) {
      const { out } = await yard([...path, '--help']);
      expect(out, `yard ${path.join(' ')} --help`).toContain('Usage: yard');
      expect(out, `yard ${path.join(' ')} --help`).toContain('Examples:');
      expect(findCommand(program, path).name()).toBe(path.at(-1) ?? 'yard');
    }
  });

  it('documents the global --server option and its environment variable', async () => {
    const { out } = await yard(['--help']);
    expect(out).toContain('--server <url>');
    expect(out).toContain('MODELYARD_SERVER_URL');
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArtifactStore, createMetadataStore } from '@modelyard/store';
import { buildApp } from '@modelyard/server';
import { YardClientError, YardConnectionError, collect, createClient } from '@modelyard/client';
import type { YardClient } from '@modelyard/client';

/** A real server on a free port; `routes` lists every route the app registered, as `METHOD url`. */
async function startServer() {
  const dir = await mkdtemp(join(tmpdir(), 'yard-native-v1-'));
  const metadataStore = await createMetadataStore(`sqlite:///${join(dir, 't.db')}`, {
    defaultArtifactRoot: 'mlflow-artifacts:',
  });
  await metadataStore.migrate();
  const artifactStore = createArtifactStore(join(dir, 'artifacts'));
  const app = buildApp({ metadataStore, artifactStore, bodyLimit: 1024 * 1024, logLevel: false });
  const routes: string[] = [];
  // The native routes load when the app gets ready, after this hook is in place.
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') routes.push(`${method} ${route.url}`);
    }
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    routes,
    async close() {
      await app.close();
      await Promise.all([metadataStore.close(), artifactStore.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

type Server = Awaited<ReturnType<typeof startServer>>;

async function failure(promise: Promise<unknown>): Promise<YardClientError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof YardClientError) return error;
    throw error;
  }
  throw new Error('expected the request to fail');
}

async function raw(server: Server, method: string, path: string, body?: unknown) {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers = { 'content-type': 'application/json' };
  }
  const res = await fetch(`${server.url}${path}`, init);
  const text = await res.text();
  return {
    status: res.status,
    body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>,
  };
}

describe('native API /api/v1 over HTTP', () => {
  let server: Server;
  let yard: YardClient;

  beforeAll(async () => {
    server = await startServer();
    yard = createClient({ baseUrl: server.url });
  });
  afterAll(async () => {
    await server.close();
  });

  it('answers health with the version', async () => {
    const health = await yard.health();
    expect(health.status).toBe('ok');
    expect(health.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('serves an OpenAPI 3 document listing every /api/v1 route and no MLflow route', async () => {
    const res = await fetch(`${server.url}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = JSON.parse(await res.text()) as {
      openapi: string;
      paths: Record<string, Record<string, { operationId?: string }>>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    const v1Routes = server.routes.filter((r) => r.split(' ')[1]?.startsWith('/api/v1/'));
    expect(v1Routes.length).toBeGreaterThan(35);
    expect(documented.sort()).toEqual([...new Set(v1Routes)].sort());
    expect(Object.keys(doc.paths).every((p) => p.startsWith('/api/v1/'))).toBe(true);
    const operationIds = Object.values(doc.paths).flatMap((ops) =>
      Object.values(ops).map((op) => op.operationId),
    );
    expect(new Set(operationIds).size).toBe(documented.length);
  });

  it('creates, reads, renames, tags, deletes and restores an experiment', async () => {
    const created = await yard.experiments.create({
      name: 'team/churn model',
      tags: [{ key: 'owner', value: 'ana' }],
    });
    expect(created.name).toBe('team/churn model');
    expect(created.lifecycleStage).toBe('active');
    expect(created.tags).toEqual([{ key: 'owner', value: 'ana' }]);
    expect(created.artifactLocation).toContain(created.experimentId);

    expect(await yard.experiments.get(created.experimentId)).toEqual(created);
    expect((await yard.experiments.getByName('team/churn model')).experimentId).toBe(
      created.experimentId,
    );

    const renamed = await yard.experiments.rename(created.experimentId, 'churn');
    expect(renamed.name).toBe('churn');
    await yard.experiments.setTag(created.experimentId, 'stage/phase', 'dev');
    await yard.experiments.deleteTag(created.experimentId, 'owner');
    expect((await yard.experiments.get(created.experimentId)).tags).toEqual([
      { key: 'stage/phase', value: 'dev' },
    ]);

    await yard.experiments.delete(created.experimentId);
    expect((await yard.experiments.get(created.experimentId)).lifecycleStage).toBe('deleted');
    const active = await collect(yard.experiments.searchAll({ filter: "name = 'churn'" }));
    expect(active).toEqual([]);
    const deleted = await collect(
      yard.experiments.searchAll({ filter: "name = 'churn'", viewType: 'DELETED_ONLY' }),
    );
    expect(deleted.map((e) => e.experimentId)).toEqual([created.experimentId]);
    const restored = await yard.experiments.restore(created.experimentId);
    expect(restored.lifecycleStage).toBe('active');
  });

  it('refuses a duplicate experiment name with RESOURCE_ALREADY_EXISTS', async () => {
    await yard.experiments.create({ name: 'dup' });
    const error = await failure(yard.experiments.create({ name: 'dup' }));
    expect(error.code).toBe('RESOURCE_ALREADY_EXISTS');
    expect(error.status).toBe(400);
    expect(error.message).toContain("'dup'");
    expect(error.requestId).toMatch(/[0-9a-f-]{36}/);
  });

  it('pages through experiments with page tokens', async () => {
    for (let i = 0; i < 5; i++) await yard.experiments.create({ name: `paged-${i}` });
    const first = await yard.experiments.search({
      filter: "name LIKE 'paged-%'",
      orderBy: 'name ASC',
      maxResults: 2,
    });
    expect(first.experiments.map((e) => e.name)).toEqual(['paged-0', 'paged-1']);
    expect(first.nextPageToken).toBeTypeOf('string');
    const all = await collect(
      yard.experiments.searchAll({
        filter: "name LIKE 'paged-%'",
        orderBy: 'name DESC',
        maxResults: 2,
      }),
    );
    expect(all.map((e) => e.name)).toEqual(['paged-4', 'paged-3', 'paged-2', 'paged-1', 'paged-0']);
  });

  it('logs a batch to a run and reads it back, non-finite values included', async () => {
    const { experimentId } = await yard.experiments.create({ name: 'batch' });
    const run = await yard.runs.create({ experimentId, runName: 'first', startTime: 1000 });
    expect(run.info.runName).toBe('first');
    expect(run.info.status).toBe('RUNNING');
    expect(run.info.startTime).toBe(1000);
    const runId = run.info.runId;

    await yard.runs.logBatch(runId, {
      params: [{ key: 'lr', value: '0.1' }],
      tags: [{ key: 'team', value: 'ml' }],
      metrics: [
        { key: 'rmse', value: 0.5, timestamp: 10, step: 0 },
        { key: 'rmse', value: 0.25, timestamp: 20, step: 1 },
        { key: 'weird', value: NaN, timestamp: 10 },
        { key: 'big', value: -Infinity, timestamp: 10 },
      ],
    });
    const got = await yard.runs.get(runId);
    expect(got.data.params).toEqual([{ key: 'lr', value: '0.1' }]);
    expect(got.data.tags).toContainEqual({ key: 'team', value: 'ml' });
    const metric = (key: string) => got.data.metrics.find((m) => m.key === key)?.value;
    expect(metric('rmse')).toBe(0.25);
    expect(metric('weird')).toBeNaN();
    expect(metric('big')).toBe(-Infinity);

    const history = await collect(yard.runs.metricHistoryAll(runId, 'rmse', { maxResults: 1 }));
    expect(history.map((m) => [m.step, m.value])).toEqual([
      [0, 0.5],
      [1, 0.25],
    ]);

    const finished = await yard.runs.update(runId, { status: 'FINISHED', endTime: 2000 });
    expect(finished.info.status).toBe('FINISHED');
    expect(finished.info.endTime).toBe(2000);

    await yard.runs.deleteTag(runId, 'team');
    expect((await yard.runs.get(runId)).data.tags.some((t) => t.key === 'team')).toBe(false);

    await yard.runs.delete(runId);
    expect((await yard.runs.get(runId)).info.lifecycleStage).toBe('deleted');
    expect((await yard.runs.restore(runId)).info.lifecycleStage).toBe('active');
  });

  it('rejects a changed param value and changes nothing of the batch', async () => {
    const { experimentId } = await yard.experiments.create({ name: 'immutable' });
    const run = await yard.runs.create({ experimentId });
    await yard.runs.logBatch(run.info.runId, { params: [{ key: 'lr', value: '0.1' }] });
    const error = await failure(
      yard.runs.logBatch(run.info.runId, {
        params: [{ key: 'lr', value: '0.2' }],
        metrics: [{ key: 'm', value: 1 }],
      }),
    );
    expect(error.code).toBe('INVALID_PARAMETER_VALUE');
    expect((await yard.runs.get(run.info.runId)).data.metrics).toEqual([]);
  });

  it('searches runs with a filter, an order and pages, by GET and by POST', async () => {
    const a = await yard.experiments.create({ name: 'search-a' });
    const b = await yard.experiments.create({ name: 'search-b' });
    const rmse = [0.9, 0.1, 0.5, 0.3, 0.7];
    for (const [i, value] of rmse.entries()) {
      const experimentId = i % 2 === 0 ? a.experimentId : b.experimentId;
      const run = await yard.runs.create({ experimentId, runName: `r${i}` });
      await yard.runs.logBatch(run.info.runId, {
        metrics: [{ key: 'rmse', value }],
        params: [{ key: 'model', value: i < 3 ? 'tree' : 'linear' }],
      });
    }
    const experimentIds = [a.experimentId, b.experimentId];
    const ordered = await collect(
      yard.runs.searchAll({
        experimentIds,
        filter: 'metrics.rmse < 0.8',
        orderBy: ['metrics.rmse DESC'],
        maxResults: 2,
      }),
    );
    expect(ordered.map((r) => r.info.runName)).toEqual(['r4', 'r2', 'r3', 'r1']);

    const page = await yard.runs.search({
      experimentIds,
      filter: "params.model = 'tree'",
      maxResults: 2,
    });
    expect(page.runs).toHaveLength(2);
    expect(page.nextPageToken).toBeTypeOf('string');

    const qs = new URLSearchParams({
      experimentIds: `${a.experimentId},${b.experimentId}`,
      filter: "params.model = 'linear'",
      orderBy: 'metrics.rmse ASC',
    });
    const viaGet = await raw(server, 'GET', `/api/v1/runs?${qs.toString()}`);
    expect(viaGet.status).toBe(200);
    const names = (viaGet.body.runs as { info: { runName: string } }[]).map((r) => r.info.runName);
    expect(names).toEqual(['r3', 'r4']);
  });

  it('manages registered models, versions, aliases and stages', async () => {
    const { experimentId } = await yard.experiments.create({ name: 'registry' });
    const run = await yard.runs.create({ experimentId });
    const model = await yard.registeredModels.create({
      name: 'churn-clf',
      description: 'first',
      tags: [{ key: 'team', value: 'ml' }],
    });
    expect(model.name).toBe('churn-clf');
    expect(model.tags).toEqual([{ key: 'team', value: 'ml' }]);

    const v1 = await yard.modelVersions.create('churn-clf', {
      source: `runs:/${run.info.runId}/model`,
      runId: run.info.runId,
    });
    const v2 = await yard.modelVersions.create('churn-clf', { source: 's3://bucket/model' });
    expect([v1.version, v2.version]).toEqual(['1', '2']);
    expect(v1.runId).toBe(run.info.runId);

    const champion = await yard.registeredModels.setAlias('churn-clf', 'champion', 1);
    expect(champion.version).toBe('1');
    expect((await yard.registeredModels.getByAlias('churn-clf', 'champion')).version).toBe('1');
    expect((await yard.registeredModels.get('churn-clf')).aliases).toEqual([
      { alias: 'champion', version: '1' },
    ]);

    const staged = await yard.modelVersions.transitionStage('churn-clf', 2, 'production');
    expect(staged.currentStage).toBe('Production');
    const described = await yard.modelVersions.update('churn-clf', 2, { description: 'better' });
    expect(described.description).toBe('better');
    await yard.modelVersions.setTag('churn-clf', 2, 'validated', 'yes');
    expect((await yard.modelVersions.get('churn-clf', '2')).tags).toEqual([
      { key: 'validated', value: 'yes' },
    ]);

    const versions = await collect(
      yard.modelVersions.searchAll({ filter: "name = 'churn-clf'", maxResults: 1 }),
    );
    expect(versions.map((v) => v.version).sort()).toEqual(['1', '2']);

    const renamed = await yard.registeredModels.update('churn-clf', {
      name: 'churn-classifier',
      description: 'renamed',
    });
    expect(renamed.name).toBe('churn-classifier');
    expect(renamed.description).toBe('renamed');
    const found = await yard.registeredModels.search({ filter: "name LIKE 'churn%'" });
    expect(found.registeredModels.map((m) => m.name)).toEqual(['churn-classifier']);

    await yard.registeredModels.deleteAlias('churn-classifier', 'champion');
    expect(
      (await failure(yard.registeredModels.getByAlias('churn-classifier', 'champion'))).status,
    ).toBe(404);
    await yard.modelVersions.delete('churn-classifier', 1);
    expect((await failure(yard.modelVersions.get('churn-classifier', 1))).code).toBe(
      'RESOURCE_DOES_NOT_EXIST',
    );
    await yard.registeredModels.delete('churn-classifier');
    const gone = await failure(yard.registeredModels.get('churn-classifier'));
    expect(gone.code).toBe('RESOURCE_DOES_NOT_EXIST');
    expect(gone.status).toBe(404);
  });

  it('answers 404 RESOURCE_DOES_NOT_EXIST for a missing experiment, run and model', async () => {
    for (const request of [
      yard.experiments.get('987654'),
      yard.experiments.getByName('no such experiment'),
      yard.runs.get('0123456789abcdef0123456789abcdef'),
      yard.registeredModels.get('no-such-model'),
    ]) {
      const error = await failure(request);
      expect(error.status).toBe(404);
      expect(error.code).toBe('RESOURCE_DOES_NOT_EXIST');
    }
  });

  it('answers 404 ENDPOINT_NOT_FOUND for an unknown /api/v1 path', async () => {
    const res = await raw(server, 'GET', '/api/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body.error_code).toBe('ENDPOINT_NOT_FOUND');
  });

  it('reports a query parameter of the wrong type with the field and the value', async () => {
    const res = await raw(server, 'GET', '/api/v1/experiments?maxResults=lots');
    expect(res.status).toBe(400);
    expect(res.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect(res.body.message).toContain("'maxResults'");
    expect(res.body.message).toContain('"lots"');
    expect(res.body.message).toContain('query string');
    expect(res.body.request_id).toBeTypeOf('string');
  });

  it('reports a value outside an enumeration with the allowed values', async () => {
    const res = await raw(server, 'GET', '/api/v1/experiments?viewType=SOME');
    expect(res.status).toBe(400);
    expect(res.body.message).toBe(
      'Invalid value "SOME" for \'viewType\' in the query string: must be one of ACTIVE_ONLY, DELETED_ONLY, ALL.',
    );
  });

  it('reports a missing required body field by name', async () => {
    const res = await raw(server, 'POST', '/api/v1/experiments', { artifactLocation: '/x' });
    expect(res.status).toBe(400);
    expect(res.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect(res.body.message).toBe("Missing required field 'name' in the request body.");
    const empty = await fetch(`${server.url}/api/v1/runs`, { method: 'POST' });
    expect(empty.status).toBe(400);
    const body = JSON.parse(await empty.text()) as { message: string };
    expect(body.message).toBe('The request body is missing: must be an object.');
  });

  it('reports a nested body field with its path and value', async () => {
    const { experimentId } = await yard.experiments.create({ name: 'bad-metric' });
    const run = await yard.runs.create({ experimentId });
    const res = await raw(server, 'POST', `/api/v1/runs/${run.info.runId}/log-batch`, {
      metrics: [
        { key: 'ok', value: 1 },
        { key: 'rmse', value: 'high' },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect(res.body.message).toContain("'metrics[1].value'");
    expect(res.body.message).toContain('"high"');
    expect((await yard.runs.get(run.info.runId)).data.metrics).toEqual([]);
  });

  it('reports an invalid run status with the allowed statuses', async () => {
    const { experimentId } = await yard.experiments.create({ name: 'bad-status' });
    const run = await yard.runs.create({ experimentId });
    const error = await failure(
      yard.runs.update(run.info.runId, { status: 'DONE' as unknown as 'FINISHED' }),
    );
    expect(error.code).toBe('INVALID_PARAMETER_VALUE');
    expect(error.message).toContain("'status'");
    expect(error.message).toContain('"DONE"');
    expect(error.message).toContain('FINISHED');
  });

  it('passes filter syntax errors from the search grammar through as 400s', async () => {
    const error = await failure(
      yard.runs.search({ experimentIds: ['0'], filter: 'metrics.rmse <<< 1' }),
    );
    expect(error.status).toBe(400);
    expect(error.code).toBe('INVALID_PARAMETER_VALUE');
  });
});

describe('client connection failures', () => {
  it('throws YardConnectionError naming the URL when nothing listens', async () => {
    const server = await startServer();
    const url = server.url;
    await server.close();
    const yard = createClient({ baseUrl: url });
    const error = await yard.health().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(YardConnectionError);
    expect((error as YardConnectionError).url).toBe(url);
    expect((error as Error).message).toContain(url);
  });
});

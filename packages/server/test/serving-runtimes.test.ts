import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArtifactStore, createMetadataStore } from '@modelyard/store';
import type { ArtifactStore, MetadataStore } from '@modelyard/store';
import { buildApp } from '@modelyard/server';

const RULES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'rules-js');
const HUMAN_MODELS = join(
  dirname(createRequire(import.meta.url).resolve('@vladmandic/human')),
  '..',
  'models',
);

interface Server {
  url: string;
  metadataStore: MetadataStore;
  artifactStore: ArtifactStore;
  close(): Promise<void>;
}

async function startServer(dir: string): Promise<Server> {
  const metadataStore = await createMetadataStore(`sqlite:///${join(dir, 'yard.db')}`, {
    defaultArtifactRoot: 'mlflow-artifacts:',
  });
  await metadataStore.migrate();
  const artifactStore = createArtifactStore(join(dir, 'artifacts'));
  const app = buildApp({
    metadataStore,
    artifactStore,
    bodyLimit: 4 * 1024 * 1024,
    logLevel: false,
    modelCacheDir: join(dir, 'model-cache'),
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    metadataStore,
    artifactStore,
    async close() {
      await app.close();
      await Promise.all([metadataStore.close(), artifactStore.close()]);
    },
  };
}

async function call(
  server: Server,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { 'content-type': 'application/json' };
  }
  const res = await fetch(`${server.url}${path}`, init);
  const text = await res.text();
  return {
    status: res.status,
    body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>,
  };
}

/**
 * Logs `files` (artifact path inside the model -> a readable source) as a run's `model`
 * artifact and registers it as version 1 of `model`.
 */
async function register(
  server: Server,
  model: string,
  files: Record<string, () => Readable>,
): Promise<void> {
  const experiment = await call(server, 'POST', '/api/v1/experiments', { name: `exp-${model}` });
  const run = await call(server, 'POST', '/api/v1/runs', {
    experimentId: experiment.body['experimentId'],
  });
  const info = (run.body as { info: { runId: string; artifactUri: string } }).info;
  const base = info.artifactUri.replace(/^mlflow-artifacts:\/*/, '');
  for (const [path, open] of Object.entries(files)) {
    await server.artifactStore.put(`${base}/model/${path}`, open());
  }
  expect((await call(server, 'POST', '/api/v1/registered-models', { name: model })).status).toBe(
    201,
  );
  const version = await call(server, 'POST', `/api/v1/registered-models/${model}/versions`, {
    source: `runs:/${info.runId}/model`,
    runId: info.runId,
  });
  expect(version.status).toBe(201);
}

async function deployAndWait(server: Server, name: string, model: string): Promise<void> {
  const created = await call(server, 'POST', '/api/v1/deployments', {
    name,
    modelUri: `models:/${model}/1`,
  });
  expect(created.status).toBe(201);
  for (let i = 0; i < 600; i += 1) {
    const got = await call(server, 'GET', `/api/v1/deployments/${name}`);
    if (got.body['status'] !== 'loading') {
      expect(got.body).toMatchObject({ status: 'ready' });
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`deployment ${name} still loading`);
}

describe('deployments of js and tfjs models, picked by their MLmodel flavor', () => {
  let dir: string;
  let server: Server;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'yard-runtimes-'));
    server = await startServer(dir);
    await register(server, 'rules', {
      MLmodel: () => createReadStream(join(RULES, 'MLmodel')),
      'model.mjs': () => createReadStream(join(RULES, 'model.mjs')),
    });
    await register(server, 'movenet', {
      MLmodel: () =>
        Readable.from([
          'artifact_path: model\nflavors:\n  modelyard_tfjs:\n    model: movenet-lightning.json\n',
        ]),
      'movenet-lightning.json': () =>
        createReadStream(join(HUMAN_MODELS, 'movenet-lightning.json')),
      'movenet-lightning.bin': () => createReadStream(join(HUMAN_MODELS, 'movenet-lightning.bin')),
    });
    await Promise.all([
      deployAndWait(server, 'rules-scorer', 'rules'),
      deployAndWait(server, 'pose', 'movenet'),
    ]);
  }, 60_000);

  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the js rules model over OIP v2 with its declared metadata', async () => {
    const metadata = await call(server, 'GET', '/v2/models/rules-scorer');
    expect(metadata.status).toBe(200);
    expect(metadata.body['inputs']).toEqual([
      { name: 'features', datatype: 'FP32', shape: [-1, 2] },
    ]);
    const answer = await call(server, 'POST', '/v2/models/rules-scorer/infer', {
      inputs: [{ name: 'features', datatype: 'FP32', shape: [2, 2], data: [5, 100, 2000, 3] }],
    });
    expect(answer.status).toBe(200);
    expect(answer.body['outputs']).toEqual([
      { name: 'decision', datatype: 'INT32', shape: [2], data: [0, 2] },
      {
        name: 'rule',
        datatype: 'BYTES',
        shape: [2],
        data: ['default', 'large-amount-new-account'],
      },
    ]);
    const rejected = await call(server, 'POST', '/v2/models/rules-scorer/infer', {
      inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 2], data: ['NaN', 1] }],
    });
    expect(rejected.status).toBe(400);
    expect(rejected.body['error']).toContain('row 0 has a NaN feature');
  });

  it('serves the tfjs MoveNet model over OIP v2', async () => {
    const side = 192;
    const data = Array.from({ length: side * side * 3 }, (_, i) => (i * 7) % 256);
    const answer = await call(server, 'POST', '/v2/models/pose/infer', {
      inputs: [{ name: 'input', datatype: 'INT32', shape: [1, side, side, 3], data }],
    });
    expect(answer.status).toBe(200);
    const [keypoints] = answer.body['outputs'] as {
      name: string;
      shape: number[];
      data: number[];
    }[];
    expect(keypoints?.name).toBe('Identity');
    expect(keypoints?.shape).toEqual([1, 1, 17, 3]);
    expect(keypoints?.data).toHaveLength(51);
    for (const value of keypoints?.data ?? []) expect(Number.isFinite(value)).toBe(true);
  });
});

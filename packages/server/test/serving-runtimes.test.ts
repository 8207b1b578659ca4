import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, registerModel, startServingServer, waitSettled } from './support/serving-server.js';
import type { ServingServer } from './support/serving-server.js';

const RULES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'rules-js');
const HUMAN_MODELS = join(
  dirname(createRequire(import.meta.url).resolve('@vladmandic/human')),
  '..',
  'models',
);

async function register(
  server: ServingServer,
  model: string,
  files: Record<string, () => Readable>,
): Promise<void> {
  await registerModel(server, model, files);
}

async function deployAndWait(server: ServingServer, name: string, model: string): Promise<void> {
  const created = await call(server, 'POST', '/api/v1/deployments', {
    name,
    modelUri: `models:/${model}/1`,
  });
  expect(created.status).toBe(201);
  expect(await waitSettled(server, name)).toMatchObject({ status: 'ready' });
}

describe('deployments of js and tfjs models, picked by their MLmodel flavor', () => {
  let dir: string;
  let server: ServingServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'yard-runtimes-'));
    server = await startServingServer(dir, 4 * 1024 * 1024);
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

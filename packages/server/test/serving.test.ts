import { createReadStream } from 'node:fs';
import { appendFile, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, registerModel, startServingServer, waitSettled } from './support/serving-server.js';
import type { ServingServer } from './support/serving-server.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'iris-like-onnx');

interface Expected {
  input: { name: string; shape: number[]; rows: number[][] };
  label: number[];
  probabilities: number[][];
}

/** Logs the fixture's files as a run's `model` artifact and registers it as version 1 of `model`. */
async function registerFixture(
  server: ServingServer,
  model: string,
): Promise<Record<string, unknown>> {
  const files = Object.fromEntries(
    (await readdir(FIXTURE)).map((file) => [file, () => createReadStream(join(FIXTURE, file))]),
  );
  return registerModel(server, model, files);
}

function expectClose(actual: unknown, expected: unknown): void {
  if (Array.isArray(expected)) {
    expect(Array.isArray(actual)).toBe(true);
    expect((actual as unknown[]).length).toBe(expected.length);
    expected.forEach((item, i) => {
      expectClose((actual as unknown[])[i], item);
    });
  } else if (typeof expected === 'number') {
    expect(actual as number).toBeCloseTo(expected, 5);
  } else {
    expect(actual).toEqual(expected);
  }
}

describe('serving a registered ONNX model over OIP v2 and MLflow scoring', () => {
  let dir: string;
  let server: ServingServer;
  let expected: Expected;
  let version: Record<string, unknown>;

  beforeAll(async () => {
    expected = JSON.parse(await readFile(join(FIXTURE, 'expected.json'), 'utf8')) as Expected;
    dir = await mkdtemp(join(tmpdir(), 'yard-serving-'));
    server = await startServingServer(dir);
    version = await registerFixture(server, 'iris');
    await call(server, 'PUT', '/api/v1/registered-models/iris/aliases/champion', {
      version: '1',
    });
    const created = await call(server, 'POST', '/api/v1/deployments', {
      name: 'iris-scorer',
      modelUri: 'models:/iris@champion',
    });
    expect(created.status).toBe(201);
    expect(created.body['status']).toBe('loading');
  });

  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('records the artifact digest when the version is registered', async () => {
    const { computeArtifactDigest } = await import('../src/serving/artifact-digest.js');
    expect(version['digest']).toBe(await computeArtifactDigest(FIXTURE));
  });

  it('loads the deployment to ready, pinned to the version the alias named', async () => {
    const deployment = await waitSettled(server, 'iris-scorer');
    expect(deployment['status']).toBe('ready');
    expect(deployment['statusReason']).toContain('verified against the registry');
    const variants = deployment['variants'] as Record<string, unknown>[];
    expect(variants[0]).toMatchObject({
      modelUri: 'models:/iris@champion',
      modelName: 'iris',
      modelVersion: '1',
      replicas: 1,
    });
    const events = await call(server, 'GET', '/api/v1/deployments/iris-scorer/events');
    const actions = (events.body['events'] as { action: string; details: object }[]).map(
      (e) => e.action,
    );
    expect(actions).toEqual(['created', 'status']);
    const list = await call(server, 'GET', '/api/v1/deployments');
    expect((list.body['deployments'] as { name: string }[]).map((d) => d.name)).toEqual([
      'iris-scorer',
    ]);
  });

  it('answers server and model metadata and readiness', async () => {
    await waitSettled(server, 'iris-scorer');
    const meta = await call(server, 'GET', '/v2');
    expect(meta.body).toMatchObject({ name: 'modelyard', extensions: ['binary_tensor_data'] });
    expect((await call(server, 'GET', '/v2/health/live')).status).toBe(200);
    expect((await call(server, 'GET', '/v2/health/ready')).status).toBe(200);
    const model = await call(server, 'GET', '/v2/models/iris-scorer');
    expect(model.status).toBe(200);
    expect(model.body).toEqual({
      name: 'iris-scorer',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'float_input', datatype: 'FP32', shape: [-1, 20] }],
      outputs: [
        { name: 'label', datatype: 'INT64', shape: [-1] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] },
      ],
    });
    expect((await call(server, 'GET', '/v2/models/iris-scorer/versions/1')).status).toBe(200);
    expect((await call(server, 'GET', '/v2/models/iris-scorer/ready')).status).toBe(200);
    expect((await call(server, 'GET', '/v2/models/iris-scorer/versions/1/ready')).status).toBe(200);
  });

  it('infers over OIP JSON with the id echoed and requested outputs only', async () => {
    await waitSettled(server, 'iris-scorer');
    const input = {
      name: 'float_input',
      datatype: 'FP32',
      shape: expected.input.shape,
      data: expected.input.rows,
    };
    const all = await call(server, 'POST', '/v2/models/iris-scorer/infer', {
      id: 'req-1',
      inputs: [input],
    });
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ model_name: 'iris-scorer', model_version: '1', id: 'req-1' });
    const outputs = all.body['outputs'] as { name: string; shape: number[]; data: number[] }[];
    expect(outputs.map((o) => [o.name, o.shape])).toEqual([
      ['label', [8]],
      ['probabilities', [8, 3]],
    ]);
    expect(outputs[0]?.data).toEqual(expected.label);
    expectClose(outputs[1]?.data, expected.probabilities.flat());

    const one = await call(server, 'POST', '/v2/models/iris-scorer/versions/1/infer', {
      inputs: [input],
      outputs: [{ name: 'label' }],
    });
    expect(one.status).toBe(200);
    expect((one.body['outputs'] as { name: string }[]).map((o) => o.name)).toEqual(['label']);
  });

  it('batches concurrent single-row requests of a deployment created with batching', async () => {
    const created = await call(server, 'POST', '/api/v1/deployments', {
      name: 'iris-batched',
      modelUri: 'models:/iris/1',
      batching: { maxBatchSize: 8, maxLatencyMs: 5 },
    });
    expect(created.status).toBe(201);
    const deployment = await waitSettled(server, 'iris-batched');
    expect(deployment['statusReason']).toContain('Dynamic batching');
    const answers = await Promise.all(
      expected.input.rows.flatMap((row, i) =>
        [0, 1, 2, 3].map(async () => {
          const res = await call(server, 'POST', '/v2/models/iris-batched/infer', {
            inputs: [{ name: 'float_input', datatype: 'FP32', shape: [1, 20], data: row }],
            outputs: [{ name: 'label' }],
          });
          expect(res.status).toBe(200);
          return [i, (res.body['outputs'] as { data: number[] }[])[0]?.data[0]] as const;
        }),
      ),
    );
    for (const [i, label] of answers) expect(label).toBe(expected.label[i]);
    const bad = await call(server, 'POST', '/api/v1/deployments', {
      name: 'iris-bad-batching',
      modelUri: 'models:/iris/1',
      batching: { maxBatchSize: 0, maxLatencyMs: 5 },
    });
    expect(bad.status).toBe(400);
    expect(bad.body['message']).toContain('maxBatchSize');
    expect((await call(server, 'DELETE', '/api/v1/deployments/iris-batched')).status).toBe(204);
  });

  it('infers with the binary tensor data extension in both directions', async () => {
    await waitSettled(server, 'iris-scorer');
    const data = new Float32Array(expected.input.rows.flat());
    const bytes = Buffer.from(data.buffer);
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          {
            name: 'float_input',
            datatype: 'FP32',
            shape: expected.input.shape,
            parameters: { binary_data_size: bytes.length },
          },
        ],
        outputs: [
          { name: 'label', parameters: { binary_data: true } },
          { name: 'probabilities', parameters: { binary_data: false } },
        ],
      }),
    );
    const res = await fetch(`${server.url}/v2/models/iris-scorer/infer`, {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(header.length),
      },
      body: Buffer.concat([header, bytes]),
    });
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.status, body.toString('utf8')).toBe(200);
    const jsonLength = Number(res.headers.get('inference-header-content-length'));
    const json = JSON.parse(body.subarray(0, jsonLength).toString('utf8')) as {
      outputs: { name: string; parameters?: { binary_data_size: number }; data?: number[] }[];
    };
    const [label, probabilities] = json.outputs;
    expect(label?.parameters?.binary_data_size).toBe(8 * 8);
    const rest = body.subarray(jsonLength);
    const labels = new BigInt64Array(rest.buffer.slice(rest.byteOffset, rest.byteOffset + 64));
    expect(Array.from(labels, Number)).toEqual(expected.label);
    expectClose(probabilities?.data, expected.probabilities.flat());
  });

  it('answers MLflow scoring requests in every input format', async () => {
    await waitSettled(server, 'iris-scorer');
    const rows = expected.input.rows;
    const columns = rows[0]?.map((_, i) => `f${i}`) ?? [];
    const bodies: unknown[] = [
      { dataframe_split: { columns, data: rows } },
      {
        dataframe_records: rows.map((row) =>
          Object.fromEntries(row.map((value, i) => [`f${i}`, value])),
        ),
      },
      { instances: rows },
      { inputs: rows, params: { unused: 1 } },
      { inputs: { float_input: rows } },
    ];
    for (const body of bodies) {
      const res = await call(server, 'POST', '/endpoints/iris-scorer/invocations', body);
      expect(res.status).toBe(200);
      const predictions = res.body['predictions'] as Record<string, unknown>;
      expect(predictions['label']).toEqual(expected.label);
      expectClose(predictions['probabilities'], expected.probabilities);
    }
    const csv = [columns.join(','), ...rows.map((row) => row.join(','))].join('\n');
    const res = await call(server, 'POST', '/endpoints/iris-scorer/invocations', csv, {
      'content-type': 'text/csv',
    });
    expect(res.status).toBe(200);
    expect((res.body['predictions'] as Record<string, unknown>)['label']).toEqual(expected.label);
  });

  it('refuses bad inference input with 4xx messages naming the input, and keeps serving', async () => {
    await waitSettled(server, 'iris-scorer');
    const infer = (body: unknown) => call(server, 'POST', '/v2/models/iris-scorer/infer', body);
    const wrongShape = await infer({
      inputs: [{ name: 'float_input', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }],
    });
    expect(wrongShape.status).toBe(400);
    expect(wrongShape.body['error']).toMatch(/float_input/);
    expect(wrongShape.body['error']).toMatch(/\[-1, 20\]|\[-1,20\]/);

    const wrongType = await infer({
      inputs: [{ name: 'float_input', datatype: 'INT32', shape: [1, 20], data: Array(20).fill(1) }],
    });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body['error']).toMatch(/float_input/);
    expect(wrongType.body['error']).toMatch(/FP32/);

    const missing = await infer({ inputs: [] });
    expect(missing.status).toBe(400);
    expect(missing.body['error']).toMatch(/float_input FP32/);

    const unknownInput = await infer({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 20], data: Array(20).fill(1) }],
    });
    expect(unknownInput.status).toBe(400);
    expect(unknownInput.body['error']).toMatch(/no input 'x'.*float_input FP32/);

    const nonNumeric = await infer({
      inputs: [
        { name: 'float_input', datatype: 'FP32', shape: [1, 20], data: Array(20).fill('abc') },
      ],
    });
    expect(nonNumeric.status).toBe(400);
    expect(nonNumeric.body['error']).toMatch(/float_input/);

    const notJson = await infer('{not json');
    expect(notJson.status).toBe(400);
    expect(typeof notJson.body['error']).toBe('string');

    const noInputs = await infer({});
    expect(noInputs.status).toBe(400);
    expect(noInputs.body['error']).toMatch(/"inputs"/);
    const noModel = await call(server, 'POST', '/v2/models/nope/infer', { inputs: [] });
    expect(noModel.status).toBe(404);
    expect(noModel.body['error']).toMatch(/nope/);
    const noVersion = await call(server, 'POST', '/v2/models/iris-scorer/versions/7/infer', {
      inputs: [],
    });
    expect(noVersion.status).toBe(404);
    expect(noVersion.body['error']).toMatch(/version '7'/);
    expect((await call(server, 'GET', '/v2/models/nope/ready')).status).toBe(404);

    const huge = await infer({
      inputs: [
        {
          name: 'float_input',
          datatype: 'FP32',
          shape: [20000, 20],
          data: Array(400000).fill(0.5),
        },
      ],
    });
    expect(huge.status).toBe(413);
    expect(typeof huge.body['error']).toBe('string');

    const scoring = await call(server, 'POST', '/endpoints/iris-scorer/invocations', {
      instances: [[1, 2, 3]],
    });
    expect(scoring.status).toBe(400);
    expect(scoring.body).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE' });
    expect(scoring.body['message']).toMatch(/float_input/);
    const noFormat = await call(server, 'POST', '/endpoints/iris-scorer/invocations', {
      rows: [],
    });
    expect(noFormat.status).toBe(400);
    expect(noFormat.body['message']).toMatch(/dataframe_split/);
    const noEndpoint = await call(server, 'POST', '/endpoints/nope/invocations', {
      instances: [],
    });
    expect(noEndpoint.status).toBe(404);
    expect(noEndpoint.body).toMatchObject({ error_code: 'RESOURCE_DOES_NOT_EXIST' });

    const after = await call(server, 'POST', '/v2/models/iris-scorer/infer', {
      inputs: [
        { name: 'float_input', datatype: 'FP32', shape: [1, 20], data: expected.input.rows[0] },
      ],
    });
    expect(after.status).toBe(200);
    expect((after.body['outputs'] as { data: number[] }[])[0]?.data).toEqual([expected.label[0]]);
  });

  it('refuses invalid deployment names and unknown models with clear errors', async () => {
    const badName = await call(server, 'POST', '/api/v1/deployments', {
      name: 'Iris_Scorer',
      modelUri: 'models:/iris/1',
    });
    expect(badName.status).toBe(400);
    expect(badName.body['message']).toMatch(/Invalid deployment name 'Iris_Scorer'/);
    const badUri = await call(server, 'POST', '/api/v1/deployments', {
      name: 'x',
      modelUri: 'iris',
    });
    expect(badUri.status).toBe(400);
    expect(badUri.body['message']).toMatch(/models:\/<name>\/<version>/);
    const noVersion = await call(server, 'POST', '/api/v1/deployments', {
      name: 'x',
      modelUri: 'models:/iris/9',
    });
    expect(noVersion.status).toBe(404);
    const taken = await call(server, 'POST', '/api/v1/deployments', {
      name: 'iris-scorer',
      modelUri: 'models:/iris/1',
    });
    expect(taken.status).toBe(400);
    expect(taken.body['error_code']).toBe('RESOURCE_ALREADY_EXISTS');
  });

  it('documents the deployment routes in the OpenAPI document', async () => {
    const doc = await call(server, 'GET', '/api/v1/openapi.json');
    const paths = Object.keys(doc.body['paths'] as object);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/api/v1/deployments',
        '/api/v1/deployments/{name}',
        '/api/v1/deployments/{name}/events',
      ]),
    );
  });
});

describe('deployment lifecycle: digest checks, restarts and deletion', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'yard-serving-life-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fails a deployment whose stored artifact changed after registration', async () => {
    const server = await startServingServer(join(dir, 'tamper'));
    try {
      const version = await registerFixture(server, 'tampered');
      expect(version['digest']).toMatch(/^[0-9a-f]{64}$/);
      const runs = await call(server, 'GET', `/api/v1/runs/${String(version['runId'])}`);
      const artifactUri = (runs.body as { info: { artifactUri: string } }).info.artifactUri;
      const stored = join(
        server.dir,
        'artifacts',
        artifactUri.replace(/^mlflow-artifacts:\/*/, ''),
        'model',
        'MLmodel',
      );
      await appendFile(stored, '\n# changed\n');
      await call(server, 'POST', '/api/v1/deployments', {
        name: 'tampered',
        modelUri: 'models:/tampered/1',
      });
      const deployment = await waitSettled(server, 'tampered');
      expect(deployment['status']).toBe('failed');
      expect(deployment['statusReason']).toMatch(/digest/);
      expect(deployment['statusReason']).toContain(String(version['digest']));
      const infer = await call(server, 'POST', '/v2/models/tampered/infer', { inputs: [] });
      expect(infer.status).toBe(503);
      expect(infer.body['error']).toMatch(/not ready.*failed/);
      expect((await call(server, 'GET', '/v2/models/tampered/ready')).status).toBe(503);
    } finally {
      await server.close();
    }
  });

  it('reloads stored deployments on restart, re-copying a tampered cache, and deletes them', async () => {
    const folder = join(dir, 'restart');
    let server = await startServingServer(folder);
    await registerFixture(server, 'iris');
    await call(server, 'POST', '/api/v1/deployments', {
      name: 'iris',
      modelUri: 'models:/iris/1',
      replicas: 2,
    });
    expect((await waitSettled(server, 'iris'))['status']).toBe('ready');
    await server.close();

    // Tamper with the local copy: the next load must notice and copy the model again.
    const modelCache = join(folder, 'model-cache', 'iris');
    const [cached] = await readdir(modelCache);
    await appendFile(join(modelCache, String(cached), 'MLmodel'), '\n# changed\n');

    server = await startServingServer(folder);
    try {
      const deployment = await waitSettled(server, 'iris');
      expect(deployment['status']).toBe('ready');
      const infer = await call(server, 'POST', '/v2/models/iris/infer', {
        inputs: [
          { name: 'float_input', datatype: 'FP32', shape: [1, 20], data: Array(20).fill(0) },
        ],
      });
      expect(infer.status).toBe(200);
      const events = await call(server, 'GET', '/api/v1/deployments/iris/events');
      const statuses = (events.body['events'] as { details: { status?: string } }[]).map(
        (e) => e.details.status,
      );
      expect(statuses).toEqual([undefined, 'ready', 'loading', 'ready']);

      const scaled = await call(server, 'POST', '/api/v1/deployments/iris/scale', {
        replicas: 1,
      });
      expect(scaled.status).toBe(200);
      expect((scaled.body['variants'] as { replicas: number }[])[0]?.replicas).toBe(1);

      const deleted = await call(server, 'DELETE', '/api/v1/deployments/iris');
      expect(deleted.status).toBe(204);
      expect((await call(server, 'GET', '/api/v1/deployments/iris')).status).toBe(404);
      expect((await call(server, 'POST', '/v2/models/iris/infer', { inputs: [] })).status).toBe(
        404,
      );
      const history = await call(server, 'GET', '/api/v1/deployments/iris/events');
      const actions = (history.body['events'] as { action: string }[]).map((e) => e.action);
      expect(actions.at(-1)).toBe('deleted');
      const newest = await call(server, 'GET', '/api/v1/deployments/iris/events?order=desc');
      expect((newest.body['events'] as { action: string }[]).map((e) => e.action)).toEqual(
        [...actions].reverse(),
      );
      const sideways = await call(server, 'GET', '/api/v1/deployments/iris/events?order=up');
      expect(sideways.status).toBe(400);
      expect(JSON.stringify(sideways.body)).toContain('order');
    } finally {
      await server.close();
    }
  });
});

import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer } from './support/test-server.js';
import type { TestServer } from './support/test-server.js';

const API = '/api/2.0/mlflow';

/** Sends a request with the path exactly as given and returns the status. */
function rawRequest(method: string, path: string): Promise<number> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(method === 'PUT' ? 'x' : undefined);
  });
}
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ bodyLimit: 256 * 1024 });
});
afterAll(async () => {
  await server.close();
});

async function newRun(experimentName: string): Promise<string> {
  const exp = await server.call('POST', `${API}/experiments/create`, { name: experimentName });
  expect(exp.status).toBe(200);
  const run = await server.call('POST', `${API}/runs/create`, {
    experiment_id: exp.body.experiment_id,
    start_time: 1_700_000_000_000,
  });
  expect(run.status).toBe(200);
  return (run.body.run as { info: { run_id: string } }).info.run_id;
}

async function getRun(runId: string): Promise<{
  info: Record<string, unknown>;
  data: {
    metrics?: { key: string; value: unknown }[];
    params?: { key: string; value: string }[];
    tags?: { key: string; value: string }[];
  };
}> {
  const res = await server.call('GET', `${API}/runs/get`, { run_id: runId });
  expect(res.status).toBe(200);
  return res.body.run as never;
}

describe('MLflow REST: experiments', () => {
  it('creates, reads by id and by name, and refuses a duplicate name', async () => {
    const created = await server.call('POST', `${API}/experiments/create`, { name: 'exp-a' });
    expect(created.status).toBe(200);
    const id = created.body.experiment_id as string;
    const byId = await server.call('GET', `${API}/experiments/get`, { experiment_id: id });
    expect(byId.body.experiment).toMatchObject({ name: 'exp-a', lifecycle_stage: 'active' });
    const byName = await server.call('GET', `${API}/experiments/get-by-name`, {
      experiment_name: 'exp-a',
    });
    expect((byName.body.experiment as { experiment_id: string }).experiment_id).toBe(id);
    const dup = await server.call('POST', `${API}/experiments/create`, { name: 'exp-a' });
    expect(dup.status).toBe(400);
    expect(dup.body.error_code).toBe('RESOURCE_ALREADY_EXISTS');
    expect(dup.body.message).toContain('exp-a');
  });

  it('answers a missing experiment with RESOURCE_DOES_NOT_EXIST and 404', async () => {
    const res = await server.call('GET', `${API}/experiments/get`, { experiment_id: '987654' });
    expect(res.status).toBe(404);
    expect(res.body.error_code).toBe('RESOURCE_DOES_NOT_EXIST');
  });

  it('names a missing required parameter', async () => {
    const res = await server.call('POST', `${API}/experiments/create`, {});
    expect(res.status).toBe(400);
    expect(res.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect(res.body.message).toContain("'name'");
  });

  it('serves the same API under /ajax-api', async () => {
    const res = await server.call('GET', `/ajax-api/2.0/mlflow/experiments/get`, {
      experiment_id: '0',
    });
    expect(res.status).toBe(200);
    expect(res.body.experiment).toMatchObject({ name: 'Default' });
  });
});

describe('MLflow REST: runs', () => {
  it('logs a batch and reads it back, accepting run_uuid and int64 as strings', async () => {
    const runId = await newRun('runs-batch');
    const res = await server.call('POST', `${API}/runs/log-batch`, {
      run_uuid: runId,
      metrics: [
        { key: 'loss', value: 0.5, timestamp: '1700000000001', step: '1' },
        { key: 'loss', value: 0.25, timestamp: 1_700_000_000_002, step: 2 },
      ],
      params: [{ key: 'lr', value: '0.01' }],
      tags: [{ key: 'team', value: 'vision' }],
    });
    expect(res.status).toBe(200);
    const run = await getRun(runId);
    expect(run.data.metrics).toEqual([
      expect.objectContaining({ key: 'loss', value: 0.25, step: 2 }),
    ]);
    expect(run.data.params).toEqual([{ key: 'lr', value: '0.01' }]);
    expect(run.data.tags).toEqual(expect.arrayContaining([{ key: 'team', value: 'vision' }]));
  });

  it('round-trips NaN and infinite metric values, sent bare or as strings', async () => {
    const runId = await newRun('runs-nan');
    const body = `{"run_id": "${runId}", "metrics": [{"key": "a", "value": NaN, "timestamp": 1, "step": 0}, {"key": "b", "value": "-Infinity", "timestamp": 1, "step": 0}, {"key": "c", "value": Infinity, "timestamp": 1, "step": 0}]}`;
    const res = await server.call('POST', `${API}/runs/log-batch`, body);
    expect(res.status).toBe(200);
    const history = await server.call('GET', `${API}/metrics/get-history`, {
      run_id: runId,
      metric_key: 'a',
    });
    expect((history.body.metrics as { value: unknown }[])[0]?.value).toBe('NaN');
    const run = await getRun(runId);
    const values = Object.fromEntries((run.data.metrics ?? []).map((m) => [m.key, m.value]));
    expect(values).toEqual({ a: 'NaN', b: '-Infinity', c: 'Infinity' });
  });

  it('streams a history longer than one chunk, in step order', async () => {
    const runId = await newRun('runs-long-history');
    for (let b = 0; b < 12; b++) {
      const metrics = Array.from({ length: 1000 }, (_, i) => ({
        key: 'long',
        value: b * 1000 + i,
        timestamp: 1,
        step: 11_999 - (b * 1000 + i),
      }));
      expect(
        (await server.call('POST', `${API}/runs/log-batch`, { run_id: runId, metrics })).status,
      ).toBe(200);
    }
    const all = await server.call('GET', `${API}/metrics/get-history`, {
      run_id: runId,
      metric_key: 'long',
    });
    const steps = (all.body.metrics as { step: number }[]).map((m) => m.step);
    expect(steps).toEqual(Array.from({ length: 12_000 }, (_, i) => i));
    const paged = await server.call('GET', `${API}/metrics/get-history`, {
      run_id: runId,
      metric_key: 'long',
      max_results: 5000,
    });
    expect((paged.body.metrics as unknown[]).length).toBe(5000);
    expect(typeof paged.body.next_page_token).toBe('string');
    const missing = await server.call('GET', `${API}/metrics/get-history`, {
      run_id: 'f'.repeat(32),
      metric_key: 'long',
    });
    expect(missing.status).toBe(404);
  });

  it('refuses to change a logged param and writes nothing of that batch', async () => {
    const runId = await newRun('runs-param');
    await server.call('POST', `${API}/runs/log-parameter`, {
      run_id: runId,
      key: 'depth',
      value: '3',
    });
    const res = await server.call('POST', `${API}/runs/log-batch`, {
      run_id: runId,
      metrics: [{ key: 'acc', value: 0.9, timestamp: 1, step: 0 }],
      params: [{ key: 'depth', value: '4' }],
      tags: [{ key: 'note', value: 'x' }],
    });
    expect(res.status).toBe(400);
    expect(res.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect(res.body.message).toContain('depth');
    const run = await getRun(runId);
    expect(run.data.metrics ?? []).toEqual([]);
    expect((run.data.tags ?? []).some((t) => t.key === 'note')).toBe(false);
    expect(run.data.params).toEqual([{ key: 'depth', value: '3' }]);
  });

  it('refuses a batch over the 1000-metric limit whole', async () => {
    const runId = await newRun('runs-limit');
    const metrics = Array.from({ length: 1001 }, (_, i) => ({
      key: 'm',
      value: i,
      timestamp: 1,
      step: i,
    }));
    const res = await server.call('POST', `${API}/runs/log-batch`, { run_id: runId, metrics });
    expect(res.status).toBe(400);
    expect(res.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    const history = await server.call('GET', `${API}/metrics/get-history`, {
      run_id: runId,
      metric_key: 'm',
    });
    expect(history.body.metrics ?? []).toEqual([]);
  });

  it('refuses an oversized body with 413 and writes nothing', async () => {
    const runId = await newRun('runs-oversized');
    const big = 'x'.repeat(300 * 1024);
    const res = await server.call('POST', `${API}/runs/set-tag`, {
      run_id: runId,
      key: 'big',
      value: big,
    });
    expect(res.status).toBe(413);
    expect(res.body.error_code).toBe('REQUEST_TOO_LARGE');
    const run = await getRun(runId);
    expect((run.data.tags ?? []).some((t) => t.key === 'big')).toBe(false);
  });

  it('answers malformed JSON with a 400 that says so', async () => {
    const res = await server.call('POST', `${API}/runs/log-batch`, '{"run_id": ');
    expect(res.status).toBe(400);
    expect(res.body.error_code).toBe('MALFORMED_REQUEST');
  });

  it('takes 16 concurrent writers without a locking error', async () => {
    const runId = await newRun('runs-concurrent');
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, w) =>
        (async () => {
          const statuses: number[] = [];
          for (let i = 0; i < 10; i++) {
            const res = await server.call('POST', `${API}/runs/log-batch`, {
              run_id: runId,
              metrics: Array.from({ length: 20 }, (_, j) => ({
                key: `w${w}`,
                value: j,
                timestamp: 1,
                step: i * 20 + j,
              })),
            });
            statuses.push(res.status);
          }
          return statuses;
        })(),
      ),
    );
    expect(results.flat().every((s) => s === 200)).toBe(true);
    const history = await server.call('GET', `${API}/metrics/get-history`, {
      run_id: runId,
      metric_key: 'w7',
    });
    expect((history.body.metrics as unknown[]).length).toBe(200);
  });

  it('searches runs with a filter and an order_by', async () => {
    const exp = await server.call('POST', `${API}/experiments/create`, { name: 'runs-search' });
    const experimentId = exp.body.experiment_id as string;
    for (let i = 0; i < 5; i++) {
      const run = await server.call('POST', `${API}/runs/create`, { experiment_id: experimentId });
      const runId = (run.body.run as { info: { run_id: string } }).info.run_id;
      await server.call('POST', `${API}/runs/log-batch`, {
        run_id: runId,
        metrics: [{ key: 'score', value: i, timestamp: 1, step: 0 }],
        params: [{ key: 'kind', value: i % 2 === 0 ? 'even' : 'odd' }],
      });
    }
    const res = await server.call('POST', `${API}/runs/search`, {
      experiment_ids: [experimentId],
      filter: "params.kind = 'even' and metrics.score >= 1",
      order_by: ['metrics.score DESC'],
    });
    expect(res.status).toBe(200);
    const scores = (res.body.runs as { data: { metrics: { value: number }[] } }[]).map(
      (r) => r.data.metrics[0]?.value,
    );
    expect(scores).toEqual([4, 2]);
    const bad = await server.call('POST', `${API}/runs/search`, {
      experiment_ids: [experimentId],
      filter: 'metrics.score >>> 1',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error_code).toBe('INVALID_PARAMETER_VALUE');
  });
});

describe('MLflow artifact proxy', () => {
  it('uploads, lists, downloads and deletes through mlflow-artifacts', async () => {
    const runId = await newRun('artifacts');
    const run = await getRun(runId);
    const uri = run.info.artifact_uri as string;
    expect(uri).toMatch(/^mlflow-artifacts:\/\d+\/[0-9a-f]{32}\/artifacts$/);
    const base = uri.replace('mlflow-artifacts:/', '');
    const put = await fetch(
      `${server.url}/api/2.0/mlflow-artifacts/artifacts/${base}/dir/hello.txt`,
      {
        method: 'PUT',
        body: 'hello world',
        headers: { 'content-type': 'application/json' },
      },
    );
    expect(put.status).toBe(200);
    const list = await server.call('GET', `${API}/artifacts/list`, { run_id: runId });
    expect(list.body).toMatchObject({ root_uri: uri, files: [{ path: 'dir', is_dir: true }] });
    const inner = await server.call('GET', `${API}/artifacts/list`, { run_id: runId, path: 'dir' });
    expect(inner.body.files).toEqual([{ path: 'dir/hello.txt', is_dir: false, file_size: 11 }]);
    const got = await fetch(
      `${server.url}/api/2.0/mlflow-artifacts/artifacts/${base}/dir/hello.txt`,
    );
    expect(await got.text()).toBe('hello world');
    const del = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/${base}/dir`, {
      method: 'DELETE',
    });
    expect(del.status).toBe(200);
    const gone = await fetch(
      `${server.url}/api/2.0/mlflow-artifacts/artifacts/${base}/dir/hello.txt`,
    );
    expect(gone.status).toBe(404);
  });

  it('refuses paths that escape the artifact root', async () => {
    // Sent raw: fetch() would normalise '..' segments away before they reach the server.
    const paths = [
      '..%2f..%2fetc/passwd',
      '%2e%2e/%2e%2e/secret',
      'a/%252e%252e/b',
      'a/../../b',
      '%2fetc/passwd',
    ];
    for (const path of paths) {
      for (const method of ['PUT', 'GET', 'DELETE']) {
        const status = await rawRequest(method, `/api/2.0/mlflow-artifacts/artifacts/${path}`);
        expect({ path, method, status }).toEqual({ path, method, status: 400 });
      }
    }
  });

  it("never writes into the server's content-addressed blobs folder", async () => {
    const body = Buffer.from('a cached step output');
    const hex = createHash('sha256').update(body).digest('hex');
    const stored = await fetch(`${server.url}/api/v1/blobs/sha256/${hex}`, { method: 'PUT', body });
    expect(stored.status).toBeLessThan(300);
    for (const path of [`blobs/sha256/${hex.slice(0, 2)}/${hex}`, `./blobs/sha256/x`, 'blobs']) {
      const put = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/${path}`, {
        method: 'PUT',
        body: 'poisoned',
      });
      expect(put.status).toBe(403);
      const error = (await put.json()) as { error_code: string; message: string };
      expect(error.error_code).toBe('PERMISSION_DENIED');
      expect(error.message).toContain('/api/v1/blobs/sha256/');
      const del = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/${path}`, {
        method: 'DELETE',
      });
      expect(del.status).toBe(403);
      const mpu = await server.call('POST', `/api/2.0/mlflow-artifacts/mpu/create/${path}`, {
        path,
        num_parts: 1,
      });
      expect(mpu.status).toBe(403);
    }
    const blob = await fetch(`${server.url}/api/v1/blobs/sha256/${hex}`);
    expect(Buffer.from(await blob.arrayBuffer())).toEqual(body);
  });

  it('assembles a multipart upload from part URLs it hands out', async () => {
    const runId = await newRun('artifacts-mpu');
    const base = ((await getRun(runId)).info.artifact_uri as string).replace(
      'mlflow-artifacts:/',
      '',
    );
    const path = `${base}/big.bin`;
    const created = await server.call('POST', `/api/2.0/mlflow-artifacts/mpu/create/${path}`, {
      path,
      num_parts: 2,
    });
    expect(created.status).toBe(200);
    const credentials = created.body.credentials as { part_number: number; url: string }[];
    expect(credentials.map((c) => c.part_number)).toEqual([1, 2]);
    const parts = [Buffer.alloc(64 * 1024, 'a'), Buffer.from('tail')];
    const uploaded = [];
    for (const [i, credential] of credentials.entries()) {
      const res = await fetch(credential.url, { method: 'PUT', body: parts[i] });
      expect(res.status).toBe(200);
      uploaded.push({ part_number: credential.part_number, etag: res.headers.get('etag') ?? '' });
    }
    const completed = await server.call('POST', `/api/2.0/mlflow-artifacts/mpu/complete/${path}`, {
      path,
      upload_id: created.body.upload_id,
      parts: uploaded,
    });
    expect(completed.status).toBe(200);
    const got = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/${path}`);
    expect(Buffer.from(await got.arrayBuffer()).equals(Buffer.concat(parts))).toBe(true);

    const aborted = await server.call(
      'POST',
      `/api/2.0/mlflow-artifacts/mpu/create/${base}/x.bin`,
      {
        num_parts: 1,
      },
    );
    const abort = await server.call('POST', `/api/2.0/mlflow-artifacts/mpu/abort/${base}/x.bin`, {
      upload_id: aborted.body.upload_id,
    });
    expect(abort.status).toBe(200);
    const gone = await server.call('POST', `/api/2.0/mlflow-artifacts/mpu/complete/${base}/x.bin`, {
      upload_id: aborted.body.upload_id,
      parts: [{ part_number: 1, etag: 'x' }],
    });
    expect(gone.status).toBe(404);
  });
});

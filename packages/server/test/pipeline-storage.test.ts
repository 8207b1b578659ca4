/**
 * The storage the pipelines SDK needs, end to end over real HTTP through `@modelyard/client`:
 * content-addressed blobs, the step cache index, and run artifacts over the native API, on the
 * local artifact folder and on S3 (moto, when MODELYARD_TEST_S3_URL is set).
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalArtifactStore, S3ArtifactStore, createMetadataStore } from '@modelyard/store';
import type { ArtifactStore } from '@modelyard/store';
import { buildApp } from '@modelyard/server';
import { YardClientError, createClient } from '@modelyard/client';
import type { YardClient } from '@modelyard/client';

const s3Endpoint = process.env['MODELYARD_TEST_S3_URL'];
const hasS3 = s3Endpoint !== undefined && s3Endpoint !== '';
if (!hasS3) {
  console.warn(
    '!!! MODELYARD_TEST_S3_URL is not set: SKIPPING the S3 half of the pipeline storage tests. ' +
      'Point it at an S3-compatible server (e.g. moto_server) to run them.',
  );
}

const MIB = 1024 * 1024;
/** The JSON body limit of the test servers: every blob and artifact below is bigger. */
const BODY_LIMIT = 256 * 1024;

/** Where an artifact store lives, and how to look behind the server's back. */
interface Backend {
  store: ArtifactStore;
  /** Keys of unfinished multipart uploads (S3) or staging files (local folder). */
  leftovers(): Promise<string[]>;
  dispose(): Promise<void>;
}

async function localBackend(): Promise<Backend> {
  const root = await mkdtemp(join(tmpdir(), 'yard-pipeline-storage-'));
  const store = new LocalArtifactStore(root);
  return {
    store,
    async leftovers() {
      try {
        return await readdir(join(root, '.yard-staging', 'tmp'));
      } catch {
        return [];
      }
    },
    async dispose() {
      await store.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Moto accepts unsigned requests: the bucket is made and inspected with plain fetch. */
async function s3Backend(): Promise<Backend> {
  const endpoint = s3Endpoint ?? '';
  const bucket = `yard-pipeline-storage-${randomUUID()}`;
  const created = await fetch(`${endpoint}/${bucket}`, { method: 'PUT' });
  expect(created.status).toBe(200);
  const store = new S3ArtifactStore({
    bucket,
    prefix: 'artifacts',
    endpoint,
    region: 'us-east-1',
    credentials: {
      accessKeyId: process.env['AWS_ACCESS_KEY_ID'] ?? 'test',
      secretAccessKey: process.env['AWS_SECRET_ACCESS_KEY'] ?? 'test',
    },
  });
  return {
    store,
    async leftovers() {
      const xml = await (await fetch(`${endpoint}/${bucket}?uploads`)).text();
      return [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((match) => match[1] ?? '');
    },
    async dispose() {
      await store.delete('');
      await store.close();
      await fetch(`${endpoint}/${bucket}`, { method: 'DELETE' });
    },
  };
}

/** A real server on a free port over SQLite and the given artifact store. */
async function startServer(backend: Backend) {
  const dir = await mkdtemp(join(tmpdir(), 'yard-pipeline-storage-db-'));
  const metadataStore = await createMetadataStore(`sqlite:///${join(dir, 'yard.db')}`, {
    defaultArtifactRoot: 'mlflow-artifacts:',
  });
  await metadataStore.migrate();
  const app = buildApp({
    metadataStore,
    artifactStore: backend.store,
    bodyLimit: BODY_LIMIT,
    logLevel: false,
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    async close() {
      await app.close();
      await metadataStore.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `size` pseudo-random bytes, the same for the same seed. */
function bytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let state = seed * 2654435761 + 1;
  for (let i = 0; i < size; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state & 0xff;
  }
  return out;
}

const digestOf = (data: Uint8Array): string =>
  `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** `data` as a stream of 64 KiB chunks, produced as the upload pulls them. */
async function* chunked(data: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += 64 * 1024) {
    await Promise.resolve();
    yield data.subarray(offset, offset + 64 * 1024);
  }
}

async function failure(promise: Promise<unknown>): Promise<YardClientError> {
  let answer: unknown;
  try {
    answer = await promise;
  } catch (error) {
    if (error instanceof YardClientError) return error;
    throw error;
  }
  throw new Error(`expected the request to fail, but it answered ${JSON.stringify(answer)}`);
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

const backends: [string, () => Promise<Backend>, boolean][] = [
  ['local artifact folder', localBackend, true],
  ['S3', s3Backend, hasS3],
];

for (const [name, makeBackend, enabled] of backends) {
  describe.skipIf(!enabled)(`pipeline storage over HTTP on the ${name}`, () => {
    let backend: Backend;
    let server: Awaited<ReturnType<typeof startServer>>;
    let yard: YardClient;

    beforeAll(async () => {
      backend = await makeBackend();
      server = await startServer(backend);
      yard = createClient({ baseUrl: server.url });
    });
    afterAll(async () => {
      await server.close();
      await backend.dispose();
    });

    /** Stored blob files under one two-digit folder, as the store lists them. */
    const storedUnder = async (digest: string) =>
      (await backend.store.list(`blobs/sha256/${digest.slice(7, 9)}`)).map((e) => e.path);

    describe('blobs', () => {
      it('round-trips a streamed blob of a few MB, far over the JSON body limit', async () => {
        const data = bytes(4 * MIB + 123, 1);
        const digest = digestOf(data);
        expect(await yard.blobs.has(digest)).toBe(false);

        expect(await yard.blobs.put(digest, chunked(data))).toEqual({
          digest,
          size: data.length,
          created: true,
        });
        expect(await yard.blobs.has(digest)).toBe(true);
        expect(sameBytes(await yard.blobs.get(digest), data)).toBe(true);

        const head = await fetch(`${server.url}/api/v1/blobs/sha256/${digest.slice(7)}`, {
          method: 'HEAD',
        });
        expect(head.status).toBe(200);
        expect(head.headers.get('content-length')).toBe(String(data.length));
        const got = await fetch(`${server.url}/api/v1/blobs/sha256/${digest.slice(7)}`);
        expect(got.headers.get('content-type')).toBe('application/octet-stream');
        expect(got.headers.get('content-length')).toBe(String(data.length));
        await got.arrayBuffer();
        expect(await storedUnder(digest)).toEqual([
          `blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}`,
        ]);
      });

      it('takes a blob sent whole, and the empty blob', async () => {
        const data = new TextEncoder().encode('{"hello": "world"}');
        expect(await yard.blobs.put(digestOf(data), data)).toMatchObject({ created: true });
        expect(new TextDecoder().decode(await yard.blobs.get(digestOf(data)))).toBe(
          '{"hello": "world"}',
        );
        const empty = new Uint8Array(0);
        expect(await yard.blobs.put(digestOf(empty), empty)).toEqual({
          digest: digestOf(empty),
          size: 0,
          created: true,
        });
        expect((await yard.blobs.get(digestOf(empty))).length).toBe(0);
      });

      it('answers 200 created: false when the blob is put again, leaving it as it was', async () => {
        const data = bytes(300_000, 2);
        const digest = digestOf(data);
        await yard.blobs.put(digest, data);
        const response = await fetch(`${server.url}/api/v1/blobs/sha256/${digest.slice(7)}`, {
          method: 'PUT',
          body: data,
          headers: { 'content-type': 'application/json' },
        });
        expect(response.status).toBe(200);
        expect(await response.json()).toEqual({ digest, size: data.length, created: false });
        expect(await yard.blobs.put(digest, chunked(data))).toMatchObject({ created: false });
        expect(sameBytes(await yard.blobs.get(digest), data)).toBe(true);
      });

      it('refuses a body whose sha256 is not the named one, naming both, storing nothing', async () => {
        // 9 MiB: on S3 the store uploads it in parts, which must be aborted, not completed.
        for (const size of [1000, 9 * MIB]) {
          const data = bytes(size, 3);
          const claimed = digestOf(bytes(size, 4));
          const error = await failure(yard.blobs.put(claimed, chunked(data)));
          expect(error.status).toBe(400);
          expect(error.code).toBe('INVALID_PARAMETER_VALUE');
          expect(error.message).toContain(claimed);
          expect(error.message).toContain(digestOf(data));
          expect(await yard.blobs.has(claimed)).toBe(false);
          expect(await yard.blobs.has(digestOf(data))).toBe(false);
          expect(await storedUnder(claimed)).toEqual([]);
          expect(await backend.leftovers()).toEqual([]);
        }
      });

      it('refuses a wrong body for a blob it has, and keeps the stored one', async () => {
        const data = bytes(50_000, 5);
        const digest = digestOf(data);
        await yard.blobs.put(digest, data);
        const error = await failure(yard.blobs.put(digest, bytes(50_000, 6)));
        expect(error.status).toBe(400);
        expect(error.message).toContain(digest);
        expect(sameBytes(await yard.blobs.get(digest), data)).toBe(true);
      });

      it('stores one blob put by several clients at once, refusing the wrong bodies among them', async () => {
        const data = bytes(3 * MIB, 7);
        const digest = digestOf(data);
        const wrong = bytes(3 * MIB, 8);
        const results = await Promise.allSettled(
          Array.from({ length: 6 }, (_, i) =>
            yard.blobs.put(digest, i % 3 === 2 ? chunked(wrong) : chunked(data)),
          ),
        );
        const answers = results.map((r) =>
          r.status === 'fulfilled' ? r.value : (r.reason as unknown),
        );
        for (const [i, answer] of answers.entries()) {
          if (i % 3 === 2) {
            expect(answer).toBeInstanceOf(YardClientError);
            expect((answer as YardClientError).status).toBe(400);
          } else {
            expect(answer).toMatchObject({ digest, size: data.length });
          }
        }
        expect(answers.some((a) => (a as { created?: boolean }).created === true)).toBe(true);
        expect(sameBytes(await yard.blobs.get(digest), data)).toBe(true);
        expect(await storedUnder(digest)).toEqual([
          `blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}`,
        ]);
        expect(await backend.leftovers()).toEqual([]);
      });

      it('stores nothing when the client hangs up halfway through an upload', async () => {
        const data = bytes(12 * MIB, 15);
        const digest = digestOf(data);
        const request = httpRequest(`${server.url}/api/v1/blobs/sha256/${digest.slice(7)}`, {
          method: 'PUT',
          headers: { 'content-length': String(data.length) },
        });
        request.on('error', () => undefined);
        const until = async (done: () => Promise<boolean>, what: string) => {
          const deadline = Date.now() + 20_000;
          while (!(await done())) {
            if (Date.now() > deadline) throw new Error(`gave up waiting until ${what}`);
            await new Promise((resolve) => setTimeout(resolve, 25));
          }
        };
        // 9 MiB: past the first part of an S3 upload, so the store is mid-write either way.
        request.write(data.subarray(0, 9 * MIB));
        await until(async () => (await backend.leftovers()).length > 0, 'the store writes');
        request.destroy();
        // The server notices, fails the store write and cleans up; it keeps serving meanwhile.
        await until(async () => (await backend.leftovers()).length === 0, 'the write is dropped');
        expect(await yard.blobs.has(digest)).toBe(false);
        expect(await yard.blobs.put(digest, data)).toMatchObject({ created: true });
      });

      it('answers 404 for a missing blob and 400 for a malformed digest', async () => {
        const missing = `sha256:${'0'.repeat(64)}`;
        expect(await yard.blobs.has(missing)).toBe(false);
        const error = await failure(yard.blobs.get(missing));
        expect([error.status, error.code]).toEqual([404, 'RESOURCE_DOES_NOT_EXIST']);
        expect(error.message).toContain(missing);

        await expect(yard.blobs.put('sha256:abc', new Uint8Array(1))).rejects.toThrow(
          /64 lower-case hex digits/,
        );
        await expect(yard.blobs.has('ABC')).rejects.toThrow(/Invalid blob digest "ABC"/);
        for (const hex of ['abc', 'A'.repeat(64), `${'a'.repeat(64)}0`, 'g'.repeat(64)]) {
          for (const method of ['PUT', 'GET']) {
            const response = await fetch(`${server.url}/api/v1/blobs/sha256/${hex}`, {
              method,
              ...(method === 'PUT' && { body: 'x' }),
            });
            expect(response.status, `${method} ${hex}`).toBe(400);
            const body = (await response.json()) as { error_code: string; message: string };
            expect(body.error_code).toBe('INVALID_PARAMETER_VALUE');
            expect(body.message).toContain(`'${hex}'`);
            expect(body.message).toContain('64 lower-case hex digits');
          }
        }
      });
    });

    describe('run artifacts', () => {
      let runId: string;

      beforeAll(async () => {
        const experiment = await yard.experiments.create({ name: `artifacts-${randomUUID()}` });
        runId = (await yard.runs.create({ experimentId: experiment.experimentId })).info.runId;
      });

      it('uploads, lists and downloads files, streaming bodies over the JSON limit', async () => {
        const weights = bytes(2 * MIB + 5, 9);
        expect(
          await yard.runs.artifacts.upload(runId, 'model/weights.bin', chunked(weights)),
        ).toEqual({
          path: 'model/weights.bin',
          fileSize: weights.length,
          digest: digestOf(weights),
        });
        const report = new TextEncoder().encode('{"auc": 0.91}');
        await yard.runs.artifacts.upload(runId, './metrics//report.json', report);
        await yard.runs.artifacts.upload(runId, 'plots/roc.png', bytes(1000, 10));
        await yard.runs.artifacts.upload(runId, 'MLmodel', new TextEncoder().encode('flavors: {}'));

        const root = await yard.runs.artifacts.list(runId);
        expect(root.rootUri).toMatch(/^mlflow-artifacts:/);
        expect(root.files).toEqual([
          { path: 'MLmodel', isDir: false, fileSize: 11 },
          { path: 'metrics', isDir: true },
          { path: 'model', isDir: true },
          { path: 'plots', isDir: true },
        ]);
        expect((await yard.runs.artifacts.list(runId, 'model')).files).toEqual([
          { path: 'model/weights.bin', isDir: false, fileSize: weights.length },
        ]);
        expect((await yard.runs.artifacts.list(runId, 'missing/folder')).files).toEqual([]);

        expect(
          sameBytes(await yard.runs.artifacts.download(runId, 'model/weights.bin'), weights),
        ).toBe(true);
        expect(
          new TextDecoder().decode(
            await yard.runs.artifacts.download(runId, 'metrics/report.json'),
          ),
        ).toBe('{"auc": 0.91}');

        const content = (path: string) =>
          fetch(
            `${server.url}/api/v1/runs/${runId}/artifacts/content?path=${encodeURIComponent(path)}`,
          );
        const png = await content('plots/roc.png');
        expect(png.headers.get('content-type')).toBe('image/png');
        expect(png.headers.get('content-length')).toBe('1000');
        expect(png.headers.get('x-content-type-options')).toBe('nosniff');
        await png.arrayBuffer();
        const json = await content('metrics/report.json');
        expect(json.headers.get('content-type')).toBe('application/json; charset=utf-8');
        expect(await json.text()).toBe('{"auc": 0.91}');
        const model = await content('MLmodel');
        expect(model.headers.get('content-type')).toBe('application/yaml; charset=utf-8');
        await model.arrayBuffer();
        const bin = await content('model/weights.bin');
        expect(bin.headers.get('content-type')).toBe('application/octet-stream');
        await bin.arrayBuffer();

        // Replaced on a second upload.
        await yard.runs.artifacts.upload(runId, 'metrics/report.json', new Uint8Array([1, 2]));
        expect([...(await yard.runs.artifacts.download(runId, 'metrics/report.json'))]).toEqual([
          1, 2,
        ]);
      });

      it('refuses paths that escape the run, writing nothing', async () => {
        const before = await backend.store.list('');
        const escaping = [
          '../x.txt',
          '../../0/other-run/artifacts/x',
          'a/../../x',
          '/etc/passwd',
          '%2e%2e/x',
          'a%2f..%2f..%2fx',
          'a\\..\\..\\x',
          'C:/x',
        ];
        for (const path of escaping) {
          const upload = await failure(yard.runs.artifacts.upload(runId, path, bytes(10, 11)));
          expect([upload.status, upload.code], path).toEqual([400, 'INVALID_PARAMETER_VALUE']);
          expect(upload.message, path).toContain(JSON.stringify(path));
          const download = await failure(yard.runs.artifacts.download(runId, path));
          expect(download.status, path).toBe(400);
          const list = await failure(yard.runs.artifacts.list(runId, path));
          expect(list.status, path).toBe(400);
        }
        for (const root of ['', '.', './']) {
          const upload = await failure(yard.runs.artifacts.upload(runId, root, bytes(10, 11)));
          expect(upload.status, JSON.stringify(root)).toBe(400);
        }
        expect(await backend.store.list('')).toEqual(before);
      });

      it('answers 404 for an unknown run or file, and refuses uploads to a deleted run', async () => {
        const unknown = await failure(
          yard.runs.artifacts.upload(
            '0123456789abcdef0123456789abcdef',
            'x.bin',
            chunked(bytes(MIB, 12)),
          ),
        );
        expect([unknown.status, unknown.code]).toEqual([404, 'RESOURCE_DOES_NOT_EXIST']);
        const listUnknown = await failure(yard.runs.artifacts.list('nope'));
        expect(listUnknown.status).toBe(404);
        const missing = await failure(yard.runs.artifacts.download(runId, 'model/missing.bin'));
        expect([missing.status, missing.code]).toEqual([404, 'RESOURCE_DOES_NOT_EXIST']);
        expect(missing.message).toContain('model/missing.bin');
        const folder = await failure(yard.runs.artifacts.download(runId, 'model'));
        expect(folder.status).toBe(404);

        const experiment = await yard.experiments.create({ name: `deleted-${randomUUID()}` });
        const run = await yard.runs.create({ experimentId: experiment.experimentId });
        await yard.runs.delete(run.info.runId);
        const deleted = await failure(
          yard.runs.artifacts.upload(run.info.runId, 'x.txt', bytes(10, 13)),
        );
        expect(deleted.status).toBe(400);
        expect(deleted.message).toMatch(/is deleted; restore it/);
      });

      it('refuses runs whose artifacts the server does not proxy, naming their URI', async () => {
        const experiment = await yard.experiments.create({
          name: `elsewhere-${randomUUID()}`,
          artifactLocation: 's3://another-bucket/somewhere',
        });
        const run = await yard.runs.create({ experimentId: experiment.experimentId });
        for (const call of [
          () => yard.runs.artifacts.list(run.info.runId),
          () => yard.runs.artifacts.download(run.info.runId, 'x.txt'),
          () => yard.runs.artifacts.upload(run.info.runId, 'x.txt', bytes(10, 14)),
        ]) {
          const error = await failure(call());
          expect(error.status).toBe(400);
          expect(error.message).toContain('s3://another-bucket/somewhere');
          expect(error.message).toContain('mlflow-artifacts:');
        }
      });
    });
  });
}

describe('pipeline cache over HTTP', () => {
  let backend: Backend;
  let server: Awaited<ReturnType<typeof startServer>>;
  let yard: YardClient;

  beforeAll(async () => {
    backend = await localBackend();
    server = await startServer(backend);
    yard = createClient({ baseUrl: server.url });
  });
  afterAll(async () => {
    await server.close();
    await backend.dispose();
  });

  const key = (n: number) => createHash('sha256').update(`step-${n}`).digest('hex');
  const digest = (n: number) => `sha256:${createHash('sha256').update(`out-${n}`).digest('hex')}`;

  it('writes, reads, replaces and deletes an entry', async () => {
    expect(await yard.pipelineCache.get(key(1))).toBeUndefined();
    const before = Date.now();
    const put = await yard.pipelineCache.put(key(1), {
      outputDigest: digest(1),
      metadata: { serializer: 'json', shape: [2, 3] },
      pipelineRunId: 'run-1',
      stepName: 'train',
    });
    expect(put).toEqual({
      key: key(1),
      outputDigest: digest(1),
      metadata: { serializer: 'json', shape: [2, 3] },
      pipelineRunId: 'run-1',
      stepName: 'train',
      scope: null,
      createdAt: put.createdAt,
    });
    expect(put.createdAt).toBeGreaterThanOrEqual(before);
    expect(await yard.pipelineCache.get(key(1))).toEqual(put);

    const replaced = await yard.pipelineCache.put(key(1), {
      outputDigest: digest(2),
      pipelineRunId: 'run-2',
      stepName: 'train',
    });
    expect(replaced).toMatchObject({
      outputDigest: digest(2),
      metadata: {},
      pipelineRunId: 'run-2',
    });
    expect(replaced.createdAt).toBeGreaterThanOrEqual(put.createdAt);
    expect(await yard.pipelineCache.get(key(1))).toEqual(replaced);

    await yard.pipelineCache.delete(key(1));
    expect(await yard.pipelineCache.get(key(1))).toBeUndefined();
    await yard.pipelineCache.delete(key(1));
  });

  it('with requireOutput, answers a hit only while its output blob exists', async () => {
    const bytes = Buffer.from('out-blob-3');
    const stored = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    await yard.pipelineCache.put(key(3), {
      outputDigest: stored,
      pipelineRunId: 'r',
      stepName: 's',
    });
    // The entry exists, its blob does not yet.
    expect(await yard.pipelineCache.get(key(3))).toMatchObject({ outputDigest: stored });
    expect(await yard.pipelineCache.get(key(3), { requireOutput: true })).toBeUndefined();
    const response = await fetch(
      `${server.url}/api/v1/pipeline-cache/${key(3)}?requireOutput=true`,
    );
    expect(response.status).toBe(404);
    expect(((await response.json()) as { message: string }).message).toContain(stored);
    await yard.blobs.put(stored, bytes);
    expect(await yard.pipelineCache.get(key(3), { requireOutput: true })).toMatchObject({
      outputDigest: stored,
    });
    const bad = await fetch(`${server.url}/api/v1/pipeline-cache/${key(3)}?requireOutput=maybe`);
    expect(bad.status).toBe(400);
  });

  it('looks up the entries of several scopes in one request, keeping those whose blob exists', async () => {
    const scope = (n: number) => createHash('sha256').update(`scope-${n}`).digest('hex');
    const blob = (n: number) => Buffer.from(`lookup-blob-${n}`);
    const blobDigest = (n: number) =>
      `sha256:${createHash('sha256').update(blob(n)).digest('hex')}`;
    for (const n of [10, 11, 12, 13]) {
      await yard.pipelineCache.put(key(n), {
        outputDigest: blobDigest(n),
        pipelineRunId: `run-${n}`,
        stepName: `step-${n}`,
        scope: scope(n === 13 ? 99 : n % 2),
      });
    }
    await yard.blobs.put(blobDigest(10), blob(10));
    await yard.blobs.put(blobDigest(11), blob(11));
    await yard.blobs.put(blobDigest(13), blob(13));

    const all = await yard.pipelineCache.lookup([scope(0), scope(1)]);
    expect(all.complete).toBe(true);
    expect(all.entries.map((e) => e.key).sort()).toEqual([key(10), key(11), key(12)].sort());
    expect(all.entries.find((e) => e.key === key(11))).toMatchObject({
      outputDigest: blobDigest(11),
      pipelineRunId: 'run-11',
      stepName: 'step-11',
      scope: scope(1),
    });
    // key(12)'s blob was never stored.
    const live = await yard.pipelineCache.lookup([scope(0), scope(1)], { requireOutput: true });
    expect(live.entries.map((e) => e.key).sort()).toEqual([key(10), key(11)].sort());
    expect(await yard.pipelineCache.lookup([scope(7)])).toEqual({ entries: [], complete: true });
  });

  it('refuses a bulk lookup with a malformed scope, naming it, or with no scopes', async () => {
    const bad = await failure(yard.pipelineCache.lookup([key(1), 'nope']));
    expect([bad.status, bad.code]).toEqual([400, 'INVALID_PARAMETER_VALUE']);
    expect(bad.message).toContain("'nope' for 'scopes[1]'");
    const empty = await failure(yard.pipelineCache.lookup([]));
    expect(empty.status).toBe(400);
    expect(empty.message).toContain('1 to 1000');
    const many = await failure(
      yard.pipelineCache.lookup(Array.from({ length: 1001 }, (_, i) => key(i))),
    );
    expect(many.message).toContain('1001 scopes');
  });

  it('answers a miss as 404 RESOURCE_DOES_NOT_EXIST naming the key', async () => {
    const response = await fetch(`${server.url}/api/v1/pipeline-cache/${key(404)}`);
    expect(response.status).toBe(404);
    const body = (await response.json()) as { error_code: string; message: string };
    expect(body.error_code).toBe('RESOURCE_DOES_NOT_EXIST');
    expect(body.message).toContain(key(404));
  });

  it('refuses malformed keys, digests and bodies with 400 and a clear message', async () => {
    for (const bad of ['abc', key(1).toUpperCase(), `${key(1)}0`, `sha256:${key(1)}`]) {
      for (const call of [
        () => yard.pipelineCache.get(bad),
        () =>
          yard.pipelineCache.put(bad, {
            outputDigest: digest(1),
            pipelineRunId: 'r',
            stepName: 's',
          }),
        () => yard.pipelineCache.delete(bad),
      ]) {
        const error = await failure(call());
        expect([error.status, error.code], bad).toEqual([400, 'INVALID_PARAMETER_VALUE']);
        expect(error.message).toContain('64 lower-case hex digits');
      }
    }
    const badDigest = await failure(
      yard.pipelineCache.put(key(2), {
        outputDigest: 'md5:abc',
        pipelineRunId: 'r',
        stepName: 's',
      }),
    );
    expect(badDigest.status).toBe(400);
    expect(badDigest.message).toMatch(/'md5:abc' for 'outputDigest'.*sha256:/);
    const missingStep = await failure(
      yard.pipelineCache.put(key(2), {
        outputDigest: digest(1),
        pipelineRunId: 'r',
      } as unknown as Parameters<YardClient['pipelineCache']['put']>[1]),
    );
    expect(missingStep.message).toMatch(/Missing required field 'stepName'/);
    const arrayMetadata = await failure(
      yard.pipelineCache.put(key(2), {
        outputDigest: digest(1),
        pipelineRunId: 'r',
        stepName: 's',
        metadata: [1] as unknown as Record<string, unknown>,
      }),
    );
    expect(arrayMetadata.status).toBe(400);
    expect(await yard.pipelineCache.get(key(2))).toBeUndefined();
  });

  it('documents the new routes in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { operationId?: string }>>;
    };
    const operations = (path: string) => Object.keys(doc.paths[path] ?? {}).sort();
    expect(operations('/api/v1/blobs/sha256/{hex}')).toEqual(['get', 'put']);
    expect(operations('/api/v1/pipeline-cache/{key}')).toEqual(['delete', 'get', 'put']);
    expect(operations('/api/v1/pipeline-cache/lookup')).toEqual(['post']);
    expect(operations('/api/v1/pipeline-step-runs')).toEqual(['post']);
    expect(operations('/api/v1/runs/{runId}/artifacts')).toEqual(['get']);
    expect(operations('/api/v1/runs/{runId}/artifacts/content')).toEqual(['get', 'put']);
  });
});

describe('pipeline step runs over HTTP', () => {
  let backend: Backend;
  let server: Awaited<ReturnType<typeof startServer>>;
  let yard: YardClient;
  let experimentId: string;

  beforeAll(async () => {
    backend = await localBackend();
    server = await startServer(backend);
    yard = createClient({ baseUrl: server.url });
    experimentId = (await yard.experiments.create({ name: 'pipeline-step-runs' })).experimentId;
  });
  afterAll(async () => {
    await server.close();
    await backend.dispose();
  });

  const newRunId = () => randomUUID().replaceAll('-', '');
  const key = (n: number) => createHash('sha256').update(`step-run-${n}`).digest('hex');
  const digest = (n: number) => `sha256:${createHash('sha256').update(`out-${n}`).digest('hex')}`;

  interface MlflowRun {
    info: {
      run_id: string;
      run_name: string;
      experiment_id: string;
      status: string;
      start_time: number;
      end_time?: number;
      lifecycle_stage: string;
    };
    data: { tags?: { key: string; value: string }[] };
  }

  /** The run as the MLflow REST API shows it, or the HTTP status when it answers an error. */
  const mlflowRun = async (runId: string): Promise<MlflowRun | number> => {
    const response = await fetch(`${server.url}/api/2.0/mlflow/runs/get?run_id=${runId}`);
    if (!response.ok) return response.status;
    return ((await response.json()) as { run: MlflowRun }).run;
  };
  const tagsOf = (run: MlflowRun | number) =>
    typeof run === 'number'
      ? {}
      : Object.fromEntries((run.data.tags ?? []).map((t) => [t.key, t.value]));

  /** POSTs `body` as it is (no client-side typing), answering the status and the JSON error. */
  const post = async (body: unknown) => {
    const response = await fetch(`${server.url}/api/v1/pipeline-step-runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: (text === '' ? {} : JSON.parse(text)) as { error_code?: string; message?: string },
    };
  };

  it('stores outputs carried inline as blobs with the records, and refuses a wrong digest whole', async () => {
    const bytes = Buffer.from(JSON.stringify({ inline: true, n: 42 }));
    const inlineDigest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const [a, b] = [newRunId(), newRunId()];
    await yard.stepRuns.record([
      {
        runId: a,
        experimentId,
        runName: 'inline',
        startTime: 1_000,
        endTime: 1_001,
        status: 'FINISHED',
        cache: {
          key: key(70),
          outputDigest: inlineDigest,
          pipelineRunId: 'p',
          stepName: 'inline',
          scope: key(71),
        },
        output: { digest: inlineDigest, data: bytes.toString('base64') },
      },
    ]);
    expect(Buffer.from(await yard.blobs.get(inlineDigest))).toEqual(bytes);
    expect(await yard.pipelineCache.lookup([key(71)], { requireOutput: true })).toMatchObject({
      entries: [{ key: key(70), outputDigest: inlineDigest }],
    });

    const other = Buffer.from('not what the digest says');
    const refused = await post({
      records: [
        { runId: b, experimentId, runName: 'ok', startTime: 1, status: 'RUNNING' },
        {
          runId: b,
          experimentId,
          runName: 'ok',
          startTime: 1,
          status: 'FINISHED',
          output: { digest: digest(72), data: other.toString('base64') },
        },
      ],
    });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toContain('records[1]');
    expect(refused.body.message).toContain(digest(72));
    expect(await mlflowRun(b)).toBe(404);
    const otherDigest = `sha256:${createHash('sha256').update(other).digest('hex')}`;
    expect(await yard.blobs.has(otherDigest)).toBe(false);

    const badBase64 = await post({
      records: [
        {
          runId: b,
          experimentId,
          runName: 'ok',
          startTime: 1,
          status: 'FINISHED',
          output: { digest: digest(73), data: 'not base64!' },
        },
      ],
    });
    expect(badBase64.status).toBe(400);
    expect(badBase64.body.message).toContain('records[0].output.data');
  });

  it('creates runs visible through the MLflow API, then finishes them, writing cache entries', async () => {
    const [a, b] = [newRunId(), newRunId()];
    const parent = newRunId();
    await yard.stepRuns.record([
      {
        runId: a,
        experimentId,
        runName: 'load',
        startTime: 1_000,
        status: 'RUNNING',
        tags: [{ key: 'mlflow.parentRunId', value: parent }],
      },
      {
        runId: b,
        experimentId,
        runName: 'train',
        startTime: 1_005,
        status: 'RUNNING',
        tags: [{ key: 'mlflow.parentRunId', value: parent }],
      },
    ]);
    const running = await mlflowRun(a);
    expect(running).toMatchObject({
      info: {
        run_id: a,
        run_name: 'load',
        experiment_id: experimentId,
        status: 'RUNNING',
        start_time: 1_000,
        lifecycle_stage: 'active',
      },
    });
    expect(typeof running === 'object' ? running.info.end_time : 'gone').toBeUndefined();
    expect(tagsOf(running)).toEqual({ 'mlflow.runName': 'load', 'mlflow.parentRunId': parent });

    await yard.stepRuns.record([
      {
        runId: a,
        experimentId,
        runName: 'load',
        startTime: 1_000,
        endTime: 2_000,
        status: 'FINISHED',
        tags: [{ key: 'outcome', value: 'computed' }],
        cache: {
          key: key(1),
          outputDigest: digest(1),
          metadata: { serializer: 'json' },
          pipelineRunId: parent,
          stepName: 'load',
        },
      },
      {
        runId: b,
        experimentId,
        runName: 'train',
        startTime: 1_005,
        endTime: 2_500,
        status: 'FAILED',
      },
    ]);
    expect(await mlflowRun(a)).toMatchObject({
      info: { status: 'FINISHED', start_time: 1_000, end_time: 2_000, run_name: 'load' },
    });
    expect(tagsOf(await mlflowRun(a))).toMatchObject({
      outcome: 'computed',
      'mlflow.parentRunId': parent,
    });
    expect(await mlflowRun(b)).toMatchObject({ info: { status: 'FAILED', end_time: 2_500 } });
    expect(await yard.pipelineCache.get(key(1))).toMatchObject({
      key: key(1),
      outputDigest: digest(1),
      metadata: { serializer: 'json' },
      pipelineRunId: parent,
      stepName: 'load',
    });
    const found = await yard.runs.search({
      experimentIds: [experimentId],
      filter: `tags.mlflow.parentRunId = '${parent}'`,
    });
    expect(found.runs.map((r) => r.info.runId).sort()).toEqual([a, b].sort());
  });

  it('answers 204 and applies two records of one run in order', async () => {
    const id = newRunId();
    const record = { runId: id, experimentId, runName: 'once', startTime: 10 };
    const answer = await post({
      records: [
        { ...record, status: 'RUNNING', tags: [{ key: 'k', value: '1' }] },
        { ...record, status: 'FINISHED', endTime: 20, tags: [{ key: 'k', value: '2' }] },
      ],
    });
    expect(answer.status).toBe(204);
    expect(await mlflowRun(id)).toMatchObject({ info: { status: 'FINISHED', end_time: 20 } });
    expect(tagsOf(await mlflowRun(id))).toMatchObject({ k: '2' });
  });

  it('refuses bad records with 400 naming the record index and value, writing nothing', async () => {
    const good = newRunId();
    const first = {
      runId: good,
      experimentId,
      runName: 'ok',
      startTime: 1,
      status: 'RUNNING',
      cache: { key: key(2), outputDigest: digest(2), pipelineRunId: 'p', stepName: 'ok' },
    };
    const second = {
      runId: newRunId(),
      experimentId,
      runName: 'bad',
      startTime: 1,
      status: 'RUNNING',
    };
    const cases: [unknown, string[]][] = [
      [
        { records: [first, { ...second, runId: 'NOT-A-RUN-ID' }] },
        ['records[1].runId', 'NOT-A-RUN-ID'],
      ],
      [{ records: [first, { ...second, status: 'DONE' }] }, ['records[1].status', 'DONE']],
      [
        { records: [first, { ...second, tags: [{ key: 'k', value: 7 }] }] },
        ['records[1].tags[0].value', '7'],
      ],
      // Records without cache entries, so that the body stays under the test server's limit.
      [{ records: Array.from({ length: 1001 }, () => second) }, ['1001 records', '1000']],
      [{ records: [] }, ['0 records']],
      [{}, ['expected an array']],
    ];
    for (const [body, parts] of cases) {
      const answer = await post(body);
      expect([answer.status, answer.body.error_code], parts[0]).toEqual([
        400,
        'INVALID_PARAMETER_VALUE',
      ]);
      for (const part of parts) expect(answer.body.message).toContain(part);
    }
    expect(await mlflowRun(good)).toBe(404);
    expect(await yard.pipelineCache.get(key(2))).toBeUndefined();
  });

  it('refuses an unknown experiment with 404 naming it and the record, writing nothing', async () => {
    const good = newRunId();
    const answer = await post({
      records: [
        {
          runId: good,
          experimentId,
          runName: 'ok',
          startTime: 1,
          status: 'RUNNING',
          cache: { key: key(3), outputDigest: digest(3), pipelineRunId: 'p', stepName: 'ok' },
        },
        {
          runId: newRunId(),
          experimentId: '987654',
          runName: 'x',
          startTime: 1,
          status: 'RUNNING',
        },
      ],
    });
    expect([answer.status, answer.body.error_code]).toEqual([404, 'RESOURCE_DOES_NOT_EXIST']);
    expect(answer.body.message).toContain('987654');
    expect(answer.body.message).toContain('records[1]');
    expect(await mlflowRun(good)).toBe(404);
    expect(await yard.pipelineCache.get(key(3))).toBeUndefined();
    const viaClient = await failure(
      yard.stepRuns.record([
        {
          runId: newRunId(),
          experimentId: '987654',
          runName: 'x',
          startTime: 1,
          status: 'RUNNING',
        },
      ]),
    );
    expect([viaClient.status, viaClient.code]).toEqual([404, 'RESOURCE_DOES_NOT_EXIST']);
  });

  it('documents the route in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { operationId?: string; summary?: string }>>;
    };
    const post = doc.paths['/api/v1/pipeline-step-runs']?.['post'];
    expect(post?.operationId).toBe('recordPipelineStepRuns');
    expect(post?.summary).toBe('Record a batch of pipeline step runs');
  });
});

import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { InvalidParameterError, NotFoundError } from '@modelyard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drain, runArtifactStoreContract } from './artifact-store.contract.js';
import { createArtifactStore } from './create-artifact-store.js';
import { S3ArtifactStore, parseS3Uri, s3OptionsFromEnv } from './s3-artifact-store.js';

const endpoint = process.env['MODELYARD_TEST_S3_URL'];
if (endpoint === undefined || endpoint === '') {
  console.warn(
    '!!! MODELYARD_TEST_S3_URL is not set: SKIPPING the S3 artifact store tests. ' +
      'Point it at an S3-compatible server (e.g. moto_server) to run them.',
  );
}

const credentials = {
  accessKeyId: process.env['AWS_ACCESS_KEY_ID'] ?? 'test',
  secretAccessKey: process.env['AWS_SECRET_ACCESS_KEY'] ?? 'test',
};
const region = 'us-east-1';
/** One bucket per test run; each test works under its own prefix. */
const bucket = `modelyard-test-${randomUUID()}`;
let client: S3Client | undefined;

async function admin(): Promise<S3Client> {
  if (client === undefined) {
    client = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  }
  return client;
}

function storeAt(prefix: string, options: { pageSize?: number } = {}): S3ArtifactStore {
  return new S3ArtifactStore({ bucket, prefix, endpoint, region, credentials, ...options });
}

async function keysUnder(prefix: string): Promise<string[]> {
  const page = await (
    await admin()
  ).send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (page.Contents ?? []).map((object) => object.Key ?? '');
}

function text(value: string): Readable {
  return Readable.from([Buffer.from(value)]);
}

describe.skipIf(endpoint === undefined || endpoint === '')('S3ArtifactStore', () => {
  afterAll(async () => {
    if (client === undefined) return;
    const everything = new S3ArtifactStore({ bucket, endpoint, region, credentials });
    await everything.delete('');
    await everything.close();
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    client.destroy();
  });

  runArtifactStoreContract('S3', async () => {
    await admin();
    const store = storeAt(`contract/${randomUUID()}`);
    const unreachable = new S3ArtifactStore({
      bucket,
      endpoint: 'http://127.0.0.1:9',
      region,
      credentials,
      maxAttempts: 1,
    });
    return {
      store,
      unreachable,
      dispose: async () => {
        await store.delete('');
        await store.close();
        await unreachable.close();
      },
    };
  });

  describe('beyond the contract', () => {
    beforeAll(async () => {
      await admin();
    });

    it('keeps each store under its own prefix, even when prefixes share a beginning', async () => {
      const base = `prefixes/${randomUUID()}`;
      const first = storeAt(`${base}/p`);
      const second = storeAt(`${base}/p2`);
      await first.put('a.txt', text('a'));
      await second.put('b.txt', text('b'));
      expect(await keysUnder(`${base}/`)).toEqual([`${base}/p/a.txt`, `${base}/p2/b.txt`]);
      expect(await first.list('')).toEqual([{ path: 'a.txt', isDir: false, size: 1 }]);
      await first.delete('');
      expect(await keysUnder(`${base}/`)).toEqual([`${base}/p2/b.txt`]);
      await second.delete('');
      await Promise.all([first.close(), second.close()]);
    });

    it('follows list pages and deletes in batches', async () => {
      const store = storeAt(`paging/${randomUUID()}`, { pageSize: 2 });
      const files = ['f1', 'f2', 'f3', 'f4', 'f5'].map((name) => `top/${name}.txt`);
      const folders = ['d1', 'd2', 'd3'].map((name) => `top/${name}/inner.txt`);
      for (const path of [...files, ...folders]) await store.put(path, text(path));

      const listed = await store.list('top');
      expect(listed.map((entry) => entry.path)).toEqual(['top/d1', 'top/d2', 'top/d3', ...files]);
      expect(listed.filter((entry) => entry.isDir)).toHaveLength(3);

      await store.delete('top');
      expect(await store.list('top')).toEqual([]);
      expect(await keysUnder(`${store.prefix}/`)).toEqual([]);
      await store.close();
    });

    it('leaves out folder markers and keys that are not valid artifact paths', async () => {
      const prefix = `odd/${randomUUID()}`;
      const s3 = await admin();
      for (const key of ['dir/', 'dir/ok.txt', 'dir//double.txt', 'dir/../up.txt']) {
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${key}`, Body: 'x' }));
      }
      const store = storeAt(prefix);
      expect(await store.list('')).toEqual([{ path: 'dir', isDir: true, size: undefined }]);
      expect(await store.list('dir')).toEqual([{ path: 'dir/ok.txt', isDir: false, size: 1 }]);
      await store.delete('');
      expect(await keysUnder(`${prefix}/`)).toEqual([]);
      await store.close();
    });

    it('reports a missing bucket as NotFoundError naming the bucket', async () => {
      const store = new S3ArtifactStore({
        bucket: `modelyard-missing-${randomUUID()}`,
        endpoint,
        region,
        credentials,
      });
      await expect(store.get('a.txt')).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.put('a.txt', text('x'))).rejects.toThrow(/bucket 'modelyard-missing-/);
      await store.close();
    });

    it('is what createArtifactStore opens for s3:// destinations, using the endpoint variables', async () => {
      for (const variable of ['MODELYARD_S3_ENDPOINT_URL', 'MLFLOW_S3_ENDPOINT_URL']) {
        const prefix = `factory/${randomUUID()}`;
        const store = createArtifactStore(`s3://${bucket}/${prefix}/`, {
          [variable]: endpoint,
          AWS_REGION: region,
        });
        expect(store).toBeInstanceOf(S3ArtifactStore);
        await store.put('hello.txt', text('hello'));
        expect((await drain((await store.get('hello.txt')).body)).text).toBe('hello');
        expect(await keysUnder(`${prefix}/`)).toEqual([`${prefix}/hello.txt`]);
        await store.delete('');
        await store.close();
      }
    });
  });
});

describe('parseS3Uri', () => {
  it.each([
    ['s3://bucket', { bucket: 'bucket', prefix: '' }],
    ['s3://bucket/', { bucket: 'bucket', prefix: '' }],
    ['s3://my.bucket-1/some/prefix', { bucket: 'my.bucket-1', prefix: 'some/prefix' }],
    ['s3://bucket/some//prefix/', { bucket: 'bucket', prefix: 'some/prefix' }],
  ])('parses %s', (uri, expected) => {
    expect(parseS3Uri(uri)).toEqual(expected);
  });

  it.each([
    's3://',
    's3:///prefix',
    's3://b/prefix',
    's3://bucket name/x',
    's3://bucket/../x',
    's3://bucket/a/%2e%2e/x',
    's3://bucket/x?versionId=1',
    's3:/bucket',
  ])('refuses %s', (uri) => {
    expect(() => parseS3Uri(uri)).toThrow(InvalidParameterError);
  });
});

describe('s3OptionsFromEnv', () => {
  it('prefers MODELYARD_S3_ENDPOINT_URL over MLFLOW_S3_ENDPOINT_URL', () => {
    expect(
      s3OptionsFromEnv({
        MODELYARD_S3_ENDPOINT_URL: 'http://ours:9000',
        MLFLOW_S3_ENDPOINT_URL: 'http://mlflow:9000',
      }).endpoint,
    ).toBe('http://ours:9000');
    expect(s3OptionsFromEnv({ MLFLOW_S3_ENDPOINT_URL: 'http://mlflow:9000' }).endpoint).toBe(
      'http://mlflow:9000',
    );
  });

  it('leaves endpoint and region to the defaults when unset', () => {
    expect(s3OptionsFromEnv({})).toEqual({ endpoint: undefined, region: undefined });
    expect(s3OptionsFromEnv({ AWS_DEFAULT_REGION: 'eu-west-1' }).region).toBe('eu-west-1');
  });
});

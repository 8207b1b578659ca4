import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { InvalidParameterError, NotFoundError } from '@modelyard/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { drain, generatedBody, runArtifactStoreContract } from './artifact-store.contract.js';
import { LOCAL_STAGING_FOLDER, LocalArtifactStore } from './local-artifact-store.js';

async function temporaryFolder(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'modelyard-artifacts-'));
}

runArtifactStoreContract('local folder', async () => {
  const folder = await temporaryFolder();
  // A root below a regular file: every filesystem call on it fails with ENOTDIR.
  await writeFile(join(folder, 'a-file'), 'x');
  return {
    store: new LocalArtifactStore(join(folder, 'root')),
    unreachable: new LocalArtifactStore(join(folder, 'a-file', 'root')),
    dispose: () => rm(folder, { recursive: true, force: true }),
  };
});

/** A body that yields some bytes and then fails, like a client that disconnects mid-upload. */
function failingBody(): Readable {
  return Readable.from(
    (async function* () {
      yield Buffer.from('partial bytes');
      await Promise.resolve();
      throw new Error('client went away');
    })(),
  );
}

describe('LocalArtifactStore', () => {
  let folder: string;
  let store: LocalArtifactStore;

  beforeEach(async () => {
    folder = await temporaryFolder();
    store = new LocalArtifactStore(join(folder, 'root'));
  });

  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('writes plain files under the root folder', async () => {
    await store.put('run/metrics.json', Readable.from([Buffer.from('{"a":1}')]));
    expect(await readFile(join(folder, 'root', 'run', 'metrics.json'), 'utf8')).toBe('{"a":1}');
  });

  it('keeps the previous content and leaves no staging file when a write fails midway', async () => {
    await store.put('model.bin', Readable.from([Buffer.from('good')]));
    await expect(store.put('model.bin', failingBody())).rejects.toThrow('client went away');
    expect((await drain((await store.get('model.bin')).body)).text).toBe('good');
    expect(await readdir(join(folder, 'root', LOCAL_STAGING_FOLDER, 'tmp'))).toEqual([]);
  });

  it('hides its staging folder from listings and refuses it as a path', async () => {
    const uploadId = await store.createMultipartUpload('big.bin');
    await store.uploadPart('big.bin', uploadId, 1, generatedBody(1000));
    expect(await store.list('')).toEqual([]);
    for (const path of [
      LOCAL_STAGING_FOLDER,
      `${LOCAL_STAGING_FOLDER}/tmp/x`,
      `./${LOCAL_STAGING_FOLDER}`,
    ]) {
      await expect(store.put(path, Readable.from([]))).rejects.toBeInstanceOf(
        InvalidParameterError,
      );
      await expect(store.list(path)).rejects.toBeInstanceOf(InvalidParameterError);
      await expect(store.delete(path)).rejects.toBeInstanceOf(InvalidParameterError);
    }
    // Deleting the whole store keeps uploads in flight.
    await store.delete('');
    const part = await store.uploadPart('big.bin', uploadId, 2, generatedBody(10));
    expect(part.partNumber).toBe(2);
  });

  it('removes the staging folder of a completed or aborted upload', async () => {
    const uploads = join(folder, 'root', LOCAL_STAGING_FOLDER, 'uploads');
    const done = await store.createMultipartUpload('done.bin');
    const part = await store.uploadPart('done.bin', done, 1, generatedBody(100));
    const dropped = await store.createMultipartUpload('dropped.bin');
    expect((await readdir(uploads)).sort()).toEqual([done, dropped].sort());
    await store.completeMultipartUpload('done.bin', done, [part]);
    await store.abortMultipartUpload('dropped.bin', dropped);
    expect(await readdir(uploads)).toEqual([]);
  });

  it('treats an upload id used with another path, or not of its own making, as unknown', async () => {
    const uploadId = await store.createMultipartUpload('one.bin');
    await expect(
      store.uploadPart('two.bin', uploadId, 1, Readable.from([Buffer.from('x')])),
    ).rejects.toBeInstanceOf(NotFoundError);
    for (const bad of ['../../etc', 'not-an-id', '', `${uploadId}/..`]) {
      await expect(store.abortMultipartUpload('one.bin', bad)).rejects.toBeInstanceOf(
        NotFoundError,
      );
    }
  });

  it('refuses to complete with a part that was not uploaded or an etag it did not issue', async () => {
    const uploadId = await store.createMultipartUpload('p.bin');
    const part = await store.uploadPart('p.bin', uploadId, 1, generatedBody(10));
    expect(part.etag).toMatch(/^[0-9a-f]{32}$/);
    for (const parts of [
      [{ partNumber: 2, etag: part.etag }],
      [{ partNumber: 1, etag: 'f'.repeat(32) }],
      [{ partNumber: 1, etag: '../../../x' }],
    ]) {
      await expect(store.completeMultipartUpload('p.bin', uploadId, parts)).rejects.toBeInstanceOf(
        InvalidParameterError,
      );
    }
    // The quoted form S3 clients pass around is accepted too.
    await store.completeMultipartUpload('p.bin', uploadId, [
      { partNumber: 1, etag: `"${part.etag}"` },
    ]);
    expect((await store.get('p.bin')).size).toBe(10);
  });

  it('refuses to write a file where a folder is, or below a file', async () => {
    await store.put('a/b.txt', Readable.from([Buffer.from('x')]));
    await expect(store.put('a', Readable.from([Buffer.from('y')]))).rejects.toBeInstanceOf(
      InvalidParameterError,
    );
    await expect(store.put('a/b.txt/c', Readable.from([Buffer.from('y')]))).rejects.toBeInstanceOf(
      InvalidParameterError,
    );
  });

  it('does not create the root folder until the first write', async () => {
    expect(await store.list('')).toEqual([]);
    await store.delete('anything');
    expect(await readdir(folder)).toEqual([]);
  });
});

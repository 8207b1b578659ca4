import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidParameterError } from '@modelyard/core';
import {
  ArtifactDigestMismatchError,
  combineFileDigests,
  computeArtifactDigest,
  listFileDigests,
  verifyDigest,
} from './artifact-digest.js';

const sha256 = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex');

describe('artifact digests', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'yard-digest-'));
    await writeFile(join(dir, 'MLmodel'), 'flavors:\n  onnx: {data: model.onnx}\n');
    await writeFile(join(dir, 'model.onnx'), Buffer.from([0, 1, 2, 3, 255]));
    await mkdir(join(dir, 'data', 'nested'), { recursive: true });
    await writeFile(join(dir, 'data', 'nested', 'weights.bin'), Buffer.alloc(3 * 1024 * 1024, 7));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is the sha256 of the sorted sha256sum-style manifest of the files', async () => {
    const files = await listFileDigests(dir);
    expect(files.map((f) => f.path)).toEqual(['MLmodel', 'data/nested/weights.bin', 'model.onnx']);
    expect(files[2]?.sha256).toBe(sha256(Buffer.from([0, 1, 2, 3, 255])));
    const manifest = files.map((f) => `${f.sha256}  ${f.path}\n`).join('');
    expect(await computeArtifactDigest(dir)).toBe(sha256(manifest));
  });

  it('is stable across calls and copies, and independent of listing order', async () => {
    const first = await computeArtifactDigest(dir);
    expect(await computeArtifactDigest(dir)).toBe(first);
    const files = await listFileDigests(dir);
    expect(combineFileDigests([...files].reverse())).toBe(first);

    const copy = await mkdtemp(join(tmpdir(), 'yard-digest-copy-'));
    try {
      for (const file of ['model.onnx', 'MLmodel']) {
        await writeFile(join(copy, file), await readFile(join(dir, file)));
      }
      await mkdir(join(copy, 'data', 'nested'), { recursive: true });
      await writeFile(
        join(copy, 'data', 'nested', 'weights.bin'),
        await readFile(join(dir, 'data', 'nested', 'weights.bin')),
      );
      expect(await computeArtifactDigest(copy)).toBe(first);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  it('changes when one byte of one file changes, or a file is renamed', async () => {
    const before = await computeArtifactDigest(dir);
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    big[2 * 1024 * 1024 + 17] = 8;
    await writeFile(join(dir, 'data', 'nested', 'weights.bin'), big);
    const changed = await computeArtifactDigest(dir);
    expect(changed).not.toBe(before);

    const files = await listFileDigests(dir);
    const renamed = files.map((f) => (f.path === 'model.onnx' ? { ...f, path: 'model2.onnx' } : f));
    expect(combineFileDigests(renamed)).not.toBe(changed);
  });

  it('verifies a matching digest with or without the sha256: prefix', async () => {
    const digest = await computeArtifactDigest(dir);
    await expect(verifyDigest(dir, digest)).resolves.toBe(digest);
    await expect(verifyDigest(dir, `sha256:${digest.toUpperCase()}`)).resolves.toBe(digest);
  });

  it('refuses a mismatch, naming both digests', async () => {
    const recorded = await computeArtifactDigest(dir);
    await writeFile(join(dir, 'model.onnx'), Buffer.from([0, 1, 2, 3, 254]));
    const actual = await computeArtifactDigest(dir);
    const error = await verifyDigest(dir, recorded).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArtifactDigestMismatchError);
    const mismatch = error as ArtifactDigestMismatchError;
    expect(mismatch.message).toBe(
      `Model files at ${dir} have digest sha256:${actual}, but the registry recorded ` +
        `sha256:${recorded}; refusing to load an artifact that changed after registration.`,
    );
    expect(mismatch.code).toBe('INVALID_STATE');
  });

  it('refuses an expected value that is not a sha256 digest', async () => {
    await expect(verifyDigest(dir, 'md5:abc')).rejects.toBeInstanceOf(InvalidParameterError);
  });

  it('refuses symbolic links inside the model directory', async () => {
    await symlink(join(dir, 'model.onnx'), join(dir, 'link.onnx'));
    await expect(computeArtifactDigest(dir)).rejects.toThrow(
      "holds 'link.onnx', which is not a regular file or directory",
    );
  });

  it('refuses two entries with the same path', () => {
    expect(() =>
      combineFileDigests([
        { path: 'a', sha256: sha256('x') },
        { path: 'a', sha256: sha256('y') },
      ]),
    ).toThrow("File 'a' is listed twice");
  });
});

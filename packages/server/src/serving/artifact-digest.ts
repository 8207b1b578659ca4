import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { InvalidParameterError, YardError } from '@modelyard/core';

/** One file of a model directory: its path relative to the directory and its content hash. */
export interface FileDigest {
  /** POSIX-style relative path (`data/weights.bin`). */
  path: string;
  /** Lower-case hex sha256 of the file's bytes. */
  sha256: string;
}

/**
 * Thrown before loading a model whose files do not hash to the digest the registry recorded
 * for its version: the artifact changed (or was corrupted) after registration.
 */
export class ArtifactDigestMismatchError extends YardError {
  override readonly name = 'ArtifactDigestMismatchError';
  constructor(
    readonly directory: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      'INVALID_STATE',
      `Model files at ${directory} have digest sha256:${actual}, but the registry recorded ` +
        `sha256:${expected}; refusing to load an artifact that changed after registration.`,
      { directory, expected, actual },
    );
  }
}

const HEX_DIGEST = /^[0-9a-f]{64}$/;

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The digest of a set of files: sha256 over the lines `<sha256 hex>  <path>\n` (the
 * `sha256sum` format), one per file, sorted by the paths' UTF-8 bytes. It depends only on the
 * relative paths and contents, not on timestamps, permissions or listing order, so the registry
 * can compute it from an artifact store's listing and a server from a local copy.
 *
 * @throws InvalidParameterError when two entries have the same path.
 */
export function combineFileDigests(files: readonly FileDigest[]): string {
  const sorted = [...files].sort((a, b) => compareUtf8(a.path, b.path));
  const hash = createHash('sha256');
  let previous: string | undefined;
  for (const file of sorted) {
    if (file.path === previous) {
      throw new InvalidParameterError(`File '${file.path}' is listed twice in a digest.`, {
        path: file.path,
      });
    }
    previous = file.path;
    hash.update(`${file.sha256}  ${file.path}\n`, 'utf8');
  }
  return hash.digest('hex');
}

/** Hex sha256 of one file, streamed (the file is never held in memory whole). */
export async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/**
 * Lists every regular file under `dir` with its sha256, in digest order.
 *
 * @throws InvalidParameterError when the directory holds a symbolic link or another
 *   non-regular entry (the digest would not say what a load reads).
 */
export async function listFileDigests(dir: string): Promise<FileDigest[]> {
  const files: FileDigest[] = [];
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(join(dir, relative), { withFileTypes: true });
    for (const entry of entries) {
      const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        await walk(path);
      } else if (entry.isFile()) {
        files.push({ path, sha256: await hashFile(join(dir, path)) });
      } else {
        throw new InvalidParameterError(
          `Model directory ${dir} holds '${path}', which is not a regular file or directory; ` +
            'model digests cover regular files only.',
          { directory: dir, path },
        );
      }
    }
  };
  await walk('');
  return files.sort((a, b) => compareUtf8(a.path, b.path));
}

/**
 * The deterministic sha256 digest (lower-case hex) of a model directory: see
 * {@link combineFileDigests}. Files are hashed one at a time, each streamed.
 */
export async function computeArtifactDigest(dir: string): Promise<string> {
  return combineFileDigests(await listFileDigests(dir));
}

/**
 * Checks that a model directory still has the digest the registry recorded.
 *
 * @param expected hex sha256, optionally prefixed `sha256:` (any case).
 * @returns the digest computed.
 * @throws InvalidParameterError when `expected` is not a sha256 digest.
 * @throws ArtifactDigestMismatchError naming both digests when they differ.
 */
export async function verifyDigest(dir: string, expected: string): Promise<string> {
  const normalized = expected
    .trim()
    .toLowerCase()
    .replace(/^sha256:/, '');
  if (!HEX_DIGEST.test(normalized)) {
    throw new InvalidParameterError(
      `Expected digest '${expected}' is not a sha256 digest (64 hex digits, optionally ` +
        "prefixed 'sha256:').",
      { expected },
    );
  }
  const actual = await computeArtifactDigest(dir);
  if (actual !== normalized) throw new ArtifactDigestMismatchError(dir, normalized, actual);
  return actual;
}

import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { NotFoundError } from '@modelyard/core';
import type { ArtifactStore } from '@modelyard/store';
import {
  ArtifactDigestMismatchError,
  combineFileDigests,
  computeArtifactDigest,
  verifyDigest,
} from './artifact-digest.js';
import type { FileDigest } from './artifact-digest.js';

/** Every file under `root` in an artifact store, with paths relative to `root`. */
async function listStoredFiles(artifacts: ArtifactStore, root: string): Promise<string[]> {
  const files: string[] = [];
  const prefix = root === '' ? '' : `${root}/`;
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await artifacts.list(folder)) {
      if (entry.isDir) await walk(entry.path);
      else files.push(entry.path.startsWith(prefix) ? entry.path.slice(prefix.length) : entry.path);
    }
  };
  await walk(root);
  return files;
}

const join2 = (root: string, path: string): string => (root === '' ? path : `${root}/${path}`);

/**
 * The digest of the files under `root` in an artifact store, computed exactly as
 * `computeArtifactDigest` computes it for a local copy (see `combineFileDigests`): each file is
 * streamed through sha256, nothing is written to disk.
 *
 * @returns the hex digest, or null when there is no file under `root`.
 */
export async function computeStoredArtifactDigest(
  artifacts: ArtifactStore,
  root: string,
): Promise<string | null> {
  const paths = await listStoredFiles(artifacts, root);
  if (paths.length === 0) return null;
  const digests: FileDigest[] = [];
  for (const path of paths) {
    const hash = createHash('sha256');
    const file = await artifacts.get(join2(root, path));
    await pipeline(file.body, hash);
    digests.push({ path, sha256: hash.digest('hex') });
  }
  return combineFileDigests(digests);
}

/** Where a model version's files were put, and their digest. */
export interface CachedModel {
  /** The local model directory (holds `MLmodel`). */
  dir: string;
  /** Hex sha256 of the directory (see `computeArtifactDigest`). */
  digest: string;
  /** True when an earlier copy was reused instead of copying again. */
  reused: boolean;
}

/** What {@link ModelCache.materialize} copies. */
export interface MaterializeInput {
  /** Registered model name and version (for the cache folder's name). */
  modelName: string;
  modelVersion: string;
  /** Folder in the artifact store that holds the model (its `MLmodel` and files). */
  storePath: string;
  /** The digest the registry recorded (hex, optionally `sha256:`), or null when none was. */
  expectedDigest: string | null;
}

function safeSegment(value: string): string {
  return encodeURIComponent(value).replace(/\./g, '%2E');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * A local folder of model versions copied from the artifact store, one directory per version
 * and digest: `<root>/<model>/<version>-<first 12 hex of the digest>`. Runtimes load from
 * these copies; every load verifies the copy against the registry's digest first.
 */
export class ModelCache {
  constructor(
    readonly root: string,
    private readonly artifacts: ArtifactStore,
  ) {}

  /**
   * Makes a verified local copy of a model version. A copy already in the cache is reused when
   * it still has the expected digest; one that does not (tampered or partial) is discarded and
   * copied again from the store. Files are streamed one at a time into a staging folder that is
   * renamed into place only after the digest checks out.
   *
   * @throws NotFoundError when the store holds no file under `storePath`.
   * @throws ArtifactDigestMismatchError when the store's files do not have the expected digest.
   */
  async materialize(input: MaterializeInput): Promise<CachedModel> {
    const expected =
      input.expectedDigest === null
        ? null
        : input.expectedDigest
            .trim()
            .toLowerCase()
            .replace(/^sha256:/, '');
    const modelDir = join(this.root, safeSegment(input.modelName));
    if (expected !== null) {
      const target = join(modelDir, `${safeSegment(input.modelVersion)}-${expected.slice(0, 12)}`);
      if (await exists(target)) {
        try {
          const digest = await verifyDigest(target, expected);
          return { dir: target, digest, reused: true };
        } catch (error) {
          if (!(error instanceof ArtifactDigestMismatchError)) throw error;
          await rm(target, { recursive: true, force: true });
        }
      }
    }
    const staging = join(this.root, '.staging', randomUUID());
    try {
      await this.#copy(input.storePath, staging, input);
      const digest = await verifyStaged(staging, expected, input);
      const target = join(modelDir, `${safeSegment(input.modelVersion)}-${digest.slice(0, 12)}`);
      await mkdir(modelDir, { recursive: true });
      await rm(target, { recursive: true, force: true });
      await rename(staging, target);
      return { dir: target, digest, reused: false };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  async #copy(storePath: string, to: string, input: MaterializeInput): Promise<void> {
    const paths = await listStoredFiles(this.artifacts, storePath);
    if (paths.length === 0) {
      throw new NotFoundError(
        `Model ${input.modelName} version ${input.modelVersion} has no files in the artifact ` +
          `store under '${storePath}'.`,
        { model: input.modelName, version: input.modelVersion, storePath },
      );
    }
    await mkdir(to, { recursive: true });
    for (const path of paths) {
      const local = join(to, ...path.split('/'));
      await mkdir(dirname(local), { recursive: true });
      const file = await this.artifacts.get(join2(storePath, path));
      await pipeline(file.body, createWriteStream(local));
    }
  }
}

async function verifyStaged(
  dir: string,
  expected: string | null,
  input: MaterializeInput,
): Promise<string> {
  if (expected === null) return computeArtifactDigest(dir);
  try {
    return await verifyDigest(dir, expected);
  } catch (error) {
    if (error instanceof ArtifactDigestMismatchError) {
      // Name the store's files, not the staging folder that is about to disappear.
      throw new ArtifactDigestMismatchError(
        `artifact store path '${input.storePath}' (model ${input.modelName} version ` +
          `${input.modelVersion})`,
        error.expected,
        error.actual,
      );
    }
    throw error;
  }
}

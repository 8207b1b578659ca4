import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidParameterError, NotFoundError } from '@modelyard/core';
import { HashingPassThrough } from './artifact-hashing.js';
import type {
  ArtifactEntry,
  ArtifactRead,
  ArtifactStat,
  ArtifactStore,
  ArtifactWriteResult,
  UploadedPart,
} from './artifact-store.js';
import { checkPartNumber, normaliseEtag, sortParts } from './multipart-parts.js';
import { resolveArtifactFilePath, resolveArtifactPath } from './path-safety.js';

/**
 * The folder, directly under the root, where the local store keeps files being written and the
 * parts of multipart uploads. It lives inside the root so that the final `rename` stays on one
 * filesystem (atomic); it is hidden from listings and refused as an artifact path.
 */
export const LOCAL_STAGING_FOLDER = '.yard-staging';

const MD5_HEX = /^[0-9a-f]{32}$/;
const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function errnoCode(error: unknown): string | undefined {
  if (error instanceof Error && 'code' in error && typeof error.code === 'string') {
    return error.code;
  }
  return undefined;
}

/**
 * The default artifact store: a folder on the local filesystem. Writes stream into a staging file
 * that is renamed into place once complete, so readers never see a partial file and a failed
 * write leaves the previous content intact. Symbolic links found in the folder are not followed
 * by listings (they are left out).
 *
 * @example
 * const store = new LocalArtifactStore('./mlartifacts');
 * await store.put('1/abc/artifacts/model.onnx', createReadStream('model.onnx'));
 */
export class LocalArtifactStore implements ArtifactStore {
  /** Absolute path of the root folder (created on first write). */
  readonly root: string;
  readonly #staging: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.#staging = join(this.root, LOCAL_STAGING_FOLDER);
  }

  /** Writes (replacing) one file atomically; returns its size and sha256. */
  async put(path: string, body: Readable): Promise<ArtifactWriteResult> {
    const relative = this.#checkPath(path, true);
    const target = this.#absolute(relative);
    const hasher = new HashingPassThrough();
    await this.#writeAtomically(path, target, async (temporary) => {
      await pipeline(body, hasher, createWriteStream(temporary, { flags: 'wx' }));
    });
    return { size: hasher.byteCount, sha256: hasher.sha256() };
  }

  /** Opens one file for streaming. Throws `NotFoundError` when absent or a folder. */
  async get(path: string): Promise<ArtifactRead> {
    const relative = this.#checkPath(path, true);
    let handle;
    try {
      handle = await open(this.#absolute(relative), 'r');
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') throw notFound(path);
      throw error;
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw notFound(path, 'it is a folder');
      return { body: handle.createReadStream(), size: info.size };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** The file's size from one `stat`; null when absent or a folder. */
  async stat(path: string): Promise<ArtifactStat | null> {
    const relative = this.#checkPath(path, true);
    try {
      const info = await stat(this.#absolute(relative));
      return info.isFile() ? { size: info.size } : null;
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw error;
    }
  }

  /** Direct children of a folder, sorted by path; empty when the folder does not exist. */
  async list(path: string): Promise<ArtifactEntry[]> {
    const relative = this.#checkPath(path, false);
    const folder = this.#absolute(relative);
    let entries;
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw error;
    }
    const listed = await Promise.all(
      entries.map(async (entry): Promise<ArtifactEntry | undefined> => {
        if (relative === '' && entry.name === LOCAL_STAGING_FOLDER) return undefined;
        const entryPath = relative === '' ? entry.name : `${relative}/${entry.name}`;
        if (entry.isDirectory()) return { path: entryPath, isDir: true, size: undefined };
        if (!entry.isFile()) return undefined;
        try {
          const info = await stat(join(folder, entry.name));
          return { path: entryPath, isDir: false, size: info.size };
        } catch (error) {
          // Deleted between readdir and stat: it is simply no longer there.
          if (errnoCode(error) === 'ENOENT') return undefined;
          throw error;
        }
      }),
    );
    return listed
      .filter((entry): entry is ArtifactEntry => entry !== undefined)
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /** Deletes a file or a folder recursively; '' empties the whole store. Missing paths are fine. */
  async delete(path: string): Promise<void> {
    const relative = this.#checkPath(path, false);
    if (relative !== '') {
      await rm(this.#absolute(relative), { recursive: true, force: true });
      return;
    }
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return;
      throw error;
    }
    await Promise.all(
      names
        .filter((name) => name !== LOCAL_STAGING_FOLDER)
        .map((name) => rm(join(this.root, name), { recursive: true, force: true })),
    );
  }

  /** Starts a multipart upload; its parts are kept under the staging folder until completed. */
  async createMultipartUpload(path: string): Promise<string> {
    const relative = this.#checkPath(path, true);
    const uploadId = randomUUID();
    const folder = this.#uploadFolder(uploadId);
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'target'), relative, 'utf8');
    return uploadId;
  }

  /** Stores one part; its etag is the md5 of its bytes, as S3 does for single parts. */
  async uploadPart(
    path: string,
    uploadId: string,
    partNumber: number,
    body: Readable,
  ): Promise<UploadedPart> {
    this.#checkPath(path, true);
    checkPartNumber(partNumber);
    const folder = await this.#openUpload(path, uploadId);
    const temporary = join(folder, `${partNumber}.${randomUUID()}.tmp`);
    const hasher = new HashingPassThrough({ md5: true });
    try {
      await pipeline(body, hasher, createWriteStream(temporary, { flags: 'wx' }));
      const etag = hasher.md5();
      // The etag is part of the name, so `complete` assembles exactly the bytes it was given the
      // etag of, even when a part number was uploaded twice.
      await rename(temporary, join(folder, `${partNumber}-${etag}`));
      return { partNumber, etag };
    } catch (error) {
      await rm(temporary, { force: true });
      if (errnoCode(error) === 'ENOENT') throw uploadNotFound(path, uploadId);
      throw error;
    }
  }

  /** Concatenates the parts, streaming in part-number order, into the file; then drops them. */
  async completeMultipartUpload(
    path: string,
    uploadId: string,
    parts: UploadedPart[],
  ): Promise<void> {
    const relative = this.#checkPath(path, true);
    const sorted = sortParts(path, uploadId, parts);
    const folder = await this.#openUpload(path, uploadId);
    const files = await Promise.all(
      sorted.map(async (part) => {
        const etag = normaliseEtag(part.etag);
        const file = join(folder, `${part.partNumber}-${etag}`);
        // Our etags are md5 hex; anything else names no part (and never reaches the filesystem).
        if (!MD5_HEX.test(etag) || !(await isFile(file))) {
          throw new InvalidParameterError(
            `Part ${part.partNumber} with etag '${part.etag}' of upload '${uploadId}' ` +
              `(artifact '${path}') was not uploaded. Upload it, or list the etag uploadPart returned.`,
            { path, uploadId, partNumber: part.partNumber, etag: part.etag },
          );
        }
        return file;
      }),
    );
    await this.#writeAtomically(path, this.#absolute(relative), async (temporary) => {
      async function* concatenated(): AsyncGenerator<Buffer> {
        for (const file of files) {
          for await (const chunk of createReadStream(file)) yield chunk as Buffer;
        }
      }
      await pipeline(Readable.from(concatenated()), createWriteStream(temporary, { flags: 'wx' }));
    });
    await rm(folder, { recursive: true, force: true });
  }

  /** Drops an upload and its parts. Throws `NotFoundError` for an unknown upload. */
  async abortMultipartUpload(path: string, uploadId: string): Promise<void> {
    const folder = await this.#openUpload(path, uploadId);
    await rm(folder, { recursive: true, force: true });
  }

  /** Nothing to release: every handle is closed when its stream ends. */
  async close(): Promise<void> {
    // No long-lived resources.
  }

  #checkPath(path: string, mustBeFile: boolean): string {
    const relative = mustBeFile ? resolveArtifactFilePath(path) : resolveArtifactPath(path);
    if (relative.split('/', 1)[0] === LOCAL_STAGING_FOLDER) {
      throw new InvalidParameterError(
        `Artifact path ${JSON.stringify(path)} is not allowed: '${LOCAL_STAGING_FOLDER}' is ` +
          `reserved for the local artifact store's staging files. Use another folder name.`,
        { path, reason: 'reserved' },
      );
    }
    return relative;
  }

  #absolute(relative: string): string {
    const absolute = relative === '' ? this.root : join(this.root, relative);
    // Defence in depth: resolveArtifactPath already guarantees this.
    if (absolute !== this.root && !absolute.startsWith(this.root + sep)) {
      throw new InvalidParameterError(`Artifact path '${relative}' escapes the root.`, {
        path: relative,
      });
    }
    return absolute;
  }

  #uploadFolder(uploadId: string): string {
    return join(this.#staging, 'uploads', uploadId);
  }

  async #openUpload(path: string, uploadId: string): Promise<string> {
    const relative = this.#checkPath(path, true);
    // Anything but our own ids is unknown (and never reaches the filesystem as a path).
    const given: unknown = uploadId;
    if (typeof given !== 'string' || !UPLOAD_ID.test(given)) {
      throw uploadNotFound(path, String(given));
    }
    const folder = this.#uploadFolder(uploadId);
    let target: string;
    try {
      target = await readFile(join(folder, 'target'), 'utf8');
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') throw uploadNotFound(path, uploadId);
      throw error;
    }
    if (target !== relative) throw uploadNotFound(path, uploadId);
    return folder;
  }

  /**
   * Runs `write` against a fresh staging file, flushes it to disk and renames it onto `target`;
   * on any failure the staging file is removed and `target` is untouched.
   */
  async #writeAtomically(
    path: string,
    target: string,
    write: (temporary: string) => Promise<void>,
  ): Promise<void> {
    const folder = join(this.#staging, 'tmp');
    await mkdir(folder, { recursive: true });
    const temporary = join(folder, randomUUID());
    try {
      await write(temporary);
      const handle = await open(temporary, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await mkdir(dirname(target), { recursive: true });
      await rename(temporary, target);
    } catch (error) {
      await rm(temporary, { force: true });
      const code = errnoCode(error);
      if (code === 'ENOTDIR' || code === 'EEXIST' || code === 'EISDIR' || code === 'ENOTEMPTY') {
        throw new InvalidParameterError(
          `Cannot write artifact ${JSON.stringify(path)}: a file and a folder would share a ` +
            `name (${code}). Choose a path whose folders are not files and that is not a folder.`,
          { path, code },
        );
      }
      throw error;
    }
  }
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return false;
    throw error;
  }
}

function notFound(path: string, why = 'no such file'): NotFoundError {
  return new NotFoundError(`Artifact ${JSON.stringify(path)} does not exist (${why}).`, { path });
}

function uploadNotFound(path: string, uploadId: string): NotFoundError {
  return new NotFoundError(
    `Multipart upload '${uploadId}' for artifact ${JSON.stringify(path)} does not exist: ` +
      `it was never started for this path, or was completed or aborted.`,
    { path, uploadId },
  );
}

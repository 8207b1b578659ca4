import { createHash } from 'node:crypto';
import { Transform, Writable, finished } from 'node:stream';
import type { Readable, TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidParameterError, NotFoundError, validateSha256Hex } from '@modelyard/core';
import type { ArtifactRead, ArtifactStore } from '@modelyard/store';

/** Where blobs live in the artifact store: `blobs/sha256/<first 2 hex>/<64 hex>`. */
export const BLOB_FOLDER = 'blobs/sha256';

/** What a blob upload answers. */
export interface BlobPutResult {
  /** `sha256:<hex>`. */
  digest: string;
  /** Size in bytes. */
  size: number;
  /** False when the blob was already stored (the upload was checked, then dropped). */
  created: boolean;
}

/** What is known about a stored blob without reading it. */
export interface BlobInfo {
  digest: string;
  size: number;
}

/** The artifact-store path of the blob whose sha256 is `hex` (already validated). */
export function blobPath(hex: string): string {
  return `${BLOB_FOLDER}/${hex.slice(0, 2)}/${hex}`;
}

/**
 * Passes bytes through while hashing them; at the end of the stream it fails, instead of
 * ending, when their sha256 is not the expected one. A store writing from this stream therefore
 * never commits a body that does not match its name: the local store drops its staging file, the
 * S3 store aborts its upload before the object exists.
 */
class DigestCheck extends Transform {
  readonly #hash = createHash('sha256');
  #size = 0;
  /** The refusal, once the stream has ended with the wrong digest. */
  mismatch: InvalidParameterError | undefined;

  constructor(readonly expectedHex: string) {
    super();
  }

  get size(): number {
    return this.#size;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#size += chunk.length;
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const actual = this.#hash.digest('hex');
    if (actual === this.expectedHex) {
      callback();
      return;
    }
    this.mismatch = new InvalidParameterError(
      `The uploaded body does not match its digest: the URL names sha256:${this.expectedHex}, ` +
        `but the ${this.#size} bytes received hash to sha256:${actual}. Nothing was stored. ` +
        `Upload the bytes whose digest the URL names (or put them under sha256:${actual}).`,
      { expected: `sha256:${this.expectedHex}`, actual: `sha256:${actual}`, size: this.#size },
    );
    callback(this.mismatch);
  }
}

/**
 * Content-addressed blobs in the artifact store: each is named by the sha256 of its bytes, which
 * the server checks while the body streams to the store, so a stored blob always matches its
 * name. Writing one digest twice, or from several clients at once, is safe: every write that
 * gets committed holds the same bytes.
 */
export class BlobService {
  constructor(private readonly artifacts: ArtifactStore) {}

  /**
   * Stores `body` as the blob whose sha256 is `hex`, streaming it (never held whole in memory).
   * When the blob exists already, the body is read through and checked but not stored again.
   *
   * @throws InvalidParameterError when `hex` is not 64 lower-case hex digits (before reading the
   *   body), or when the body's sha256 differs (naming both digests; nothing is stored).
   */
  async put(hex: string, body: Readable): Promise<BlobPutResult> {
    validateSha256Hex(hex, 'hex');
    const check = new DigestCheck(hex);
    const existing = await this.artifacts.stat(blobPath(hex));
    if (existing !== null) {
      // Read the body off the connection (so it can be reused) and still refuse a wrong one.
      await pipeline(body, check, discard());
      return { digest: `sha256:${hex}`, size: existing.size, created: false };
    }
    // pipe() does not forward the request's errors (a client that hangs up mid-body): without
    // this, the store would wait for the rest of the body forever.
    const stopForwarding = finished(body, { writable: false }, (error) => {
      if (error) check.destroy(error);
    });
    // The check's failure reaches the caller through the store's rejection and `mismatch`; a
    // store may stop listening to its body once it has failed, and pipe() re-emits a late error
    // on a stream nobody listens to as an uncaught exception.
    check.on('error', () => undefined);
    try {
      const written = await this.artifacts.put(blobPath(hex), body.pipe(check));
      return { digest: `sha256:${hex}`, size: written.size, created: true };
    } catch (error) {
      // Whatever the store reports (its own pipeline error, an aborted upload), the cause is ours.
      if (check.mismatch !== undefined) throw check.mismatch;
      throw error;
    } finally {
      stopForwarding();
      // A store that failed mid-body leaves the rest of it unread: drop it, so the error answer
      // can still be written on this connection.
      if (!body.readableEnded) body.unpipe(check).resume();
    }
  }

  /** The blob's size, or null when it is not stored. */
  async stat(hex: string): Promise<BlobInfo | null> {
    validateSha256Hex(hex, 'hex');
    const found = await this.artifacts.stat(blobPath(hex));
    return found === null ? null : { digest: `sha256:${hex}`, size: found.size };
  }

  /**
   * Opens the blob for streaming.
   *
   * @throws NotFoundError when it is not stored; InvalidParameterError for a bad `hex`.
   */
  async get(hex: string): Promise<ArtifactRead> {
    validateSha256Hex(hex, 'hex');
    try {
      return await this.artifacts.get(blobPath(hex));
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw new NotFoundError(
          `Blob sha256:${hex} is not stored. Upload it with PUT /api/v1/blobs/sha256/${hex}.`,
          { digest: `sha256:${hex}` },
        );
      }
      throw error;
    }
  }
}

/** A sink that drops what it is given. */
function discard(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}

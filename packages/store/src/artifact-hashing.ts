import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';

/**
 * A pass-through stream that counts the bytes and hashes them (sha256, plus md5 when asked) as
 * they flow, so adapters learn a body's size and digest without holding it in memory.
 */
export class HashingPassThrough extends Transform {
  #size = 0;
  readonly #sha256 = createHash('sha256');
  readonly #md5;

  constructor(options: { md5?: boolean } = {}) {
    super();
    this.#md5 = options.md5 === true ? createHash('md5') : undefined;
  }

  override _transform(chunk: unknown, encoding: BufferEncoding, callback: TransformCallback): void {
    const bytes = Buffer.isBuffer(chunk)
      ? chunk
      : typeof chunk === 'string'
        ? Buffer.from(chunk, encoding)
        : Buffer.from(chunk as Uint8Array);
    this.#size += bytes.length;
    this.#sha256.update(bytes);
    this.#md5?.update(bytes);
    callback(null, bytes);
  }

  /** Bytes seen so far (not named `size`: the S3 SDK would take that for the total length). */
  get byteCount(): number {
    return this.#size;
  }

  /** Hex sha256 of the bytes seen; call once, after the stream finished. */
  sha256(): string {
    return this.#sha256.digest('hex');
  }

  /** Hex md5 of the bytes seen (only when constructed with `md5: true`). */
  md5(): string {
    if (this.#md5 === undefined) throw new Error('HashingPassThrough was created without md5');
    return this.#md5.digest('hex');
  }
}

import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type * as S3Sdk from '@aws-sdk/client-s3';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import type * as StorageSdk from '@aws-sdk/lib-storage';
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
import { checkPartNumber, sortParts } from './multipart-parts.js';
import { resolveArtifactFilePath, resolveArtifactPath } from './path-safety.js';

/** Where an S3 artifact store lives and how to reach it. */
export interface S3ArtifactStoreOptions {
  bucket: string;
  /** Key prefix of the store's root, without leading or trailing '/'; '' for the bucket root. */
  prefix?: string | undefined;
  /** An S3-compatible endpoint (MinIO, moto, …); addressing is then path-style. */
  endpoint?: string | undefined;
  /** Defaults to `AWS_REGION`, then `AWS_DEFAULT_REGION`, then `us-east-1`. */
  region?: string | undefined;
  /** Defaults to the AWS SDK's standard credential chain (environment, profile, instance role). */
  credentials?: S3ClientConfig['credentials'];
  /** Attempts per request, retries included (the SDK's default is 3). */
  maxAttempts?: number | undefined;
  /** Keys per ListObjectsV2 page (and per DeleteObjects batch); at most 1000, the default. */
  pageSize?: number | undefined;
  /** Part size used when `put` streams a body of unknown length; at least 5 MiB. */
  putPartSize?: number | undefined;
}

/** A parsed `s3://bucket/prefix` destination. */
export interface S3Location {
  bucket: string;
  prefix: string;
}

interface Sdk {
  s3: typeof S3Sdk;
  storage: typeof StorageSdk;
}
let sdk: Promise<Sdk> | undefined;

/**
 * Loads the AWS SDK on first use, so that processes using only the local store never pay for
 * loading it.
 */
function loadSdk(): Promise<Sdk> {
  sdk ??= Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]).then(
    ([s3, storage]) => ({ s3, storage }),
  );
  return sdk;
}

const S3_URI = /^s3:\/\/([^/?#]*)(?:\/([^?#]*))?$/;
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/;
const MIB = 1024 * 1024;

/**
 * Parses `s3://bucket` or `s3://bucket/some/prefix` (trailing '/' allowed).
 *
 * @throws InvalidParameterError when the URI is not of that form or the prefix escapes the bucket
 * root (see `resolveArtifactPath`).
 */
export function parseS3Uri(uri: string): S3Location {
  const match = S3_URI.exec(uri);
  const bucket = match?.[1] ?? '';
  if (match === null || !BUCKET.test(bucket)) {
    throw new InvalidParameterError(
      `S3 artifact destination ${JSON.stringify(uri)} is not valid: ` +
        `expected 's3://<bucket>' or 's3://<bucket>/<prefix>', e.g. 's3://ml-artifacts/modelyard'.`,
      { uri },
    );
  }
  return { bucket, prefix: resolveArtifactPath(match[2] ?? '') };
}

/**
 * Options for an S3 store from the environment: the endpoint from `MODELYARD_S3_ENDPOINT_URL`,
 * else `MLFLOW_S3_ENDPOINT_URL` (as the MLflow server reads it); region from `AWS_REGION` /
 * `AWS_DEFAULT_REGION`. Credentials are left to the SDK's standard chain.
 */
export function s3OptionsFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Pick<S3ArtifactStoreOptions, 'endpoint' | 'region'> {
  const endpoint = env['MODELYARD_S3_ENDPOINT_URL'] || env['MLFLOW_S3_ENDPOINT_URL'] || undefined;
  const region = env['AWS_REGION'] || env['AWS_DEFAULT_REGION'] || undefined;
  return { endpoint, region };
}

/** An error S3 answered (an `S3ServiceException`), as opposed to a network or parse failure. */
function isServiceError(error: unknown): error is S3Sdk.S3ServiceException {
  return error instanceof Error && '$fault' in error && '$metadata' in error;
}

function s3ErrorName(error: unknown): string | undefined {
  return isServiceError(error) ? error.name : undefined;
}

function httpStatus(error: unknown): number | undefined {
  return isServiceError(error) ? error.$metadata.httpStatusCode : undefined;
}

/**
 * Artifact store on an S3-compatible object store. Folders are key prefixes ending in '/'.
 * `put` streams through `@aws-sdk/lib-storage`'s `Upload` (bodies of unknown length, sent in
 * parts); `uploadPart` spools each part to a temporary file first, because S3 needs a part's
 * length before its bytes and the port's bodies are streams of unknown length.
 *
 * @example
 * const store = new S3ArtifactStore({ bucket: 'ml', prefix: 'artifacts', endpoint: 'http://minio:9000' });
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly #config: S3ClientConfig;
  #client: S3Client | undefined;
  readonly #pageSize: number;
  readonly #putPartSize: number;

  constructor(options: S3ArtifactStoreOptions) {
    this.bucket = options.bucket;
    this.prefix = resolveArtifactPath(options.prefix ?? '');
    this.#pageSize = Math.min(Math.max(1, options.pageSize ?? 1000), 1000);
    this.#putPartSize = Math.max(5 * MIB, options.putPartSize ?? 8 * MIB);
    const config: S3ClientConfig = {
      region: options.region ?? process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'],
    };
    config.region ??= 'us-east-1';
    if (options.credentials !== undefined) config.credentials = options.credentials;
    if (options.maxAttempts !== undefined) config.maxAttempts = options.maxAttempts;
    if (options.endpoint !== undefined) {
      config.endpoint = options.endpoint;
      config.forcePathStyle = true;
      // S3-compatible servers often reject the SDK's default flexible (CRC) checksums; send them
      // only where the API requires one.
      config.requestChecksumCalculation = 'WHEN_REQUIRED';
      config.responseChecksumValidation = 'WHEN_REQUIRED';
    }
    this.#config = config;
  }

  /** Streams one object up (replacing it), hashing it on the way. */
  async put(path: string, body: Readable): Promise<ArtifactWriteResult> {
    const key = this.#key(resolveArtifactFilePath(path));
    const hasher = new HashingPassThrough();
    const { client, storage } = await this.#connect();
    const upload = new storage.Upload({
      client,
      params: { Bucket: this.bucket, Key: key, Body: hasher },
      partSize: this.#putPartSize,
      queueSize: 2,
      leavePartsOnError: false,
    });
    const uploaded = upload.done().catch((error: unknown) => {
      // Unblock (and fail) the body's pipeline when S3 gives up first.
      hasher.destroy(error instanceof Error ? error : new Error(String(error)));
      throw error;
    });
    // Both settle whichever fails first (each failure ends the other). Waiting for the upload
    // too means a failed put has aborted its multipart upload, leaving nothing, when it throws.
    const [piped, stored] = await Promise.allSettled([pipeline(body, hasher), uploaded]);
    if (piped.status === 'rejected') throw this.#translate(piped.reason, path);
    if (stored.status === 'rejected') throw this.#translate(stored.reason, path);
    return { size: hasher.byteCount, sha256: hasher.sha256() };
  }

  /** Opens one object as a stream. Throws `NotFoundError` when absent. */
  async get(path: string): Promise<ArtifactRead> {
    const key = this.#key(resolveArtifactFilePath(path));
    const { client, s3 } = await this.#connect();
    try {
      const response = await client.send(
        new s3.GetObjectCommand({ Bucket: this.bucket, Key: key }),
      );
      if (!(response.Body instanceof Readable)) {
        throw new Error(`S3 returned a non-stream body for s3://${this.bucket}/${key}`);
      }
      return { body: response.Body, size: response.ContentLength ?? 0 };
    } catch (error) {
      if (s3ErrorName(error) === 'NoSuchKey' || httpStatus(error) === 404) {
        throw this.#translate(error, path, 'get');
      }
      throw this.#translate(error, path);
    }
  }

  /** One HeadObject; null when no object has that key (a folder is only a prefix: null too). */
  async stat(path: string): Promise<ArtifactStat | null> {
    const key = this.#key(resolveArtifactFilePath(path));
    const { client, s3 } = await this.#connect();
    try {
      const response = await client.send(
        new s3.HeadObjectCommand({ Bucket: this.bucket, Key: key }),
      );
      return { size: response.ContentLength ?? 0 };
    } catch (error) {
      // A HEAD answer has no body, so a missing key (or bucket) reads as a bare 404 'NotFound'.
      if (s3ErrorName(error) === 'NotFound' || httpStatus(error) === 404) return null;
      throw this.#translate(error, path);
    }
  }

  /** Direct children of a folder (one ListObjectsV2 walk with delimiter '/'), sorted by path. */
  async list(path: string): Promise<ArtifactEntry[]> {
    const relative = resolveArtifactPath(path);
    const folderPrefix = this.#folderPrefix(relative);
    const entries: ArtifactEntry[] = [];
    const { client, s3 } = await this.#connect();
    const entryPath = (name: string): string | undefined => {
      const candidate = relative === '' ? name : `${relative}/${name}`;
      // Keys written by other tools may hold names our paths refuse (`a//b`, `..`): leave them
      // out, so that every listed path can be passed back to this store.
      try {
        return resolveArtifactPath(candidate) === candidate && name !== '' ? candidate : undefined;
      } catch {
        return undefined;
      }
    };
    let token: string | undefined;
    try {
      do {
        const page = await client.send(
          new s3.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: folderPrefix,
            Delimiter: '/',
            MaxKeys: this.#pageSize,
            ContinuationToken: token,
          }),
        );
        for (const common of page.CommonPrefixes ?? []) {
          const name = (common.Prefix ?? '').slice(folderPrefix.length, -1);
          const dir = entryPath(name);
          if (dir !== undefined) entries.push({ path: dir, isDir: true, size: undefined });
        }
        for (const object of page.Contents ?? []) {
          const file = entryPath((object.Key ?? '').slice(folderPrefix.length));
          if (file !== undefined)
            entries.push({ path: file, isDir: false, size: object.Size ?? 0 });
        }
        token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (error) {
      throw this.#translate(error, path);
    }
    return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /** Deletes an object and every key under `path/`, in DeleteObjects batches. */
  async delete(path: string): Promise<void> {
    const relative = resolveArtifactPath(path);
    const folderPrefix = this.#folderPrefix(relative);
    const { client, s3 } = await this.#connect();
    try {
      if (relative !== '') {
        await client.send(
          new s3.DeleteObjectCommand({ Bucket: this.bucket, Key: this.#key(relative) }),
        );
      }
      let token: string | undefined;
      do {
        const page = await client.send(
          new s3.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: folderPrefix,
            MaxKeys: this.#pageSize,
            ContinuationToken: token,
          }),
        );
        const keys = (page.Contents ?? []).flatMap((object) =>
          object.Key === undefined ? [] : [{ Key: object.Key }],
        );
        if (keys.length > 0) {
          const result = await client.send(
            new s3.DeleteObjectsCommand({
              Bucket: this.bucket,
              Delete: { Objects: keys, Quiet: true },
            }),
          );
          const failed = result.Errors?.[0];
          if (failed !== undefined) {
            throw new Error(
              `Deleting s3://${this.bucket}/${failed.Key ?? '?'} failed: ` +
                `${failed.Code ?? 'error'} ${failed.Message ?? ''} ` +
                `(${result.Errors?.length ?? 1} keys not deleted).`,
            );
          }
        }
        token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (error) {
      throw this.#translate(error, path);
    }
  }

  /** CreateMultipartUpload; returns S3's upload id. */
  async createMultipartUpload(path: string): Promise<string> {
    const key = this.#key(resolveArtifactFilePath(path));
    const { client, s3 } = await this.#connect();
    try {
      const response = await client.send(
        new s3.CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key }),
      );
      if (response.UploadId === undefined) throw new Error('S3 returned no UploadId');
      return response.UploadId;
    } catch (error) {
      throw this.#translate(error, path);
    }
  }

  /**
   * UploadPart. The body is spooled to a temporary file to learn its length (S3 needs it up
   * front), then streamed from there. S3 wants every part but the last to be at least 5 MiB.
   * Throws `NotFoundError` for an unknown upload, without reading the body.
   */
  async uploadPart(
    path: string,
    uploadId: string,
    partNumber: number,
    body: Readable,
  ): Promise<UploadedPart> {
    const key = this.#key(resolveArtifactFilePath(path));
    checkPartNumber(partNumber);
    // Fail fast on an unknown upload, before spooling (maybe gigabytes of) body to disk. It also
    // gives a clean NoSuchUpload where some S3-compatible servers (moto) answer UploadPart for an
    // unknown id with a 500.
    await this.#assertUploadExists(path, key, uploadId);
    const spool = await mkdtemp(join(tmpdir(), 'modelyard-s3-part-'));
    const { client, s3 } = await this.#connect();
    try {
      const file = join(spool, randomUUID());
      await pipeline(body, createWriteStream(file, { flags: 'wx' }));
      const { size } = await stat(file);
      const response = await client.send(
        new s3.UploadPartCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          ContentLength: size,
          Body: createReadStream(file),
        }),
      );
      if (response.ETag === undefined) throw new Error('S3 returned no ETag for the part');
      return { partNumber, etag: response.ETag };
    } catch (error) {
      throw this.#translate(error, path, 'upload', uploadId);
    } finally {
      await rm(spool, { recursive: true, force: true });
    }
  }

  /** CompleteMultipartUpload with the parts in part-number order. */
  async completeMultipartUpload(
    path: string,
    uploadId: string,
    parts: UploadedPart[],
  ): Promise<void> {
    const key = this.#key(resolveArtifactFilePath(path));
    const sorted = sortParts(path, uploadId, parts);
    const { client, s3 } = await this.#connect();
    try {
      await client.send(
        new s3.CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: {
            Parts: sorted.map((part) => ({ PartNumber: part.partNumber, ETag: part.etag })),
          },
        }),
      );
    } catch (error) {
      if (!isServiceError(error)) {
        // Some S3-compatible servers (moto) fail with an unnamed 500 for an unknown upload id:
        // ask whether the upload still exists, so that case reads as NotFoundError everywhere.
        await this.#assertUploadExists(path, key, uploadId);
      }
      throw this.#translate(error, path, 'upload', uploadId);
    }
  }

  /** AbortMultipartUpload. Throws `NotFoundError` for an unknown upload. */
  async abortMultipartUpload(path: string, uploadId: string): Promise<void> {
    const key = this.#key(resolveArtifactFilePath(path));
    const { client, s3 } = await this.#connect();
    try {
      await client.send(
        new s3.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
      );
    } catch (error) {
      throw this.#translate(error, path, 'upload', uploadId);
    }
  }

  /** Destroys the S3 client (its sockets). */
  async close(): Promise<void> {
    this.#client?.destroy();
    this.#client = undefined;
    return Promise.resolve();
  }

  /** ListParts (one part at most): throws `NotFoundError` when the upload does not exist. */
  async #assertUploadExists(path: string, key: string, uploadId: string): Promise<void> {
    const { client, s3 } = await this.#connect();
    try {
      await client.send(
        new s3.ListPartsCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, MaxParts: 1 }),
      );
    } catch (error) {
      throw this.#translate(error, path, 'upload', uploadId);
    }
  }

  /** The SDK and this store's client, both created on first use. */
  async #connect(): Promise<{ client: S3Client; s3: Sdk['s3']; storage: Sdk['storage'] }> {
    const { s3, storage } = await loadSdk();
    this.#client ??= new s3.S3Client(this.#config);
    return { client: this.#client, s3, storage };
  }

  #key(relative: string): string {
    return this.prefix === '' ? relative : `${this.prefix}/${relative}`;
  }

  #folderPrefix(relative: string): string {
    if (relative !== '') return `${this.#key(relative)}/`;
    return this.prefix === '' ? '' : `${this.prefix}/`;
  }

  /** Turns S3's errors about missing things and rejected parts into the port's errors. */
  #translate(error: unknown, path: string, what?: 'get' | 'upload', uploadId?: string): unknown {
    const name = s3ErrorName(error);
    if (name === 'NoSuchBucket') {
      return new NotFoundError(
        `S3 bucket '${this.bucket}' does not exist (artifact ${JSON.stringify(path)}). ` +
          `Create it, or point the artifact destination at an existing bucket.`,
        { path, bucket: this.bucket },
      );
    }
    if (what === 'get') {
      return new NotFoundError(`Artifact ${JSON.stringify(path)} does not exist.`, {
        path,
        bucket: this.bucket,
      });
    }
    if (what === 'upload' && (name === 'NoSuchUpload' || httpStatus(error) === 404)) {
      return new NotFoundError(
        `Multipart upload '${uploadId ?? ''}' for artifact ${JSON.stringify(path)} does not ` +
          `exist: it was never started for this path, or was completed or aborted.`,
        { path, uploadId },
      );
    }
    if (name === 'InvalidPart' || name === 'InvalidPartOrder' || name === 'EntityTooSmall') {
      const message = error instanceof Error ? error.message : String(error);
      return new InvalidParameterError(
        `S3 refused to assemble upload '${uploadId ?? ''}' of artifact ${JSON.stringify(path)}: ` +
          `${name}: ${message}. Every part but the last must be at least 5 MiB, and each etag ` +
          `must be the one uploadPart returned.`,
        { path, uploadId, s3Error: name },
      );
    }
    return error;
  }
}

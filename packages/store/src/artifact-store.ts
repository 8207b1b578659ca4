import type { Readable } from 'node:stream';

/** One entry of an artifact listing, as MLflow's `FileInfo`. */
export interface ArtifactEntry {
  /** Path relative to the listed folder's root (the store root), '/'-separated. */
  path: string;
  isDir: boolean;
  /** Size in bytes; undefined for folders. */
  size?: number | undefined;
}

/** What a finished write reports. */
export interface ArtifactWriteResult {
  size: number;
  /** Hex sha256 of the bytes written. */
  sha256: string;
}

/** What `stat` reports about an existing file. */
export interface ArtifactStat {
  /** Size in bytes. */
  size: number;
}

export interface ArtifactRead {
  body: Readable;
  size: number;
}

export interface UploadedPart {
  partNumber: number;
  etag: string;
}

/**
 * The artifact store port. Paths are relative to the store's root, '/'-separated, and are
 * checked by `resolveArtifactPath`: anything that escapes the root (`..`, absolute, encoded
 * variants, NUL) throws `InvalidParameterError` before any I/O. Bodies stream; nothing buffers a
 * whole file in memory. Adapters: local folder and S3-compatible.
 */
export interface ArtifactStore {
  /** Writes (replacing) one file from a stream. */
  put(path: string, body: Readable): Promise<ArtifactWriteResult>;
  /** Opens one file. Throws `NotFoundError` when absent. */
  get(path: string): Promise<ArtifactRead>;
  /**
   * The size of one file without reading it (a stat, a HEAD request); null when there is no file
   * at `path` (absent, or a folder).
   */
  stat(path: string): Promise<ArtifactStat | null>;
  /** Direct children of a folder ('' is the root); empty when the folder does not exist. */
  list(path: string): Promise<ArtifactEntry[]>;
  /** Deletes a file, or a folder with everything under it. Missing paths are not an error. */
  delete(path: string): Promise<void>;
  /** Starts a multipart upload of `path`; returns its id. */
  createMultipartUpload(path: string): Promise<string>;
  /** Uploads one part (numbered from 1) of a multipart upload. */
  uploadPart(
    path: string,
    uploadId: string,
    partNumber: number,
    body: Readable,
  ): Promise<UploadedPart>;
  /** Assembles the parts, in part-number order, into the file. */
  completeMultipartUpload(path: string, uploadId: string, parts: UploadedPart[]): Promise<void>;
  abortMultipartUpload(path: string, uploadId: string): Promise<void>;
  /** Releases clients and handles. */
  close(): Promise<void>;
}

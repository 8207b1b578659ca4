import { validateCacheKey, validatePipelineCacheEntryInput } from '@modelyard/core';
import type { PipelineCacheEntry, PipelineCacheEntryInput, StepRunRecord } from '@modelyard/core';
import { NotFoundError } from '@modelyard/core';
import type { MetadataStore } from '@modelyard/store';
import type { BlobService } from './blob-service.js';

/**
 * The pipeline step cache index: cache key (a sha256 hex the SDK derives from a step's code,
 * inputs and params) -> the blob holding the step's output. The blobs themselves live in the
 * artifact store (see `BlobService`); an entry may outlive its blob, so readers check the blob.
 */
export class PipelineCacheService {
  constructor(
    private readonly store: MetadataStore,
    private readonly blobs: BlobService,
  ) {}

  /**
   * The entry under `key`; with `requireOutput`, only while its output blob exists (one request
   * instead of two for the SDK's cache lookups).
   * @throws NotFoundError when there is none (or its blob is gone); InvalidParameterError for a
   *   malformed key.
   */
  async get(key: string, requireOutput = false): Promise<PipelineCacheEntry> {
    validateCacheKey(key);
    const entry = await this.store.getPipelineCacheEntry(key);
    if (
      requireOutput &&
      (await this.blobs.stat(entry.outputDigest.slice('sha256:'.length))) === null
    ) {
      throw new NotFoundError(
        `Pipeline cache entry ${key} points at blob ${entry.outputDigest}, which no longer exists.`,
      );
    }
    return entry;
  }

  /**
   * Writes (or replaces) the entry under `key`; its `createdAt` becomes now.
   * @throws InvalidParameterError naming a malformed key, digest, metadata, run id or step name.
   */
  put(key: string, input: PipelineCacheEntryInput): Promise<PipelineCacheEntry> {
    validateCacheKey(key);
    return this.store.putPipelineCacheEntry({ key, ...validatePipelineCacheEntryInput(input) });
  }

  /** Removes the entry under `key`; a missing entry is not an error. */
  delete(key: string): Promise<void> {
    validateCacheKey(key);
    return this.store.deletePipelineCacheEntry(key);
  }

  /**
   * Records a batch of pipeline step runs (runs, their tags and cache entries) in one store
   * transaction; all or nothing. The store checks the whole batch (`validateStepRunRecords`)
   * before anything is written.
   * @throws InvalidParameterError naming the record's index, field and value (or a run of
   *   another experiment); NotFoundError for an unknown experiment; InvalidStateError for a
   *   deleted experiment or run.
   */
  recordStepRuns(records: StepRunRecord[]): Promise<void> {
    return this.store.recordStepRuns(records);
  }
}

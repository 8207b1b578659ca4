import { validateCacheKey, validatePipelineCacheEntryInput } from '@modelyard/core';
import type { PipelineCacheEntry, PipelineCacheEntryInput } from '@modelyard/core';
import type { MetadataStore } from '@modelyard/store';

/**
 * The pipeline step cache index: cache key (a sha256 hex the SDK derives from a step's code,
 * inputs and params) -> the blob holding the step's output. The blobs themselves live in the
 * artifact store (see `BlobService`); an entry may outlive its blob, so readers check the blob.
 */
export class PipelineCacheService {
  constructor(private readonly store: MetadataStore) {}

  /**
   * The entry under `key`.
   * @throws NotFoundError when there is none; InvalidParameterError for a malformed key.
   */
  get(key: string): Promise<PipelineCacheEntry> {
    validateCacheKey(key);
    return this.store.getPipelineCacheEntry(key);
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
}

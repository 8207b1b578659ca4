import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  InvalidParameterError,
  PIPELINE_CACHE_LOOKUP_ENTRIES_MAX,
  validateCacheKey,
  validateCacheScopes,
  validatePipelineCacheEntryInput,
  validateStepRunRecords,
} from '@modelyard/core';
import type {
  PipelineCacheEntry,
  PipelineCacheEntryInput,
  PipelineCacheLookup,
  StepRunRecord,
} from '@modelyard/core';
import { NotFoundError } from '@modelyard/core';
import type { MetadataStore } from '@modelyard/store';
import type { BlobService } from './blob-service.js';

/** Blob checks or writes in flight at once for one request (S3 answers each in a round trip). */
const BLOB_CONCURRENCY = 32;

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

  /**
   * Every entry of the given scopes, newest first (at most `PIPELINE_CACHE_LOOKUP_ENTRIES_MAX`;
   * `complete` says whether that is all); with `requireOutput`, only those whose output blob
   * still exists (checked a few at a time).
   * @throws InvalidParameterError naming a malformed scope, or for an empty or too long list.
   */
  async lookup(scopes: string[], requireOutput = false): Promise<PipelineCacheLookup> {
    const found = await this.store.lookupPipelineCacheEntries(
      validateCacheScopes(scopes),
      PIPELINE_CACHE_LOOKUP_ENTRIES_MAX,
    );
    if (!requireOutput) return found;
    const present = new Map<string, Promise<boolean>>();
    const exists = (digest: string) => {
      let known = present.get(digest);
      if (known === undefined) {
        known = this.blobs.stat(digest.slice('sha256:'.length)).then((info) => info !== null);
        present.set(digest, known);
      }
      return known;
    };
    const kept: PipelineCacheEntry[] = [];
    for (let i = 0; i < found.entries.length; i += BLOB_CONCURRENCY) {
      const part = found.entries.slice(i, i + BLOB_CONCURRENCY);
      const ok = await Promise.all(part.map((entry) => exists(entry.outputDigest)));
      kept.push(...part.filter((_, j) => ok[j]));
    }
    return { entries: kept, complete: found.complete };
  }

  /** Removes the entry under `key`; a missing entry is not an error. */
  delete(key: string): Promise<void> {
    validateCacheKey(key);
    return this.store.deletePipelineCacheEntry(key);
  }

  /**
   * Records a batch of pipeline step runs (runs, their tags and cache entries) in one store
   * transaction; all or nothing. The whole batch is checked (`validateStepRunRecords`, and every
   * inline output against its digest) before anything is written; then the inline outputs are
   * stored as blobs, then the rows. A blob stored for a batch whose rows then fail stays (blobs
   * are content-addressed: it is the same blob whoever stores it, and nothing points at it).
   * @throws InvalidParameterError naming the record's index, field and value (or a run of
   *   another experiment, or an output whose bytes do not hash to its digest); NotFoundError for
   *   an unknown experiment; InvalidStateError for a deleted experiment or run.
   */
  async recordStepRuns(records: StepRunRecord[]): Promise<void> {
    const checked = validateStepRunRecords(records);
    const outputs = new Map<string, Buffer>();
    checked.forEach((record, index) => {
      if (record.output === undefined) return;
      const bytes = Buffer.from(record.output.data, 'base64');
      const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      if (actual !== record.output.digest) {
        throw new InvalidParameterError(
          `The output of step run record records[${index}] does not match its digest: it says ` +
            `${record.output.digest}, but its ${bytes.length} bytes hash to ${actual}. Nothing ` +
            'was written.',
          { path: `records[${index}].output.digest`, expected: record.output.digest, actual },
        );
      }
      outputs.set(actual, bytes);
    });
    const pending = [...outputs];
    for (let i = 0; i < pending.length; i += BLOB_CONCURRENCY) {
      await Promise.all(
        pending
          .slice(i, i + BLOB_CONCURRENCY)
          .map(([digest, bytes]) =>
            this.blobs.put(digest.slice('sha256:'.length), Readable.from([bytes])),
          ),
      );
    }
    await this.store.recordStepRuns(
      outputs.size === 0 ? checked : checked.map(({ output: _output, ...rest }) => rest),
    );
  }
}

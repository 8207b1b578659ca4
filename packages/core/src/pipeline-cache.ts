/**
 * Content digests and the pipeline step cache: the shapes the server stores and the pipelines
 * SDK reads, with the validators both sides share. A blob is named by the sha256 of its bytes
 * (`sha256:<64 lower-case hex>`); a cache entry is keyed by a sha256 hex that the SDK derives from
 * a step's code, inputs and params, and points at the blob holding the step's output. An entry
 * may also carry its scope (the same derivation less the inputs), so that a run can fetch every
 * entry it could hit in one lookup instead of asking once per step call.
 */
import { InvalidParameterError } from './errors.js';

/** 64 lower-case hex digits: a sha256 written out. */
export const SHA256_HEX_PATTERN = '^[0-9a-f]{64}$';
/** `sha256:` followed by 64 lower-case hex digits: a blob digest. */
export const BLOB_DIGEST_PATTERN = '^sha256:[0-9a-f]{64}$';

const SHA256_HEX_RE = new RegExp(SHA256_HEX_PATTERN);
const BLOB_DIGEST_RE = new RegExp(BLOB_DIGEST_PATTERN);

/** The digest of the empty blob, as an example in messages. */
const EXAMPLE_DIGEST = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * One entry of the pipeline step cache: a step whose cache key is `key` produced the blob
 * `outputDigest` during pipeline run `pipelineRunId`.
 */
export interface PipelineCacheEntry {
  /** The cache key: a sha256 hex (64 lower-case hex digits) of the step's code, inputs, params. */
  key: string;
  /** The step's output blob, `sha256:<hex>`. */
  outputDigest: string;
  /** What the SDK needs to read the output back (serialiser, type, sizes…); a JSON object. */
  metadata: Record<string, unknown>;
  /** The pipeline run that produced the output. */
  pipelineRunId: string;
  /** The step that produced it. */
  stepName: string;
  /**
   * What the key was derived from less the call's inputs (a sha256 hex the SDK derives from the
   * step's name, code, params and seed), or null when the writer gave none. Entries are fetched
   * by scope in bulk (`lookupPipelineCacheEntries`).
   */
  scope: string | null;
  /** When this entry was (last) written, in milliseconds since the epoch. */
  createdAt: number;
}

/** What a cache write gives: the entry without its key and time (the store stamps the time). */
export interface PipelineCacheEntryInput {
  outputDigest: string;
  /** Defaults to `{}`. */
  metadata?: Record<string, unknown> | undefined;
  pipelineRunId: string;
  stepName: string;
  /** Defaults to null (the entry is then found by its key only). */
  scope?: string | null | undefined;
}

/** The most scopes one bulk lookup may ask for. */
export const PIPELINE_CACHE_LOOKUP_SCOPES_MAX = 1000;

/** The most entries one bulk lookup answers; past it the answer says it is incomplete. */
export const PIPELINE_CACHE_LOOKUP_ENTRIES_MAX = 10_000;

/**
 * What a bulk lookup by scope answers: the entries of the scopes asked for, newest first, and
 * whether that is all of them (`complete`: false when more than the limit exist). When complete,
 * a key of those scopes that is not among the entries had no entry at the time of the lookup.
 */
export interface PipelineCacheLookup {
  entries: PipelineCacheEntry[];
  complete: boolean;
}

function preview(value: unknown): string {
  if (typeof value === 'string') {
    return value.length > 100 ? `'${value.slice(0, 100)}…'` : `'${value}'`;
  }
  try {
    // undefined for functions and symbols, whatever the declared type says.
    const text = JSON.stringify(value) as string | undefined;
    if (text !== undefined) return text;
  } catch {
    // BigInt and cycles: described by their type below.
  }
  return typeof value === 'bigint' ? `${value}n` : `a ${typeof value}`;
}

/** True when `value` is 64 lower-case hex digits. */
export function isSha256Hex(value: unknown): value is string {
  return typeof value === 'string' && SHA256_HEX_RE.test(value);
}

/** True when `value` is a blob digest, `sha256:<64 lower-case hex>`. */
export function isBlobDigest(value: unknown): value is string {
  return typeof value === 'string' && BLOB_DIGEST_RE.test(value);
}

/**
 * Checks a pipeline cache key: 64 lower-case hex digits (a sha256).
 *
 * @throws InvalidParameterError naming the key and the expected form.
 */
export function validateCacheKey(key: unknown, field = 'key'): asserts key is string {
  if (!isSha256Hex(key)) {
    throw new InvalidParameterError(
      `Invalid pipeline cache key ${preview(key)} for '${field}': a cache key is a sha256 ` +
        `written as 64 lower-case hex digits, e.g. '${EXAMPLE_DIGEST.slice('sha256:'.length)}'.`,
      { field, value: key },
    );
  }
}

/**
 * Checks the hex part of a blob digest (as in `/blobs/sha256/<hex>`): 64 lower-case hex digits.
 *
 * @throws InvalidParameterError naming the value and the expected form.
 */
export function validateSha256Hex(hex: unknown, field = 'hex'): asserts hex is string {
  if (!isSha256Hex(hex)) {
    throw new InvalidParameterError(
      `Invalid sha256 ${preview(hex)} for '${field}': expected 64 lower-case hex digits, ` +
        `e.g. '${EXAMPLE_DIGEST.slice('sha256:'.length)}'.`,
      { field, value: hex },
    );
  }
}

/**
 * Checks a blob digest: `sha256:` followed by 64 lower-case hex digits.
 *
 * @throws InvalidParameterError naming the digest and the expected form.
 */
export function validateBlobDigest(digest: unknown, field = 'digest'): asserts digest is string {
  if (!isBlobDigest(digest)) {
    throw new InvalidParameterError(
      `Invalid blob digest ${preview(digest)} for '${field}': expected 'sha256:' followed by ` +
        `64 lower-case hex digits, e.g. '${EXAMPLE_DIGEST}'.`,
      { field, value: digest },
    );
  }
}

/**
 * The hex part of a blob digest.
 *
 * @throws InvalidParameterError when `digest` is not `sha256:<64 lower-case hex>`.
 * @example blobDigestHex('sha256:e3b0…b855') // 'e3b0…b855'
 */
export function blobDigestHex(digest: string): string {
  validateBlobDigest(digest);
  return digest.slice('sha256:'.length);
}

/**
 * Checks a cache write: the output digest, a metadata object that JSON can carry (no arrays,
 * no null, no cycles, no BigInt), and non-empty run id and step name.
 *
 * @returns the input with `metadata` defaulted to `{}`.
 * @throws InvalidParameterError naming the field and the offending value.
 */
export function validatePipelineCacheEntryInput(
  input: PipelineCacheEntryInput,
): Required<PipelineCacheEntryInput> {
  validateBlobDigest(input.outputDigest, 'outputDigest');
  const metadata: unknown = input.metadata === undefined ? {} : input.metadata;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new InvalidParameterError(
      `Invalid pipeline cache metadata ${preview(metadata)}: expected a JSON object, e.g. ` +
        `{"serializer": "json"}.`,
      { field: 'metadata', value: metadata },
    );
  }
  try {
    JSON.stringify(metadata);
  } catch (error) {
    throw new InvalidParameterError(
      `Pipeline cache metadata cannot be written as JSON ` +
        `(${error instanceof Error ? error.message : String(error)}). Use plain objects, ` +
        `arrays, strings, numbers and booleans only.`,
      { field: 'metadata' },
    );
  }
  for (const field of ['pipelineRunId', 'stepName'] as const) {
    const value: unknown = input[field];
    if (typeof value !== 'string' || value === '') {
      throw new InvalidParameterError(
        `Invalid value ${preview(value)} for '${field}' of a pipeline cache entry: expected a ` +
          `non-empty string.`,
        { field, value },
      );
    }
  }
  const scope = input.scope ?? null;
  if (scope !== null) validateCacheKey(scope, 'scope');
  return {
    outputDigest: input.outputDigest,
    metadata: metadata as Record<string, unknown>,
    pipelineRunId: input.pipelineRunId,
    stepName: input.stepName,
    scope,
  };
}

/**
 * Checks the scopes of a bulk lookup: a list of 1 to {@link PIPELINE_CACHE_LOOKUP_SCOPES_MAX}
 * sha256 hex strings.
 *
 * @returns the scopes without repeats.
 * @throws InvalidParameterError naming the offending scope (and its index) or the list's size.
 */
export function validateCacheScopes(scopes: unknown): string[] {
  if (
    !Array.isArray(scopes) ||
    scopes.length === 0 ||
    scopes.length > PIPELINE_CACHE_LOOKUP_SCOPES_MAX
  ) {
    throw new InvalidParameterError(
      `Invalid 'scopes' ${Array.isArray(scopes) ? `(${scopes.length} scopes)` : preview(scopes)}: ` +
        `expected a list of 1 to ${PIPELINE_CACHE_LOOKUP_SCOPES_MAX} scopes, each a sha256 ` +
        `written as 64 lower-case hex digits.`,
      { field: 'scopes' },
    );
  }
  scopes.forEach((scope: unknown, index) => {
    validateCacheKey(scope, `scopes[${index}]`);
  });
  return [...new Set(scopes as string[])];
}

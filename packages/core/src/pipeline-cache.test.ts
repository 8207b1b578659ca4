import { describe, expect, it } from 'vitest';
import {
  InvalidParameterError,
  PIPELINE_CACHE_LOOKUP_SCOPES_MAX,
  blobDigestHex,
  isBlobDigest,
  isSha256Hex,
  validateBlobDigest,
  validateCacheKey,
  validateCacheScopes,
  validatePipelineCacheEntryInput,
  validateSha256Hex,
} from '@modelyard/core';

const HEX = 'ab'.repeat(32);

describe('pipeline cache validation', () => {
  it('accepts 64 lower-case hex digits as a key and sha256:<hex> as a digest', () => {
    expect(isSha256Hex(HEX)).toBe(true);
    expect(isBlobDigest(`sha256:${HEX}`)).toBe(true);
    expect(() => {
      validateCacheKey(HEX);
    }).not.toThrow();
    expect(() => {
      validateSha256Hex(HEX);
    }).not.toThrow();
    expect(blobDigestHex(`sha256:${HEX}`)).toBe(HEX);
  });

  it.each([HEX.toUpperCase(), HEX.slice(1), `${HEX}0`, `sha256:${HEX}`, '', 'zz'.repeat(32), 42])(
    'refuses the key %s, naming it and the expected form',
    (key) => {
      const check = () => {
        validateCacheKey(key);
      };
      expect(check).toThrow(InvalidParameterError);
      expect(check).toThrow(/64 lower-case hex digits/);
    },
  );

  it.each([HEX, `sha256:${HEX.toUpperCase()}`, `sha512:${HEX}`, `sha256:${HEX.slice(2)}`])(
    'refuses the digest %s',
    (digest) => {
      expect(() => {
        validateBlobDigest(digest, 'outputDigest');
      }).toThrow(/'outputDigest'.*sha256:/);
    },
  );

  it('defaults metadata to {} and refuses arrays, null, cycles and empty names', () => {
    const input = { outputDigest: `sha256:${HEX}`, pipelineRunId: 'r1', stepName: 'train' };
    expect(validatePipelineCacheEntryInput(input)).toEqual({
      ...input,
      metadata: {},
      scope: null,
    });
    const bad = (patch: Record<string, unknown>) => () =>
      validatePipelineCacheEntryInput({ ...input, ...patch });
    expect(bad({ metadata: [] })).toThrow(/expected a JSON object/);
    expect(bad({ metadata: null })).toThrow(/expected a JSON object/);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(bad({ metadata: cyclic })).toThrow(/cannot be written as JSON/);
    expect(bad({ metadata: { n: 1n } })).toThrow(/cannot be written as JSON/);
    expect(bad({ stepName: '' })).toThrow(/'stepName'.*non-empty string/);
    expect(bad({ pipelineRunId: undefined })).toThrow(/'pipelineRunId'/);
    expect(bad({ outputDigest: 'sha256:x' })).toThrow(/'outputDigest'/);
  });

  it('keeps a scope of 64 hex digits and refuses any other', () => {
    const input = { outputDigest: `sha256:${HEX}`, pipelineRunId: 'r1', stepName: 'train' };
    expect(validatePipelineCacheEntryInput({ ...input, scope: HEX }).scope).toBe(HEX);
    expect(() => validatePipelineCacheEntryInput({ ...input, scope: 'abc' })).toThrow(
      /'abc' for 'scope'/,
    );
  });

  it('checks the scopes of a bulk lookup and drops repeats', () => {
    const other = 'cd'.repeat(32);
    expect(validateCacheScopes([HEX, other, HEX])).toEqual([HEX, other]);
    expect(() => validateCacheScopes([])).toThrow(/1 to 1000 scopes/);
    expect(() => validateCacheScopes(HEX)).toThrow(/1 to 1000 scopes/);
    expect(() =>
      validateCacheScopes(Array.from({ length: PIPELINE_CACHE_LOOKUP_SCOPES_MAX + 1 }, () => HEX)),
    ).toThrow(/1001 scopes/);
    expect(() => validateCacheScopes([HEX, HEX.toUpperCase()])).toThrow(/'scopes\[1\]'/);
  });
});

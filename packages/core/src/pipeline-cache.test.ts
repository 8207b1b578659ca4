import { describe, expect, it } from 'vitest';
import {
  InvalidParameterError,
  blobDigestHex,
  isBlobDigest,
  isSha256Hex,
  validateBlobDigest,
  validateCacheKey,
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
    expect(validatePipelineCacheEntryInput(input)).toEqual({ ...input, metadata: {} });
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
});

import { describe, expect, it } from 'vitest';
import { decodePageToken, encodePageToken, InvalidParameterError } from '@modelyard/core';

describe('page tokens', () => {
  it.each([0, 1, 100, 49_999, 2 ** 40])('round-trips offset %d', (offset) => {
    expect(decodePageToken(encodePageToken(offset))).toBe(offset);
  });

  it('encodes the same bytes as MLflow', () => {
    // base64.b64encode(json.dumps({"offset": 100}).encode()) in Python
    expect(encodePageToken(100)).toBe('eyJvZmZzZXQiOiAxMDB9');
  });

  it('decodes a token written by MLflow, including a string offset', () => {
    expect(decodePageToken('eyJvZmZzZXQiOiAxMDB9')).toBe(100);
    expect(decodePageToken(btoa('{"offset": "25"}'))).toBe(25);
  });

  it('reads a missing or empty token as the first page', () => {
    expect(decodePageToken(undefined)).toBe(0);
    expect(decodePageToken('')).toBe(0);
  });

  it('refuses to encode a negative or fractional offset', () => {
    expect(() => encodePageToken(-1)).toThrow(RangeError);
    expect(() => encodePageToken(1.5)).toThrow(RangeError);
  });

  it.each<[string, string, RegExp]>([
    ['not base64', 'not base64!', /Invalid page token, could not base64-decode/],
    ['a bad base64 length', 'abcde', /could not base64-decode/],
    ['not JSON', btoa('hello'), /Invalid page token, decoded value="hello" is not JSON/],
    [
      'JSON without an offset',
      btoa('{"page": 2}'),
      /Invalid page token, parsed value=\{"page":2\} has no non-negative integer offset/,
    ],
    ['a negative offset', btoa('{"offset": -5}'), /has no non-negative integer offset/],
    ['a fractional offset', btoa('{"offset": 1.5}'), /has no non-negative integer offset/],
    [
      'a non-numeric string offset',
      btoa('{"offset": "ten"}'),
      /has no non-negative integer offset/,
    ],
    ['a JSON array', btoa('[1]'), /has no non-negative integer offset/],
    ['JSON null', btoa('null'), /has no non-negative integer offset/],
  ])('rejects %s', (_name, token, message) => {
    let caught: unknown;
    try {
      decodePageToken(token);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidParameterError);
    expect((caught as InvalidParameterError).code).toBe('INVALID_PARAMETER_VALUE');
    expect((caught as Error).message).toMatch(message);
  });
});

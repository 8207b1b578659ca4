import { InvalidParameterError } from '@modelyard/core';
import { describe, expect, it } from 'vitest';
import { ESCAPING_PATHS } from './artifact-store.contract.js';
import { resolveArtifactFilePath, resolveArtifactPath } from './path-safety.js';

describe('resolveArtifactPath', () => {
  it.each([
    ['', ''],
    ['.', ''],
    ['./', ''],
    ['a', 'a'],
    ['a/b/c.txt', 'a/b/c.txt'],
    ['a/', 'a'],
    ['./a/./b', 'a/b'],
    ['a//b///c', 'a/b/c'],
    ['model/MLmodel', 'model/MLmodel'],
    ['...', '...'],
    ['a/.../b', 'a/.../b'],
    ['..a/b..', '..a/b..'],
    ['.hidden/.env', '.hidden/.env'],
    ['with space/ü é.txt', 'with space/ü é.txt'],
    ['100%.txt', '100%.txt'],
    ['a%20b', 'a%20b'],
    ['%zz', '%zz'],
    ['ab:c', 'ab:c'],
    ['x/C:', 'x/C:'],
    ['1:2/x', '1:2/x'],
    ['~/x', '~/x'],
  ])('normalises %j to %j', (input, expected) => {
    expect(resolveArtifactPath(input)).toBe(expected);
  });

  const refused: [string, RegExp][] = [
    ['..', /'\.\.' segment/],
    ['../x', /'\.\.' segment/],
    ['a/..', /'\.\.' segment/],
    ['a/../b', /'\.\.' segment/],
    ['a/b/../../..', /'\.\.' segment/],
    ['./..', /'\.\.' segment/],
    ['a//../..//x', /'\.\.' segment/],
    ['/', /absolute/],
    ['/x', /absolute/],
    ['/etc/passwd', /absolute/],
    ['//server/share', /absolute/],
    ['///x', /absolute/],
    ['C:\\x', /backslash/],
    ['C:/x', /Windows drive/],
    ['c:x', /Windows drive/],
    ['Z:', /Windows drive/],
    ['a:b', /Windows drive/],
    ['./C:', /Windows drive/],
    ['.//c:/x', /Windows drive/],
    ['\\\\server\\share', /backslash/],
    ['\\x', /backslash/],
    ['a\\b', /backslash/],
    ['..\\x', /backslash/],
    ['a\0b', /NUL/],
    ['\0', /NUL/],
    ['a/b\0/../c', /NUL/],
    ['%2e%2e', /percent-encoded/],
    ['%2E%2E/x', /percent-encoded/],
    ['.%2e/x', /percent-encoded/],
    ['%2e./x', /percent-encoded/],
    ['a%2fb', /percent-encoded/],
    ['a%2F..%2F..%2Fx', /percent-encoded/],
    ['%5c..%5cx', /percent-encoded/],
    ['%252e%252e/x', /percent-encoded/],
    ['%25252e%25252e', /percent-encoded/],
    ['%252F', /percent-encoded/],
    ['a%00b', /percent-encoded/],
    ['x/%2e', /percent-encoded/],
  ];

  it.each(refused)('refuses %j (%s)', (input, reason) => {
    let caught: unknown;
    try {
      resolveArtifactPath(input);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidParameterError);
    const error = caught as InvalidParameterError;
    expect(error.code).toBe('INVALID_PARAMETER_VALUE');
    expect(error.message).toContain(JSON.stringify(input));
    expect(error.message).toMatch(reason);
    expect(error.context['path']).toBe(input);
  });

  it.each(ESCAPING_PATHS)('refuses the contract suite path %j', (input) => {
    expect(() => resolveArtifactPath(input)).toThrow(InvalidParameterError);
  });

  it('refuses values that are not strings', () => {
    for (const value of [undefined, null, 42, ['a']]) {
      expect(() => resolveArtifactPath(value as unknown as string)).toThrow(InvalidParameterError);
    }
  });

  it('never returns a path that would escape once joined onto a root', () => {
    const pieces = ['a', '.', '..', '', '%2e', '%', '2e', '\\', '/', ':', 'C:', '\0', '%25'];
    for (const first of pieces) {
      for (const second of pieces) {
        for (const third of pieces) {
          const input = first + second + third;
          let resolved: string;
          try {
            resolved = resolveArtifactPath(input);
          } catch (error) {
            expect(error).toBeInstanceOf(InvalidParameterError);
            continue;
          }
          expect(resolved.startsWith('/'), input).toBe(false);
          expect(resolved.split('/'), input).not.toContain('..');
          expect(resolved, input).not.toMatch(/[\\\0]|%(2e|2f|5c|25|00)/i);
          // Normalisation is stable.
          expect(resolveArtifactPath(resolved), input).toBe(resolved);
        }
      }
    }
  });
});

describe('resolveArtifactFilePath', () => {
  it('accepts a path below the root', () => {
    expect(resolveArtifactFilePath('./a//b')).toBe('a/b');
  });

  it.each(['', '.', './', './/./'])('refuses %j, which names the root', (input) => {
    expect(() => resolveArtifactFilePath(input)).toThrow(/names the artifact root/);
  });
});

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VERSION } from '@modelyard/core';

const root = join(import.meta.dirname, '..', '..', '..');

function versionOf(file: string): string {
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

describe('VERSION', () => {
  it("is every package's version and the root's", () => {
    expect(VERSION).toBe(versionOf(join(root, 'package.json')));
    for (const dir of readdirSync(join(root, 'packages'))) {
      expect(versionOf(join(root, 'packages', dir, 'package.json')), dir).toBe(VERSION);
    }
  });
});

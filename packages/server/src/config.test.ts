import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidParameterError } from '@modelyard/core';
import { DEFAULT_CONFIG, resolveConfig } from './config.js';

describe('resolveConfig', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'yard-config-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('uses the embedded defaults when nothing is given', () => {
    expect(resolveConfig({}, {}, dir)).toEqual(DEFAULT_CONFIG);
  });

  it('reads the web UI folder from MODELYARD_WEB_ROOT or the config file', async () => {
    expect(resolveConfig({}, { MODELYARD_WEB_ROOT: '/srv/ui' }, dir).webRoot).toBe('/srv/ui');
    await writeFile(join(dir, 'modelyard.config.json'), JSON.stringify({ webRoot: '/srv/file' }));
    expect(resolveConfig({}, {}, dir).webRoot).toBe('/srv/file');
  });

  it('ranks flags over environment over config file over defaults', async () => {
    await writeFile(
      join(dir, 'modelyard.config.json'),
      JSON.stringify({ port: 7000, host: '0.0.0.0', logLevel: 'debug' }),
    );
    const env = { MODELYARD_PORT: '7100', MODELYARD_HOST: '127.0.0.2' };
    expect(resolveConfig({}, {}, dir)).toMatchObject({
      port: 7000,
      host: '0.0.0.0',
      logLevel: 'debug',
    });
    expect(resolveConfig({}, env, dir)).toMatchObject({
      port: 7100,
      host: '127.0.0.2',
      logLevel: 'debug',
    });
    expect(resolveConfig({ port: 7200 }, env, dir)).toMatchObject({
      port: 7200,
      host: '127.0.0.2',
    });
  });

  it('reads the config file named by --config or MODELYARD_CONFIG', async () => {
    const file = join(dir, 'custom.json');
    await writeFile(file, JSON.stringify({ backendStoreUri: 'postgresql://db/yard' }));
    expect(resolveConfig({ configFile: file }, {}, dir).backendStoreUri).toBe(
      'postgresql://db/yard',
    );
    expect(resolveConfig({}, { MODELYARD_CONFIG: file }, dir).backendStoreUri).toBe(
      'postgresql://db/yard',
    );
  });

  it('names the source and value of a bad setting', async () => {
    expect(() => resolveConfig({}, { MODELYARD_PORT: 'eighty' }, dir)).toThrow(
      /Invalid port "eighty" from MODELYARD_PORT/,
    );
    await writeFile(join(dir, 'modelyard.config.json'), JSON.stringify({ prot: 80 }));
    expect(() => resolveConfig({}, {}, dir)).toThrow(InvalidParameterError);
    expect(() => resolveConfig({}, {}, dir)).toThrow(/Unknown setting 'prot'/);
    expect(() => resolveConfig({ configFile: join(dir, 'missing.json') }, {}, dir)).toThrow(
      /does not exist/,
    );
  });
});

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONTAINER_PORT, DATA_DIR, IMAGE_USER_ID } from './deployment-manifests.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../../..');
const dockerfile = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
// Instructions with their continuation lines joined.
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

function args(keyword: string): string[] {
  return instructions
    .filter((line) => line.startsWith(`${keyword} `))
    .map((line) => line.slice(keyword.length + 1).trim());
}

describe('deploy/Dockerfile', () => {
  it('builds on node:20-bookworm-slim in two stages', () => {
    expect(args('ARG')).toContain('NODE_IMAGE=node:20-bookworm-slim');
    expect(args('FROM')).toEqual(['${NODE_IMAGE} AS build', '${NODE_IMAGE} AS runtime']);
  });

  it('copies only files and folders that exist in the repository', () => {
    const sources = args('COPY')
      .filter((copy) => !copy.startsWith('--from='))
      .flatMap((copy) => copy.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(5);
    for (const source of sources) expect(existsSync(join(ROOT, source)), source).toBe(true);
    // Every workspace's manifest is copied before `npm ci`.
    const workspaces = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] }
    ).workspaces;
    for (const workspace of workspaces) expect(sources).toContain(`${workspace}/package.json`);
  });

  it('installs with the lockfile and .npmrc, builds, and prunes the dev dependencies', () => {
    const runs = args('RUN').join('\n');
    expect(args('COPY')).toContain('package.json package-lock.json .npmrc ./');
    expect(runs).toMatch(/npm ci\b/);
    expect(runs).toMatch(/npm run build/);
    expect(runs).toMatch(/npm prune --omit=dev/);
  });

  it('runs the built CLI entry as the non-root user the manifests expect', () => {
    const entrypoint = JSON.parse(args('ENTRYPOINT')[0]!) as string[];
    const cmd = JSON.parse(args('CMD').at(-1)!) as string[];
    expect(entrypoint).toEqual(['node', '/app/packages/cli/dist/bin.js']);
    // dist/bin.js is what tsc emits for src/bin.ts.
    expect(existsSync(join(ROOT, 'packages/cli/src/bin.ts'))).toBe(true);
    const cliBuild = JSON.parse(
      readFileSync(join(ROOT, 'packages/cli/tsconfig.build.json'), 'utf8'),
    ) as { compilerOptions: { rootDir: string; outDir: string } };
    expect(cliBuild.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
    expect(cmd).toEqual(['server', '--host', '0.0.0.0', '--port', String(CONTAINER_PORT)]);
    expect(args('USER')).toEqual([`${IMAGE_USER_ID}:${IMAGE_USER_ID}`]);
    expect(args('EXPOSE')).toEqual([String(CONTAINER_PORT)]);
  });

  it('keeps its data under /data and checks /health', () => {
    const env = args('ENV').join(' ');
    expect(env).toContain(`MODELYARD_BACKEND_STORE_URI=sqlite:///${DATA_DIR}/modelyard.db`);
    expect(env).toContain(`MODELYARD_ARTIFACTS_DESTINATION=${DATA_DIR}/artifacts`);
    expect(args('WORKDIR').at(-1)).toBe(DATA_DIR);
    expect(args('HEALTHCHECK').join(' ')).toContain(`http://127.0.0.1:${CONTAINER_PORT}/health`);
  });

  it('is paired with a .dockerignore that keeps local builds and state out of the context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['**/node_modules', '**/dist', '**/.modelyard', '.git']) {
      expect(ignored).toContain(entry);
    }
  });
});

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTemporaryServer } from '@modelyard/server';
import type { TemporaryServer } from '@modelyard/server';

const INDEX = '<!doctype html><html><body><div id="app"></div></body></html>';
const SCRIPT = 'console.log("modelyard");';
const HTML = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };

describe('yard server with a built web UI', () => {
  let webRoot: string;
  let server: TemporaryServer;

  beforeAll(async () => {
    webRoot = await mkdtemp(join(tmpdir(), 'yard-web-root-'));
    await mkdir(join(webRoot, 'assets'));
    await writeFile(join(webRoot, 'index.html'), INDEX);
    await writeFile(join(webRoot, 'assets', 'index-abc123.js'), SCRIPT);
    server = await startTemporaryServer('yard-web-ui-', { webRoot });
  });
  afterAll(async () => {
    await server.close();
    await rm(webRoot, { recursive: true, force: true });
  });

  it('answers / with the UI page', async () => {
    const response = await fetch(`${server.url}/`, { headers: HTML });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(await response.text()).toBe(INDEX);
  });

  it('answers a deep link a browser asks for with the UI page', async () => {
    const response = await fetch(`${server.url}/experiments/1/runs?filter=x`, { headers: HTML });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await response.text()).toBe(INDEX);
  });

  it('serves an asset with its content type and a long cache lifetime', async () => {
    const response = await fetch(`${server.url}/assets/index-abc123.js`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/javascript/);
    expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await response.text()).toBe(SCRIPT);
  });

  it('keeps a missing API route a JSON 404, even for a browser', async () => {
    for (const path of ['/api/v1/no-such-thing', '/api/2.0/mlflow/nope', '/v2/nope']) {
      const response = await fetch(`${server.url}${path}`, { headers: HTML });
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await response.json()).toMatchObject({ error_code: 'ENDPOINT_NOT_FOUND' });
    }
  });

  it('keeps a missing page a JSON 404 for a caller that does not ask for HTML', async () => {
    const response = await fetch(`${server.url}/experiments/1`, {
      headers: { accept: 'application/json' },
    });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error_code: 'ENDPOINT_NOT_FOUND' });
  });

  it('still serves the API beside the UI', async () => {
    const response = await fetch(`${server.url}/api/v1/experiments`, { headers: HTML });
    expect(response.status).toBe(200);
    expect(await response.json()).toHaveProperty('experiments');
  });
});

describe('yard server without a built web UI', () => {
  it('starts and serves the API, answering / with a JSON 404', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'yard-web-missing-'));
    const server = await startTemporaryServer('yard-web-ui-', { webRoot: empty });
    try {
      const page = await fetch(`${server.url}/`, { headers: HTML });
      expect(page.status).toBe(404);
      expect(page.headers.get('content-type')).toMatch(/^application\/json/);
      const health = await fetch(`${server.url}/health`);
      expect(await health.text()).toBe('OK');
    } finally {
      await server.close();
      await rm(empty, { recursive: true, force: true });
    }
  });
});

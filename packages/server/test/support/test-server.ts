import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createArtifactStore, createMetadataStore } from '@modelyard/store';
import { buildApp } from '@modelyard/server';

/** A real server on a free loopback port over a SQLite file and an artifact folder in a temp dir. */
export interface TestServer {
  url: string;
  dir: string;
  /** POSTs/PATCHes/DELETEs JSON (or GETs with a query) and returns status and parsed body. */
  call(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

/** Starts a test server; `close()` stops it and removes its folder. */
export async function startTestServer(options: { bodyLimit?: number } = {}): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'yard-server-test-'));
  const metadataStore = await createMetadataStore(`sqlite:///${join(dir, 'yard.db')}`, {
    defaultArtifactRoot: 'mlflow-artifacts:',
  });
  await metadataStore.migrate();
  const artifactStore = createArtifactStore(join(dir, 'artifacts'));
  const app = buildApp({
    metadataStore,
    artifactStore,
    bodyLimit: options.bodyLimit ?? 8 * 1024 * 1024,
    logLevel: false,
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    dir,
    async call(method, path, body) {
      let target = `${url}${path}`;
      const init: RequestInit = { method };
      if (method === 'GET' && body !== undefined) {
        const qs = new URLSearchParams();
        for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
          for (const item of Array.isArray(v) ? v : [v]) qs.append(k, String(item));
        }
        target += `?${qs.toString()}`;
      } else if (body !== undefined) {
        init.body = typeof body === 'string' ? body : JSON.stringify(body);
        init.headers = { 'content-type': 'application/json' };
      }
      const res = await fetch(target, init);
      const text = await res.text();
      return {
        status: res.status,
        body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
      };
    },
    async close() {
      await app.close();
      await Promise.all([metadataStore.close(), artifactStore.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

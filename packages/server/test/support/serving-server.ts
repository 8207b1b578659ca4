import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { expect } from 'vitest';
import { createArtifactStore, createMetadataStore } from '@modelyard/store';
import type { ArtifactStore, MetadataStore } from '@modelyard/store';
import { buildApp } from '@modelyard/server';

/** A real server (SQLite, artifact folder, model cache) in `dir`, listening on a free port. */
export interface ServingServer {
  url: string;
  dir: string;
  metadataStore: MetadataStore;
  artifactStore: ArtifactStore;
  close(): Promise<void>;
}

/** Starts a serving test server in `dir` (the caller removes `dir`). */
export async function startServingServer(
  dir: string,
  bodyLimit = 1024 * 1024,
  rolloutTickMs?: number,
): Promise<ServingServer> {
  const metadataStore = await createMetadataStore(`sqlite:///${join(dir, 'yard.db')}`, {
    defaultArtifactRoot: 'mlflow-artifacts:',
  });
  await metadataStore.migrate();
  const artifactStore = createArtifactStore(join(dir, 'artifacts'));
  const app = buildApp({
    metadataStore,
    artifactStore,
    bodyLimit,
    logLevel: false,
    modelCacheDir: join(dir, 'model-cache'),
    ...(rolloutTickMs !== undefined && { rolloutTickMs }),
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    dir,
    metadataStore,
    artifactStore,
    async close() {
      await app.close();
      await Promise.all([metadataStore.close(), artifactStore.close()]);
    },
  };
}

/** One HTTP call; a non-string body is sent as JSON. */
export async function call(
  server: ServingServer,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers = { 'content-type': 'application/json', ...headers };
  }
  const res = await fetch(`${server.url}${path}`, init);
  const text = await res.text();
  return {
    status: res.status,
    body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>,
    headers: res.headers,
  };
}

/**
 * Logs `files` (path inside the model -> a readable source) as a run's `model` artifact and
 * registers it as version 1 of `model`; returns the version as the native API answered it.
 */
export async function registerModel(
  server: ServingServer,
  model: string,
  files: Record<string, () => Readable>,
): Promise<Record<string, unknown>> {
  expect((await call(server, 'POST', '/api/v1/registered-models', { name: model })).status).toBe(
    201,
  );
  return registerVersion(server, model, files);
}

/**
 * Logs `files` as a new run's `model` artifact and registers it as the next version of the
 * existing registered model `model`; returns the version as the native API answered it.
 */
export async function registerVersion(
  server: ServingServer,
  model: string,
  files: Record<string, () => Readable>,
): Promise<Record<string, unknown>> {
  const experimentName = `exp-${model}`;
  let experiment = await call(server, 'POST', '/api/v1/experiments', { name: experimentName });
  if (experiment.status !== 201 && experiment.status !== 200) {
    experiment = await call(
      server,
      'GET',
      `/api/v1/experiments/by-name/${encodeURIComponent(experimentName)}`,
    );
  }
  const run = await call(server, 'POST', '/api/v1/runs', {
    experimentId: experiment.body['experimentId'],
  });
  const info = (run.body as { info: { runId: string; artifactUri: string } }).info;
  const base = info.artifactUri.replace(/^mlflow-artifacts:\/*/, '');
  for (const [path, open] of Object.entries(files)) {
    await server.artifactStore.put(`${base}/model/${path}`, open());
  }
  const version = await call(server, 'POST', `/api/v1/registered-models/${model}/versions`, {
    source: `runs:/${info.runId}/model`,
    runId: info.runId,
  });
  expect(version.status).toBe(201);
  return version.body;
}

/** Polls a deployment until it is no longer `loading`, and returns it. */
export async function waitSettled(
  server: ServingServer,
  name: string,
): Promise<Record<string, unknown>> {
  for (let i = 0; i < 600; i += 1) {
    const got = await call(server, 'GET', `/api/v1/deployments/${name}`);
    if (got.body['status'] !== 'loading') return got.body;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`deployment ${name} still loading`);
}

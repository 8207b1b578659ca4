import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@modelyard/client';
import { DEFAULT_CONFIG, startServer } from '@modelyard/server';
import type { RunningServer } from '@modelyard/server';

/** The committed ONNX fixture (a 20-feature LogisticRegression as an MLflow model folder). */
export const IRIS_FIXTURE = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../../server/test/fixtures/iris-like-onnx',
);

/**
 * A real server on SQLite in a temp folder where version 1 of model `iris` (alias `champion`) is
 * the fixture, and so are the further versions asked for.
 */
export interface IrisServer {
  server: RunningServer;
  /** The server's temp folder (removed by `close`), free for a test's own files too. */
  dir: string;
  close(): Promise<void>;
}

/** What {@link startIrisServer} sets up besides version 1. */
export interface IrisServerOptions {
  /**
   * How many versions of `iris` to register, each from the same fixture files (default 1). Two
   * give a rollout a candidate that behaves exactly like the primary.
   */
  versions?: number;
}

/**
 * Starts a server, uploads the fixture through the MLflow artifact proxy (as MLflow's client
 * does) and registers it as `iris` version 1 with the alias `champion` (and as versions 2, 3, ...
 * when `options.versions` asks).
 */
export async function startIrisServer(
  prefix: string,
  options: IrisServerOptions = {},
): Promise<IrisServer> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const server = await startServer({
    ...DEFAULT_CONFIG,
    port: 0,
    backendStoreUri: `sqlite:///${join(dir, 'yard.db')}`,
    artifactsDestination: join(dir, 'artifacts'),
    logLevel: 'silent',
    // Rollouts in tests hold for fractions of a second; judge them often.
    rolloutIntervalMs: 100,
  });
  const client = createClient({ baseUrl: server.url });
  const experiment = await client.experiments.create({ name: 'iris' });
  const run = await client.runs.create({ experimentId: experiment.experimentId });
  const base = run.info.artifactUri.replace(/^mlflow-artifacts:\/*/, '');
  for (const file of await readdir(IRIS_FIXTURE)) {
    const res = await fetch(
      `${server.url}/api/2.0/mlflow-artifacts/artifacts/${base}/model/${file}`,
      {
        method: 'PUT',
        body: await readFile(join(IRIS_FIXTURE, file)),
      },
    );
    if (res.status !== 200) throw new Error(`uploading ${file} answered ${res.status}`);
  }
  await client.registeredModels.create({ name: 'iris' });
  for (let v = 1; v <= (options.versions ?? 1); v += 1) {
    await client.modelVersions.create('iris', { source: `runs:/${run.info.runId}/model` });
  }
  await client.registeredModels.setAlias('iris', 'champion', 1);
  return {
    server,
    dir,
    close: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createArtifactStore, createMetadataStore } from '@modelyard/store';
import { buildApp } from './app.js';
import type { ServerConfig } from './config.js';
import { DEFAULT_CONFIG } from './config.js';
import { DEFAULT_ARTIFACT_ROOT } from './services/artifact-uris.js';

/** A running server and how to stop it. */
export interface RunningServer {
  app: FastifyInstance;
  /** The address it listens on, e.g. `http://127.0.0.1:5000`. */
  url: string;
  /** Stops accepting requests, finishes those in flight, and closes the stores. */
  close(): Promise<void>;
}

/**
 * Opens the stores named by `config`, applies migrations, and listens.
 * @throws InvalidParameterError for a bad store URI; the listen error if the port is taken.
 */
export async function startServer(config: ServerConfig): Promise<RunningServer> {
  const metadataStore = await createMetadataStore(config.backendStoreUri, {
    defaultArtifactRoot: DEFAULT_ARTIFACT_ROOT,
  });
  await metadataStore.migrate();
  const artifactStore = createArtifactStore(config.artifactsDestination);
  const app = buildApp({
    metadataStore,
    artifactStore,
    bodyLimit: config.bodyLimit,
    rolloutTickMs: config.rolloutIntervalMs,
    logLevel: config.logLevel === 'silent' ? false : config.logLevel,
    ...(config.webRoot !== undefined && { webRoot: config.webRoot }),
    // Model copies live beside a local artifact folder (`.modelyard/model-cache` by default).
    modelCacheDir: /^[a-z][a-z0-9+.-]*:\/\//i.test(config.artifactsDestination)
      ? resolve('.modelyard', 'model-cache')
      : resolve(dirname(resolve(config.artifactsDestination)), 'model-cache'),
  });
  app.addHook('onClose', async () => {
    await Promise.all([metadataStore.close(), artifactStore.close()]);
  });
  const address = await app.listen({ host: config.host, port: config.port });
  return {
    app,
    url: address,
    close: () => app.close(),
  };
}

/** A server on its own temporary folder (see {@link startTemporaryServer}). */
export interface TemporaryServer extends RunningServer {
  /** The folder holding its SQLite file and artifacts; free for the caller's files too. */
  dir: string;
}

/**
 * Starts a server on a free port with a fresh SQLite file and artifact folder in a new temporary
 * folder, which `close` removes. For tests, examples and benchmarks.
 * @param prefix the temporary folder's name prefix
 * @param config settings to change from the defaults (e.g. `rolloutIntervalMs`)
 */
export async function startTemporaryServer(
  prefix = 'yard-',
  config: Partial<ServerConfig> = {},
): Promise<TemporaryServer> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    const server = await startServer({
      ...DEFAULT_CONFIG,
      port: 0,
      backendStoreUri: `sqlite:///${join(dir, 'yard.db')}`,
      artifactsDestination: join(dir, 'artifacts'),
      logLevel: 'silent',
      ...config,
    });
    return {
      ...server,
      dir,
      close: async () => {
        // A client that vanished mid-connection (a terminated worker thread, a killed process)
        // would hold up the close until the keep-alive timeout: after 2 s, cut what is left.
        const cut = setTimeout(() => {
          server.app.server.closeAllConnections();
        }, 2000);
        try {
          await server.close();
        } finally {
          clearTimeout(cut);
        }
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

import { dirname, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createArtifactStore, createMetadataStore } from '@modelyard/store';
import { buildApp } from './app.js';
import type { ServerConfig } from './config.js';
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

import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { ArtifactStore, MetadataStore } from '@modelyard/store';
import { installErrorHandling } from './error-handler.js';
import { parseLenientJson } from './json.js';
import { registerMlflowArtifactRoutes } from './routes/mlflow-artifacts.js';
import { registerMlflowRegistryRoutes } from './routes/mlflow-registry.js';
import { registerMlflowTrackingRoutes } from './routes/mlflow-tracking.js';
import { registerMlflowScoringRoutes } from './routes/mlflow-scoring.js';
import { registerNativeV1Routes } from './routes/native-v1.js';
import { registerOipV2Routes } from './routes/oip-v2.js';
import { DeploymentService } from './serving/deployment-service.js';
import { BlobService } from './services/blob-service.js';
import { PipelineCacheService } from './services/pipeline-cache-service.js';
import { RegistryService } from './services/registry-service.js';
import { RunArtifactService } from './services/run-artifact-service.js';
import { TrackingService } from './services/tracking-service.js';
import { defaultWebRoot, registerWebUi } from './web-ui.js';
import { VERSION } from '@modelyard/core';

/** What the HTTP app is built from. */
export interface AppOptions {
  metadataStore: MetadataStore;
  artifactStore: ArtifactStore;
  /** Largest JSON body accepted, in bytes. */
  bodyLimit: number;
  /** pino log level, or false for no logging (tests). */
  logLevel: string | false;
  /** Folder for local copies of served model versions; default `./.modelyard/model-cache`. */
  modelCacheDir?: string;
  /** How often running rollouts are evaluated, in ms; default 1000. */
  rolloutTickMs?: number;
  /**
   * The built web UI's folder, served at `/`; default `dist/` of the `@modelyard/web` package.
   * `false` serves the API only. A folder without `index.html` is skipped with one log line.
   */
  webRoot?: string | false;
}

/** pino levels at which the per-request debug line is written. */
const DEBUG_LEVELS: ReadonlySet<string> = new Set(['debug', 'trace']);

/** The services behind the routes, for callers embedding the app (tests, the CLI). */
export interface AppServices {
  tracking: TrackingService;
  registry: RegistryService;
  deployments: DeploymentService;
  blobs: BlobService;
  pipelineCache: PipelineCacheService;
  runArtifacts: RunArtifactService;
}

/**
 * Builds the HTTP application over the given stores: MLflow-compatible REST, the artifact
 * proxy, health and version, and the built web UI at `/`. Does not listen; see `startServer`.
 */
export function buildApp(options: AppOptions): FastifyInstance & { services: AppServices } {
  const app = Fastify({
    logger: options.logLevel === false ? false : { level: options.logLevel },
    bodyLimit: options.bodyLimit,
    // Per-request lines are written at debug level by our own onResponse hook instead.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    keepAliveTimeout: 65_000,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1000 },
  });

  // Callback hooks, not async ones: they run on every request, inference included.
  app.addHook('onSend', (request, reply, payload, done) => {
    void reply.header('x-request-id', request.id);
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    if (DEBUG_LEVELS.has(request.log.level)) {
      request.log.debug(
        {
          method: request.method,
          url: request.url,
          status: reply.statusCode,
          ms: reply.elapsedTime,
        },
        'request',
      );
    }
    done();
  });

  // MLflow's Python client sends NaN/Infinity as bare tokens or as strings; GETs carry no body.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = (body as string).trim();
    if (text === '') {
      done(null, {});
      return;
    }
    try {
      done(null, parseLenientJson(text));
    } catch (err) {
      const error = err as Error & { statusCode?: number };
      error.statusCode = 400;
      error.message = `Malformed JSON request body: ${error.message}`;
      done(error, undefined);
    }
  });

  const webRoot = options.webRoot ?? defaultWebRoot();
  installErrorHandling(app, webRoot === false ? undefined : registerWebUi(app, webRoot));

  const tracking = new TrackingService(options.metadataStore);
  const registry = new RegistryService(options.metadataStore, options.artifactStore);
  const blobs = new BlobService(options.artifactStore);
  const pipelineCache = new PipelineCacheService(options.metadataStore, blobs);
  const runArtifacts = new RunArtifactService(tracking, options.artifactStore);
  const deployments = new DeploymentService({
    store: options.metadataStore,
    artifacts: options.artifactStore,
    registry,
    cacheDir: options.modelCacheDir ?? resolve('.modelyard', 'model-cache'),
    ...(options.rolloutTickMs !== undefined && { rolloutTickMs: options.rolloutTickMs }),
    onError: (error, message) => {
      app.log.error({ err: error }, message);
    },
  });
  // Deployments in the store load in the background once the app is ready; closing stops them.
  app.addHook('onReady', (done) => {
    deployments.restore().catch((error: unknown) => {
      app.log.error({ err: error }, 'could not reload the stored deployments');
    });
    done();
  });
  app.addHook('onClose', () => deployments.close());

  app.get('/health', async (_request, reply) => reply.type('text/plain').send('OK'));
  app.get('/version', async (_request, reply) => reply.type('text/plain').send(VERSION));

  registerMlflowTrackingRoutes(app, tracking);
  registerMlflowRegistryRoutes(app, registry);
  registerMlflowArtifactRoutes(app, tracking, options.artifactStore);
  registerNativeV1Routes(app, {
    tracking,
    registry,
    deployments,
    blobs,
    pipelineCache,
    runArtifacts,
  });
  registerOipV2Routes(app, deployments);
  registerMlflowScoringRoutes(app, deployments);

  return Object.assign(app, {
    services: { tracking, registry, deployments, blobs, pipelineCache, runArtifacts },
  });
}

import swagger from '@fastify/swagger';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { DeploymentService } from '../serving/deployment-service.js';
import type { BlobService } from '../services/blob-service.js';
import type { PipelineCacheService } from '../services/pipeline-cache-service.js';
import type { RegistryService } from '../services/registry-service.js';
import type { RunArtifactService } from '../services/run-artifact-service.js';
import type { TrackingService } from '../services/tracking-service.js';
import { VERSION } from '@modelyard/core';
import { registerBlobRoutes } from './v1/blob-routes.js';
import { registerDeploymentRoutes } from './v1/deployment-routes.js';
import { registerExperimentRoutes } from './v1/experiment-routes.js';
import { registerMetricHistoryRoutes } from './v1/metric-history-routes.js';
import { registerPipelineRoutes } from './v1/pipeline-routes.js';
import { registerRegistryRoutes } from './v1/registry-routes.js';
import { registerRunArtifactRoutes } from './v1/run-artifact-routes.js';
import { registerRunRoutes } from './v1/run-routes.js';
import { ERROR_RESPONSES } from './v1/schemas.js';
import { schemaValidationError } from './v1/validation-error.js';

/** Where the native API lives. */
export const NATIVE_V1_PREFIX = '/api/v1';

/** The services the native API is built on (the app's `AppServices`). */
export interface NativeV1Services {
  tracking: TrackingService;
  registry: RegistryService;
  deployments: DeploymentService;
  blobs: BlobService;
  pipelineCache: PipelineCacheService;
  runArtifacts: RunArtifactService;
}

/**
 * Registers the native API under `/api/v1`: experiments, runs, registered models and model
 * versions as camelCase JSON mirroring `@modelyard/core`'s entities, `GET /api/v1/health`, and
 * the OpenAPI 3.1 document of exactly these routes at `GET /api/v1/openapi.json`.
 *
 * Requests are validated against TypeBox schemas; a failure answers 400
 * `INVALID_PARAMETER_VALUE` naming the field and the offending value. Every other error goes
 * through the app's one error handler. The routes live in their own encapsulated plugin so the
 * OpenAPI collector sees them and not the MLflow-compatible routes.
 */
export function registerNativeV1Routes(app: FastifyInstance, services: NativeV1Services): void {
  void app.register(
    async (v1) => {
      await v1.register(swagger, {
        openapi: {
          openapi: '3.1.0',
          info: {
            title: 'Modelyard native API',
            version: VERSION,
            description:
              'Experiments, runs and their artifacts, registered models, model versions, ' +
              'deployments, blobs and the pipeline cache. Errors answer ' +
              '{"error_code", "message", "request_id"} with the HTTP status of the code.',
          },
          tags: [
            { name: 'experiments' },
            { name: 'runs' },
            { name: 'registered models' },
            { name: 'model versions' },
            { name: 'deployments' },
            { name: 'blobs', description: 'Content-addressed blobs named by their sha256.' },
            { name: 'pipeline cache', description: "Pipeline steps' cached outputs, by key." },
            { name: 'meta' },
          ],
        },
      });

      // Validation failures reach the handler chain instead of Fastify's default 400, so that
      // they can be reported with the offending value (Ajv's error alone does not carry it).
      v1.addHook('onRoute', (route) => {
        route.attachValidation = true;
      });
      v1.addHook('preHandler', (request, _reply, done) => {
        done(request.validationError === undefined ? undefined : schemaValidationError(request));
      });
      // Responses are entities already shaped for JSON (non-finite metric values made strings),
      // so plain JSON.stringify is exact; the response schemas only document them.
      v1.setSerializerCompiler(() => (data) => JSON.stringify(data));

      v1.get(
        '/health',
        {
          schema: {
            operationId: 'health',
            summary: 'Liveness of the native API',
            tags: ['meta'],
            response: {
              200: Type.Object({ status: Type.Literal('ok'), version: Type.String() }),
              ...ERROR_RESPONSES,
            },
          },
        },
        () => Promise.resolve({ status: 'ok', version: VERSION }),
      );

      v1.get(
        '/openapi.json',
        {
          schema: {
            operationId: 'openapi',
            summary: 'This OpenAPI document',
            tags: ['meta'],
            response: {
              200: Type.Object({ openapi: Type.String() }, { additionalProperties: true }),
            },
          },
        },
        () => Promise.resolve(v1.swagger()),
      );

      registerExperimentRoutes(v1, services.tracking);
      registerRunRoutes(v1, services.tracking);
      registerMetricHistoryRoutes(v1, services.tracking);
      registerRegistryRoutes(v1, services.registry);
      registerDeploymentRoutes(v1, services.deployments);
      registerRunArtifactRoutes(v1, services.runArtifacts);
      registerBlobRoutes(v1, services.blobs);
      registerPipelineRoutes(v1, services.pipelineCache);
    },
    { prefix: NATIVE_V1_PREFIX },
  );
}

import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  BLOB_DIGEST_PATTERN,
  SHA256_HEX_PATTERN,
  validateBlobDigest,
  validateCacheKey,
} from '@modelyard/core';
import type { PipelineCacheService } from '../../services/pipeline-cache-service.js';
import { checkFirst } from './route-checks.js';
import { ERROR_RESPONSES, Millis, NoContent } from './schemas.js';

const TAG = ['pipeline cache'];

const CacheParams = Type.Object({
  key: Type.String({
    pattern: SHA256_HEX_PATTERN,
    description: "The step's cache key: a sha256 as 64 lower-case hex digits.",
  }),
});
type CacheParams = Static<typeof CacheParams>;

const OutputDigest = Type.String({
  pattern: BLOB_DIGEST_PATTERN,
  description: "The step's output blob, `sha256:<hex>` (see PUT /api/v1/blobs/sha256/{hex}).",
});
const Metadata = Type.Record(Type.String(), Type.Unknown(), {
  description: 'What the SDK needs to read the output back (serialiser, type…): a JSON object.',
});

/** A pipeline cache entry, as `@modelyard/core`'s `PipelineCacheEntry`. */
export const PipelineCacheEntrySchema = Type.Object(
  {
    key: Type.String({ pattern: SHA256_HEX_PATTERN }),
    outputDigest: OutputDigest,
    metadata: Metadata,
    pipelineRunId: Type.String(),
    stepName: Type.String(),
    createdAt: Millis,
  },
  { title: 'PipelineCacheEntry' },
);

const PutBody = Type.Object({
  outputDigest: OutputDigest,
  metadata: Type.Optional(Metadata),
  pipelineRunId: Type.String({ minLength: 1, description: 'The pipeline run that produced it.' }),
  stepName: Type.String({ minLength: 1, description: 'The step that produced it.' }),
});
type PutBody = Static<typeof PutBody>;

const GetQuery = Type.Object({
  requireOutput: Type.Optional(
    Type.Boolean({ description: "A hit only while the entry's output blob exists." }),
  ),
});
type GetQuery = Static<typeof GetQuery>;

/** Refuses a bad `:key` (and a bad `outputDigest` in a body) with the core validators' words. */
const checkKey = checkFirst((request) => {
  validateCacheKey((request.params as Partial<CacheParams>).key);
  const body = request.body as { outputDigest?: unknown } | undefined;
  if (typeof body?.outputDigest === 'string') validateBlobDigest(body.outputDigest, 'outputDigest');
});

/**
 * The pipeline step cache under `/api/v1/pipeline-cache/:key`: read, write (replacing) and
 * delete the entry that maps a step's cache key to its output blob.
 */
export function registerPipelineRoutes(app: FastifyInstance, cache: PipelineCacheService): void {
  app.get<{ Params: CacheParams; Querystring: GetQuery }>(
    '/pipeline-cache/:key',
    {
      preValidation: checkKey,
      schema: {
        operationId: 'getPipelineCacheEntry',
        summary: 'Read a pipeline cache entry',
        description:
          'Answers 404 RESOURCE_DOES_NOT_EXIST when the key has no entry (a miss), and with ' +
          "requireOutput=true also when the entry's output blob no longer exists.",
        tags: TAG,
        params: CacheParams,
        querystring: GetQuery,
        response: { 200: PipelineCacheEntrySchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => cache.get(request.params.key, request.query.requireOutput === true),
  );

  app.put<{ Params: CacheParams; Body: PutBody }>(
    '/pipeline-cache/:key',
    {
      preValidation: checkKey,
      schema: {
        operationId: 'putPipelineCacheEntry',
        summary: 'Write a pipeline cache entry',
        description:
          'Creates the entry, or replaces the one under this key (last write wins); ' +
          'createdAt becomes now. Metadata defaults to {}.',
        tags: TAG,
        params: CacheParams,
        body: PutBody,
        response: { 200: PipelineCacheEntrySchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => cache.put(request.params.key, request.body),
  );

  app.delete<{ Params: CacheParams }>(
    '/pipeline-cache/:key',
    {
      preValidation: checkKey,
      schema: {
        operationId: 'deletePipelineCacheEntry',
        summary: 'Delete a pipeline cache entry',
        description: 'Deleting a key that has no entry is not an error.',
        tags: TAG,
        params: CacheParams,
        response: { 204: NoContent, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await cache.delete(request.params.key);
      return reply.code(204).send();
    },
  );
}

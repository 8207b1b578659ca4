import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  BLOB_DIGEST_PATTERN,
  SHA256_HEX_PATTERN,
  STEP_RUN_ID_PATTERN,
  STEP_RUN_OUTPUTS_BATCH_MAX,
  STEP_RUN_OUTPUT_INLINE_MAX,
  STEP_RUN_RECORDS_MAX,
  STEP_RUN_STATUSES,
  PIPELINE_CACHE_LOOKUP_ENTRIES_MAX,
  PIPELINE_CACHE_LOOKUP_SCOPES_MAX,
  validateBlobDigest,
  validateCacheKey,
  validateCacheScopes,
  validateStepRunRecords,
} from '@modelyard/core';
import type { StepRunRecord } from '@modelyard/core';
import type { PipelineCacheService } from '../../services/pipeline-cache-service.js';
import { checkFirst } from './route-checks.js';
import { ERROR_RESPONSES, Millis, NoContent, Nullable, StringEnum, TagSchema } from './schemas.js';

const TAG = ['pipeline cache'];
const STEP_RUNS_TAG = ['pipeline step runs'];

const CacheParams = Type.Object({
  key: Type.String({
    pattern: SHA256_HEX_PATTERN,
    description: "The step's cache key: a sha256 as 64 lower-case hex digits.",
  }),
});
type CacheParams = Static<typeof CacheParams>;

const Scope = Type.String({
  pattern: SHA256_HEX_PATTERN,
  description:
    "The entry's scope: what its key was derived from less the call's inputs (a sha256 hex " +
    "of the step's name, code, params and seed, as the SDK derives it).",
});

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
    scope: Nullable(Scope),
    createdAt: Millis,
  },
  { title: 'PipelineCacheEntry' },
);

const LookupBody = Type.Object({
  scopes: Type.Array(Scope, {
    minItems: 1,
    maxItems: PIPELINE_CACHE_LOOKUP_SCOPES_MAX,
    description: 'The scopes whose entries to answer.',
  }),
  requireOutput: Type.Optional(
    Type.Boolean({ description: 'Only entries whose output blob exists.' }),
  ),
});
type LookupBody = Static<typeof LookupBody>;

const LookupResult = Type.Object(
  {
    entries: Type.Array(PipelineCacheEntrySchema),
    complete: Type.Boolean({
      description:
        `False when the scopes hold more than ${PIPELINE_CACHE_LOOKUP_ENTRIES_MAX} entries: ` +
        'the newest are answered, look the others up by key.',
    }),
  },
  { title: 'PipelineCacheLookup' },
);

/** Refuses a bad scope list with the core validator's words (the offending index and value). */
const checkLookup = checkFirst((request) => {
  validateCacheScopes((request.body as { scopes?: unknown } | null | undefined)?.scopes);
});

const PutBody = Type.Object({
  outputDigest: OutputDigest,
  metadata: Type.Optional(Metadata),
  pipelineRunId: Type.String({ minLength: 1, description: 'The pipeline run that produced it.' }),
  stepName: Type.String({ minLength: 1, description: 'The step that produced it.' }),
  scope: Type.Optional(Nullable(Scope)),
});
type PutBody = Static<typeof PutBody>;

const GetQuery = Type.Object({
  requireOutput: Type.Optional(
    Type.Boolean({ description: "A hit only while the entry's output blob exists." }),
  ),
});
type GetQuery = Static<typeof GetQuery>;

const StepRunRecordSchema = Type.Object(
  {
    runId: Type.String({
      pattern: STEP_RUN_ID_PATTERN,
      description: 'Chosen by the client: 32 lower-case hex digits (a uuid4 without dashes).',
    }),
    experimentId: Type.String({ description: 'The experiment the run belongs to.' }),
    runName: Type.String({
      minLength: 1,
      description: "The run's name when this record creates it (also its mlflow.runName tag).",
    }),
    startTime: Millis,
    endTime: Type.Optional(Nullable(Millis)),
    status: StringEnum(STEP_RUN_STATUSES, "The run's status after this record."),
    tags: Type.Optional(
      Type.Array(TagSchema, { description: 'Tags to upsert; the last value per key wins.' }),
    ),
    cache: Type.Optional(
      Type.Object(
        {
          key: Type.String({ pattern: SHA256_HEX_PATTERN }),
          outputDigest: OutputDigest,
          metadata: Type.Optional(Metadata),
          pipelineRunId: Type.String({ minLength: 1 }),
          stepName: Type.String({ minLength: 1 }),
          scope: Type.Optional(Nullable(Scope)),
        },
        { description: 'A pipeline cache entry to write (upsert, last wins) with the run.' },
      ),
    ),
    output: Type.Optional(
      Type.Object(
        {
          digest: OutputDigest,
          data: Type.String({
            description: `The bytes in base64, at most ${STEP_RUN_OUTPUT_INLINE_MAX} once decoded.`,
          }),
        },
        {
          description:
            'A small output blob, stored content-addressed (its digest checked) before the ' +
            `batch's rows; at most ${STEP_RUN_OUTPUTS_BATCH_MAX} bytes in one batch.`,
        },
      ),
    ),
  },
  { title: 'StepRunRecord' },
);

const StepRunsBody = Type.Object({
  records: Type.Array(StepRunRecordSchema, { minItems: 1, maxItems: STEP_RUN_RECORDS_MAX }),
});

/**
 * Checks the records with the core validator before Ajv does, so a bad record is refused with
 * its index, field and value (`records[3].status`), and an oversized batch before Ajv walks it.
 */
const checkStepRuns = checkFirst((request) => {
  validateStepRunRecords((request.body as { records?: unknown } | null | undefined)?.records);
});

/** Refuses a bad `:key` (and a bad `outputDigest` in a body) with the core validators' words. */
const checkKey = checkFirst((request) => {
  validateCacheKey((request.params as Partial<CacheParams>).key);
  const body = request.body as { outputDigest?: unknown } | undefined;
  if (typeof body?.outputDigest === 'string') validateBlobDigest(body.outputDigest, 'outputDigest');
});

/**
 * The pipeline step cache under `/api/v1/pipeline-cache/:key`: read, write (replacing) and
 * delete the entry that maps a step's cache key to its output blob; `POST
 * /api/v1/pipeline-cache/lookup`, every entry of some scopes in one request; and
 * `POST /api/v1/pipeline-step-runs`, which records a batch of step runs (with their cache
 * entries) in one transaction.
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

  app.post<{ Body: LookupBody }>(
    '/pipeline-cache/lookup',
    {
      preValidation: checkLookup,
      schema: {
        operationId: 'lookupPipelineCacheEntries',
        summary: 'Read the pipeline cache entries of some scopes',
        description:
          'Answers every entry whose scope is one of the given scopes (up to ' +
          `${PIPELINE_CACHE_LOOKUP_SCOPES_MAX}), newest first, at most ` +
          `${PIPELINE_CACHE_LOOKUP_ENTRIES_MAX}; with requireOutput=true only those whose ` +
          "output blob exists. The SDK sends its run's step scopes once, so that cache lookups " +
          'need no request per step call. Entries written without a scope are found by key only.',
        tags: TAG,
        body: LookupBody,
        response: { 200: LookupResult, ...ERROR_RESPONSES },
      },
    },
    async (request) => cache.lookup(request.body.scopes, request.body.requireOutput === true),
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

  app.post<{ Body: { records: StepRunRecord[] } }>(
    '/pipeline-step-runs',
    {
      preValidation: checkStepRuns,
      schema: {
        operationId: 'recordPipelineStepRuns',
        summary: 'Record a batch of pipeline step runs',
        description:
          `Creates or updates up to ${STEP_RUN_RECORDS_MAX} step runs (tracking runs with ` +
          'client-chosen ids), their tags and their pipeline cache entries in one transaction: ' +
          'all or nothing. Small outputs may travel inline (output: {digest, data}); they are ' +
          'stored as blobs, their digests checked, before the rows are written. ' +
          'A record whose runId is new creates the run; a later record of the ' +
          'same run sets its status, its end time (when given) and upserts its tags. Answers ' +
          '400 INVALID_PARAMETER_VALUE naming the record index for a bad record (nothing is ' +
          'written) and 404 RESOURCE_DOES_NOT_EXIST for an unknown experiment.',
        tags: STEP_RUNS_TAG,
        body: StepRunsBody,
        response: { 204: NoContent, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await cache.recordStepRuns(request.body.records);
      return reply.code(204).send();
    },
  );
}

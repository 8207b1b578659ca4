import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { TrackingService } from '../../services/tracking-service.js';
import {
  ERROR_RESPONSES,
  ExperimentSchema,
  NoContent,
  PageOf,
  TagSchema,
  ViewTypeSchema,
  searchFields,
} from './schemas.js';

const TAG = ['experiments'];

const IdParams = Type.Object({ experimentId: Type.String({ minLength: 1 }) });
const SearchQuery = Type.Object({ ...searchFields, viewType: Type.Optional(ViewTypeSchema) });
const CreateBody = Type.Object({
  name: Type.String({ description: 'Unique experiment name.' }),
  artifactLocation: Type.Optional(
    Type.String({ description: 'Where its runs store artifacts; the server default otherwise.' }),
  ),
  tags: Type.Optional(Type.Array(TagSchema)),
});
const RenameBody = Type.Object({ name: Type.String({ description: 'The new name.' }) });
const TagParams = Type.Object({
  experimentId: Type.String({ minLength: 1 }),
  key: Type.String({ minLength: 1 }),
});
const TagBody = Type.Object({ value: Type.String() });

/** Experiments under `/api/v1/experiments`. */
export function registerExperimentRoutes(app: FastifyInstance, tracking: TrackingService): void {
  app.get<{ Querystring: Static<typeof SearchQuery> }>(
    '/experiments',
    {
      schema: {
        operationId: 'searchExperiments',
        summary: 'Search experiments',
        tags: TAG,
        querystring: SearchQuery,
        response: { 200: PageOf('experiments', ExperimentSchema), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await tracking.searchExperiments({
        filter: q.filter,
        orderBy: q.orderBy,
        maxResults: q.maxResults,
        pageToken: q.pageToken,
        viewType: q.viewType ?? 'ACTIVE_ONLY',
      });
      return { experiments: page.items, nextPageToken: page.nextPageToken };
    },
  );

  app.post<{ Body: Static<typeof CreateBody> }>(
    '/experiments',
    {
      schema: {
        operationId: 'createExperiment',
        summary: 'Create an experiment',
        tags: TAG,
        body: CreateBody,
        response: { 201: ExperimentSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const id = await tracking.createExperiment(b.name, b.artifactLocation, b.tags ?? []);
      return reply.code(201).send(await tracking.getExperiment(id));
    },
  );

  app.get<{ Params: { name: string } }>(
    '/experiments/by-name/:name',
    {
      schema: {
        operationId: 'getExperimentByName',
        summary: 'Get an experiment by name',
        description: 'URL-encode the name (a "/" becomes %2F).',
        tags: TAG,
        params: Type.Object({ name: Type.String({ minLength: 1 }) }),
        response: { 200: ExperimentSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => tracking.getExperimentByName(request.params.name),
  );

  app.get<{ Params: Static<typeof IdParams> }>(
    '/experiments/:experimentId',
    {
      schema: {
        operationId: 'getExperiment',
        summary: 'Get an experiment',
        tags: TAG,
        params: IdParams,
        response: { 200: ExperimentSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => tracking.getExperiment(request.params.experimentId),
  );

  app.patch<{ Params: Static<typeof IdParams>; Body: Static<typeof RenameBody> }>(
    '/experiments/:experimentId',
    {
      schema: {
        operationId: 'renameExperiment',
        summary: 'Rename an experiment',
        tags: TAG,
        params: IdParams,
        body: RenameBody,
        response: { 200: ExperimentSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      await tracking.renameExperiment(request.params.experimentId, request.body.name);
      return tracking.getExperiment(request.params.experimentId);
    },
  );

  app.delete<{ Params: Static<typeof IdParams> }>(
    '/experiments/:experimentId',
    {
      schema: {
        operationId: 'deleteExperiment',
        summary: 'Delete an experiment (restorable) and its runs',
        tags: TAG,
        params: IdParams,
        response: { 204: NoContent, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await tracking.deleteExperiment(request.params.experimentId);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: Static<typeof IdParams> }>(
    '/experiments/:experimentId/restore',
    {
      schema: {
        operationId: 'restoreExperiment',
        summary: 'Restore a deleted experiment',
        tags: TAG,
        params: IdParams,
        response: { 200: ExperimentSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      await tracking.restoreExperiment(request.params.experimentId);
      return tracking.getExperiment(request.params.experimentId);
    },
  );

  app.put<{ Params: Static<typeof TagParams>; Body: Static<typeof TagBody> }>(
    '/experiments/:experimentId/tags/:key',
    {
      schema: {
        operationId: 'setExperimentTag',
        summary: 'Set an experiment tag',
        tags: TAG,
        params: TagParams,
        body: TagBody,
        response: { 204: NoContent, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const { experimentId, key } = request.params;
      await tracking.setExperimentTag(experimentId, { key, value: request.body.value });
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: Static<typeof TagParams> }>(
    '/experiments/:experimentId/tags/:key',
    {
      schema: {
        operationId: 'deleteExperimentTag',
        summary: 'Delete an experiment tag',
        tags: TAG,
        params: TagParams,
        response: { 204: NoContent, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await tracking.deleteExperimentTag(request.params.experimentId, request.params.key);
      return reply.code(204).send();
    },
  );
}

import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ViewType } from '@modelyard/core';
import type { TrackingService } from '../../services/tracking-service.js';
import { doubleOf, metricJson, runJson } from './entity-json.js';
import {
  ERROR_RESPONSES,
  MetricInputSchema,
  MetricSchema,
  Millis,
  NoContent,
  PageOf,
  ParamSchema,
  RunStatusSchema,
  RunSchema,
  TagSchema,
  ViewTypeSchema,
  searchFields,
} from './schemas.js';

const TAG = ['runs'];

const RunParams = Type.Object({ runId: Type.String({ minLength: 1 }) });
const SearchQuery = Type.Object({
  experimentIds: Type.Array(Type.String(), {
    minItems: 1,
    description: 'Experiment ids: repeat the parameter or separate them with commas.',
  }),
  ...searchFields,
  viewType: Type.Optional(ViewTypeSchema),
});
const SearchBody = Type.Object({
  experimentIds: Type.Array(Type.String(), { minItems: 1 }),
  ...searchFields,
  viewType: Type.Optional(ViewTypeSchema),
});
const CreateBody = Type.Object({
  experimentId: Type.String({ minLength: 1 }),
  runName: Type.Optional(Type.String({ description: 'A generated name when absent.' })),
  userId: Type.Optional(Type.String()),
  startTime: Type.Optional(Millis),
  tags: Type.Optional(Type.Array(TagSchema)),
});
const UpdateBody = Type.Object({
  status: Type.Optional(RunStatusSchema),
  endTime: Type.Optional(Millis),
  runName: Type.Optional(Type.String()),
});
const LogBatchBody = Type.Object({
  metrics: Type.Optional(Type.Array(MetricInputSchema)),
  params: Type.Optional(Type.Array(ParamSchema)),
  tags: Type.Optional(Type.Array(TagSchema)),
});
const HistoryQuery = Type.Object({
  key: Type.String({ minLength: 1, description: 'The metric key.' }),
  maxResults: Type.Optional(Type.Integer({ minimum: 1 })),
  pageToken: Type.Optional(Type.String()),
});
const TagParams = Type.Object({
  runId: Type.String({ minLength: 1 }),
  key: Type.String({ minLength: 1 }),
});

interface SearchInput {
  experimentIds: string[];
  filter?: string | undefined;
  orderBy?: string[] | undefined;
  maxResults?: number | undefined;
  pageToken?: string | undefined;
  viewType?: ViewType | undefined;
}

/** Runs under `/api/v1/runs`. */
export function registerRunRoutes(app: FastifyInstance, tracking: TrackingService): void {
  const search = async (input: SearchInput) => {
    const page = await tracking.searchRuns({
      // `?experimentIds=1,2` and `?experimentIds=1&experimentIds=2` mean the same.
      experimentIds: input.experimentIds.flatMap((id) => id.split(',')).filter((id) => id !== ''),
      filter: input.filter,
      orderBy: input.orderBy,
      maxResults: input.maxResults,
      pageToken: input.pageToken,
      viewType: input.viewType ?? 'ACTIVE_ONLY',
    });
    return { runs: page.items.map(runJson), nextPageToken: page.nextPageToken };
  };

  app.get<{ Querystring: Static<typeof SearchQuery> }>(
    '/runs',
    {
      schema: {
        operationId: 'searchRuns',
        summary: 'Search runs',
        description: 'For long filters use POST /api/v1/runs/search.',
        tags: TAG,
        querystring: SearchQuery,
        response: { 200: PageOf('runs', RunSchema), ...ERROR_RESPONSES },
      },
    },
    async (request) => search(request.query),
  );

  app.post<{ Body: Static<typeof SearchBody> }>(
    '/runs/search',
    {
      schema: {
        operationId: 'searchRunsPost',
        summary: 'Search runs (parameters in the body)',
        tags: TAG,
        body: SearchBody,
        response: { 200: PageOf('runs', RunSchema), ...ERROR_RESPONSES },
      },
    },
    async (request) => search(request.body),
  );

  app.post<{ Body: Static<typeof CreateBody> }>(
    '/runs',
    {
      schema: {
        operationId: 'createRun',
        summary: 'Create a run',
        tags: TAG,
        body: CreateBody,
        response: { 201: RunSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const run = await tracking.createRun({
        experimentId: b.experimentId,
        userId: b.userId,
        runName: b.runName,
        startTime: b.startTime,
        tags: b.tags ?? [],
      });
      return reply.code(201).send(runJson(run));
    },
  );

  app.get<{ Params: Static<typeof RunParams> }>(
    '/runs/:runId',
    {
      schema: {
        operationId: 'getRun',
        summary: 'Get a run',
        tags: TAG,
        params: RunParams,
        response: { 200: RunSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => runJson(await tracking.getRun(request.params.runId)),
  );

  app.patch<{ Params: Static<typeof RunParams>; Body: Static<typeof UpdateBody> }>(
    '/runs/:runId',
    {
      schema: {
        operationId: 'updateRun',
        summary: "Update a run's status, end time or name",
        tags: TAG,
        params: RunParams,
        body: UpdateBody,
        response: { 200: RunSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      await tracking.updateRun(request.params.runId, request.body);
      return runJson(await tracking.getRun(request.params.runId));
    },
  );

  app.delete<{ Params: Static<typeof RunParams> }>(
    '/runs/:runId',
    {
      schema: {
        operationId: 'deleteRun',
        summary: 'Delete a run (restorable)',
        tags: TAG,
        params: RunParams,
        response: { 204: NoContent, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await tracking.deleteRun(request.params.runId);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: Static<typeof RunParams> }>(
    '/runs/:runId/restore',
    {
      schema: {
        operationId: 'restoreRun',
        summary: 'Restore a deleted run',
        tags: TAG,
        params: RunParams,
        response: { 200: RunSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      await tracking.restoreRun(request.params.runId);
      return runJson(await tracking.getRun(request.params.runId));
    },
  );

  app.post<{ Params: Static<typeof RunParams>; Body: Static<typeof LogBatchBody> }>(
    '/runs/:runId/log-batch',
    {
      schema: {
        operationId: 'logBatch',
        summary: 'Log metrics, params and tags in one transaction',
        description: 'A metric without timestamp is stamped now; without step, step 0.',
        tags: TAG,
        params: RunParams,
        body: LogBatchBody,
        response: { 204: NoContent, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const now = Date.now();
      await tracking.logBatch(request.params.runId, {
        metrics: (b.metrics ?? []).map((m) => ({
          key: m.key,
          value: doubleOf(m.value),
          timestamp: m.timestamp ?? now,
          step: m.step ?? 0,
          modelId: m.modelId ?? null,
          datasetName: m.datasetName ?? null,
          datasetDigest: m.datasetDigest ?? null,
        })),
        params: b.params ?? [],
        tags: b.tags ?? [],
      });
      return reply.code(204).send();
    },
  );

  app.get<{ Params: Static<typeof RunParams>; Querystring: Static<typeof HistoryQuery> }>(
    '/runs/:runId/metric-history',
    {
      schema: {
        operationId: 'getMetricHistory',
        summary: 'Every logged point of one metric',
        tags: TAG,
        params: RunParams,
        querystring: HistoryQuery,
        response: { 200: PageOf('metrics', MetricSchema), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await tracking.getMetricHistory(
        request.params.runId,
        q.key,
        q.maxResults,
        q.pageToken,
      );
      return { metrics: page.items.map(metricJson), nextPageToken: page.nextPageToken };
    },
  );

  app.delete<{ Params: Static<typeof TagParams> }>(
    '/runs/:runId/tags/:key',
    {
      schema: {
        operationId: 'deleteRunTag',
        summary: 'Delete a run tag',
        description: 'Set tags with log-batch.',
        tags: TAG,
        params: TagParams,
        response: { 204: NoContent, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await tracking.deleteRunTag(request.params.runId, request.params.key);
      return reply.code(204).send();
    },
  );
}

import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  DEFAULT_DOWNSAMPLE_POINTS,
  InvalidParameterError,
  MAX_DOWNSAMPLE_POINTS,
  MIN_DOWNSAMPLE_POINTS,
  downsampleLttb,
  validateDownsampleRequest,
} from '@modelyard/core';
import type { Metric } from '@modelyard/core';
import type { TrackingService } from '../../services/tracking-service.js';
import { metricJson } from './entity-json.js';
import { checkFirst } from './route-checks.js';
import { ERROR_RESPONSES, MetricSchema } from './schemas.js';

const HistoryParams = Type.Object({
  runId: Type.String({ minLength: 1 }),
  key: Type.String({
    minLength: 1,
    description: "The metric key, percent-encoded ('train/loss' is 'train%2Floss').",
  }),
});
const HistoryQuery = Type.Object({
  maxPoints: Type.Optional(
    Type.Integer({
      minimum: MIN_DOWNSAMPLE_POINTS,
      maximum: MAX_DOWNSAMPLE_POINTS,
      default: DEFAULT_DOWNSAMPLE_POINTS,
      description: `The most points answered (default ${DEFAULT_DOWNSAMPLE_POINTS}).`,
    }),
  ),
  minStep: Type.Optional(Type.Integer({ description: 'Only points at this step or later.' })),
  maxStep: Type.Optional(Type.Integer({ description: 'Only points at this step or earlier.' })),
});
type HistoryQuery = Static<typeof HistoryQuery>;

const DownsampledSchema = Type.Object(
  {
    metrics: Type.Array(MetricSchema, {
      description: 'The points kept, ordered by step then timestamp.',
    }),
    totalPoints: Type.Integer({
      minimum: 0,
      description: 'How many points the metric has in the step range.',
    }),
    downsampled: Type.Boolean({ description: 'Whether points were left out.' }),
  },
  { title: 'DownsampledMetricHistory' },
);

const INTEGER = /^-?\d+$/;

/**
 * Refuses a malformed `maxPoints`, `minStep` or `maxStep` before the schema does, with core's
 * message (the value, the allowed range) rather than Ajv's.
 */
function checkHistoryQuery(request: FastifyRequest): void {
  const query = request.query as Record<string, unknown>;
  const read = (field: string, expected: string): number | undefined => {
    const raw = query[field];
    if (raw === undefined) return undefined;
    if (typeof raw !== 'string' || !INTEGER.test(raw)) {
      throw new InvalidParameterError(
        `Invalid value ${JSON.stringify(raw)} for '${field}' in the query string: ${expected}.`,
        { field, value: raw },
      );
    }
    return Number(raw);
  };
  validateDownsampleRequest({
    maxPoints:
      read(
        'maxPoints',
        `it must be an integer from ${MIN_DOWNSAMPLE_POINTS} to ${MAX_DOWNSAMPLE_POINTS}`,
      ) ?? DEFAULT_DOWNSAMPLE_POINTS,
    minStep: read('minStep', 'it must be an integer step'),
    maxStep: read('maxStep', 'it must be an integer step'),
  });
}

/**
 * One metric's history in a step range, reduced to at most `maxPoints` points with LTTB. Over
 * `8 * maxPoints` points the store first preselects, in SQL, each of `2 * maxPoints` step
 * intervals' lowest and highest point (MinMaxLTTB: LTTB then picks among those), so a million
 * points cost the server a few thousand rows.
 */
async function downsampledHistory(
  tracking: TrackingService,
  runId: string,
  key: string,
  query: HistoryQuery,
): Promise<{ metrics: Metric[]; totalPoints: number; downsampled: boolean }> {
  const maxPoints = query.maxPoints ?? DEFAULT_DOWNSAMPLE_POINTS;
  const { minStep, maxStep } = query;
  const sample = await tracking.sampleMetricSeries(runId, key, { minStep, maxStep }, 2 * maxPoints);
  const kept = downsampleLttb(sample.steps, sample.values, maxPoints);
  const metrics = kept.map((i): Metric => ({
    key,
    value: sample.values[i] ?? Number.NaN,
    timestamp: sample.timestamps[i] ?? 0,
    step: sample.steps[i] ?? 0,
  }));
  return {
    metrics,
    totalPoints: sample.totalPoints,
    downsampled: metrics.length < sample.totalPoints,
  };
}

/**
 * `GET /runs/:runId/metrics/:key/history`: a metric's history downsampled for a chart, over the
 * whole run or a step range (a zoomed chart asks again for its range at full resolution).
 */
export function registerMetricHistoryRoutes(app: FastifyInstance, tracking: TrackingService): void {
  app.get<{ Params: Static<typeof HistoryParams>; Querystring: HistoryQuery }>(
    '/runs/:runId/metrics/:key/history',
    {
      preValidation: checkFirst(checkHistoryQuery),
      schema: {
        operationId: 'getDownsampledMetricHistory',
        summary: "One metric's history downsampled for drawing",
        description:
          'At most maxPoints points chosen by Largest-Triangle-Three-Buckets: the first and ' +
          'last points of the range are always kept, peaks and troughs preferred. With ' +
          'minStep/maxStep, only that step range (inclusive); a range holding maxPoints points ' +
          'or fewer answers every one of them.',
        tags: ['runs'],
        params: HistoryParams,
        querystring: HistoryQuery,
        response: { 200: DownsampledSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const page = await downsampledHistory(
        tracking,
        request.params.runId,
        request.params.key,
        request.query,
      );
      return { ...page, metrics: page.metrics.map(metricJson) };
    },
  );
}

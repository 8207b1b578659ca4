import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { DeploymentService } from '../../serving/deployment-service.js';
import { ROLLOUT_STRATEGIES } from '@modelyard/core';
import { ERROR_RESPONSES, Millis, NoContent, Nullable, StringEnum } from './schemas.js';

const TAGS = ['deployments'];

/** Who the native API records as the actor until authentication arrives. */
const ANONYMOUS = 'anonymous';

export const DeploymentVariantSchema = Type.Object(
  {
    name: Type.String(),
    modelUri: Type.String({ description: 'As given: models:/<model>/<version> or @<alias>.' }),
    modelName: Type.String(),
    modelVersion: Type.String({ description: 'The version the URI resolved to.' }),
    role: StringEnum(['primary', 'candidate', 'shadow'] as const),
    weight: Type.Number({ description: 'Share of traffic, 0 to 100.' }),
    replicas: Type.Integer(),
    maxConcurrency: Type.Integer(),
    batching: Nullable(Type.Object({ maxBatchSize: Type.Integer(), maxLatencyMs: Type.Number() })),
    status: StringEnum(['loading', 'ready', 'failed'] as const),
    statusReason: Type.String({ description: "Why the variant's status is what it is." }),
  },
  { title: 'DeploymentVariant' },
);

const FreeObject = (description: string) =>
  Type.Object({}, { additionalProperties: true, description });

export const RolloutSchema = Type.Object(
  {
    strategy: StringEnum(ROLLOUT_STRATEGIES),
    phase: StringEnum(['warming', 'running', 'switched', 'completed', 'rolled-back'] as const),
    candidate: Type.String({ description: "The candidate's variant name." }),
    primary: Type.String({ description: "The primary's variant name when the rollout started." }),
    settings: FreeObject('The settings with their defaults (gates, holdSeconds, weight, ...).'),
    canary: Nullable(FreeObject("The canary's stages, current stage and its start.")),
    outcomes: FreeObject('A/B outcomes by variant: count, sum, mean, m2.'),
    baseline: Nullable(FreeObject("Blue-green: the primary's figures before the switch.")),
    startedAt: Millis,
    phaseSince: Millis,
    endedAt: Nullable(Millis),
    actor: Type.String(),
    reason: Type.String(),
    lastDecision: Type.String({ description: "The latest decision's reason." }),
  },
  { title: 'Rollout' },
);

export const DeploymentSchema = Type.Object(
  {
    name: Type.String(),
    description: Type.String(),
    variants: Type.Array(DeploymentVariantSchema),
    status: StringEnum(['loading', 'ready', 'degraded', 'failed'] as const),
    statusReason: Type.String({ description: 'Why the status is what it is.' }),
    rollout: Nullable(RolloutSchema),
    createdAt: Millis,
    updatedAt: Millis,
  },
  { title: 'Deployment' },
);

export const DeploymentEventSchema = Type.Object(
  {
    deploymentName: Type.String(),
    sequence: Type.Integer(),
    at: Millis,
    actor: Type.String(),
    action: Type.String({ description: 'created, status, scaled, deleted, ...' }),
    reason: Type.String(),
    details: Type.Object({}, { additionalProperties: true }),
  },
  { title: 'DeploymentEvent' },
);

const NameParams = Type.Object({ name: Type.String({ minLength: 1 }) });
const Batching = Type.Object(
  {
    maxBatchSize: Type.Integer({
      minimum: 1,
      maximum: 65536,
      description: 'Rows (summed first dimensions) at which a batch is sent at once.',
    }),
    maxLatencyMs: Type.Number({
      minimum: 0,
      maximum: 60000,
      description: 'The longest the oldest request of a batch waits for others.',
    }),
  },
  {
    description:
      'Dynamic batching: concurrent requests are stacked along their first dimension and run ' +
      'together. A model whose inputs or outputs lack a variable first dimension is served ' +
      'unbatched.',
  },
);
const Sizing = {
  replicas: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
  maxConcurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
  batching: Type.Optional(Nullable(Batching)),
};
const CreateBody = Type.Object({
  name: Type.String({
    description: 'Endpoint name: a DNS label (lower-case letters, digits, -).',
  }),
  modelUri: Type.String({
    description: 'models:/<model>/<version> or models:/<model>@<alias>.',
  }),
  description: Type.Optional(Type.String()),
  ...Sizing,
  reason: Type.Optional(Type.String({ description: 'Why (recorded on the event).' })),
});
const UpdateBody = Type.Object({
  description: Type.Optional(Type.String()),
  ...Sizing,
  reason: Type.Optional(Type.String({ description: 'Why (recorded on the event).' })),
});
const RolloutBody = Type.Object({
  modelUri: Type.String({ description: 'The candidate: models:/<model>/<version> or @<alias>.' }),
  strategy: StringEnum(ROLLOUT_STRATEGIES),
  stages: Type.Optional(
    Type.Array(Type.Number(), { description: 'canary: candidate weights, ending at 100.' }),
  ),
  holdSeconds: Type.Optional(
    Type.Union([Type.Number(), Type.Array(Type.Number())], {
      description:
        'canary: hold per stage (one number, or one per stage but the last); blue-green: ' +
        'how long the old version stays warm after the switch; shadow: how long to mirror ' +
        'before an automatic decision.',
    }),
  ),
  gates: Type.Optional(
    Type.Object(
      {
        maxErrorRateIncrease: Type.Optional(Type.Number()),
        maxP95LatencyRatio: Type.Optional(Type.Number()),
        minRequests: Type.Optional(Type.Integer()),
        minP95LatencyIncreaseMs: Type.Optional(
          Type.Number({
            description:
              'The latency gate also needs the candidate this many ms slower (default 2).',
          }),
        ),
      },
      { description: 'Health gates against the primary (every strategy).' },
    ),
  ),
  weight: Type.Optional(
    Type.Number({ description: "ab: the candidate's share (default 50); shadow: % mirrored." }),
  ),
  stickyHeader: Type.Optional(Type.String({ description: 'ab/canary: header of the sticky key.' })),
  stickyField: Type.Optional(
    Type.String({ description: 'ab/canary: request parameter holding the sticky key.' }),
  ),
  metric: Type.Optional(
    Type.Object(
      {
        name: Type.String(),
        kind: StringEnum(['proportion', 'mean'] as const),
        higherIsBetter: Type.Optional(Type.Boolean()),
      },
      { description: 'ab: the outcome metric the significance test compares.' },
    ),
  ),
  alpha: Type.Optional(Type.Number({ description: 'ab: significance level (default 0.05).' })),
  minSamples: Type.Optional(
    Type.Integer({ description: 'ab: outcomes per variant before deciding (default 100).' }),
  ),
  minAgreement: Type.Optional(
    Type.Number({ description: 'shadow: share of agreeing answers to promote (default 0.99).' }),
  ),
  autoPromote: Type.Optional(
    Type.Boolean({ description: 'ab/shadow: promote or roll back by itself on the evidence.' }),
  ),
  ...Sizing,
  reason: Type.Optional(Type.String({ description: 'Why (recorded on the event).' })),
});
const ReasonBody = Type.Object({ reason: Type.Optional(Type.String()) });
const OutcomesBody = Type.Object({
  outcomes: Type.Array(
    Type.Object({
      variant: Type.Optional(Type.String({ description: 'The variant that answered.' })),
      key: Type.Optional(Type.String({ description: "Or the request's sticky key." })),
      value: Type.Number({ description: 'proportion metrics: 0 or 1.' }),
    }),
    { minItems: 1, maxItems: 10000 },
  ),
});
const AbReportSchema = Type.Object(
  {
    metric: FreeObject('The declared metric.'),
    primary: FreeObject('name, count, mean'),
    candidate: FreeObject('name, count, mean'),
    test: Type.String(),
    difference: Nullable(Type.Number()),
    pValue: Nullable(Type.Number()),
    alpha: Type.Number(),
    decided: Type.Boolean(),
    candidateBetter: Type.Boolean(),
    summary: Type.String(),
  },
  { title: 'AbReport' },
);
const MetricsSchema = Type.Object(
  {
    deployment: Type.String(),
    status: Type.String(),
    variants: Type.Array(
      Type.Object(
        {},
        {
          additionalProperties: true,
          description:
            'name, role, weight, modelVersion, status; window (requests, errors, p50/p95/p99 ' +
            'latency ms over the current rollout stage), totalRequests, totalErrors, inFlight; ' +
            'shadow (mirrored, agreed, agreement) for shadow variants.',
        },
      ),
    ),
    rollout: Nullable(FreeObject('strategy, phase, candidate, lastDecision, ab (the A/B report)')),
  },
  { title: 'DeploymentMetrics' },
);
const ScaleBody = Type.Object({
  replicas: Type.Integer({ minimum: 1, maximum: 64 }),
  reason: Type.Optional(Type.String()),
});
const EventsQuery = Type.Object({
  maxResults: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  pageToken: Type.Optional(Type.String()),
  order: Type.Optional(
    Type.Union([Type.Literal('asc'), Type.Literal('desc')], {
      description: '`asc` (default): oldest first; `desc`: newest first.',
    }),
  ),
});
const DeleteQuery = Type.Object({ reason: Type.Optional(Type.String()) });

/** Deployments under `/api/v1/deployments`. */
export function registerDeploymentRoutes(
  app: FastifyInstance,
  deployments: DeploymentService,
): void {
  app.post<{ Body: Static<typeof CreateBody> }>(
    '/deployments',
    {
      schema: {
        operationId: 'createDeployment',
        summary: 'Deploy a model version behind a named endpoint',
        description:
          'Returns at once with status loading; the model loads in the background (poll the ' +
          'deployment for ready or failed). Once ready it answers at /v2/models/{name}/infer ' +
          'and /endpoints/{name}/invocations.',
        tags: TAGS,
        body: CreateBody,
        response: { 201: DeploymentSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const deployment = await deployments.create({ ...b, actor: ANONYMOUS });
      return reply.code(201).send(deployment);
    },
  );

  app.get(
    '/deployments',
    {
      schema: {
        operationId: 'listDeployments',
        summary: 'List deployments',
        tags: TAGS,
        response: {
          200: Type.Object({ deployments: Type.Array(DeploymentSchema) }),
          ...ERROR_RESPONSES,
        },
      },
    },
    async () => ({ deployments: await deployments.list() }),
  );

  app.get<{ Params: Static<typeof NameParams> }>(
    '/deployments/:name',
    {
      schema: {
        operationId: 'getDeployment',
        summary: 'Get a deployment and its status',
        tags: TAGS,
        params: NameParams,
        response: { 200: DeploymentSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => deployments.get(request.params.name),
  );

  app.post<{ Params: Static<typeof NameParams>; Body: Static<typeof ScaleBody> }>(
    '/deployments/:name/scale',
    {
      schema: {
        operationId: 'scaleDeployment',
        summary: "Change the number of replicas of a deployment's model",
        description:
          'A model with the new replica count loads beside the serving one and replaces it ' +
          'when ready; requests keep being served meanwhile.',
        tags: TAGS,
        params: NameParams,
        body: ScaleBody,
        response: { 200: DeploymentSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      deployments.scale(request.params.name, request.body.replicas, ANONYMOUS, request.body.reason),
  );

  app.patch<{ Params: Static<typeof NameParams>; Body: Static<typeof UpdateBody> }>(
    '/deployments/:name',
    {
      schema: {
        operationId: 'updateDeployment',
        summary: "Change a deployment's description or its primary's sizing",
        description:
          'replicas, maxConcurrency and batching apply to the primary variant, which loads ' +
          'again beside the serving copy and replaces it when ready. To serve another model ' +
          'version, start a rollout.',
        tags: TAGS,
        params: NameParams,
        body: UpdateBody,
        response: { 200: DeploymentSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      deployments.update(request.params.name, { ...request.body, actor: ANONYMOUS }),
  );

  app.post<{ Params: Static<typeof NameParams>; Body: Static<typeof RolloutBody> }>(
    '/deployments/:name/rollout',
    {
      schema: {
        operationId: 'startRollout',
        summary: 'Roll a new model version out: canary, blue-green, A/B or shadow',
        description:
          'The candidate loads beside the primary and receives nothing until ready; then the ' +
          'strategy moves traffic and the server promotes or rolls back by itself on the ' +
          "measured health (error rate and p95 latency against the primary's). Follow it in " +
          'the deployment (rollout), its events, and /metrics.',
        tags: TAGS,
        params: NameParams,
        body: RolloutBody,
        response: { 200: DeploymentSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { modelUri, strategy, reason, replicas, maxConcurrency, batching, ...options } =
        request.body;
      return deployments.rollout(request.params.name, {
        modelUri,
        strategy,
        options,
        replicas,
        maxConcurrency,
        batching,
        reason,
        actor: ANONYMOUS,
      });
    },
  );

  app.post<{ Params: Static<typeof NameParams>; Body: Static<typeof ReasonBody> }>(
    '/deployments/:name/promote',
    {
      schema: {
        operationId: 'promoteRollout',
        summary: "Make the rollout's candidate the primary now",
        tags: TAGS,
        params: NameParams,
        body: ReasonBody,
        response: { 200: DeploymentSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => deployments.promote(request.params.name, ANONYMOUS, request.body.reason),
  );

  app.post<{ Params: Static<typeof NameParams>; Body: Static<typeof ReasonBody> }>(
    '/deployments/:name/rollback',
    {
      schema: {
        operationId: 'rollbackRollout',
        summary: "Roll the rollout's candidate back now",
        description: 'The primary, still loaded, takes all traffic at once.',
        tags: TAGS,
        params: NameParams,
        body: ReasonBody,
        response: { 200: DeploymentSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => deployments.rollback(request.params.name, ANONYMOUS, request.body.reason),
  );

  app.post<{ Params: Static<typeof NameParams>; Body: Static<typeof OutcomesBody> }>(
    '/deployments/:name/outcomes',
    {
      schema: {
        operationId: 'recordOutcomes',
        summary: "Record outcomes of an A/B test's metric",
        description:
          'Each outcome names the variant that answered (the x-modelyard-variant response ' +
          "header) or gives the request's sticky key. Answers the A/B report with its p-value.",
        tags: TAGS,
        params: NameParams,
        body: OutcomesBody,
        response: { 200: AbReportSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => deployments.recordOutcomes(request.params.name, request.body.outcomes),
  );

  app.get<{ Params: Static<typeof NameParams> }>(
    '/deployments/:name/metrics',
    {
      schema: {
        operationId: 'getDeploymentMetrics',
        summary: 'Live per-variant request, error and latency figures, and the rollout state',
        tags: TAGS,
        params: NameParams,
        response: { 200: MetricsSchema, ...ERROR_RESPONSES },
      },
    },
    (request, reply) => reply.send(deployments.metrics(request.params.name)),
  );

  app.delete<{ Params: Static<typeof NameParams>; Querystring: Static<typeof DeleteQuery> }>(
    '/deployments/:name',
    {
      schema: {
        operationId: 'deleteDeployment',
        summary: 'Stop serving and delete a deployment (its events are kept)',
        tags: TAGS,
        params: NameParams,
        querystring: DeleteQuery,
        response: { 204: NoContent, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await deployments.delete(request.params.name, ANONYMOUS, request.query.reason);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: Static<typeof NameParams>; Querystring: Static<typeof EventsQuery> }>(
    '/deployments/:name/events',
    {
      schema: {
        operationId: 'listDeploymentEvents',
        summary: "A deployment's events, oldest first (or newest first with order=desc)",
        tags: TAGS,
        params: NameParams,
        querystring: EventsQuery,
        response: {
          200: Type.Object({
            events: Type.Array(DeploymentEventSchema),
            nextPageToken: Type.Optional(Type.String()),
          }),
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request) => {
      const page = await deployments.events(request.params.name, request.query);
      return {
        events: page.items,
        ...(page.nextPageToken === undefined ? {} : { nextPageToken: page.nextPageToken }),
      };
    },
  );
}

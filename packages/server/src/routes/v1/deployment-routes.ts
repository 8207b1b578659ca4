import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { DeploymentService } from '../../serving/deployment-service.js';
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
  },
  { title: 'DeploymentVariant' },
);

export const DeploymentSchema = Type.Object(
  {
    name: Type.String(),
    description: Type.String(),
    variants: Type.Array(DeploymentVariantSchema),
    status: StringEnum(['loading', 'ready', 'degraded', 'failed'] as const),
    statusReason: Type.String({ description: 'Why the status is what it is.' }),
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
const CreateBody = Type.Object({
  name: Type.String({
    description: 'Endpoint name: a DNS label (lower-case letters, digits, -).',
  }),
  modelUri: Type.String({
    description: 'models:/<model>/<version> or models:/<model>@<alias>.',
  }),
  description: Type.Optional(Type.String()),
  replicas: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
  maxConcurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
  batching: Type.Optional(
    Type.Object(
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
          'Dynamic batching (default off): concurrent requests are stacked along their ' +
          'first dimension and run together. A model whose inputs or outputs lack a ' +
          'variable first dimension is served unbatched.',
      },
    ),
  ),
  reason: Type.Optional(Type.String({ description: 'Why (recorded on the event).' })),
});
const ScaleBody = Type.Object({
  replicas: Type.Integer({ minimum: 1, maximum: 64 }),
  reason: Type.Optional(Type.String()),
});
const EventsQuery = Type.Object({
  maxResults: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  pageToken: Type.Optional(Type.String()),
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
        summary: "A deployment's events, oldest first",
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

import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { RegistryService } from '../../services/registry-service.js';
import {
  ERROR_RESPONSES,
  ModelVersionSchema,
  NoContent,
  PageOf,
  RegisteredModelSchema,
  TagSchema,
  searchFields,
} from './schemas.js';

const MODELS = ['registered models'];
const VERSIONS = ['model versions'];

const NameParams = Type.Object({ name: Type.String({ minLength: 1 }) });
const VersionParams = Type.Object({
  name: Type.String({ minLength: 1 }),
  version: Type.String({ minLength: 1, description: 'A positive integer.' }),
});
const AliasParams = Type.Object({
  name: Type.String({ minLength: 1 }),
  alias: Type.String({ minLength: 1 }),
});
const ModelTagParams = Type.Object({
  name: Type.String({ minLength: 1 }),
  key: Type.String({ minLength: 1 }),
});
const VersionTagParams = Type.Object({
  name: Type.String({ minLength: 1 }),
  version: Type.String({ minLength: 1 }),
  key: Type.String({ minLength: 1 }),
});
const SearchQuery = Type.Object(searchFields);
const CreateModelBody = Type.Object({
  name: Type.String(),
  description: Type.Optional(Type.String()),
  tags: Type.Optional(Type.Array(TagSchema)),
});
const UpdateModelBody = Type.Object({
  name: Type.Optional(Type.String({ description: 'A new name (renames the model).' })),
  description: Type.Optional(Type.String()),
});
const CreateVersionBody = Type.Object({
  source: Type.String({ description: 'Where the model files are, e.g. runs:/<run id>/model.' }),
  runId: Type.Optional(Type.String()),
  runLink: Type.Optional(Type.String()),
  description: Type.Optional(Type.String()),
  tags: Type.Optional(Type.Array(TagSchema)),
  modelId: Type.Optional(Type.String({ description: 'The logged model it comes from.' })),
});
const UpdateVersionBody = Type.Object({ description: Type.String() });
const StageBody = Type.Object({
  stage: Type.String({ description: 'None, Staging, Production or Archived (any case).' }),
  archiveExistingVersions: Type.Optional(
    Type.Boolean({ description: 'Archive the versions currently in that stage.' }),
  ),
});
const AliasBody = Type.Object({ version: Type.String({ description: 'A positive integer.' }) });
const TagBody = Type.Object({ value: Type.String() });

/** Registered models under `/api/v1/registered-models` and versions under `/api/v1/model-versions`. */
export function registerRegistryRoutes(app: FastifyInstance, registry: RegistryService): void {
  app.get<{ Querystring: Static<typeof SearchQuery> }>(
    '/registered-models',
    {
      schema: {
        operationId: 'searchRegisteredModels',
        summary: 'Search registered models',
        tags: MODELS,
        querystring: SearchQuery,
        response: { 200: PageOf('registeredModels', RegisteredModelSchema), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const page = await registry.searchRegisteredModels(request.query);
      return { registeredModels: page.items, nextPageToken: page.nextPageToken };
    },
  );

  app.post<{ Body: Static<typeof CreateModelBody> }>(
    '/registered-models',
    {
      schema: {
        operationId: 'createRegisteredModel',
        summary: 'Create a registered model',
        tags: MODELS,
        body: CreateModelBody,
        response: { 201: RegisteredModelSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const model = await registry.createRegisteredModel(b.name, b.description, b.tags ?? []);
      return reply.code(201).send(model);
    },
  );

  app.get<{ Params: Static<typeof NameParams> }>(
    '/registered-models/:name',
    {
      schema: {
        operationId: 'getRegisteredModel',
        summary: 'Get a registered model',
        tags: MODELS,
        params: NameParams,
        response: { 200: RegisteredModelSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => registry.getRegisteredModel(request.params.name),
  );

  app.patch<{ Params: Static<typeof NameParams>; Body: Static<typeof UpdateModelBody> }>(
    '/registered-models/:name',
    {
      schema: {
        operationId: 'updateRegisteredModel',
        summary: 'Rename a registered model or change its description',
        tags: MODELS,
        params: NameParams,
        body: UpdateModelBody,
        response: { 200: RegisteredModelSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      let name = request.params.name;
      const b = request.body;
      let model = await registry.getRegisteredModel(name);
      if (b.name !== undefined && b.name !== name) {
        model = await registry.renameRegisteredModel(name, b.name);
        name = b.name;
      }
      if (b.description !== undefined) {
        model = await registry.updateRegisteredModel(name, b.description);
      }
      return model;
    },
  );

  app.delete<{ Params: Static<typeof NameParams> }>(
    '/registered-models/:name',
    {
      schema: {
        operationId: 'deleteRegisteredModel',
        summary: 'Delete a registered model and all its versions',
        tags: MODELS,
        params: NameParams,
        response: { 204: NoContent, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await registry.deleteRegisteredModel(request.params.name);
      return reply.code(204).send();
    },
  );

  app.put<{ Params: Static<typeof ModelTagParams>; Body: Static<typeof TagBody> }>(
    '/registered-models/:name/tags/:key',
    {
      schema: {
        operationId: 'setRegisteredModelTag',
        summary: 'Set a registered model tag',
        tags: MODELS,
        params: ModelTagParams,
        body: TagBody,
        response: { 204: NoContent, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const { name, key } = request.params;
      await registry.setRegisteredModelTag(name, { key, value: request.body.value });
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: Static<typeof ModelTagParams> }>(
    '/registered-models/:name/tags/:key',
    {
      schema: {
        operationId: 'deleteRegisteredModelTag',
        summary: 'Delete a registered model tag',
        tags: MODELS,
        params: ModelTagParams,
        response: { 204: NoContent, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await registry.deleteRegisteredModelTag(request.params.name, request.params.key);
      return reply.code(204).send();
    },
  );

  app.put<{ Params: Static<typeof AliasParams>; Body: Static<typeof AliasBody> }>(
    '/registered-models/:name/aliases/:alias',
    {
      schema: {
        operationId: 'setAlias',
        summary: 'Point an alias at a version',
        tags: MODELS,
        params: AliasParams,
        body: AliasBody,
        response: { 200: ModelVersionSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { name, alias } = request.params;
      await registry.setAlias(name, alias, request.body.version);
      return registry.getModelVersionByAlias(name, alias);
    },
  );

  app.get<{ Params: Static<typeof AliasParams> }>(
    '/registered-models/:name/aliases/:alias',
    {
      schema: {
        operationId: 'getModelVersionByAlias',
        summary: 'Get the version an alias points at',
        tags: MODELS,
        params: AliasParams,
        response: { 200: ModelVersionSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => registry.getModelVersionByAlias(request.params.name, request.params.alias),
  );

  app.delete<{ Params: Static<typeof AliasParams> }>(
    '/registered-models/:name/aliases/:alias',
    {
      schema: {
        operationId: 'deleteAlias',
        summary: 'Delete an alias',
        tags: MODELS,
        params: AliasParams,
        response: { 204: NoContent, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await registry.deleteAlias(request.params.name, request.params.alias);
      return reply.code(204).send();
    },
  );

  // ---- model versions ----
  app.get<{ Querystring: Static<typeof SearchQuery> }>(
    '/model-versions',
    {
      schema: {
        operationId: 'searchModelVersions',
        summary: 'Search model versions',
        description: "Filter by model with name = 'my-model'.",
        tags: VERSIONS,
        querystring: SearchQuery,
        response: { 200: PageOf('modelVersions', ModelVersionSchema), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const page = await registry.searchModelVersions(request.query);
      return { modelVersions: page.items, nextPageToken: page.nextPageToken };
    },
  );

  app.post<{ Params: Static<typeof NameParams>; Body: Static<typeof CreateVersionBody> }>(
    '/registered-models/:name/versions',
    {
      schema: {
        operationId: 'createModelVersion',
        summary: 'Register a new version of a model',
        tags: VERSIONS,
        params: NameParams,
        body: CreateVersionBody,
        response: { 201: ModelVersionSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const version = await registry.createModelVersion({
        name: request.params.name,
        source: b.source,
        runId: b.runId,
        runLink: b.runLink,
        description: b.description,
        tags: b.tags ?? [],
        modelId: b.modelId,
      });
      return reply.code(201).send(version);
    },
  );

  app.get<{ Params: Static<typeof VersionParams> }>(
    '/registered-models/:name/versions/:version',
    {
      schema: {
        operationId: 'getModelVersion',
        summary: 'Get a model version',
        tags: VERSIONS,
        params: VersionParams,
        response: { 200: ModelVersionSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => registry.getModelVersion(request.params.name, request.params.version),
  );

  app.patch<{ Params: Static<typeof VersionParams>; Body: Static<typeof UpdateVersionBody> }>(
    '/registered-models/:name/versions/:version',
    {
      schema: {
        operationId: 'updateModelVersion',
        summary: "Change a model version's description",
        tags: VERSIONS,
        params: VersionParams,
        body: UpdateVersionBody,
        response: { 200: ModelVersionSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      registry.updateModelVersion(
        request.params.name,
        request.params.version,
        request.body.description,
      ),
  );

  app.delete<{ Params: Static<typeof VersionParams> }>(
    '/registered-models/:name/versions/:version',
    {
      schema: {
        operationId: 'deleteModelVersion',
        summary: 'Delete a model version',
        tags: VERSIONS,
        params: VersionParams,
        response: { 204: NoContent, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await registry.deleteModelVersion(request.params.name, request.params.version);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: Static<typeof VersionParams>; Body: Static<typeof StageBody> }>(
    '/registered-models/:name/versions/:version/stage',
    {
      schema: {
        operationId: 'transitionModelVersionStage',
        summary: 'Move a version to a legacy stage',
        tags: VERSIONS,
        params: VersionParams,
        body: StageBody,
        response: { 200: ModelVersionSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      registry.transitionStage(
        request.params.name,
        request.params.version,
        request.body.stage,
        request.body.archiveExistingVersions ?? false,
      ),
  );

  app.put<{ Params: Static<typeof VersionTagParams>; Body: Static<typeof TagBody> }>(
    '/registered-models/:name/versions/:version/tags/:key',
    {
      schema: {
        operationId: 'setModelVersionTag',
        summary: 'Set a model version tag',
        tags: VERSIONS,
        params: VersionTagParams,
        body: TagBody,
        response: { 204: NoContent, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const { name, version, key } = request.params;
      await registry.setModelVersionTag(name, version, { key, value: request.body.value });
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: Static<typeof VersionTagParams> }>(
    '/registered-models/:name/versions/:version/tags/:key',
    {
      schema: {
        operationId: 'deleteModelVersionTag',
        summary: 'Delete a model version tag',
        tags: VERSIONS,
        params: VersionTagParams,
        response: { 204: NoContent, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const { name, version, key } = request.params;
      await registry.deleteModelVersionTag(name, version, key);
      return reply.code(204).send();
    },
  );
}

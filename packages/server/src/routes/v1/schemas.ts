import { Type } from '@sinclair/typebox';
import type { TSchema, TUnsafe } from '@sinclair/typebox';
import { MODEL_STAGES, RUN_STATUSES } from '@modelyard/core';

/**
 * TypeBox schemas of the native API (`/api/v1`): the request shapes Fastify validates and the
 * response shapes the OpenAPI document describes. Entities mirror `@modelyard/core`'s types one
 * to one (camelCase, times in milliseconds since the epoch); the only difference is that metric
 * values may be the strings "NaN", "Infinity" and "-Infinity", which JSON cannot write as numbers.
 */

/** A string restricted to `values`, written as a plain JSON Schema `enum`. */
export function StringEnum<T extends string>(
  values: readonly T[],
  description?: string,
): TUnsafe<T> {
  return Type.Unsafe<T>({
    type: 'string',
    enum: [...values],
    ...(description === undefined ? {} : { description }),
  });
}

/** `schema | null`. */
export function Nullable<T extends TSchema>(schema: T) {
  return Type.Union([schema, Type.Null()]);
}

/** The non-finite doubles as JSON strings. */
export const NON_FINITE = ['NaN', 'Infinity', '-Infinity'] as const;

/** A double as JSON carries it: a number, or one of the non-finite strings. */
export const JsonDouble = Type.Union([Type.Number(), StringEnum(NON_FINITE)], {
  description: 'A number, or "NaN", "Infinity" or "-Infinity".',
});

/** Milliseconds since the Unix epoch. */
export const Millis = Type.Integer({ description: 'Milliseconds since the Unix epoch.' });

export const TagSchema = Type.Object(
  { key: Type.String(), value: Type.String() },
  { title: 'Tag' },
);
export const ParamSchema = Type.Object(
  { key: Type.String(), value: Type.String() },
  { title: 'Param' },
);

export const MetricSchema = Type.Object(
  {
    key: Type.String(),
    value: JsonDouble,
    timestamp: Millis,
    step: Type.Integer(),
    modelId: Type.Optional(Nullable(Type.String())),
    datasetName: Type.Optional(Nullable(Type.String())),
    datasetDigest: Type.Optional(Nullable(Type.String())),
    runId: Type.Optional(Type.String()),
  },
  { title: 'Metric' },
);

export const LifecycleStageSchema = StringEnum(['active', 'deleted'] as const);
export const ViewTypeSchema = StringEnum(
  ['ACTIVE_ONLY', 'DELETED_ONLY', 'ALL'] as const,
  'Which lifecycle stages to return; ACTIVE_ONLY by default.',
);
export const RunStatusSchema = StringEnum(RUN_STATUSES);
export const ModelStageSchema = StringEnum(MODEL_STAGES);

export const ExperimentSchema = Type.Object(
  {
    experimentId: Type.String(),
    name: Type.String(),
    artifactLocation: Type.String(),
    lifecycleStage: LifecycleStageSchema,
    creationTime: Millis,
    lastUpdateTime: Millis,
    tags: Type.Array(TagSchema),
  },
  { title: 'Experiment' },
);

export const RunInfoSchema = Type.Object(
  {
    runId: Type.String(),
    runName: Type.String(),
    experimentId: Type.String(),
    userId: Type.String(),
    status: RunStatusSchema,
    startTime: Millis,
    endTime: Nullable(Millis),
    artifactUri: Type.String(),
    lifecycleStage: LifecycleStageSchema,
  },
  { title: 'RunInfo' },
);

export const DatasetSchema = Type.Object(
  {
    name: Type.String(),
    digest: Type.String(),
    sourceType: Type.String(),
    source: Type.String(),
    schema: Type.Optional(Nullable(Type.String())),
    profile: Type.Optional(Nullable(Type.String())),
  },
  { title: 'Dataset' },
);

export const RunSchema = Type.Object(
  {
    info: RunInfoSchema,
    data: Type.Object({
      metrics: Type.Array(MetricSchema, { description: 'The latest point of each metric.' }),
      params: Type.Array(ParamSchema),
      tags: Type.Array(TagSchema),
    }),
    inputs: Type.Object({
      datasetInputs: Type.Array(
        Type.Object({ dataset: DatasetSchema, tags: Type.Array(TagSchema) }),
      ),
      modelInputs: Type.Array(Type.Object({ modelId: Type.String() })),
    }),
    outputs: Type.Object({
      modelOutputs: Type.Array(Type.Object({ modelId: Type.String(), step: Type.Integer() })),
    }),
  },
  { title: 'Run' },
);

export const ModelVersionSchema = Type.Object(
  {
    name: Type.String(),
    version: Type.String({ description: 'A positive integer, as a string.' }),
    creationTimestamp: Millis,
    lastUpdatedTimestamp: Millis,
    userId: Type.String(),
    currentStage: ModelStageSchema,
    description: Type.String(),
    source: Type.String(),
    runId: Type.String(),
    status: StringEnum(['PENDING_REGISTRATION', 'FAILED_REGISTRATION', 'READY'] as const),
    statusMessage: Type.String(),
    runLink: Type.String(),
    tags: Type.Array(TagSchema),
    aliases: Type.Array(Type.String()),
    modelId: Nullable(Type.String()),
    digest: Nullable(Type.String({ description: 'sha256 of the artifacts (hex), when known.' })),
  },
  { title: 'ModelVersion' },
);

export const RegisteredModelSchema = Type.Object(
  {
    name: Type.String(),
    creationTimestamp: Millis,
    lastUpdatedTimestamp: Millis,
    description: Type.String(),
    latestVersions: Type.Array(ModelVersionSchema, {
      description: 'The latest version in each stage.',
    }),
    tags: Type.Array(TagSchema),
    aliases: Type.Array(Type.Object({ alias: Type.String(), version: Type.String() })),
  },
  { title: 'RegisteredModel' },
);

/** The error body every route answers on failure (the app's one error handler writes it). */
function errorBody(description: string) {
  return Type.Object(
    {
      error_code: Type.String({ description: 'One of the platform error codes.' }),
      message: Type.String(),
      request_id: Type.String(),
    },
    { title: 'Error', description },
  );
}

/** The error responses every route documents. */
export const ERROR_RESPONSES = {
  '4xx': errorBody('The request was refused.'),
  '5xx': errorBody('The server failed.'),
};

/** Shared search parameters. */
export const searchFields = {
  filter: Type.Optional(
    Type.String({
      description: "MLflow search filter, e.g. metrics.rmse < 0.5 and params.lr = '0.1'.",
    }),
  ),
  orderBy: Type.Optional(
    Type.Array(Type.String(), {
      description: "Order-by clauses, e.g. 'metrics.rmse DESC'; repeat the parameter for several.",
    }),
  ),
  maxResults: Type.Optional(Type.Integer({ minimum: 1, description: 'Page size.' })),
  pageToken: Type.Optional(Type.String({ description: 'The nextPageToken of the previous page.' })),
};

/** A page of `itemKey` items with the next page's token, if any. */
export function PageOf<T extends TSchema>(itemKey: string, item: T) {
  return Type.Object({
    [itemKey]: Type.Array(item),
    nextPageToken: Type.Optional(
      Type.String({ description: 'Present when there are more results.' }),
    ),
  });
}

/** Metric as a request gives it: timestamp and step are optional (now and 0). */
export const MetricInputSchema = Type.Object({
  key: Type.String({ minLength: 1 }),
  value: JsonDouble,
  timestamp: Type.Optional(Millis),
  step: Type.Optional(Type.Integer()),
  modelId: Type.Optional(Type.String()),
  datasetName: Type.Optional(Type.String()),
  datasetDigest: Type.Optional(Type.String()),
});

/** The body of an empty success (204 No Content). */
export const NoContent = Type.Null({ description: 'No content.' });

import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { BLOB_DIGEST_PATTERN } from '@modelyard/core';
import type { RunArtifactService } from '../../services/run-artifact-service.js';
import { BINARY_RESPONSE } from './blob-routes.js';
import { registerRawBodyRoutes } from './raw-body-scope.js';
import { ERROR_RESPONSES } from './schemas.js';

const TAG = ['runs'];

const RunParams = Type.Object({ runId: Type.String({ minLength: 1 }) });
type RunParams = Static<typeof RunParams>;

const ListQuery = Type.Object({
  path: Type.Optional(
    Type.String({
      description: "A folder relative to the run's artifact root; the root when absent.",
    }),
  ),
});
type ListQuery = Static<typeof ListQuery>;

const FileQuery = Type.Object({
  path: Type.String({
    minLength: 1,
    description:
      "A file relative to the run's artifact root, '/'-separated; '..', absolute paths and " +
      'percent-encoded separators are refused.',
  }),
});
type FileQuery = Static<typeof FileQuery>;

const ArtifactFileSchema = Type.Object(
  {
    path: Type.String({ description: "Relative to the run's artifact root." }),
    isDir: Type.Boolean(),
    fileSize: Type.Optional(Type.Integer({ minimum: 0, description: 'Absent for folders.' })),
  },
  { title: 'ArtifactFile' },
);

const ListingSchema = Type.Object(
  {
    rootUri: Type.String({ description: "The run's artifact URI." }),
    files: Type.Array(ArtifactFileSchema),
  },
  { title: 'ArtifactListing' },
);

const WrittenSchema = Type.Object(
  {
    path: Type.String({ description: 'The normalised path the file was stored at.' }),
    fileSize: Type.Integer({ minimum: 0 }),
    digest: Type.String({ pattern: BLOB_DIGEST_PATTERN, description: 'sha256 of the bytes.' }),
  },
  { title: 'ArtifactWritten' },
);

const PROXIED_ONLY =
  "Only for runs whose artifact URI this server proxies ('mlflow-artifacts:'); others answer 400.";

/**
 * A run's artifacts over the native API: `GET /runs/:runId/artifacts?path=<dir>` lists a folder,
 * `GET /runs/:runId/artifacts/content?path=<file>` streams a file with a content type guessed
 * from its name, `PUT` on the same URL streams a raw body into it.
 */
export function registerRunArtifactRoutes(
  app: FastifyInstance,
  artifacts: RunArtifactService,
): void {
  app.get<{ Params: RunParams; Querystring: ListQuery }>(
    '/runs/:runId/artifacts',
    {
      schema: {
        operationId: 'listRunArtifacts',
        summary: "List a folder of a run's artifacts",
        description: `Direct children, sorted by path; a missing folder lists empty. ${PROXIED_ONLY}`,
        tags: TAG,
        params: RunParams,
        querystring: ListQuery,
        response: { 200: ListingSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => artifacts.list(request.params.runId, request.query.path),
  );

  app.get<{ Params: RunParams; Querystring: FileQuery }>(
    '/runs/:runId/artifacts/content',
    {
      schema: {
        operationId: 'downloadRunArtifact',
        summary: "Download a file of a run's artifacts",
        description: `The content type is guessed from the file name. ${PROXIED_ONLY}`,
        tags: TAG,
        params: RunParams,
        querystring: FileQuery,
        response: { 200: BINARY_RESPONSE, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const file = await artifacts.open(request.params.runId, request.query.path);
      return (
        reply
          .type(file.contentType)
          .header('content-length', file.size)
          // Artifacts are user content served from the API's origin: never sniffed, and an HTML
          // or SVG file opened directly runs no script.
          .header('x-content-type-options', 'nosniff')
          .header(
            'content-security-policy',
            "default-src 'none'; style-src 'unsafe-inline'; sandbox",
          )
          .send(file.body)
      );
    },
  );

  registerRawBodyRoutes(app, (scope) => {
    scope.put<{ Params: RunParams; Querystring: FileQuery }>(
      '/runs/:runId/artifacts/content',
      {
        schema: {
          operationId: 'uploadRunArtifact',
          summary: "Upload a file to a run's artifacts",
          description:
            'The body is the raw bytes, with any content type and of any size (it streams to ' +
            `the artifact store). Replaces an existing file. Refused for a deleted run. ${PROXIED_ONLY}`,
          tags: TAG,
          params: RunParams,
          querystring: FileQuery,
          response: { 200: WrittenSchema, ...ERROR_RESPONSES },
        },
      },
      async (request) => artifacts.upload(request.params.runId, request.query.path, request.raw),
    );
  });
}

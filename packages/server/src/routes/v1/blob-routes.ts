import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { BLOB_DIGEST_PATTERN, SHA256_HEX_PATTERN, validateSha256Hex } from '@modelyard/core';
import type { BlobService } from '../../services/blob-service.js';
import { registerRawBodyRoutes } from './raw-body-scope.js';
import { checkFirst } from './route-checks.js';
import { ERROR_RESPONSES } from './schemas.js';

const TAG = ['blobs'];

const BlobParams = Type.Object({
  hex: Type.String({
    pattern: SHA256_HEX_PATTERN,
    description: "The blob's sha256: 64 lower-case hex digits.",
  }),
});
type BlobParams = Static<typeof BlobParams>;

const BlobPutResultSchema = Type.Object(
  {
    digest: Type.String({ pattern: BLOB_DIGEST_PATTERN, description: '`sha256:<hex>`.' }),
    size: Type.Integer({ minimum: 0, description: 'Size in bytes.' }),
    created: Type.Boolean({
      description: 'False when the blob was already stored; the body was checked, not stored.',
    }),
  },
  { title: 'BlobPutResult' },
);

/** A binary response body, as OpenAPI describes one. */
export const BINARY_RESPONSE = {
  description: 'The bytes.',
  content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
};

/** Refuses a bad `:hex` with the core validator's message. */
const checkHex = checkFirst((request) => {
  validateSha256Hex((request.params as Partial<BlobParams>).hex, 'hex');
});

/**
 * Content-addressed blobs under `/api/v1/blobs/sha256/:hex`: `PUT` streams a raw body into the
 * artifact store, checking its sha256 on the way (a mismatch stores nothing and answers 400
 * naming both digests; an existing blob answers 200 with `created: false`); `HEAD` tells whether
 * one is stored and its size; `GET` streams it back.
 */
export function registerBlobRoutes(app: FastifyInstance, blobs: BlobService): void {
  registerRawBodyRoutes(app, (scope) => {
    scope.put<{ Params: BlobParams }>(
      '/blobs/sha256/:hex',
      {
        preValidation: checkHex,
        schema: {
          operationId: 'putBlob',
          summary: 'Upload a blob named by its sha256',
          description:
            'The body is the raw bytes, with any content type and of any size (it streams to ' +
            'the artifact store; the JSON body limit does not apply). The server hashes the ' +
            'body while storing it: when its sha256 is not :hex nothing is stored and the ' +
            'answer is 400 naming both digests. Uploading a blob that is already stored is ' +
            'safe (also concurrently) and answers 200 with created: false; a new blob answers 201.',
          tags: TAG,
          params: BlobParams,
          response: { 200: BlobPutResultSchema, 201: BlobPutResultSchema, ...ERROR_RESPONSES },
        },
      },
      async (request, reply) => {
        const result = await blobs.put(request.params.hex, request.raw);
        return reply.code(result.created ? 201 : 200).send(result);
      },
    );
  });

  app.head<{ Params: BlobParams }>(
    '/blobs/sha256/:hex',
    {
      preValidation: checkHex,
      schema: {
        operationId: 'headBlob',
        summary: 'Whether a blob is stored, and its size (content-length)',
        tags: TAG,
        params: BlobParams,
      },
    },
    async (request, reply) => {
      const found = await blobs.stat(request.params.hex);
      if (found === null) return reply.code(404).send();
      return reply.type('application/octet-stream').header('content-length', found.size).send();
    },
  );

  app.get<{ Params: BlobParams }>(
    '/blobs/sha256/:hex',
    {
      // The HEAD route above answers from a stat, without opening the blob.
      exposeHeadRoute: false,
      preValidation: checkHex,
      schema: {
        operationId: 'getBlob',
        summary: 'Download a blob',
        tags: TAG,
        params: BlobParams,
        response: { 200: BINARY_RESPONSE, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const blob = await blobs.get(request.params.hex);
      return reply
        .type('application/octet-stream')
        .header('content-length', blob.size)
        .send(blob.body);
    },
  );
}

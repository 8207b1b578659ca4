import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidParameterError, YardError } from '@modelyard/core';
import { resolveArtifactPath } from '@modelyard/store';
import type { ArtifactStore } from '@modelyard/store';
import { RequestReader } from '../request-reader.js';
import { joinArtifactPath, proxiedArtifactPath } from '../services/artifact-uris.js';
import { BLOB_FOLDER } from '../services/blob-service.js';
import type { TrackingService } from '../services/tracking-service.js';
import { mlflowRoute } from './mlflow-routing.js';

const ARTIFACT_PREFIXES = ['/api/2.0/mlflow-artifacts', '/ajax-api/2.0/mlflow-artifacts'] as const;

function wildcardPath(request: FastifyRequest): string {
  const params = request.params as Record<string, string | undefined>;
  return params['*'] ?? '';
}

/** The artifact store's top-level folder that the server keeps for itself (content-addressed blobs). */
const RESERVED_FOLDER = BLOB_FOLDER.split('/')[0] ?? 'blobs';

/**
 * The store path a proxy write (upload, multipart upload, delete) goes to.
 *
 * @throws YardError `PERMISSION_DENIED` for a path under the server's own `blobs/` folder: blobs
 *   are written only through `PUT /api/v1/blobs/sha256/{hex}`, which checks the content against
 *   its digest, so that nobody can replace a cached step output or a pipeline bundle through the
 *   proxy.
 */
function writablePath(request: FastifyRequest): string {
  const path = joinArtifactPath('', wildcardPath(request));
  if (path === RESERVED_FOLDER || path.startsWith(`${RESERVED_FOLDER}/`)) {
    throw new YardError(
      'PERMISSION_DENIED',
      `The artifact path '${path}' is in '${RESERVED_FOLDER}/', which holds the server's ` +
        'content-addressed blobs; the mlflow-artifacts proxy does not write there. Upload run ' +
        "artifacts under their run's folder, and blobs with PUT /api/v1/blobs/sha256/{hex}.",
      { path },
    );
  }
  return path;
}

function basename(path: string): string {
  const i = path.lastIndexOf('/');
  return i === -1 ? path : path.slice(i + 1);
}

/**
 * Artifact endpoints: the tracking API's `artifacts/list` (by run) and the `mlflow-artifacts`
 * proxy that MLflow's client uploads to and downloads from when runs have `mlflow-artifacts:/`
 * URIs. Bodies stream between the socket and the artifact store; none is buffered whole.
 * Multipart uploads are proxied too: `mpu/create` hands out part URLs on this server.
 */
export function registerMlflowArtifactRoutes(
  app: FastifyInstance,
  tracking: TrackingService,
  artifacts: ArtifactStore,
): void {
  mlflowRoute(app, 'GET', '/artifacts/list', async (r) => {
    const run = await tracking.getRun(r.runId());
    const rootUri = run.info.artifactUri;
    const base = proxiedArtifactPath(rootUri);
    if (base === null) {
      throw new InvalidParameterError(
        `Run '${run.info.runId}' stores artifacts at '${rootUri}', which this server does not proxy; list them with a client for that store.`,
        { artifactUri: rootUri },
      );
    }
    const relDir = resolveArtifactPath(r.optString('path') ?? '');
    const entries = await artifacts.list(joinArtifactPath(base, relDir));
    return {
      root_uri: rootUri,
      files: entries.map((e) => ({
        path: relDir === '' ? basename(e.path) : `${relDir}/${basename(e.path)}`,
        is_dir: e.isDir,
        file_size: e.isDir ? undefined : e.size,
      })),
    };
  });

  void app.register((scope, _options, done) => {
    // Upload bodies stream straight from the socket: no parser may consume them.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => {
      done(null);
    });

    for (const prefix of ARTIFACT_PREFIXES) {
      scope.get(`${prefix}/artifacts`, async (request, reply) => {
        const path = RequestReader.of(request.query).optString('path') ?? '';
        const entries = await artifacts.list(joinArtifactPath('', path));
        return sendJson(reply, {
          files: entries.map((e) => ({
            path: basename(e.path),
            is_dir: e.isDir,
            file_size: e.isDir ? undefined : e.size,
          })),
        });
      });
      scope.get(`${prefix}/artifacts/*`, async (request, reply) => {
        const file = await artifacts.get(joinArtifactPath('', wildcardPath(request)));
        return reply
          .type('application/octet-stream')
          .header('content-length', file.size)
          .send(file.body);
      });
      scope.put(`${prefix}/artifacts/*`, async (request, reply) => {
        await artifacts.put(writablePath(request), request.raw);
        return sendJson(reply, {});
      });
      scope.delete(`${prefix}/artifacts/*`, async (request, reply) => {
        await artifacts.delete(writablePath(request));
        return sendJson(reply, {});
      });
      scope.post(`${prefix}/mpu/create/*`, async (request, reply) => {
        const path = writablePath(request);
        const body = await readJsonBody(request);
        const numParts = body.optInt('num_parts') ?? 1;
        if (numParts < 1 || numParts > 10_000) {
          throw new InvalidParameterError(
            `num_parts must be between 1 and 10000, got ${numParts}.`,
            { numParts },
          );
        }
        const uploadId = await artifacts.createMultipartUpload(path);
        const origin = `${request.protocol}://${request.host}`;
        const credentials = Array.from({ length: numParts }, (_, i) => ({
          part_number: i + 1,
          url: `${origin}${prefix}/mpu/upload/${encodePath(path)}?upload_id=${encodeURIComponent(uploadId)}&part_number=${i + 1}`,
          headers: [],
        }));
        return sendJson(reply, { upload_id: uploadId, credentials });
      });
      scope.put(`${prefix}/mpu/upload/*`, async (request, reply) => {
        const q = RequestReader.of(request.query);
        const part = await artifacts.uploadPart(
          writablePath(request),
          q.string('upload_id'),
          q.int('part_number'),
          request.raw,
        );
        return reply.header('etag', part.etag).type('application/json').send('{}');
      });
      scope.post(`${prefix}/mpu/complete/*`, async (request, reply) => {
        const body = await readJsonBody(request);
        const parts = body.objectList('parts').map((p) => {
          const pr = new RequestReader(p);
          return { partNumber: pr.int('part_number'), etag: pr.string('etag') };
        });
        await artifacts.completeMultipartUpload(
          writablePath(request),
          body.string('upload_id'),
          parts,
        );
        return sendJson(reply, {});
      });
      scope.post(`${prefix}/mpu/abort/*`, async (request, reply) => {
        const body = await readJsonBody(request);
        await artifacts.abortMultipartUpload(writablePath(request), body.string('upload_id'));
        return sendJson(reply, {});
      });
    }
    done();
  });
}

function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

function sendJson(reply: FastifyReply, body: Record<string, unknown>): FastifyReply {
  return reply.type('application/json').send(JSON.stringify(body));
}

/** Reads a small JSON body by hand (this scope has no body parsers, so uploads can stream). */
async function readJsonBody(request: FastifyRequest): Promise<RequestReader> {
  const limit = 1024 * 1024;
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of request.raw) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) {
      throw new InvalidParameterError(`Request body exceeds ${limit} bytes.`, { limit });
    }
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return RequestReader.of({});
  try {
    return RequestReader.of(JSON.parse(text));
  } catch {
    throw new InvalidParameterError('Request body is not valid JSON.', {});
  }
}

import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { YardError } from '@modelyard/core';
import type { WebUi } from './web-ui.js';
import { wantsWebPage } from './web-ui.js';

interface ErrorBody {
  error_code: string;
  message: string;
  request_id: string;
}

/**
 * Maps a thrown error to the response MLflow's clients understand:
 * `{"error_code": "...", "message": "..."}` with the code's HTTP status. Errors of our own carry
 * their code; Fastify's request errors (bad JSON, body too large) get a matching code; anything
 * else is an `INTERNAL_ERROR`, logged with its stack and answered without internals.
 */
export function toErrorResponse(
  error: unknown,
  requestId: string,
): { status: number; body: ErrorBody; internal: boolean } {
  if (error instanceof YardError) {
    return {
      status: error.status,
      body: { error_code: error.code, message: error.message, request_id: requestId },
      internal: false,
    };
  }
  const fe = error as Partial<FastifyError>;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return {
      status: 413,
      body: {
        error_code: 'REQUEST_TOO_LARGE',
        message: `${fe.message ?? 'Request body is too large'}. Split the request (for example several log-batch calls) or raise MODELYARD_BODY_LIMIT.`,
        request_id: requestId,
      },
      internal: false,
    };
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return {
      status: fe.statusCode,
      body: {
        error_code: fe.statusCode === 404 ? 'ENDPOINT_NOT_FOUND' : 'MALFORMED_REQUEST',
        message: fe.message ?? 'Bad request',
        request_id: requestId,
      },
      internal: false,
    };
  }
  return {
    status: 500,
    body: {
      error_code: 'INTERNAL_ERROR',
      message: `Internal error (request ${requestId}); the server log has the details.`,
      request_id: requestId,
    },
    internal: true,
  };
}

/**
 * Installs the one error handler and the not-found handler. With `webUi`, a browser's GET of a
 * path outside the APIs gets the UI's `index.html` (deep links); every other miss is a JSON 404.
 */
export function installErrorHandling(app: FastifyInstance, webUi?: WebUi): void {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { status, body, internal } = toErrorResponse(error, request.id);
    if (internal) request.log.error({ err: error }, 'request failed');
    else request.log.debug({ code: body.error_code, msg: body.message }, 'request refused');
    return reply.status(status).type('application/json').send(JSON.stringify(body));
  });
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    if (webUi && wantsWebPage(request)) return webUi.sendIndex(reply);
    return reply
      .status(404)
      .type('application/json')
      .send(
        JSON.stringify({
          error_code: 'ENDPOINT_NOT_FOUND',
          message: `No endpoint ${request.method} ${request.url.split('?')[0] ?? ''}. See /api/v1/openapi.json for the native API; MLflow's REST API lives under /api/2.0/mlflow.`,
          request_id: request.id,
        }),
      );
  });
}

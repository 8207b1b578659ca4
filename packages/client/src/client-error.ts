import type { ErrorCode } from '@modelyard/core';

/**
 * Thrown when the server answers a request with an error status. Carries the server's error
 * code (one of the platform codes, e.g. `RESOURCE_DOES_NOT_EXIST`), the HTTP status, the
 * server's message and the request id to look up in the server log.
 */
export class YardClientError extends Error {
  override readonly name = 'YardClientError';
  constructor(
    /** The server's `error_code`; derived from the status when the body had none. */
    readonly code: ErrorCode | (string & {}),
    /** The HTTP status. */
    readonly status: number,
    message: string,
    /** The server's request id (body `request_id` or `x-request-id` header), if any. */
    readonly requestId: string | undefined,
    /** The request that failed, e.g. `GET /api/v1/runs/abc`. */
    readonly request: string,
  ) {
    super(message);
  }
}

/**
 * Thrown when no answer came back at all: the server is down, the address is wrong, or the
 * connection broke. `url` is the base URL the client was created with.
 */
export class YardConnectionError extends Error {
  override readonly name = 'YardConnectionError';
  constructor(
    readonly url: string,
    /** Why the connection failed, e.g. `ECONNREFUSED`. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`Could not reach the Modelyard server at ${url} (${reason}).`, options);
  }
}

/** True when `error` is a `YardClientError` with the given code (or any code when omitted). */
export function isYardClientError(error: unknown, code?: ErrorCode): error is YardClientError {
  return error instanceof YardClientError && (code === undefined || error.code === code);
}

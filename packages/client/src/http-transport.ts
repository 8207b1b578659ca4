import { YardClientError, YardConnectionError } from './client-error.js';

/** A value that can go into a query string; arrays repeat the parameter. */
export type QueryValue = string | number | boolean | undefined | readonly string[];

/**
 * Bytes to upload: a whole array, or chunks produced as the upload goes (a file read stream, a
 * generator), which are streamed without being gathered in memory.
 */
export type BinaryData = Uint8Array | AsyncIterable<Uint8Array>;

/** One request of the native API. */
export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path under the base URL, already encoded, e.g. `/api/v1/runs/abc`. */
  path: string;
  query?: Record<string, QueryValue>;
  /** A JSON body. */
  body?: unknown;
  /** A raw body, sent as `application/octet-stream` instead of `body`. */
  binaryBody?: BinaryData;
  /**
   * How to read a successful answer: parsed JSON (the default), the raw bytes as a
   * `Uint8Array`, or nothing (for HEAD and answers without a body).
   */
  responseType?: 'json' | 'bytes' | 'none';
}

/** Sends requests and turns error answers into `YardClientError`s. */
export type Transport = <T>(request: HttpRequest) => Promise<T>;

/** How a transport is set up. */
export interface TransportOptions {
  baseUrl: string;
  fetch: typeof globalThis.fetch;
  headers: Record<string, string>;
}

function queryString(query: Record<string, QueryValue> | undefined): string {
  if (query === undefined) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    if (typeof value === 'object') for (const item of value) params.append(key, item);
    else params.append(key, String(value));
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

/** Codes for error answers that carry no JSON body (a proxy's 502, say). */
function codeForStatus(status: number): string {
  if (status === 404) return 'ENDPOINT_NOT_FOUND';
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'PERMISSION_DENIED';
  if (status === 413) return 'REQUEST_TOO_LARGE';
  if (status === 429) return 'REQUEST_LIMIT_EXCEEDED';
  if (status === 503) return 'TEMPORARILY_UNAVAILABLE';
  if (status >= 500) return 'INTERNAL_ERROR';
  return 'BAD_REQUEST';
}

function reasonOf(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  if (cause instanceof Error) return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/**
 * A web stream over an async iterable, pulling one chunk at a time (so a slow server slows the
 * producer down). Node's `fetch` and browsers both take a `ReadableStream` as a request body.
 */
function streamOf(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done === true) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}

/**
 * A transport over `fetch`: JSON or raw bodies, query strings, and one error shape. Error answers
 * (`{error_code, message, request_id}`) become `YardClientError`; a failure to connect becomes
 * `YardConnectionError`.
 */
export function createTransport(options: TransportOptions): Transport {
  const base = options.baseUrl.replace(/\/+$/, '');
  return async <T>(request: HttpRequest): Promise<T> => {
    const url = `${base}${request.path}${queryString(request.query)}`;
    const responseType = request.responseType ?? 'json';
    const headers: Record<string, string> = {
      accept: responseType === 'bytes' ? 'application/octet-stream' : 'application/json',
      ...options.headers,
    };
    const init: RequestInit = { method: request.method, headers };
    if (request.binaryBody !== undefined) {
      headers['content-type'] = 'application/octet-stream';
      if (request.binaryBody instanceof Uint8Array) {
        init.body = request.binaryBody;
      } else {
        init.body = streamOf(request.binaryBody);
        // A streamed request body must say so (the fetch standard; Node's fetch insists).
        init.duplex = 'half';
      }
    } else if (request.body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(request.body);
    }
    let response: Response;
    try {
      response = await options.fetch(url, init);
    } catch (error) {
      throw new YardConnectionError(base, reasonOf(error), { cause: error });
    }
    const what = `${request.method} ${request.path}`;
    if (response.ok && responseType !== 'json') {
      try {
        if (responseType === 'none') {
          await response.body?.cancel();
          return undefined as T;
        }
        return new Uint8Array(await response.arrayBuffer()) as T;
      } catch (error) {
        throw new YardConnectionError(base, `${what}: ${reasonOf(error)}`, { cause: error });
      }
    }
    const text = await response.text();
    if (!response.ok) {
      let body: { error_code?: unknown; message?: unknown; request_id?: unknown } = {};
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        // Not our error body (a proxy's HTML page, say); fall back to the status.
      }
      const requestId =
        typeof body.request_id === 'string'
          ? body.request_id
          : (response.headers.get('x-request-id') ?? undefined);
      throw new YardClientError(
        typeof body.error_code === 'string' ? body.error_code : codeForStatus(response.status),
        response.status,
        typeof body.message === 'string'
          ? body.message
          : `${what} failed with HTTP ${response.status}${text === '' ? '' : `: ${text.slice(0, 200)}`}`,
        requestId,
        what,
      );
    }
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new YardClientError(
        'MALFORMED_RESPONSE',
        response.status,
        `${what} answered something that is not JSON: ${text.slice(0, 200)}`,
        response.headers.get('x-request-id') ?? undefined,
        what,
      );
    }
  };
}

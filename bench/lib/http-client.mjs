// A small keep-alive JSON client over node:http, used as the load generator.
//
// node:http with a keep-alive Agent is used instead of fetch: it has less per-request overhead
// (fetch in Node 20 costs noticeably more CPU per call), which matters on a small machine where
// the load generator shares cores with the server under test, and it needs no extra dependency.
import http from 'node:http';

/**
 * @typedef {object} JsonResponse
 * @property {number} status
 * @property {any} body   the parsed JSON body, or the raw text when it is not JSON
 */

/** Thrown when a server answers a non-2xx status to a workload request. */
export class HttpStatusError extends Error {
  /**
   * @param {string} method
   * @param {string} path
   * @param {number} status
   * @param {string} text
   */
  constructor(method, path, status, text) {
    super(`${method} ${path} answered ${status}: ${text.slice(0, 500)}`);
    this.name = 'HttpStatusError';
    /** @readonly */ this.status = status;
  }
}

/**
 * A keep-alive HTTP client bound to one base URL.
 */
export class JsonClient {
  /**
   * @param {string} baseUrl      e.g. `http://127.0.0.1:5000`
   * @param {number} connections  the most sockets kept open at once
   */
  constructor(baseUrl, connections = 8) {
    const url = new URL(baseUrl);
    /** @readonly */ this.hostname = url.hostname;
    /** @readonly */ this.port = Number(url.port);
    /** @readonly */ this.agent = new http.Agent({
      keepAlive: true,
      maxSockets: connections,
      maxFreeSockets: connections,
    });
  }

  /**
   * Sends one request and parses the JSON answer; rejects on a non-2xx status.
   * @param {'GET' | 'POST'} method
   * @param {string} path   path and query string
   * @param {unknown} [body] serialized as JSON when given; a Buffer is sent as it is (already
   *   serialized JSON), so a timed loop need not pay for serialization
   * @returns {Promise<JsonResponse>}
   */
  request(method, path, body) {
    const payload =
      body === undefined
        ? undefined
        : Buffer.isBuffer(body)
          ? body
          : Buffer.from(JSON.stringify(body));
    /** @type {Record<string, string | number>} */
    const headers = { accept: 'application/json' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = payload.length;
    }
    return new Promise((resolve, reject) => {
      const req = http.request(
        { hostname: this.hostname, port: this.port, path, method, headers, agent: this.agent },
        (res) => {
          /** @type {Buffer[]} */
          const chunks = [];
          res.on('data', (c) => chunks.push(/** @type {Buffer} */ (c)));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300) {
              reject(new HttpStatusError(method, path, status, text));
              return;
            }
            let parsed;
            try {
              parsed = text.length > 0 ? JSON.parse(text) : {};
            } catch {
              parsed = text;
            }
            resolve({ status, body: parsed });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /**
   * POSTs JSON and returns the parsed body.
   * @param {string} path
   * @param {unknown} body
   * @returns {Promise<any>}
   */
  async post(path, body) {
    return (await this.request('POST', path, body)).body;
  }

  /**
   * GETs a path with query parameters and returns the parsed body.
   * @param {string} path
   * @param {Record<string, string | number>} [query]
   * @returns {Promise<any>}
   */
  async get(path, query = {}) {
    const qs = new URLSearchParams(
      Object.entries(query).map(([k, v]) => /** @type {[string, string]} */ ([k, String(v)])),
    ).toString();
    return (await this.request('GET', qs ? `${path}?${qs}` : path)).body;
  }

  /** Closes the kept-alive sockets. */
  close() {
    this.agent.destroy();
  }
}

/**
 * One GET on a fresh connection; resolves to the status code, or 0 when the connection fails.
 * Used to poll /health during start-up, where keep-alive would only get in the way.
 * @param {string} url
 * @param {number} timeoutMs
 * @returns {Promise<number>}
 */
export function probe(url, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

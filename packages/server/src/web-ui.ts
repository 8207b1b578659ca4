import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Paths that belong to an API: a miss there is a JSON 404, never the UI's page. */
const API_PATH = /^\/(?:api|ajax-api|v2)(?:\/|$)|^\/(?:health|version|invocations|ping)(?:\/|$)/;

/** Vite writes content-hashed file names under `assets/`: they never change, so cache for a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/**
 * Where the built web UI is by default: `dist/` of the `@modelyard/web` package, found through
 * module resolution (the server never imports the UI's code), else beside this package in the
 * repository.
 */
export function defaultWebRoot(): string {
  try {
    const manifest = createRequire(import.meta.url).resolve('@modelyard/web/package.json');
    return join(dirname(manifest), 'dist');
  } catch {
    // From packages/server/src or packages/server/dist to packages/web/dist.
    return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web', 'dist');
  }
}

/**
 * Whether a request that matched no route should get the UI's `index.html` (a deep link such as
 * `/experiments/1` typed into the address bar) rather than the JSON 404.
 */
export function wantsWebPage(request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const path = request.url.split('?')[0] ?? '';
  if (API_PATH.test(path)) return false;
  const accept = request.headers.accept;
  return typeof accept === 'string' && accept.includes('text/html');
}

/** The served UI, as the not-found handler needs it. */
export interface WebUi {
  /** Answers `index.html` (not cached, so a new build shows at once). */
  sendIndex(reply: FastifyReply): FastifyReply;
}

/**
 * Serves the built UI under `/` from `webRoot`: its files as they are (hashed assets with long
 * cache headers) and, through {@link WebUi.sendIndex}, `index.html` for deep links.
 * @returns undefined, after one log line, when `webRoot` holds no `index.html` (an API-only
 *   server, or tests before the UI is built).
 */
export function registerWebUi(app: FastifyInstance, webRoot: string): WebUi | undefined {
  const root = resolve(webRoot);
  if (!existsSync(join(root, 'index.html'))) {
    app.log.info(
      `No web UI at ${root} (no index.html): serving the API only. Run \`npm run build\` to build the UI.`,
    );
    return undefined;
  }
  void app.register(fastifyStatic, {
    root,
    prefix: '/',
    index: false,
    cacheControl: false,
    setHeaders: (reply, path) => {
      const inAssets = path.startsWith(join(root, 'assets'));
      reply.header('cache-control', inAssets ? IMMUTABLE : 'no-cache');
    },
  });
  app.get('/', async (_request, reply) => sendIndex(reply));
  function sendIndex(reply: FastifyReply): FastifyReply {
    return reply.header('cache-control', 'no-cache').sendFile('index.html', root);
  }
  return { sendIndex };
}

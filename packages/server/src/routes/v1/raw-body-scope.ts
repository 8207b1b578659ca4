import type { FastifyInstance } from 'fastify';

/**
 * Registers `routes` in a child scope of `app` whose request bodies are left unread, whatever
 * their content type: handlers stream `request.raw` themselves (to the artifact store), so no
 * parser buffers them and the JSON body limit does not apply. The scope inherits `app`'s prefix
 * and hooks, so its routes are validated and documented like their siblings.
 */
export function registerRawBodyRoutes(
  app: FastifyInstance,
  routes: (scope: FastifyInstance) => void,
): void {
  void app.register((scope, _options, done) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, parsed) => {
      parsed(null);
    });
    routes(scope);
    done();
  });
}

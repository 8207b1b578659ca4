import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

/**
 * A `preValidation` hook running `check` before the route's schema validation, so that values
 * the core validators know best (digests, cache keys) are refused with their messages (what was
 * given, what is expected, an example) rather than Ajv's `must match pattern "…"`. The schemas
 * keep their patterns for the OpenAPI document.
 */
export function checkFirst(
  check: (request: FastifyRequest) => void,
): (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void {
  return (request, _reply, done) => {
    try {
      check(request);
    } catch (error) {
      done(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    done();
  };
}

import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { RequestReader } from '../request-reader.js';

/** The prefixes MLflow serves its REST API under (the second is what MLflow's own UI calls). */
export const MLFLOW_PREFIXES = ['/api/2.0/mlflow', '/ajax-api/2.0/mlflow'] as const;

/**
 * What an MLflow handler returns: a JSON-able object written as the 200 body, or null when the
 * handler has sent the reply itself (a streamed body).
 */
export type MlflowHandler = (
  input: RequestReader,
  request: FastifyRequest,
  reply: FastifyReply,
) => Promise<Record<string, unknown> | null>;

/**
 * Registers an MLflow endpoint under both prefixes. GET handlers read the query string, the
 * others the JSON body (MLflow's client sends DELETE with a JSON body too).
 */
export function mlflowRoute(
  app: FastifyInstance,
  methods: HTTPMethods | HTTPMethods[],
  path: string,
  handler: MlflowHandler,
  prefixes: readonly string[] = MLFLOW_PREFIXES,
): void {
  const wrapped = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const source = request.method === 'GET' ? request.query : request.body;
    const params = request.params as Record<string, string> | undefined;
    const data = { ...(source as Record<string, unknown> | undefined), ...params };
    const body = await handler(RequestReader.of(data), request, reply);
    if (body !== null) await reply.type('application/json').send(JSON.stringify(body));
  };
  for (const prefix of prefixes) {
    app.route({ method: methods, url: `${prefix}${path}`, handler: wrapped });
  }
}

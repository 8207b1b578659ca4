import { createClient, isYardClientError } from '@modelyard/client';

/** The client of the server that serves this page. */
export const yard = createClient({ baseUrl: window.location.origin });

/** A message to show for a failed call: the server's own message where there is one. */
export function errorMessage(error: unknown): string {
  if (isYardClientError(error)) return error.message;
  return error instanceof Error ? error.message : String(error);
}

/** Whether the server refused the request as invalid (a bad filter, say): HTTP 400. */
export function isBadRequest(error: unknown): boolean {
  return isYardClientError(error) && error.status === 400;
}

/** The single value of a query parameter, or `fallback`. */
export function queryString(value: unknown, fallback = ''): string {
  if (Array.isArray(value)) return queryString(value[0], fallback);
  return typeof value === 'string' ? value : fallback;
}

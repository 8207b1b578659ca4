/**
 * Opaque page tokens for paginated searches. Like MLflow's, a token is the base64 of a small
 * JSON object, `{"offset": n}`, so tokens look the same to clients; they must not rely on the
 * format, which may change.
 */
import { InvalidParameterError } from './errors.js';

/**
 * Encodes the offset of the next page as an opaque token.
 *
 * @throws RangeError when `offset` is not a non-negative safe integer (a programming error).
 * @example
 * encodePageToken(100); // 'eyJvZmZzZXQiOiAxMDB9'
 */
export function encodePageToken(offset: number): string {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new RangeError(`A page offset must be a non-negative integer, got ${offset}.`);
  }
  // Same bytes as MLflow's json.dumps({"offset": n}).
  return btoa(`{"offset": ${offset}}`);
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/u;

/**
 * Decodes a page token into the offset it stands for. A missing or empty token means the first
 * page (offset 0). Tokens written by MLflow decode the same way.
 *
 * @throws InvalidParameterError ("Invalid page token, …") when the token is not base64, not
 *   JSON, or has no non-negative integer `offset`.
 */
export function decodePageToken(token: string | undefined): number {
  if (token === undefined || token === '') return 0;
  const compact = token.trim();
  if (!BASE64_RE.test(compact) || compact.length % 4 === 1) {
    throw new InvalidParameterError('Invalid page token, could not base64-decode.', {
      pageToken: token,
    });
  }
  let decoded: string;
  try {
    decoded = atob(compact);
  } catch {
    throw new InvalidParameterError('Invalid page token, could not base64-decode.', {
      pageToken: token,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoded);
  } catch {
    throw new InvalidParameterError(
      `Invalid page token, decoded value=${JSON.stringify(decoded.slice(0, 100))} is not JSON.`,
      { pageToken: token },
    );
  }
  const offset =
    typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>).offset
      : undefined;
  // MLflow accepts the offset as a number or a numeric string.
  const value =
    typeof offset === 'number'
      ? offset
      : typeof offset === 'string' && /^\d+$/u.test(offset)
        ? Number(offset)
        : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidParameterError(
      `Invalid page token, parsed value=${JSON.stringify(parsed).slice(0, 100)} has no ` +
        'non-negative integer offset.',
      { pageToken: token },
    );
  }
  return value;
}

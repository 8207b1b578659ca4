import { InvalidParameterError } from '@modelyard/core';

/**
 * Percent-encodings of the characters that matter for escaping the root: `.` (2e), `/` (2f),
 * `\` (5c), `%` (25, which is how double encodings such as `%252e` start) and NUL (00). Another
 * layer (an HTTP router, a proxy, a client library) may decode them once or twice after we checked,
 * so they are refused outright instead of decoded and re-checked.
 */
const ENCODED_SEPARATOR = /%(?:2e|2f|5c|25|00)/i;

/** `C:`, `c:foo`: a Windows drive, absolute or drive-relative. */
const WINDOWS_DRIVE = /^[A-Za-z]:/;

function refuse(path: string, reason: string): never {
  throw new InvalidParameterError(
    `Artifact path ${JSON.stringify(path)} is not allowed: ${reason}. ` +
      `Use a relative '/'-separated path inside the artifact root, e.g. 'model/weights.bin'.`,
    { path, reason },
  );
}

/**
 * Checks and normalises an artifact path relative to a store's root. The result is '/'-separated
 * with no empty, `.` or trailing segments; `''` (or `'.'`, `'./'`) means the root itself.
 *
 * Refused, with `InvalidParameterError` naming the path and the reason, before any I/O:
 * `..` segments (anywhere, even when they would stay inside the root), absolute paths (`/x`,
 * `//server/x`), Windows drives (`C:x`), backslashes (`\\server\x`, `a\..\b`), NUL, and
 * percent-encoded `.`, `/`, `\`, `%` or NUL (`%2e%2e`, `%2f`, `%252e`).
 *
 * @example
 * resolveArtifactPath('./model//weights.bin/'); // 'model/weights.bin'
 * resolveArtifactPath('a/../../etc/passwd'); // throws InvalidParameterError
 */
export function resolveArtifactPath(path: string): string {
  if (typeof path !== 'string') {
    refuse(String(path), 'it is not a string');
  }
  if (path.includes('\0')) refuse(path, 'it contains a NUL character');
  if (path.includes('\\')) refuse(path, 'it contains a backslash');
  if (path.startsWith('/')) refuse(path, 'it is absolute');
  if (ENCODED_SEPARATOR.test(path)) {
    refuse(path, "it contains a percent-encoded '.', '/', '\\', '%' or NUL");
  }
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '..') refuse(path, "it contains a '..' segment");
    if (segment === '' || segment === '.') continue;
    segments.push(segment);
  }
  // Checked after normalisation too, so that './C:' cannot become 'C:'.
  if (WINDOWS_DRIVE.test(segments[0] ?? '')) refuse(path, 'it names a Windows drive');
  return segments.join('/');
}

/**
 * Like `resolveArtifactPath`, but the path must name something below the root (a file or an
 * upload target), not the root itself.
 *
 * @throws InvalidParameterError when the path escapes the root or is empty.
 */
export function resolveArtifactFilePath(path: string): string {
  const resolved = resolveArtifactPath(path);
  if (resolved === '') refuse(path, 'it names the artifact root, not a file');
  return resolved;
}

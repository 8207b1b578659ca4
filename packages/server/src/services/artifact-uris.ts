import { resolveArtifactPath } from '@modelyard/store';

/** The scheme of artifact URIs that the server proxies to its own artifact store. */
export const PROXY_SCHEME = 'mlflow-artifacts:';

/** Default artifact root for new experiments: proxied through this server, as `mlflow server`. */
export const DEFAULT_ARTIFACT_ROOT = 'mlflow-artifacts:';

/**
 * Turns a proxied artifact URI (`mlflow-artifacts:/1/abc/artifacts`, also with an authority:
 * `mlflow-artifacts://host:5000/1/abc/artifacts`) into a path relative to the artifact store's
 * root, or returns null when the URI is not proxied by this server.
 */
export function proxiedArtifactPath(uri: string): string | null {
  if (!uri.startsWith(PROXY_SCHEME)) return null;
  let rest = uri.slice(PROXY_SCHEME.length);
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    rest = slash === -1 ? '' : rest.slice(slash);
  }
  return rest.replace(/^\/+/, '').replace(/\/+$/, '');
}

/**
 * Joins a client-supplied relative artifact path onto a store path. The relative part is checked
 * by the store's `resolveArtifactPath`: `..`, absolute paths and encoded variants are refused.
 * @throws InvalidParameterError naming the path.
 */
export function joinArtifactPath(base: string, path: string | undefined): string {
  const rel = resolveArtifactPath(path ?? '');
  if (rel === '') return base;
  return base === '' ? rel : `${base}/${rel}`;
}

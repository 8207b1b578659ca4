import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidParameterError } from '@modelyard/core';
import type { ArtifactStore } from './artifact-store.js';
import { LocalArtifactStore } from './local-artifact-store.js';
import { S3ArtifactStore, parseS3Uri, s3OptionsFromEnv } from './s3-artifact-store.js';

/** The destination forms `createArtifactStore` accepts, as shown in its error message. */
export const ARTIFACT_DESTINATION_FORMS = [
  './relative/dir',
  '/absolute/dir',
  'file:///absolute/dir',
  's3://bucket/prefix',
] as const;

/** `scheme:` at the start of a string, as in URLs (a Windows drive letter would match too). */
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;

function unsupported(destination: string, why: string): InvalidParameterError {
  return new InvalidParameterError(
    `Artifact destination ${JSON.stringify(destination)} is not supported: ${why}. ` +
      `Accepted forms: ${ARTIFACT_DESTINATION_FORMS.join(', ')}.`,
    { destination },
  );
}

/**
 * Opens the artifact store named by an artifact destination (the MLflow server's
 * `--artifacts-destination`): a local folder given as a relative path (resolved against the
 * current directory), an absolute path or a `file:///` URI; or `s3://bucket/prefix`, reached
 * through `MODELYARD_S3_ENDPOINT_URL` / `MLFLOW_S3_ENDPOINT_URL` when set and the standard AWS
 * credential chain. Nothing is contacted or created until the first operation.
 *
 * @throws InvalidParameterError for any other form, listing the accepted ones.
 * @example
 * const store = createArtifactStore('s3://ml-artifacts/modelyard');
 */
export function createArtifactStore(
  destination: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): ArtifactStore {
  const given: unknown = destination;
  if (typeof given !== 'string') throw unsupported(String(given), 'it is not a string');
  if (destination.trim() === '') throw unsupported(destination, 'it is empty');
  if (destination.includes('\0')) throw unsupported(destination, 'it contains a NUL character');
  const scheme = SCHEME.exec(destination)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    return new LocalArtifactStore(resolve(destination));
  }
  if (scheme === 's3') {
    return new S3ArtifactStore({ ...parseS3Uri(destination), ...s3OptionsFromEnv(env) });
  }
  if (scheme === 'file') {
    if (!/^file:\/\//i.test(destination)) {
      throw unsupported(destination, "a file URI must start with 'file://'");
    }
    let path: string;
    try {
      path = fileURLToPath(destination);
    } catch (error) {
      throw unsupported(
        destination,
        `it is not a local file URI (${error instanceof Error ? error.message : String(error)})`,
      );
    }
    if (!isAbsolute(path)) throw unsupported(destination, 'a file URI must be absolute');
    return new LocalArtifactStore(path);
  }
  throw unsupported(destination, `the scheme '${scheme}:' has no artifact store`);
}

import type { Readable } from 'node:stream';
import { InvalidParameterError, InvalidStateError, NotFoundError } from '@modelyard/core';
import type { Run } from '@modelyard/core';
import { resolveArtifactFilePath, resolveArtifactPath } from '@modelyard/store';
import type { ArtifactStore } from '@modelyard/store';
import { contentTypeOf } from '../content-types.js';
import { joinArtifactPath, proxiedArtifactPath } from './artifact-uris.js';
import type { TrackingService } from './tracking-service.js';

/** One entry of a run's artifact listing (MLflow's `FileInfo`, in camelCase). */
export interface RunArtifactFile {
  /** Path relative to the run's artifact root, '/'-separated. */
  path: string;
  isDir: boolean;
  /** Size in bytes; absent for folders. */
  fileSize?: number | undefined;
}

/** A run's artifact listing. */
export interface RunArtifactListing {
  /** The run's artifact URI. */
  rootUri: string;
  files: RunArtifactFile[];
}

/** An artifact file opened for streaming. */
export interface RunArtifactContent {
  body: Readable;
  size: number;
  /** Guessed from the file name. */
  contentType: string;
}

/** What an artifact upload answers. */
export interface RunArtifactWritten {
  /** Path relative to the run's artifact root, normalised. */
  path: string;
  fileSize: number;
  /** `sha256:<hex>` of the bytes stored. */
  digest: string;
}

/**
 * A run's artifacts, for runs whose artifact URI this server proxies (`mlflow-artifacts:`):
 * list a folder, read a file, write a file. Paths are relative to the run's artifact root and
 * checked by the store's path rules (no `..`, no absolute paths, no encoded separators). Bodies
 * stream between the caller and the artifact store.
 */
export class RunArtifactService {
  constructor(
    private readonly tracking: TrackingService,
    private readonly artifacts: ArtifactStore,
  ) {}

  /**
   * The direct children of folder `path` ('' or absent: the root), sorted by path. A folder that
   * does not exist (or a file) lists as empty, as in MLflow.
   * @throws NotFoundError for an unknown run; InvalidParameterError for an escaping path or a run
   *   whose artifacts this server does not proxy.
   */
  async list(runId: string, path = ''): Promise<RunArtifactListing> {
    const relative = resolveArtifactPath(path);
    const run = await this.tracking.getRun(runId);
    const base = this.#base(run);
    const entries = await this.artifacts.list(joinArtifactPath(base, relative));
    const folder = base === '' ? '' : `${base}/`;
    return {
      rootUri: run.info.artifactUri,
      files: entries.map((entry) => {
        const file: RunArtifactFile = { path: entry.path.slice(folder.length), isDir: entry.isDir };
        if (!entry.isDir) file.fileSize = entry.size;
        return file;
      }),
    };
  }

  /**
   * Opens file `path` of the run's artifacts.
   * @throws NotFoundError for an unknown run or a missing file (or a folder);
   *   InvalidParameterError as for `list`, or when `path` names the root.
   */
  async open(runId: string, path: string): Promise<RunArtifactContent> {
    const relative = resolveArtifactFilePath(path);
    const run = await this.tracking.getRun(runId);
    const base = this.#base(run);
    try {
      const file = await this.artifacts.get(joinArtifactPath(base, relative));
      return { body: file.body, size: file.size, contentType: contentTypeOf(relative) };
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw new NotFoundError(
          `Run '${runId}' has no artifact file '${relative}'. List its artifacts with ` +
            `GET /api/v1/runs/${runId}/artifacts.`,
          { runId, path: relative },
        );
      }
      throw error;
    }
  }

  /**
   * Stores `body` as file `path` of the run's artifacts (replacing it), streaming.
   * @throws NotFoundError for an unknown run; InvalidStateError for a deleted run;
   *   InvalidParameterError as for `open`. Each is thrown before the body is read.
   */
  async upload(runId: string, path: string, body: Readable): Promise<RunArtifactWritten> {
    const relative = resolveArtifactFilePath(path);
    const run = await this.tracking.getRun(runId);
    if (run.info.lifecycleStage === 'deleted') {
      throw new InvalidStateError(
        `Run '${runId}' is deleted; restore it (POST /api/v1/runs/${runId}/restore) before ` +
          `uploading artifacts to it.`,
        { runId },
      );
    }
    const base = this.#base(run);
    const written = await this.artifacts.put(joinArtifactPath(base, relative), body);
    return { path: relative, fileSize: written.size, digest: `sha256:${written.sha256}` };
  }

  /** The run's artifact root in the store; refuses runs whose artifacts live elsewhere. */
  #base(run: Run): string {
    const uri = run.info.artifactUri;
    const base = proxiedArtifactPath(uri);
    if (base === null) {
      throw new InvalidParameterError(
        `Run '${run.info.runId}' stores its artifacts at '${uri}', which this server does not ` +
          `proxy (it serves only 'mlflow-artifacts:' URIs). Read and write them with a client ` +
          `for that store, or create the run in an experiment whose artifact location is ` +
          `'mlflow-artifacts:'.`,
        { runId: run.info.runId, artifactUri: uri },
      );
    }
    return base;
  }
}

import {
  InvalidParameterError,
  MODEL_STAGES,
  decodePageToken,
  parseFilter,
  parseOrderBy,
  validateAlias,
  validateRegistryTag,
  validateMaxResults,
  validateModelName,
} from '@modelyard/core';
import type { ModelStage, ModelVersion, RegisteredModel, Tag } from '@modelyard/core';
import type { ArtifactStore, MetadataStore } from '@modelyard/store';
import { computeStoredArtifactDigest } from '../serving/model-cache.js';
import { proxiedArtifactPath } from './artifact-uris.js';
import { tokenOf } from './tracking-service.js';
import type { SearchArgs, SearchResult } from './tracking-service.js';

/** Reads a stage name case-insensitively, as MLflow does. */
export function toModelStage(raw: string): ModelStage {
  const stage = MODEL_STAGES.find((s) => s.toLowerCase() === raw.trim().toLowerCase());
  if (stage === undefined) {
    throw new InvalidParameterError(
      `Invalid Model Version stage: ${raw}. Value must be one of ${MODEL_STAGES.join(', ')}.`,
      { stage: raw },
    );
  }
  return stage;
}

function checkVersion(version: string): string {
  if (!/^[1-9]\d*$/.test(version)) {
    throw new InvalidParameterError(
      `Parameter 'version' must be a positive integer, got '${version}'.`,
      { version },
    );
  }
  return version;
}

/**
 * The model registry: registered models, versions, tags, aliases and legacy stages, with
 * MLflow's validation, persisted through the metadata store. Given the artifact store, it
 * records each new version's artifact digest (sha256, see `combineFileDigests`) when the
 * version's files are in that store, so that serving can verify them before loading.
 */
export class RegistryService {
  constructor(
    private readonly store: MetadataStore,
    private readonly artifacts?: ArtifactStore,
  ) {}

  async createRegisteredModel(
    name: string,
    description: string | undefined,
    tags: Tag[],
  ): Promise<RegisteredModel> {
    validateModelName(name);
    tags.forEach((t, i) => validateRegistryTag(t, `tags[${i}]`));
    return this.store.createRegisteredModel({ name, description, tags });
  }

  getRegisteredModel(name: string): Promise<RegisteredModel> {
    validateModelName(name);
    return this.store.getRegisteredModel(name);
  }

  renameRegisteredModel(name: string, newName: string): Promise<RegisteredModel> {
    validateModelName(newName);
    return this.store.renameRegisteredModel(name, newName);
  }

  updateRegisteredModel(name: string, description: string): Promise<RegisteredModel> {
    return this.store.updateRegisteredModel(name, description);
  }

  deleteRegisteredModel(name: string): Promise<void> {
    return this.store.deleteRegisteredModel(name);
  }

  async searchRegisteredModels(args: SearchArgs): Promise<SearchResult<RegisteredModel>> {
    const maxResults = args.maxResults ?? 100;
    validateMaxResults('registered_models', maxResults);
    const page = await this.store.searchRegisteredModels({
      filter: parseFilter('registered_models', args.filter),
      orderBy: parseOrderBy('registered_models', args.orderBy),
      maxResults,
      offset: decodePageToken(args.pageToken),
    });
    return { items: page.items, nextPageToken: tokenOf(page.nextOffset) };
  }

  getLatestVersions(name: string, stages: string[]): Promise<ModelVersion[]> {
    return this.store.getLatestVersions(name, stages.map(toModelStage));
  }

  async setRegisteredModelTag(name: string, tag: Tag): Promise<void> {
    validateRegistryTag(tag);
    await this.store.setRegisteredModelTag(name, tag);
  }

  deleteRegisteredModelTag(name: string, key: string): Promise<void> {
    return this.store.deleteRegisteredModelTag(name, key);
  }

  async setAlias(name: string, alias: string, version: string): Promise<void> {
    validateAlias(alias);
    await this.store.setRegisteredModelAlias(name, alias, checkVersion(version));
  }

  deleteAlias(name: string, alias: string): Promise<void> {
    return this.store.deleteRegisteredModelAlias(name, alias);
  }

  getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion> {
    return this.store.getModelVersionByAlias(name, alias);
  }

  async createModelVersion(input: {
    name: string;
    source: string;
    runId: string | undefined;
    runLink: string | undefined;
    description: string | undefined;
    tags: Tag[];
    modelId: string | undefined;
  }): Promise<ModelVersion> {
    validateModelName(input.name);
    input.tags.forEach((t, i) => validateRegistryTag(t, `tags[${i}]`));
    let runId = input.runId;
    if (runId) await this.store.getRun(runId);
    if (!runId && input.modelId) {
      // MLflow 3 registers logged models (`models:/m-…`) and takes the run from the model.
      runId = (await this.store.getLoggedModel(input.modelId)).sourceRunId ?? undefined;
    }
    const digest = await this.digestOf(input.source);
    return this.store.createModelVersion({ ...input, runId, digest: digest ?? undefined });
  }

  /**
   * The digest of the files a version source names, hashed in the artifact store (nothing is
   * downloaded to disk); null when the source is not in this server's store or holds no file.
   */
  private async digestOf(source: string): Promise<string | null> {
    if (this.artifacts === undefined) return null;
    let path: string | null;
    try {
      path = proxiedArtifactPath(await this.resolveSource(source));
    } catch {
      // A source whose run or logged model is unknown is registered as MLflow does, undigested.
      return null;
    }
    return path === null ? null : computeStoredArtifactDigest(this.artifacts, path);
  }

  getModelVersion(name: string, version: string): Promise<ModelVersion> {
    return this.store.getModelVersion(name, checkVersion(version));
  }

  updateModelVersion(name: string, version: string, description: string): Promise<ModelVersion> {
    return this.store.updateModelVersion(name, checkVersion(version), description);
  }

  deleteModelVersion(name: string, version: string): Promise<void> {
    return this.store.deleteModelVersion(name, checkVersion(version));
  }

  async searchModelVersions(args: SearchArgs): Promise<SearchResult<ModelVersion>> {
    const maxResults = args.maxResults ?? 10_000;
    validateMaxResults('model_versions', maxResults);
    const page = await this.store.searchModelVersions({
      filter: parseFilter('model_versions', args.filter),
      orderBy: parseOrderBy('model_versions', args.orderBy),
      maxResults,
      offset: decodePageToken(args.pageToken),
    });
    return { items: page.items, nextPageToken: tokenOf(page.nextOffset) };
  }

  transitionStage(
    name: string,
    version: string,
    stage: string,
    archiveExisting: boolean,
  ): Promise<ModelVersion> {
    return this.store.transitionModelVersionStage(
      name,
      checkVersion(version),
      toModelStage(stage),
      archiveExisting,
    );
  }

  async setModelVersionTag(name: string, version: string, tag: Tag): Promise<void> {
    validateRegistryTag(tag);
    await this.store.setModelVersionTag(name, checkVersion(version), tag);
  }

  deleteModelVersionTag(name: string, version: string, key: string): Promise<void> {
    return this.store.deleteModelVersionTag(name, checkVersion(version), key);
  }

  /**
   * Where a version's files can be downloaded from: the logged model's or run's artifact URI for
   * `models:/m-…` and `runs:/…` sources, else the source itself.
   */
  async getDownloadUri(name: string, version: string): Promise<string> {
    const mv = await this.getModelVersion(name, version);
    return this.resolveSource(mv.source);
  }

  private async resolveSource(source: string): Promise<string> {
    const logged = /^models:\/(m-[0-9a-f]+)\/?(.*)$/.exec(source);
    if (logged?.[1] !== undefined) {
      const model = await this.store.getLoggedModel(logged[1]);
      return logged[2] ? `${model.artifactUri}/${logged[2]}` : model.artifactUri;
    }
    const run = /^runs:\/([^/]+)\/?(.*)$/.exec(source);
    if (run?.[1] !== undefined) {
      const r = await this.store.getRun(run[1]);
      return run[2] ? `${r.info.artifactUri}/${run[2]}` : r.info.artifactUri;
    }
    return source;
  }
}

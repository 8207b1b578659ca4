import {
  InvalidParameterError,
  NotFoundError,
  YardError,
  decodePageToken,
  parseModelUri,
} from '@modelyard/core';
import type {
  BatchingOptions,
  Deployment,
  DeploymentEvent,
  DeploymentStatus,
  DeploymentVariant,
  ModelVersion,
} from '@modelyard/core';
import type { ArtifactStore, MetadataStore } from '@modelyard/store';
import { proxiedArtifactPath } from '../services/artifact-uris.js';
import type { RegistryService } from '../services/registry-service.js';
import { tokenOf } from '../services/tracking-service.js';
import { planServing, readMlModel } from './mlmodel.js';
import { ModelCache } from './model-cache.js';
import type { LoadedModel, ModelRuntime, RuntimeKind } from './model-runtime.js';
import { createJsRuntime } from './js-runtime.js';
import { createOnnxRuntime } from './onnx-runtime.js';
import { createTfjsRuntime } from './tfjs-runtime.js';

/** The actor recorded on events the server causes itself (loads, reloads). */
export const SYSTEM_ACTOR = 'modelyard';

/** Deployment names: DNS-label-like, so they fit URLs, metrics labels and Kubernetes objects. */
const DEPLOYMENT_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Checks a deployment name: 1–63 characters of lower-case letters, digits and `-`, starting and
 * ending with a letter or digit (a DNS label).
 * @throws InvalidParameterError naming the value and the rule.
 */
export function validateDeploymentName(name: string): void {
  if (!DEPLOYMENT_NAME.test(name)) {
    throw new InvalidParameterError(
      `Invalid deployment name '${name}': use 1 to 63 lower-case letters, digits and '-', ` +
        "starting and ending with a letter or digit (a DNS label), e.g. 'churn-scorer'.",
      { name },
    );
  }
}

function positiveInteger(field: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > 64) {
    throw new InvalidParameterError(
      `'${field}' must be an integer from 1 to 64, got ${String(value)}.`,
      { [field]: value },
    );
  }
  return value;
}

/** The longest `batching.maxLatencyMs` a deployment accepts: a minute. */
const MAX_BATCH_LATENCY_MS = 60_000;

/**
 * Checks dynamic batching settings: `maxBatchSize` an integer from 1 to 65536, `maxLatencyMs`
 * a number from 0 to 60000.
 * @throws InvalidParameterError naming the value and the range.
 */
function checkBatching(batching: BatchingOptions | null | undefined): BatchingOptions | null {
  if (batching === undefined || batching === null) return null;
  const { maxBatchSize, maxLatencyMs } = batching;
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1 || maxBatchSize > 65_536) {
    throw new InvalidParameterError(
      `'batching.maxBatchSize' must be an integer from 1 to 65536, got ${String(maxBatchSize)}.`,
      { maxBatchSize },
    );
  }
  if (!Number.isFinite(maxLatencyMs) || maxLatencyMs < 0 || maxLatencyMs > MAX_BATCH_LATENCY_MS) {
    throw new InvalidParameterError(
      `'batching.maxLatencyMs' must be from 0 to ${MAX_BATCH_LATENCY_MS} milliseconds, got ` +
        `${String(maxLatencyMs)}.`,
      { maxLatencyMs },
    );
  }
  return { maxBatchSize, maxLatencyMs };
}

/** What {@link DeploymentService.create} takes. */
export interface CreateDeploymentRequest {
  /** The endpoint name (a DNS label, see {@link validateDeploymentName}). */
  name: string;
  /** `models:/<model>/<version>` or `models:/<model>@<alias>`. */
  modelUri: string;
  description?: string | undefined;
  /** Worker replicas holding the model; default 1. */
  replicas?: number | undefined;
  /** Requests one replica runs at once; default 4. */
  maxConcurrency?: number | undefined;
  /**
   * Dynamic batching of the variant's requests (see `DynamicBatcher`); default off. A model
   * whose inputs or outputs lack a variable first dimension is served unbatched, and the
   * `ready` event's reason says so.
   */
  batching?: BatchingOptions | null | undefined;
  /** Who asks (recorded on the `created` event). */
  actor: string;
  /** Why (recorded on the `created` event). */
  reason?: string | undefined;
}

/** A deployment as serving sees it now: its record and, once ready, its loaded model. */
export interface ServedDeployment {
  deployment: Deployment;
  variant: DeploymentVariant;
  /** Present while the deployment is ready. */
  model: LoadedModel | undefined;
}

/** Where the {@link DeploymentService} gets its parts. */
export interface DeploymentServiceOptions {
  store: MetadataStore;
  artifacts: ArtifactStore;
  registry: RegistryService;
  /** Folder for local copies of model versions (see {@link ModelCache}). */
  cacheDir: string;
  /** Runtime adapters by kind; default: onnx, tfjs and js (each picked by flavor). */
  runtimes?: Partial<Record<RuntimeKind, ModelRuntime>>;
  /** Reports background failures that cannot reach a caller (default: ignored). */
  onError?: (error: unknown, message: string) => void;
}

interface Slot {
  /** Bumped by delete and reload, so that a load that finishes late discards its model. */
  generation: number;
  deployment: Deployment;
  model: LoadedModel | undefined;
  loading: Promise<void> | undefined;
}

function primaryVariant(deployment: Deployment): DeploymentVariant {
  const variant = deployment.variants.find((v) => v.role === 'primary') ?? deployment.variants[0];
  if (variant === undefined) {
    throw new YardError('INTERNAL_ERROR', `Deployment '${deployment.name}' has no variant.`, {
      deployment: deployment.name,
    });
  }
  return variant;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Deployments: named endpoints serving a registered model version. `create` records the
 * deployment (status `loading`) and returns at once; the load runs in the background: copy the
 * version's files from the artifact store into the local model cache, verify them against the
 * digest the registry recorded, pick the runtime from the `MLmodel` file, start the replicas,
 * and set the status to `ready` (or `failed`, with the reason). Every change is an event.
 *
 * This first form serves one primary variant per deployment; rollouts come later.
 */
export class DeploymentService {
  readonly #store: MetadataStore;
  readonly #registry: RegistryService;
  readonly #cache: ModelCache;
  readonly #runtimes: Partial<Record<RuntimeKind, ModelRuntime>>;
  readonly #onError: (error: unknown, message: string) => void;
  readonly #slots = new Map<string, Slot>();
  #closed = false;

  constructor(options: DeploymentServiceOptions) {
    this.#store = options.store;
    this.#registry = options.registry;
    this.#cache = new ModelCache(options.cacheDir, options.artifacts);
    this.#runtimes = options.runtimes ?? {
      onnx: createOnnxRuntime(),
      tfjs: createTfjsRuntime(),
      js: createJsRuntime(),
    };
    this.#onError = options.onError ?? (() => undefined);
  }

  /** The local model cache (its folder is `cache.root`). */
  get cache(): ModelCache {
    return this.#cache;
  }

  /**
   * Creates a one-variant deployment of the version `modelUri` names and starts loading it.
   * Returns the deployment with status `loading`; poll {@link get} for `ready` or `failed`.
   *
   * @throws InvalidParameterError for a bad name, model URI, replica count, concurrency or
   *   batching settings.
   * @throws NotFoundError when the model, version or alias does not exist.
   * @throws AlreadyExistsError when a deployment of that name exists.
   */
  async create(request: CreateDeploymentRequest): Promise<Deployment> {
    validateDeploymentName(request.name);
    const replicas = positiveInteger('replicas', request.replicas, 1);
    const maxConcurrency = positiveInteger('maxConcurrency', request.maxConcurrency, 4);
    const batching = checkBatching(request.batching);
    const version = await this.#resolve(request.modelUri);
    const variant: DeploymentVariant = {
      name: 'primary',
      modelUri: request.modelUri,
      modelName: version.name,
      modelVersion: version.version,
      role: 'primary',
      weight: 100,
      replicas,
      maxConcurrency,
      batching,
    };
    const deployment = await this.#store.createDeployment({
      name: request.name,
      description: request.description,
      variants: [variant],
      actor: request.actor,
      reason: request.reason,
    });
    this.#startLoad(deployment);
    return deployment;
  }

  /** @throws NotFoundError when there is no such deployment. */
  get(name: string): Promise<Deployment> {
    return this.#store.getDeployment(name);
  }

  /** Every deployment, by name. */
  list(): Promise<Deployment[]> {
    return this.#store.listDeployments();
  }

  /** A page of the deployment's events, oldest first. */
  async events(
    name: string,
    args: { maxResults?: number | undefined; pageToken?: string | undefined },
  ): Promise<{ items: DeploymentEvent[]; nextPageToken: string | undefined }> {
    const maxResults = args.maxResults ?? 100;
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 1000) {
      throw new InvalidParameterError(`maxResults must be from 1 to 1000, got ${maxResults}.`, {
        maxResults,
      });
    }
    const page = await this.#store.listDeploymentEvents(name, {
      maxResults,
      offset: decodePageToken(args.pageToken),
    });
    return { items: page.items, nextPageToken: tokenOf(page.nextOffset) };
  }

  /**
   * Stops serving and deletes the deployment (its events are kept).
   * @throws NotFoundError when there is no such deployment.
   */
  async delete(name: string, actor: string, reason?: string): Promise<void> {
    await this.#store.getDeployment(name);
    const slot = this.#slots.get(name);
    this.#slots.delete(name);
    if (slot !== undefined) {
      slot.generation += 1;
      await slot.model?.close();
    }
    await this.#store.deleteDeployment(name, actor, reason);
  }

  /**
   * Changes the replica count of the deployment's variant: a model with the new count is loaded
   * beside the serving one and swapped in when ready, so no request is dropped.
   * @throws InvalidParameterError for a count outside 1–64; NotFoundError for no deployment.
   */
  async scale(name: string, replicas: number, actor: string, reason?: string): Promise<Deployment> {
    positiveInteger('replicas', replicas, 1);
    const current = await this.#store.getDeployment(name);
    const variants = current.variants.map((v) =>
      v === primaryVariant(current) ? { ...v, replicas } : v,
    );
    const updated = await this.#store.updateDeployment(name, {
      variants,
      event: {
        actor,
        action: 'scaled',
        reason,
        details: { from: primaryVariant(current).replicas, to: replicas },
      },
    });
    this.#startLoad(updated);
    return updated;
  }

  /**
   * The deployment as serving sees it, for the inference routes.
   * @throws NotFoundError when this server serves no deployment of that name.
   */
  served(name: string): ServedDeployment {
    const slot = this.#slots.get(name);
    if (slot === undefined) {
      throw new NotFoundError(`No deployment named '${name}'.`, { deployment: name });
    }
    return {
      deployment: slot.deployment,
      variant: primaryVariant(slot.deployment),
      model: slot.model,
    };
  }

  /**
   * True when no deployment is still loading (for `/v2/health/ready`): each is serving or has
   * failed (a failed one is reported on its own endpoints and does not hold the server back).
   */
  allReady(): boolean {
    return [...this.#slots.values()].every(
      (slot) => slot.model !== undefined || slot.deployment.status === 'failed',
    );
  }

  /** Resolves when the deployment's current load has finished (ready or failed). */
  async settled(name: string): Promise<void> {
    await this.#slots.get(name)?.loading;
  }

  /** Loads every deployment found in the store (on server start). */
  async restore(): Promise<void> {
    const deployments = await this.#store.listDeployments();
    for (const deployment of deployments) {
      if (this.#slots.has(deployment.name)) continue;
      let current = deployment;
      if (deployment.status !== 'loading') {
        current = await this.#setStatus(deployment.name, 'loading', 'Reloading after a restart.');
      }
      this.#startLoad(current);
    }
  }

  /** Stops every loaded model (on server close); deployments stay in the store. */
  async close(): Promise<void> {
    this.#closed = true;
    const slots = [...this.#slots.values()];
    this.#slots.clear();
    for (const slot of slots) slot.generation += 1;
    await Promise.allSettled(slots.map((slot) => slot.loading ?? Promise.resolve()));
    await Promise.allSettled(slots.map((slot) => slot.model?.close() ?? Promise.resolve()));
  }

  async #resolve(modelUri: string): Promise<ModelVersion> {
    const ref = parseModelUri(modelUri);
    return ref.alias !== undefined
      ? this.#registry.getModelVersionByAlias(ref.name, ref.alias)
      : this.#registry.getModelVersion(ref.name, ref.version);
  }

  #startLoad(deployment: Deployment): void {
    if (this.#closed) return;
    const existing = this.#slots.get(deployment.name);
    const slot: Slot = existing ?? {
      generation: 0,
      deployment,
      model: undefined,
      loading: undefined,
    };
    slot.generation += 1;
    slot.deployment = deployment;
    this.#slots.set(deployment.name, slot);
    const generation = slot.generation;
    const previous = slot.loading ?? Promise.resolve();
    // Loads of one deployment run one after another, so a scale waits for the first load.
    slot.loading = previous.then(() => this.#load(slot, generation));
  }

  async #load(slot: Slot, generation: number): Promise<void> {
    const name = slot.deployment.name;
    const variant = primaryVariant(slot.deployment);
    const stale = (): boolean => slot.generation !== generation || this.#slots.get(name) !== slot;
    if (stale()) return;
    let model: LoadedModel | undefined;
    try {
      const version = await this.#registry.getModelVersion(variant.modelName, variant.modelVersion);
      const uri = await this.#registry.getDownloadUri(variant.modelName, variant.modelVersion);
      const storePath = proxiedArtifactPath(uri);
      if (storePath === null) {
        throw new InvalidParameterError(
          `Model ${variant.modelName} version ${variant.modelVersion} is stored at '${uri}', ` +
            'which this server does not proxy; deployments load models from the ' +
            "server's artifact store (mlflow-artifacts:/ URIs).",
          { uri },
        );
      }
      const cached = await this.#cache.materialize({
        modelName: variant.modelName,
        modelVersion: variant.modelVersion,
        storePath,
        expectedDigest: version.digest,
      });
      const plan = planServing(await readMlModel(cached.dir), cached.dir);
      const runtime = this.#runtimes[plan.runtime];
      if (runtime === undefined) {
        throw new InvalidParameterError(
          `This server has no ${plan.runtime} runtime to serve model ${variant.modelName}.`,
          { runtime: plan.runtime },
        );
      }
      if (stale()) return;
      model = await runtime.load(cached.dir, {
        name: `${name}/${variant.modelName}/${variant.modelVersion}`,
        replicas: variant.replicas,
        maxConcurrency: variant.maxConcurrency,
        batching: variant.batching ?? undefined,
      });
      if (stale()) {
        await model.close();
        return;
      }
      const old = slot.model;
      slot.model = model;
      const verified = version.digest !== null;
      const batching = model.status().batching;
      let batchingNote = '';
      if (batching !== undefined) {
        batchingNote = batching.enabled
          ? ` Dynamic batching: up to ${batching.maxBatchSize} rows or ${batching.maxLatencyMs} ms.`
          : ` ${batching.reason ?? 'Dynamic batching is off.'}`;
      }
      slot.deployment = await this.#setStatus(
        name,
        'ready',
        `Serving ${variant.modelName} version ${variant.modelVersion} on ${variant.replicas} ` +
          `${plan.runtime} replica${variant.replicas === 1 ? '' : 's'}; artifact digest ` +
          `sha256:${cached.digest} ${verified ? 'verified against the registry' : 'not verified (the registry recorded none)'}.` +
          batchingNote,
        {
          digest: cached.digest,
          verified,
          runtime: plan.runtime,
          cacheReused: cached.reused,
          ...(batching !== undefined && {
            batching: batching.enabled ? 'on' : 'off',
            ...(batching.reason !== undefined && { batchingOffReason: batching.reason }),
          }),
        },
      );
      await old?.close();
    } catch (error) {
      if (stale()) {
        await model?.close();
        return;
      }
      try {
        slot.deployment = await this.#setStatus(
          name,
          slot.model === undefined ? 'failed' : 'degraded',
          `Loading ${variant.modelName} version ${variant.modelVersion} failed: ${messageOf(error)}`,
          { error: messageOf(error) },
        );
      } catch (statusError) {
        this.#onError(statusError, `could not record the failure of deployment '${name}'`);
      }
    }
  }

  #setStatus(
    name: string,
    status: DeploymentStatus,
    reason: string,
    details: Record<string, unknown> = {},
  ): Promise<Deployment> {
    return this.#store.updateDeployment(name, {
      status,
      statusReason: reason,
      event: { actor: SYSTEM_ACTOR, action: 'status', reason, details: { status, ...details } },
    });
  }
}

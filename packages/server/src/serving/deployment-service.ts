import {
  InvalidParameterError,
  InvalidStateError,
  NotFoundError,
  YardError,
  abReport,
  addOutcomes,
  candidateFailed,
  candidateReady,
  createTrafficSplitter,
  decodePageToken,
  emptyOutcome,
  evaluateRollout,
  isRolloutActive,
  outputsAgree,
  parseModelUri,
  promoteRollout,
  rollBackRollout,
  rolloutWeights,
  startRollout,
} from '@modelyard/core';
import type {
  AbReport,
  BatchingOptions,
  Deployment,
  DeploymentEvent,
  DeploymentMetrics,
  DeploymentStatus,
  DeploymentVariant,
  ModelVersion,
  Rollout,
  RolloutDecision,
  RolloutOptions,
  Tensor,
  TrafficSplitter,
} from '@modelyard/core';
import type {
  ArtifactStore,
  DeploymentEventInput,
  EventOrder,
  MetadataStore,
} from '@modelyard/store';
import { proxiedArtifactPath } from '../services/artifact-uris.js';
import type { RegistryService } from '../services/registry-service.js';
import { tokenOf } from '../services/tracking-service.js';
import { planServing, readMlModel } from './mlmodel.js';
import { ModelCache } from './model-cache.js';
import type {
  InferOptions,
  LoadedModel,
  ModelInputs,
  ModelRuntime,
  RuntimeKind,
} from './model-runtime.js';
import { createJsRuntime } from './js-runtime.js';
import { createOnnxRuntime } from './onnx-runtime.js';
import { createTfjsRuntime } from './tfjs-runtime.js';
import { VariantMeter } from './variant-meter.js';

/** The actor recorded on events the server causes itself (loads, rollout decisions). */
export const SYSTEM_ACTOR = 'modelyard';

/** Deployment names: DNS-label-like, so they fit URLs, metrics labels and Kubernetes objects. */
const DEPLOYMENT_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The response header naming the deployment variant that answered an inference. */
export const VARIANT_HEADER = 'x-modelyard-variant';

/** How long a retired variant may finish its in-flight requests before it is closed. */
const DRAIN_TIMEOUT_MS = 30_000;

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

/** Replica, concurrency and batching settings of a variant, each optional. */
export interface VariantSizing {
  /** Worker replicas holding the model; default 1 (a rollout's candidate: the primary's). */
  replicas?: number | undefined;
  /** Requests one replica runs at once; default 4 (a candidate: the primary's). */
  maxConcurrency?: number | undefined;
  /**
   * Dynamic batching of the variant's requests (see `DynamicBatcher`); default off (a
   * candidate: the primary's). A model whose inputs or outputs lack a variable first dimension
   * is served unbatched, and the variant's status reason says so.
   */
  batching?: BatchingOptions | null | undefined;
}

/** What {@link DeploymentService.create} takes. */
export interface CreateDeploymentRequest extends VariantSizing {
  /** The endpoint name (a DNS label, see {@link validateDeploymentName}). */
  name: string;
  /** `models:/<model>/<version>` or `models:/<model>@<alias>`. */
  modelUri: string;
  description?: string | undefined;
  /** Who asks (recorded on the `created` event). */
  actor: string;
  /** Why (recorded on the `created` event). */
  reason?: string | undefined;
}

/** What {@link DeploymentService.update} takes: the fields to change. */
export interface UpdateDeploymentRequest extends VariantSizing {
  description?: string | undefined;
  actor: string;
  reason?: string | undefined;
}

/** What {@link DeploymentService.rollout} takes. */
export interface RolloutRequest extends VariantSizing {
  /** The candidate: `models:/<model>/<version>` or `models:/<model>@<alias>`. */
  modelUri: string;
  strategy: string;
  options?: RolloutOptions | undefined;
  actor: string;
  reason?: string | undefined;
}

/** One A/B outcome: the variant it belongs to, named or found from the request's sticky key. */
export interface OutcomeInput {
  variant?: string | undefined;
  key?: string | undefined;
  value: number;
}

/** Where a request goes: picked by {@link DeploymentService.route}. */
export interface RoutedRequest {
  deployment: Deployment;
  variant: DeploymentVariant;
  model: LoadedModel;
  /** The variants to mirror the request to (shadow rollouts). */
  mirrors: string[];
}

/** A deployment as its metadata endpoints show it (see {@link DeploymentService.served}). */
export interface ServedDeployment {
  deployment: Deployment;
  variant: DeploymentVariant;
  /** Present once the variant's model is loaded. */
  model: LoadedModel | undefined;
  /** The model versions of the serving (non-shadow) variants. */
  versions: string[];
}

/** How a request is routed: headers and protocol parameters hold the sticky key, if any. */
export interface RouteOptions {
  /** Serve from the variant running this model version (OIP `/versions/{v}`), not the split. */
  version?: string | undefined;
  headers?: Readonly<Record<string, string | string[] | undefined>> | undefined;
  /** The request's `parameters` (OIP v2) or `params` (MLflow scoring). */
  parameters?: unknown;
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
  /** How often running rollouts are evaluated, in ms; default 1000. */
  rolloutTickMs?: number;
  /** Reports background failures that cannot reach a caller (default: ignored). */
  onError?: (error: unknown, message: string) => void;
}

/** The runtime side of one variant: its loaded model and its measurements. */
interface VariantRuntime {
  name: string;
  /** What was (or is being) loaded: model version and sizing; a change reloads. */
  loadKey: string;
  model: LoadedModel | undefined;
  meter: VariantMeter;
  shadow: { mirrored: number; agreed: number };
  /** Bumped by every (re)load and by retirement, so that a late load discards its model. */
  generation: number;
  retired: boolean;
}

interface Slot {
  deployment: Deployment;
  runtimes: Map<string, VariantRuntime>;
  splitter: TrafficSplitter;
  /** Changes of the deployment run one after another in this chain. */
  queue: Promise<unknown>;
  /** Loads run one after another per deployment. */
  loads: Promise<unknown>;
  removed: boolean;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function loadKeyOf(v: DeploymentVariant): string {
  return JSON.stringify([v.modelName, v.modelVersion, v.replicas, v.maxConcurrency, v.batching]);
}

function primaryOf(deployment: Deployment): DeploymentVariant {
  const variant = deployment.variants.find((v) => v.role === 'primary') ?? deployment.variants[0];
  if (variant === undefined) {
    throw new YardError('INTERNAL_ERROR', `Deployment '${deployment.name}' has no variant.`, {
      deployment: deployment.name,
    });
  }
  return variant;
}

/** True for failures the variant is to blame for: 5xx, overload, runtime errors. */
function isVariantFailure(error: unknown): boolean {
  return !(error instanceof YardError) || error.status >= 500 || error.status === 429;
}

/** A variant name for a model version: `v<version>`, or `<model>-v<version>` when taken. */
function variantNameFor(
  taken: readonly DeploymentVariant[],
  model: string,
  version: string,
): string {
  const names = new Set(taken.map((v) => v.name));
  const short = `v${version}`;
  if (!names.has(short)) return short;
  const slug = model
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
  const long = `${slug === '' ? 'model' : slug}-v${version}`;
  if (!names.has(long)) return long;
  let n = 2;
  while (names.has(`${long}-${String(n)}`)) n += 1;
  return `${long}-${String(n)}`;
}

/** The deployment's status from its variants: the primary decides, a failed other degrades. */
function summarize(
  variants: readonly DeploymentVariant[],
  note = '',
): {
  status: DeploymentStatus;
  statusReason: string;
} {
  const primary = variants.find((v) => v.role === 'primary') ?? variants[0];
  if (primary === undefined) return { status: 'failed', statusReason: 'No variant.' };
  if (primary.status === 'loading') {
    return {
      status: 'loading',
      statusReason: `Loading ${primary.modelName} version ${primary.modelVersion}.`,
    };
  }
  if (primary.status === 'failed') return { status: 'failed', statusReason: primary.statusReason };
  const failed = variants.find((v) => v.status === 'failed');
  if (failed !== undefined) {
    return {
      status: 'degraded',
      statusReason: `Variant '${failed.name}' failed: ${failed.statusReason}`,
    };
  }
  if (note !== '') return { status: 'degraded', statusReason: note };
  return { status: 'ready', statusReason: primary.statusReason };
}

function cloneTensor(tensor: Tensor): Tensor {
  const data = Array.isArray(tensor.data) ? [...tensor.data] : tensor.data.slice();
  return { ...tensor, shape: [...tensor.shape], data } as Tensor;
}

function cloneInputs(inputs: ModelInputs): Map<string, Tensor> {
  const entries: [string, Tensor][] =
    inputs instanceof Map
      ? [...(inputs as ReadonlyMap<string, Tensor>).entries()]
      : Object.entries(inputs as Readonly<Record<string, Tensor>>);
  return new Map(entries.map(([name, tensor]) => [name, cloneTensor(tensor)]));
}

/**
 * Deployments: named endpoints serving registered model versions, one primary variant and, during
 * a rollout, a candidate or shadow variant. Every change is written to the store with an event
 * (who, when, what, why) and then applied here: variants whose model or sizing changed load in
 * the background beside what serves (copy from the artifact store into the local model cache,
 * verify the registry's digest, pick the runtime from the `MLmodel` file, start the replicas),
 * so that loading never drops a request; variants that leave finish their in-flight requests
 * before they close.
 *
 * Requests are split by weight ({@link route}), sticky per key when the rollout says so, and
 * measured per variant ({@link infer}); a timer evaluates running rollouts against those figures
 * and applies the decisions (see `evaluateRollout` in core). One server process owns a
 * deployment's rollout: the figures live in its memory.
 */
export class DeploymentService {
  readonly #store: MetadataStore;
  readonly #registry: RegistryService;
  readonly #cache: ModelCache;
  readonly #runtimes: Partial<Record<RuntimeKind, ModelRuntime>>;
  readonly #onError: (error: unknown, message: string) => void;
  readonly #slots = new Map<string, Slot>();
  readonly #timer: NodeJS.Timeout;
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
    this.#timer = setInterval(() => {
      this.#tick();
    }, options.rolloutTickMs ?? 1000);
    this.#timer.unref();
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
      name: variantNameFor([], version.name, version.version),
      modelUri: request.modelUri,
      modelName: version.name,
      modelVersion: version.version,
      role: 'primary',
      weight: 100,
      replicas,
      maxConcurrency,
      batching,
      status: 'loading',
      statusReason: `Loading ${version.name} version ${version.version}.`,
    };
    const deployment = await this.#store.createDeployment({
      name: request.name,
      description: request.description,
      variants: [variant],
      actor: request.actor,
      reason: request.reason,
    });
    this.#open(deployment);
    return deployment;
  }

  /** @throws NotFoundError when there is no such deployment. */
  get(name: string): Promise<Deployment> {
    const slot = this.#slots.get(name);
    // The served copy carries the rollout's latest hold reason, which is not written each tick.
    return slot === undefined ? this.#store.getDeployment(name) : Promise.resolve(slot.deployment);
  }

  /** Every deployment, by name. */
  async list(): Promise<Deployment[]> {
    const stored = await this.#store.listDeployments();
    return stored.map((d) => this.#slots.get(d.name)?.deployment ?? d);
  }

  /** A page of the deployment's events, oldest first. */
  async events(
    name: string,
    args: {
      maxResults?: number | undefined;
      pageToken?: string | undefined;
      /** `asc` oldest first (default), `desc` newest first. */
      order?: EventOrder | undefined;
    },
  ): Promise<{ items: DeploymentEvent[]; nextPageToken: string | undefined }> {
    const maxResults = args.maxResults ?? 100;
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 1000) {
      throw new InvalidParameterError(`maxResults must be from 1 to 1000, got ${maxResults}.`, {
        maxResults,
      });
    }
    const page = await this.#store.listDeploymentEvents(
      name,
      { maxResults, offset: decodePageToken(args.pageToken) },
      args.order ?? 'asc',
    );
    return { items: page.items, nextPageToken: tokenOf(page.nextOffset) };
  }

  /**
   * Stops serving and deletes the deployment (its events are kept). In-flight requests finish.
   * @throws NotFoundError when there is no such deployment.
   */
  async delete(name: string, actor: string, reason?: string): Promise<void> {
    await this.#store.deleteDeployment(name, actor, reason);
    const slot = this.#slots.get(name);
    this.#slots.delete(name);
    if (slot !== undefined) {
      slot.removed = true;
      await Promise.all([...slot.runtimes.values()].map((r) => this.#retire(r)));
    }
  }

  /**
   * Changes the replica count of the primary variant: a model with the new count loads beside
   * the serving one and replaces it when ready, so no request is dropped.
   * @throws InvalidParameterError for a count outside 1–64; NotFoundError for no deployment.
   */
  scale(name: string, replicas: number, actor: string, reason?: string): Promise<Deployment> {
    positiveInteger('replicas', replicas, 1);
    return this.#change(name, (current) => {
      const primary = primaryOf(current);
      return {
        variants: current.variants.map((v) => (v === primary ? { ...v, replicas } : v)),
        event: {
          actor,
          action: 'scaled',
          reason,
          details: { from: primary.replicas, to: replicas },
        },
      };
    });
  }

  /**
   * Changes the description and the primary's sizing (replicas, concurrency, batching). A sizing
   * change loads the primary again beside the serving copy. To serve another model version,
   * start a rollout (a blue-green one switches as soon as the new version is warm).
   * @throws InvalidParameterError for a bad value or an empty change; NotFoundError.
   */
  update(name: string, request: UpdateDeploymentRequest): Promise<Deployment> {
    const sizing: Partial<DeploymentVariant> = {};
    if (request.replicas !== undefined) {
      sizing.replicas = positiveInteger('replicas', request.replicas, 1);
    }
    if (request.maxConcurrency !== undefined) {
      sizing.maxConcurrency = positiveInteger('maxConcurrency', request.maxConcurrency, 4);
    }
    if (request.batching !== undefined) sizing.batching = checkBatching(request.batching);
    if (Object.keys(sizing).length === 0 && request.description === undefined) {
      throw new InvalidParameterError(
        'Nothing to update: give a description, replicas, maxConcurrency or batching. ' +
          'To serve another model version, start a rollout.',
      );
    }
    return this.#change(name, (current) => {
      const primary = primaryOf(current);
      return {
        ...(request.description !== undefined && { description: request.description }),
        variants: current.variants.map((v) => (v === primary ? { ...v, ...sizing } : v)),
        event: {
          actor: request.actor,
          action: 'updated',
          reason: request.reason,
          details: {
            ...(request.description !== undefined && { description: request.description }),
            ...(Object.keys(sizing).length > 0 && { variant: primary.name, ...sizing }),
          },
        },
      };
    });
  }

  /**
   * Starts a rollout of the version `modelUri` names as the deployment's candidate (see
   * `RolloutStrategy`). The candidate loads beside the primary and receives nothing until it is
   * ready; from then on the timer drives the rollout. Returns the deployment with the rollout in
   * phase `warming`.
   *
   * @throws InvalidStateError when a rollout is already in progress, or the primary is not ready.
   * @throws InvalidParameterError for bad options, or a candidate that is the primary's version.
   * @throws NotFoundError for an unknown deployment, model, version or alias.
   */
  async rollout(name: string, request: RolloutRequest): Promise<Deployment> {
    const version = await this.#resolve(request.modelUri);
    return this.#change(name, (current) => {
      if (isRolloutActive(current.rollout)) {
        const r = current.rollout;
        throw new InvalidStateError(
          `Deployment '${name}' has a ${r.strategy} rollout of '${r.candidate}' in progress ` +
            `(phase ${r.phase}); promote it or roll it back first.`,
          { deployment: name, phase: r.phase },
        );
      }
      const primary = primaryOf(current);
      if (primary.status !== 'ready') {
        throw new InvalidStateError(
          `Deployment '${name}' is ${current.status}: its primary must be ready before a rollout ` +
            'can compare a candidate with it. Delete and create the deployment again to replace ' +
            'a primary that failed to load.',
          { deployment: name, status: current.status },
        );
      }
      if (primary.modelName === version.name && primary.modelVersion === version.version) {
        throw new InvalidParameterError(
          `Deployment '${name}' already serves ${version.name} version ${version.version}; ` +
            'roll out another version.',
          { modelUri: request.modelUri },
        );
      }
      const candidateName = variantNameFor(current.variants, version.name, version.version);
      const rollout = startRollout({
        strategy: request.strategy,
        options: request.options,
        candidate: candidateName,
        primary: primary.name,
        actor: request.actor,
        reason: request.reason,
        now: Date.now(),
      });
      const weights = rolloutWeights(rollout);
      const candidate: DeploymentVariant = {
        name: candidateName,
        modelUri: request.modelUri,
        modelName: version.name,
        modelVersion: version.version,
        role: weights.candidateRole,
        weight: weights.candidate,
        replicas: positiveInteger('replicas', request.replicas, primary.replicas),
        maxConcurrency: positiveInteger(
          'maxConcurrency',
          request.maxConcurrency,
          primary.maxConcurrency,
        ),
        batching:
          request.batching === undefined ? primary.batching : checkBatching(request.batching),
        status: 'loading',
        statusReason: `Loading ${version.name} version ${version.version}.`,
      };
      const variants = [...current.variants.filter((v) => v.role === 'primary'), candidate];
      return {
        variants,
        rollout,
        event: {
          actor: request.actor,
          action: 'rollout-started',
          reason: request.reason,
          details: {
            strategy: rollout.strategy,
            candidate: candidateName,
            modelUri: request.modelUri,
            modelVersion: version.version,
            settings: rollout.settings,
            ...(rollout.canary !== null && { stages: rollout.canary.config.stages }),
          },
        },
      };
    });
  }

  /**
   * Makes the rollout's candidate the primary now (the old primary finishes its requests and
   * goes).
   * @throws InvalidStateError when no rollout is in progress or the candidate is still loading.
   */
  promote(name: string, actor: string, reason?: string): Promise<Deployment> {
    return this.#decide(
      name,
      (rollout) => promoteRollout(rollout, actor, reason, Date.now()),
      actor,
    );
  }

  /**
   * Rolls the rollout's candidate back now: the primary takes all traffic at once (it never
   * stopped being loaded), the candidate finishes its requests and goes.
   * @throws InvalidStateError when no rollout is in progress.
   */
  rollback(name: string, actor: string, reason?: string): Promise<Deployment> {
    return this.#decide(
      name,
      (rollout) => rollBackRollout(rollout, actor, reason, Date.now()),
      actor,
    );
  }

  /**
   * Records outcomes of an A/B test's declared metric. Each names its variant, or gives the
   * request's sticky key, which is routed as the request was.
   * @throws InvalidStateError when no A/B test with a metric is running.
   * @throws InvalidParameterError for an unknown variant or a value the metric refuses.
   */
  async recordOutcomes(name: string, outcomes: readonly OutcomeInput[]): Promise<AbReport> {
    if (outcomes.length === 0 || outcomes.length > 10_000) {
      throw new InvalidParameterError(
        `Send 1 to 10000 outcomes per call, got ${String(outcomes.length)}.`,
      );
    }
    const deployment = await this.#change(name, (current, slot) => {
      const rollout = current.rollout;
      const metric = rollout?.settings.metric ?? null;
      if (!isRolloutActive(rollout) || rollout.strategy !== 'ab' || metric === null) {
        throw new InvalidStateError(
          `Deployment '${name}' runs no A/B test with an outcome metric; start one with ` +
            "strategy 'ab' and a metric to record outcomes.",
          { deployment: name },
        );
      }
      const arms = new Set([rollout.primary, rollout.candidate]);
      const byVariant = new Map<string, number[]>();
      for (const [index, outcome] of outcomes.entries()) {
        let variant = outcome.variant;
        if (variant === undefined && outcome.key !== undefined)
          variant = slot.splitter.pick(outcome.key);
        if (variant === undefined || !arms.has(variant)) {
          throw new InvalidParameterError(
            `outcomes[${String(index)}] must name a variant of the test (${[...arms].join(' or ')}) ` +
              `or give the request's sticky key; got ${JSON.stringify(outcome.variant ?? null)}.`,
            { index },
          );
        }
        const values = byVariant.get(variant) ?? [];
        values.push(outcome.value);
        byVariant.set(variant, values);
      }
      const next = { ...rollout.outcomes };
      for (const [variant, values] of byVariant) {
        next[variant] = addOutcomes(next[variant] ?? emptyOutcome(), metric, values);
      }
      return { rollout: { ...rollout, outcomes: next } };
    });
    const report = deployment.rollout === null ? null : abReport(deployment.rollout);
    if (report === null) throw new YardError('INTERNAL_ERROR', 'The A/B report is missing.');
    return report;
  }

  /** Live per-variant figures and the rollout's state. @throws NotFoundError. */
  metrics(name: string): DeploymentMetrics {
    const slot = this.#slotOf(name);
    const { deployment } = slot;
    const rollout = deployment.rollout;
    return {
      deployment: name,
      status: deployment.status,
      variants: deployment.variants.map((v) => {
        const runtime = slot.runtimes.get(v.name);
        const figures = runtime?.meter.figures() ?? new VariantMeter().figures();
        const shadow = runtime?.shadow;
        return {
          name: v.name,
          role: v.role,
          weight: v.weight,
          modelVersion: v.modelVersion,
          status: v.status,
          ...figures,
          ...(v.role === 'shadow' &&
            shadow !== undefined && {
              shadow: {
                ...shadow,
                agreement: shadow.mirrored === 0 ? null : shadow.agreed / shadow.mirrored,
              },
            }),
        };
      }),
      rollout:
        rollout === null
          ? null
          : {
              strategy: rollout.strategy,
              phase: rollout.phase,
              candidate: rollout.candidate,
              lastDecision: rollout.lastDecision,
              ab: abReport(rollout),
            },
    };
  }

  /**
   * The deployment as its metadata and readiness endpoints show it: the primary variant, or the
   * serving variant of one model version, with its model once loaded.
   * @throws NotFoundError for an unknown deployment or version.
   */
  served(name: string, version?: string): ServedDeployment {
    const slot = this.#slotOf(name);
    const { deployment } = slot;
    const servingVersions = deployment.variants
      .filter((v) => v.role !== 'shadow')
      .map((v) => v.modelVersion);
    const variant =
      version === undefined
        ? primaryOf(deployment)
        : deployment.variants.find((v) => v.role !== 'shadow' && v.modelVersion === version);
    if (variant === undefined) {
      throw new NotFoundError(
        `Model '${name}' has no version '${String(version)}'; it serves version ` +
          `${servingVersions.join(', ')}.`,
        { model: name, version },
      );
    }
    return {
      deployment,
      variant,
      model: slot.runtimes.get(variant.name)?.model,
      versions: servingVersions,
    };
  }

  /**
   * Picks the variant that serves a request: by the traffic split (sticky per the rollout's key
   * header or parameter), or the variant of one model version. A picked variant without a loaded
   * model falls back to the primary.
   * @throws NotFoundError for an unknown deployment or version; YardError 503 when nothing is
   *   loaded yet.
   */
  route(name: string, options: RouteOptions = {}): RoutedRequest {
    const slot = this.#slotOf(name);
    const { deployment } = slot;
    if (options.version !== undefined) {
      const { variant } = this.served(name, options.version);
      return { deployment, variant, model: this.#modelOf(slot, variant), mirrors: [] };
    }
    const picked = slot.splitter.pick(this.#stickyKey(deployment.rollout, options));
    let variant = deployment.variants.find((v) => v.name === picked) ?? primaryOf(deployment);
    if (slot.runtimes.get(variant.name)?.model === undefined) variant = primaryOf(deployment);
    const mirrors = slot.splitter
      .mirrorTargets()
      .filter((m) => slot.runtimes.get(m)?.model !== undefined);
    return { deployment, variant, model: this.#modelOf(slot, variant), mirrors };
  }

  /**
   * Runs a routed request on its variant, measures it, and mirrors it to shadow variants (their
   * answers are compared with this one and dropped).
   */
  async infer(
    routed: RoutedRequest,
    inputs: ModelInputs,
    options: InferOptions = {},
  ): Promise<Record<string, Tensor>> {
    const slot = this.#slots.get(routed.deployment.name);
    const runtime = slot?.runtimes.get(routed.variant.name);
    const copies = routed.mirrors.map(() => cloneInputs(inputs));
    runtime?.meter.started();
    const start = performance.now();
    let outputs: Record<string, Tensor>;
    try {
      outputs = await routed.model.infer(inputs, options);
    } catch (error) {
      if (isVariantFailure(error)) runtime?.meter.finished(performance.now() - start, true);
      else runtime?.meter.abandoned();
      throw error;
    }
    runtime?.meter.finished(performance.now() - start, false);
    if (slot !== undefined) {
      routed.mirrors.forEach((mirror, index) => {
        const copy = copies[index];
        if (copy !== undefined) void this.#mirror(slot, mirror, copy, options, outputs);
      });
    }
    return outputs;
  }

  /**
   * True when no deployment is still loading its primary (for `/v2/health/ready`): each is
   * serving or has failed (a failed one is reported on its own endpoints).
   */
  allReady(): boolean {
    return [...this.#slots.values()].every((slot) => {
      const primary = primaryOf(slot.deployment);
      return slot.runtimes.get(primary.name)?.model !== undefined || primary.status === 'failed';
    });
  }

  /** Resolves when the deployment's pending changes and loads have finished. */
  async settled(name: string): Promise<void> {
    for (;;) {
      const slot = this.#slots.get(name);
      if (slot === undefined) return;
      const { queue, loads } = slot;
      await Promise.allSettled([queue, loads]);
      if (slot.queue === queue && slot.loads === loads) return;
    }
  }

  /** Evaluates every running rollout now (the timer does it every `rolloutTickMs`). */
  async evaluateRollouts(): Promise<void> {
    await Promise.allSettled(
      [...this.#slots.values()].map((slot) => {
        const rollout = slot.deployment.rollout;
        if (!isRolloutActive(rollout) || rollout.phase === 'warming') return Promise.resolve();
        return this.#decide(
          slot.deployment.name,
          (current) => evaluateRollout(current, this.#observe(slot, current), Date.now()),
          SYSTEM_ACTOR,
        );
      }),
    );
  }

  /** Loads every deployment found in the store (on server start). */
  async restore(): Promise<void> {
    const deployments = await this.#store.listDeployments();
    for (const deployment of deployments) {
      if (this.#slots.has(deployment.name)) continue;
      const variants = deployment.variants.map((v) => ({
        ...v,
        status: 'loading' as const,
        statusReason: 'Reloading after a restart.',
      }));
      const current = await this.#store.updateDeployment(deployment.name, {
        variants,
        ...summarize(variants),
        event: {
          actor: SYSTEM_ACTOR,
          action: 'status',
          reason: 'Reloading after a restart.',
          details: { status: 'loading' },
        },
      });
      this.#open(current);
    }
  }

  /** Stops every loaded model (on server close); deployments stay in the store. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    const slots = [...this.#slots.values()];
    this.#slots.clear();
    for (const slot of slots) slot.removed = true;
    await Promise.allSettled(slots.flatMap((slot) => [slot.queue, slot.loads]));
    await Promise.allSettled(
      slots.flatMap((slot) => [...slot.runtimes.values()].map((r) => this.#retire(r))),
    );
  }

  // ---- internals ----

  #slotOf(name: string): Slot {
    const slot = this.#slots.get(name);
    if (slot === undefined) {
      throw new NotFoundError(`No deployment named '${name}'.`, { deployment: name });
    }
    return slot;
  }

  #modelOf(slot: Slot, variant: DeploymentVariant): LoadedModel {
    const model = slot.runtimes.get(variant.name)?.model;
    if (model === undefined) {
      const { deployment } = slot;
      throw new YardError(
        'TEMPORARILY_UNAVAILABLE',
        `Model '${deployment.name}' is not ready (status ${deployment.status}` +
          `${deployment.statusReason === '' ? '' : `: ${deployment.statusReason}`}).`,
        { deployment: deployment.name, status: deployment.status },
      );
    }
    return model;
  }

  #stickyKey(rollout: Rollout | null, options: RouteOptions): string | undefined {
    if (!isRolloutActive(rollout)) return undefined;
    const { stickyHeader, stickyField } = rollout.settings;
    if (stickyHeader !== null) {
      const value = options.headers?.[stickyHeader];
      return Array.isArray(value) ? value[0] : value;
    }
    if (stickyField !== null) {
      const params = options.parameters;
      if (typeof params === 'object' && params !== null && !Array.isArray(params)) {
        const value = (params as Record<string, unknown>)[stickyField];
        if (typeof value === 'string' || typeof value === 'number') return String(value);
      }
    }
    return undefined;
  }

  async #mirror(
    slot: Slot,
    variantName: string,
    inputs: Map<string, Tensor>,
    options: InferOptions,
    primaryOutputs: Record<string, Tensor>,
  ): Promise<void> {
    const runtime = slot.runtimes.get(variantName);
    const model = runtime?.model;
    if (runtime === undefined || model === undefined) return;
    runtime.meter.started();
    const start = performance.now();
    try {
      const outputs = await model.infer(inputs, { ...options, transferInputs: true });
      runtime.meter.finished(performance.now() - start, false);
      runtime.shadow.mirrored += 1;
      if (outputsAgree(primaryOutputs, outputs)) runtime.shadow.agreed += 1;
    } catch {
      // The shadow's failure is counted against it and never reaches the caller.
      runtime.meter.finished(performance.now() - start, true);
      runtime.shadow.mirrored += 1;
    }
  }

  #observe(slot: Slot, rollout: Rollout): Parameters<typeof evaluateRollout>[1] {
    const primary = slot.runtimes.get(rollout.primary);
    const candidate = slot.runtimes.get(rollout.candidate);
    const empty = { requests: 0, errors: 0, p95LatencyMs: null };
    return {
      primary: primary?.meter.observe() ?? empty,
      candidate: candidate?.meter.observe() ?? empty,
      ...(candidate !== undefined && { shadow: { ...candidate.shadow } }),
    };
  }

  /** Applies a rollout decision made from the deployment's current rollout. */
  #decide(
    name: string,
    decide: (rollout: Rollout) => RolloutDecision,
    actor: string,
  ): Promise<Deployment> {
    return this.#change(name, (current, slot) => {
      const rollout = current.rollout;
      if (!isRolloutActive(rollout)) {
        const last =
          rollout === null
            ? 'it has had none'
            : `the last one, a ${rollout.strategy} rollout of '${rollout.candidate}', ${rollout.phase === 'completed' ? 'completed' : 'was rolled back'}`;
        throw new InvalidStateError(
          `Deployment '${name}' has no rollout in progress (${last}). To serve another ` +
            'version, start a rollout of it (a blue-green one switches as soon as it is warm).',
          { deployment: name },
        );
      }
      const decision = decide(rollout);
      if (decision.action === 'hold') {
        // Holds change nothing but the reason shown; they are not written each tick.
        slot.deployment = { ...slot.deployment, rollout: decision.rollout };
        return null;
      }
      return this.#applyDecision(current, slot, decision, actor);
    });
  }

  #applyDecision(
    current: Deployment,
    slot: Slot,
    decision: RolloutDecision,
    actor: string,
  ): { variants: DeploymentVariant[]; rollout: Rollout; event: DeploymentEventInput } {
    const next = decision.rollout;
    let variants: DeploymentVariant[];
    let action: string;
    switch (decision.action) {
      case 'complete':
        action = 'rollout-completed';
        variants = current.variants
          .filter((v) => v.name !== next.primary)
          .map((v) => (v.name === next.candidate ? { ...v, role: 'primary', weight: 100 } : v));
        break;
      case 'rollback':
        action = 'rollout-rolled-back';
        variants = current.variants
          .filter((v) => v.name !== next.candidate)
          .map((v) => (v.name === next.primary ? { ...v, weight: 100 } : v));
        break;
      case 'advance':
      case 'hold': {
        action = 'rollout-stage';
        const weights = rolloutWeights(next);
        variants = current.variants.map((v) =>
          v.name === next.primary
            ? { ...v, weight: weights.primary }
            : v.name === next.candidate
              ? { ...v, role: weights.candidateRole, weight: weights.candidate }
              : v,
        );
        break;
      }
    }
    // Every stage is judged on its own figures.
    const now = Date.now();
    for (const runtime of slot.runtimes.values()) runtime.meter.resetWindow(now);
    return {
      variants,
      rollout: next,
      event: {
        actor,
        action,
        reason: decision.reason,
        details: {
          strategy: next.strategy,
          phase: next.phase,
          candidate: next.candidate,
          weights: Object.fromEntries(variants.map((v) => [v.name, v.weight])),
          ...decision.details,
        },
      },
    };
  }

  async #resolve(modelUri: string): Promise<ModelVersion> {
    const ref = parseModelUri(modelUri);
    return ref.alias !== undefined
      ? this.#registry.getModelVersionByAlias(ref.name, ref.alias)
      : this.#registry.getModelVersion(ref.name, ref.version);
  }

  /** Starts serving a deployment just created or read back from the store. */
  #open(deployment: Deployment): void {
    if (this.#closed) return;
    const slot: Slot = {
      deployment,
      runtimes: new Map(),
      splitter: createTrafficSplitter(deployment.variants, { salt: deployment.name }),
      queue: Promise.resolve(),
      loads: Promise.resolve(),
      removed: false,
    };
    this.#slots.set(deployment.name, slot);
    this.#reconcile(slot);
  }

  /**
   * Runs a change of a deployment after the ones before it: `change` sees the current
   * deployment and returns what to write (null: nothing), the write records it with its event,
   * and the runtimes follow (loads start, leavers retire). Variant load states and the status
   * are kept consistent with the variants here.
   */
  #change(
    name: string,
    change: (
      current: Deployment,
      slot: Slot,
    ) => {
      description?: string;
      variants?: DeploymentVariant[];
      rollout?: Rollout;
      event?: DeploymentEventInput;
      /** Degrades a deployment whose variants are all ready (a failed reload). */
      statusNote?: string;
    } | null,
  ): Promise<Deployment> {
    const slot = this.#slots.get(name);
    if (slot === undefined) {
      // Not served here (deleted, or never loaded): answer as the store does.
      return this.#store.getDeployment(name).then(() => {
        throw new InvalidStateError(
          `Deployment '${name}' is not served by this server yet; try again in a moment.`,
          { deployment: name },
        );
      });
    }
    const run = async (): Promise<Deployment> => {
      if (slot.removed)
        throw new NotFoundError(`No deployment named '${name}'.`, { deployment: name });
      const update = change(slot.deployment, slot);
      if (update === null) return slot.deployment;
      const variants = update.variants ?? slot.deployment.variants;
      // Variants whose model or sizing changes are loading again.
      const before = new Map(slot.deployment.variants.map((v) => [v.name, v]));
      const marked = variants.map((v) => {
        const old = before.get(v.name);
        if (old === undefined || loadKeyOf(old) === loadKeyOf(v)) return v;
        const reload = `Loading ${v.modelName} version ${v.modelVersion} on ${String(v.replicas)} replica${v.replicas === 1 ? '' : 's'}`;
        return slot.runtimes.get(v.name)?.model === undefined
          ? { ...v, status: 'loading' as const, statusReason: `${reload}.` }
          : { ...v, statusReason: `${reload}; the previous copy serves meanwhile.` };
      });
      const splitter = createTrafficSplitter(marked, { salt: name });
      const deployment = await this.#store.updateDeployment(name, {
        ...(update.description !== undefined && { description: update.description }),
        ...(update.variants !== undefined && { variants: marked }),
        ...(update.rollout !== undefined && { rollout: update.rollout }),
        ...(update.variants !== undefined && summarize(marked, update.statusNote)),
        ...(update.event !== undefined && { event: update.event }),
      });
      slot.deployment = deployment;
      slot.splitter = splitter;
      this.#reconcile(slot);
      return deployment;
    };
    const result = slot.queue.then(run, run);
    slot.queue = result.catch(() => undefined);
    return result;
  }

  /** Brings the runtimes in line with the deployment's variants. */
  #reconcile(slot: Slot): void {
    const wanted = new Map(slot.deployment.variants.map((v) => [v.name, v]));
    for (const [name, runtime] of slot.runtimes) {
      if (!wanted.has(name)) {
        slot.runtimes.delete(name);
        void this.#retire(runtime);
      }
    }
    for (const variant of wanted.values()) {
      const key = loadKeyOf(variant);
      let runtime = slot.runtimes.get(variant.name);
      if (runtime?.loadKey === key) continue;
      if (runtime === undefined) {
        runtime = {
          name: variant.name,
          loadKey: key,
          model: undefined,
          meter: new VariantMeter(),
          shadow: { mirrored: 0, agreed: 0 },
          generation: 0,
          retired: false,
        };
        slot.runtimes.set(variant.name, runtime);
      }
      runtime.loadKey = key;
      runtime.generation += 1;
      const target = runtime;
      const generation = runtime.generation;
      slot.loads = slot.loads.then(() => this.#load(slot, target, variant, generation));
    }
  }

  /** Stops a leaving variant: no new requests reach it; those it holds finish first. */
  async #retire(runtime: VariantRuntime): Promise<void> {
    runtime.retired = true;
    runtime.generation += 1;
    const model = runtime.model;
    runtime.model = undefined;
    if (model !== undefined) await this.#closeWhenIdle(model, runtime.name);
  }

  /**
   * Closes a model once its running and queued requests are done (up to 30 s; at once when the
   * service closes), so that swapping a model out never fails a request it accepted.
   */
  async #closeWhenIdle(model: LoadedModel, variantName: string): Promise<void> {
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    for (;;) {
      const { inFlight, queued } = model.status();
      if (inFlight + queued === 0 || Date.now() >= deadline || this.#closed) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    try {
      await model.close();
    } catch (error) {
      this.#onError(error, `could not close a model of variant '${variantName}'`);
    }
  }

  async #load(
    slot: Slot,
    runtime: VariantRuntime,
    variant: DeploymentVariant,
    generation: number,
  ): Promise<void> {
    const name = slot.deployment.name;
    const stale = (): boolean =>
      runtime.generation !== generation || runtime.retired || slot.removed || this.#closed;
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
      const runtimeAdapter = this.#runtimes[plan.runtime];
      if (runtimeAdapter === undefined) {
        throw new InvalidParameterError(
          `This server has no ${plan.runtime} runtime to serve model ${variant.modelName}.`,
          { runtime: plan.runtime },
        );
      }
      if (stale()) return;
      model = await runtimeAdapter.load(cached.dir, {
        name: `${name}/${variant.modelName}/${variant.modelVersion}`,
        replicas: variant.replicas,
        maxConcurrency: variant.maxConcurrency,
        batching: variant.batching ?? undefined,
      });
      if (stale()) {
        await model.close();
        return;
      }
      const old = runtime.model;
      runtime.model = model;
      const verified = version.digest !== null;
      const batching = model.status().batching;
      let batchingNote = '';
      if (batching !== undefined) {
        batchingNote = batching.enabled
          ? ` Dynamic batching: up to ${batching.maxBatchSize} rows or ${batching.maxLatencyMs} ms.`
          : ` ${batching.reason ?? 'Dynamic batching is off.'}`;
      }
      const reason =
        `Serving ${variant.modelName} version ${variant.modelVersion} on ${variant.replicas} ` +
        `${plan.runtime} replica${variant.replicas === 1 ? '' : 's'}; artifact digest ` +
        `sha256:${cached.digest} ${verified ? 'verified against the registry' : 'not verified (the registry recorded none)'}.` +
        batchingNote;
      await this.#variantLoaded(slot, variant.name, 'ready', reason, {
        digest: cached.digest,
        verified,
        runtime: plan.runtime,
        cacheReused: cached.reused,
        ...(batching !== undefined && {
          batching: batching.enabled ? 'on' : 'off',
          ...(batching.reason !== undefined && { batchingOffReason: batching.reason }),
        }),
      });
      // A reload (new sizing): the old copy finishes its requests, then closes.
      if (old !== undefined) void this.#closeWhenIdle(old, variant.name);
    } catch (error) {
      if (stale()) {
        await model?.close();
        return;
      }
      const message = `Loading ${variant.modelName} version ${variant.modelVersion} failed: ${messageOf(error)}`;
      try {
        await this.#variantLoaded(
          slot,
          variant.name,
          runtime.model === undefined ? 'failed' : 'ready',
          message,
          {
            error: messageOf(error),
          },
        );
      } catch (statusError) {
        this.#onError(statusError, `could not record the failure of deployment '${name}'`);
      }
    }
  }

  /**
   * Records a variant's load result and its consequences for a rollout in one change: a ready
   * candidate starts its rollout, a failed one rolls it back (the primary never stops serving).
   * A reload that fails while the previous copy serves keeps the variant ready and degrades the
   * deployment.
   */
  #variantLoaded(
    slot: Slot,
    variantName: string,
    status: 'ready' | 'failed',
    reason: string,
    details: Record<string, unknown>,
  ): Promise<Deployment> {
    const failedReload = status === 'ready' && 'error' in details;
    return this.#change(slot.deployment.name, (current) => {
      if (!current.variants.some((v) => v.name === variantName)) return null;
      const variants = current.variants.map((v) =>
        v.name === variantName
          ? {
              ...v,
              status,
              statusReason: failedReload ? `${reason}; the previous copy serves on.` : reason,
            }
          : v,
      );
      const rollout = current.rollout;
      if (
        isRolloutActive(rollout) &&
        rollout.phase === 'warming' &&
        rollout.candidate === variantName
      ) {
        const now = Date.now();
        const primaryBefore = slot.runtimes.get(rollout.primary)?.meter.observe() ?? {
          requests: 0,
          errors: 0,
          p95LatencyMs: null,
        };
        const decision =
          status === 'failed'
            ? candidateFailed(rollout, reason, now)
            : candidateReady(rollout, primaryBefore, now);
        const applied = this.#applyDecision({ ...current, variants }, slot, decision, SYSTEM_ACTOR);
        return {
          ...applied,
          event: { ...applied.event, details: { ...applied.event.details, ...details } },
        };
      }
      const summary = summarize(variants, failedReload ? reason : '');
      return {
        variants,
        ...(failedReload && { statusNote: reason }),
        event: {
          actor: SYSTEM_ACTOR,
          action: 'status',
          reason: failedReload ? reason : status === 'failed' ? reason : summary.statusReason,
          details: {
            status: summary.status,
            variant: variantName,
            variantStatus: status,
            ...details,
          },
        },
      };
    });
  }

  #tick(): void {
    if (this.#closed) return;
    this.evaluateRollouts().catch((error: unknown) => {
      this.#onError(error, 'could not evaluate the rollouts');
    });
  }
}

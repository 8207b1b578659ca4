import {
  InvalidParameterError,
  YardError,
  datatypeOf,
  elementCount,
  formatShape,
  isShapeCompatible,
} from '@modelyard/core';
import { basename, resolve } from 'node:path';
import type { Tensor, TensorSpec } from '@modelyard/core';
import { planServing, readMlModel } from './mlmodel.js';
import type { MlModel, ServingPlan } from './mlmodel.js';
import { DynamicBatcher, unbatchableReason } from './dynamic-batcher.js';
import type { DynamicBatchingOptions } from './dynamic-batcher.js';
import type {
  InferOptions,
  LoadedModel,
  ModelInputs,
  ModelLoadOptions,
  ModelRuntimeStatus,
  RuntimeKind,
} from './model-runtime.js';
import type { ReplicaPool } from './replica-pool.js';
import type { WireTensor } from './worker-protocol.js';

/** A failed inference as the worker reported it (see `FailedMessage`). */
export interface WireFailure {
  message: string;
  fault?: 'input' | undefined;
}

/**
 * How one runtime's tensors cross the thread boundary and how its failures read: the part of a
 * {@link PooledModel} that differs between runtimes.
 */
export interface WireCodec {
  /** The runtime, for {@link LoadedModel.flavor}. */
  readonly flavor: RuntimeKind;
  /** A checked input tensor in the worker's form. */
  toWire(name: string, tensor: Tensor): WireTensor;
  /** A worker's output in the protocol's form. */
  fromWire(wire: WireTensor): Tensor;
  /**
   * The error for an inference the worker reports failed.
   *
   * @param received the request's inputs, described for the message.
   */
  failure(model: PooledModel, reply: WireFailure, received: string): YardError;
  /**
   * Check every output against the model's declared outputs (datatype, shape, element count)
   * before answering; for runtimes whose outputs are user code's word, not a graph's.
   */
  readonly checkOutputs?: boolean;
}

/**
 * A positive integer option, or `fallback` when absent.
 *
 * @throws InvalidParameterError naming the option and the value.
 */
export function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidParameterError(`${name} must be a positive integer, got ${value}.`, {
      [name]: value,
    });
  }
  return value;
}

/** What every runtime's `load` starts from: the checked options and the serving plan. */
export interface LoadPlan {
  dir: string;
  name: string;
  replicas: number;
  maxConcurrency: number;
  maxQueue: number;
  mlmodel: MlModel;
  plan: ServingPlan;
}

/**
 * Reads the model directory's MLmodel and checks the pool options, for the runtime `runtime`.
 * @throws InvalidParameterError for a bad option; the MLmodel's errors for a model that
 *   `runtime` cannot serve.
 */
export async function planLoad(
  modelDir: string,
  options: ModelLoadOptions,
  runtime: RuntimeKind,
): Promise<LoadPlan> {
  const dir = resolve(modelDir);
  const replicas = positiveInteger('replicas', options.replicas, 1);
  const maxConcurrency = positiveInteger('maxConcurrency', options.maxConcurrency, 4);
  const maxQueue = positiveInteger('maxQueue', options.maxQueue, 1024);
  const mlmodel = await readMlModel(dir);
  const plan = planServing(mlmodel, dir, runtime);
  return {
    dir,
    name: options.name ?? basename(dir),
    replicas,
    maxConcurrency,
    maxQueue,
    mlmodel,
    plan,
  };
}

/** A spec as messages show it: `float_input FP32 [-1, 20]`. */
export function describeSpec(spec: TensorSpec): string {
  return `${spec.name} ${spec.datatype} ${formatShape(spec.shape)}`;
}

function inputEntries(inputs: ModelInputs): [string, Tensor][] {
  return inputs instanceof Map
    ? [...(inputs as ReadonlyMap<string, Tensor>).entries()]
    : Object.entries(inputs as Readonly<Record<string, Tensor>>);
}

/** Why `data` cannot be the storage of a `datatype` tensor, or undefined when it can. */
function storageProblem(tensor: Tensor): string | undefined {
  const { datatype, data } = tensor as { datatype: string; data: unknown };
  if (datatype === 'BYTES') {
    const ok =
      Array.isArray(data) &&
      (data.every((item) => typeof item === 'string') ||
        data.every((item) => item instanceof Uint8Array));
    return ok ? undefined : 'BYTES data must be an array of strings or of Uint8Arrays';
  }
  if (!ArrayBuffer.isView(data) || data instanceof DataView) {
    return `${datatype} data must be a typed array, got ${Array.isArray(data) ? 'an Array' : typeof data}`;
  }
  let stored: string;
  try {
    stored = datatypeOf(data as Tensor['data']);
  } catch {
    stored = data.constructor.name;
  }
  // BOOL is stored in a Uint8Array and FP16 in a Uint16Array (their bit patterns).
  const expected = datatype === 'BOOL' ? 'UINT8' : datatype === 'FP16' ? 'UINT16' : datatype;
  return stored === expected
    ? undefined
    : `${datatype} data must be a ${storageName(datatype)}, got a ${data.constructor.name}`;
}

function storageName(datatype: string): string {
  switch (datatype) {
    case 'BOOL':
    case 'UINT8':
      return 'Uint8Array';
    case 'FP16':
    case 'UINT16':
      return 'Uint16Array';
    case 'UINT32':
      return 'Uint32Array';
    case 'UINT64':
      return 'BigUint64Array';
    case 'INT8':
      return 'Int8Array';
    case 'INT16':
      return 'Int16Array';
    case 'INT32':
      return 'Int32Array';
    case 'INT64':
      return 'BigInt64Array';
    case 'FP32':
      return 'Float32Array';
    default:
      return 'Float64Array';
  }
}

/**
 * A model served from a {@link ReplicaPool} of worker threads: checks requests against the
 * declared inputs, runs them on the pool (or through a {@link DynamicBatcher}), and converts
 * the answers with the runtime's {@link WireCodec}. Every runtime's loaded model is one.
 */
export class PooledModel implements LoadedModel {
  readonly flavor: RuntimeKind;
  readonly #codec: WireCodec;
  readonly #specsByName: ReadonlyMap<string, TensorSpec>;
  readonly #outputSpecs: ReadonlyMap<string, TensorSpec>;
  readonly #batcher: DynamicBatcher | undefined;

  /**
   * @internal Use a runtime's `load`.
   * @throws InvalidParameterError for batching options out of range.
   */
  constructor(
    codec: WireCodec,
    readonly name: string,
    readonly inputs: readonly TensorSpec[],
    readonly outputs: readonly TensorSpec[],
    /** The replicas (exposed for diagnostics and tests). */
    readonly pool: ReplicaPool,
    batching?: DynamicBatchingOptions,
  ) {
    this.flavor = codec.flavor;
    this.#codec = codec;
    this.#specsByName = new Map(inputs.map((spec) => [spec.name, spec]));
    this.#outputSpecs = new Map(outputs.map((spec) => [spec.name, spec]));
    if (batching !== undefined) {
      const reason = unbatchableReason(inputs, outputs);
      this.#batcher = new DynamicBatcher({
        name,
        maxBatchSize: batching.maxBatchSize,
        maxLatencyMs: batching.maxLatencyMs,
        run: (wire, outputNames, transfer) => pool.run(wire, outputNames, transfer),
        disabledReason:
          reason === undefined ? undefined : `Model '${name}' is served unbatched: ${reason}.`,
      });
    }
  }

  #checkInputs(inputs: ModelInputs): WireTensor[] {
    const entries = inputEntries(inputs);
    const wire: WireTensor[] = [];
    // Built only for an error: this runs on every request.
    const context = (): Record<string, unknown> => ({
      model: this.name,
      expected: this.inputs.map(describeSpec),
    });
    for (const [name, tensor] of entries) {
      const spec = this.#specsByName.get(name);
      if (spec === undefined) {
        throw new InvalidParameterError(
          `Model '${this.name}' has no input '${name}'; its inputs are ` +
            `${this.inputs.map(describeSpec).join(', ')}.`,
          { ...context(), input: name },
        );
      }
      if (tensor.datatype !== spec.datatype) {
        throw new InvalidParameterError(
          `Input '${name}' has datatype ${tensor.datatype}, but model '${this.name}' expects ` +
            `${spec.datatype} ${formatShape(spec.shape)}.`,
          { ...context(), input: name, datatype: tensor.datatype, expectedDatatype: spec.datatype },
        );
      }
      if (!isShapeCompatible(tensor.shape, spec.shape)) {
        throw new InvalidParameterError(
          `Input '${name}' has shape ${formatShape(tensor.shape)}, but model '${this.name}' ` +
            `expects ${formatShape(spec.shape)} (${spec.datatype}; -1 is any size).`,
          { ...context(), input: name, shape: tensor.shape, expectedShape: spec.shape },
        );
      }
      const count = elementCount(tensor.shape);
      if (tensor.data.length !== count) {
        throw new InvalidParameterError(
          `Input '${name}' has ${tensor.data.length} elements, but its shape ` +
            `${formatShape(tensor.shape)} needs ${count}.`,
          { ...context(), input: name, elements: tensor.data.length, expectedElements: count },
        );
      }
      wire.push(this.#codec.toWire(name, tensor));
    }
    if (wire.length === this.inputs.length) return wire;
    const given = new Set(wire.map((tensor) => tensor.name));
    const missing = this.inputs.filter((spec) => !given.has(spec.name));
    if (missing.length > 0) {
      throw new InvalidParameterError(
        `Model '${this.name}' needs input${missing.length > 1 ? 's' : ''} ` +
          `${missing.map(describeSpec).join(', ')}, which the request lacks.`,
        { ...context(), missing: missing.map((spec) => spec.name) },
      );
    }
    return wire;
  }

  #checkRequestedOutputs(requested: readonly string[] | undefined): string[] {
    if (requested === undefined) return this.outputs.map((spec) => spec.name);
    for (const name of requested) {
      if (!this.#outputSpecs.has(name)) {
        throw new InvalidParameterError(
          `Model '${this.name}' has no output '${name}'; its outputs are ` +
            `${this.outputs.map(describeSpec).join(', ')}.`,
          { model: this.name, output: name },
        );
      }
    }
    return [...new Set(requested)];
  }

  /** The problem with output `name` as the model returned it, or undefined when it fits. */
  #outputProblem(name: string, tensor: Tensor | undefined): string | undefined {
    const spec = this.#outputSpecs.get(name);
    if (spec === undefined) return undefined;
    if (tensor === undefined) return 'it is missing from the result';
    if (tensor.datatype !== spec.datatype) {
      return `its datatype is ${tensor.datatype}, but ${describeSpec(spec)} is declared`;
    }
    if (!Array.isArray(tensor.shape) || !tensor.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      return `its shape ${JSON.stringify(tensor.shape)} is not a list of sizes`;
    }
    if (!isShapeCompatible(tensor.shape, spec.shape)) {
      return `its shape is ${formatShape(tensor.shape)}, but ${describeSpec(spec)} is declared`;
    }
    const storage = storageProblem(tensor);
    if (storage !== undefined) return storage;
    const count = elementCount(tensor.shape);
    if (tensor.data.length !== count) {
      return `it has ${tensor.data.length} elements, but its shape ${formatShape(tensor.shape)} needs ${count}`;
    }
    return undefined;
  }

  /** {@inheritDoc LoadedModel.infer} */
  async infer(inputs: ModelInputs, options: InferOptions = {}): Promise<Record<string, Tensor>> {
    const wire = this.#checkInputs(inputs);
    const outputNames = this.#checkRequestedOutputs(options.requestedOutputs);
    const transfer = options.transferInputs === true;
    // Validated above, so a request that joins a batch cannot make the batch fail.
    const reply =
      this.#batcher === undefined
        ? await this.pool.run(wire, outputNames, transfer)
        : await this.#batcher.submit(wire, outputNames, transfer);
    if (!reply.ok) {
      // Names, types and dims survive the send (only the data buffers may be detached).
      const received = wire.map((t) => `${t.name} ${t.type} ${formatShape(t.dims)}`).join(', ');
      throw this.#codec.failure(this, reply, received);
    }
    const result: Record<string, Tensor> = {};
    for (const output of reply.outputs) result[output.name] = this.#codec.fromWire(output);
    if (this.#codec.checkOutputs === true) {
      for (const name of outputNames) {
        const problem = this.#outputProblem(name, result[name]);
        if (problem !== undefined) {
          throw new YardError(
            'INTERNAL_ERROR',
            `Model '${this.name}' returned an invalid output '${name}': ${problem}.`,
            { model: this.name, output: name, problem },
          );
        }
      }
    }
    return result;
  }

  /** {@inheritDoc LoadedModel.status} */
  status(): ModelRuntimeStatus {
    const status = this.pool.status();
    return this.#batcher === undefined ? status : { ...status, batching: this.#batcher.status() };
  }

  /** {@inheritDoc LoadedModel.close} */
  close(): Promise<void> {
    this.#batcher?.close();
    return this.pool.close();
  }
}

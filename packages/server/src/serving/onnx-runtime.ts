import { basename, resolve } from 'node:path';
import {
  InvalidParameterError,
  YardError,
  elementCount,
  formatShape,
  isShapeCompatible,
  oipToOnnxType,
  onnxToOipType,
} from '@modelyard/core';
import type { Datatype, Tensor, TensorSpec } from '@modelyard/core';
import { DynamicBatcher, unbatchableReason } from './dynamic-batcher.js';
import type { DynamicBatchingOptions } from './dynamic-batcher.js';
import { planServing, readMlModel, schemaToTensorSpecs } from './mlmodel.js';
import type { SignatureSchema } from './mlmodel.js';
import type {
  InferOptions,
  LoadedModel,
  ModelInputs,
  ModelLoadOptions,
  ModelRuntime,
  ModelRuntimeStatus,
} from './model-runtime.js';
import { siblingModule, startModuleWorker } from './module-worker.js';
import type { OnnxWorkerData } from './onnx-worker.js';
import { ReplicaPool } from './replica-pool.js';
import type { WireTensor, WireValueMetadata } from './worker-protocol.js';

const WORKER_MODULE = siblingModule(import.meta.url, 'onnx-worker');
const UTF8 = new TextDecoder();

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidParameterError(`${name} must be a positive integer, got ${value}.`, {
      [name]: value,
    });
  }
  return value;
}

function describeSpec(spec: TensorSpec): string {
  return `${spec.name} ${spec.datatype} ${formatShape(spec.shape)}`;
}

/**
 * The specs of the model's tensors, from the ONNX graph; where the graph leaves a dimension
 * open (symbolic or absent) and the MLflow signature fixes it, the signature's value is used,
 * so requests are checked against the stricter of the two.
 */
function toSpecs(
  model: string,
  values: readonly WireValueMetadata[],
  schema: SignatureSchema | undefined,
): TensorSpec[] {
  const tensors = values.filter((value) => value.isTensor);
  const signature = schema === undefined ? [] : schemaToTensorSpecs(schema, () => '');
  const byName = new Map(signature.filter((s) => s.name !== '').map((s) => [s.name, s]));
  return tensors.map((value, index) => {
    let datatype: Datatype;
    try {
      datatype = onnxToOipType(value.type ?? '');
    } catch (error) {
      throw new InvalidParameterError(
        `Model '${model}' cannot be served: its tensor '${value.name}' has ONNX type ` +
          `${value.type}, which the Open Inference Protocol cannot carry.`,
        { model, tensor: value.name, onnxType: value.type, cause: (error as Error).message },
      );
    }
    // Unnamed signature tensors (an ndarray logged as is) pair with the graph's by position.
    const declared =
      byName.get(value.name) ??
      (signature.length === tensors.length ? signature[index] : undefined);
    const graphShape = value.shape.map((dim) => (typeof dim === 'number' && dim >= 0 ? dim : -1));
    let shape = graphShape;
    if (graphShape.length === 0 && declared !== undefined) {
      shape = [...declared.shape];
    } else if (declared !== undefined && declared.shape.length === graphShape.length) {
      shape = graphShape.map((dim, i) => (dim === -1 ? (declared.shape[i] ?? -1) : dim));
    }
    return { name: value.name, datatype, shape };
  });
}

function inputEntries(inputs: ModelInputs): [string, Tensor][] {
  return inputs instanceof Map
    ? [...(inputs as ReadonlyMap<string, Tensor>).entries()]
    : Object.entries(inputs as Readonly<Record<string, Tensor>>);
}

function toWire(name: string, tensor: Tensor): WireTensor {
  let data: ArrayBufferView | string[];
  if (tensor.datatype === 'BYTES') {
    // onnxruntime's string tensors hold strings; bytes are read as UTF-8.
    data = tensor.data.map((item: string | Uint8Array) =>
      typeof item === 'string' ? item : UTF8.decode(item),
    );
  } else {
    data = tensor.data;
  }
  return { name, type: oipToOnnxType(tensor.datatype), dims: [...tensor.shape], data };
}

function fromWire(wire: WireTensor): Tensor {
  const datatype = onnxToOipType(wire.type);
  // The worker sends the storage onnxruntime uses for each type, which is the protocol's.
  return { name: wire.name, datatype, shape: wire.dims, data: wire.data } as Tensor;
}

/** A model served by onnxruntime-node in a {@link ReplicaPool} of worker threads. */
export class OnnxModel implements LoadedModel {
  readonly flavor = 'onnx';
  readonly #specsByName: ReadonlyMap<string, TensorSpec>;
  readonly #outputNames: ReadonlySet<string>;
  readonly #batcher: DynamicBatcher | undefined;

  /**
   * @internal Use {@link createOnnxRuntime}().load.
   * @throws InvalidParameterError for batching options out of range.
   */
  constructor(
    readonly name: string,
    readonly inputs: readonly TensorSpec[],
    readonly outputs: readonly TensorSpec[],
    /** The replicas (exposed for diagnostics and tests). */
    readonly pool: ReplicaPool,
    batching?: DynamicBatchingOptions,
  ) {
    this.#specsByName = new Map(inputs.map((spec) => [spec.name, spec]));
    this.#outputNames = new Set(outputs.map((spec) => spec.name));
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
    const given = new Set<string>();
    const wire: WireTensor[] = [];
    const context = { model: this.name, expected: this.inputs.map(describeSpec) };
    for (const [name, tensor] of entries) {
      given.add(name);
      const spec = this.#specsByName.get(name);
      if (spec === undefined) {
        throw new InvalidParameterError(
          `Model '${this.name}' has no input '${name}'; its inputs are ` +
            `${this.inputs.map(describeSpec).join(', ')}.`,
          { ...context, input: name },
        );
      }
      if (tensor.datatype !== spec.datatype) {
        throw new InvalidParameterError(
          `Input '${name}' has datatype ${tensor.datatype}, but model '${this.name}' expects ` +
            `${spec.datatype} ${formatShape(spec.shape)}.`,
          { ...context, input: name, datatype: tensor.datatype, expectedDatatype: spec.datatype },
        );
      }
      if (!isShapeCompatible(tensor.shape, spec.shape)) {
        throw new InvalidParameterError(
          `Input '${name}' has shape ${formatShape(tensor.shape)}, but model '${this.name}' ` +
            `expects ${formatShape(spec.shape)} (${spec.datatype}; -1 is any size).`,
          { ...context, input: name, shape: tensor.shape, expectedShape: spec.shape },
        );
      }
      const count = elementCount(tensor.shape);
      if (tensor.data.length !== count) {
        throw new InvalidParameterError(
          `Input '${name}' has ${tensor.data.length} elements, but its shape ` +
            `${formatShape(tensor.shape)} needs ${count}.`,
          { ...context, input: name, elements: tensor.data.length, expectedElements: count },
        );
      }
      wire.push(toWire(name, tensor));
    }
    const missing = this.inputs.filter((spec) => !given.has(spec.name));
    if (missing.length > 0) {
      throw new InvalidParameterError(
        `Model '${this.name}' needs input${missing.length > 1 ? 's' : ''} ` +
          `${missing.map(describeSpec).join(', ')}, which the request lacks.`,
        { ...context, missing: missing.map((spec) => spec.name) },
      );
    }
    return wire;
  }

  #checkOutputs(requested: readonly string[] | undefined): string[] {
    if (requested === undefined) return this.outputs.map((spec) => spec.name);
    for (const name of requested) {
      if (!this.#outputNames.has(name)) {
        throw new InvalidParameterError(
          `Model '${this.name}' has no output '${name}'; its outputs are ` +
            `${this.outputs.map(describeSpec).join(', ')}.`,
          { model: this.name, output: name },
        );
      }
    }
    return [...new Set(requested)];
  }

  /** {@inheritDoc LoadedModel.infer} */
  async infer(inputs: ModelInputs, options: InferOptions = {}): Promise<Record<string, Tensor>> {
    const wire = this.#checkInputs(inputs);
    const outputNames = this.#checkOutputs(options.requestedOutputs);
    // Shapes are known before the send (which may detach the buffers) for the error message.
    const received = wire.map((t) => `${t.name} ${t.type} ${formatShape(t.dims)}`).join(', ');
    const transfer = options.transferInputs === true;
    // Validated above, so a request that joins a batch cannot make the batch fail.
    const reply =
      this.#batcher === undefined
        ? await this.pool.run(wire, outputNames, transfer)
        : await this.#batcher.submit(wire, outputNames, transfer);
    if (!reply.ok) {
      // What passes the checks above and still fails is a dimension or value the graph
      // constrains more than its declared inputs say (e.g. a fixed dimension inside); report
      // it as the request's fault only when onnxruntime says so.
      const inputFault = /input|dimension|shape|rank|type/i.test(reply.message);
      const message =
        `Model '${this.name}' could not run the request: ${reply.message} ` +
        `(received ${received}; expected ${this.inputs.map(describeSpec).join(', ')})`;
      const context = { model: this.name, runtimeMessage: reply.message };
      throw inputFault
        ? new InvalidParameterError(message, context)
        : new YardError('INTERNAL_ERROR', message, context);
    }
    const result: Record<string, Tensor> = {};
    for (const output of reply.outputs) result[output.name] = fromWire(output);
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

/** The onnx adapter of the {@link ModelRuntime} port; its models are {@link OnnxModel}s. */
export interface OnnxRuntime extends ModelRuntime {
  /** {@inheritDoc ModelRuntime.load} */
  load(modelDir: string, options?: ModelLoadOptions): Promise<OnnxModel>;
}

/**
 * The onnx adapter of the {@link ModelRuntime} port: onnxruntime-node on the CPU, one worker
 * thread per replica, each with its own InferenceSession.
 *
 * The MLmodel's `onnx` flavor must name the model file (`data:`); the runtime is chosen by
 * {@link planServing}, so a model with only other flavors is refused with the flavors found.
 */
export function createOnnxRuntime(): OnnxRuntime {
  return {
    flavor: 'onnx',
    async load(modelDir: string, options: ModelLoadOptions = {}): Promise<OnnxModel> {
      const dir = resolve(modelDir);
      const name = options.name ?? basename(dir);
      const replicas = positiveInteger('replicas', options.replicas, 1);
      const maxConcurrency = positiveInteger('maxConcurrency', options.maxConcurrency, 4);
      const maxQueue = positiveInteger('maxQueue', options.maxQueue, 1024);
      const intraOpNumThreads = positiveInteger('intraOpNumThreads', options.intraOpNumThreads, 1);
      const mlmodel = await readMlModel(dir);
      const plan = planServing(mlmodel, dir);
      const workerData: OnnxWorkerData = {
        modelFile: plan.modelFile,
        sessionOptions: {
          intraOpNumThreads,
          graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
        },
      };
      const { pool, ready } = await ReplicaPool.start({
        name,
        replicas,
        maxConcurrency,
        maxQueue,
        startWorker: () => startModuleWorker(WORKER_MODULE, { workerData, name: `onnx:${name}` }),
      });
      try {
        const inputs = toSpecs(name, ready.inputs, mlmodel.signature?.inputs);
        const outputs = toSpecs(name, ready.outputs, mlmodel.signature?.outputs);
        return new OnnxModel(name, inputs, outputs, pool, options.batching);
      } catch (error) {
        await pool.close();
        throw error;
      }
    },
  };
}

import { InvalidParameterError, YardError, oipToOnnxType, onnxToOipType } from '@modelyard/core';
import type { Datatype, Tensor, TensorSpec } from '@modelyard/core';
import type { DynamicBatchingOptions } from './dynamic-batcher.js';
import { schemaToTensorSpecs } from './mlmodel.js';
import type { SignatureSchema } from './mlmodel.js';
import type { ModelLoadOptions, ModelRuntime } from './model-runtime.js';
import { siblingModule, startModuleWorker } from '@modelyard/core/module-worker';
import type { OnnxWorkerData } from './onnx-worker.js';
import { PooledModel, describeSpec, planLoad, positiveInteger } from './pooled-model.js';
import type { WireCodec } from './pooled-model.js';
import { ReplicaPool } from './replica-pool.js';
import type { WireTensor, WireValueMetadata } from './worker-protocol.js';

const WORKER_MODULE = siblingModule(import.meta.url, 'onnx-worker');
const UTF8 = new TextDecoder();

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

const ONNX_CODEC: WireCodec = {
  flavor: 'onnx',
  toWire,
  fromWire,
  failure(model, reply, received) {
    // What passes the input checks and still fails is a dimension or value the graph
    // constrains more than its declared inputs say (e.g. a fixed dimension inside); report it
    // as the request's fault only when onnxruntime says so.
    const inputFault = /input|dimension|shape|rank|type/i.test(reply.message);
    const message =
      `Model '${model.name}' could not run the request: ${reply.message} ` +
      `(received ${received}; expected ${model.inputs.map(describeSpec).join(', ')})`;
    const context = { model: model.name, runtimeMessage: reply.message };
    return inputFault
      ? new InvalidParameterError(message, context)
      : new YardError('INTERNAL_ERROR', message, context);
  },
};

/** A model served by onnxruntime-node in a {@link ReplicaPool} of worker threads. */
export class OnnxModel extends PooledModel {
  declare readonly flavor: 'onnx';

  /**
   * @internal Use {@link createOnnxRuntime}().load.
   * @throws InvalidParameterError for batching options out of range.
   */
  constructor(
    name: string,
    inputs: readonly TensorSpec[],
    outputs: readonly TensorSpec[],
    pool: ReplicaPool,
    batching?: DynamicBatchingOptions,
  ) {
    super(ONNX_CODEC, name, inputs, outputs, pool, batching);
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
      const { name, replicas, maxConcurrency, maxQueue, mlmodel, plan } = await planLoad(
        modelDir,
        options,
        'onnx',
      );
      const intraOpNumThreads = positiveInteger('intraOpNumThreads', options.intraOpNumThreads, 1);
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

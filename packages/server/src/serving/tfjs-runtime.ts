import { InvalidParameterError, YardError } from '@modelyard/core';
import type { Datatype, Tensor, TensorSpec } from '@modelyard/core';
import { schemaToTensorSpecs } from './mlmodel.js';
import type { SignatureSchema } from './mlmodel.js';
import type { ModelLoadOptions, ModelRuntime } from './model-runtime.js';
import { siblingModule, startModuleWorker } from '@modelyard/core/module-worker';
import { PooledModel, describeSpec, planLoad } from './pooled-model.js';
import type { WireCodec } from './pooled-model.js';
import { ReplicaPool } from './replica-pool.js';
import type { TfjsWorkerData } from './tfjs-worker.js';
import type { WireTensor, WireValueMetadata } from './worker-protocol.js';

const WORKER_MODULE = siblingModule(import.meta.url, 'tfjs-worker');

/** TF.js dtypes and the protocol datatypes they are served as (TF.js has no others to run). */
const TFJS_TO_OIP: Readonly<Record<string, Datatype>> = {
  float32: 'FP32',
  int32: 'INT32',
  bool: 'BOOL',
  string: 'BYTES',
};

const OIP_TO_TFJS: Readonly<Partial<Record<Datatype, string>>> = {
  FP32: 'float32',
  INT32: 'int32',
  BOOL: 'bool',
  BYTES: 'string',
};

const TFJS_CODEC: WireCodec = {
  flavor: 'tfjs',
  toWire(name: string, tensor: Tensor): WireTensor {
    // Inputs were checked against specs whose datatypes all have a TF.js dtype.
    const type = OIP_TO_TFJS[tensor.datatype] ?? tensor.datatype;
    return { name, type, dims: [...tensor.shape], data: tensor.data };
  },
  fromWire(wire: WireTensor): Tensor {
    const datatype = TFJS_TO_OIP[wire.type];
    if (datatype === undefined) {
      throw new YardError('INTERNAL_ERROR', `TensorFlow.js returned a ${wire.type} tensor.`, {
        output: wire.name,
        dtype: wire.type,
      });
    }
    // TF.js stores float32 in Float32Array, int32 in Int32Array, bool in Uint8Array (0/1) and
    // strings as bytes per element: the protocol's storage for each.
    return { name: wire.name, datatype, shape: wire.dims, data: wire.data } as Tensor;
  },
  failure(model, reply, received) {
    const inputFault = /input|dimension|shape|rank|dtype|broadcast/i.test(reply.message);
    const message =
      `Model '${model.name}' could not run the request: ${reply.message} ` +
      `(received ${received}; expected ${model.inputs.map(describeSpec).join(', ')})`;
    const context = { model: model.name, runtimeMessage: reply.message };
    return inputFault
      ? new InvalidParameterError(message, context)
      : new YardError('INTERNAL_ERROR', message, context);
  },
};

/**
 * The graph's tensors as specs. The MLflow signature, when the MLmodel has one, fills in what
 * the graph leaves open (a dtype, a dimension), matched by name or else by position.
 *
 * @throws InvalidParameterError for a tensor whose dtype the protocol cannot carry or that
 *   neither the graph nor the signature gives.
 */
function toSpecs(
  model: string,
  values: readonly WireValueMetadata[],
  schema: SignatureSchema | undefined,
): TensorSpec[] {
  const signature = schema === undefined ? [] : schemaToTensorSpecs(schema, () => '');
  const byName = new Map(signature.filter((s) => s.name !== '').map((s) => [s.name, s]));
  return values.map((value, index) => {
    const declared =
      byName.get(value.name) ?? (signature.length === values.length ? signature[index] : undefined);
    const datatype =
      value.type === undefined ? declared?.datatype : (TFJS_TO_OIP[value.type] ?? undefined);
    if (datatype === undefined) {
      throw new InvalidParameterError(
        value.type === undefined
          ? `Model '${model}' cannot be served: the graph does not say the dtype of its tensor ` +
              `'${value.name}'; declare it in the MLmodel signature.`
          : `Model '${model}' cannot be served: its tensor '${value.name}' is ${value.type}, ` +
              'which the Open Inference Protocol cannot carry.',
        { model, tensor: value.name, dtype: value.type },
      );
    }
    const graphShape = value.shape.map((dim) => (typeof dim === 'number' ? dim : -1));
    let shape = graphShape;
    if (graphShape.length === 0 && declared !== undefined) {
      shape = [...declared.shape];
    } else if (declared !== undefined && declared.shape.length === graphShape.length) {
      shape = graphShape.map((dim, i) => (dim === -1 ? (declared.shape[i] ?? -1) : dim));
    }
    return { name: value.name, datatype, shape };
  });
}

/** The tfjs adapter of the {@link ModelRuntime} port; its models are {@link PooledModel}s. */
export interface TfjsRuntime extends ModelRuntime {
  /** {@inheritDoc ModelRuntime.load} */
  load(modelDir: string, options?: ModelLoadOptions): Promise<PooledModel>;
}

/**
 * The tfjs adapter of the {@link ModelRuntime} port: TensorFlow.js graph models (the
 * `tensorflowjs_converter --output_format=tfjs_graph_model` output: `model.json` plus its
 * weight shards) on TensorFlow.js's wasm backend, one worker thread per replica. The MLmodel's
 * `modelyard_tfjs` flavor names the `model.json` inside the model directory
 * (`model: model.json`); weight files must lie inside the directory too. Nothing is fetched
 * over the network: the files are read from disk and the wasm binaries come from the
 * installed `@tensorflow/tfjs-backend-wasm`.
 *
 * Inputs and outputs carry the graph's tensor names (as TF.js reports them, e.g. `input`,
 * `Identity`); TF.js dtypes map to FP32 (`float32`), INT32 (`int32`), BOOL (`bool`) and BYTES
 * (`string`). Layers models are refused with a hint to convert them.
 *
 * @example
 * const model = await createTfjsRuntime().load('/models/movenet/1', { replicas: 2 });
 * const { Identity } = await model.infer({ input: image }); // INT32 [1, 192, 192, 3]
 */
export function createTfjsRuntime(): TfjsRuntime {
  return {
    flavor: 'tfjs',
    async load(modelDir: string, options: ModelLoadOptions = {}): Promise<PooledModel> {
      const { dir, name, replicas, maxConcurrency, maxQueue, mlmodel, plan } = await planLoad(
        modelDir,
        options,
        'tfjs',
      );
      const workerData: TfjsWorkerData = { modelFile: plan.modelFile, modelDir: dir };
      const { pool, ready } = await ReplicaPool.start({
        name,
        replicas,
        maxConcurrency,
        maxQueue,
        startWorker: () => startModuleWorker(WORKER_MODULE, { workerData, name: `tfjs:${name}` }),
      });
      try {
        const inputs = toSpecs(name, ready.inputs, mlmodel.signature?.inputs);
        const outputs = toSpecs(name, ready.outputs, mlmodel.signature?.outputs);
        return new PooledModel(TFJS_CODEC, name, inputs, outputs, pool, options.batching);
      } catch (error) {
        await pool.close();
        throw error;
      }
    },
  };
}

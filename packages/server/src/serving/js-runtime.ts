import { InvalidParameterError, YardError, isDatatype } from '@modelyard/core';
import type { Tensor, TensorSpec } from '@modelyard/core';
import type { JsWorkerData } from './js-worker.js';
import { schemaToTensorSpecs } from './mlmodel.js';
import type { ModelLoadOptions, ModelRuntime } from './model-runtime.js';
import { siblingModule, startModuleWorker } from '@modelyard/core/module-worker';
import { PooledModel, planLoad } from './pooled-model.js';
import type { WireCodec } from './pooled-model.js';
import { ReplicaPool } from './replica-pool.js';
import type { WireTensor, WireValueMetadata } from './worker-protocol.js';

const WORKER_MODULE = siblingModule(import.meta.url, 'js-worker');

/**
 * What a js model's `predict` receives besides its inputs.
 *
 * @example
 * export function predict(inputs, context) {
 *   if (context.outputs.includes('scores')) ...
 * }
 */
export interface PredictContext {
  /** The model's name as loaded (e.g. `rules/3`). */
  model: string;
  /** The model directory, for files the module reads beside it. */
  modelDir: string;
  /** The outputs the request asks for; returning others is allowed (they are dropped). */
  outputs: readonly string[];
}

/**
 * The shape of a js model's module (`module: model.mjs` under the `modelyard_js` flavor).
 * `predict` may be synchronous or return a promise; `signature` declares the tensors and is
 * required unless the MLmodel has an MLflow signature.
 */
export interface JsModelModule {
  predict(
    inputs: Record<string, Tensor>,
    context: PredictContext,
  ): Record<string, Tensor> | Promise<Record<string, Tensor>>;
  signature?: { inputs: TensorSpec[]; outputs: TensorSpec[] };
}

const JS_CODEC: WireCodec = {
  flavor: 'js',
  toWire: (name: string, tensor: Tensor): WireTensor => ({
    name,
    type: tensor.datatype,
    dims: [...tensor.shape],
    data: tensor.data,
  }),
  // Checked against the declared outputs by the model (checkOutputs) right after.
  fromWire: (wire: WireTensor): Tensor =>
    ({ name: wire.name, datatype: wire.type, shape: wire.dims, data: wire.data }) as Tensor,
  failure(model, reply) {
    const message = `Model '${model.name}' could not run the request: ${reply.message}`;
    const context = { model: model.name, runtimeMessage: reply.message };
    return reply.fault === 'input'
      ? new InvalidParameterError(message, context)
      : new YardError('INTERNAL_ERROR', message, context);
  },
  checkOutputs: true,
};

/**
 * The module's declared tensors as specs.
 * @throws InvalidParameterError naming the first malformed spec.
 */
function toSpecs(model: string, kind: string, values: readonly WireValueMetadata[]): TensorSpec[] {
  const seen = new Set<string>();
  return values.map((value, index) => {
    const { name, type, shape } = value;
    const problem =
      name === ''
        ? 'has no name'
        : seen.has(name)
          ? `repeats the name '${name}'`
          : !isDatatype(type)
            ? `has datatype ${JSON.stringify(type)}, which is not a protocol datatype (FP32, ` +
              'INT64, BYTES, …)'
            : !shape.every((dim) => typeof dim === 'number' && Number.isInteger(dim) && dim >= -1)
              ? `has shape ${JSON.stringify(shape)}; dimensions are sizes or -1 (any)`
              : undefined;
    seen.add(name);
    if (problem !== undefined || !isDatatype(type)) {
      throw new InvalidParameterError(
        `Model '${model}' cannot be served: its signature's ${kind}[${index}] ${problem ?? ''}.`,
        { model, kind, index },
      );
    }
    return { name, datatype: type, shape: shape as number[] };
  });
}

/** The js adapter of the {@link ModelRuntime} port; its models are {@link PooledModel}s. */
export interface JsRuntime extends ModelRuntime {
  /** {@inheritDoc ModelRuntime.load} */
  load(modelDir: string, options?: ModelLoadOptions): Promise<PooledModel>;
}

/**
 * The js adapter of the {@link ModelRuntime} port: a model that is JavaScript code. The
 * MLmodel's `modelyard_js` flavor names an ES module inside the model directory
 * (`module: model.mjs`) that exports `predict(inputs, context)` (see {@link JsModelModule}),
 * synchronous or async, and optionally `signature` (`{ inputs, outputs }`, lists of
 * `{ name, datatype, shape }`); without it, the MLmodel's MLflow signature is used. Each
 * replica is a worker thread that imports the module once; requests and answers cross as
 * protocol tensors (`{ name, datatype, shape, data }`, the storage of `@modelyard/core`'s
 * `Tensor`).
 *
 * Every returned output is checked against the declared outputs (datatype, shape, typed-array
 * storage, element count); a mismatch fails the request with `INTERNAL_ERROR` naming the
 * output. An exception in `predict` fails that request with `INTERNAL_ERROR` and the
 * exception's message, and the replica goes on serving; an exception whose `code` is
 * `INVALID_PARAMETER_VALUE` (or whose `name` is `InvalidParameterError`) is the request's
 * fault and answers 400 instead.
 *
 * The module runs with the server's privileges: deploy only code you trust.
 *
 * @example
 * // model.mjs
 * export const signature = {
 *   inputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }],
 *   outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }],
 * };
 * export function predict({ x }) {
 *   return { y: { name: 'y', datatype: 'FP32', shape: x.shape, data: x.data.map((v) => 2 * v) } };
 * }
 */
export function createJsRuntime(): JsRuntime {
  return {
    flavor: 'js',
    async load(modelDir: string, options: ModelLoadOptions = {}): Promise<PooledModel> {
      const { dir, name, replicas, maxConcurrency, maxQueue, mlmodel, plan } = await planLoad(
        modelDir,
        options,
        'js',
      );
      const { inputs: signatureInputs, outputs: signatureOutputs } = mlmodel.signature ?? {};
      const workerData: JsWorkerData = {
        moduleFile: plan.modelFile,
        model: name,
        modelDir: dir,
        fallbackSignature:
          signatureInputs === undefined || signatureOutputs === undefined
            ? undefined
            : {
                inputs: schemaToTensorSpecs(signatureInputs),
                outputs: schemaToTensorSpecs(signatureOutputs, (index) => `output-${index}`),
              },
      };
      const { pool, ready } = await ReplicaPool.start({
        name,
        replicas,
        maxConcurrency,
        maxQueue,
        startWorker: () => startModuleWorker(WORKER_MODULE, { workerData, name: `js:${name}` }),
      });
      try {
        const inputs = toSpecs(name, 'inputs', ready.inputs);
        const outputs = toSpecs(name, 'outputs', ready.outputs);
        return new PooledModel(JS_CODEC, name, inputs, outputs, pool, options.batching);
      } catch (error) {
        await pool.close();
        throw error;
      }
    },
  };
}

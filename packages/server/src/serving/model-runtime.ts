import type { Tensor, TensorSpec } from '@modelyard/core';
import type { BatchingStatus, DynamicBatchingOptions } from './dynamic-batcher.js';

/**
 * The kinds of model Modelyard executes, one {@link ModelRuntime} adapter each: `onnx` runs on
 * onnxruntime-node, `tfjs` runs TensorFlow.js graph models on TensorFlow.js's wasm backend, and
 * `js` runs an ES module exporting `predict`. Each runs in worker threads.
 */
export type RuntimeKind = 'onnx' | 'tfjs' | 'js';

/** How much onnxruntime optimises the graph when it loads a model. */
export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

/** Options of {@link ModelRuntime.load}. Every field has a default suited to small models. */
export interface ModelLoadOptions {
  /** Name for messages and logs, e.g. `iris/3`; default: the model directory's base name. */
  name?: string;
  /** Worker threads that each hold a copy of the model; default 1. */
  replicas?: number;
  /** Requests one replica runs at the same time; default 4. More wait in the queue. */
  maxConcurrency?: number;
  /**
   * Requests that may wait for a free replica; default 1024. Beyond it `infer` fails at once
   * with `RESOURCE_EXHAUSTED` (429) instead of queueing without bound.
   */
  maxQueue?: number;
  /**
   * Threads one replica's runtime uses inside one inference; default 1 (replicas scale out).
   * Only the onnx runtime reads it.
   */
  intraOpNumThreads?: number;
  /** Graph optimisation at load time; default `all`. Only the onnx runtime reads it. */
  graphOptimizationLevel?: GraphOptimizationLevel;
  /**
   * Dynamic batching: concurrent requests are stacked along the first dimension and run
   * together (see `DynamicBatcher`); default off. A model with an input or output whose first
   * dimension is not variable (`-1`) is served unbatched, and its status says why.
   */
  batching?: DynamicBatchingOptions | undefined;
}

/** Options of one {@link LoadedModel.infer} call. */
export interface InferOptions {
  /** The outputs to compute and return; default every output the model declares. */
  requestedOutputs?: readonly string[];
  /**
   * Move the inputs' buffers to the worker instead of copying them. The caller's typed arrays
   * are detached afterwards (length 0), so set it only for tensors nothing else reads, e.g.
   * ones just decoded from a request body. Tensors that are views on part of a larger buffer
   * are copied regardless.
   */
  transferInputs?: boolean;
}

/** The inputs of one inference: tensors by input name, as a Map or a plain object. */
export type ModelInputs = ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>;

/** Counters of a loaded model's replicas, for status pages and metrics. */
export interface ModelRuntimeStatus {
  /** Replicas configured. */
  replicas: number;
  /** Replicas loaded and accepting requests now (fewer while a crashed one restarts). */
  readyReplicas: number;
  /** Requests running on a replica now. */
  inFlight: number;
  /** Requests waiting for a free replica. */
  queued: number;
  /** Replicas replaced after their worker stopped unexpectedly, since the load. */
  restarts: number;
  /** Dynamic batching counters, when batching was asked for at load time. */
  batching?: BatchingStatus;
}

/**
 * A model loaded by a {@link ModelRuntime} and ready to answer inferences.
 *
 * Inference runs off the caller's event loop (in worker threads for the onnx runtime), so a
 * server stays responsive while models compute.
 */
export interface LoadedModel {
  /** The name given at load time (used in messages). */
  readonly name: string;
  /** The runtime that executes it. */
  readonly flavor: RuntimeKind;
  /** The inputs the model takes; a dimension of `-1` accepts any size. */
  readonly inputs: readonly TensorSpec[];
  /** The outputs the model can return. */
  readonly outputs: readonly TensorSpec[];

  /**
   * Runs one inference.
   *
   * @param inputs one tensor per model input, keyed by input name.
   * @returns the requested outputs (default: all), keyed by output name.
   * @throws InvalidParameterError (400) when an input is missing, unknown, or of the wrong
   *   datatype or shape, or a requested output does not exist; the message names the input and
   *   what the model expects.
   * @throws YardError `RESOURCE_EXHAUSTED` (429) when the queue is full.
   * @throws YardError `INTERNAL_ERROR` (500) when the runtime fails or its worker stops while
   *   running the request (the worker is replaced; later requests are served).
   * @throws YardError `TEMPORARILY_UNAVAILABLE` (503) after {@link LoadedModel.close}, or when
   *   every replica has failed to restart.
   */
  infer(inputs: ModelInputs, options?: InferOptions): Promise<Record<string, Tensor>>;

  /** Current replica, queue and restart counters. */
  status(): ModelRuntimeStatus;

  /** Stops the replicas; requests still queued or running fail with `TEMPORARILY_UNAVAILABLE`. */
  close(): Promise<void>;
}

/**
 * The port through which serving loads and runs models: one adapter per {@link RuntimeKind}
 * (`createOnnxRuntime`, `createTfjsRuntime`, `createJsRuntime`). Serving code depends on this interface only, never on
 * onnxruntime or TensorFlow.js directly; `mlmodel.ts` picks the adapter from the model's
 * MLflow `MLmodel` file.
 *
 * @example
 * const runtime = createOnnxRuntime();
 * const model = await runtime.load('/models/iris/3', { replicas: 2 });
 * const { probabilities } = await model.infer({ float_input: tensor });
 * await model.close();
 */
export interface ModelRuntime {
  /** The kind of model this adapter runs. */
  readonly flavor: RuntimeKind;

  /**
   * Loads the MLflow model directory `modelDir` (it holds an `MLmodel` file naming a flavor
   * this runtime serves) and starts its replicas.
   *
   * @throws InvalidParameterError when the directory is not a model this runtime can load: no
   *   or malformed `MLmodel`, no supported flavor, or a model file the runtime refuses.
   */
  load(modelDir: string, options?: ModelLoadOptions): Promise<LoadedModel>;
}

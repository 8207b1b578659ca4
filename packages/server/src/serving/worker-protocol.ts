/**
 * Messages between a model runtime and its worker threads. Every runtime's worker speaks this
 * protocol, so one replica pool serves them all.
 *
 * Worker -> pool, once at start: `ready` with the model's metadata, or `load-failed`.
 * Pool -> worker: `infer` with an id. Worker -> pool: `result` or `failed` with that id.
 */

/** A tensor as it crosses the thread boundary (the runtime's own type names and storage). */
export interface WireTensor {
  name: string;
  /**
   * The runtime's type name (onnxruntime and tfjs: `float32`, `int32`, `string`, …; the js
   * runtime: the protocol's datatypes, `FP32`, `BYTES`, …).
   */
  type: string;
  dims: number[];
  /** Each type's storage; strings or bytes per element for string tensors. */
  data: ArrayBufferView | string[] | Uint8Array[];
}

/** What a worker reports about one model input or output. */
export interface WireValueMetadata {
  name: string;
  /** False for non-tensor values (sequences, maps), which the protocol cannot carry. */
  isTensor: boolean;
  /** The runtime's type name, for tensors. */
  type?: string;
  /** Dimensions: numbers, or strings for symbolic ones; empty when the model leaves it open. */
  shape: (number | string)[];
}

/** The worker loaded its model. */
export interface ReadyMessage<M = WireValueMetadata> {
  type: 'ready';
  inputs: M[];
  outputs: M[];
}

/** The worker could not load its model. */
export interface LoadFailedMessage {
  type: 'load-failed';
  message: string;
}

/** One inference for the worker to run. */
export interface InferMessage {
  type: 'infer';
  id: number;
  inputs: WireTensor[];
  /** Output names to fetch. */
  outputs: string[];
}

/** The outputs of inference `id`. */
export interface ResultMessage {
  type: 'result';
  id: number;
  outputs: WireTensor[];
}

/** Inference `id` failed in the runtime with `message`. */
export interface FailedMessage {
  type: 'failed';
  id: number;
  message: string;
  /**
   * `input` when the worker knows the request itself was at fault (a 400, not a 500); absent
   * when it cannot tell, and the runtime decides from the message.
   */
  fault?: 'input';
}

/** Anything a worker posts. */
export type WorkerReply = ReadyMessage | LoadFailedMessage | ResultMessage | FailedMessage;

/** The buffers of `tensors` that can move (not copy) across threads: each view's whole buffer. */
export function transferableBuffers(tensors: readonly WireTensor[]): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const { data } of tensors) {
    if (Array.isArray(data)) continue;
    const { buffer } = data;
    // A view on part of a buffer (a Buffer from Node's pool, a subarray) would detach data
    // that is not ours; SharedArrayBuffers are shared, never transferred.
    if (
      buffer instanceof ArrayBuffer &&
      data.byteOffset === 0 &&
      data.byteLength === buffer.byteLength
    ) {
      buffers.add(buffer);
    }
  }
  return [...buffers];
}

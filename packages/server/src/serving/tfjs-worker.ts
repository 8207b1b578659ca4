/**
 * Worker thread of the tfjs runtime: loads one TensorFlow.js graph model from the model
 * directory on TensorFlow.js's wasm backend and runs the inferences the replica pool sends it
 * (see worker-protocol.ts). Tensors cross in TensorFlow.js's own dtype names (`float32`,
 * `int32`, `bool`, `string`). Nothing is fetched: the model's files are read from disk and the
 * wasm binaries come from the installed `@tensorflow/tfjs-backend-wasm` package.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type {
  InferMessage,
  WireTensor,
  WireValueMetadata,
  WorkerReply,
} from './worker-protocol.js';
import { transferableBuffers } from './worker-protocol.js';

/** What the tfjs runtime passes as `workerData`. */
export interface TfjsWorkerData {
  /** Absolute path of the graph model's `model.json`. */
  modelFile: string;
  /** The model directory; weight files must lie inside it. */
  modelDir: string;
}

/** The parts of a TF.js `model.json` this worker reads. */
interface ModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  modelTopology?: { node?: { name: string; attr?: Record<string, { type?: string }> }[] };
  weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  signature?: { inputs?: Record<string, SignatureEntry>; outputs?: Record<string, SignatureEntry> };
  userDefinedMetadata?: tf.io.ModelArtifacts['userDefinedMetadata'];
}

interface SignatureEntry {
  name?: string;
  dtype?: string;
  tensorShape?: { dim?: { size?: string | number }[]; unknownRank?: boolean };
}

/** TensorFlow DataType enum names -> TF.js dtypes (the ones TF.js runs). */
const TF_DTYPES: Readonly<Record<string, string>> = {
  DT_FLOAT: 'float32',
  DT_HALF: 'float32',
  DT_DOUBLE: 'float32',
  DT_INT32: 'int32',
  DT_INT64: 'int32',
  DT_INT16: 'int32',
  DT_INT8: 'int32',
  DT_UINT8: 'int32',
  DT_BOOL: 'bool',
  DT_STRING: 'string',
};

class LoadError extends Error {}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** An io handler that reads `model.json` and its weight files from disk. */
function fileHandler(data: TfjsWorkerData, json: ModelJson): tf.io.IOHandler {
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      const base = dirname(data.modelFile);
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: Buffer[] = [];
      for (const group of json.weightsManifest ?? []) {
        specs.push(...group.weights);
        for (const path of group.paths) {
          const file = join(base, path);
          if (!inside(data.modelDir, file)) {
            throw new LoadError(`its weight file '${path}' lies outside the model directory.`);
          }
          try {
            buffers.push(await readFile(file));
          } catch (error) {
            throw new LoadError(`its weight file '${path}' cannot be read: ${String(error)}`);
          }
        }
      }
      const all = Buffer.concat(buffers);
      const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
      return {
        modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
        weightSpecs: specs,
        weightData,
        ...(json.format !== undefined && { format: json.format }),
        ...(json.generatedBy !== undefined && { generatedBy: json.generatedBy }),
        ...(json.convertedBy !== undefined && { convertedBy: json.convertedBy }),
        ...(json.signature !== undefined && { signature: json.signature }),
        ...(json.userDefinedMetadata !== undefined && {
          userDefinedMetadata: json.userDefinedMetadata,
        }),
      };
    },
  };
}

function stripIndex(name: string): string {
  return name.replace(/:0$/, '');
}

/**
 * The model's inputs or outputs, each with its dtype and shape: from the graph where it says,
 * else from the `model.json` signature, else (dtype only) from the graph node's attributes.
 */
function describe(
  infos: readonly tf.ModelTensorInfo[],
  signature: Record<string, SignatureEntry> | undefined,
  json: ModelJson,
): WireValueMetadata[] {
  const byName = new Map<string, SignatureEntry>();
  for (const [key, entry] of Object.entries(signature ?? {})) {
    byName.set(stripIndex(key), entry);
    if (entry.name !== undefined) byName.set(stripIndex(entry.name), entry);
  }
  const nodes = new Map((json.modelTopology?.node ?? []).map((node) => [node.name, node]));
  return infos.map((info) => {
    const entry = byName.get(stripIndex(info.name));
    // Typed as always present, but TF.js leaves it out for outputs the graph does not type.
    let type = (info as { dtype?: string }).dtype;
    if (type === undefined && entry?.dtype !== undefined) type = TF_DTYPES[entry.dtype];
    if (type === undefined) {
      const attr = nodes.get(stripIndex(info.name))?.attr;
      const tfType = attr?.['T']?.type ?? attr?.['dtype']?.type;
      if (tfType !== undefined) type = TF_DTYPES[tfType];
    }
    let shape: number[] = [];
    if (info.shape !== undefined) {
      shape = info.shape.map((dim) => (typeof dim === 'number' && dim >= 0 ? dim : -1));
    } else if (entry?.tensorShape?.dim !== undefined && entry.tensorShape.unknownRank !== true) {
      shape = entry.tensorShape.dim.map((dim) => {
        const size = Number(dim.size ?? -1);
        return Number.isInteger(size) && size >= 0 ? size : -1;
      });
    }
    return { name: info.name, isTensor: true, ...(type !== undefined && { type }), shape };
  });
}

function toTf(tensor: WireTensor): tf.Tensor {
  return tf.tensor(tensor.data as tf.TensorLike, tensor.dims, tensor.type as tf.DataType);
}

async function fromTf(name: string, tensor: tf.Tensor): Promise<WireTensor> {
  if (tensor.dtype === 'complex64') {
    throw new Error(
      `output '${name}' is complex64, which the Open Inference Protocol cannot carry`,
    );
  }
  const data =
    tensor.dtype === 'string'
      ? ((await tensor.bytes()) as Uint8Array[])
      : await tensor.data<'float32' | 'int32' | 'bool'>();
  return { name, type: tensor.dtype, dims: [...tensor.shape], data };
}

async function load(data: TfjsWorkerData): Promise<{ model: GraphModel; json: ModelJson }> {
  // One thread per replica (replicas scale out); no pthread workers of the wasm module.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  const require = createRequire(import.meta.url);
  const wasmDir = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '/');
  setWasmPaths(wasmDir);
  if (!(await tf.setBackend('wasm'))) {
    throw new LoadError(`TensorFlow.js could not start its wasm backend from ${wasmDir}.`);
  }
  let json: ModelJson;
  try {
    json = JSON.parse(await readFile(data.modelFile, 'utf8')) as ModelJson;
  } catch (error) {
    throw new LoadError(`its model file cannot be read as JSON: ${String(error)}`);
  }
  if (json.format === 'layers-model' || json.modelTopology?.node === undefined) {
    throw new LoadError(
      `${data.modelFile} is not a TensorFlow.js graph model (format ` +
        `${JSON.stringify(json.format ?? null)}); convert it with ` +
        'tensorflowjs_converter --output_format=tfjs_graph_model.',
    );
  }
  const model = await loadGraphModel(fileHandler(data, json));
  return { model, json };
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('tfjs-worker must run in a worker thread');
  const post = (message: WorkerReply, transfer: ArrayBuffer[] = []): void => {
    port.postMessage(message, transfer);
  };
  const data = workerData as TfjsWorkerData;
  let model: GraphModel;
  let json: ModelJson;
  try {
    ({ model, json } = await load(data));
  } catch (error) {
    post({ type: 'load-failed', message: (error as Error).message });
    return;
  }
  // `execute` runs graphs without control flow synchronously; a graph that has some needs
  // `executeAsync`, which TF.js says by throwing. Learned once, on the first such request.
  let needsAsync = false;
  const run = async (message: InferMessage): Promise<void> => {
    const feeds: Record<string, tf.Tensor> = {};
    let results: tf.Tensor[] = [];
    try {
      for (const input of message.inputs) feeds[input.name] = toTf(input);
      if (!needsAsync) {
        try {
          const out = model.execute(feeds, message.outputs);
          results = Array.isArray(out) ? out : [out];
        } catch (error) {
          if (!/executeAsync/.test((error as Error).message)) throw error;
          needsAsync = true;
        }
      }
      if (needsAsync) {
        const out = await model.executeAsync(feeds, message.outputs);
        results = Array.isArray(out) ? out : [out];
      }
      const outputs = await Promise.all(
        message.outputs.map((name, i) => {
          const tensor = results[i];
          if (tensor === undefined) throw new Error(`TensorFlow.js returned no output '${name}'`);
          return fromTf(name, tensor);
        }),
      );
      post({ type: 'result', id: message.id, outputs }, transferableBuffers(outputs));
    } catch (error) {
      post({ type: 'failed', id: message.id, message: (error as Error).message });
    } finally {
      tf.dispose(Object.values(feeds));
      tf.dispose(results);
    }
  };
  // One inference at a time: the wasm backend computes on this thread anyway, and a graph
  // model's executor is not meant to interleave runs.
  let chain = Promise.resolve();
  port.on('message', (message: InferMessage) => {
    chain = chain.then(() => run(message));
  });
  post({
    type: 'ready',
    inputs: describe(model.inputs, json.signature?.inputs, json),
    outputs: describe(model.outputs, json.signature?.outputs, json),
  });
}

await main();

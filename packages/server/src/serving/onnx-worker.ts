/**
 * Worker thread of the onnx runtime: loads one InferenceSession and runs the inferences the
 * replica pool sends it (see worker-protocol.ts). It imports nothing of ours at run time, so it
 * starts fast.
 */
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import type {
  InferMessage,
  WireTensor,
  WireValueMetadata,
  WorkerReply,
} from './worker-protocol.js';
import { transferableBuffers } from './worker-protocol.js';

/** What the onnx runtime passes as `workerData`. */
export interface OnnxWorkerData {
  modelFile: string;
  sessionOptions: {
    intraOpNumThreads: number;
    graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
  };
}

function describe(metadata: readonly ort.InferenceSession.ValueMetadata[]): WireValueMetadata[] {
  return metadata.map((value) =>
    value.isTensor
      ? { name: value.name, isTensor: true, type: value.type, shape: [...value.shape] }
      : { name: value.name, isTensor: false, shape: [] },
  );
}

function toOrt(tensor: WireTensor): ort.Tensor {
  // The pool sends each type's own storage (BigInt64Array for int64, string[] for string, …).
  return new ort.Tensor(tensor.type as ort.Tensor.Type, tensor.data as ort.Tensor.DataType, [
    ...tensor.dims,
  ]);
}

function fromOrt(name: string, tensor: ort.Tensor): WireTensor {
  return { name, type: tensor.type, dims: [...tensor.dims], data: tensor.data };
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('onnx-worker must run in a worker thread');
  const post = (message: WorkerReply, transfer: ArrayBuffer[] = []): void => {
    port.postMessage(message, transfer);
  };
  const data = workerData as OnnxWorkerData;
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(data.modelFile, {
      executionProviders: ['cpu'],
      intraOpNumThreads: data.sessionOptions.intraOpNumThreads,
      interOpNumThreads: 1,
      graphOptimizationLevel: data.sessionOptions.graphOptimizationLevel,
    });
  } catch (error) {
    post({ type: 'load-failed', message: (error as Error).message });
    return;
  }
  port.on('message', (message: InferMessage) => {
    const feeds: Record<string, ort.Tensor> = {};
    void (async () => {
      try {
        for (const input of message.inputs) feeds[input.name] = toOrt(input);
        const results = await session.run(feeds, message.outputs);
        const outputs = message.outputs.map((name) => {
          const value = results[name];
          if (value === undefined) throw new Error(`onnxruntime returned no output '${name}'`);
          return fromOrt(name, value);
        });
        post({ type: 'result', id: message.id, outputs }, transferableBuffers(outputs));
      } catch (error) {
        post({ type: 'failed', id: message.id, message: (error as Error).message });
      } finally {
        for (const tensor of Object.values(feeds)) tensor.dispose();
      }
    })();
  });
  post({
    type: 'ready',
    inputs: describe(session.inputMetadata),
    outputs: describe(session.outputMetadata),
  });
}

await main();

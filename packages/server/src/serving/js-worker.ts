/**
 * Worker thread of the js runtime: imports the model's ES module and runs its `predict` for
 * the inferences the replica pool sends (see worker-protocol.ts). Tensors cross the boundary
 * in the protocol's own form (`type` is the datatype, `FP32`, `BYTES`, …). The signature and
 * the outputs are checked by the runtime on the main thread; this side only reports what the
 * module declares and returns.
 */
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import type {
  InferMessage,
  WireTensor,
  WireValueMetadata,
  WorkerReply,
} from './worker-protocol.js';

/** What the js runtime passes as `workerData`. */
export interface JsWorkerData {
  /** Absolute path of the model's module. */
  moduleFile: string;
  /** The model's name, for `context.model`. */
  model: string;
  /** The model directory, for `context.modelDir`. */
  modelDir: string;
  /** The MLmodel signature as specs, used when the module exports no `signature`. */
  fallbackSignature?: { inputs: unknown[]; outputs: unknown[] } | undefined;
}

type Predict = (inputs: Record<string, unknown>, context: unknown) => unknown;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** The declared specs as plain data (anything odd is left for the runtime to refuse). */
function declared(specs: unknown): WireValueMetadata[] {
  if (!Array.isArray(specs)) return [];
  return specs.map((spec) => {
    const record = isRecord(spec) ? spec : {};
    const shape = record['shape'];
    const value: WireValueMetadata = {
      name: typeof record['name'] === 'string' ? record['name'] : '',
      isTensor: true,
      shape: Array.isArray(shape)
        ? shape.map((dim) => (typeof dim === 'number' ? dim : String(dim)))
        : [],
    };
    if (typeof record['datatype'] === 'string') value.type = record['datatype'];
    return value;
  });
}

function isInputFault(error: unknown): boolean {
  return (
    isRecord(error) &&
    (error['code'] === 'INVALID_PARAMETER_VALUE' || error['name'] === 'InvalidParameterError')
  );
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('js-worker must run in a worker thread');
  const post = (message: WorkerReply): void => {
    port.postMessage(message);
  };
  const data = workerData as JsWorkerData;
  let predict: Predict;
  let signature: unknown;
  try {
    const module = (await import(pathToFileURL(data.moduleFile).href)) as Record<string, unknown>;
    const exported = module['predict'];
    if (typeof exported !== 'function') {
      post({
        type: 'load-failed',
        message:
          `its module ${data.moduleFile} exports no predict function (it needs ` +
          '`export function predict(inputs, context)`).',
      });
      return;
    }
    predict = exported as Predict;
    signature = module['signature'] ?? data.fallbackSignature;
  } catch (error) {
    post({
      type: 'load-failed',
      message: `importing its module ${data.moduleFile} failed: ${messageOf(error)}`,
    });
    return;
  }
  if (
    !isRecord(signature) ||
    !Array.isArray(signature['inputs']) ||
    !Array.isArray(signature['outputs'])
  ) {
    post({
      type: 'load-failed',
      message:
        signature === undefined
          ? 'it declares no signature: export `signature = { inputs, outputs }` from its module ' +
            '(TensorSpec lists) or log it with an MLflow tensor signature.'
          : "its module's `signature` must be { inputs: TensorSpec[], outputs: TensorSpec[] }.",
    });
    return;
  }
  const outputNames = new Set(declared(signature['outputs']).map((spec) => spec.name));

  port.on('message', (message: InferMessage) => {
    void (async () => {
      let result: unknown;
      try {
        const inputs: Record<string, unknown> = {};
        for (const input of message.inputs) {
          inputs[input.name] = {
            name: input.name,
            datatype: input.type,
            shape: input.dims,
            data: input.data,
          };
        }
        const context = { model: data.model, modelDir: data.modelDir, outputs: message.outputs };
        result = await predict(inputs, context);
      } catch (error) {
        post({
          type: 'failed',
          id: message.id,
          message: `predict threw ${messageOf(error)}`,
          ...(isInputFault(error) && { fault: 'input' as const }),
        });
        return;
      }
      if (!isRecord(result)) {
        post({
          type: 'failed',
          id: message.id,
          message:
            `predict returned ${describeValue(result)}, not an object of output tensors ` +
            `(${[...outputNames].join(', ')}).`,
        });
        return;
      }
      const outputs: WireTensor[] = [];
      for (const name of message.outputs) {
        const tensor = result[name];
        if (tensor === undefined) continue; // reported as missing by the runtime
        if (!isRecord(tensor)) {
          post({
            type: 'failed',
            id: message.id,
            message:
              `predict returned output '${name}' as ${describeValue(tensor)}, not a tensor ` +
              '({ datatype, shape, data }).',
          });
          return;
        }
        outputs.push({
          name,
          type: tensor['datatype'] as string,
          dims: tensor['shape'] as number[],
          data: tensor['data'] as WireTensor['data'],
        });
      }
      try {
        // Copied, never transferred: the module may keep the buffers it returned.
        post({ type: 'result', id: message.id, outputs });
      } catch (error) {
        post({
          type: 'failed',
          id: message.id,
          message: `the outputs predict returned cannot be sent back: ${messageOf(error)}`,
        });
      }
    })();
  });
  post({
    type: 'ready',
    inputs: declared(signature['inputs']),
    outputs: declared(signature['outputs']),
  });
}

await main();

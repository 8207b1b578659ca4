import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  BINARY_DATA_SIZE,
  InvalidParameterError,
  NotFoundError,
  VERSION,
  YardError,
  decodeBinaryTensor,
  decodeRequestTensor,
  encodeBinaryTensor,
  encodeResponseTensor,
} from '@modelyard/core';
import type { Tensor, TensorSpec } from '@modelyard/core';
import type { LoadedModel } from '../serving/model-runtime.js';
import { VARIANT_HEADER } from '../serving/deployment-service.js';
import type { DeploymentService, ServedDeployment } from '../serving/deployment-service.js';

/** The header that splits a binary-extension body into its JSON part and the tensor bytes. */
export const INFERENCE_HEADER_CONTENT_LENGTH = 'inference-header-content-length';

/** The protocol extensions this server implements (reported by `GET /v2`). */
export const OIP_EXTENSIONS = ['binary_tensor_data'] as const;

const PLATFORMS: Record<string, string> = { onnx: 'onnxruntime_onnx' };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The loaded model of a deployment, or a 503 saying why there is none. */
function readyModel(served: ServedDeployment): LoadedModel {
  if (served.model === undefined) {
    const { deployment } = served;
    throw new YardError(
      'TEMPORARILY_UNAVAILABLE',
      `Model '${deployment.name}' is not ready (status ${deployment.status}` +
        `${deployment.statusReason === '' ? '' : `: ${deployment.statusReason}`}).`,
      { deployment: deployment.name, status: deployment.status },
    );
  }
  return served.model;
}

/** Runs `lookup`, answering an unknown deployment as an unknown OIP model. */
function asModel<T>(name: string, lookup: () => T): T {
  try {
    return lookup();
  } catch (error) {
    if (error instanceof NotFoundError && !('version' in error.context)) {
      throw new NotFoundError(`Unknown model '${name}': no deployment of that name.`, {
        model: name,
      });
    }
    throw error;
  }
}

function specJson(spec: TensorSpec): { name: string; datatype: string; shape: number[] } {
  return { name: spec.name, datatype: spec.datatype, shape: [...spec.shape] };
}

/** Splits a request body into its JSON header object and the binary part that follows. */
function splitBody(request: FastifyRequest): { header: Record<string, unknown>; binary: Buffer } {
  const body = request.body;
  const raw = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
  const lengthHeader = request.headers[INFERENCE_HEADER_CONTENT_LENGTH];
  let jsonLength = raw.length;
  if (typeof lengthHeader === 'string') {
    jsonLength = Number(lengthHeader);
    if (!Number.isInteger(jsonLength) || jsonLength < 0 || jsonLength > raw.length) {
      throw new InvalidParameterError(
        `Header Inference-Header-Content-Length is '${lengthHeader}', but it must be the ` +
          `length of the JSON part of the body, from 0 to ${raw.length}.`,
        { header: lengthHeader, bodyLength: raw.length },
      );
    }
  }
  let header: unknown;
  try {
    header = JSON.parse(raw.subarray(0, jsonLength).toString('utf8'));
  } catch (error) {
    throw new InvalidParameterError(
      `The inference request is not valid JSON: ${(error as Error).message}`,
    );
  }
  if (!isRecord(header)) {
    throw new InvalidParameterError('The inference request must be a JSON object.');
  }
  return { header, binary: raw.subarray(jsonLength) };
}

/** Decodes every input of an inference request against the model's input specs. */
function decodeInputs(
  model: LoadedModel,
  name: string,
  header: Record<string, unknown>,
  binary: Buffer,
): Tensor[] {
  const inputs = header['inputs'];
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw new InvalidParameterError(
      `The inference request needs "inputs", a non-empty list; model '${name}' takes ` +
        `${model.inputs.map((s) => `${s.name} ${s.datatype} [${s.shape.join(', ')}]`).join(', ')}.`,
    );
  }
  const specs = new Map(model.inputs.map((spec) => [spec.name, spec]));
  let offset = 0;
  return inputs.map((input: unknown) => {
    const inputName = isRecord(input) ? input['name'] : undefined;
    const spec = typeof inputName === 'string' ? specs.get(inputName) : undefined;
    if (typeof inputName === 'string' && spec === undefined) {
      throw new InvalidParameterError(
        `Model '${name}' has no input '${inputName}'; its inputs are ` +
          `${model.inputs.map((s) => `${s.name} ${s.datatype} [${s.shape.join(', ')}]`).join(', ')}.`,
        { model: name, input: inputName },
      );
    }
    const parameters = isRecord(input) ? input['parameters'] : undefined;
    const size = isRecord(parameters) ? parameters[BINARY_DATA_SIZE] : undefined;
    if (size === undefined) return decodeRequestTensor(input, spec);
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) {
      throw new InvalidParameterError(
        `Input '${String(inputName)}' has binary_data_size ${JSON.stringify(size)}; it must be ` +
          'a byte count.',
        { input: inputName },
      );
    }
    if (offset + size > binary.length) {
      throw new InvalidParameterError(
        `Input '${String(inputName)}' declares ${size} bytes of binary data, but only ` +
          `${binary.length - offset} remain after the JSON header.`,
        { input: inputName, size, remaining: binary.length - offset },
      );
    }
    const bytes = binary.subarray(offset, offset + size);
    offset += size;
    return decodeBinaryTensor(input, bytes, spec);
  });
}

interface OutputRequest {
  names: string[] | undefined;
  binary: Map<string, boolean>;
}

function requestedOutputs(header: Record<string, unknown>): OutputRequest {
  const outputs = header['outputs'];
  const binary = new Map<string, boolean>();
  if (outputs === undefined) return { names: undefined, binary };
  if (!Array.isArray(outputs)) {
    throw new InvalidParameterError('"outputs" must be a list of {"name": ...} objects.');
  }
  const names = outputs.map((output: unknown, index) => {
    if (!isRecord(output) || typeof output['name'] !== 'string') {
      throw new InvalidParameterError(`outputs[${index}] must be an object with a "name".`);
    }
    const parameters = output['parameters'];
    if (isRecord(parameters) && typeof parameters['binary_data'] === 'boolean') {
      binary.set(output['name'], parameters['binary_data']);
    }
    return output['name'];
  });
  return { names, binary };
}

async function infer(
  deployments: DeploymentService,
  request: FastifyRequest<{ Params: { name: string; version?: string } }>,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const { name, version } = request.params;
  const { header, binary } = splitBody(request);
  const parameters = header['parameters'];
  const routed = asModel(name, () =>
    deployments.route(name, { version, headers: request.headers, parameters }),
  );
  const model = routed.model;
  const tensors = decodeInputs(model, name, header, binary);
  const wanted = requestedOutputs(header);
  const outputs = await deployments.infer(routed, new Map(tensors.map((t) => [t.name, t])), {
    ...(wanted.names === undefined ? {} : { requestedOutputs: wanted.names }),
    transferInputs: true,
  });
  const binaryByDefault = isRecord(parameters) && parameters['binary_data_output'] === true;
  const order = wanted.names ?? model.outputs.map((spec) => spec.name);
  const jsonOutputs: unknown[] = [];
  const chunks: Uint8Array[] = [];
  for (const outputName of order) {
    const tensor = outputs[outputName];
    if (tensor === undefined) continue;
    if (wanted.binary.get(outputName) ?? binaryByDefault) {
      const encoded = encodeBinaryTensor(tensor);
      jsonOutputs.push(encoded.json);
      chunks.push(encoded.bytes);
    } else {
      jsonOutputs.push(encodeResponseTensor(tensor));
    }
  }
  const id = header['id'];
  const response = {
    model_name: name,
    model_version: routed.variant.modelVersion,
    ...(typeof id === 'string' ? { id } : {}),
    outputs: jsonOutputs,
  };
  const json = Buffer.from(JSON.stringify(response), 'utf8');
  void reply.header(VARIANT_HEADER, routed.variant.name);
  if (chunks.length === 0) return reply.type('application/json').send(json);
  return reply
    .type('application/octet-stream')
    .header('Inference-Header-Content-Length', json.length)
    .send(Buffer.concat([json, ...chunks]));
}

function oipError(error: unknown, request: FastifyRequest): { status: number; message: string } {
  if (error instanceof YardError) return { status: error.status, message: error.message };
  const fe = error as Partial<FastifyError>;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return {
      status: 413,
      message: `${fe.message ?? 'Request body is too large'}; send fewer rows per request.`,
    };
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, message: fe.message ?? 'Bad request' };
  }
  request.log.error({ err: error }, 'inference request failed');
  return { status: 500, message: `Internal error (request ${request.id}).` };
}

/**
 * The Open Inference Protocol v2 REST endpoints (KServe "predict v2", Triton HTTP) over the
 * server's deployments, each deployment being one model of that name: server metadata and
 * health, model metadata and readiness, and inference with JSON tensors or Triton's binary
 * tensor data extension. Errors answer `{"error": "..."}`: 400 for a bad request (the message
 * names the input and the expected datatype and shape), 404 for an unknown model or version,
 * 413 for a body over the limit, 503 while a model is not ready.
 */
export function registerOipV2Routes(app: FastifyInstance, deployments: DeploymentService): void {
  void app.register((scope, _options, done) => {
    // Bodies are read raw: a binary-extension body is JSON followed by tensor bytes.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, parsed) => {
      parsed(null, body);
    });
    scope.setErrorHandler((error: unknown, request, reply) => {
      const { status, message } = oipError(error, request);
      return reply
        .status(status)
        .type('application/json')
        .send(JSON.stringify({ error: message }));
    });

    scope.get('/v2', (_request, reply) =>
      reply.send({ name: 'modelyard', version: VERSION, extensions: [...OIP_EXTENSIONS] }),
    );
    scope.get('/v2/health/live', (_request, reply) => reply.send({ live: true }));
    scope.get('/v2/health/ready', (_request, reply) => {
      const ready = deployments.allReady();
      return reply.status(ready ? 200 : 503).send({ ready });
    });

    const metadata = (
      request: FastifyRequest<{ Params: { name: string; version?: string } }>,
      reply: FastifyReply,
    ) => {
      const { name, version } = request.params;
      const served = asModel(name, () => deployments.served(name, version));
      const model = readyModel(served);
      return reply.send({
        name,
        versions: served.versions,
        platform: PLATFORMS[model.flavor] ?? model.flavor,
        inputs: model.inputs.map(specJson),
        outputs: model.outputs.map(specJson),
      });
    };
    scope.get('/v2/models/:name', metadata);
    scope.get('/v2/models/:name/versions/:version', metadata);

    const ready = (
      request: FastifyRequest<{ Params: { name: string; version?: string } }>,
      reply: FastifyReply,
    ) => {
      const { name, version } = request.params;
      const served = asModel(name, () => deployments.served(name, version));
      const isReady = served.model !== undefined;
      return reply.status(isReady ? 200 : 503).send({ name, ready: isReady });
    };
    scope.get('/v2/models/:name/ready', ready);
    scope.get('/v2/models/:name/versions/:version/ready', ready);

    scope.post('/v2/models/:name/infer', (request, reply) =>
      infer(deployments, request as FastifyRequest<{ Params: { name: string } }>, reply),
    );
    scope.post('/v2/models/:name/versions/:version/infer', (request, reply) =>
      infer(
        deployments,
        request as FastifyRequest<{ Params: { name: string; version: string } }>,
        reply,
      ),
    );
    done();
  });
}

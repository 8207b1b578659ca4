import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import {
  InvalidParameterError,
  NotFoundError,
  YardError,
  decodeRequestTensor,
  encodeResponseTensor,
  formatShape,
} from '@modelyard/core';
import type { JsonTensorElement, Tensor, TensorSpec } from '@modelyard/core';
import { parseLenientJson } from '../json.js';
import { VARIANT_HEADER } from '../serving/deployment-service.js';
import type { DeploymentService } from '../serving/deployment-service.js';
import type { LoadedModel } from '../serving/model-runtime.js';

/** The JSON keys MLflow's scoring server accepts, exactly one per request. */
export const SCORING_FORMATS = ['dataframe_split', 'dataframe_records', 'instances', 'inputs'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(spec: TensorSpec): string {
  return `${spec.name} ${spec.datatype} ${formatShape(spec.shape)}`;
}

/** Splits one CSV line (RFC 4180 quoting). */
function csvFields(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line.charAt(i);
    if (quoted) {
      if (c === '"' && line.charAt(i + 1) === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
}

/** Rows of a CSV body with a header line (as pandas' `read_csv` reads it). */
function parseCsv(text: string): unknown[][] {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  if (lines.length < 2) {
    throw new InvalidParameterError(
      'The CSV body needs a header line and at least one row of values.',
    );
  }
  return lines.slice(1).map((line) =>
    csvFields(line).map((field) => {
      const trimmed = field.trim();
      const number = Number(trimmed);
      return trimmed !== '' && Number.isFinite(number) ? number : trimmed;
    }),
  );
}

function rowsOfSplit(value: unknown): unknown[] {
  if (!isRecord(value) || !Array.isArray(value['data'])) {
    throw new InvalidParameterError(
      '"dataframe_split" must be an object with "data" (a list of rows) and optionally ' +
        '"columns" and "index".',
    );
  }
  return value['data'];
}

function rowsOfRecords(value: unknown): unknown[] {
  if (!Array.isArray(value) || !value.every(isRecord)) {
    throw new InvalidParameterError(
      '"dataframe_records" must be a list of objects, one per row ({"column": value, ...}).',
    );
  }
  const first = value[0];
  const columns = first === undefined ? [] : Object.keys(first);
  return value.map((record, index) => {
    return columns.map((column) => {
      if (!Object.hasOwn(record, column)) {
        throw new InvalidParameterError(
          `dataframe_records[${index}] has no column '${column}' (the first record has ` +
            `${columns.join(', ')}).`,
          { row: index, column },
        );
      }
      return record[column];
    });
  });
}

/** Infers the shape of rectangular nested lists (ragged data is reported by the decoder). */
function shapeOf(data: unknown): number[] {
  const shape: number[] = [];
  let current = data;
  while (Array.isArray(current)) {
    shape.push(current.length);
    current = current[0];
  }
  return shape;
}

/** One input tensor from row-major JSON data, checked against the model's spec. */
function tensorFor(spec: TensorSpec, data: unknown, source: string): Tensor {
  if (!Array.isArray(data)) {
    throw new InvalidParameterError(`${source} must be a list; model input is ${describe(spec)}.`, {
      input: spec.name,
    });
  }
  return decodeRequestTensor(
    { name: spec.name, datatype: spec.datatype, shape: shapeOf(data), data },
    spec,
  );
}

function singleInput(model: LoadedModel, name: string, format: string): TensorSpec {
  const [spec, ...rest] = model.inputs;
  if (spec === undefined || rest.length > 0) {
    throw new InvalidParameterError(
      `${format} input fits a model with one input tensor; model '${name}' has ` +
        `${model.inputs.map(describe).join(', ')}. Send "inputs" as {"<input>": [...]} instead.`,
      { model: name },
    );
  }
  return spec;
}

/** The model inputs of an MLflow scoring request. */
function toInputs(model: LoadedModel, name: string, body: unknown): Tensor[] {
  if (Array.isArray(body)) {
    const spec = singleInput(model, name, 'CSV');
    return [tensorFor(spec, body, 'The CSV rows')];
  }
  if (!isRecord(body)) {
    throw new InvalidParameterError(
      `The request body must be a JSON object with one of ${SCORING_FORMATS.join(', ')}.`,
    );
  }
  const formats = SCORING_FORMATS.filter((key) => Object.hasOwn(body, key));
  const format = formats[0];
  if (format === undefined || formats.length > 1) {
    throw new InvalidParameterError(
      `The request body must have exactly one of ${SCORING_FORMATS.join(', ')}; ` +
        `it has ${formats.length === 0 ? 'none' : formats.join(', ')}.`,
      { formats },
    );
  }
  const value = body[format];
  if (format === 'dataframe_split' || format === 'dataframe_records') {
    const spec = singleInput(model, name, format);
    const rows = format === 'dataframe_split' ? rowsOfSplit(value) : rowsOfRecords(value);
    return [tensorFor(spec, rows, `"${format}" rows`)];
  }
  if (isRecord(value)) {
    // Named tensors: {"input": [...], ...}.
    const specs = new Map(model.inputs.map((spec) => [spec.name, spec]));
    return Object.entries(value).map(([inputName, data]) => {
      const spec = specs.get(inputName);
      if (spec === undefined) {
        throw new InvalidParameterError(
          `Model '${name}' has no input '${inputName}'; its inputs are ` +
            `${model.inputs.map(describe).join(', ')}.`,
          { model: name, input: inputName },
        );
      }
      return tensorFor(spec, data, `"${format}.${inputName}"`);
    });
  }
  const spec = singleInput(model, name, format);
  return [tensorFor(spec, value, `"${format}"`)];
}

/** Nests flat row-major elements into lists of `shape`. */
function nest(data: JsonTensorElement[], shape: readonly number[]): unknown {
  if (shape.length <= 1) return data;
  const [, ...inner] = shape;
  const size = inner.reduce((a, b) => a * b, 1);
  const rows: unknown[] = [];
  for (let offset = 0; offset < data.length; offset += size) {
    rows.push(nest(data.slice(offset, offset + size), inner));
  }
  return rows;
}

function mlflowError(error: unknown, request: FastifyRequest): { status: number; body: object } {
  if (error instanceof YardError) {
    return { status: error.status, body: { error_code: error.code, message: error.message } };
  }
  const fe = error as Partial<FastifyError>;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return {
      status: 413,
      body: {
        error_code: 'REQUEST_TOO_LARGE',
        message: `${fe.message ?? 'Request body is too large'}; send fewer rows per request.`,
      },
    };
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return {
      status: fe.statusCode,
      body: { error_code: 'BAD_REQUEST', message: fe.message ?? 'Bad request' },
    };
  }
  request.log.error({ err: error }, 'scoring request failed');
  return {
    status: 500,
    body: { error_code: 'INTERNAL_ERROR', message: `Internal error (request ${request.id}).` },
  };
}

/**
 * MLflow's scoring protocol at `POST /endpoints/{name}/invocations`, as `mlflow models serve`
 * answers it at `/invocations`: JSON with one of `dataframe_split`, `dataframe_records`,
 * `instances` or `inputs` (plus optional `params`, accepted and not used by ONNX models), or a
 * `text/csv` body with a header line. Row formats fit a model with one input tensor, e.g. the
 * `[-1, n]` float input of a scikit-learn model converted to ONNX; `instances`/`inputs` may
 * also name each input (`{"inputs": {"x": [...]}}`). Answers `{"predictions": {output: values}}`,
 * one entry per output as MLflow's ONNX flavor returns them for tensor input. Errors answer
 * `{"error_code", "message"}` as MLflow does.
 */
export function registerMlflowScoringRoutes(
  app: FastifyInstance,
  deployments: DeploymentService,
): void {
  void app.register((scope, _options, done) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (request, body, parsed) => {
      const type = request.headers['content-type'] ?? '';
      try {
        if (type.startsWith('text/csv')) parsed(null, parseCsv(body as string));
        else
          parsed(null, parseLenientJson((body as string).trim() === '' ? '{}' : (body as string)));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        parsed(
          error instanceof YardError
            ? error
            : new InvalidParameterError(`The request body is not valid JSON: ${message}`),
          undefined,
        );
      }
    });
    scope.setErrorHandler((error: unknown, request, reply) => {
      const { status, body } = mlflowError(error, request);
      return reply.status(status).type('application/json').send(JSON.stringify(body));
    });

    scope.post<{ Params: { name: string } }>(
      '/endpoints/:name/invocations',
      async (request, reply) => {
        const { name } = request.params;
        const body = request.body;
        const params =
          typeof body === 'object' && body !== null
            ? (body as { params?: unknown }).params
            : undefined;
        let routed;
        try {
          routed = deployments.route(name, { headers: request.headers, parameters: params });
        } catch (error) {
          if (error instanceof NotFoundError) {
            throw new NotFoundError(`No endpoint '${name}': no deployment of that name.`, {
              endpoint: name,
            });
          }
          throw error;
        }
        const model = routed.model;
        const inputs = toInputs(model, name, request.body);
        const outputs = await deployments.infer(routed, new Map(inputs.map((t) => [t.name, t])), {
          transferInputs: true,
        });
        const predictions: Record<string, unknown> = {};
        for (const spec of model.outputs) {
          const tensor = outputs[spec.name];
          if (tensor === undefined) continue;
          const json = encodeResponseTensor(tensor);
          predictions[spec.name] = nest(json.data, json.shape);
        }
        return reply
          .header(VARIANT_HEADER, routed.variant.name)
          .type('application/json')
          .send(JSON.stringify({ predictions }));
      },
    );
    done();
  });
}

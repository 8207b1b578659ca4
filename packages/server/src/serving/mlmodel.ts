import { readFile } from 'node:fs/promises';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { InvalidParameterError } from '@modelyard/core';
import type { Datatype, TensorSpec } from '@modelyard/core';
import type { RuntimeKind } from './model-runtime.js';

/** The name of the file that describes an MLflow model directory. */
export const MLMODEL_FILE_NAME = 'MLmodel';

/** How one servable flavor names its model file in `MLmodel`. */
export interface ServableFlavor {
  /** The runtime that executes it. */
  runtime: RuntimeKind;
  /** The flavor configuration key that holds the model file's path inside the directory. */
  fileKey: string;
  /** An example value of that key, for messages. */
  example: string;
}

/**
 * The MLflow flavors Modelyard serves, in order of preference when a model has several:
 * - `onnx` (MLflow's own, `data: model.onnx`): onnxruntime-node.
 * - `modelyard_tfjs` (`model: model.json`): a TensorFlow.js graph model (`model.json` and its
 *   weight files beside it), run by TensorFlow.js on its wasm backend.
 * - `modelyard_js` (`module: model.mjs`): an ES module exporting
 *   `predict(inputs, context)` and optionally `signature`; see `js-runtime.ts`.
 */
export const SERVABLE_FLAVORS: Readonly<Record<string, ServableFlavor>> = {
  onnx: { runtime: 'onnx', fileKey: 'data', example: 'model.onnx' },
  modelyard_tfjs: { runtime: 'tfjs', fileKey: 'model', example: 'model.json' },
  modelyard_js: { runtime: 'js', fileKey: 'module', example: 'model.mjs' },
};

/** One tensor of an MLflow tensor-based signature (`{"type": "tensor", "tensor-spec": …}`). */
export interface SignatureTensor {
  /** Absent when the model was logged with an unnamed array (MLflow allows one such tensor). */
  name?: string;
  /** numpy dtype name as MLflow wrote it (`float32`, `int64`, `object`, …). */
  dtype: string;
  /** The protocol datatype for `dtype`; absent when there is none (e.g. `datetime64[ns]`). */
  datatype?: Datatype;
  /** Dimensions; `-1` is any size. */
  shape: number[];
}

/** One column of an MLflow column-based signature (`{"type": "double", "name": "x"}`). */
export interface SignatureColumn {
  name?: string;
  /** MLflow data type (`boolean`, `integer`, `long`, `float`, `double`, `string`, …). */
  type: string;
  /** The protocol datatype for `type`; absent when there is none (`datetime`, `array`, …). */
  datatype?: Datatype;
  /** False for columns declared `"required": false`. */
  required: boolean;
}

/** The inputs or outputs of an MLflow signature: all tensors, or all columns. */
export type SignatureSchema =
  { kind: 'tensor'; tensors: SignatureTensor[] } | { kind: 'columns'; columns: SignatureColumn[] };

/** An MLflow model signature (`signature:` in `MLmodel`). */
export interface ModelSignature {
  inputs?: SignatureSchema;
  outputs?: SignatureSchema;
  /** The inference params schema, as MLflow wrote it (not interpreted yet). */
  params?: unknown[];
}

/** A parsed `MLmodel` file. */
export interface MlModel {
  /** Where it was read from (for messages). */
  source: string;
  /** Flavor name -> its configuration, in file order. */
  flavors: Record<string, Record<string, unknown>>;
  signature?: ModelSignature;
  /** `mlflow_version`, when present. */
  mlflowVersion?: string;
}

/** What serving needs to load a model: the runtime and the flavor's model file. */
export interface ServingPlan {
  runtime: RuntimeKind;
  /** The flavor chosen (its key in `flavors`). */
  flavor: string;
  /**
   * Absolute path of the model file the flavor names (`data: model.onnx`, `model: model.json`,
   * `module: model.mjs`).
   */
  modelFile: string;
  /** The flavor's configuration from `MLmodel`. */
  config: Record<string, unknown>;
}

// numpy dtype names (as MLflow's TensorSpec writes them) -> protocol datatype.
const NUMPY_DATATYPES: Readonly<Record<string, Datatype>> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  object: 'BYTES',
  str: 'BYTES',
  bytes: 'BYTES',
};

// MLflow column DataType names -> protocol datatype.
const COLUMN_DATATYPES: Readonly<Record<string, Datatype>> = {
  boolean: 'BOOL',
  integer: 'INT32',
  long: 'INT64',
  float: 'FP32',
  double: 'FP64',
  string: 'BYTES',
  binary: 'BYTES',
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The protocol datatype of a numpy dtype name (`float32`, `<U8`, `|S4`), if any. */
export function numpyDtypeToDatatype(dtype: string): Datatype | undefined {
  const direct = NUMPY_DATATYPES[dtype];
  if (direct !== undefined) return direct;
  // Fixed-width unicode / byte strings: '<U8', '|S4'.
  if (/^[<>|=]?[US]\d*$/.test(dtype)) return 'BYTES';
  return undefined;
}

function fail(source: string, problem: string, context: Record<string, unknown> = {}): never {
  throw new InvalidParameterError(`${source}: ${problem}`, { source, ...context });
}

function parseSchema(source: string, field: string, value: unknown): SignatureSchema | undefined {
  if (value === null || value === undefined) return undefined;
  let specs: unknown = value;
  // MLflow writes each schema as a JSON string inside the YAML; accept a YAML list as well.
  if (typeof value === 'string') {
    try {
      specs = JSON.parse(value);
    } catch (error) {
      fail(source, `signature ${field} is not valid JSON (${(error as Error).message}).`, {
        field,
      });
    }
  }
  if (!Array.isArray(specs)) {
    fail(source, `signature ${field} must be a list of tensor or column specs.`, { field });
  }
  const tensors: SignatureTensor[] = [];
  const columns: SignatureColumn[] = [];
  specs.forEach((spec: unknown, index) => {
    const where = `signature ${field}[${index}]`;
    if (!isRecord(spec) || typeof spec['type'] !== 'string') {
      fail(source, `${where} has no "type".`, { field, index });
    }
    const name = spec['name'];
    if (name !== undefined && name !== null && typeof name !== 'string') {
      fail(source, `${where} has a name that is not a string.`, { field, index });
    }
    const named = typeof name === 'string' ? { name } : {};
    if (spec['type'] === 'tensor') {
      const tensorSpec = spec['tensor-spec'];
      if (
        !isRecord(tensorSpec) ||
        typeof tensorSpec['dtype'] !== 'string' ||
        !Array.isArray(tensorSpec['shape']) ||
        !tensorSpec['shape'].every((dim) => Number.isInteger(dim) && (dim as number) >= -1)
      ) {
        fail(
          source,
          `${where} is a tensor without a valid "tensor-spec" ({"dtype": ..., "shape": [...]}).`,
          { field, index },
        );
      }
      const dtype = tensorSpec['dtype'];
      const datatype = numpyDtypeToDatatype(dtype);
      tensors.push({
        ...named,
        dtype,
        ...(datatype === undefined ? {} : { datatype }),
        shape: [...(tensorSpec['shape'] as number[])],
      });
    } else {
      const datatype = COLUMN_DATATYPES[spec['type']];
      columns.push({
        ...named,
        type: spec['type'],
        ...(datatype === undefined ? {} : { datatype }),
        required: spec['required'] !== false,
      });
    }
  });
  if (tensors.length > 0 && columns.length > 0) {
    fail(source, `signature ${field} mixes tensor and column specs; MLflow allows only one kind.`, {
      field,
    });
  }
  return tensors.length > 0 || columns.length === 0
    ? { kind: 'tensor', tensors }
    : { kind: 'columns', columns };
}

/**
 * Parses the text of an `MLmodel` file.
 *
 * @param source where the text came from, for messages.
 * @throws InvalidParameterError when the text is not YAML, has no `flavors` mapping, or its
 *   signature is malformed.
 */
export function parseMlModel(text: string, source: string): MlModel {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    fail(source, `not valid YAML (${(error as Error).message}).`);
  }
  if (!isRecord(doc)) fail(source, 'is not a YAML mapping.');
  const flavors = doc['flavors'];
  if (!isRecord(flavors) || Object.keys(flavors).length === 0) {
    fail(source, 'has no "flavors"; an MLflow model declares at least one flavor.');
  }
  const parsedFlavors: Record<string, Record<string, unknown>> = {};
  for (const [name, config] of Object.entries(flavors)) {
    parsedFlavors[name] = isRecord(config) ? config : {};
  }
  const model: MlModel = { source, flavors: parsedFlavors };
  const version = doc['mlflow_version'];
  if (typeof version === 'string') model.mlflowVersion = version;
  const signature = doc['signature'];
  if (isRecord(signature)) {
    const inputs = parseSchema(source, 'inputs', signature['inputs']);
    const outputs = parseSchema(source, 'outputs', signature['outputs']);
    let params: unknown = signature['params'];
    if (typeof params === 'string') {
      try {
        params = JSON.parse(params);
      } catch {
        fail(source, 'signature params is not valid JSON.');
      }
    }
    model.signature = {
      ...(inputs === undefined ? {} : { inputs }),
      ...(outputs === undefined ? {} : { outputs }),
      ...(Array.isArray(params) ? { params: params as unknown[] } : {}),
    };
  }
  return model;
}

/**
 * Reads and parses `<modelDir>/MLmodel`.
 *
 * @throws InvalidParameterError when the file is missing or malformed.
 */
export async function readMlModel(modelDir: string): Promise<MlModel> {
  const path = join(modelDir, MLMODEL_FILE_NAME);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InvalidParameterError(
      code === 'ENOENT'
        ? `No ${MLMODEL_FILE_NAME} file in ${modelDir}; Modelyard serves MLflow model ` +
            'directories (as mlflow.<flavor>.log_model writes them).'
        : `Cannot read ${path}: ${(error as Error).message}`,
      { modelDir, code },
    );
  }
  return parseMlModel(text, path);
}

/**
 * Picks the runtime that serves a model and the model file it loads: the first flavor of
 * {@link SERVABLE_FLAVORS} (in that table's order) that the model has.
 *
 * @param modelDir the model directory (model files are resolved inside it).
 * @param runtime consider only this runtime's flavors (a runtime loading a model directly).
 * @throws InvalidParameterError naming the flavors found and the ones served, when none of the
 *   model's flavors is servable; or when the flavor's model file path is missing or leaves the
 *   directory.
 */
export function planServing(model: MlModel, modelDir: string, runtime?: RuntimeKind): ServingPlan {
  const found = Object.keys(model.flavors);
  const candidates = Object.entries(SERVABLE_FLAVORS).filter(
    ([, servable]) => runtime === undefined || servable.runtime === runtime,
  );
  const chosen = candidates.find(([name]) => Object.hasOwn(model.flavors, name));
  if (chosen === undefined) {
    const supported = candidates.map(([name]) => name);
    throw new InvalidParameterError(
      `Model at ${modelDir} has flavors ${found.join(', ')}; ` +
        (runtime === undefined ? 'Modelyard serves ' : `the ${runtime} runtime serves `) +
        `${supported.join(', ')}.`,
      { modelDir, flavors: found, supported },
    );
  }
  const [flavor, servable] = chosen;
  const config = model.flavors[flavor] ?? {};
  const file = config[servable.fileKey];
  if (typeof file !== 'string' || file === '') {
    throw new InvalidParameterError(
      `${model.source}: the ${flavor} flavor names no model file ` +
        `("${servable.fileKey}: ${servable.example}").`,
      { modelDir, flavor },
    );
  }
  const relative = normalize(file);
  if (isAbsolute(relative) || relative === '..' || relative.startsWith(`..${sep}`)) {
    throw new InvalidParameterError(
      `${model.source}: the ${flavor} flavor's ${servable.fileKey} path '${file}' leaves the ` +
        'model directory.',
      { modelDir, flavor, [servable.fileKey]: file },
    );
  }
  return {
    runtime: servable.runtime,
    flavor,
    modelFile: join(modelDir, relative),
    config,
  };
}

/**
 * The protocol view of a signature schema: one {@link TensorSpec} per tensor or column.
 * Columns become 1-D tensors of any length (one value per row). Unnamed tensors get the name
 * `unnamedName(index)`; entries without a protocol datatype are left out.
 */
export function schemaToTensorSpecs(
  schema: SignatureSchema,
  unnamedName: (index: number) => string = (index) => `input-${index}`,
): TensorSpec[] {
  const specs: TensorSpec[] = [];
  if (schema.kind === 'tensor') {
    schema.tensors.forEach((tensor, index) => {
      if (tensor.datatype === undefined) return;
      specs.push({
        name: tensor.name ?? unnamedName(index),
        datatype: tensor.datatype,
        shape: [...tensor.shape],
      });
    });
  } else {
    schema.columns.forEach((column, index) => {
      if (column.datatype === undefined) return;
      specs.push({
        name: column.name ?? unnamedName(index),
        datatype: column.datatype,
        shape: [-1],
      });
    });
  }
  return specs;
}

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import { stringify as stringifyYaml } from 'yaml';
import { InvalidParameterError } from '@modelyard/core';
import { DECISION_THRESHOLD } from './train.js';
import type { LogisticModel } from './train.js';

const { onnx } = onnxProto;

/**
 * The ONNX IR version written: 8, the newest `onnx-proto` 8.0.1 knows (it is generated from
 * ONNX 1.10.2); onnxruntime-node 1.30 reads IR versions up to 11.
 */
export const ONNX_IR_VERSION = 8;
/** The default-domain operator set the graph uses (every operator in it exists since 13). */
export const ONNX_OPSET = 13;
/** The ONNX release whose schema `onnx-proto` 8.0.1 encodes; written as `onnx_version`. */
export const ONNX_VERSION = '1.10.2';
/** The graph's input: float32 `[N, F]`, the raw (unstandardised) features. */
export const INPUT_NAME = 'features';
/** The graph's first output: float32 `[N, 1]`, the probability of churn. */
export const PROBABILITY_OUTPUT = 'probability';
/** The graph's second output: int64 `[N, 1]`, 1 where the probability is above the threshold. */
export const LABEL_OUTPUT = 'label';
/** The name of the model file in an MLflow model folder. */
export const ONNX_FILE_NAME = 'model.onnx';

const BATCH_DIM = 'N';

/** Options of {@link buildOnnxModel}. */
export interface OnnxExportOptions {
  /** The graph's name. Default `churn_logistic_regression`. */
  graphName?: string;
  /** The `label` output is 1 where the probability is above this. Default 0.5. */
  threshold?: number;
}

function checkModel(model: LogisticModel): void {
  const width = model.featureNames.length;
  const parts = { weights: model.weights, mean: model.mean, std: model.std };
  for (const [name, values] of Object.entries(parts)) {
    if (values.length !== width) {
      throw new InvalidParameterError(
        `The model has ${width} features but ${values.length} ${name}; a model from train() ` +
          'has one of each per feature.',
        { featureCount: width, [name]: values.length },
      );
    }
    const bad = values.findIndex((value) => !Number.isFinite(value));
    if (bad !== -1) {
      throw new InvalidParameterError(
        `${name}[${bad}] is ${values[bad]}; every parameter must be a finite number.`,
        { [name]: values[bad], index: bad },
      );
    }
  }
  const zero = model.std.findIndex((value) => value === 0);
  if (zero !== -1) {
    throw new InvalidParameterError(
      `std[${zero}] (feature '${model.featureNames[zero]}') is 0; the graph divides by it. ` +
        'fitStandardizer uses 1 for constant features.',
      { feature: model.featureNames[zero] },
    );
  }
  if (!Number.isFinite(model.bias)) {
    throw new InvalidParameterError(`The bias is ${model.bias}; it must be a finite number.`, {
      bias: model.bias,
    });
  }
}

function floatTensor(name: string, dims: number[], values: ArrayLike<number>): Onnx.ITensorProto {
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, floatData: Array.from(values) };
}

function valueInfo(
  name: string,
  elemType: Onnx.TensorProto.DataType,
  dims: (number | string)[],
): Onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: {
          dim: dims.map((dim) => (typeof dim === 'string' ? { dimParam: dim } : { dimValue: dim })),
        },
      },
    },
  };
}

/**
 * Builds the ONNX graph of a {@link LogisticModel} and returns the serialised `ModelProto`:
 *
 * ```
 * features [N, F] -> Sub(mean) -> Div(std) -> MatMul(weights [F, 1]) -> Add(bias) -> Sigmoid
 *   -> probability [N, 1] -> Greater(threshold) -> Cast(int64) -> label [N, 1]
 * ```
 *
 * The batch dimension is symbolic (`N`), so any number of rows runs in one call. The feature
 * names and the threshold are kept in the model's metadata properties.
 *
 * @throws InvalidParameterError when the model's parameters do not match its features or are
 *   not finite.
 */
export function buildOnnxModel(model: LogisticModel, options: OnnxExportOptions = {}): Uint8Array {
  checkModel(model);
  const { graphName = 'churn_logistic_regression', threshold = DECISION_THRESHOLD } = options;
  const width = model.featureNames.length;
  const { FLOAT, INT64 } = onnx.TensorProto.DataType;
  const node = (opType: string, input: string[], output: string[]): Onnx.INodeProto => ({
    opType,
    input,
    output,
    name: output[0] ?? opType,
  });
  const proto: Onnx.IModelProto = {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: '@modelyard/example-churn',
    producerVersion: '0.1.0',
    docString: 'Logistic regression of customer churn on standardised features.',
    metadataProps: [
      { key: 'feature_names', value: JSON.stringify(model.featureNames) },
      { key: 'threshold', value: String(threshold) },
    ],
    graph: {
      name: graphName,
      input: [valueInfo(INPUT_NAME, FLOAT, [BATCH_DIM, width])],
      output: [
        valueInfo(PROBABILITY_OUTPUT, FLOAT, [BATCH_DIM, 1]),
        valueInfo(LABEL_OUTPUT, INT64, [BATCH_DIM, 1]),
      ],
      initializer: [
        floatTensor('mean', [width], model.mean),
        floatTensor('std', [width], model.std),
        floatTensor('weights', [width, 1], model.weights),
        floatTensor('bias', [1], [model.bias]),
        floatTensor('threshold', [], [threshold]),
      ],
      node: [
        node('Sub', [INPUT_NAME, 'mean'], ['centred']),
        node('Div', ['centred', 'std'], ['standardised']),
        node('MatMul', ['standardised', 'weights'], ['score']),
        node('Add', ['score', 'bias'], ['logit']),
        node('Sigmoid', ['logit'], [PROBABILITY_OUTPUT]),
        node('Greater', [PROBABILITY_OUTPUT, 'threshold'], ['is_positive']),
        {
          ...node('Cast', ['is_positive'], [LABEL_OUTPUT]),
          attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: INT64 }],
        },
      ],
    },
  };
  const problem = onnx.ModelProto.verify(proto);
  if (problem !== null) throw new Error(`The ONNX model built is not valid: ${problem}`);
  return onnx.ModelProto.encode(proto).finish();
}

/** One tensor of an MLflow tensor signature, as `MLmodel` holds it. */
interface TensorSignature {
  type: 'tensor';
  name: string;
  'tensor-spec': { dtype: string; shape: number[] };
}

/**
 * The `MLmodel` document of the exported model: the `onnx` flavor (served by Modelyard's onnx
 * runtime and by `mlflow.onnx`), the `python_function` flavor that loads it through
 * `mlflow.onnx`, and a tensor signature: `features` float32 `[-1, F]` in; `probability` float32
 * `[-1, 1]` and `label` int64 `[-1, 1]` out.
 */
export function mlmodelDocument(model: LogisticModel): Record<string, unknown> {
  const width = model.featureNames.length;
  const tensor = (name: string, dtype: string, shape: number[]): TensorSignature => ({
    type: 'tensor',
    name,
    'tensor-spec': { dtype, shape },
  });
  return {
    flavors: {
      onnx: {
        code: null,
        data: ONNX_FILE_NAME,
        onnx_version: ONNX_VERSION,
        providers: ['CPUExecutionProvider'],
      },
      python_function: {
        data: ONNX_FILE_NAME,
        loader_module: 'mlflow.onnx',
      },
    },
    metadata: { feature_names: [...model.featureNames] },
    // MLflow writes each schema as a JSON string inside the YAML.
    signature: {
      inputs: JSON.stringify([tensor(INPUT_NAME, 'float32', [-1, width])]),
      outputs: JSON.stringify([
        tensor(PROBABILITY_OUTPUT, 'float32', [-1, 1]),
        tensor(LABEL_OUTPUT, 'int64', [-1, 1]),
      ]),
      params: null,
    },
  };
}

/** The files {@link writeMlflowModel} wrote. */
export interface MlflowModelFiles {
  /** The model folder (log it as an artifact and register the run's artifact path). */
  dir: string;
  /** `<dir>/model.onnx`. */
  onnxFile: string;
  /** `<dir>/MLmodel`. */
  mlmodelFile: string;
}

/**
 * Writes an MLflow model folder for `model` into `dir` (created if missing): `model.onnx` (see
 * {@link buildOnnxModel}) and `MLmodel` (see {@link mlmodelDocument}). `yard deployments create`
 * serves the folder, once logged and registered, with the onnx runtime as it is.
 *
 * @throws InvalidParameterError for an invalid model; the file system's error when `dir` cannot
 *   be written.
 */
export async function writeMlflowModel(
  model: LogisticModel,
  dir: string,
  options: OnnxExportOptions = {},
): Promise<MlflowModelFiles> {
  const bytes = buildOnnxModel(model, options);
  const onnxFile = join(dir, ONNX_FILE_NAME);
  const mlmodelFile = join(dir, 'MLmodel');
  await mkdir(dir, { recursive: true });
  await writeFile(onnxFile, bytes);
  await writeFile(mlmodelFile, stringifyYaml(mlmodelDocument(model)));
  return { dir, onnxFile, mlmodelFile };
}

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidParameterError } from '@modelyard/core';
import {
  numpyDtypeToDatatype,
  parseMlModel,
  planServing,
  readMlModel,
  schemaToTensorSpecs,
} from './mlmodel.js';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/iris-like-onnx', import.meta.url));

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('MLmodel files', () => {
  it('reads the onnx flavor and the tensor signature of an MLflow onnx model', async () => {
    const model = await readMlModel(FIXTURE);
    expect(Object.keys(model.flavors)).toEqual(['onnx', 'python_function']);
    expect(model.flavors['onnx']).toMatchObject({ data: 'model.onnx' });
    expect(model.flavors['python_function']).toMatchObject({ loader_module: 'mlflow.onnx' });
    expect(model.mlflowVersion).toBe('3.18.0');
    expect(model.signature?.inputs).toEqual({
      kind: 'tensor',
      tensors: [{ dtype: 'float32', datatype: 'FP32', shape: [-1, 20] }],
    });
    expect(model.signature?.outputs).toEqual({
      kind: 'tensor',
      tensors: [
        { name: 'label', dtype: 'int64', datatype: 'INT64', shape: [-1] },
        { name: 'probabilities', dtype: 'float32', datatype: 'FP32', shape: [-1, 3] },
      ],
    });
    const plan = planServing(model, FIXTURE);
    expect(plan).toMatchObject({ runtime: 'onnx', flavor: 'onnx' });
    expect(plan.modelFile).toBe(join(FIXTURE, 'model.onnx'));
  });

  it('reads column signatures with their MLflow types and optional columns', () => {
    const model = parseMlModel(
      [
        'flavors:',
        '  sklearn: {pickled_model: model.pkl}',
        'signature:',
        `  inputs: '[{"type": "double", "name": "sepal_length", "required": true},` +
          ` {"type": "long", "name": "count", "required": false}, {"type": "datetime", "name": "at"}]'`,
        `  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'`,
        `  params: '[{"name": "threshold", "type": "double", "default": 0.5, "shape": null}]'`,
      ].join('\n'),
      'MLmodel',
    );
    const inputs = model.signature?.inputs;
    expect(inputs).toEqual({
      kind: 'columns',
      columns: [
        { name: 'sepal_length', type: 'double', datatype: 'FP64', required: true },
        { name: 'count', type: 'long', datatype: 'INT64', required: false },
        { name: 'at', type: 'datetime', required: true },
      ],
    });
    expect(model.signature?.params).toEqual([
      { name: 'threshold', type: 'double', default: 0.5, shape: null },
    ]);
    expect(inputs && schemaToTensorSpecs(inputs)).toEqual([
      { name: 'sepal_length', datatype: 'FP64', shape: [-1] },
      { name: 'count', datatype: 'INT64', shape: [-1] },
    ]);
  });

  it('maps numpy dtype names, string dtypes included, to protocol datatypes', () => {
    expect(numpyDtypeToDatatype('float64')).toBe('FP64');
    expect(numpyDtypeToDatatype('bool')).toBe('BOOL');
    expect(numpyDtypeToDatatype('uint16')).toBe('UINT16');
    expect(numpyDtypeToDatatype('<U8')).toBe('BYTES');
    expect(numpyDtypeToDatatype('object')).toBe('BYTES');
    expect(numpyDtypeToDatatype('datetime64[ns]')).toBeUndefined();
  });

  it('names the flavors found and the ones served when no flavor is servable', () => {
    const model = parseMlModel(
      'flavors:\n  python_function: {loader_module: mlflow.sklearn}\n  sklearn: {}\n',
      '/m/MLmodel',
    );
    const error = thrown(() => planServing(model, '/models/iris'));
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error.message).toBe(
      'Model at /models/iris has flavors python_function, sklearn; Modelyard serves onnx, ' +
        'modelyard_tfjs, modelyard_js.',
    );
  });

  it('picks the tfjs and js runtimes from their flavors, each with its own file key', () => {
    const tfjs = parseMlModel('flavors:\n  modelyard_tfjs: {model: web/model.json}\n', 'M');
    expect(planServing(tfjs, '/models/pose')).toMatchObject({
      runtime: 'tfjs',
      flavor: 'modelyard_tfjs',
      modelFile: '/models/pose/web/model.json',
    });
    const js = parseMlModel('flavors:\n  modelyard_js: {module: model.mjs}\n', 'M');
    expect(planServing(js, '/models/rules')).toMatchObject({
      runtime: 'js',
      modelFile: '/models/rules/model.mjs',
    });
    const noModule = parseMlModel('flavors:\n  modelyard_js: {data: model.mjs}\n', 'M');
    expect(thrown(() => planServing(noModule, '/m')).message).toBe(
      'M: the modelyard_js flavor names no model file ("module: model.mjs").',
    );
  });

  it('prefers onnx when a model has several servable flavors, unless a runtime is named', () => {
    const both = parseMlModel(
      'flavors:\n  modelyard_js: {module: m.mjs}\n  onnx: {data: model.onnx}\n',
      'M',
    );
    expect(planServing(both, '/m').runtime).toBe('onnx');
    expect(planServing(both, '/m', 'js').modelFile).toBe('/m/m.mjs');
    const error = thrown(() => planServing(both, '/m', 'tfjs'));
    expect(error.message).toBe(
      'Model at /m has flavors modelyard_js, onnx; the tfjs runtime serves modelyard_tfjs.',
    );
  });

  it('refuses an onnx flavor whose data path leaves the model directory', () => {
    const model = parseMlModel('flavors:\n  onnx: {data: ../../etc/passwd}\n', 'MLmodel');
    expect(thrown(() => planServing(model, '/models/x')).message).toContain(
      "data path '../../etc/passwd' leaves the model directory",
    );
    const noData = parseMlModel('flavors:\n  onnx: {}\n', 'MLmodel');
    expect(thrown(() => planServing(noData, '/models/x')).message).toContain('names no model file');
  });

  it('refuses malformed files with the reason', () => {
    expect(thrown(() => parseMlModel('flavors: [', 'a/MLmodel')).message).toMatch(
      /^a\/MLmodel: not valid YAML/,
    );
    expect(thrown(() => parseMlModel('artifact_path: model\n', 'MLmodel')).message).toContain(
      'has no "flavors"',
    );
    expect(
      thrown(() => parseMlModel("flavors: {onnx: {}}\nsignature:\n  inputs: '[{'\n", 'MLmodel'))
        .message,
    ).toContain('signature inputs is not valid JSON');
    expect(
      thrown(() =>
        parseMlModel(
          `flavors: {onnx: {}}\nsignature:\n  inputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float32"}}]'\n`,
          'MLmodel',
        ),
      ).message,
    ).toContain('signature inputs[0] is a tensor without a valid "tensor-spec"');
    expect(
      thrown(() =>
        parseMlModel(
          `flavors: {onnx: {}}\nsignature:\n  inputs: '[{"type": "double"}, {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [1]}}]'\n`,
          'MLmodel',
        ),
      ).message,
    ).toContain('mixes tensor and column specs');
  });

  describe('in a directory', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'yard-mlmodel-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('says when the directory has no MLmodel file', async () => {
      await expect(readMlModel(dir)).rejects.toThrow(
        `No MLmodel file in ${dir}; Modelyard serves MLflow model directories`,
      );
    });
  });
});

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadChurnTable, stratifiedSplit } from './dataset.js';
import type { Split } from './dataset.js';
import {
  INPUT_NAME,
  LABEL_OUTPUT,
  ONNX_IR_VERSION,
  ONNX_OPSET,
  PROBABILITY_OUTPUT,
  buildOnnxModel,
  writeMlflowModel,
} from './onnx-export.js';
import type { MlflowModelFiles } from './onnx-export.js';
import { predictLabels, predictProba, train } from './train.js';
import type { LogisticModel } from './train.js';

const { onnx } = onnxProto;

describe('the exported ONNX model', () => {
  let dir: string;
  let split: Split;
  let model: LogisticModel;
  let files: MlflowModelFiles;
  let session: ort.InferenceSession;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'churn-onnx-'));
    split = stratifiedSplit(await loadChurnTable(), { seed: 42 });
    model = train(split.train);
    files = await writeMlflowModel(model, join(dir, 'model'));
    session = await ort.InferenceSession.create(files.onnxFile);
  });

  afterAll(async () => {
    await session.release();
    await rm(dir, { recursive: true, force: true });
  });

  async function runOnnx(features: Float32Array): Promise<ort.InferenceSession.OnnxValueMapType> {
    const width = model.featureNames.length;
    const input = new ort.Tensor('float32', features, [features.length / width, width]);
    return session.run({ [INPUT_NAME]: input });
  }

  it('loads in onnxruntime with the declared inputs and outputs', () => {
    expect(session.inputNames).toEqual([INPUT_NAME]);
    expect(session.outputNames).toEqual([PROBABILITY_OUTPUT, LABEL_OUTPUT]);
  });

  it('gives the TypeScript model’s probabilities and labels on the whole test split', async () => {
    const expected = predictProba(model, split.test.features);
    const outputs = await runOnnx(split.test.features);
    const probability = outputs[PROBABILITY_OUTPUT];
    const label = outputs[LABEL_OUTPUT];
    expect(probability?.type).toBe('float32');
    expect(probability?.dims).toEqual([split.test.rowCount, 1]);
    expect(label?.type).toBe('int64');
    expect(label?.dims).toEqual([split.test.rowCount, 1]);
    const got = probability?.data as Float32Array;
    let worst = 0;
    expected.forEach((p, i) => {
      worst = Math.max(worst, Math.abs(p - (got[i] ?? Number.NaN)));
    });
    expect(worst).toBeLessThan(1e-5);
    const labels = Array.from(label?.data as BigInt64Array, Number);
    expect(labels).toEqual(Array.from(predictLabels(expected)));
    // Both classes are predicted: the comparison covers both branches of the threshold.
    expect(new Set(labels)).toEqual(new Set([0, 1]));
  });

  it('runs batches of any size, one row included', async () => {
    const width = model.featureNames.length;
    const one = split.test.features.slice(0, width);
    const outputs = await runOnnx(one);
    expect(outputs[PROBABILITY_OUTPUT]?.dims).toEqual([1, 1]);
    expect((outputs[PROBABILITY_OUTPUT]?.data as Float32Array)[0]).toBeCloseTo(
      predictProba(model, one)[0] ?? Number.NaN,
      5,
    );
  });

  it('is a ModelProto of the declared IR version and opset, with the feature names', () => {
    const decoded = onnx.ModelProto.decode(buildOnnxModel(model));
    expect(Number(decoded.irVersion)).toBe(ONNX_IR_VERSION);
    expect(decoded.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([
      ['', ONNX_OPSET],
    ]);
    const graph = decoded.graph!;
    expect(graph.node!.map((n) => n.opType)).toEqual([
      'Sub',
      'Div',
      'MatMul',
      'Add',
      'Sigmoid',
      'Greater',
      'Cast',
    ]);
    const input = graph.input![0]?.type?.tensorType?.shape?.dim;
    expect(input?.[0]?.dimParam).toBe('N');
    expect(Number(input?.[1]?.dimValue)).toBe(model.featureNames.length);
    const names = decoded.metadataProps.find((p) => p.key === 'feature_names')?.value;
    expect(JSON.parse(names ?? 'null')).toEqual(model.featureNames);
  });

  it('writes an MLmodel with the onnx flavor and a tensor signature the server reads', async () => {
    const mlmodel = parseYaml(await readFile(files.mlmodelFile, 'utf8')) as {
      flavors: Record<string, Record<string, unknown>>;
      signature: { inputs: string; outputs: string; params: unknown };
      metadata: { feature_names: string[] };
    };
    expect(mlmodel.flavors['onnx']).toEqual({
      code: null,
      data: 'model.onnx',
      onnx_version: '1.10.2',
      providers: ['CPUExecutionProvider'],
    });
    expect(mlmodel.flavors['python_function']).toEqual({
      data: 'model.onnx',
      loader_module: 'mlflow.onnx',
    });
    const width = model.featureNames.length;
    expect(JSON.parse(mlmodel.signature.inputs)).toEqual([
      { type: 'tensor', name: 'features', 'tensor-spec': { dtype: 'float32', shape: [-1, width] } },
    ]);
    expect(JSON.parse(mlmodel.signature.outputs)).toEqual([
      { type: 'tensor', name: 'probability', 'tensor-spec': { dtype: 'float32', shape: [-1, 1] } },
      { type: 'tensor', name: 'label', 'tensor-spec': { dtype: 'int64', shape: [-1, 1] } },
    ]);
    expect(mlmodel.signature.params).toBeNull();
    expect(mlmodel.metadata.feature_names).toEqual(model.featureNames);
  });

  it('refuses a model whose parameters do not match its features', () => {
    expect(() => buildOnnxModel({ ...model, std: Float32Array.of(1) })).toThrow(
      /has 10 features but 1 std/,
    );
    expect(() =>
      buildOnnxModel({ ...model, weights: model.weights.map((w, i) => (i === 2 ? NaN : w)) }),
    ).toThrow(/weights\[2\] is NaN/);
  });
});

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  describeField,
  mlModelPath,
  runArtifactLocation,
  signatureFromMlModel,
} from '../src/model-signature.js';
import { IRIS_MODEL_DIR } from './fixtures.js';

const FIXTURE = join(IRIS_MODEL_DIR, 'MLmodel');

describe('the signature of an MLmodel file', () => {
  it('reads the tensor signature MLflow wrote for the ONNX fixture', async () => {
    const signature = signatureFromMlModel(await readFile(FIXTURE, 'utf8'));
    expect(signature).toEqual({
      inputs: [{ name: null, type: 'float32', shape: [-1, 20], required: true }],
      outputs: [
        { name: 'label', type: 'int64', shape: [-1], required: true },
        { name: 'probabilities', type: 'float32', shape: [-1, 3], required: true },
      ],
    });
    expect(signature?.inputs?.map(describeField)).toEqual(['float32 [-1, 20]']);
  });

  it('reads column signatures folded over several lines, with doubled quotes and comments', () => {
    const text = [
      'artifact_path: model',
      'signature:',
      '  inputs: \'[{"type": "double", "name": "x"}, {"type": "string", "name":',
      '    "it\'\'s", "required": false}]\'',
      '  outputs: "[{\\"type\\": \\"long\\"}]"  ',
      '  params: null',
      'utc_time_created: 2026-01-01',
    ].join('\n');
    expect(signatureFromMlModel(text)).toEqual({
      inputs: [
        { name: 'x', type: 'double', shape: null, required: true },
        { name: "it's", type: 'string', shape: null, required: false },
      ],
      outputs: [{ name: null, type: 'long', shape: null, required: true }],
    });
    expect(describeField({ name: 'y', type: 'string', shape: null, required: false })).toBe(
      'string (optional)',
    );
  });

  it('reads an unquoted (YAML list) side and a missing side', () => {
    const text = 'signature:\n  inputs: [{"type": "float"}]   # a comment\n';
    expect(signatureFromMlModel(text)).toEqual({
      inputs: [{ name: null, type: 'float', shape: null, required: true }],
      outputs: null,
    });
  });

  it('answers undefined for a file without a signature', () => {
    expect(signatureFromMlModel('flavors:\n  python_function: {}\n')).toBeUndefined();
  });

  it('says what is wrong with a signature that is not JSON', () => {
    expect(() => signatureFromMlModel("signature:\n  inputs: '[{oops'\n")).toThrow(
      "the signature's inputs are not JSON: [{oops",
    );
    expect(() => signatureFromMlModel("signature:\n  inputs: '[1,\n")).toThrow(/not YAML/);
  });
});

describe('where a version’s model files are', () => {
  it('reads runs:/ sources', () => {
    expect(runArtifactLocation('runs:/abc123/model', 'abc123')).toEqual({
      runId: 'abc123',
      path: 'model',
    });
    expect(runArtifactLocation('runs:/abc123/nested/model/', null)).toEqual({
      runId: 'abc123',
      path: 'nested/model',
    });
    expect(runArtifactLocation('runs:/abc123', null)).toEqual({ runId: 'abc123', path: '' });
  });

  it("reads an artifact URI of the version's own run", () => {
    expect(runArtifactLocation('mlflow-artifacts:/1/abc123/artifacts/model', 'abc123')).toEqual({
      runId: 'abc123',
      path: 'model',
    });
    expect(runArtifactLocation('s3://bucket/1/abc123/artifacts', 'abc123')).toEqual({
      runId: 'abc123',
      path: '',
    });
  });

  it('gives up on sources the run API cannot read', () => {
    expect(runArtifactLocation('models:/m-0123', 'abc123')).toBeUndefined();
    expect(runArtifactLocation('s3://bucket/model', null)).toBeUndefined();
    expect(runArtifactLocation('s3://bucket/1/abc123/artifactsX/m', 'abc123')).toBeUndefined();
  });

  it('names the MLmodel file inside the folder', () => {
    expect(mlModelPath('model')).toBe('model/MLmodel');
    expect(mlModelPath('')).toBe('MLmodel');
  });
});

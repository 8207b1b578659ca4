import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidParameterError, YardError } from '@modelyard/core';
import type { Tensor } from '@modelyard/core';
import { createJsRuntime } from './js-runtime.js';
import type { PooledModel } from './pooled-model.js';

const RULES = fileURLToPath(new URL('../../test/fixtures/rules-js/', import.meta.url));
const FAULTY = fileURLToPath(new URL('../../test/fixtures/faulty-js/', import.meta.url));

function features(rows: [number, number][]): Tensor {
  return {
    name: 'features',
    datatype: 'FP32',
    shape: [rows.length, 2],
    data: Float32Array.from(rows.flat()),
  };
}

function mode(value: number): Record<string, Tensor> {
  return { mode: { name: 'mode', datatype: 'INT32', shape: [1], data: Int32Array.of(value) } };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject');
}

async function withModelDir<T>(
  files: Record<string, string>,
  body: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'yard-js-'));
  try {
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('js runtime', () => {
  let rules: PooledModel;
  let faulty: PooledModel;

  beforeAll(async () => {
    [rules, faulty] = await Promise.all([
      createJsRuntime().load(RULES, { name: 'rules', replicas: 2 }),
      createJsRuntime().load(FAULTY, { name: 'faulty' }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([rules.close(), faulty.close()]);
  });

  it("declares the module's signature as the model's inputs and outputs", () => {
    expect(rules.flavor).toBe('js');
    expect(rules.inputs).toEqual([{ name: 'features', datatype: 'FP32', shape: [-1, 2] }]);
    expect(rules.outputs).toEqual([
      { name: 'decision', datatype: 'INT32', shape: [-1] },
      { name: 'rule', datatype: 'BYTES', shape: [-1] },
    ]);
  });

  it('falls back to the MLflow signature when the module exports none', () => {
    expect(faulty.inputs).toEqual([{ name: 'mode', datatype: 'INT32', shape: [1] }]);
    expect(faulty.outputs).toEqual([{ name: 'echo', datatype: 'INT32', shape: [1] }]);
  });

  it('runs the rules of an async predict row by row', async () => {
    const outputs = await rules.infer({
      features: features([
        [50, 400],
        [1500, 10],
        [1500, 400],
        [20, 3],
      ]),
    });
    expect(outputs['decision']).toEqual({
      name: 'decision',
      datatype: 'INT32',
      shape: [4],
      data: Int32Array.of(0, 2, 1, 1),
    });
    expect(outputs['rule']?.data).toEqual([
      'default',
      'large-amount-new-account',
      'large-amount',
      'new-account',
    ]);
  });

  it('passes the requested outputs to predict and returns only those', async () => {
    const outputs = await rules.infer(
      { features: features([[1500, 10]]) },
      { requestedOutputs: ['rule'] },
    );
    expect(Object.keys(outputs)).toEqual(['rule']);
    expect(outputs['rule']?.data).toEqual(['large-amount-new-account']);
  });

  it('serves concurrent requests on two replicas with the right answer for each', async () => {
    const requests = Array.from({ length: 40 }, (_, i) => {
      const amount = i % 2 === 0 ? 10 : 5000;
      return rules
        .infer({ features: features([[amount, 100]]) })
        .then((outputs) => ({ amount, decision: outputs['decision']?.data[0] }));
    });
    for (const { amount, decision } of await Promise.all(requests)) {
      expect(decision).toBe(amount === 10 ? 0 : 1);
    }
    expect(rules.status()).toMatchObject({ replicas: 2, readyReplicas: 2, inFlight: 0 });
  });

  it('checks requests against the declared inputs before running predict', async () => {
    const error = await rejection(
      rules.infer({
        features: { name: 'features', datatype: 'FP32', shape: [1, 3], data: new Float32Array(3) },
      }),
    );
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error.message).toBe(
      "Input 'features' has shape [1, 3], but model 'rules' expects [-1, 2] (FP32; -1 is any size).",
    );
  });

  it('answers 400 when predict rejects the request with INVALID_PARAMETER_VALUE', async () => {
    const error = await rejection(rules.infer({ features: features([[Number.NaN, 1]]) }));
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error.message).toBe(
      "Model 'rules' could not run the request: predict threw Error: row 0 has a NaN feature; " +
        'amount and age must be numbers',
    );
  });

  it('fails a request whose predict throws with its message, and keeps serving', async () => {
    const error = await rejection(faulty.infer(mode(1)));
    expect(error).toBeInstanceOf(YardError);
    expect(error).not.toBeInstanceOf(InvalidParameterError);
    expect(error).toMatchObject({ code: 'INTERNAL_ERROR' });
    expect(error.message).toBe(
      "Model 'faulty' could not run the request: predict threw Error: the rule table is corrupt",
    );
    const outputs = await faulty.infer(mode(0));
    expect(outputs['echo']?.data).toEqual(Int32Array.of(0));
    expect(faulty.status()).toMatchObject({ readyReplicas: 1, restarts: 0 });
  });

  it('fails with INTERNAL_ERROR naming the output when predict returns a wrong datatype', async () => {
    const error = await rejection(faulty.infer(mode(2)));
    expect(error).toMatchObject({ code: 'INTERNAL_ERROR' });
    expect(error.message).toBe(
      "Model 'faulty' returned an invalid output 'echo': its datatype is FP64, but echo INT32 " +
        '[1] is declared.',
    );
  });

  it('names a missing output, a wrong element count and a result that is not an object', async () => {
    const missing = await rejection(faulty.infer(mode(3)));
    expect(missing.message).toBe(
      "Model 'faulty' returned an invalid output 'echo': it is missing from the result.",
    );
    const count = await rejection(faulty.infer(mode(5)));
    expect(count.message).toBe(
      "Model 'faulty' returned an invalid output 'echo': it has 2 elements, but its shape [1] " +
        'needs 1.',
    );
    const notObject = await rejection(faulty.infer(mode(4)));
    expect(notObject).toMatchObject({ code: 'INTERNAL_ERROR' });
    expect(notObject.message).toBe(
      "Model 'faulty' could not run the request: predict returned a number, not an object of " +
        'output tensors (echo).',
    );
  });

  it('replaces a replica whose module stops its thread', async () => {
    const error = await rejection(faulty.infer(mode(6)));
    expect(error).toMatchObject({ code: 'INTERNAL_ERROR' });
    expect(error.message).toContain("Model 'faulty' replica 0 stopped unexpectedly (exit code 3)");
    // The replacement starts in the background; requests meanwhile wait in the queue.
    const outputs = await faulty.infer(mode(0));
    expect(outputs['echo']?.data).toEqual(Int32Array.of(0));
    expect(faulty.status()).toMatchObject({ readyReplicas: 1, restarts: 1 });
  });

  it('refuses a module without predict, and one without any signature, at load', async () => {
    const noPredict = await withModelDir(
      {
        MLmodel: 'flavors:\n  modelyard_js: {module: model.mjs}\n',
        'model.mjs': 'export const signature = { inputs: [], outputs: [] };\n',
      },
      (dir) => rejection(createJsRuntime().load(dir, { name: 'empty' })),
    );
    expect(noPredict).toBeInstanceOf(InvalidParameterError);
    expect(noPredict.message).toMatch(
      /^Model 'empty' could not be loaded: its module .*model\.mjs exports no predict function/,
    );
    const unsigned = await withModelDir(
      {
        MLmodel: 'flavors:\n  modelyard_js: {module: model.mjs}\n',
        'model.mjs': 'export function predict() { return {}; }\n',
      },
      (dir) => rejection(createJsRuntime().load(dir, { name: 'unsigned' })),
    );
    expect(unsigned.message).toBe(
      "Model 'unsigned' could not be loaded: it declares no signature: export `signature = " +
        '{ inputs, outputs }` from its module (TensorSpec lists) or log it with an MLflow ' +
        'tensor signature.',
    );
  });

  it('refuses a signature with an unknown datatype and a module that does not import', async () => {
    const badSpec = await withModelDir(
      {
        MLmodel: 'flavors:\n  modelyard_js: {module: model.mjs}\n',
        'model.mjs':
          "export const signature = { inputs: [{ name: 'x', datatype: 'float', shape: [1] }], " +
          'outputs: [] };\nexport function predict() { return {}; }\n',
      },
      (dir) => rejection(createJsRuntime().load(dir, { name: 'badspec' })),
    );
    expect(badSpec).toBeInstanceOf(InvalidParameterError);
    expect(badSpec.message).toBe(
      "Model 'badspec' cannot be served: its signature's inputs[0] has datatype \"float\", " +
        'which is not a protocol datatype (FP32, INT64, BYTES, …).',
    );
    const broken = await withModelDir(
      {
        MLmodel: 'flavors:\n  modelyard_js: {module: model.mjs}\n',
        'model.mjs': 'export function predict( {\n',
      },
      (dir) => rejection(createJsRuntime().load(dir, { name: 'broken' })),
    );
    expect(broken.message).toMatch(
      /^Model 'broken' could not be loaded: importing its module .*model\.mjs failed: SyntaxError/,
    );
  });
});

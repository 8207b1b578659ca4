import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidParameterError, YardError } from '@modelyard/core';
import type { Tensor } from '@modelyard/core';
import { createOnnxRuntime } from './onnx-runtime.js';
import type { OnnxModel } from './onnx-runtime.js';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/iris-like-onnx/', import.meta.url));

interface Expected {
  input: { name: string; shape: [number, number]; rows: number[][] };
  label: number[];
  probabilities: number[][];
}

const expected = JSON.parse(await readFile(`${FIXTURE}/expected.json`, 'utf8')) as Expected;
const FEATURES = expected.input.shape[1];

function features(rows: number): Tensor {
  const data = new Float32Array(rows * FEATURES);
  // Deterministic, varied values: a cheap LCG, so rows differ and answers are not constant.
  let state = 12345;
  for (let i = 0; i < data.length; i += 1) {
    state = (state * 1103515245 + 12345) % 2147483648;
    data[i] = (state / 2147483648) * 8 - 4;
  }
  return { name: 'float_input', datatype: 'FP32', shape: [rows, FEATURES], data };
}

function expectedInput(): Tensor {
  return {
    name: 'float_input',
    datatype: 'FP32',
    shape: expected.input.shape,
    data: Float32Array.from(expected.input.rows.flat()),
  };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject');
}

describe('onnx runtime', () => {
  let model: OnnxModel;

  beforeAll(async () => {
    model = await createOnnxRuntime().load(FIXTURE, {
      name: 'iris-like',
      replicas: 2,
      maxConcurrency: 4,
    });
  });

  afterAll(async () => {
    await model.close();
  });

  it('reports the inputs and outputs of the ONNX graph', () => {
    expect(model.flavor).toBe('onnx');
    expect(model.inputs).toEqual([{ name: 'float_input', datatype: 'FP32', shape: [-1, 20] }]);
    expect(model.outputs).toEqual([
      { name: 'label', datatype: 'INT64', shape: [-1] },
      { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] },
    ]);
  });

  it('answers what scikit-learn answers for the same rows', async () => {
    const outputs = await model.infer({ float_input: expectedInput() });
    const label = outputs['label'];
    const probabilities = outputs['probabilities'];
    expect(label?.datatype).toBe('INT64');
    expect(label?.shape).toEqual([expected.label.length]);
    expect(Array.from(label?.data as BigInt64Array, Number)).toEqual(expected.label);
    expect(probabilities?.datatype).toBe('FP32');
    expect(probabilities?.shape).toEqual([expected.label.length, 3]);
    const flat = Array.from(probabilities?.data as Float32Array);
    expected.probabilities.flat().forEach((p, i) => {
      expect(Math.abs((flat[i] ?? Number.NaN) - p)).toBeLessThan(1e-5);
    });
  });

  it('returns only the requested outputs and accepts a Map of inputs', async () => {
    const outputs = await model.infer(new Map([['float_input', expectedInput()]]), {
      requestedOutputs: ['probabilities'],
    });
    expect(Object.keys(outputs)).toEqual(['probabilities']);
  });

  it('moves the input buffers to the worker when asked to transfer them', async () => {
    const input = expectedInput();
    const outputs = await model.infer({ float_input: input }, { transferInputs: true });
    expect(Array.from(outputs['label']?.data as BigInt64Array, Number)).toEqual(expected.label);
    expect(input.data.length).toBe(0);
  });

  it('serves 50 concurrent requests on 2 replicas with correct answers', async () => {
    const requests = Array.from({ length: 50 }, (_, i) => {
      const row = i % expected.label.length;
      const tensor: Tensor = {
        name: 'float_input',
        datatype: 'FP32',
        shape: [1, FEATURES],
        data: Float32Array.from(expected.input.rows[row] ?? []),
      };
      return model.infer({ float_input: tensor }).then((outputs) => ({ row, outputs }));
    });
    const results = await Promise.all(requests);
    for (const { row, outputs } of results) {
      expect(Number((outputs['label']?.data as BigInt64Array)[0])).toBe(expected.label[row]);
    }
    expect(model.status()).toMatchObject({ replicas: 2, readyReplicas: 2, inFlight: 0, queued: 0 });
  });

  it('refuses a wrong shape, naming the input and the expected shape', async () => {
    const tensor: Tensor = {
      name: 'float_input',
      datatype: 'FP32',
      shape: [2, 3],
      data: new Float32Array(6),
    };
    const error = await rejection(model.infer({ float_input: tensor }));
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error.message).toContain("Input 'float_input' has shape [2, 3]");
    expect(error.message).toContain('expects [-1, 20]');
  });

  it('refuses a wrong datatype, naming the input and the expected datatype', async () => {
    const tensor: Tensor = {
      name: 'float_input',
      datatype: 'FP64',
      shape: [1, FEATURES],
      data: new Float64Array(FEATURES),
    };
    const error = await rejection(model.infer({ float_input: tensor }));
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error.message).toBe(
      "Input 'float_input' has datatype FP64, but model 'iris-like' expects FP32 [-1, 20].",
    );
  });

  it('refuses a request that lacks an input, naming it', async () => {
    const error = await rejection(model.infer({}));
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error.message).toBe(
      "Model 'iris-like' needs input float_input FP32 [-1, 20], which the request lacks.",
    );
  });

  it('refuses an unknown input and an unknown requested output', async () => {
    const unknownInput = await rejection(
      model.infer({ float_input: expectedInput(), extra: expectedInput() }),
    );
    expect(unknownInput).toBeInstanceOf(InvalidParameterError);
    expect(unknownInput.message).toContain("has no input 'extra'");
    const unknownOutput = await rejection(
      model.infer({ float_input: expectedInput() }, { requestedOutputs: ['scores'] }),
    );
    expect(unknownOutput).toBeInstanceOf(InvalidParameterError);
    expect(unknownOutput.message).toContain("has no output 'scores'");
  });

  it('refuses data whose length disagrees with its shape', async () => {
    const tensor: Tensor = {
      name: 'float_input',
      datatype: 'FP32',
      shape: [2, FEATURES],
      data: new Float32Array(FEATURES),
    };
    const error = await rejection(model.infer({ float_input: tensor }));
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error.message).toContain("Input 'float_input' has 20 elements");
  });

  it('keeps the event loop responsive while long batches run', async () => {
    // Eight batches of 250k rows, sent at once: the replicas stay busy for a while. Had
    // inference run on this thread, the interval could not tick until every batch was done.
    const batches = Array.from({ length: 8 }, () => features(250_000));
    await model.infer({ float_input: features(1000) });
    let last = performance.now();
    let maxGap = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks += 1;
    }, 5);
    const started = performance.now();
    const results = await Promise.all(
      batches.map((batch) => model.infer({ float_input: batch }, { transferInputs: true })),
    );
    const elapsed = performance.now() - started;
    clearInterval(timer);
    for (const outputs of results) expect(outputs['label']?.shape).toEqual([250_000]);
    // Lenient (the machine is shared): the loop kept ticking through the work, and no pause
    // came near the whole duration.
    expect(ticks).toBeGreaterThan(2);
    expect(maxGap).toBeLessThan(Math.max(elapsed * 0.75, 50));
  });

  it('fails the running requests of a crashed replica, replaces it, and keeps serving', async () => {
    const crashing = await createOnnxRuntime().load(FIXTURE, { name: 'crashy', replicas: 1 });
    try {
      const pool = crashing.pool;
      const running = crashing.infer({ float_input: features(200_000) });
      const [worker] = pool.workers();
      await worker?.terminate();
      const error = await rejection(running);
      expect(error).toBeInstanceOf(YardError);
      expect(error).toMatchObject({ code: 'INTERNAL_ERROR' });
      expect(error.message).toContain("Model 'crashy' replica 0 stopped unexpectedly");
      const outputs = await crashing.infer({ float_input: expectedInput() });
      expect(Array.from(outputs['label']?.data as BigInt64Array, Number)).toEqual(expected.label);
      expect(crashing.status()).toMatchObject({ readyReplicas: 1, restarts: 1 });
    } finally {
      await crashing.close();
    }
  });

  it('fails requests after close instead of hanging', async () => {
    const closing = await createOnnxRuntime().load(FIXTURE, { name: 'closing' });
    await closing.close();
    const error = await rejection(closing.infer({ float_input: expectedInput() }));
    expect(error).toMatchObject({ code: 'TEMPORARILY_UNAVAILABLE' });
  });

  it('refuses a queue beyond its bound with RESOURCE_EXHAUSTED', async () => {
    const small = await createOnnxRuntime().load(FIXTURE, {
      name: 'small',
      maxConcurrency: 1,
      maxQueue: 1,
    });
    try {
      const settled = await Promise.allSettled([
        small.infer({ float_input: features(50_000) }),
        small.infer({ float_input: features(10) }),
        small.infer({ float_input: features(10) }),
      ]);
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
      expect(settled[2]).toMatchObject({ reason: { code: 'RESOURCE_EXHAUSTED' } });
    } finally {
      await small.close();
    }
  });

  it('refuses a model file onnxruntime cannot load, with its message', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(`${tmpdir()}/yard-onnx-`);
    try {
      await writeFile(`${dir}/MLmodel`, 'flavors:\n  onnx:\n    data: model.onnx\n');
      await writeFile(`${dir}/model.onnx`, 'not an onnx model');
      const error = await rejection(createOnnxRuntime().load(dir, { name: 'broken' }));
      expect(error).toBeInstanceOf(InvalidParameterError);
      expect(error.message).toMatch(/^Model 'broken' could not be loaded: /);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

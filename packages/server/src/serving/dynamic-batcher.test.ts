import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { YardError } from '@modelyard/core';
import type { Tensor } from '@modelyard/core';
import {
  DynamicBatcher,
  batchKey,
  concatRows,
  rowsOf,
  splitRows,
  unbatchableReason,
} from './dynamic-batcher.js';
import type { BatchRunner } from './dynamic-batcher.js';
import { createOnnxRuntime } from './onnx-runtime.js';
import type { OnnxModel } from './onnx-runtime.js';
import type { InferReply } from './replica-pool.js';
import type { WireTensor } from './worker-protocol.js';

/** A float32 tensor `x` of `rows` rows and `width` columns; row r holds r*10+base, … */
function rowsTensor(rows: number, base: number, width = 2): WireTensor {
  const data = new Float32Array(rows * width);
  for (let i = 0; i < data.length; i += 1) data[i] = base + i;
  return { name: 'x', type: 'float32', dims: [rows, width], data };
}

/**
 * A small real computation standing in for a model: `sum` is each row's sum ([rows]) and
 * `twice` each element doubled ([rows, width]). It records every run it is given.
 */
function rowModel(): { run: BatchRunner; runs: WireTensor[][] } {
  const runs: WireTensor[][] = [];
  const run: BatchRunner = (inputs, outputs) => {
    runs.push(inputs);
    const x = inputs.find((t) => t.name === 'x');
    if (x === undefined) return Promise.resolve({ ok: false, message: 'no input x' });
    const [rows = 0, width = 0] = x.dims;
    const data = x.data as Float32Array;
    const sum = new Float32Array(rows);
    for (let r = 0; r < rows; r += 1) {
      for (let c = 0; c < width; c += 1) sum[r] = (sum[r] ?? 0) + (data[r * width + c] ?? 0);
    }
    const all: Record<string, WireTensor> = {
      sum: { name: 'sum', type: 'float32', dims: [rows], data: sum },
      twice: { name: 'twice', type: 'float32', dims: [rows, width], data: data.map((v) => 2 * v) },
    };
    const reply: InferReply = {
      ok: true,
      outputs: outputs.map((name) => all[name] as WireTensor),
    };
    return Promise.resolve(reply);
  };
  return { run, runs };
}

function outputsOf(reply: InferReply): Record<string, { dims: number[]; data: number[] }> {
  if (!reply.ok) throw new Error(`expected a result, got: ${reply.message}`);
  return Object.fromEntries(
    reply.outputs.map((t) => [t.name, { dims: t.dims, data: Array.from(t.data as Float32Array) }]),
  );
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject');
}

describe('batching helpers', () => {
  it('concatenates typed arrays along the first dimension into one new array', () => {
    const a = rowsTensor(1, 0);
    const b = rowsTensor(2, 100);
    const joined = concatRows([a, b]);
    expect(joined.dims).toEqual([3, 2]);
    expect(joined.data).toBeInstanceOf(Float32Array);
    expect(Array.from(joined.data as Float32Array)).toEqual([0, 1, 100, 101, 102, 103]);
    const big: WireTensor = {
      name: 'ids',
      type: 'int64',
      dims: [1],
      data: BigInt64Array.from([7n]),
    };
    const bigJoined = concatRows([big, { ...big, data: BigInt64Array.from([9n]) }]);
    expect(bigJoined.data).toEqual(BigInt64Array.from([7n, 9n]));
  });

  it('concatenates string tensors as arrays', () => {
    const a: WireTensor = { name: 's', type: 'string', dims: [1, 2], data: ['a', 'b'] };
    const b: WireTensor = { name: 's', type: 'string', dims: [2, 2], data: ['c', 'd', 'e', 'f'] };
    expect(concatRows([a, b])).toEqual({
      name: 's',
      type: 'string',
      dims: [3, 2],
      data: ['a', 'b', 'c', 'd', 'e', 'f'],
    });
  });

  it('refuses to concatenate tensors of different trailing dimensions', () => {
    expect(() => concatRows([rowsTensor(1, 0, 2), rowsTensor(1, 0, 3)])).toThrow(
      /cannot be stacked/,
    );
  });

  it('splits a batch-major output by row counts and refuses one that is not', () => {
    const output = rowsTensor(6, 0);
    const pieces = splitRows(output, [1, 3, 2]);
    expect(pieces?.map((p) => p.dims)).toEqual([
      [1, 2],
      [3, 2],
      [2, 2],
    ]);
    expect(pieces?.map((p) => Array.from(p.data as Float32Array))).toEqual([
      [0, 1],
      [2, 3, 4, 5, 6, 7],
      [8, 9, 10, 11],
    ]);
    expect(
      splitRows({ name: 'total', type: 'float32', dims: [1], data: Float32Array.of(1) }, [1, 3]),
    ).toBe(undefined);
    expect(
      splitRows({ name: 'scalar', type: 'float32', dims: [], data: Float32Array.of(1) }, [1]),
    ).toBe(undefined);
  });

  it('groups requests by input layout and requested outputs', () => {
    const key = batchKey([rowsTensor(1, 0)], ['sum']);
    expect(batchKey([rowsTensor(5, 3)], ['sum'])).toBe(key);
    expect(batchKey([rowsTensor(1, 0, 3)], ['sum'])).not.toBe(key);
    expect(batchKey([rowsTensor(1, 0)], ['sum', 'twice'])).not.toBe(key);
  });

  it('reads the rows a request contributes, or none when its inputs disagree', () => {
    expect(rowsOf([rowsTensor(3, 0), { ...rowsTensor(3, 0), name: 'y' }])).toBe(3);
    expect(rowsOf([rowsTensor(3, 0), { ...rowsTensor(2, 0), name: 'y' }])).toBe(undefined);
    expect(rowsOf([{ name: 'x', type: 'float32', dims: [], data: new Float32Array(1) }])).toBe(
      undefined,
    );
  });

  it('tells a model whose output is not batch-major apart from one that is', () => {
    const inputs = [{ name: 'x', datatype: 'FP32' as const, shape: [-1, 4] }];
    expect(unbatchableReason(inputs, [{ name: 'y', datatype: 'FP32', shape: [-1] }])).toBe(
      undefined,
    );
    expect(unbatchableReason(inputs, [{ name: 'mean', datatype: 'FP32', shape: [4] }])).toMatch(
      /output 'mean' has shape \[4\]/,
    );
    expect(unbatchableReason([{ name: 'x', datatype: 'FP32', shape: [1, 4] }], [])).toMatch(
      /input 'x'/,
    );
  });
});

describe('dynamic batcher', () => {
  it('sends a batch when it reaches maxBatchSize and gives each request its own rows', async () => {
    const model = rowModel();
    const batcher = new DynamicBatcher({
      name: 'rows',
      maxBatchSize: 4,
      maxLatencyMs: 10_000,
      run: model.run,
    });
    const replies = await Promise.all(
      Array.from({ length: 8 }, (_, i) => batcher.submit([rowsTensor(1, i * 10)], ['sum'], false)),
    );
    // Two full batches, sent without waiting for the (long) latency bound.
    expect(model.runs.map((inputs) => inputs[0]?.dims)).toEqual([
      [4, 2],
      [4, 2],
    ]);
    replies.forEach((reply, i) => {
      expect(outputsOf(reply)).toEqual({ sum: { dims: [1], data: [2 * i * 10 + 1] } });
    });
    expect(batcher.status()).toMatchObject({
      enabled: true,
      batchesRun: 2,
      requestsBatched: 8,
      pending: 0,
    });
  });

  it('sends a partial batch once its oldest request has waited maxLatencyMs', async () => {
    const model = rowModel();
    const batcher = new DynamicBatcher({
      name: 'rows',
      maxBatchSize: 64,
      maxLatencyMs: 5,
      run: model.run,
    });
    const first = batcher.submit([rowsTensor(1, 0)], ['sum'], false);
    const second = batcher.submit([rowsTensor(1, 5)], ['sum'], false);
    expect(batcher.status().pending).toBe(2);
    const replies = await Promise.all([first, second]);
    expect(model.runs).toHaveLength(1);
    expect(replies.map((r) => outputsOf(r)['sum']?.data)).toEqual([[1], [11]]);
  });

  it('splits mixed row counts back correctly, for every output', async () => {
    const model = rowModel();
    const batcher = new DynamicBatcher({
      name: 'rows',
      maxBatchSize: 16,
      maxLatencyMs: 5,
      run: model.run,
    });
    const sizes = [1, 3, 2, 5];
    const replies = await Promise.all(
      sizes.map((rows, i) => batcher.submit([rowsTensor(rows, i * 100)], ['sum', 'twice'], false)),
    );
    expect(model.runs.map((inputs) => inputs[0]?.dims)).toEqual([[11, 2]]);
    replies.forEach((reply, i) => {
      const alone = rowsTensor(sizes[i] ?? 0, i * 100);
      const data = Array.from(alone.data as Float32Array);
      const sums = Array.from({ length: sizes[i] ?? 0 }, (_, r) => data[2 * r]! + data[2 * r + 1]!);
      expect(outputsOf(reply)).toEqual({
        sum: { dims: [sizes[i]], data: sums },
        twice: { dims: [sizes[i], 2], data: data.map((v) => 2 * v) },
      });
    });
  });

  it('sends the open batch first when a request would overflow it', async () => {
    const model = rowModel();
    const batcher = new DynamicBatcher({
      name: 'rows',
      maxBatchSize: 4,
      maxLatencyMs: 5,
      run: model.run,
    });
    await Promise.all([
      batcher.submit([rowsTensor(3, 0)], ['sum'], false),
      batcher.submit([rowsTensor(2, 0)], ['sum'], false),
    ]);
    expect(model.runs.map((inputs) => inputs[0]?.dims[0])).toEqual([3, 2]);
  });

  it('runs a request bigger than maxBatchSize alone and at once', async () => {
    const model = rowModel();
    const batcher = new DynamicBatcher({
      name: 'rows',
      maxBatchSize: 4,
      maxLatencyMs: 60_000,
      run: model.run,
    });
    const small = batcher.submit([rowsTensor(1, 0)], ['sum'], false);
    const big = rowsTensor(9, 0);
    const reply = await batcher.submit([big], ['sum'], false);
    expect(model.runs).toEqual([[big]]);
    expect(outputsOf(reply)['sum']?.dims).toEqual([9]);
    expect(batcher.status().pending).toBe(1);
    batcher.close();
    expect(await rejection(small)).toMatchObject({ code: 'TEMPORARILY_UNAVAILABLE' });
  });

  it('keeps requests of different trailing shapes or outputs in separate batches', async () => {
    const model = rowModel();
    const batcher = new DynamicBatcher({
      name: 'rows',
      maxBatchSize: 16,
      maxLatencyMs: 5,
      run: model.run,
    });
    const replies = await Promise.all([
      batcher.submit([rowsTensor(1, 0, 2)], ['sum'], false),
      batcher.submit([rowsTensor(1, 0, 3)], ['sum'], false),
      batcher.submit([rowsTensor(1, 10, 2)], ['sum'], false),
      batcher.submit([rowsTensor(1, 20, 2)], ['twice'], false),
    ]);
    expect(model.runs.map((inputs) => inputs[0]?.dims).sort()).toEqual([
      [1, 2],
      [1, 3],
      [2, 2],
    ]);
    expect(replies.map((r) => outputsOf(r))).toEqual([
      { sum: { dims: [1], data: [1] } },
      { sum: { dims: [1], data: [3] } },
      { sum: { dims: [1], data: [21] } },
      { twice: { dims: [1, 2], data: [40, 42] } },
    ]);
  });

  it('gives every request of a failed batch the same failure', async () => {
    const failing = new DynamicBatcher({
      name: 'rows',
      maxBatchSize: 3,
      maxLatencyMs: 5,
      run: () => Promise.resolve({ ok: false, message: 'the graph broke' }),
    });
    const replies = await Promise.all(
      [0, 1, 2].map((i) => failing.submit([rowsTensor(1, i)], ['sum'], false)),
    );
    expect(replies).toEqual(Array(3).fill({ ok: false, message: 'the graph broke' }));

    const error = new YardError('RESOURCE_EXHAUSTED', 'full', {});
    const rejecting = new DynamicBatcher({
      name: 'rows',
      maxBatchSize: 3,
      maxLatencyMs: 5,
      run: () => Promise.reject(error),
    });
    const settled = await Promise.allSettled(
      [0, 1, 2].map((i) => rejecting.submit([rowsTensor(1, i)], ['sum'], false)),
    );
    expect(settled).toEqual(Array(3).fill({ status: 'rejected', reason: error }));
  });

  it('switches batching off and reruns alone when an output comes back not batch-major', async () => {
    const runs: number[] = [];
    // Answers the mean of all rows: one value however many rows come in.
    const batcher = new DynamicBatcher({
      name: 'mean',
      maxBatchSize: 8,
      maxLatencyMs: 5,
      run: (inputs) => {
        const x = inputs[0] as WireTensor;
        runs.push(x.dims[0] ?? 0);
        const data = x.data as Float32Array;
        const mean = data.reduce((a, b) => a + b, 0) / data.length;
        return Promise.resolve({
          ok: true,
          outputs: [{ name: 'mean', type: 'float32', dims: [1], data: Float32Array.of(mean) }],
        });
      },
    });
    const replies = await Promise.all([
      batcher.submit([rowsTensor(1, 0)], ['mean'], false),
      batcher.submit([rowsTensor(1, 10)], ['mean'], false),
    ]);
    expect(replies.map((r) => outputsOf(r)['mean']?.data)).toEqual([[0.5], [10.5]]);
    expect(runs).toEqual([2, 1, 1]);
    expect(batcher.status()).toMatchObject({ enabled: false });
    expect(batcher.status().reason).toContain("output 'mean' came back with shape [1]");
    await batcher.submit([rowsTensor(1, 0)], ['mean'], false);
    expect(runs).toEqual([2, 1, 1, 1]);
  });

  it('refuses settings out of range', () => {
    const { run } = rowModel();
    expect(() => new DynamicBatcher({ name: 'm', maxBatchSize: 0, maxLatencyMs: 1, run })).toThrow(
      'batching.maxBatchSize must be a positive integer, got 0.',
    );
    expect(() => new DynamicBatcher({ name: 'm', maxBatchSize: 2, maxLatencyMs: -1, run })).toThrow(
      'batching.maxLatencyMs must be a number of milliseconds >= 0, got -1.',
    );
  });
});

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/iris-like-onnx/', import.meta.url));

interface Expected {
  input: { name: string; shape: [number, number]; rows: number[][] };
  label: number[];
  probabilities: number[][];
}

const expected = JSON.parse(await readFile(`${FIXTURE}/expected.json`, 'utf8')) as Expected;
const FEATURES = expected.input.shape[1];

function rowsInput(rows: readonly number[]): Tensor {
  const data = Float32Array.from(rows.flatMap((row) => expected.input.rows[row] ?? []));
  return { name: 'float_input', datatype: 'FP32', shape: [rows.length, FEATURES], data };
}

function expectAnswers(outputs: Record<string, Tensor>, rows: readonly number[]): void {
  expect(outputs['label']?.shape).toEqual([rows.length]);
  expect(Array.from(outputs['label']?.data as BigInt64Array, Number)).toEqual(
    rows.map((row) => expected.label[row]),
  );
  expect(outputs['probabilities']?.shape).toEqual([rows.length, 3]);
  const flat = Array.from(outputs['probabilities']?.data as Float32Array);
  rows
    .flatMap((row) => expected.probabilities[row] ?? [])
    .forEach((p, i) => {
      expect(Math.abs((flat[i] ?? Number.NaN) - p)).toBeLessThan(1e-5);
    });
}

describe('dynamic batching of an onnx model', () => {
  let model: OnnxModel;

  beforeAll(async () => {
    model = await createOnnxRuntime().load(FIXTURE, {
      name: 'iris-batched',
      replicas: 1,
      batching: { maxBatchSize: 16, maxLatencyMs: 5 },
    });
  });

  afterAll(async () => {
    await model.close();
  });

  it('answers 64 concurrent single-row requests as scikit-learn does, in fewer runs', async () => {
    const before = model.status().batching?.batchesRun ?? 0;
    const results = await Promise.all(
      Array.from({ length: 64 }, async (_, i) => {
        const row = i % expected.label.length;
        return { row, outputs: await model.infer({ float_input: rowsInput([row]) }) };
      }),
    );
    for (const { row, outputs } of results) expectAnswers(outputs, [row]);
    const status = model.status();
    expect(status.batching).toMatchObject({ enabled: true, maxBatchSize: 16, pending: 0 });
    expect((status.batching?.batchesRun ?? 0) - before).toBeLessThan(64);
  });

  it('answers a lone request once its batch has waited', async () => {
    const outputs = await model.infer({ float_input: rowsInput([3]) });
    expectAnswers(outputs, [3]);
  });

  it('splits requests of mixed row counts back correctly', async () => {
    const requests = [[0], [1, 2, 3], [4, 5], [6, 7, 0, 1, 2]];
    const results = await Promise.all(
      requests.map((rows) => model.infer({ float_input: rowsInput(rows) })),
    );
    results.forEach((outputs, i) => {
      expectAnswers(outputs, requests[i] ?? []);
    });
  });

  it('runs a request bigger than maxBatchSize alone, with correct answers', async () => {
    const rows = Array.from({ length: 40 }, (_, i) => i % expected.label.length);
    const before = model.status().batching?.batchesRun ?? 0;
    const outputs = await model.infer({ float_input: rowsInput(rows) });
    expectAnswers(outputs, rows);
    expect((model.status().batching?.batchesRun ?? 0) - before).toBe(1);
  });

  it('refuses a malformed request before it joins a batch, and the batch still answers', async () => {
    const bad: Tensor = {
      name: 'float_input',
      datatype: 'FP32',
      shape: [1, 3],
      data: new Float32Array(3),
    };
    const [good, wrong] = await Promise.allSettled([
      model.infer({ float_input: rowsInput([2]) }),
      model.infer({ float_input: bad }),
    ]);
    expect(wrong).toMatchObject({
      status: 'rejected',
      reason: { code: 'INVALID_PARAMETER_VALUE' },
    });
    expect(good.status).toBe('fulfilled');
    if (good.status === 'fulfilled') expectAnswers(good.value, [2]);
  });

  it('fails every request of a batch whose run fails, with the same error', async () => {
    const busy = await createOnnxRuntime().load(FIXTURE, {
      name: 'iris-busy',
      maxConcurrency: 1,
      maxQueue: 1,
      batching: { maxBatchSize: 3, maxLatencyMs: 60_000 },
    });
    try {
      // Two requests bigger than the batch run alone: one occupies the replica, one fills the
      // queue, so the full batch of three small ones that follows is refused as a whole.
      const big = Array.from({ length: 1000 }, (_, i) => i % expected.label.length);
      const running = busy.infer({ float_input: rowsInput(big) });
      const queued = busy.infer({ float_input: rowsInput(big) });
      const settled = await Promise.allSettled(
        [0, 1, 2].map((row) => busy.infer({ float_input: rowsInput([row]) })),
      );
      const reasons = settled.map((s): unknown => (s.status === 'rejected' ? s.reason : s.status));
      expect(reasons[0]).toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
      expect(reasons[1]).toBe(reasons[0]);
      expect(reasons[2]).toBe(reasons[0]);
      expectAnswers(await running, big);
      expectAnswers(await queued, big);
    } finally {
      await busy.close();
    }
  });

  it('serves a model unbatched when batching is not asked for', async () => {
    const plain = await createOnnxRuntime().load(FIXTURE, { name: 'iris-plain' });
    try {
      expectAnswers(await plain.infer({ float_input: rowsInput([0, 1]) }), [0, 1]);
      expect(plain.status().batching).toBeUndefined();
    } finally {
      await plain.close();
    }
  });
});

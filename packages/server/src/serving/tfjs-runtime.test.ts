import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidParameterError } from '@modelyard/core';
import type { Tensor } from '@modelyard/core';
import type { PooledModel } from './pooled-model.js';
import { createTfjsRuntime } from './tfjs-runtime.js';

// A real TF.js graph model shipped in an npm package (a devDependency): MoveNet SinglePose
// Lightning as converted by @vladmandic/human: INT32 [1, 192, 192, 3] image -> FP32
// [1, 1, 17, 3] keypoints (y, x, score).
const HUMAN_MODELS = join(
  dirname(createRequire(import.meta.url).resolve('@vladmandic/human')),
  '..',
  'models',
);

const SIDE = 192;

function image(pixel: (y: number, x: number, channel: number) => number): Tensor {
  const data = new Int32Array(SIDE * SIDE * 3);
  for (let y = 0; y < SIDE; y += 1) {
    for (let x = 0; x < SIDE; x += 1) {
      for (let c = 0; c < 3; c += 1) data[(y * SIDE + x) * 3 + c] = pixel(y, x, c);
    }
  }
  return { name: 'input', datatype: 'INT32', shape: [1, SIDE, SIDE, 3], data };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject');
}

describe('tfjs runtime', () => {
  let root: string;
  let modelDir: string;
  let model: PooledModel;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'yard-tfjs-'));
    modelDir = join(root, 'movenet');
    await mkdir(join(modelDir, 'web'), { recursive: true });
    for (const file of ['movenet-lightning.json', 'movenet-lightning.bin']) {
      await copyFile(join(HUMAN_MODELS, file), join(modelDir, 'web', file));
    }
    await writeFile(
      join(modelDir, 'MLmodel'),
      'artifact_path: model\nflavors:\n  modelyard_tfjs:\n    model: web/movenet-lightning.json\n',
    );
    model = await createTfjsRuntime().load(modelDir, { name: 'movenet', replicas: 2 });
  }, 60_000);

  afterAll(async () => {
    await model.close();
    await rm(root, { recursive: true, force: true });
  });

  it("reports the graph's input and output with protocol datatypes", () => {
    expect(model.flavor).toBe('tfjs');
    expect(model.inputs).toEqual([{ name: 'input', datatype: 'INT32', shape: [1, 192, 192, 3] }]);
    expect(model.outputs).toEqual([{ name: 'Identity', datatype: 'FP32', shape: [1, 1, 17, 3] }]);
  });

  it('finds 17 keypoints with finite coordinates and scores in an image', async () => {
    const gradient = image((y, x, c) => (c === 0 ? y : c === 1 ? x : (x + y) % 256));
    const outputs = await model.infer({ input: gradient });
    const keypoints = outputs['Identity'];
    expect(keypoints?.datatype).toBe('FP32');
    expect(keypoints?.shape).toEqual([1, 1, 17, 3]);
    const values = Array.from(keypoints?.data as Float32Array);
    expect(values).toHaveLength(51);
    for (const value of values) {
      expect(Number.isFinite(value)).toBe(true);
      // y and x are normalised to the image, scores are probabilities.
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThanOrEqual(1);
    }
  });

  it('answers the same for the same image on either replica, and differently for another', async () => {
    const gradient = image((y, x, c) => (c === 0 ? y : c === 1 ? x : (x + y) % 256));
    const black = image(() => 0);
    const runs = await Promise.all([
      model.infer({ input: gradient }),
      model.infer({ input: gradient }),
      model.infer({ input: gradient }),
      model.infer({ input: black }),
    ]);
    const [first, ...rest] = runs.map((outputs) =>
      Array.from(outputs['Identity']?.data as Float32Array),
    );
    expect(rest[0]).toEqual(first);
    expect(rest[1]).toEqual(first);
    expect(rest[2]).not.toEqual(first);
    expect(model.status()).toMatchObject({ replicas: 2, readyReplicas: 2, inFlight: 0 });
  });

  it('refuses an image of the wrong size or datatype before running the graph', async () => {
    const small: Tensor = {
      name: 'input',
      datatype: 'INT32',
      shape: [1, 96, 96, 3],
      data: new Int32Array(96 * 96 * 3),
    };
    const wrongSize = await rejection(model.infer({ input: small }));
    expect(wrongSize).toBeInstanceOf(InvalidParameterError);
    expect(wrongSize.message).toContain("Input 'input' has shape [1, 96, 96, 3]");
    const floats: Tensor = {
      name: 'input',
      datatype: 'FP32',
      shape: [1, SIDE, SIDE, 3],
      data: new Float32Array(SIDE * SIDE * 3),
    };
    const wrongType = await rejection(model.infer({ input: floats }));
    expect(wrongType.message).toBe(
      "Input 'input' has datatype FP32, but model 'movenet' expects INT32 [1, 192, 192, 3].",
    );
  });

  it('refuses a layers model and a weight file outside the model directory', async () => {
    const dir = join(root, 'layers');
    await mkdir(dir);
    await writeFile(join(dir, 'MLmodel'), 'flavors:\n  modelyard_tfjs: {model: model.json}\n');
    await writeFile(
      join(dir, 'model.json'),
      JSON.stringify({ format: 'layers-model', modelTopology: { class_name: 'Sequential' } }),
    );
    const layers = await rejection(createTfjsRuntime().load(dir, { name: 'layers' }));
    expect(layers).toBeInstanceOf(InvalidParameterError);
    expect(layers.message).toContain(
      'is not a TensorFlow.js graph model (format "layers-model"); convert it with ' +
        'tensorflowjs_converter --output_format=tfjs_graph_model.',
    );
    await writeFile(
      join(dir, 'model.json'),
      JSON.stringify({
        format: 'graph-model',
        modelTopology: { node: [] },
        weightsManifest: [{ paths: ['../movenet/web/movenet-lightning.bin'], weights: [] }],
      }),
    );
    const escaping = await rejection(createTfjsRuntime().load(dir, { name: 'escaping' }));
    expect(escaping.message).toBe(
      "Model 'escaping' could not be loaded: its weight file " +
        "'../movenet/web/movenet-lightning.bin' lies outside the model directory.",
    );
  });
});

import { beforeAll, describe, expect, it } from 'vitest';
import { loadChurnTable, parseCsv, stratifiedSplit } from './dataset.js';
import type { Split } from './dataset.js';
import { evaluate } from './evaluate.js';
import { predictLabels, predictProba, train } from './train.js';
import type { LogisticModel } from './train.js';

describe('train', () => {
  let split: Split;
  let model: LogisticModel;
  beforeAll(async () => {
    split = stratifiedSplit(await loadChurnTable(), { seed: 42 });
    model = train(split.train);
  });

  it('learns a useful but imperfect churn model', () => {
    const metrics = evaluate(split.test.labels, predictProba(model, split.test.features));
    expect(metrics.roc_auc).toBeGreaterThan(0.75);
    expect(metrics.roc_auc).toBeLessThan(0.9);
    expect(metrics.accuracy).toBeGreaterThan(0.72); // the share of non-churners is ~0.72
  });

  it('learns the signs of the generating model', () => {
    const weight = (name: string): number =>
      model.weights[model.featureNames.indexOf(name)] ?? Number.NaN;
    expect(weight('tenure_months')).toBeLessThan(0);
    expect(weight('contract_two_year')).toBeLessThan(0);
    expect(weight('support_calls')).toBeGreaterThan(0);
    expect(weight('paperless_billing')).toBeGreaterThan(0);
  });

  it('gives identical weights when trained twice on the same seeded split', async () => {
    const again = train(stratifiedSplit(await loadChurnTable(), { seed: 42 }).train);
    expect(Array.from(again.weights)).toEqual(Array.from(model.weights));
    expect(again.bias).toBe(model.bias);
    expect(Array.from(again.mean)).toEqual(Array.from(model.mean));
    expect(Array.from(again.std)).toEqual(Array.from(model.std));
  });

  it('refuses a table with one class and options out of range', () => {
    const oneClass = parseCsv('x,churned\n1,0\n2,0\n');
    expect(() => train(oneClass)).toThrow(/needs rows of both classes/);
    const table = parseCsv('x,churned\n1,0\n2,1\n');
    expect(() => train(table, { steps: 0 })).toThrow(/steps is 0/);
    expect(() => train(table, { learningRate: -1 })).toThrow(/learningRate is -1/);
  });
});

describe('predictProba', () => {
  // sigmoid(bias + w * (x - mean) / std) with w = [2, -1], bias = 0.5, mean = [1, 0], std = [2, 1].
  const model: LogisticModel = {
    featureNames: ['a', 'b'],
    weights: Float32Array.of(2, -1),
    bias: 0.5,
    mean: Float32Array.of(1, 0),
    std: Float32Array.of(2, 1),
  };

  it('applies the standardisation, the weights and the sigmoid', () => {
    // Row 1: z = 0.5 + 2 * (3 - 1) / 2 - 1 * 1 = 1.5; row 2: z = 0.5 + 2 * (-1 - 1) / 2 - 0 = -1.5.
    const probabilities = predictProba(model, Float32Array.of(3, 1, -1, 0));
    expect(probabilities[0]).toBeCloseTo(1 / (1 + Math.exp(-1.5)), 7);
    expect(probabilities[1]).toBeCloseTo(1 / (1 + Math.exp(1.5)), 7);
    expect(Array.from(predictLabels(probabilities))).toEqual([1, 0]);
  });

  it('refuses values that do not make whole rows', () => {
    expect(() => predictProba(model, Float32Array.of(1, 2, 3))).toThrow(/whole rows of 2/);
  });
});

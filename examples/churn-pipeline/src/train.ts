import LogisticRegression from 'ml-logistic-regression';
import { Matrix } from 'ml-matrix';
import { InvalidParameterError } from '@modelyard/core';
import { fitStandardizer, standardize } from './dataset.js';
import type { Table } from './dataset.js';

/** Options of {@link train}. */
export interface TrainOptions {
  /** Full-batch gradient steps. Default 800 (converged on the churn data: see the README). */
  steps?: number;
  /**
   * The step size on the mean gradient of the log-likelihood over the training rows (the library
   * takes it on the summed gradient; {@link train} divides by the row count). Default 2, stable
   * on standardised features.
   */
  learningRate?: number;
}

/** The defaults of {@link TrainOptions}. */
export const DEFAULT_TRAIN_OPTIONS: Readonly<Required<TrainOptions>> = {
  steps: 800,
  learningRate: 2,
};

/**
 * A trained binary logistic regression on standardised features:
 * `P(label = 1 | x) = sigmoid(bias + sum_j weights[j] * (x[j] - mean[j]) / std[j])`.
 * Every parameter is float32 (as the ONNX graph holds it), so the TypeScript and ONNX
 * predictions differ only by float32 rounding in the arithmetic.
 */
export interface LogisticModel {
  /** The features, in the order the model reads them. */
  readonly featureNames: readonly string[];
  /** One weight per feature (of the standardised feature). */
  readonly weights: Float32Array;
  /** The intercept, a float32 value. */
  readonly bias: number;
  /** The training mean of each feature. */
  readonly mean: Float32Array;
  /** The training standard deviation of each feature (1 for a constant feature). */
  readonly std: Float32Array;
}

function positive(name: string, value: number, integer: boolean): number {
  if (!(Number.isFinite(value) && value > 0 && (!integer || Number.isInteger(value)))) {
    throw new InvalidParameterError(
      `${name} is ${value}; it must be a positive ${integer ? 'integer' : 'number'}.`,
      { [name]: value },
    );
  }
  return value;
}

/**
 * Trains a logistic regression on `table` with `ml-logistic-regression` (batch gradient ascent
 * from zero weights, deterministic: the same table and options give the same weights). The
 * features are standardised with the table's own mean and standard deviation first, and a
 * column of ones gives the intercept.
 *
 * @throws InvalidParameterError when the table lacks rows of either class or an option is out of
 *   range.
 * @example
 * ```ts
 * const { train: trainSet, test } = stratifiedSplit(await loadChurnTable(), { seed: 42 });
 * const model = train(trainSet);
 * const probabilities = predictProba(model, test.features);
 * ```
 */
export function train(table: Table, options: TrainOptions = {}): LogisticModel {
  const steps = positive('steps', options.steps ?? DEFAULT_TRAIN_OPTIONS.steps, true);
  const learningRate = positive(
    'learningRate',
    options.learningRate ?? DEFAULT_TRAIN_OPTIONS.learningRate,
    false,
  );
  const positives = table.labels.reduce((count, label) => count + label, 0);
  if (positives === 0 || positives === table.rowCount) {
    throw new InvalidParameterError(
      `The training table has ${table.rowCount} rows and ${positives} positives; a classifier ` +
        'needs rows of both classes.',
      { rowCount: table.rowCount, positives },
    );
  }
  const width = table.featureNames.length;
  const standardizer = fitStandardizer(table);
  const standardized = standardize(table.features, standardizer);
  const design: number[][] = [];
  for (let row = 0; row < table.rowCount; row += 1) {
    design.push([...standardized.subarray(row * width, (row + 1) * width), 1]);
  }
  const regression = new LogisticRegression({
    numSteps: steps,
    learningRate: learningRate / table.rowCount,
  });
  regression.train(new Matrix(design), Matrix.columnVector(Array.from(table.labels)));
  // The library trains classifier k on the target `label !== k`: classifier 0 scores
  // P(label = 1), the churn probability. (Classifier 1 is its mirror image and is not used.)
  const fitted = regression.classifiers[0]?.weights?.to1DArray();
  if (fitted?.length !== width + 1) {
    throw new Error(
      `ml-logistic-regression returned ${fitted?.length ?? 'no'} weights for ${width} features ` +
        'and the intercept; this example is written against its version 2.0.0.',
    );
  }
  return {
    featureNames: [...table.featureNames],
    weights: Float32Array.from(fitted.slice(0, width)),
    bias: Math.fround(fitted[width] ?? 0),
    mean: standardizer.mean,
    std: standardizer.std,
  };
}

/**
 * The probability of the positive class for each row of row-major `rows`
 * (`rows.length / featureNames.length` rows), computed in float64 from the model's float32
 * parameters and returned as float32 (as the ONNX graph returns it).
 *
 * @throws InvalidParameterError when `rows.length` is not a multiple of the feature count.
 */
export function predictProba(model: LogisticModel, rows: Float32Array): Float32Array {
  const width = model.featureNames.length;
  const x = standardize(rows, model);
  const count = x.length / width;
  const out = new Float32Array(count);
  for (let row = 0; row < count; row += 1) {
    let z = model.bias;
    for (let j = 0; j < width; j += 1) {
      z += (model.weights[j] ?? 0) * (x[row * width + j] ?? 0);
    }
    out[row] = 1 / (1 + Math.exp(-z));
  }
  return out;
}

/** The decision threshold: a row is predicted positive when its probability is above it. */
export const DECISION_THRESHOLD = 0.5;

/** 1 where the probability is above `threshold` (default 0.5), else 0. */
export function predictLabels(
  probabilities: Float32Array,
  threshold: number = DECISION_THRESHOLD,
): Uint8Array {
  return Uint8Array.from(probabilities, (p) => (p > threshold ? 1 : 0));
}

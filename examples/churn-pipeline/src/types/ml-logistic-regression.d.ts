// Types for ml-logistic-regression 2.0.0, which ships none: the subset this example uses, read
// from the package's lib/logreg.js (CommonJS, `module.exports = LogisticRegression`).
declare module 'ml-logistic-regression' {
  import type { Matrix } from 'ml-matrix';

  /** One binary classifier of the one-vs-all set. */
  interface LogisticRegressionTwoClasses {
    readonly numSteps: number;
    readonly learningRate: number;
    /** A 1 x columns row of weights, after `train`; `null` before. */
    readonly weights: Matrix | null;
    /** sigmoid(features · weights) per row. */
    testScores(features: Matrix): number[];
  }

  interface LogisticRegressionOptions {
    /** Full-batch gradient steps. Default 50000. */
    numSteps?: number;
    /** Multiplies the summed (not averaged) gradient. Default 5e-4. */
    learningRate?: number;
  }

  /**
   * One-vs-all logistic regression trained by batch gradient ascent from zero weights, without
   * an intercept (add a column of ones for one). Classifier `k` is trained on the target
   * `y !== k`, so `classifiers[k].testScores(x)` is the probability that `x` is NOT of class `k`.
   */
  class LogisticRegression {
    constructor(options?: LogisticRegressionOptions);
    readonly numberClasses: number;
    readonly classifiers: LogisticRegressionTwoClasses[];
    /** `features` rows x columns; `target` a column vector of class indices 0..k-1. */
    train(features: Matrix, target: Matrix): void;
    /** The class index of each row. */
    predict(features: Matrix): number[];
  }

  export = LogisticRegression;
}

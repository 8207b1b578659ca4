import { describe, expect, it } from 'vitest';
import {
  LOG_LOSS_EPSILON,
  accuracy,
  beatsChampion,
  evaluate,
  logLoss,
  precisionRecallF1,
  rocAuc,
} from './evaluate.js';
import type { ClassificationMetrics } from './evaluate.js';

// Four rows worked by hand: at 0.5 the predictions are 0, 0, 0, 1.
const labels = [0, 0, 1, 1];
const probabilities = [0.1, 0.4, 0.35, 0.8];

describe('evaluate', () => {
  it('computes accuracy at 0.5', () => {
    // Right: rows 0, 1 and 3.
    expect(accuracy(labels, probabilities)).toBe(0.75);
  });

  it('counts a probability of exactly 0.5 as negative, as the ONNX graph does', () => {
    expect(accuracy([0, 1], [0.5, 0.5])).toBe(0.5);
    expect(precisionRecallF1([0, 1], [0.5, 0.5])).toEqual({ precision: 0, recall: 0, f1: 0 });
  });

  it('computes the log loss', () => {
    // -(ln 0.9 + ln 0.6 + ln 0.35 + ln 0.8) / 4
    // = (0.1053605 + 0.5108256 + 1.0498221 + 0.2231436) / 4 = 0.4722880
    expect(logLoss(labels, probabilities)).toBeCloseTo(0.472288, 6);
  });

  it('clips probabilities of 0 and 1 in the log loss', () => {
    // Each row costs -ln(1e-15) = 34.54 (1 - (1 - 1e-15) is not exactly 1e-15 in float64).
    expect(logLoss([1, 0], [0, 1])).toBeCloseTo(-Math.log(LOG_LOSS_EPSILON), 2);
    expect(logLoss([1, 0], [1, 0])).toBeCloseTo(0, 12);
  });

  it('computes the ROC AUC', () => {
    // Positive/negative pairs ranked right: (0.35 > 0.1), (0.8 > 0.1), (0.8 > 0.4); wrong:
    // (0.35 < 0.4). 3 / 4.
    expect(rocAuc(labels, probabilities)).toBe(0.75);
  });

  it('counts tied scores one half in the ROC AUC', () => {
    // Positives 0.5, 0.9; negatives 0.5, 0.2: pairs 0.5 (tie) + 1 + 1 + 1 = 3.5 of 4.
    expect(rocAuc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])).toBe(0.875);
    expect(rocAuc([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3])).toBe(0.5);
    expect(rocAuc([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1])).toBe(1);
    expect(rocAuc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1])).toBe(0);
  });

  it('computes precision, recall and F1 at 0.5', () => {
    // One true positive of one predicted positive and two actual positives.
    const { precision, recall, f1 } = precisionRecallF1(labels, probabilities);
    expect(precision).toBe(1);
    expect(recall).toBe(0.5);
    expect(f1).toBeCloseTo(2 / 3, 12);
  });

  it('returns every metric at once', () => {
    const metrics = evaluate(labels, probabilities);
    expect(Object.keys(metrics).sort()).toEqual(
      ['accuracy', 'f1', 'log_loss', 'precision', 'recall', 'roc_auc'].sort(),
    );
    expect(metrics.roc_auc).toBe(0.75);
  });

  it('rejects inputs it cannot score', () => {
    expect(() => evaluate([0, 1], [0.2])).toThrow(/2 labels and 1 probabilities/);
    expect(() => evaluate([], [])).toThrow(/no rows/);
    expect(() => evaluate([0, 2], [0.2, 0.3])).toThrow(/labels\[1\] is 2/);
    expect(() => evaluate([0, 1], [0.2, 1.5])).toThrow(/probabilities\[1\] is 1.5/);
    expect(() => rocAuc([1, 1], [0.2, 0.3])).toThrow(/needs both classes/);
  });
});

describe('beatsChampion', () => {
  const candidate: ClassificationMetrics = {
    accuracy: 0.8,
    log_loss: 0.42,
    roc_auc: 0.81,
    precision: 0.7,
    recall: 0.5,
    f1: 0.58,
  };

  it('takes the alias when there is no champion', () => {
    expect(beatsChampion(candidate, undefined)).toBe(true);
  });

  it('compares the ROC AUC by default, and needs a strict gain', () => {
    expect(beatsChampion(candidate, { roc_auc: 0.8 })).toBe(true);
    expect(beatsChampion(candidate, { roc_auc: 0.81 })).toBe(false);
    expect(beatsChampion(candidate, { roc_auc: 0.8 }, { minImprovement: 0.02 })).toBe(false);
  });

  it('treats a lower log loss as better', () => {
    expect(beatsChampion(candidate, { log_loss: 0.5 }, { metric: 'log_loss' })).toBe(true);
    expect(beatsChampion(candidate, { log_loss: 0.4 }, { metric: 'log_loss' })).toBe(false);
  });

  it('refuses a champion that lacks the metric', () => {
    expect(() => beatsChampion(candidate, { accuracy: 0.7 })).toThrow(/champion's roc_auc/);
  });
});

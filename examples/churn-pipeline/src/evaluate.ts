import { InvalidParameterError } from '@modelyard/core';
import { DECISION_THRESHOLD } from './train.js';

/** How a binary classifier did on labelled rows; each value is a metric to log. */
export interface ClassificationMetrics {
  /** Share of rows whose predicted label (probability > threshold) is right. */
  accuracy: number;
  /** Mean negative log-likelihood, probabilities clipped to [1e-15, 1 - 1e-15]. */
  log_loss: number;
  /** Area under the ROC curve, exact (tied scores count one half). */
  roc_auc: number;
  /** Of the rows predicted positive, the share that are; 0 when none is predicted positive. */
  precision: number;
  /** Of the positive rows, the share predicted positive; 0 when there is none. */
  recall: number;
  /** Harmonic mean of precision and recall; 0 when both are 0. */
  f1: number;
}

/** Probabilities are clipped this far from 0 and 1 in {@link logLoss}, as scikit-learn does. */
export const LOG_LOSS_EPSILON = 1e-15;

function checkInputs(labels: ArrayLike<number>, probabilities: ArrayLike<number>): void {
  if (labels.length !== probabilities.length) {
    throw new InvalidParameterError(
      `There are ${labels.length} labels and ${probabilities.length} probabilities; pass one ` +
        'probability per label.',
      { labels: labels.length, probabilities: probabilities.length },
    );
  }
  if (labels.length === 0) {
    throw new InvalidParameterError('Cannot evaluate on no rows.', {});
  }
  for (let i = 0; i < labels.length; i += 1) {
    const label = labels[i];
    const p = probabilities[i] ?? Number.NaN;
    if (label !== 0 && label !== 1) {
      throw new InvalidParameterError(`labels[${i}] is ${label}; labels must be 0 or 1.`, {
        index: i,
        label,
      });
    }
    if (!(p >= 0 && p <= 1)) {
      throw new InvalidParameterError(
        `probabilities[${i}] is ${p}; probabilities must be within [0, 1].`,
        { index: i, probability: p },
      );
    }
  }
}

/** Share of rows whose label is predicted right at `threshold` (probability above it: 1). */
export function accuracy(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  threshold: number = DECISION_THRESHOLD,
): number {
  checkInputs(labels, probabilities);
  let right = 0;
  for (let i = 0; i < labels.length; i += 1) {
    if (((probabilities[i] ?? 0) > threshold ? 1 : 0) === labels[i]) right += 1;
  }
  return right / labels.length;
}

/** Mean negative log-likelihood of the labels (natural log), see {@link LOG_LOSS_EPSILON}. */
export function logLoss(labels: ArrayLike<number>, probabilities: ArrayLike<number>): number {
  checkInputs(labels, probabilities);
  let total = 0;
  for (let i = 0; i < labels.length; i += 1) {
    const p = Math.min(1 - LOG_LOSS_EPSILON, Math.max(LOG_LOSS_EPSILON, probabilities[i] ?? 0));
    total -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return total / labels.length;
}

/**
 * The exact area under the ROC curve: the probability that a random positive row scores above a
 * random negative one, ties counting one half (the Mann-Whitney U statistic over
 * positives x negatives, from average ranks).
 *
 * @throws InvalidParameterError when the labels hold only one class (the AUC is undefined).
 */
export function rocAuc(labels: ArrayLike<number>, probabilities: ArrayLike<number>): number {
  checkInputs(labels, probabilities);
  const order = Array.from({ length: labels.length }, (_, i) => i).sort(
    (a, b) => (probabilities[a] ?? 0) - (probabilities[b] ?? 0),
  );
  let positives = 0;
  let positiveRankSum = 0;
  for (let start = 0; start < order.length;) {
    const score = probabilities[order[start] ?? 0];
    let end = start;
    while (end < order.length && probabilities[order[end] ?? 0] === score) end += 1;
    // Rows start..end-1 tie; each gets the average of ranks start+1..end.
    const averageRank = (start + 1 + end) / 2;
    for (let k = start; k < end; k += 1) {
      if (labels[order[k] ?? 0] === 1) {
        positives += 1;
        positiveRankSum += averageRank;
      }
    }
    start = end;
  }
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) {
    throw new InvalidParameterError(
      `The ROC AUC needs both classes; the ${labels.length} labels are all ${positives === 0 ? 0 : 1}.`,
      { rows: labels.length, positives },
    );
  }
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Precision, recall and F1 of the positive class at `threshold`; see {@link ClassificationMetrics}. */
export function precisionRecallF1(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  threshold: number = DECISION_THRESHOLD,
): Pick<ClassificationMetrics, 'precision' | 'recall' | 'f1'> {
  checkInputs(labels, probabilities);
  let truePositives = 0;
  let predictedPositives = 0;
  let actualPositives = 0;
  for (let i = 0; i < labels.length; i += 1) {
    const predicted = (probabilities[i] ?? 0) > threshold;
    if (predicted) predictedPositives += 1;
    if (labels[i] === 1) actualPositives += 1;
    if (predicted && labels[i] === 1) truePositives += 1;
  }
  const precision = predictedPositives === 0 ? 0 : truePositives / predictedPositives;
  const recall = actualPositives === 0 ? 0 : truePositives / actualPositives;
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1 };
}

/**
 * Every {@link ClassificationMetrics} of `probabilities` against `labels`.
 *
 * @throws InvalidParameterError when the lengths differ, there are no rows, a label is not 0/1,
 *   a probability is outside [0, 1], or the labels hold one class only.
 */
export function evaluate(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
): ClassificationMetrics {
  return {
    accuracy: accuracy(labels, probabilities),
    log_loss: logLoss(labels, probabilities),
    roc_auc: rocAuc(labels, probabilities),
    ...precisionRecallF1(labels, probabilities),
  };
}

/** Options of {@link beatsChampion}. */
export interface ChampionOptions {
  /** The metric compared; higher is better except for `log_loss`. Default `roc_auc`. */
  metric?: keyof ClassificationMetrics;
  /** How much better the candidate must be (in the metric's units). Default 0: any gain. */
  minImprovement?: number;
}

/**
 * Whether a candidate model should take the champion alias: true when there is no champion yet
 * (`champion` undefined) or the candidate's metric is better by more than `minImprovement`.
 *
 * @throws InvalidParameterError when the champion's metric is not a finite number (for example
 *   it was never logged); pass `undefined` for a model without a champion.
 */
export function beatsChampion(
  candidate: Readonly<ClassificationMetrics>,
  champion: Readonly<Partial<ClassificationMetrics>> | undefined,
  options: ChampionOptions = {},
): boolean {
  const { metric = 'roc_auc', minImprovement = 0 } = options;
  if (champion === undefined) return true;
  const current = champion[metric];
  if (current === undefined || !Number.isFinite(current)) {
    throw new InvalidParameterError(
      `The champion's ${metric} is ${current}; compare on a metric the champion's run logged.`,
      { metric, value: current },
    );
  }
  const gain = metric === 'log_loss' ? current - candidate[metric] : candidate[metric] - current;
  return gain > minImprovement;
}

/** Pure helpers of the metric charts: smoothing and the request a zoomed chart makes. */
import type { Metric } from '@modelyard/core';

/** One line of a chart: a run's points of one metric. */
export interface ChartSeries {
  label: string;
  points: Metric[];
  /** The line's colour; by the series' index when absent. */
  color?: string;
}

/** Distinct colours for the runs of a chart, by index (ten, then again). */
export const PALETTE = [
  '#1f6feb',
  '#d1242f',
  '#1a7f37',
  '#8250df',
  '#bf8700',
  '#0598bc',
  '#fb8500',
  '#6e7781',
  '#e85aad',
  '#2da44e',
] as const;

/** The colour of the `index`th run of a chart. */
export function seriesColor(index: number): string {
  return PALETTE[index % PALETTE.length] ?? PALETTE[0];
}

/** The most smoothing the slider offers: 0.99 weighs the past 99 to 1. */
export const MAX_SMOOTHING = 0.99;

/**
 * An exponential moving average of `values` as TensorBoard draws it: each point is
 * `last * weight + value * (1 - weight)`, divided by `1 - weight^n` so the start is not pulled
 * towards zero. `weight` 0 answers the values unchanged. Gaps (`null`) and non-finite values
 * stay where they are and do not feed the average.
 *
 * @throws RangeError for a weight outside [0, 1).
 */
export function smoothEma(values: readonly (number | null)[], weight: number): (number | null)[] {
  if (!(weight >= 0 && weight < 1)) {
    throw new RangeError(`Smoothing weight ${weight} is outside [0, 1).`);
  }
  if (weight === 0) return [...values];
  let last = 0;
  let count = 0;
  return values.map((value) => {
    if (value === null || !Number.isFinite(value)) return value;
    last = last * weight + (1 - weight) * value;
    count++;
    return last / (1 - weight ** count);
  });
}

/** Reads a smoothing weight from the URL: a number in [0, MAX_SMOOTHING], else 0. */
export function parseSmoothing(raw: string): number {
  const weight = Number(raw);
  if (raw === '' || !Number.isFinite(weight) || weight < 0) return 0;
  return Math.min(weight, MAX_SMOOTHING);
}

/**
 * The whole steps a chart zoomed to `[min, max]` (fractional, as the axis has them) asks the
 * server for: the smallest range of integer steps that covers the view.
 */
export function zoomStepRange(min: number, max: number): { minStep: number; maxStep: number } {
  const minStep = Math.floor(Math.min(min, max));
  const maxStep = Math.ceil(Math.max(min, max));
  return { minStep, maxStep };
}

/**
 * The step range of the points logged in the time window `[fromMs, toMs]`, for a chart zoomed on
 * its time axis to ask the server for; undefined when no point falls in the window.
 */
export function stepsInTimeWindow(
  points: readonly Metric[],
  fromMs: number,
  toMs: number,
): { minStep: number; maxStep: number } | undefined {
  let minStep = Number.POSITIVE_INFINITY;
  let maxStep = Number.NEGATIVE_INFINITY;
  for (const point of points) {
    if (point.timestamp < fromMs || point.timestamp > toMs) continue;
    minStep = Math.min(minStep, point.step);
    maxStep = Math.max(maxStep, point.step);
  }
  return minStep <= maxStep ? { minStep, maxStep } : undefined;
}

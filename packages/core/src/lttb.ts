/**
 * Downsampling of a long series for drawing: Largest-Triangle-Three-Buckets (Sveinn
 * Steinarsson, "Downsampling Time Series for Visual Representation", 2013). The first and last
 * points are kept; the points between are cut into equal buckets and each bucket keeps the point
 * that makes the largest triangle with the point kept before it and the average of the next
 * bucket, which keeps peaks, troughs and turns where a plain stride would drop them.
 */
import { InvalidParameterError } from './errors.js';

/** The fewest points a downsampled metric history may ask for. */
export const MIN_DOWNSAMPLE_POINTS = 10;
/** The most points a downsampled metric history may ask for. */
export const MAX_DOWNSAMPLE_POINTS = 10_000;
/** The points a downsampled metric history answers when the request names no count. */
export const DEFAULT_DOWNSAMPLE_POINTS = 2_000;

/**
 * The indices of the `target` points of the series (`xs[i]`, `ys[i]`) that LTTB keeps, in
 * ascending order; every index when the series has `target` points or fewer. The result has
 * exactly `min(target, xs.length)` entries, the first and the last point always among them.
 *
 * `xs` must be in ascending order (a metric's steps). A non-finite `y` (a NaN loss, say) is kept
 * in preference to finite points of its bucket, so a divergence stays visible; it takes no part
 * in the averages and triangles of its neighbours.
 *
 * @throws InvalidParameterError when `target` is not an integer of at least 2, or when `xs` and
 *   `ys` differ in length.
 * @example
 * const keep = downsampleLttb(steps, values, 2000);
 * const drawn = keep.map((i) => ({ step: steps[i], value: values[i] }));
 */
export function downsampleLttb(
  xs: ArrayLike<number>,
  ys: ArrayLike<number>,
  target: number,
): number[] {
  if (!Number.isInteger(target) || target < 2) {
    throw new InvalidParameterError(
      `Cannot downsample to ${String(target)} points: the target must be an integer of at least 2.`,
      { target },
    );
  }
  if (xs.length !== ys.length) {
    throw new InvalidParameterError(
      `Cannot downsample a series with ${xs.length} x values and ${ys.length} y values: ` +
        'they must be as many.',
      { xs: xs.length, ys: ys.length },
    );
  }
  const n = xs.length;
  if (n <= target) return Array.from({ length: n }, (_, i) => i);

  const x = (i: number): number => xs[i] ?? 0;
  const y = (i: number): number => ys[i] ?? Number.NaN;
  const kept: number[] = [0];
  // The y of the last kept point that the triangles use: the last finite one kept.
  let anchorY = Number.isFinite(y(0)) ? y(0) : 0;
  let anchor = 0;
  const every = (n - 2) / (target - 2);

  for (let bucket = 0; bucket < target - 2; bucket++) {
    // The next bucket's average point (the last point, for the last bucket).
    const nextStart = Math.floor((bucket + 1) * every) + 1;
    const nextEnd = Math.min(Math.floor((bucket + 2) * every) + 1, n);
    let sumX = 0;
    let sumY = 0;
    let finite = 0;
    for (let i = nextStart; i < nextEnd; i++) {
      const v = y(i);
      if (!Number.isFinite(v)) continue;
      sumX += x(i);
      sumY += v;
      finite++;
    }
    const avgX = finite > 0 ? sumX / finite : x(Math.min(nextStart, n - 1));
    const avgY = finite > 0 ? sumY / finite : anchorY;

    const from = Math.floor(bucket * every) + 1;
    const to = Math.floor((bucket + 1) * every) + 1;
    const ax = x(anchor);
    let best = from;
    let bestArea = -1;
    for (let i = from; i < to; i++) {
      const v = y(i);
      // Twice the triangle's area; the factor does not change which point wins.
      const area = Number.isFinite(v)
        ? Math.abs((ax - avgX) * (v - anchorY) - (ax - x(i)) * (avgY - anchorY))
        : Number.POSITIVE_INFINITY;
      if (area > bestArea) {
        bestArea = area;
        best = i;
      }
    }
    kept.push(best);
    anchor = best;
    if (Number.isFinite(y(best))) anchorY = y(best);
  }
  kept.push(n - 1);
  return kept;
}

/** A step range and point budget for a downsampled metric history, checked. */
export interface DownsampleRequest {
  maxPoints: number;
  minStep?: number | undefined;
  maxStep?: number | undefined;
}

/**
 * Checks a request for a downsampled metric history: `maxPoints` an integer in
 * [{@link MIN_DOWNSAMPLE_POINTS}, {@link MAX_DOWNSAMPLE_POINTS}], the steps (when given) safe
 * integers with `minStep <= maxStep`.
 *
 * @throws InvalidParameterError naming the bad value and the allowed range.
 */
export function validateDownsampleRequest(request: DownsampleRequest): void {
  const { maxPoints, minStep, maxStep } = request;
  if (
    !Number.isInteger(maxPoints) ||
    maxPoints < MIN_DOWNSAMPLE_POINTS ||
    maxPoints > MAX_DOWNSAMPLE_POINTS
  ) {
    throw new InvalidParameterError(
      `Invalid value ${String(maxPoints)} for 'maxPoints': it must be an integer from ` +
        `${MIN_DOWNSAMPLE_POINTS} to ${MAX_DOWNSAMPLE_POINTS}.`,
      { field: 'maxPoints', value: maxPoints },
    );
  }
  for (const [field, value] of [
    ['minStep', minStep],
    ['maxStep', maxStep],
  ] as const) {
    if (value !== undefined && !Number.isSafeInteger(value)) {
      throw new InvalidParameterError(
        `Invalid value ${String(value)} for '${field}': it must be an integer step.`,
        { field, value },
      );
    }
  }
  if (minStep !== undefined && maxStep !== undefined && minStep > maxStep) {
    throw new InvalidParameterError(
      `Invalid step range: 'minStep' (${minStep}) is greater than 'maxStep' (${maxStep}).`,
      { minStep, maxStep },
    );
  }
}

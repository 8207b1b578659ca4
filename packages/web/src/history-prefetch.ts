import type { DownsampledMetricHistory } from '@modelyard/client';
import { yard } from './api.js';

/** A chart's points per run, unless it asks for another number. */
export const CHART_POINTS = 2000;

const pending = new Map<string, Promise<DownsampledMetricHistory>>();
const keyOf = (runId: string, key: string, maxPoints: number): string =>
  `${runId}\u0000${key}\u0000${String(maxPoints)}`;

/**
 * Starts fetching the whole downsampled history of each of `keys` for each run now, before the
 * page knows its runs' names: the compare page asks for the charted metrics of the runs in its
 * URL while it loads the runs, instead of after. Prefetches nobody claimed are dropped; a failed
 * one is asked again by the chart.
 */
export function prefetchHistories(
  runIds: string[],
  keys: string[],
  maxPoints = CHART_POINTS,
): void {
  pending.clear();
  for (const [runId, key] of runIds.flatMap((id) => keys.map((k) => [id, k] as const))) {
    const k = keyOf(runId, key, maxPoints);
    if (pending.has(k)) continue;
    const request = yard.runs.downsampledHistory(runId, key, { maxPoints });
    // Unclaimed prefetches must not report unhandled rejections; the chart asks again.
    request.catch(() => undefined);
    pending.set(k, request);
  }
}

/**
 * The downsampled history of one run's metric: a prefetched whole history when there is one
 * (each is used once), otherwise a new request.
 */
export function downsampledHistory(
  runId: string,
  key: string,
  options: { maxPoints: number; minStep?: number; maxStep?: number },
): Promise<DownsampledMetricHistory> {
  if (options.minStep === undefined && options.maxStep === undefined) {
    const k = keyOf(runId, key, options.maxPoints);
    const prefetched = pending.get(k);
    if (prefetched !== undefined) {
      pending.delete(k);
      return prefetched.catch(() => yard.runs.downsampledHistory(runId, key, options));
    }
  }
  return yard.runs.downsampledHistory(runId, key, options);
}

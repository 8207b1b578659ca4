/**
 * Live deployment charts: a rolling window of samples kept in the browser from polling
 * `GET /api/v1/deployments/{name}/metrics`. The endpoint answers running totals (requests and
 * errors since each variant was loaded) and the current window's p95 latency; rates come from
 * the difference between two polls.
 */
import type { DeploymentMetrics } from '@modelyard/core';

/** One variant's figures at one poll; null where there is nothing to say yet. */
export interface VariantPoint {
  /** Requests per second since the previous poll. */
  requestRate: number | null;
  /** Failed share (0 to 1) of the requests since the previous poll; null when there were none. */
  errorRate: number | null;
  /** The 95th percentile latency over the variant's current window, in ms. */
  p95LatencyMs: number | null;
}

/** One poll's figures, by variant name. */
export interface SeriesSample {
  /** When it was taken (ms since the epoch). */
  at: number;
  variants: Record<string, VariantPoint>;
}

/** The rolling window: samples oldest first, and each variant's totals at its last poll. */
export interface RollingSeries {
  samples: SeriesSample[];
  last: Record<string, { at: number; totalRequests: number; totalErrors: number }>;
}

/** An empty window. */
export function emptySeries(): RollingSeries {
  return { samples: [], last: {} };
}

/**
 * The window with the poll `metrics` (taken at `at`) added and samples older than
 * `windowMs` before it dropped. A variant's first poll, and a poll whose totals went down (the
 * variant was loaded again, so its counters restarted), give no rate: there is no interval to
 * divide by. A poll at or before the previous one is ignored.
 */
export function appendSample(
  series: RollingSeries,
  metrics: DeploymentMetrics,
  at: number,
  windowMs: number,
): RollingSeries {
  const previous = series.samples[series.samples.length - 1];
  if (previous !== undefined && at <= previous.at) return series;
  const variants: Record<string, VariantPoint> = {};
  const last: RollingSeries['last'] = {};
  for (const v of metrics.variants) {
    const before = series.last[v.name];
    let requestRate: number | null = null;
    let errorRate: number | null = null;
    if (
      before !== undefined &&
      at > before.at &&
      v.totalRequests >= before.totalRequests &&
      v.totalErrors >= before.totalErrors
    ) {
      const requests = v.totalRequests - before.totalRequests;
      const errors = v.totalErrors - before.totalErrors;
      requestRate = requests / ((at - before.at) / 1000);
      errorRate = requests === 0 ? null : Math.min(1, errors / requests);
    }
    variants[v.name] = { requestRate, errorRate, p95LatencyMs: v.window.p95LatencyMs };
    last[v.name] = { at, totalRequests: v.totalRequests, totalErrors: v.totalErrors };
  }
  const samples = [...series.samples, { at, variants }].filter((s) => s.at >= at - windowMs);
  return { samples, last };
}

/** Every variant named in the window, in order of first appearance. */
export function seriesVariants(series: RollingSeries): string[] {
  const names = new Set<string>();
  for (const sample of series.samples)
    for (const name of Object.keys(sample.variants)) names.add(name);
  return [...names];
}

/**
 * One figure of the window as uPlot's aligned data: x in seconds since the epoch, then one
 * y-array per variant of `variants` (null where the variant has no value at that poll).
 */
export function alignedSeries(
  series: RollingSeries,
  figure: keyof VariantPoint,
  variants: readonly string[],
): [number[], ...(number | null)[][]] {
  const x = series.samples.map((s) => s.at / 1000);
  const ys = variants.map((name) => series.samples.map((s) => s.variants[name]?.[figure] ?? null));
  return [x, ...ys];
}

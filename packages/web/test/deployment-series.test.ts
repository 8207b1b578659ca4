import { describe, expect, it } from 'vitest';
import type { DeploymentMetrics, VariantMetrics } from '@modelyard/core';
import {
  alignedSeries,
  appendSample,
  emptySeries,
  seriesVariants,
} from '../src/deployment-series.js';

function variant(
  name: string,
  totalRequests: number,
  totalErrors: number,
  p95: number | null,
): VariantMetrics {
  return {
    name,
    role: name === 'primary' ? 'primary' : 'candidate',
    weight: 50,
    modelVersion: '1',
    status: 'ready',
    window: {
      requests: totalRequests,
      errors: totalErrors,
      p50LatencyMs: p95,
      p95LatencyMs: p95,
      p99LatencyMs: p95,
      since: 0,
    },
    totalRequests,
    totalErrors,
    inFlight: 0,
  };
}

function metrics(...variants: VariantMetrics[]): DeploymentMetrics {
  return { deployment: 'd', status: 'ready', variants, rollout: null };
}

describe('the rolling window of live deployment figures', () => {
  it('has no rate at a variant’s first poll, then requests per second and the failed share', () => {
    let s = appendSample(emptySeries(), metrics(variant('primary', 100, 2, 4.5)), 10_000, 60_000);
    expect(s.samples[0]?.variants['primary']).toEqual({
      requestRate: null,
      errorRate: null,
      p95LatencyMs: 4.5,
    });
    s = appendSample(s, metrics(variant('primary', 140, 4, 5)), 12_000, 60_000);
    expect(s.samples[1]?.variants['primary']).toEqual({
      requestRate: 20,
      errorRate: 0.05,
      p95LatencyMs: 5,
    });
  });

  it('has no error rate for an interval without requests, and a rate of 0', () => {
    let s = appendSample(emptySeries(), metrics(variant('primary', 10, 0, null)), 0, 60_000);
    s = appendSample(s, metrics(variant('primary', 10, 0, null)), 2_000, 60_000);
    expect(s.samples[1]?.variants['primary']).toEqual({
      requestRate: 0,
      errorRate: null,
      p95LatencyMs: null,
    });
  });

  it('gives no rate when the totals went down (the variant loaded again) and starts over from there', () => {
    let s = appendSample(emptySeries(), metrics(variant('primary', 500, 5, 3)), 0, 60_000);
    s = appendSample(s, metrics(variant('primary', 3, 0, 3)), 2_000, 60_000);
    expect(s.samples[1]?.variants['primary']?.requestRate).toBeNull();
    s = appendSample(s, metrics(variant('primary', 13, 1, 3)), 4_000, 60_000);
    expect(s.samples[2]?.variants['primary']).toMatchObject({ requestRate: 5, errorRate: 0.1 });
  });

  it('keeps only the window and ignores a poll that is not newer', () => {
    let s = emptySeries();
    for (let t = 0; t <= 10_000; t += 2_000) {
      s = appendSample(s, metrics(variant('primary', t, 0, 1)), t, 5_000);
    }
    expect(s.samples.map((x) => x.at)).toEqual([6_000, 8_000, 10_000]);
    expect(appendSample(s, metrics(variant('primary', 99, 0, 1)), 10_000, 5_000)).toBe(s);
  });

  it('aligns each figure per variant for uPlot, null where a variant was absent', () => {
    let s = appendSample(emptySeries(), metrics(variant('primary', 0, 0, 2)), 1_000, 60_000);
    s = appendSample(
      s,
      metrics(variant('primary', 10, 0, 2), variant('candidate', 0, 0, 8)),
      3_000,
      60_000,
    );
    s = appendSample(
      s,
      metrics(variant('primary', 20, 0, 2), variant('candidate', 4, 2, 9)),
      5_000,
      60_000,
    );
    const names = seriesVariants(s);
    expect(names).toEqual(['primary', 'candidate']);
    expect(alignedSeries(s, 'requestRate', names)).toEqual([
      [1, 3, 5],
      [null, 5, 5],
      [null, null, 2],
    ]);
    expect(alignedSeries(s, 'errorRate', names)).toEqual([
      [1, 3, 5],
      [null, 0, 0],
      [null, null, 0.5],
    ]);
    expect(alignedSeries(s, 'p95LatencyMs', names)[2]).toEqual([null, 8, 9]);
  });
});

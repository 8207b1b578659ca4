import { describe, expect, it } from 'vitest';
import {
  InvalidParameterError,
  MAX_DOWNSAMPLE_POINTS,
  MIN_DOWNSAMPLE_POINTS,
  downsampleLttb,
  validateDownsampleRequest,
} from '@modelyard/core';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('downsampleLttb', () => {
  it('keeps every point of a series no longer than the target', () => {
    expect(downsampleLttb([0, 1, 2], [5, 6, 7], 10)).toEqual([0, 1, 2]);
    expect(downsampleLttb([], [], 10)).toEqual([]);
    expect(downsampleLttb(range(10), range(10), 10)).toEqual(range(10));
  });

  it('answers exactly the target count, ascending, with the first and last point', () => {
    const n = 100_003;
    const xs = range(n);
    const ys = xs.map((i) => Math.sin(i / 500) + (i % 7) / 10);
    for (const target of [2, 3, 10, 2000, 99_999]) {
      const kept = downsampleLttb(xs, ys, target);
      expect(kept).toHaveLength(target);
      expect(kept[0]).toBe(0);
      expect(kept.at(-1)).toBe(n - 1);
      for (let i = 1; i < kept.length; i++) expect(kept[i]).toBeGreaterThan(kept[i - 1] ?? -1);
    }
  });

  it('keeps isolated spikes that an even stride would drop', () => {
    const n = 10_000;
    const ys = range(n).map(() => 0);
    const spikes = [1234, 4567, 8901];
    for (const s of spikes) ys[s] = 100;
    ys[6000] = -50;
    const kept = downsampleLttb(range(n), ys, 100);
    for (const s of [...spikes, 6000]) expect(kept).toContain(s);
    // A stride of 100 from 0 would have missed every one of them.
    expect(spikes.some((s) => s % 100 === 0)).toBe(false);
  });

  it('picks the point farthest from the line through its neighbours in each bucket', () => {
    // Three buckets of two between the ends: the larger deviation wins each bucket.
    const xs = [0, 1, 2, 3, 4, 5, 6, 7];
    const ys = [0, 1, 9, 0, 0, -8, 2, 0];
    expect(downsampleLttb(xs, ys, 5)).toEqual([0, 2, 3, 5, 7]);
  });

  it('keeps a non-finite value so a divergence stays visible, and stays exact around it', () => {
    const n = 1000;
    const ys = range(n).map((i) => i / n);
    ys[500] = Number.NaN;
    ys[501] = Number.POSITIVE_INFINITY;
    const kept = downsampleLttb(range(n), ys, 50);
    expect(kept).toHaveLength(50);
    expect(kept.includes(500) || kept.includes(501)).toBe(true);
  });

  it('refuses a target below 2 or not an integer, and series of different lengths', () => {
    expect(() => downsampleLttb([1, 2, 3], [1, 2, 3], 1)).toThrow(InvalidParameterError);
    expect(() => downsampleLttb([1, 2, 3], [1, 2, 3], 2.5)).toThrow(/at least 2/);
    expect(() => downsampleLttb([1, 2], [1], 10)).toThrow(/2 x values and 1 y values/);
  });
});

describe('validateDownsampleRequest', () => {
  it('accepts a budget in range and an ordered step range', () => {
    expect(() => {
      validateDownsampleRequest({ maxPoints: MIN_DOWNSAMPLE_POINTS });
    }).not.toThrow();
    expect(() => {
      validateDownsampleRequest({ maxPoints: MAX_DOWNSAMPLE_POINTS, minStep: -5, maxStep: -5 });
    }).not.toThrow();
  });

  it('names the bad value and the allowed range', () => {
    expect(() => {
      validateDownsampleRequest({ maxPoints: 9 });
    }).toThrow("Invalid value 9 for 'maxPoints': it must be an integer from 10 to 10000.");
    expect(() => {
      validateDownsampleRequest({ maxPoints: 10_001 });
    }).toThrow(/10001/);
    expect(() => {
      validateDownsampleRequest({ maxPoints: 100, minStep: 1.5 });
    }).toThrow("Invalid value 1.5 for 'minStep'");
    expect(() => {
      validateDownsampleRequest({ maxPoints: 100, minStep: 9, maxStep: 3 });
    }).toThrow("'minStep' (9) is greater than 'maxStep' (3)");
  });
});

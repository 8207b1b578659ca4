import { describe, expect, it } from 'vitest';
import { parseSmoothing, smoothEma, stepsInTimeWindow, zoomStepRange } from '../src/chart-math.js';

describe('smoothEma', () => {
  it('answers the values unchanged at weight 0', () => {
    expect(smoothEma([1, 5, null, 2], 0)).toEqual([1, 5, null, 2]);
  });

  it('debiases the start so the first point is the first value, as TensorBoard does', () => {
    const smoothed = smoothEma([10, 10, 10], 0.9);
    for (const v of smoothed) expect(v).toBeCloseTo(10, 10);
  });

  it('follows last * w + value * (1 - w) divided by 1 - w^n', () => {
    const [a, b, c] = smoothEma([0, 1, 1], 0.5);
    expect(a).toBe(0);
    // last: 0 -> 0.5 -> 0.75; divided by 1 - 0.25 and 1 - 0.125.
    expect(b).toBeCloseTo(0.5 / 0.75, 12);
    expect(c).toBeCloseTo(0.75 / 0.875, 12);
  });

  it('damps noise more as the weight grows, and leaves gaps and non-finite values in place', () => {
    const noisy = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 1 : -1));
    const spread = (w: number) => {
      const tail = smoothEma(noisy, w).slice(100) as number[];
      return Math.max(...tail) - Math.min(...tail);
    };
    expect(spread(0.5)).toBeLessThan(spread(0));
    expect(spread(0.99)).toBeLessThan(spread(0.5));
    const out = smoothEma([1, null, Number.NaN, 3], 0.5);
    expect(out[1]).toBeNull();
    expect(out[2]).toBeNaN();
    expect(out[3]).toBeCloseTo((0.5 * 0.5 + 1.5) / 0.75, 12);
  });

  it('refuses a weight outside [0, 1)', () => {
    expect(() => smoothEma([1], 1)).toThrow(RangeError);
    expect(() => smoothEma([1], -0.1)).toThrow(/outside/);
  });
});

describe('chart URL state and zoom', () => {
  it('reads a smoothing weight, clamping it to 0.99 and refusing junk', () => {
    expect(parseSmoothing('0.6')).toBe(0.6);
    expect(parseSmoothing('5')).toBe(0.99);
    expect(parseSmoothing('')).toBe(0);
    expect(parseSmoothing('-1')).toBe(0);
    expect(parseSmoothing('abc')).toBe(0);
  });

  it('covers a fractional zoom with whole steps', () => {
    expect(zoomStepRange(10.2, 99.7)).toEqual({ minStep: 10, maxStep: 100 });
    expect(zoomStepRange(5, 3)).toEqual({ minStep: 3, maxStep: 5 });
  });
});

describe('stepsInTimeWindow', () => {
  const points = [0, 1, 2, 3, 4].map((step) => ({
    key: 'loss',
    value: step,
    step: step * 10,
    timestamp: 1000 + step * 100,
  }));

  it('answers the steps of the points logged in the window', () => {
    expect(stepsInTimeWindow(points, 1100, 1300)).toEqual({ minStep: 10, maxStep: 30 });
    expect(stepsInTimeWindow(points, 1150, 1160)).toBeUndefined();
  });
});

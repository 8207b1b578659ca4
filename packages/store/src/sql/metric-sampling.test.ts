import { describe, expect, it } from 'vitest';
import { evenlySpaced, sampleBulkIntervalSteps } from './metric-sampling.js';

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => i + from);

describe('evenlySpaced', () => {
  it('keeps short lists whole', () => {
    expect(evenlySpaced([1, 2, 3], 5)).toEqual([1, 2, 3]);
  });

  it('keeps both ends and spreads the rest evenly', () => {
    expect(evenlySpaced(range(11), 3)).toEqual([0, 5, 10]);
    expect(evenlySpaced(range(100), 10)).toEqual([0, 11, 22, 33, 44, 55, 66, 77, 88, 99]);
    expect(evenlySpaced(range(1000), 7)).toHaveLength(7);
  });

  it('keeps the last item when only one fits', () => {
    expect(evenlySpaced([4, 5, 6], 1)).toEqual([6]);
  });
});

describe('sampleBulkIntervalSteps', () => {
  it('samples the union of steps and adds every run’s first and last step', () => {
    const steps = sampleBulkIntervalSteps(
      new Map([
        ['a', range(100)],
        ['b', [7, 13, 51]],
      ]),
      5,
    );
    expect(steps).toEqual([0, 7, 25, 50, 51, 74, 99]);
  });

  it('limits sampling to the requested step range', () => {
    const steps = sampleBulkIntervalSteps(new Map([['a', range(100)]]), 3, 10, 20);
    expect(steps).toEqual([10, 15, 20]);
  });

  it('returns nothing when no run has steps in range', () => {
    expect(sampleBulkIntervalSteps(new Map([['a', [1, 2]]]), 3, 5, 9)).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import {
  InvalidParameterError,
  Z_975,
  erfc,
  lnGamma,
  normalCdf,
  regularizedIncompleteBeta,
  studentTCdf,
  summarize,
  twoProportionZTest,
  welchTTest,
} from '@modelyard/core';

// Reference values below were computed with SciPy 1.17 (scipy.stats / scipy.special).

/** Asserts |actual − expected| ≤ tolerance × max(|expected|, tiny), i.e. a relative tolerance. */
function expectClose(actual: number, expected: number, tolerance = 1e-9): void {
  const scale = Math.max(Math.abs(expected), Number.MIN_VALUE);
  expect(Math.abs(actual - expected) / scale).toBeLessThanOrEqual(tolerance);
}

describe('special functions', () => {
  it.each([
    [0.5, 0.5723649429247],
    [1, 0],
    [3.7, 1.428072326665388],
    [10, 12.801827480081469],
    [171.5, 709.1431630309283],
    [1e6, 12815504.569147611],
  ])('lnGamma(%s) matches scipy.special.gammaln', (x, expected) => {
    if (expected === 0) expect(Math.abs(lnGamma(x))).toBeLessThan(1e-14);
    else expectClose(lnGamma(x), expected, 1e-12);
  });

  it('lnGamma rejects arguments that are not positive', () => {
    expect(() => lnGamma(0)).toThrow(InvalidParameterError);
    expect(() => lnGamma(-2)).toThrow('lnGamma needs a positive finite number, got -2.');
  });

  it.each([
    [0.3, 2, 3, 0.34829999999999994],
    [0.9, 0.5, 0.5, 0.7951672353008665],
    [0.01, 10, 0.5, 1.770034965528571e-21],
    [0.999, 50000, 0.5, 1.4863295759538154e-23],
    [0.5, 100, 200, 0.9999999973534454],
  ])('I_%s(%s, %s) matches scipy.special.betainc', (x, a, b, expected) => {
    expectClose(regularizedIncompleteBeta(x, a, b), expected, 1e-9);
  });

  it('gives the incomplete beta function its end values and rejects arguments out of range', () => {
    expect(regularizedIncompleteBeta(0, 2, 3)).toBe(0);
    expect(regularizedIncompleteBeta(1, 2, 3)).toBe(1);
    expect(() => regularizedIncompleteBeta(1.5, 2, 3)).toThrow(
      'The incomplete beta function needs 0 ≤ x ≤ 1 and finite a, b > 0; got x=1.5, a=2, b=3.',
    );
    expect(() => regularizedIncompleteBeta(0.5, 0, 3)).toThrow(InvalidParameterError);
  });

  it.each([
    [0, 0.5],
    [0.5, 0.6914624612740131],
    [1, 0.8413447460685429],
    [1.96, 0.9750021048517795],
    [3, 0.9986501019683699],
    [-2.5, 0.006209665325776132],
  ])('normalCdf(%s) matches scipy.stats.norm.cdf', (z, expected) => {
    expectClose(normalCdf(z), expected, 1e-12);
  });

  it.each([
    [5, 2.866515718791933e-7],
    [8, 6.22096057427174e-16],
    [10, 7.61985302416047e-24],
  ])('keeps full relative precision in the normal upper tail at z = %s', (z, expected) => {
    expectClose(normalCdf(-z), expected, 1e-12);
    expectClose(erfc(z / Math.SQRT2) / 2, expected, 1e-12);
  });

  it('puts the 97.5th normal percentile where normalCdf says', () => {
    expectClose(normalCdf(Z_975), 0.975, 1e-14);
  });

  it.each([
    [2.0, 5, 0.9490302605850708],
    [0.5, 1, 0.6475836176504333],
    [-3.0, 2.5, 0.036288047774515914],
    [10, 3, 0.9989358004707929],
    [0, 7, 0.5],
    [1.96, 1e6, 0.9750019662073651],
    [1.96, 1e8, 0.975002103465336],
    [0.01, 1e7, 0.5039893562148912],
    [1, 1e12, 0.8413447460684219],
  ])('studentTCdf(%s, df=%s) matches scipy.stats.t.cdf', (t, df, expected) => {
    expectClose(studentTCdf(t, df), expected, 1e-9);
  });

  it('treats infinite t and infinite degrees of freedom as limits', () => {
    expect(studentTCdf(Number.POSITIVE_INFINITY, 4)).toBe(1);
    expect(studentTCdf(Number.NEGATIVE_INFINITY, 4)).toBe(0);
    expectClose(studentTCdf(1.96, Number.POSITIVE_INFINITY), 0.9750021048517795, 1e-12);
    expect(() => studentTCdf(1, 0)).toThrow(
      "Student's t distribution needs degrees of freedom > 0 and a number t; got t=1, degrees of freedom=0.",
    );
  });
});

describe('twoProportionZTest', () => {
  it('matches scipy for 200/1000 against 250/1000', () => {
    const r = twoProportionZTest({ successesA: 200, totalA: 1000, successesB: 250, totalB: 1000 });
    expectClose(r.proportionA, 0.2);
    expectClose(r.proportionB, 0.25);
    expectClose(r.difference, 0.05);
    expectClose(r.z, 2.677397763008329);
    expectClose(r.pValue, 0.007419649261025687);
    expectClose(r.ci95.lower, 0.01346362168753984);
    expectClose(r.ci95.upper, 0.08653637831246014);
  });

  it('matches scipy for unequal groups where B is lower', () => {
    const r = twoProportionZTest({ successesA: 45, totalA: 500, successesB: 30, totalB: 480 });
    expectClose(r.difference, -0.0275);
    expectClose(r.z, -1.6188120601811211);
    expectClose(r.pValue, 0.10548770645875266);
    expectClose(r.ci95.lower, -0.060638482667854765);
    expectClose(r.ci95.upper, 0.005638482667854772);
  });

  it('matches scipy for large samples with a small difference', () => {
    const r = twoProportionZTest({
      successesA: 5000,
      totalA: 100_000,
      successesB: 5200,
      totalB: 100_000,
    });
    expectClose(r.z, 2.0328100706668577);
    expectClose(r.pValue, 0.04207171530471452);
    expectClose(r.ci95.lower, 7.169025307677689e-5, 1e-8);
    expectClose(r.ci95.upper, 0.003928309746923213);
  });

  it('keeps a tiny p-value precise far in the tail', () => {
    const r = twoProportionZTest({
      successesA: 10,
      totalA: 10_000,
      successesB: 200,
      totalB: 10_000,
    });
    expectClose(r.z, 13.180626522199075);
    expectClose(r.pValue, 1.1344477047480283e-39, 1e-9);
  });

  it('handles a group with no successes', () => {
    const r = twoProportionZTest({ successesA: 0, totalA: 50, successesB: 5, totalB: 50 });
    expectClose(r.z, 2.294157338705618);
    expectClose(r.pValue, 0.021781462791119477);
    expectClose(r.ci95.lower, 0.016845770539019325);
    expectClose(r.ci95.upper, 0.1831542294609807);
  });

  it('reports no difference when both groups are all failures or all successes', () => {
    for (const [sa, sb] of [
      [0, 0],
      [40, 60],
    ] as const) {
      const r = twoProportionZTest({ successesA: sa, totalA: 40, successesB: sb, totalB: 60 });
      expect(r.z).toBe(0);
      expect(r.pValue).toBe(1);
      expect(r.difference).toBe(0);
      expect(r.ci95).toEqual({ lower: 0, upper: 0 });
    }
  });

  it.each([
    [
      { successesA: 1, totalA: 0, successesB: 1, totalB: 10 },
      'totalA must be a whole number of at least 1, got 0.',
    ],
    [
      { successesA: 1, totalA: 10, successesB: 1, totalB: 2.5 },
      'totalB must be a whole number of at least 1, got 2.5.',
    ],
    [
      { successesA: -1, totalA: 10, successesB: 1, totalB: 10 },
      'successesA must be a whole number of at least 0, got -1.',
    ],
    [
      { successesA: 1, totalA: 10, successesB: 11, totalB: 10 },
      'successesB (11) cannot exceed totalB (10).',
    ],
  ])('rejects %o', (samples, message) => {
    expect(() => twoProportionZTest(samples)).toThrow(message);
    expect(() => twoProportionZTest(samples)).toThrow(InvalidParameterError);
  });
});

describe('summarize', () => {
  it('gives the count, mean and sample variance', () => {
    const s = summarize([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(s.count).toBe(8);
    expectClose(s.mean, 5);
    expectClose(s.variance, 4.571428571428571, 1e-14);
  });

  it('stays accurate when the mean dwarfs the spread', () => {
    const s = summarize([1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16]);
    expectClose(s.mean, 1e9 + 10, 1e-15);
    expectClose(s.variance, 30, 1e-12);
  });

  it('gives a single value a variance of 0', () => {
    expect(summarize([3])).toEqual({ count: 1, mean: 3, variance: 0 });
  });

  it('rejects empty and non-finite input', () => {
    expect(() => summarize([])).toThrow('Cannot summarize an empty list of values.');
    expect(() => summarize([1, Number.NaN])).toThrow(
      'Values to summarize must be finite numbers, but value 1 is NaN.',
    );
  });
});

describe('welchTTest', () => {
  const a = [
    27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4,
  ];
  const b = [
    27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4,
  ];

  it('matches scipy.stats.ttest_ind(b, a, equal_var=False) on raw samples', () => {
    const r = welchTTest(a, b);
    expectClose(r.t, 2.455356398286006);
    expectClose(r.pValue, 0.021378001462866992);
    expectClose(r.degreesOfFreedom, 24.988529290231416);
    expectClose(r.difference, 2.166666666666668, 1e-12);
  });

  it('gives the same answer from summaries as from samples', () => {
    const fromSamples = welchTTest(a, b);
    const fromSummaries = welchTTest(summarize(a), summarize(b));
    expectClose(fromSummaries.t, fromSamples.t, 1e-14);
    expectClose(fromSummaries.pValue, fromSamples.pValue, 1e-14);
  });

  it('matches scipy.stats.ttest_ind_from_stats for summaries with unequal sizes', () => {
    const r = welchTTest(
      { count: 30, mean: 100, variance: 225 },
      { count: 20, mean: 108, variance: 625 },
    );
    expectClose(r.t, 1.2851509262439982);
    expectClose(r.pValue, 0.20921251939838667);
    expectClose(r.degreesOfFreedom, 28.1520017013132);
    expectClose(r.standardError, 8 / 1.2851509262439982);
  });

  it('matches scipy when one group has no variance', () => {
    const r = welchTTest({ count: 5, mean: 10, variance: 0 }, { count: 8, mean: 12, variance: 4 });
    expectClose(r.t, 2.82842712474619);
    expectClose(r.degreesOfFreedom, 7);
    expectClose(r.pValue, 0.025463561683239266);
  });

  it('keeps a tiny p-value precise far in the tail', () => {
    const r = welchTTest(
      { count: 16, mean: 40 * Math.sqrt(1 / 8), variance: 1 },
      { count: 16, mean: 0, variance: 1 },
    );
    expectClose(r.t, -40, 1e-12);
    expectClose(r.degreesOfFreedom, 30, 1e-12);
    expectClose(r.pValue, 1.3726045194406417e-27, 1e-9);
  });

  it('matches scipy with millions of samples per group', () => {
    const r = welchTTest(
      { count: 10_000_000, mean: 50.2, variance: 4.41 },
      { count: 10_000_000, mean: 50.2001, variance: 4 },
    );
    expectClose(r.t, 0.10904405724305734, 1e-9);
    expectClose(r.pValue, 0.9131675471272311, 1e-9);
  });

  it('degenerates cleanly when both groups have no variance', () => {
    expect(
      welchTTest({ count: 3, mean: 5, variance: 0 }, { count: 4, mean: 5, variance: 0 }),
    ).toEqual({ difference: 0, standardError: 0, t: 0, degreesOfFreedom: 5, pValue: 1 });
    const apart = welchTTest(
      { count: 3, mean: 5, variance: 0 },
      { count: 4, mean: 4, variance: 0 },
    );
    expect(apart.t).toBe(Number.NEGATIVE_INFINITY);
    expect(apart.pValue).toBe(0);
  });

  it.each([
    [
      { count: 1, mean: 0, variance: 0 },
      "Welch's t-test needs at least 2 values in each group, but group A has count 1.",
    ],
    [
      { count: 5, mean: Number.NaN, variance: 1 },
      'The mean of group A must be a finite number, got NaN.',
    ],
    [
      { count: 5, mean: 0, variance: -1 },
      'The variance of group A must be a finite number ≥ 0, got -1.',
    ],
  ])('rejects the summary %o', (summary, message) => {
    expect(() => welchTTest(summary, { count: 5, mean: 0, variance: 1 })).toThrow(message);
    expect(() => welchTTest(summary, { count: 5, mean: 0, variance: 1 })).toThrow(
      InvalidParameterError,
    );
  });

  it('names group B when B is the one at fault', () => {
    expect(() => welchTTest([1, 2, 3], [4])).toThrow('but group B has count 1.');
  });
});

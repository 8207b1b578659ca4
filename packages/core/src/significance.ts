/**
 * Significance tests for A/B comparisons of deployment variants: the two-proportion z-test for
 * rates (conversions, errors) and Welch's t-test for means (latency, scores), with the special
 * functions they need (log-gamma, regularized incomplete beta, normal and Student t
 * distributions) written out here so that core keeps no dependencies.
 *
 * Every test compares B against A and reports `difference = B − A`: put the control (primary) in
 * A and the candidate in B.
 */
import { InvalidParameterError } from './errors.js';

/** The 97.5th percentile of the standard normal distribution, for 95 % confidence intervals. */
export const Z_975 = 1.959963984540054;

const LANCZOS_G = 7;
const LANCZOS_COEFFICIENTS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
  1.5056327351493116e-7,
];
const HALF_LN_TWO_PI = 0.5 * Math.log(2 * Math.PI);
const SQRT_PI = Math.sqrt(Math.PI);
const TINY = 1e-300;
const CF_EPSILON = 1e-15;
const CF_MAX_ITERATIONS = 1_000_000;

/**
 * The natural logarithm of the gamma function, for `x > 0` (Lanczos approximation, g = 7, with
 * the reflection formula below 1/2); relative error about 1e-15.
 *
 * @throws {@link InvalidParameterError} when `x` is not a positive finite number.
 */
export function lnGamma(x: number): number {
  if (!Number.isFinite(x) || x <= 0) {
    throw new InvalidParameterError(`lnGamma needs a positive finite number, got ${String(x)}.`, {
      x,
    });
  }
  if (x < 0.5) {
    // Γ(x)Γ(1−x) = π / sin(πx); the approximation is accurate only from 1/2 up.
    return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  }
  const z = x - 1;
  let sum = LANCZOS_COEFFICIENTS[0] ?? 1;
  for (let i = 1; i < LANCZOS_COEFFICIENTS.length; i++) {
    sum += (LANCZOS_COEFFICIENTS[i] ?? 0) / (z + i);
  }
  const t = z + LANCZOS_G + 0.5;
  return HALF_LN_TWO_PI + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/**
 * The continued fraction of the incomplete beta function (Numerical Recipes' `betacf`),
 * evaluated with the modified Lentz method. Converges fast for `x < (a + 1) / (a + b + 2)`.
 */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= CF_MAX_ITERATIONS; m++) {
    const m2 = 2 * m;
    // Even step of the recurrence.
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    // Odd step.
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < CF_EPSILON) return h;
  }
  // Not reached for the parameters this module uses; kept so that a bug cannot return garbage.
  throw new Error(
    `The incomplete beta continued fraction did not converge for a=${String(a)}, b=${String(b)}, x=${String(x)}.`,
  );
}

/** The remainder of Stirling's series, lnΓ(x) − ((x − ½)ln x − x + ½ln 2π), for x ≥ 10. */
function stirlingCorrection(x: number): number {
  const r = 1 / x;
  const r2 = r * r;
  return (
    r *
    (1 / 12 -
      r2 * (1 / 360 - r2 * (1 / 1260 - r2 * (1 / 1680 - r2 * (1 / 1188 - (691 * r2) / 360360)))))
  );
}

/**
 * ln B(a, b) = lnΓ(a) + lnΓ(b) − lnΓ(a + b). When one argument is large, lnΓ(big) and
 * lnΓ(big + small) nearly cancel, so their difference is taken from Stirling's series instead.
 */
function lnBeta(a: number, b: number): number {
  const small = Math.min(a, b);
  const big = Math.max(a, b);
  if (big < 10) return lnGamma(a) + lnGamma(b) - lnGamma(a + b);
  const lnGammaRatio =
    -(big - 0.5) * Math.log1p(small / big) -
    small * Math.log(big + small) +
    small +
    stirlingCorrection(big) -
    stirlingCorrection(big + small);
  return lnGamma(small) + lnGammaRatio;
}

/** I_x(a, b) given both x and y = 1 − x, so that callers can keep precision near x = 1. */
function incompleteBeta(x: number, y: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (y <= 0) return 1;
  // ln x from whichever of x and y is small, so that x close to 1 keeps its precision.
  const lnX = x > 0.5 ? Math.log1p(-y) : Math.log(x);
  const lnY = y > 0.5 ? Math.log1p(-x) : Math.log(y);
  const lnFront = a * lnX + b * lnY - lnBeta(a, b);
  const front = Math.exp(lnFront);
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(a, b, x)) / a;
  // Use the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where the continued fraction converges.
  return 1 - (front * betaContinuedFraction(b, a, y)) / b;
}

/**
 * The regularized incomplete beta function I_x(a, b) = B(x; a, b) / B(a, b), for `0 ≤ x ≤ 1`
 * and `a, b > 0`, by its continued fraction (modified Lentz method).
 *
 * @throws {@link InvalidParameterError} when an argument is out of its domain.
 * @example
 * ```ts
 * regularizedIncompleteBeta(0.3, 2, 3); // 0.3483
 * ```
 */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (!(x >= 0 && x <= 1) || !(a > 0) || !(b > 0) || !Number.isFinite(a + b)) {
    throw new InvalidParameterError(
      `The incomplete beta function needs 0 ≤ x ≤ 1 and finite a, b > 0; got x=${String(x)}, ` +
        `a=${String(a)}, b=${String(b)}.`,
      { x, a, b },
    );
  }
  return incompleteBeta(x, 1 - x, a, b);
}

/** erfc(x) for x ≥ 0, with full relative precision in the upper tail. */
function erfcNonNegative(x: number): number {
  if (x < 2.5) {
    // erf(x) = 2/√π · e^(−x²) · Σ (2x²)ⁿ x / (1·3·…·(2n+1)): every term positive, no cancellation.
    const twoX2 = 2 * x * x;
    let term = x;
    let sum = x;
    for (let n = 1; term > 1e-17 * sum; n++) {
      term *= twoX2 / (2 * n + 1);
      sum += term;
    }
    return 1 - (2 / SQRT_PI) * Math.exp(-x * x) * sum;
  }
  // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), by modified Lentz.
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 10_000; n++) {
    const an = n / 2;
    d = x + an * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = x + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < CF_EPSILON) break;
  }
  return Math.exp(-x * x) / (SQRT_PI * f);
}

/** The complementary error function erfc(x) = 1 − erf(x). */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  return x >= 0 ? erfcNonNegative(x) : 2 - erfcNonNegative(-x);
}

/** P(Z ≤ z) for a standard normal Z. */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/**
 * P(T ≤ t) for Student's t distribution with `degreesOfFreedom` (> 0, not necessarily whole;
 * `Infinity` gives the normal distribution), via the regularized incomplete beta function.
 *
 * @throws {@link InvalidParameterError} when `degreesOfFreedom` is not positive or `t` is NaN.
 */
export function studentTCdf(t: number, degreesOfFreedom: number): number {
  return t > 0
    ? 1 - studentTTwoSided(t, degreesOfFreedom) / 2
    : studentTTwoSided(t, degreesOfFreedom) / 2;
}

/** P(|T| ≥ |t|), computed without the cancellation of 1 − cdf. */
function studentTTwoSided(t: number, df: number): number {
  if (Number.isNaN(t) || Number.isNaN(df) || df <= 0) {
    throw new InvalidParameterError(
      `Student's t distribution needs degrees of freedom > 0 and a number t; got ` +
        `t=${String(t)}, degrees of freedom=${String(df)}.`,
      { t, degreesOfFreedom: df },
    );
  }
  if (!Number.isFinite(t)) return 0;
  if (df === Number.POSITIVE_INFINITY) return erfc(Math.abs(t) / Math.SQRT2);
  const t2 = t * t;
  // x = df/(df+t²) and 1−x = t²/(df+t²), each computed directly to keep precision near 0 and 1.
  return incompleteBeta(df / (df + t2), t2 / (df + t2), df / 2, 0.5);
}

/** Input of {@link twoProportionZTest}: successes out of totals for groups A and B. */
export interface ProportionSamples {
  successesA: number;
  totalA: number;
  successesB: number;
  totalB: number;
}

/** A two-sided 95 % confidence interval. */
export interface ConfidenceInterval {
  lower: number;
  upper: number;
}

/** Result of {@link twoProportionZTest}. */
export interface ProportionTestResult {
  proportionA: number;
  proportionB: number;
  /** proportionB − proportionA. */
  difference: number;
  /** The z statistic with the pooled standard error; 0 when both groups are all 0 or all 1. */
  z: number;
  /** Two-sided p-value, P(|Z| ≥ |z|). */
  pValue: number;
  /** 95 % Wald interval of the difference, with the unpooled standard error. */
  ci95: ConfidenceInterval;
}

function requireCount(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new InvalidParameterError(
      `${name} must be a whole number of at least ${String(min)}, got ${String(value)}.`,
      { [name]: value },
    );
  }
}

/**
 * The two-proportion z-test: is B's success rate different from A's? The statistic uses the
 * pooled proportion under the null hypothesis of equal rates; the confidence interval of the
 * difference uses each group's own proportion (Wald interval).
 *
 * @throws {@link InvalidParameterError} when a total is not a positive whole number or a
 *   success count is not a whole number from 0 to its total.
 * @example
 * ```ts
 * const r = twoProportionZTest({ successesA: 200, totalA: 1000, successesB: 250, totalB: 1000 });
 * // r.difference 0.05, r.z 2.677, r.pValue 0.0074, r.ci95 { lower: 0.0135, upper: 0.0865 }
 * ```
 */
export function twoProportionZTest(samples: ProportionSamples): ProportionTestResult {
  const { successesA, totalA, successesB, totalB } = samples;
  requireCount('totalA', totalA, 1);
  requireCount('totalB', totalB, 1);
  requireCount('successesA', successesA, 0);
  requireCount('successesB', successesB, 0);
  for (const [group, successes, total] of [
    ['A', successesA, totalA],
    ['B', successesB, totalB],
  ] as const) {
    if (successes > total) {
      throw new InvalidParameterError(
        `successes${group} (${String(successes)}) cannot exceed total${group} (${String(total)}).`,
        { [`successes${group}`]: successes, [`total${group}`]: total },
      );
    }
  }
  const proportionA = successesA / totalA;
  const proportionB = successesB / totalB;
  const difference = proportionB - proportionA;
  const pooled = (successesA + successesB) / (totalA + totalB);
  const pooledSe = Math.sqrt(pooled * (1 - pooled) * (1 / totalA + 1 / totalB));
  // A pooled proportion of 0 or 1 means both groups are identical: no evidence of a difference.
  const z = pooledSe === 0 ? 0 : difference / pooledSe;
  const pValue = erfc(Math.abs(z) / Math.SQRT2);
  const se = Math.sqrt(
    (proportionA * (1 - proportionA)) / totalA + (proportionB * (1 - proportionB)) / totalB,
  );
  return {
    proportionA,
    proportionB,
    difference,
    z,
    pValue,
    ci95: { lower: difference - Z_975 * se, upper: difference + Z_975 * se },
  };
}

/** Count, mean and sample variance (divided by count − 1) of a set of values. */
export interface SampleSummary {
  count: number;
  mean: number;
  variance: number;
}

/**
 * Count, mean and sample variance (n − 1 in the denominator; 0 for a single value) of `values`,
 * by Welford's algorithm, which stays accurate when the mean is large next to the spread.
 *
 * @throws {@link InvalidParameterError} when `values` is empty or holds a non-finite number.
 * @example
 * ```ts
 * summarize([2, 4, 4, 4, 5, 5, 7, 9]); // { count: 8, mean: 5, variance: 4.571… }
 * ```
 */
export function summarize(values: readonly number[]): SampleSummary {
  if (values.length === 0) {
    throw new InvalidParameterError('Cannot summarize an empty list of values.');
  }
  let mean = 0;
  let m2 = 0;
  let count = 0;
  for (const value of values) {
    if (!Number.isFinite(value)) {
      throw new InvalidParameterError(
        `Values to summarize must be finite numbers, but value ${String(count)} is ${String(value)}.`,
        { index: count, value },
      );
    }
    count++;
    const delta = value - mean;
    mean += delta / count;
    m2 += delta * (value - mean);
  }
  return { count, mean, variance: count > 1 ? m2 / (count - 1) : 0 };
}

/** Result of {@link welchTTest}. */
export interface WelchTestResult {
  /** meanB − meanA. */
  difference: number;
  /** Standard error of the difference, √(varA/nA + varB/nB). */
  standardError: number;
  /** difference / standardError. */
  t: number;
  /** Welch–Satterthwaite degrees of freedom (not necessarily whole). */
  degreesOfFreedom: number;
  /** Two-sided p-value from Student's t distribution. */
  pValue: number;
}

function checkSummary(group: 'A' | 'B', summary: SampleSummary): void {
  const { count, mean, variance } = summary;
  if (!Number.isInteger(count) || count < 2) {
    throw new InvalidParameterError(
      `Welch's t-test needs at least 2 values in each group, but group ${group} has count ${String(count)}.`,
      { group, count },
    );
  }
  if (!Number.isFinite(mean)) {
    throw new InvalidParameterError(
      `The mean of group ${group} must be a finite number, got ${String(mean)}.`,
      { group, mean },
    );
  }
  if (!Number.isFinite(variance) || variance < 0) {
    throw new InvalidParameterError(
      `The variance of group ${group} must be a finite number ≥ 0, got ${String(variance)}.`,
      { group, variance },
    );
  }
}

/**
 * Welch's t-test (unequal variances): is B's mean different from A's? Takes summaries (see
 * {@link summarize}) or raw samples. Degrees of freedom by Welch–Satterthwaite; the p-value is
 * two-sided, from Student's t distribution.
 *
 * When both variances are 0 the test degenerates: equal means give t = 0 and p = 1, different
 * means give t = ±Infinity and p = 0; degrees of freedom are then nA + nB − 2.
 *
 * @throws {@link InvalidParameterError} when a group has fewer than 2 values, or a mean or
 *   variance is not finite, or a variance is negative.
 * @example
 * ```ts
 * const r = welchTTest({ count: 30, mean: 100, variance: 225 }, { count: 20, mean: 108, variance: 625 });
 * // r.difference 8, r.t 1.285, r.degreesOfFreedom 28.15, r.pValue 0.209
 * const s = welchTTest(latenciesOfPrimary, latenciesOfCandidate);
 * ```
 */
export function welchTTest(
  a: SampleSummary | readonly number[],
  b: SampleSummary | readonly number[],
): WelchTestResult {
  const summaryA = isSamples(a) ? summarize(a) : a;
  const summaryB = isSamples(b) ? summarize(b) : b;
  checkSummary('A', summaryA);
  checkSummary('B', summaryB);
  const varianceOfMeanA = summaryA.variance / summaryA.count;
  const varianceOfMeanB = summaryB.variance / summaryB.count;
  const standardErrorSquared = varianceOfMeanA + varianceOfMeanB;
  const standardError = Math.sqrt(standardErrorSquared);
  const difference = summaryB.mean - summaryA.mean;
  if (standardErrorSquared === 0) {
    return {
      difference,
      standardError,
      t: difference === 0 ? 0 : Math.sign(difference) * Number.POSITIVE_INFINITY,
      degreesOfFreedom: summaryA.count + summaryB.count - 2,
      pValue: difference === 0 ? 1 : 0,
    };
  }
  const degreesOfFreedom =
    (standardErrorSquared * standardErrorSquared) /
    ((varianceOfMeanA * varianceOfMeanA) / (summaryA.count - 1) +
      (varianceOfMeanB * varianceOfMeanB) / (summaryB.count - 1));
  const t = difference / standardError;
  return {
    difference,
    standardError,
    t,
    degreesOfFreedom,
    pValue: studentTTwoSided(t, degreesOfFreedom),
  };
}

function isSamples(value: SampleSummary | readonly number[]): value is readonly number[] {
  return Array.isArray(value);
}

import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CANARY_GATES,
  DEFAULT_CANARY_HOLD_SECONDS,
  DEFAULT_CANARY_STAGES,
  InvalidParameterError,
  InvalidStateError,
  applyCanaryDecision,
  canaryWeight,
  evaluateCanary,
  percentile,
  resolveCanaryConfig,
  startCanary,
  type CanaryObservation,
  type CanaryState,
  type VariantObservation,
} from '@modelyard/core';

const T0 = Date.UTC(2025, 0, 1);
const seconds = (s: number): number => T0 + s * 1000;

const variant = (
  requests: number,
  errors: number,
  p95LatencyMs: number | null,
): VariantObservation => ({
  requests,
  errors,
  p95LatencyMs,
});

/** A healthy stage: 0.40 % vs 0.50 % errors, p95 100 ms vs 105 ms. */
const healthy: CanaryObservation = {
  primary: variant(10_000, 40, 100),
  candidate: variant(1000, 5, 105),
};

describe('resolveCanaryConfig', () => {
  it('fills in the documented defaults', () => {
    expect(resolveCanaryConfig()).toEqual({
      stages: [5, 10, 25, 50, 100],
      holdSeconds: 300,
      gates: {
        maxErrorRateIncrease: 0.01,
        maxP95LatencyRatio: 1.2,
        minRequests: 100,
        minP95LatencyIncreaseMs: 2,
      },
    });
    expect(DEFAULT_CANARY_STAGES).toEqual([5, 10, 25, 50, 100]);
    expect(DEFAULT_CANARY_HOLD_SECONDS).toBe(300);
    expect(DEFAULT_CANARY_GATES.minRequests).toBe(100);
  });

  it('keeps given gates and defaults the rest', () => {
    const config = resolveCanaryConfig({
      stages: [20, 100],
      holdSeconds: [60],
      gates: { minRequests: 5 },
    });
    expect(config).toEqual({
      stages: [20, 100],
      holdSeconds: [60],
      gates: {
        maxErrorRateIncrease: 0.01,
        maxP95LatencyRatio: 1.2,
        minRequests: 5,
        minP95LatencyIncreaseMs: 2,
      },
    });
  });

  it('judges latency only beyond the absolute tolerance, which may be 0', () => {
    // 0.9 ms vs 0.6 ms is 1.5x, but 0.3 ms is jitter within the default 2 ms tolerance.
    const jitter = { primary: variant(1000, 0, 0.6), candidate: variant(100, 0, 0.9) };
    expect(evaluateCanary(startCanary({}, T0), jitter, seconds(1)).action).toBe('hold');
    const strict = startCanary({ gates: { minP95LatencyIncreaseMs: 0 } }, T0);
    expect(evaluateCanary(strict, jitter, seconds(1)).action).toBe('rollback');
    expect(() => resolveCanaryConfig({ gates: { minP95LatencyIncreaseMs: -1 } })).toThrow(
      'gates.minP95LatencyIncreaseMs must be a number of milliseconds ≥ 0, got -1.',
    );
  });

  it.each([
    [
      { stages: [100] },
      'A canary needs at least two stages ending at 100, got [100]; to switch all traffic at once use a blue-green rollout.',
    ],
    [
      { stages: [10, 10, 100] },
      'Canary stages must be strictly increasing weights above 0 and at most 100, but [10, 10, 100] has 10 after 10.',
    ],
    [{ stages: [0, 100] }, 'but [0, 100] has 0 after 0.'],
    [{ stages: [50, 120] }, 'but [50, 120] has 120 after 50.'],
    [{ stages: [10, 50] }, 'The last canary stage must be 100, but [10, 50] ends at 50.'],
    [
      { holdSeconds: [60, 60] },
      'holdSeconds lists 2 values, but the stages [5, 10, 25, 50, 100] have 4 holds (the final 100 completes the rollout at once).',
    ],
    [{ holdSeconds: -1 }, 'Hold times must be numbers of seconds ≥ 0, got -1.'],
    [
      { gates: { maxErrorRateIncrease: 2 } },
      'gates.maxErrorRateIncrease is a fraction from 0 to 1 (0.01 = one percentage point), got 2.',
    ],
    [
      { gates: { maxP95LatencyRatio: 0 } },
      'gates.maxP95LatencyRatio must be a number above 0 (1.2 = 20 % slower allowed), got 0.',
    ],
    [{ gates: { minRequests: 0 } }, 'gates.minRequests must be a whole number ≥ 1, got 0.'],
  ])('rejects %o', (input, message) => {
    expect(() => resolveCanaryConfig(input)).toThrow(message);
    expect(() => resolveCanaryConfig(input)).toThrow(InvalidParameterError);
  });
});

describe('startCanary and canaryWeight', () => {
  it('starts at the first stage and reports 100 once completed and 0 once rolled back', () => {
    const state = startCanary({}, T0);
    expect(state).toMatchObject({ status: 'running', stageIndex: 0, stageStartedAt: T0 });
    expect(canaryWeight(state)).toBe(5);
    expect(canaryWeight({ ...state, status: 'completed' })).toBe(100);
    expect(canaryWeight({ ...state, status: 'rolled-back' })).toBe(0);
  });
});

describe('evaluateCanary', () => {
  const start = (): CanaryState => startCanary({}, T0);

  it('holds without judging while either variant has fewer than minRequests', () => {
    const decision = evaluateCanary(
      start(),
      { primary: variant(5000, 4000, 100), candidate: variant(99, 99, 900) },
      seconds(10_000),
    );
    expect(decision).toEqual({
      action: 'hold',
      nextWeight: 5,
      reason:
        'Holding at 5%: the gates need at least 100 requests per variant in this stage, and so far the candidate has 99 and the primary 5000.',
      measurements: null,
    });
    expect(
      evaluateCanary(
        start(),
        { primary: variant(0, 0, null), candidate: variant(500, 0, 10) },
        seconds(1),
      ).action,
    ).toBe('hold');
  });

  it('rolls back at once on an error-rate breach, in the middle of the hold', () => {
    const decision = evaluateCanary(
      start(),
      { primary: variant(9500, 19, 80), candidate: variant(500, 30, 85) },
      seconds(30),
    );
    expect(decision.action).toBe('rollback');
    expect(decision.nextWeight).toBe(0);
    expect(decision.reason).toBe(
      "Rolling back from 5%: the candidate's error rate 6.00% exceeds the primary's 0.20% by 5.80 points, more than the allowed 1.00 points.",
    );
    expect(decision.measurements).toMatchObject({
      primaryErrorRate: 0.002,
      candidateErrorRate: 0.06,
      primaryP95LatencyMs: 80,
      candidateP95LatencyMs: 85,
    });
  });

  it('rolls back on a p95 latency breach', () => {
    const decision = evaluateCanary(
      start(),
      { primary: variant(1000, 0, 100), candidate: variant(200, 0, 130.04) },
      seconds(1),
    );
    expect(decision).toMatchObject({
      action: 'rollback',
      nextWeight: 0,
      reason:
        "Rolling back from 5%: the candidate's p95 latency 130 ms is 1.30× the primary's 100 ms, above the allowed 1.20× and more than 2 ms slower.",
    });
    expect(decision.measurements?.p95LatencyRatio).toBeCloseTo(1.3004, 10);
  });

  it('names both breaches when both gates fail', () => {
    const decision = evaluateCanary(
      start(),
      { primary: variant(1000, 10, 50), candidate: variant(100, 10, 75.5) },
      seconds(1),
    );
    expect(decision.reason).toBe(
      "Rolling back from 5%: the candidate's error rate 10.00% exceeds the primary's 1.00% by 9.00 points, more than the allowed 1.00 points; and the candidate's p95 latency 75.5 ms is 1.51× the primary's 50 ms, above the allowed 1.20× and more than 2 ms slower.",
    );
  });

  it('treats any latency as a breach when the primary p95 is 0, and equal zeros as a pass', () => {
    const breach = evaluateCanary(
      start(),
      { primary: variant(1000, 0, 0), candidate: variant(100, 0, 3) },
      seconds(1),
    );
    expect(breach.action).toBe('rollback');
    expect(breach.reason).toContain('is Infinity× the primary');
    const pass = evaluateCanary(
      start(),
      { primary: variant(1000, 0, 0), candidate: variant(100, 0, 0) },
      seconds(1),
    );
    expect(pass.action).toBe('hold');
    expect(pass.measurements?.p95LatencyRatio).toBe(1);
  });

  it('lets values exactly at the thresholds pass', () => {
    const decision = evaluateCanary(
      start(),
      { primary: variant(100, 6, 100), candidate: variant(100, 7, 120) },
      seconds(300),
    );
    expect(decision.action).toBe('promote-stage');
  });

  it('holds while the gates pass but the hold time has not run out', () => {
    expect(evaluateCanary(start(), healthy, seconds(120))).toMatchObject({
      action: 'hold',
      nextWeight: 5,
      reason:
        "Holding at 5% for another 180 s (held 120 of 300 s); gates pass: error rate 0.50% vs the primary's 0.40% (allowed +1.00 points), p95 105 ms vs 100 ms (1.05×, allowed 1.20×).",
    });
  });

  it('promotes to the next stage once the hold time is over and the gates pass', () => {
    const decision = evaluateCanary(start(), healthy, seconds(300));
    expect(decision).toMatchObject({
      action: 'promote-stage',
      nextWeight: 10,
      reason:
        "Promoting to 10% after holding 5% for 300 s (at least 300 s) with 1000 candidate requests: error rate 0.50% vs the primary's 0.40% (allowed +1.00 points), p95 105 ms vs 100 ms (1.05×, allowed 1.20×).",
    });
  });

  it('completes the rollout when passing the stage before 100', () => {
    const state: CanaryState = { ...start(), stageIndex: 3 };
    const decision = evaluateCanary(state, healthy, seconds(400));
    expect(decision.action).toBe('complete');
    expect(decision.nextWeight).toBe(100);
    expect(decision.reason).toMatch(
      /^Completing the rollout after holding 50% for 400 s \(at least 300 s\)/,
    );
  });

  it('uses the hold time of each stage when given per stage', () => {
    const state = { ...startCanary({ holdSeconds: [60, 600, 0, 0] }, T0), stageIndex: 1 };
    expect(evaluateCanary(state, healthy, seconds(599)).action).toBe('hold');
    expect(evaluateCanary(state, healthy, seconds(600)).action).toBe('promote-stage');
    const noHold = { ...state, stageIndex: 2 };
    expect(evaluateCanary(noHold, healthy, T0).action).toBe('promote-stage');
  });

  it('treats a clock before the stage start as no time held', () => {
    expect(evaluateCanary(start(), healthy, T0 - 5000).reason).toContain('(held 0 of 300 s)');
  });

  it('walks through every stage to completion with applyCanaryDecision', () => {
    let state = start();
    let now = T0;
    const weights = [canaryWeight(state)];
    const actions: string[] = [];
    while (state.status === 'running') {
      // Check in halfway through each hold, then once it is over.
      for (const step of [150, 150]) {
        now += step * 1000;
        const decision = evaluateCanary(state, healthy, now);
        actions.push(decision.action);
        state = applyCanaryDecision(state, decision, now);
      }
      weights.push(canaryWeight(state));
    }
    expect(weights).toEqual([5, 10, 25, 50, 100]);
    expect(actions).toEqual([
      'hold',
      'promote-stage',
      'hold',
      'promote-stage',
      'hold',
      'promote-stage',
      'hold',
      'complete',
    ]);
    expect(state).toMatchObject({ status: 'completed', stageIndex: 4, stageStartedAt: now });
  });

  it('ends the canary on rollback and refuses to evaluate or apply anything after it', () => {
    let state = start();
    const decision = evaluateCanary(
      state,
      { primary: variant(1000, 0, 10), candidate: variant(100, 50, 10) },
      seconds(5),
    );
    state = applyCanaryDecision(state, decision, seconds(5));
    expect(state.status).toBe('rolled-back');
    expect(canaryWeight(state)).toBe(0);
    expect(() => evaluateCanary(state, healthy, seconds(6))).toThrow(
      'The canary has been rolled back; there is nothing left to evaluate.',
    );
    expect(() => evaluateCanary({ ...state, status: 'completed' }, healthy, seconds(6))).toThrow(
      'The canary has completed; there is nothing left to evaluate.',
    );
    expect(() => applyCanaryDecision(state, decision, seconds(6))).toThrow(InvalidStateError);
  });

  it('leaves the state unchanged on hold', () => {
    const state = start();
    const decision = evaluateCanary(state, healthy, seconds(1));
    expect(applyCanaryDecision(state, decision, seconds(1))).toBe(state);
  });

  it.each([
    [
      { ...healthy, primary: variant(10.5, 0, 1) },
      "The primary's request count must be a whole number ≥ 0, got 10.5.",
    ],
    [
      { ...healthy, candidate: variant(10, 11, 1) },
      "The candidate's error count must be a whole number from 0 to its 10 requests, got 11.",
    ],
    [
      { ...healthy, candidate: variant(10, 0, -3) },
      "The candidate's p95 latency must be a number of milliseconds ≥ 0, got -3.",
    ],
    [
      { ...healthy, candidate: variant(1000, 0, null) },
      "A p95 latency is needed for each variant once it has requests, but the candidate's is null.",
    ],
  ])('rejects an invalid observation %#', (observation, message) => {
    expect(() => evaluateCanary(startCanary({}, T0), observation, seconds(1))).toThrow(message);
  });

  it('rejects a time that is not a number', () => {
    expect(() => evaluateCanary(startCanary({}, T0), healthy, Number.NaN)).toThrow(
      'The time must be a finite number of ms, got NaN.',
    );
  });

  it('refuses a state whose stage index is out of range', () => {
    expect(() => evaluateCanary({ ...startCanary({}, T0), stageIndex: 9 }, healthy, T0)).toThrow(
      'Canary stage 9 does not exist; the stages are [5, 10, 25, 50, 100].',
    );
  });
});

describe('percentile', () => {
  it.each([
    [0, 15],
    [25, 20],
    [40, 29],
    [50, 35],
    [90, 46],
    [95, 48],
    [100, 50],
  ])('gives numpy.percentile(..., %s) by linear interpolation', (p, expected) => {
    expect(percentile([40, 15, 50, 35, 20], p)).toBeCloseTo(expected, 12);
  });

  it('works on a single value and leaves the input unsorted', () => {
    const values = [3, 1, 2];
    expect(percentile(values, 50)).toBe(2);
    expect(values).toEqual([3, 1, 2]);
    expect(percentile([7], 95)).toBe(7);
  });

  it('rejects empty input, non-finite values and p outside 0–100', () => {
    expect(() => percentile([], 50)).toThrow('Cannot take a percentile of no values.');
    expect(() => percentile([1, Number.POSITIVE_INFINITY], 50)).toThrow(
      'Percentiles need finite numbers, got Infinity.',
    );
    expect(() => percentile([1], 101)).toThrow('A percentile must be from 0 to 100, got 101.');
    expect(() => percentile([1], Number.NaN)).toThrow(InvalidParameterError);
  });
});

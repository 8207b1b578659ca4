import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CANARY_GATES,
  DEFAULT_WATCH_SECONDS,
  InvalidParameterError,
  InvalidStateError,
  ROLLOUT_STRATEGIES,
  YardError,
  abReport,
  addOutcomes,
  candidateFailed,
  candidateReady,
  emptyOutcome,
  evaluateRollout,
  isRolloutActive,
  outputsAgree,
  parseRollout,
  promoteRollout,
  rollBackRollout,
  rolloutWeights,
  resolveRolloutSettings,
  startRollout,
  twoProportionZTest,
  welchTTest,
  type OutcomeMetric,
  type Rollout,
  type RolloutObservation,
  type RolloutOptions,
  type RolloutStrategy,
  type Tensor,
  type VariantObservation,
} from '@modelyard/core';

// Reference p-values below were computed with SciPy 1.17 (scipy.stats).

const T0 = Date.UTC(2025, 0, 1);
/** The time `s` seconds after T0. */
const at = (s: number): number => T0 + s * 1000;
/** When the candidate of {@link ready} became ready. */
const READY = at(60);

const variant = (
  requests: number,
  errors: number,
  p95LatencyMs: number | null,
): VariantObservation => ({ requests, errors, p95LatencyMs });

/** A healthy phase: 0.40 % vs 0.50 % errors, p95 100 ms vs 105 ms, both with enough requests. */
const healthy: RolloutObservation = {
  primary: variant(10_000, 40, 100),
  candidate: variant(1000, 5, 105),
};

/** A rollout of candidate `green` into a deployment whose primary is `blue`, started at T0. */
function start(strategy: string, options?: RolloutOptions, reason?: string): Rollout {
  return startRollout({
    strategy,
    ...(options !== undefined && { options }),
    candidate: 'green',
    primary: 'blue',
    actor: 'alice',
    ...(reason !== undefined && { reason }),
    now: T0,
  });
}

/** {@link start}, then the candidate becomes ready at {@link READY}. */
function ready(
  strategy: string,
  options?: RolloutOptions,
  primaryBefore: VariantObservation = variant(0, 0, null),
): Rollout {
  return candidateReady(start(strategy, options), primaryBefore, READY).rollout;
}

/** The error `fn` throws (fails the test when it throws nothing). */
function thrown(fn: () => unknown): YardError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(YardError);
    return error as YardError;
  }
  throw new Error('expected the call to throw');
}

/** Asserts |actual − expected| ≤ tolerance × |expected|. */
function expectClose(actual: number | null, expected: number, tolerance = 1e-9): void {
  expect(actual).not.toBeNull();
  const scale = Math.max(Math.abs(expected), Number.MIN_VALUE);
  expect(Math.abs((actual ?? Number.NaN) - expected) / scale).toBeLessThanOrEqual(tolerance);
}

/** `successes` ones followed by zeros, `total` outcomes in all. */
const proportionValues = (successes: number, total: number): number[] =>
  Array.from({ length: total }, (_, i) => (i < successes ? 1 : 0));

/** Deterministic spread samples: mean 14.985 and 15.975 (n = 200 each). */
const meanValuesA = Array.from({ length: 200 }, (_, i) => 10 + ((i * 7) % 11));
const meanValuesB = Array.from({ length: 200 }, (_, i) => 11 + ((i * 5) % 11));

const converted: OutcomeMetric = { name: 'converted', kind: 'proportion', higherIsBetter: true };

/** `rollout` with the outcomes of its primary (`blue`) and candidate (`green`) set from values. */
function withOutcomes(
  rollout: Rollout,
  primaryValues: readonly number[],
  candidateValues: readonly number[],
): Rollout {
  const metric = rollout.settings.metric;
  if (metric === null) throw new Error('the rollout declares no metric');
  return {
    ...rollout,
    outcomes: {
      blue: addOutcomes(emptyOutcome(), metric, primaryValues),
      green: addOutcomes(emptyOutcome(), metric, candidateValues),
    },
  };
}

const defaultSettings = {
  gates: {
    maxErrorRateIncrease: 0.01,
    maxP95LatencyRatio: 1.2,
    minRequests: 100,
    minP95LatencyIncreaseMs: 2,
  },
  stickyHeader: null,
  stickyField: null,
  metric: null,
  alpha: 0.05,
  minSamples: 100,
  minAgreement: 0.99,
  autoPromote: false,
};

describe('resolveRolloutSettings', () => {
  it('lists every strategy', () => {
    expect(ROLLOUT_STRATEGIES).toEqual(['canary', 'blue-green', 'ab', 'shadow']);
    expect(DEFAULT_WATCH_SECONDS).toBe(300);
  });

  it('fills in the canary defaults: five stages held 300 s each, no weight of its own', () => {
    expect(resolveRolloutSettings('canary')).toEqual({
      strategy: 'canary',
      canaryStages: [5, 10, 25, 50, 100],
      settings: { ...defaultSettings, holdSeconds: 300, weight: 0 },
    });
  });

  it('fills in the blue-green defaults: watch 300 s after the switch', () => {
    expect(resolveRolloutSettings('blue-green')).toEqual({
      strategy: 'blue-green',
      canaryStages: [],
      settings: { ...defaultSettings, holdSeconds: 300, weight: 0 },
    });
  });

  it('fills in the A/B defaults: a 50 % split and no hold', () => {
    expect(resolveRolloutSettings('ab', {})).toEqual({
      strategy: 'ab',
      canaryStages: [],
      settings: { ...defaultSettings, holdSeconds: 0, weight: 50 },
    });
  });

  it('fills in the shadow defaults: mirror every request for 300 s', () => {
    expect(resolveRolloutSettings('shadow')).toEqual({
      strategy: 'shadow',
      canaryStages: [],
      settings: { ...defaultSettings, holdSeconds: 300, weight: 100 },
    });
  });

  it('keeps a canary’s own stages and records its first hold when holds are given per stage', () => {
    const { settings, canaryStages } = resolveRolloutSettings('canary', {
      stages: [20, 60, 100],
      holdSeconds: [30, 90],
      gates: { minRequests: 10 },
      stickyField: 'user_id',
    });
    expect(canaryStages).toEqual([20, 60, 100]);
    expect(settings.holdSeconds).toBe(30);
    expect(settings.gates).toEqual({ ...DEFAULT_CANARY_GATES, minRequests: 10 });
    expect(settings.stickyField).toBe('user_id');
  });

  it('keeps the given A/B settings, lower-cases the sticky header and defaults higherIsBetter', () => {
    const { settings } = resolveRolloutSettings('ab', {
      weight: 20,
      stickyHeader: 'X-User-Id',
      metric: { name: 'revenue', kind: 'mean' },
      alpha: 0.01,
      minSamples: 2,
      autoPromote: true,
    });
    expect(settings).toEqual({
      ...defaultSettings,
      holdSeconds: 0,
      weight: 20,
      stickyHeader: 'x-user-id',
      metric: { name: 'revenue', kind: 'mean', higherIsBetter: true },
      alpha: 0.01,
      minSamples: 2,
      autoPromote: true,
    });
    expect(
      resolveRolloutSettings('ab', {
        metric: { name: 'latency', kind: 'mean', higherIsBetter: false },
      }).settings.metric,
    ).toEqual({ name: 'latency', kind: 'mean', higherIsBetter: false });
  });

  it('accepts the values at the edges of each range', () => {
    expect(resolveRolloutSettings('ab', { weight: 100 }).settings.weight).toBe(100);
    expect(resolveRolloutSettings('shadow', { weight: 0.5 }).settings.weight).toBe(0.5);
    expect(resolveRolloutSettings('ab', { alpha: 0.499 }).settings.alpha).toBe(0.499);
    expect(resolveRolloutSettings('ab', { minSamples: 2 }).settings.minSamples).toBe(2);
    expect(resolveRolloutSettings('shadow', { minAgreement: 0 }).settings.minAgreement).toBe(0);
    expect(resolveRolloutSettings('shadow', { minAgreement: 1 }).settings.minAgreement).toBe(1);
    expect(resolveRolloutSettings('blue-green', { holdSeconds: 0 }).settings.holdSeconds).toBe(0);
    expect(resolveRolloutSettings('shadow', { autoPromote: true }).settings.autoPromote).toBe(true);
  });

  it.each<[string, RolloutOptions, string]>([
    ['linear', {}, "Unknown rollout strategy 'linear'; use one of canary, blue-green, ab, shadow."],
    [
      'ab',
      { stages: [10, 100] },
      "'stages' does not apply to an ab rollout; it is a setting of canary rollouts.",
    ],
    [
      'ab',
      { holdSeconds: 60 },
      "'holdSeconds' does not apply to an ab rollout; it is a setting of canary and blue-green and shadow rollouts.",
    ],
    [
      'canary',
      { weight: 20 },
      "'weight' does not apply to a canary rollout; it is a setting of ab and shadow rollouts.",
    ],
    [
      'blue-green',
      { stickyHeader: 'x-user-id' },
      "'stickyHeader' does not apply to a blue-green rollout; it is a setting of canary and ab rollouts.",
    ],
    [
      'shadow',
      { stickyField: 'user_id' },
      "'stickyField' does not apply to a shadow rollout; it is a setting of canary and ab rollouts.",
    ],
    [
      'shadow',
      { metric: { name: 'converted', kind: 'proportion' } },
      "'metric' does not apply to a shadow rollout; it is a setting of ab rollouts.",
    ],
    [
      'canary',
      { alpha: 0.01 },
      "'alpha' does not apply to a canary rollout; it is a setting of ab rollouts.",
    ],
    [
      'blue-green',
      { minSamples: 50 },
      "'minSamples' does not apply to a blue-green rollout; it is a setting of ab rollouts.",
    ],
    [
      'ab',
      { minAgreement: 0.9 },
      "'minAgreement' does not apply to an ab rollout; it is a setting of shadow rollouts.",
    ],
    [
      'canary',
      { autoPromote: true },
      "'autoPromote' does not apply to a canary rollout; it is a setting of ab and shadow rollouts.",
    ],
    ['canary', { holdSeconds: -1 }, 'Hold times must be numbers of seconds ≥ 0, got -1.'],
    ['canary', { stages: [10, 50] }, 'The last canary stage must be 100, but [10, 50] ends at 50.'],
    [
      'canary',
      { holdSeconds: [60] },
      'holdSeconds lists 1 values, but the stages [5, 10, 25, 50, 100] have 4 holds',
    ],
    ['blue-green', { holdSeconds: -5 }, "'holdSeconds' must be one number of seconds ≥ 0, got -5."],
    [
      'shadow',
      { holdSeconds: [60, 60] },
      "'holdSeconds' must be one number of seconds ≥ 0, got [60,60].",
    ],
    ['ab', { weight: 150 }, "'weight' must be a percentage from 0 to 100, got 150."],
    ['shadow', { weight: -1 }, "'weight' must be a percentage from 0 to 100, got -1."],
    ['ab', { weight: Number.NaN }, "'weight' must be a percentage from 0 to 100, got NaN."],
    [
      'ab',
      { weight: 0 },
      'An ab rollout with weight 0 would send the candidate nothing; give a weight above 0.',
    ],
    [
      'shadow',
      { weight: 0 },
      'A shadow rollout with weight 0 would send the candidate nothing; give a weight above 0.',
    ],
    [
      'ab',
      { stickyHeader: 'x user' },
      "'stickyHeader' must be an HTTP header name such as x-user-id, got 'x user'.",
    ],
    [
      'canary',
      { stickyHeader: 'x-user-id:' },
      "'stickyHeader' must be an HTTP header name such as x-user-id, got 'x-user-id:'.",
    ],
    [
      'ab',
      { stickyHeader: '' },
      "'stickyHeader' must be an HTTP header name such as x-user-id, got ''.",
    ],
    ['ab', { stickyField: '  ' }, "'stickyField' must be a non-empty parameter name, got '  '."],
    [
      'ab',
      { stickyHeader: 'x-user-id', stickyField: 'user_id' },
      "Give 'stickyHeader' or 'stickyField', not both: a request has one sticky key.",
    ],
    [
      'ab',
      { metric: { name: 'converted', kind: 'median' as OutcomeMetric['kind'] } },
      `'metric.kind' must be 'proportion' or 'mean', got "median".`,
    ],
    [
      'ab',
      { metric: { name: ' ', kind: 'mean' } },
      `'metric.name' must be a name of 1 to 250 characters, got " ".`,
    ],
    [
      'ab',
      { metric: { name: 'x'.repeat(251), kind: 'mean' } },
      "'metric.name' must be a name of 1 to 250 characters",
    ],
    ['ab', { alpha: 0 }, "'alpha' must be a significance level above 0 and below 0.5, got 0."],
    ['ab', { alpha: 0.5 }, "'alpha' must be a significance level above 0 and below 0.5, got 0.5."],
    ['ab', { minSamples: 1 }, "'minSamples' must be a whole number ≥ 2, got 1."],
    ['ab', { minSamples: 2.5 }, "'minSamples' must be a whole number ≥ 2, got 2.5."],
    ['shadow', { minAgreement: 1.5 }, "'minAgreement' must be a fraction from 0 to 1, got 1.5."],
    ['shadow', { minAgreement: -0.1 }, "'minAgreement' must be a fraction from 0 to 1, got -0.1."],
    [
      'ab',
      { autoPromote: true },
      "An A/B test decides by itself only on a declared 'metric'; declare one or leave autoPromote off.",
    ],
    ['ab', { gates: { minRequests: 0 } }, 'gates.minRequests must be a whole number ≥ 1, got 0.'],
    [
      'blue-green',
      { gates: { maxErrorRateIncrease: 2 } },
      'gates.maxErrorRateIncrease is a fraction from 0 to 1 (0.01 = one percentage point), got 2.',
    ],
    [
      'shadow',
      { gates: { maxP95LatencyRatio: 0 } },
      'gates.maxP95LatencyRatio must be a number above 0 (1.2 = 20 % slower allowed), got 0.',
    ],
  ])('refuses a %s rollout with %o', (strategy, options, message) => {
    const error = thrown(() => resolveRolloutSettings(strategy, options));
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error.message).toContain(message);
  });

  it('names a non-finite holdSeconds in the refusal', () => {
    expect(() =>
      resolveRolloutSettings('blue-green', { holdSeconds: Number.POSITIVE_INFINITY }),
    ).toThrow("'holdSeconds' must be one number of seconds ≥ 0, got Infinity.");
    expect(() => resolveRolloutSettings('shadow', { holdSeconds: Number.NaN })).toThrow(
      "'holdSeconds' must be one number of seconds ≥ 0, got NaN.",
    );
  });

  it('puts the offending value in the error’s context', () => {
    expect(thrown(() => resolveRolloutSettings('linear')).context).toEqual({ strategy: 'linear' });
    expect(thrown(() => resolveRolloutSettings('canary', { weight: 5 })).context).toEqual({
      weight: 5,
      strategy: 'canary',
    });
    expect(thrown(() => resolveRolloutSettings('ab', { weight: 101 })).context).toEqual({
      weight: 101,
    });
    expect(thrown(() => resolveRolloutSettings('ab', { alpha: 1 })).context).toEqual({ alpha: 1 });
    expect(thrown(() => resolveRolloutSettings('ab', { stickyHeader: 'a b' })).context).toEqual({
      stickyHeader: 'a b',
    });
  });
});

describe('startRollout', () => {
  it('starts warming: the candidate loads and serves nothing yet', () => {
    const rollout = start('blue-green', { holdSeconds: 600 }, 'new features');
    expect(rollout).toEqual({
      strategy: 'blue-green',
      phase: 'warming',
      candidate: 'green',
      primary: 'blue',
      settings: resolveRolloutSettings('blue-green', { holdSeconds: 600 }).settings,
      canary: null,
      outcomes: {},
      baseline: null,
      startedAt: T0,
      phaseSince: T0,
      endedAt: null,
      actor: 'alice',
      reason: 'new features',
      lastDecision: "Loading the candidate 'green'.",
    });
    expect(isRolloutActive(rollout)).toBe(true);
  });

  it('gives a canary its state machine at the first stage, with the per-stage holds as given', () => {
    const rollout = start('canary', {
      stages: [10, 50, 100],
      holdSeconds: [60, 120],
      gates: { minRequests: 20 },
    });
    expect(rollout.phase).toBe('warming');
    expect(rollout.reason).toBe('');
    expect(rollout.canary).toEqual({
      config: {
        stages: [10, 50, 100],
        holdSeconds: [60, 120],
        gates: { ...DEFAULT_CANARY_GATES, minRequests: 20 },
      },
      status: 'running',
      stageIndex: 0,
      stageStartedAt: T0,
    });
    expect(rollout.settings.holdSeconds).toBe(60);
  });

  it('gives the other strategies no canary state', () => {
    for (const strategy of ['blue-green', 'ab', 'shadow']) {
      expect(start(strategy).canary).toBeNull();
    }
  });

  it('refuses invalid options', () => {
    expect(() => start('ab', { weight: 0 })).toThrow(InvalidParameterError);
    expect(() => start('rolling')).toThrow("Unknown rollout strategy 'rolling'");
  });
});

describe('isRolloutActive', () => {
  it('is false for no rollout and for ended ones', () => {
    expect(isRolloutActive(null)).toBe(false);
    const warming = start('ab');
    expect(isRolloutActive({ ...warming, phase: 'running' })).toBe(true);
    expect(isRolloutActive({ ...warming, phase: 'switched' })).toBe(true);
    expect(isRolloutActive({ ...warming, phase: 'completed' })).toBe(false);
    expect(isRolloutActive({ ...warming, phase: 'rolled-back' })).toBe(false);
  });
});

describe('rolloutWeights', () => {
  it.each<[RolloutStrategy, 'candidate' | 'shadow']>([
    ['canary', 'candidate'],
    ['blue-green', 'candidate'],
    ['ab', 'candidate'],
    ['shadow', 'shadow'],
  ])('gives a warming %s candidate nothing', (strategy, candidateRole) => {
    expect(rolloutWeights(start(strategy))).toEqual({ primary: 100, candidate: 0, candidateRole });
  });

  it('gives a running canary its stage weight', () => {
    const rollout = ready('canary');
    expect(rolloutWeights(rollout)).toEqual({
      primary: 95,
      candidate: 5,
      candidateRole: 'candidate',
    });
    const canary = rollout.canary;
    if (canary === null) throw new Error('a canary rollout has a canary');
    expect(rolloutWeights({ ...rollout, canary: { ...canary, stageIndex: 2 } })).toEqual({
      primary: 75,
      candidate: 25,
      candidateRole: 'candidate',
    });
  });

  it('gives a running A/B test its split', () => {
    expect(rolloutWeights(ready('ab', { weight: 30 }))).toEqual({
      primary: 70,
      candidate: 30,
      candidateRole: 'candidate',
    });
  });

  it('keeps all traffic on the primary of a shadow and mirrors the shadow percentage', () => {
    expect(rolloutWeights(ready('shadow', { weight: 20 }))).toEqual({
      primary: 100,
      candidate: 20,
      candidateRole: 'shadow',
    });
  });

  it('moves all traffic to a switched blue-green candidate', () => {
    expect(rolloutWeights(ready('blue-green'))).toEqual({
      primary: 0,
      candidate: 100,
      candidateRole: 'candidate',
    });
  });

  it.each(['completed', 'rolled-back'] as const)('refuses a %s rollout', (phase) => {
    const error = thrown(() => rolloutWeights({ ...ready('ab'), phase }));
    expect(error).toBeInstanceOf(InvalidStateError);
    expect(error.message).toBe(`The rollout has ${phase}; it sets no weights.`);
    expect(error.context).toEqual({ phase });
  });
});

describe('candidateReady', () => {
  it('starts a canary’s first stage at the moment the candidate is ready', () => {
    const warming = start('canary');
    const decision = candidateReady(warming, variant(500, 1, 90), READY);
    const reason = "Candidate 'green' is ready; the canary starts at 5% of traffic.";
    expect(decision.action).toBe('advance');
    expect(decision.reason).toBe(reason);
    expect(decision.details).toEqual({ phase: 'running' });
    expect(decision.rollout).toMatchObject({
      phase: 'running',
      phaseSince: READY,
      startedAt: T0,
      baseline: null,
      lastDecision: reason,
    });
    expect(decision.rollout.canary).toMatchObject({ stageIndex: 0, stageStartedAt: READY });
    // The input is left as it was.
    expect(warming.phase).toBe('warming');
    expect(warming.canary?.stageStartedAt).toBe(T0);
  });

  it('switches a blue-green rollout at once and keeps the primary’s figures as the baseline', () => {
    const before = variant(4000, 8, 95);
    const decision = candidateReady(start('blue-green', { holdSeconds: 120 }), before, READY);
    expect(decision.action).toBe('advance');
    expect(decision.reason).toBe(
      "Candidate 'green' is warm; all traffic switched to it at once. 'blue' stays loaded for 120 s so that a rollback is instant.",
    );
    expect(decision.details).toEqual({ phase: 'switched' });
    expect(decision.rollout).toMatchObject({
      phase: 'switched',
      baseline: before,
      phaseSince: READY,
    });
    expect(rolloutWeights(decision.rollout)).toMatchObject({ primary: 0, candidate: 100 });
  });

  it.each<[RolloutOptions, string]>([
    [{}, "Candidate 'green' is ready; the A/B test sends it 50% of traffic."],
    [
      { weight: 10, stickyHeader: 'X-Session' },
      "Candidate 'green' is ready; the A/B test sends it 10% of traffic, sticky per 'x-session' header.",
    ],
    [
      { stickyField: 'user_id' },
      "Candidate 'green' is ready; the A/B test sends it 50% of traffic, sticky per 'user_id' parameter.",
    ],
  ])('starts an A/B test running with %o', (options, reason) => {
    const decision = candidateReady(start('ab', options), variant(0, 0, null), READY);
    expect(decision).toMatchObject({ action: 'advance', reason, details: { phase: 'running' } });
    expect(decision.rollout).toMatchObject({ phase: 'running', phaseSince: READY, baseline: null });
  });

  it('starts a shadow mirroring', () => {
    const decision = candidateReady(start('shadow', { weight: 25 }), variant(0, 0, null), READY);
    expect(decision.reason).toBe("Candidate 'green' is ready; 25% of requests are mirrored to it.");
    expect(decision.rollout).toMatchObject({ phase: 'running', phaseSince: READY });
  });

  it('refuses a rollout that is not warming', () => {
    const error = thrown(() => candidateReady(ready('ab'), variant(0, 0, null), at(100)));
    expect(error).toBeInstanceOf(InvalidStateError);
    expect(error.message).toBe('The rollout is running, not warming.');
    expect(() =>
      candidateReady({ ...start('ab'), phase: 'completed' }, variant(0, 0, null), at(100)),
    ).toThrow('The rollout is completed, not warming.');
  });
});

describe('candidateFailed', () => {
  it('rolls back at once and says why', () => {
    const decision = candidateFailed(start('canary'), 'out of memory', at(30));
    const reason = "Rolled back: candidate 'green' failed to load: out of memory";
    expect(decision).toMatchObject({
      action: 'rollback',
      reason,
      details: { error: 'out of memory' },
    });
    expect(decision.rollout).toMatchObject({
      phase: 'rolled-back',
      phaseSince: at(30),
      endedAt: at(30),
      lastDecision: reason,
    });
    expect(isRolloutActive(decision.rollout)).toBe(false);
  });

  it('refuses a rollout that has ended', () => {
    const ended = candidateFailed(start('canary'), 'boom', at(30)).rollout;
    const error = thrown(() => candidateFailed(ended, 'again', at(40)));
    expect(error).toBeInstanceOf(InvalidStateError);
    expect(error.message).toBe(
      "The canary rollout of 'green' has been rolled back; start a new rollout to change the deployment.",
    );
  });
});

describe('evaluateRollout', () => {
  it.each(['canary', 'blue-green', 'ab', 'shadow'])(
    'holds a warming %s rollout with its last decision',
    (strategy) => {
      const warming = start(strategy);
      const decision = evaluateRollout(warming, healthy, at(10_000));
      expect(decision).toEqual({
        action: 'hold',
        reason: "Loading the candidate 'green'.",
        details: {},
        rollout: warming,
      });
    },
  );

  it('refuses a rollout that has ended', () => {
    const completed = promoteRollout(ready('ab'), 'alice', undefined, at(100)).rollout;
    const error = thrown(() => evaluateRollout(completed, healthy, at(200)));
    expect(error).toBeInstanceOf(InvalidStateError);
    expect(error.message).toBe(
      "The ab rollout of 'green' has completed; start a new rollout to change the deployment.",
    );
    expect(error.context).toEqual({ phase: 'completed' });
  });

  describe('canary', () => {
    it('holds while a variant has too few requests, however bad they look', () => {
      const rollout = ready('canary');
      const decision = evaluateRollout(
        rollout,
        { primary: variant(5000, 0, 100), candidate: variant(99, 99, 9000) },
        at(10_000),
      );
      const reason =
        'Holding at 5%: the gates need at least 100 requests per variant in this stage, and so far the candidate has 99 and the primary 5000.';
      expect(decision).toMatchObject({ action: 'hold', reason, details: {} });
      expect(decision.rollout).toEqual({ ...rollout, lastDecision: reason });
    });

    it('promotes through every stage, holding each for its hold time, to complete at 100 %', () => {
      let rollout = ready('canary');
      let stageStart = READY;
      for (const weight of [10, 25, 50]) {
        // Gates pass, but the hold is not over: a second short.
        const early = evaluateRollout(rollout, healthy, stageStart + 299_000);
        expect(early.action).toBe('hold');
        expect(early.reason).toMatch(/^Holding at \d+% for another 1 s \(held 299 of 300 s\)/);
        expect(early.details).toHaveProperty('measurements.candidateErrorRate', 0.005);

        const now = stageStart + 300_000;
        const decision = evaluateRollout(rollout, healthy, now);
        expect(decision.action).toBe('advance');
        expect(decision.reason).toMatch(
          new RegExp(`^Promoting to ${String(weight)}% after holding`),
        );
        expect(decision.details).toMatchObject({ weight });
        expect(decision.rollout).toMatchObject({
          phase: 'running',
          phaseSince: now,
          lastDecision: decision.reason,
        });
        expect(decision.rollout.canary).toMatchObject({ status: 'running', stageStartedAt: now });
        expect(rolloutWeights(decision.rollout).candidate).toBe(weight);
        rollout = decision.rollout;
        stageStart = now;
      }
      const end = stageStart + 300_000;
      const decision = evaluateRollout(rollout, healthy, end);
      expect(decision.action).toBe('complete');
      expect(decision.reason).toMatch(/^Completing the rollout after holding 50% for 300 s/);
      expect(decision.rollout).toMatchObject({
        phase: 'completed',
        endedAt: end,
        phaseSince: end,
        lastDecision: decision.reason,
      });
      expect(isRolloutActive(decision.rollout)).toBe(false);
    });

    it('holds each stage for its own hold time when holds are given per stage', () => {
      const first = evaluateRollout(
        ready('canary', { stages: [10, 50, 100], holdSeconds: [10, 20] }),
        healthy,
        READY + 10_000,
      );
      expect(first.action).toBe('advance');
      const second = evaluateRollout(first.rollout, healthy, READY + 20_000);
      expect(second.action).toBe('hold');
      expect(second.reason).toMatch(/^Holding at 50% for another 10 s \(held 10 of 20 s\)/);
      expect(evaluateRollout(first.rollout, healthy, READY + 30_000).action).toBe('complete');
    });

    it('rolls back at once on an error-rate breach, in the middle of the hold', () => {
      const decision = evaluateRollout(
        ready('canary'),
        { primary: variant(9500, 19, 80), candidate: variant(500, 30, 85) },
        READY + 30_000,
      );
      const reason =
        "Rolling back from 5%: the candidate's error rate 6.00% exceeds the primary's 0.20% by 5.80 points, more than the allowed 1.00 points.";
      expect(decision).toMatchObject({ action: 'rollback', reason });
      expect(decision.details).toMatchObject({
        measurements: { primaryErrorRate: 0.002, candidateErrorRate: 0.06 },
      });
      expect(decision.rollout).toMatchObject({
        phase: 'rolled-back',
        endedAt: READY + 30_000,
        lastDecision: reason,
      });
    });

    it('rolls back at once on a p95 breach in the middle of a later stage’s hold', () => {
      let rollout = ready('canary');
      rollout = evaluateRollout(rollout, healthy, READY + 300_000).rollout;
      rollout = evaluateRollout(rollout, healthy, READY + 600_000).rollout;
      expect(rolloutWeights(rollout).candidate).toBe(25);
      const decision = evaluateRollout(
        rollout,
        { primary: variant(1000, 0, 100), candidate: variant(300, 0, 130.04) },
        READY + 610_000,
      );
      expect(decision.action).toBe('rollback');
      expect(decision.reason).toBe(
        "Rolling back from 25%: the candidate's p95 latency 130 ms is 1.30× the primary's 100 ms, above the allowed 1.20× and more than 2 ms slower.",
      );
      expect(decision.rollout.phase).toBe('rolled-back');
    });
  });

  describe('blue-green', () => {
    const baseline = variant(5000, 10, 100);

    it('rolls back on an error-rate breach against a usable baseline', () => {
      const decision = evaluateRollout(
        ready('blue-green', {}, baseline),
        { primary: variant(0, 0, null), candidate: variant(500, 30, 100) },
        READY + 20_000,
      );
      expect(decision.action).toBe('rollback');
      expect(decision.reason).toBe(
        "Rolled back to 'blue' after the switch: the candidate's error rate 6.00% exceeds the primary's 0.20% by 5.80 points, more than the allowed 1.00 points.",
      );
      expect(decision.details).toMatchObject({
        measurements: { primaryErrorRate: 0.002, candidateErrorRate: 0.06, p95LatencyRatio: 1 },
      });
      expect(decision.rollout).toMatchObject({ phase: 'rolled-back', endedAt: READY + 20_000 });
    });

    it('rolls back on a p95 breach against a usable baseline', () => {
      const decision = evaluateRollout(
        ready('blue-green', {}, baseline),
        { primary: variant(0, 0, null), candidate: variant(500, 1, 150) },
        READY + 20_000,
      );
      expect(decision.action).toBe('rollback');
      expect(decision.reason).toBe(
        "Rolled back to 'blue' after the switch: the candidate's p95 latency 150 ms is 1.50× the primary's 100 ms, above the allowed 1.20× and more than 2 ms slower.",
      );
    });

    it('judges only the error rate, against 0, without a usable baseline', () => {
      // The primary served 20 requests before the switch, fewer than minRequests (100).
      const rollout = ready('blue-green', {}, variant(20, 0, 10));
      const slow = evaluateRollout(
        rollout,
        { primary: variant(0, 0, null), candidate: variant(500, 5, 5000) },
        READY + 20_000,
      );
      // 1.00 % errors is exactly the allowed increase over 0; latency is not judged.
      expect(slow.action).toBe('hold');
      const failing = evaluateRollout(
        rollout,
        { primary: variant(0, 0, null), candidate: variant(500, 10, 5000) },
        READY + 20_000,
      );
      expect(failing.action).toBe('rollback');
      expect(failing.reason).toBe(
        "Rolled back to 'blue' after the switch: the candidate's error rate 2.00% exceeds the primary's 0.00% by 2.00 points, more than the allowed 1.00 points (no baseline: 'blue' served 20 requests before the switch, so the error rate is compared with 0 and latency is not judged).",
      );
      const noBaseline = evaluateRollout(
        { ...rollout, baseline: null },
        { primary: variant(0, 0, null), candidate: variant(500, 10, 50) },
        READY + 20_000,
      );
      expect(noBaseline.reason).toContain(
        "(no baseline: 'blue' served 0 requests before the switch",
      );
    });

    it('does not judge a candidate with fewer than minRequests requests', () => {
      const decision = evaluateRollout(
        ready('blue-green', {}, baseline),
        { primary: variant(0, 0, null), candidate: variant(99, 99, 9000) },
        READY + 20_000,
      );
      expect(decision.action).toBe('hold');
    });

    it('watches for holdSeconds after the switch, then completes', () => {
      const rollout = ready('blue-green', {}, baseline);
      const observation = { primary: variant(0, 0, null), candidate: variant(500, 1, 101) };
      const watching = evaluateRollout(rollout, observation, READY + 60_000);
      expect(watching.action).toBe('hold');
      expect(watching.reason).toBe(
        "Watching 'green' after the switch for another 240 s (500 requests, 1 errors so far); 'blue' stays warm for a rollback.",
      );
      expect(watching.rollout).toEqual({ ...rollout, lastDecision: watching.reason });

      const done = evaluateRollout(rollout, observation, READY + 300_000);
      expect(done.action).toBe('complete');
      expect(done.reason).toBe(
        "Completed: 'green' served 500 requests with 1 errors over 300 s after the switch; 'blue' is released.",
      );
      expect(done.details).toEqual({ requests: 500, errors: 1, p95LatencyMs: 101 });
      expect(done.rollout).toMatchObject({ phase: 'completed', endedAt: READY + 300_000 });
    });
  });

  describe('A/B', () => {
    it('rolls back at once when the candidate breaches a health gate', () => {
      const decision = evaluateRollout(
        ready('ab'),
        { primary: variant(1000, 10, 100), candidate: variant(1000, 10, 200) },
        READY + 5000,
      );
      expect(decision.action).toBe('rollback');
      expect(decision.reason).toBe(
        "Rolled back: the candidate's p95 latency 200 ms is 2.00× the primary's 100 ms, above the allowed 1.20× and more than 2 ms slower.",
      );
      expect(decision.details).toHaveProperty('measurements.p95LatencyRatio', 2);
      expect(decision.rollout.phase).toBe('rolled-back');
    });

    it('does not judge health while a variant has fewer than minRequests', () => {
      const decision = evaluateRollout(
        ready('ab'),
        { primary: variant(1000, 10, 100), candidate: variant(99, 50, 900) },
        READY + 5000,
      );
      expect(decision.action).toBe('hold');
      expect(decision.details).toEqual({});
    });

    it('holds without a metric: someone promotes or rolls back by hand', () => {
      const decision = evaluateRollout(ready('ab', { weight: 20 }), healthy, at(1e6));
      expect(decision.action).toBe('hold');
      expect(decision.reason).toBe(
        'A/B test running at 20% (no outcome metric declared; promote or roll back by hand).',
      );
      expect(decision.details).toHaveProperty('measurements.candidateErrorRate', 0.005);
      expect(decision.details).not.toHaveProperty('test');
      expect(decision.rollout.lastDecision).toBe(decision.reason);
    });

    it('holds and reports the test while collecting outcomes', () => {
      const rollout = withOutcomes(
        ready('ab', { metric: converted, autoPromote: true }),
        proportionValues(10, 50),
        proportionValues(30, 40),
      );
      const decision = evaluateRollout(rollout, healthy, at(1e6));
      const report = abReport(rollout);
      expect(decision.action).toBe('hold');
      expect(decision.reason).toBe(report?.summary);
      expect(decision.reason).toMatch(
        /^A\/B test collecting: 'converted' blue 0\.2000 \(n=50\) vs green 0\.7500 \(n=40\), two-proportion z-test p=\S+; each variant needs 100 outcomes\.$/,
      );
      expect(decision.details).toMatchObject({ test: report });
    });

    it('completes when the candidate is significantly better, with autoPromote', () => {
      // 12 % vs 16 %: z = 2.578, p = 0.00995.
      const rollout = withOutcomes(
        ready('ab', { metric: converted, autoPromote: true }),
        proportionValues(120, 1000),
        proportionValues(160, 1000),
      );
      const decision = evaluateRollout(rollout, healthy, at(1e6));
      expect(decision.action).toBe('complete');
      expect(decision.reason).toBe(
        "A/B test decided: 'converted' blue 0.1200 (n=1000) vs green 0.1600 (n=1000), two-proportion z-test p=0.00995 < alpha 0.05; the candidate is better.",
      );
      expect(decision.rollout).toMatchObject({ phase: 'completed', endedAt: at(1e6) });
      expect(decision.details).toMatchObject({ test: { decided: true, candidateBetter: true } });
    });

    it('rolls back when the candidate is significantly worse, with autoPromote', () => {
      // 12 % vs 8 %: z = −2.981, p = 0.00287.
      const rollout = withOutcomes(
        ready('ab', { metric: converted, autoPromote: true }),
        proportionValues(120, 1000),
        proportionValues(80, 1000),
      );
      const decision = evaluateRollout(rollout, healthy, at(1e6));
      expect(decision.action).toBe('rollback');
      expect(decision.reason).toBe(
        "A/B test decided: 'converted' blue 0.1200 (n=1000) vs green 0.08000 (n=1000), two-proportion z-test p=0.00287 < alpha 0.05; the candidate is worse.",
      );
      expect(decision.rollout.phase).toBe('rolled-back');
    });

    it('holds a decided test without autoPromote', () => {
      const rollout = withOutcomes(
        ready('ab', { metric: converted }),
        proportionValues(120, 1000),
        proportionValues(160, 1000),
      );
      const decision = evaluateRollout(rollout, healthy, at(1e6));
      expect(decision.action).toBe('hold');
      expect(decision.reason).toMatch(/^A\/B test decided: .*; the candidate is better\.$/);
      expect(decision.rollout.phase).toBe('running');
    });

    it('holds while the difference is not significant', () => {
      // 12 % vs 13 %: p = 0.499.
      const rollout = withOutcomes(
        ready('ab', { metric: converted, autoPromote: true }),
        proportionValues(120, 1000),
        proportionValues(130, 1000),
      );
      const decision = evaluateRollout(rollout, healthy, at(1e6));
      expect(decision.action).toBe('hold');
      expect(decision.reason).toBe(
        "A/B test running: 'converted' blue 0.1200 (n=1000) vs green 0.1300 (n=1000), two-proportion z-test p=0.499; no significant difference at alpha 0.05 yet.",
      );
    });

    it('holds when p is below 0.05 but not below a stricter alpha', () => {
      const rollout = withOutcomes(
        ready('ab', { metric: converted, autoPromote: true, alpha: 0.001 }),
        proportionValues(120, 1000),
        proportionValues(160, 1000),
      );
      expect(evaluateRollout(rollout, healthy, at(1e6)).action).toBe('hold');
    });

    it('completes on a mean metric that is significantly higher when higher is better', () => {
      const rollout = withOutcomes(
        ready('ab', { metric: { name: 'revenue', kind: 'mean' }, autoPromote: true }),
        meanValuesA,
        meanValuesB,
      );
      const decision = evaluateRollout(rollout, healthy, at(1e6));
      expect(decision.action).toBe('complete');
      // The means, 14.985 and 15.975, sit on a rounding tie at 4 digits: leave the last digit open.
      expect(decision.reason).toMatch(
        /^A\/B test decided: 'revenue' blue 14\.9\d \(n=200\) vs green 15\.9\d \(n=200\), Welch's t-test p=0\.00196 < alpha 0\.05; the candidate is better\.$/,
      );
    });

    it('rolls back on a significantly higher mean when lower is better', () => {
      const options: RolloutOptions = {
        metric: { name: 'latency', kind: 'mean', higherIsBetter: false },
        autoPromote: true,
      };
      const worse = evaluateRollout(
        withOutcomes(ready('ab', options), meanValuesA, meanValuesB),
        healthy,
        at(1e6),
      );
      expect(worse.action).toBe('rollback');
      expect(worse.reason).toMatch(/; the candidate is worse\.$/);
      const better = evaluateRollout(
        withOutcomes(ready('ab', options), meanValuesB, meanValuesA),
        healthy,
        at(1e6),
      );
      expect(better.action).toBe('complete');
      expect(better.reason).toMatch(/; the candidate is better\.$/);
    });

    it('completes on a significantly lower proportion when lower is better', () => {
      const rollout = withOutcomes(
        ready('ab', {
          metric: { name: 'churned', kind: 'proportion', higherIsBetter: false },
          autoPromote: true,
        }),
        proportionValues(120, 1000),
        proportionValues(80, 1000),
      );
      expect(evaluateRollout(rollout, healthy, at(1e6)).action).toBe('complete');
    });
  });

  describe('shadow', () => {
    const mirrored = (agreed: number, total = 1000): RolloutObservation => ({
      ...healthy,
      shadow: { mirrored: total, agreed },
    });

    it('holds and reports without autoPromote', () => {
      const decision = evaluateRollout(ready('shadow'), mirrored(995), at(1e6));
      expect(decision.action).toBe('hold');
      expect(decision.reason).toBe(
        "Shadowing: 99.50% of 1000 mirrored answers agree with the primary's (required 99.00%); candidate p95 105 ms vs primary 100 ms; promote or roll back by hand.",
      );
      expect(decision.details).toMatchObject({
        mirrored: 1000,
        agreed: 995,
        agreement: 0.995,
        measurements: { primaryP95LatencyMs: 100, candidateP95LatencyMs: 105 },
      });
    });

    it('says so when no mirrored request was answered yet', () => {
      const decision = evaluateRollout(
        ready('shadow'),
        {
          primary: variant(50, 0, 100),
          candidate: variant(0, 0, null),
          shadow: { mirrored: 0, agreed: 0 },
        },
        at(100),
      );
      expect(decision.reason).toBe(
        'Shadowing: no mirrored request answered yet; promote or roll back by hand.',
      );
      expect(decision.details).toEqual({ mirrored: 0, agreed: 0, agreement: null });
    });

    it('holds with autoPromote until both the hold time and minRequests mirrored are reached', () => {
      const rollout = ready('shadow', { autoPromote: true });
      const early = evaluateRollout(rollout, mirrored(1000), READY + 100_000);
      expect(early.action).toBe('hold');
      expect(early.reason).toBe(
        "Shadowing for 100 of 300 s and 1000 of 100 mirrored requests: 100.00% of 1000 mirrored answers agree with the primary's (required 99.00%); candidate p95 105 ms vs primary 100 ms.",
      );
      const few = evaluateRollout(
        rollout,
        {
          primary: variant(10_000, 0, 100),
          candidate: variant(99, 0, 100),
          shadow: { mirrored: 99, agreed: 99 },
        },
        READY + 1_000_000,
      );
      expect(few.action).toBe('hold');
      expect(few.reason).toMatch(/^Shadowing for 1000 of 300 s and 99 of 100 mirrored requests/);
    });

    it('completes when the agreement reaches minAgreement after the hold', () => {
      const decision = evaluateRollout(
        ready('shadow', { autoPromote: true }),
        mirrored(990),
        READY + 300_000,
      );
      expect(decision.action).toBe('complete');
      expect(decision.reason).toBe(
        "Completed: 99.00% of 1000 mirrored answers agree with the primary's (required 99.00%); candidate p95 105 ms vs primary 100 ms; 'green' is promoted.",
      );
      expect(decision.rollout).toMatchObject({ phase: 'completed', endedAt: READY + 300_000 });
    });

    it('rolls back when the agreement stays below minAgreement', () => {
      const decision = evaluateRollout(
        ready('shadow', { autoPromote: true, minAgreement: 0.95 }),
        mirrored(949),
        READY + 300_000,
      );
      expect(decision.action).toBe('rollback');
      expect(decision.reason).toBe(
        "Rolled back: 94.90% of 1000 mirrored answers agree with the primary's (required 95.00%); candidate p95 105 ms vs primary 100 ms.",
      );
      expect(decision.rollout.phase).toBe('rolled-back');
    });

    it('rolls back at once on a health breach of the mirrored requests', () => {
      const decision = evaluateRollout(
        ready('shadow'),
        {
          primary: variant(10_000, 0, 100),
          candidate: variant(1000, 100, 100),
          shadow: { mirrored: 1000, agreed: 900 },
        },
        READY + 1000,
      );
      expect(decision.action).toBe('rollback');
      expect(decision.reason).toMatch(/^Rolled back: the candidate's error rate 10\.00% exceeds/);
    });
  });
});

describe('promoteRollout and rollBackRollout', () => {
  it('promotes a running or switched rollout, with or without a reason', () => {
    const decision = promoteRollout(ready('canary'), 'bob', 'metrics look good', at(500));
    expect(decision).toMatchObject({
      action: 'complete',
      reason: 'Promoted by bob: metrics look good.',
      details: {},
    });
    expect(decision.rollout).toMatchObject({
      phase: 'completed',
      endedAt: at(500),
      phaseSince: at(500),
      lastDecision: 'Promoted by bob: metrics look good.',
    });
    expect(promoteRollout(ready('blue-green'), 'bob', undefined, at(500)).reason).toBe(
      'Promoted by bob.',
    );
    expect(promoteRollout(ready('shadow'), 'bob', '', at(500)).reason).toBe('Promoted by bob.');
  });

  it('refuses to promote a candidate that is still loading', () => {
    const error = thrown(() => promoteRollout(start('ab'), 'bob', undefined, at(5)));
    expect(error).toBeInstanceOf(InvalidStateError);
    expect(error.message).toBe(
      "Candidate 'green' is still loading; promote it once it is ready (see the deployment's status).",
    );
  });

  it('rolls back at any phase before the end, warming included', () => {
    const decision = rollBackRollout(start('ab'), 'bob', 'wrong version', at(5));
    expect(decision).toMatchObject({
      action: 'rollback',
      reason: 'Rolled back by bob: wrong version.',
      details: {},
    });
    expect(decision.rollout).toMatchObject({ phase: 'rolled-back', endedAt: at(5) });
    expect(rollBackRollout(ready('blue-green'), 'bob', undefined, at(5)).reason).toBe(
      'Rolled back by bob.',
    );
  });

  it('refuses both once the rollout has ended', () => {
    const completed = promoteRollout(ready('shadow'), 'bob', undefined, at(500)).rollout;
    const rolledBack = rollBackRollout(ready('shadow'), 'bob', undefined, at(500)).rollout;
    const completedMessage =
      "The shadow rollout of 'green' has completed; start a new rollout to change the deployment.";
    const rolledBackMessage =
      "The shadow rollout of 'green' has been rolled back; start a new rollout to change the deployment.";
    for (const act of [promoteRollout, rollBackRollout]) {
      const a = thrown(() => act(completed, 'carol', undefined, at(600)));
      expect(a).toBeInstanceOf(InvalidStateError);
      expect(a.message).toBe(completedMessage);
      const b = thrown(() => act(rolledBack, 'carol', undefined, at(600)));
      expect(b).toBeInstanceOf(InvalidStateError);
      expect(b.message).toBe(rolledBackMessage);
    }
  });
});

describe('addOutcomes', () => {
  /** Count, sum, mean and Σ(x − mean)² computed directly, in two passes. */
  function direct(values: readonly number[]): {
    count: number;
    sum: number;
    mean: number;
    m2: number;
  } {
    const sum = values.reduce((s, v) => s + v, 0);
    const mean = sum / values.length;
    const m2 = values.reduce((s, v) => s + (v - mean) ** 2, 0);
    return { count: values.length, sum, mean, m2 };
  }

  const revenue: OutcomeMetric = { name: 'revenue', kind: 'mean', higherIsBetter: true };

  it('starts from an empty aggregate', () => {
    expect(emptyOutcome()).toEqual({ count: 0, sum: 0, mean: 0, m2: 0 });
  });

  it.each([
    ['small numbers', [3.5, -1.25, 8, 0, 2.75, 11, -4]],
    ['a large offset', [1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16]],
    ['the spread samples', meanValuesA],
  ])('matches a direct computation on %s', (_, values) => {
    const aggregate = addOutcomes(emptyOutcome(), revenue, values);
    const expected = direct(values);
    expect(aggregate.count).toBe(expected.count);
    expectClose(aggregate.sum, expected.sum, 1e-15);
    expectClose(aggregate.mean, expected.mean, 1e-12);
    expectClose(aggregate.m2, expected.m2, 1e-9);
  });

  it('keeps the exact variance of values with a large offset (Welford)', () => {
    // Deviations −6, −3, 3, 6 from 1e9 + 10: Σ = 90.
    const aggregate = addOutcomes(emptyOutcome(), revenue, [1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16]);
    expect(aggregate.mean).toBe(1e9 + 10);
    expect(aggregate.m2).toBe(90);
  });

  it('gives the same aggregate when values arrive in batches', () => {
    const values = [3.5, -1.25, 8, 0, 2.75, 11, -4];
    const once = addOutcomes(emptyOutcome(), revenue, values);
    let batched = emptyOutcome();
    for (const batch of [values.slice(0, 2), [], values.slice(2, 5), values.slice(5)]) {
      batched = addOutcomes(batched, revenue, batch);
    }
    expect(batched.count).toBe(once.count);
    expectClose(batched.mean, once.mean, 1e-15);
    expectClose(batched.m2, once.m2, 1e-15);
  });

  it('counts proportion outcomes of 0 and 1', () => {
    // Σ(x − 0.75)² = 3 · 0.0625 + 0.5625 = 0.75, up to Welford's rounding.
    const aggregate = addOutcomes(emptyOutcome(), converted, [1, 0, 1, 1]);
    expect(aggregate).toMatchObject({ count: 4, sum: 3, mean: 0.75 });
    expectClose(aggregate.m2, 0.75, 1e-12);
  });

  it.each<[OutcomeMetric, number, string]>([
    [converted, 2, "'converted' is a proportion metric: each outcome is 0 or 1, got 2."],
    [converted, 0.5, "'converted' is a proportion metric: each outcome is 0 or 1, got 0.5."],
    [converted, Number.NaN, "Outcome values of 'converted' must be finite numbers, got NaN."],
    [revenue, Number.NaN, "Outcome values of 'revenue' must be finite numbers, got NaN."],
    [
      revenue,
      Number.POSITIVE_INFINITY,
      "Outcome values of 'revenue' must be finite numbers, got Infinity.",
    ],
  ])('refuses for %o the value %s', (metric, value, message) => {
    const before = addOutcomes(emptyOutcome(), metric, [1, 0]);
    const copy = { ...before };
    const error = thrown(() => addOutcomes(before, metric, [1, value]));
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error.message).toBe(message);
    expect(error.context).toEqual({ value });
    expect(before).toEqual(copy);
  });
});

describe('abReport', () => {
  it('is null for other strategies and for an A/B test without a metric', () => {
    expect(abReport(ready('ab'))).toBeNull();
    expect(abReport(ready('shadow'))).toBeNull();
    expect(abReport(ready('canary'))).toBeNull();
  });

  it('gives the p-value twoProportionZTest gives for the same counts', () => {
    const rollout = withOutcomes(
      ready('ab', { metric: converted }),
      proportionValues(120, 1000),
      proportionValues(160, 1000),
    );
    const expected = twoProportionZTest({
      successesA: 120,
      totalA: 1000,
      successesB: 160,
      totalB: 1000,
    });
    const report = abReport(rollout);
    expect(report).toMatchObject({
      metric: converted,
      primary: { name: 'blue', count: 1000 },
      candidate: { name: 'green', count: 1000 },
      test: 'two-proportion z-test',
      alpha: 0.05,
      decided: true,
      candidateBetter: true,
    });
    expectClose(report?.primary.mean ?? null, 0.12, 1e-12);
    expectClose(report?.candidate.mean ?? null, 0.16, 1e-12);
    expect(report?.pValue).toBe(expected.pValue);
    expect(report?.difference).toBe(expected.difference);
    expectClose(report?.pValue ?? null, 0.009946136752047755, 1e-9);
  });

  it('matches the textbook z-test: 200 of 1000 vs 250 of 1000', () => {
    // Pooled p = 450/2000 = 0.225; SE = √(0.225 · 0.775 · (1/1000 + 1/1000)) = 0.0186749;
    // z = 0.05 / SE = 2.677398; p = 2·(1 − Φ(z)) = 0.0074196 (scipy.stats.norm.sf).
    const pooled = 450 / 2000;
    const z = 0.05 / Math.sqrt(pooled * (1 - pooled) * (2 / 1000));
    expectClose(z, 2.677397763008329, 1e-12);
    const report = abReport(
      withOutcomes(
        ready('ab', { metric: converted }),
        proportionValues(200, 1000),
        proportionValues(250, 1000),
      ),
    );
    expectClose(report?.difference ?? null, 0.05, 1e-12);
    expectClose(report?.pValue ?? null, 0.007419649261025687, 1e-9);
    expect(report?.summary).toBe(
      "A/B test decided: 'converted' blue 0.2000 (n=1000) vs green 0.2500 (n=1000), two-proportion z-test p=0.00742 < alpha 0.05; the candidate is better.",
    );
  });

  it('gives the p-value welchTTest gives for the same values', () => {
    const revenue: OutcomeMetric = { name: 'revenue', kind: 'mean', higherIsBetter: true };
    const report = abReport(
      withOutcomes(ready('ab', { metric: revenue }), meanValuesA, meanValuesB),
    );
    const expected = welchTTest(meanValuesA, meanValuesB);
    expect(report?.test).toBe("Welch's t-test");
    expectClose(report?.pValue ?? null, expected.pValue, 1e-12);
    expectClose(report?.difference ?? null, expected.difference, 1e-12);
    // scipy.stats.ttest_ind(b, a, equal_var=False): t = 3.1174, p = 0.0019568.
    expectClose(report?.pValue ?? null, 0.0019568176365267463, 1e-8);
    expect(report).toMatchObject({ decided: true, candidateBetter: true });
  });

  it('reports a non-significant mean difference as undecided', () => {
    // Candidate shifted by 0.2 only: scipy gives p = 0.54998.
    const shifted = meanValuesB.map((v) => v - 0.8);
    const report = abReport(
      withOutcomes(
        ready('ab', { metric: { name: 'revenue', kind: 'mean' } }),
        meanValuesA,
        shifted,
      ),
    );
    expectClose(report?.pValue ?? null, 0.5499831753553172, 1e-8);
    expect(report?.decided).toBe(false);
  });

  it('has no p-value until both arms have outcomes to test', () => {
    const proportion = abReport(
      withOutcomes(ready('ab', { metric: converted }), proportionValues(3, 10), []),
    );
    expect(proportion).toMatchObject({ pValue: null, difference: null, decided: false });
    expect(proportion?.summary).toBe(
      "A/B test collecting: 'converted' blue 0.3000 (n=10) vs green 0.000 (n=0), two-proportion z-test; each variant needs 100 outcomes.",
    );
    const mean = abReport(
      withOutcomes(ready('ab', { metric: { name: 'revenue', kind: 'mean' } }), [1, 2, 3], [5]),
    );
    expect(mean).toMatchObject({ pValue: null, difference: null, decided: false });
    const none = abReport(ready('ab', { metric: converted }));
    expect(none).toMatchObject({
      primary: { count: 0 },
      candidate: { count: 0 },
      pValue: null,
      decided: false,
    });
  });

  it('does not decide before both arms have minSamples outcomes, however small p is', () => {
    const report = abReport(
      withOutcomes(
        ready('ab', { metric: converted, minSamples: 1000 }),
        proportionValues(10, 999),
        proportionValues(900, 1000),
      ),
    );
    expect(report?.pValue).toBeLessThan(1e-10);
    expect(report?.decided).toBe(false);
    expect(report?.summary).toMatch(
      /^A\/B test collecting: .*; each variant needs 1000 outcomes\.$/,
    );
  });
});

describe('outputsAgree', () => {
  const fp32 = (data: readonly number[], shape = [data.length], name = 'y'): Tensor => ({
    name,
    datatype: 'FP32',
    shape,
    data: Float32Array.from(data),
  });

  it('agrees on FP32 outputs within the tolerance', () => {
    expect(outputsAgree({ y: fp32([1, 2.5, -3]) }, { y: fp32([1.0005, 2.501, -3.002]) })).toBe(
      true,
    );
    // Near 0 the absolute tolerance (1e-5) applies.
    expect(outputsAgree({ y: fp32([0]) }, { y: fp32([5e-6]) })).toBe(true);
  });

  it('disagrees on FP32 outputs outside the tolerance', () => {
    expect(outputsAgree({ y: fp32([1, 2.5, -3]) }, { y: fp32([1, 2.5, -3.01]) })).toBe(false);
    expect(outputsAgree({ y: fp32([1]) }, { y: fp32([1.002]) })).toBe(false);
    expect(outputsAgree({ y: fp32([0]) }, { y: fp32([5e-5]) })).toBe(false);
  });

  it('compares FP64 with the same tolerance', () => {
    const fp64 = (data: number[]): Tensor => ({
      name: 'y',
      datatype: 'FP64',
      shape: [data.length],
      data: Float64Array.from(data),
    });
    expect(outputsAgree({ y: fp64([100, 200]) }, { y: fp64([100.09, 199.9]) })).toBe(true);
    expect(outputsAgree({ y: fp64([100, 200]) }, { y: fp64([100.2, 200]) })).toBe(false);
  });

  it('treats NaN as agreeing with NaN only', () => {
    expect(outputsAgree({ y: fp32([Number.NaN, 1]) }, { y: fp32([Number.NaN, 1]) })).toBe(true);
    expect(outputsAgree({ y: fp32([Number.NaN]) }, { y: fp32([0]) })).toBe(false);
    expect(outputsAgree({ y: fp32([0]) }, { y: fp32([Number.NaN]) })).toBe(false);
  });

  it('agrees on equal infinities and disagrees on opposite ones', () => {
    const inf = Number.POSITIVE_INFINITY;
    expect(outputsAgree({ y: fp32([inf, 1]) }, { y: fp32([inf, 1]) })).toBe(true);
    expect(outputsAgree({ y: fp32([-inf]) }, { y: fp32([-inf]) })).toBe(true);
    expect(outputsAgree({ y: fp32([inf]) }, { y: fp32([-inf]) })).toBe(false);
    expect(outputsAgree({ y: fp32([inf]) }, { y: fp32([3.4e38]) })).toBe(false);
  });

  it('disagrees on different shapes, even with the same elements', () => {
    const data = [1, 2, 3, 4, 5, 6];
    expect(outputsAgree({ y: fp32(data, [2, 3]) }, { y: fp32(data, [3, 2]) })).toBe(false);
    expect(outputsAgree({ y: fp32(data, [6]) }, { y: fp32(data, [1, 6]) })).toBe(false);
    expect(outputsAgree({ y: fp32(data, [2, 3]) }, { y: fp32(data, [2, 3]) })).toBe(true);
  });

  it('disagrees on different datatypes, even with the same values', () => {
    const asFp64: Tensor = {
      name: 'y',
      datatype: 'FP64',
      shape: [2],
      data: Float64Array.from([1, 2]),
    };
    const asInt32: Tensor = {
      name: 'y',
      datatype: 'INT32',
      shape: [2],
      data: Int32Array.from([1, 2]),
    };
    expect(outputsAgree({ y: fp32([1, 2]) }, { y: asFp64 })).toBe(false);
    expect(outputsAgree({ y: asInt32 }, { y: fp32([1, 2]) })).toBe(false);
  });

  it('disagrees on different output names or counts', () => {
    expect(outputsAgree({ y: fp32([1]) }, { z: fp32([1]) })).toBe(false);
    expect(outputsAgree({ y: fp32([1]) }, { y: fp32([1]), z: fp32([2]) })).toBe(false);
    expect(outputsAgree({ y: fp32([1]), z: fp32([2]) }, { y: fp32([1]) })).toBe(false);
    expect(outputsAgree({ y: fp32([1]), z: fp32([2]) }, { z: fp32([2]), y: fp32([1]) })).toBe(true);
    expect(outputsAgree({}, {})).toBe(true);
  });

  it('compares integers exactly, INT64 as bigints', () => {
    const int64 = (data: bigint[]): Tensor => ({
      name: 'label',
      datatype: 'INT64',
      shape: [data.length],
      data: BigInt64Array.from(data),
    });
    const big = 2n ** 62n;
    expect(outputsAgree({ label: int64([big, -3n]) }, { label: int64([big, -3n]) })).toBe(true);
    expect(outputsAgree({ label: int64([big, -3n]) }, { label: int64([big + 1n, -3n]) })).toBe(
      false,
    );
    const int32 = (data: number[]): Tensor => ({
      name: 'label',
      datatype: 'INT32',
      shape: [data.length],
      data: Int32Array.from(data),
    });
    expect(outputsAgree({ label: int32([1000]) }, { label: int32([1001]) })).toBe(false);
  });

  it('compares FP16 bit patterns exactly', () => {
    const fp16 = (bits: number[]): Tensor => ({
      name: 'y',
      datatype: 'FP16',
      shape: [bits.length],
      data: Uint16Array.from(bits),
    });
    expect(outputsAgree({ y: fp16([0x3c00]) }, { y: fp16([0x3c00]) })).toBe(true);
    expect(outputsAgree({ y: fp16([0x3c00]) }, { y: fp16([0x3c01]) })).toBe(false);
  });

  it('compares BYTES as strings or as raw bytes', () => {
    const strings = (data: string[]): Tensor => ({
      name: 'label',
      datatype: 'BYTES',
      shape: [data.length],
      data,
    });
    expect(
      outputsAgree({ label: strings(['cat', 'dog']) }, { label: strings(['cat', 'dog']) }),
    ).toBe(true);
    expect(
      outputsAgree({ label: strings(['cat', 'dog']) }, { label: strings(['cat', 'cow']) }),
    ).toBe(false);
    const raw = (data: number[][]): Tensor => ({
      name: 'label',
      datatype: 'BYTES',
      shape: [data.length],
      data: data.map((d) => Uint8Array.from(d)),
    });
    expect(outputsAgree({ label: raw([[1, 2], [3]]) }, { label: raw([[1, 2], [3]]) })).toBe(true);
    expect(outputsAgree({ label: raw([[1, 2], [3]]) }, { label: raw([[1, 2], [4]]) })).toBe(false);
    expect(outputsAgree({ label: raw([[1, 2]]) }, { label: raw([[1, 2, 0]]) })).toBe(false);
  });
});

describe('parseRollout', () => {
  const roundTrip = (rollout: Rollout): unknown => JSON.parse(JSON.stringify(rollout)) as unknown;

  const abOptions: RolloutOptions = {
    weight: 30,
    stickyHeader: 'X-User-Id',
    metric: { name: 'converted', kind: 'proportion' },
    alpha: 0.01,
    minSamples: 20,
    autoPromote: true,
    gates: { minRequests: 10 },
  };

  /** Every strategy in every phase it reaches. */
  function everyRollout(): [string, Rollout][] {
    const cases: [string, Rollout][] = [];
    const canaryOptions: RolloutOptions = {
      stages: [10, 50, 100],
      holdSeconds: [30, 60],
      stickyField: 'user_id',
      gates: { maxP95LatencyRatio: 1.5 },
    };
    const canaryRunning = ready('canary', canaryOptions);
    const canaryAdvanced = evaluateRollout(canaryRunning, healthy, READY + 30_000).rollout;
    cases.push(
      ['canary warming', start('canary', canaryOptions, 'weekly retrain')],
      ['canary running', canaryRunning],
      ['canary running at its second stage', canaryAdvanced],
      ['canary completed', evaluateRollout(canaryAdvanced, healthy, READY + 90_000).rollout],
      ['canary with default settings, running', ready('canary')],
      ['canary rolled back', candidateFailed(start('canary'), 'no such file', at(5)).rollout],
    );
    const switched = ready('blue-green', { holdSeconds: 120 }, variant(4000, 8, 95.5));
    cases.push(
      ['blue-green warming', start('blue-green')],
      ['blue-green switched', switched],
      ['blue-green switched without a p95 baseline', ready('blue-green')],
      ['blue-green completed', promoteRollout(switched, 'bob', 'done', at(300)).rollout],
      ['blue-green rolled back', rollBackRollout(switched, 'bob', undefined, at(300)).rollout],
    );
    const abRunning = withOutcomes(
      ready('ab', abOptions),
      [0, 1, 1, 0, 0, 1],
      proportionValues(7, 10),
    );
    const revenue = withOutcomes(
      ready('ab', { metric: { name: 'revenue', kind: 'mean', higherIsBetter: false } }),
      [0.1, 0.2, 1 / 3],
      [Math.PI, 1e-7, 12_345.678],
    );
    cases.push(
      ['ab warming', start('ab', abOptions)],
      ['ab running with outcomes', abRunning],
      ['ab running with a mean metric', revenue],
      ['ab without a metric', ready('ab', { stickyField: 'session' })],
      ['ab completed', promoteRollout(abRunning, 'bob', undefined, at(900)).rollout],
      ['ab rolled back', rollBackRollout(abRunning, 'bob', 'broken', at(900)).rollout],
    );
    const shadowOptions: RolloutOptions = {
      weight: 25,
      holdSeconds: 600,
      minAgreement: 0.95,
      autoPromote: true,
    };
    const shadowRunning = ready('shadow', shadowOptions);
    cases.push(
      ['shadow warming', start('shadow', shadowOptions)],
      ['shadow running', shadowRunning],
      [
        'shadow completed',
        evaluateRollout(
          shadowRunning,
          { ...healthy, shadow: { mirrored: 1000, agreed: 990 } },
          READY + 600_000,
        ).rollout,
      ],
      ['shadow rolled back', rollBackRollout(ready('shadow'), 'bob', undefined, at(70)).rollout],
    );
    return cases;
  }

  it('covers every strategy and phase', () => {
    const seen = new Set(everyRollout().map(([, r]) => `${r.strategy} ${r.phase}`));
    expect([...seen].sort()).toEqual(
      [
        'ab completed',
        'ab rolled-back',
        'ab running',
        'ab warming',
        'blue-green completed',
        'blue-green rolled-back',
        'blue-green switched',
        'blue-green warming',
        'canary completed',
        'canary rolled-back',
        'canary running',
        'canary warming',
        'shadow completed',
        'shadow rolled-back',
        'shadow running',
        'shadow warming',
      ].sort(),
    );
  });

  it.each(everyRollout())('reads back a stored %s rollout unchanged', (_, rollout) => {
    expect(parseRollout(roundTrip(rollout))).toEqual(rollout);
  });

  /** A stored A/B rollout (plain JSON) to corrupt. */
  const stored = (): Record<string, unknown> =>
    roundTrip(withOutcomes(ready('ab', abOptions), [0, 1], [1, 1])) as Record<string, unknown>;
  const storedCanary = (): Record<string, unknown> =>
    roundTrip(ready('canary')) as Record<string, unknown>;
  const storedSwitched = (): Record<string, unknown> =>
    roundTrip(ready('blue-green', {}, variant(500, 1, 80))) as Record<string, unknown>;

  it.each<[string, () => unknown, string]>([
    ['null', () => null, 'The stored rollout is invalid: not an object.'],
    ['an array', () => [], 'The stored rollout is invalid: not an object.'],
    ['a string', () => 'ab', 'The stored rollout is invalid: not an object.'],
    [
      'an unknown phase',
      () => ({ ...stored(), phase: 'paused' }),
      "The stored rollout is invalid: unknown phase 'paused'.",
    ],
    [
      'a missing strategy',
      () => ({ ...stored(), strategy: undefined }),
      "The stored rollout is invalid: 'strategy' is not a string.",
    ],
    [
      'an unknown strategy',
      () => ({ ...stored(), strategy: 'linear' }),
      "Unknown rollout strategy 'linear'",
    ],
    [
      'a missing candidate',
      () => ({ ...stored(), candidate: undefined }),
      "The stored rollout is invalid: 'candidate' is not a string.",
    ],
    [
      'a numeric primary',
      () => ({ ...stored(), primary: 7 }),
      "The stored rollout is invalid: 'primary' is not a string.",
    ],
    [
      'a missing startedAt',
      () => ({ ...stored(), startedAt: undefined }),
      "The stored rollout is invalid: 'startedAt' is not a number.",
    ],
    [
      'a string phaseSince',
      () => ({ ...stored(), phaseSince: '2025-01-01' }),
      "The stored rollout is invalid: 'phaseSince' is not a number.",
    ],
    [
      'a missing lastDecision',
      () => ({ ...stored(), lastDecision: undefined }),
      "The stored rollout is invalid: 'lastDecision' is not a string.",
    ],
    [
      'missing settings',
      () => ({ ...stored(), settings: undefined }),
      "The stored rollout is invalid: 'settings' is not an object.",
    ],
    [
      'outcomes that are an array',
      () => ({ ...stored(), outcomes: [] }),
      "The stored rollout is invalid: 'outcomes' is not an object.",
    ],
    [
      'an outcome that is not an object',
      () => ({ ...stored(), outcomes: { blue: 3 } }),
      "The stored rollout is invalid: outcomes of 'blue' are not an object.",
    ],
    [
      'an outcome without m2',
      () => ({ ...stored(), outcomes: { blue: { count: 2, sum: 1, mean: 0.5 } } }),
      "The stored rollout is invalid: 'm2' is not a number.",
    ],
    [
      'a missing baseline',
      () => ({ ...storedSwitched(), baseline: undefined }),
      "The stored rollout is invalid: 'baseline' is not an object.",
    ],
    [
      'a baseline without errors',
      () => ({ ...storedSwitched(), baseline: { requests: 500, p95LatencyMs: 80 } }),
      "The stored rollout is invalid: 'errors' is not a number.",
    ],
    [
      'a missing canary',
      () => ({ ...storedCanary(), canary: undefined }),
      "The stored rollout is invalid: 'canary' is invalid.",
    ],
    [
      'a canary without config',
      () => ({
        ...storedCanary(),
        canary: { status: 'running', stageIndex: 0, stageStartedAt: 0 },
      }),
      "The stored rollout is invalid: 'canary' is invalid.",
    ],
    [
      'a canary with an unknown status',
      () => {
        const r = storedCanary();
        return { ...r, canary: { ...(r['canary'] as object), status: 'paused' } };
      },
      "The stored rollout is invalid: 'canary.status' is invalid.",
    ],
    [
      'a canary with a string stageIndex',
      () => {
        const r = storedCanary();
        return { ...r, canary: { ...(r['canary'] as object), stageIndex: '1' } };
      },
      "The stored rollout is invalid: 'stageIndex' is not a number.",
    ],
    [
      'canary stages that do not end at 100',
      () => {
        const r = storedCanary();
        const canary = r['canary'] as Record<string, unknown>;
        const config = canary['config'] as Record<string, unknown>;
        return { ...r, canary: { ...canary, config: { ...config, stages: [10, 50] } } };
      },
      'The last canary stage must be 100, but [10, 50] ends at 50.',
    ],
    [
      'canary settings with a non-numeric holdSeconds',
      () => {
        const r = storedCanary();
        return { ...r, settings: { ...(r['settings'] as object), holdSeconds: 'long' } };
      },
      "The stored rollout is invalid: 'holdSeconds' is not a number.",
    ],
    [
      'an A/B weight out of range',
      () => {
        const r = stored();
        return { ...r, settings: { ...(r['settings'] as object), weight: 150 } };
      },
      "'weight' must be a percentage from 0 to 100, got 150.",
    ],
    [
      'an unknown metric kind',
      () => {
        const r = stored();
        const settings = r['settings'] as Record<string, unknown>;
        return {
          ...r,
          settings: {
            ...settings,
            metric: { name: 'converted', kind: 'median', higherIsBetter: true },
          },
        };
      },
      `'metric.kind' must be 'proportion' or 'mean', got "median".`,
    ],
    [
      'autoPromote without a metric',
      () => {
        const r = stored();
        return { ...r, settings: { ...(r['settings'] as object), metric: null } };
      },
      "An A/B test decides by itself only on a declared 'metric'",
    ],
    [
      'an alpha out of range',
      () => {
        const r = stored();
        return { ...r, settings: { ...(r['settings'] as object), alpha: 0.7 } };
      },
      "'alpha' must be a significance level above 0 and below 0.5, got 0.7.",
    ],
    [
      'a gate out of range',
      () => {
        const r = stored();
        const settings = r['settings'] as Record<string, unknown>;
        return {
          ...r,
          settings: { ...settings, gates: { ...(settings['gates'] as object), minRequests: 0 } },
        };
      },
      'gates.minRequests must be a whole number ≥ 1, got 0.',
    ],
    [
      'a bad sticky header',
      () => {
        const r = stored();
        return { ...r, settings: { ...(r['settings'] as object), stickyHeader: 'x user' } };
      },
      "'stickyHeader' must be an HTTP header name such as x-user-id, got 'x user'.",
    ],
    [
      'a shadow with minAgreement out of range',
      () => {
        const r = roundTrip(ready('shadow')) as Record<string, unknown>;
        return { ...r, settings: { ...(r['settings'] as object), minAgreement: 2 } };
      },
      "'minAgreement' must be a fraction from 0 to 1, got 2.",
    ],
  ])('refuses %s', (_, make, message) => {
    const error = thrown(() => parseRollout(make()));
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error.message).toContain(message);
  });

  it('refuses a canary stage index outside its stages', () => {
    for (const stageIndex of [7, 5, -1, 1.5]) {
      const r = storedCanary();
      const corrupt = { ...r, canary: { ...(r['canary'] as object), stageIndex } };
      expect(() => parseRollout(corrupt)).toThrow(InvalidParameterError);
    }
  });
});

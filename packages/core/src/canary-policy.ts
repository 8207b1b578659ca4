/**
 * The canary rollout as a pure state machine. A candidate variant takes growing shares of
 * traffic (default 5 → 10 → 25 → 50 → 100 %); at each stage it must hold for a while and pass
 * gates that compare it with the primary (error rate and p95 latency, over the current stage).
 * A breach rolls back at once; passing the last gate before 100 % completes the rollout, since at
 * 100 % the primary serves nothing left to compare with.
 *
 * The caller measures, calls {@link evaluateCanary}, applies the decision's weight to the
 * deployment, records the decision's reason as an event, and moves the state on with
 * {@link applyCanaryDecision}. Times are milliseconds since the Unix epoch; hold times are seconds.
 */
import { InvalidParameterError, InvalidStateError } from './errors.js';

/** The candidate weights a canary goes through when none are given. */
export const DEFAULT_CANARY_STAGES: readonly number[] = [5, 10, 25, 50, 100];
/** Seconds a canary holds at each stage when not told otherwise. */
export const DEFAULT_CANARY_HOLD_SECONDS = 300;
/** Gate defaults: +1 point of error rate, 1.2× the primary's p95, 100 requests per variant. */
export const DEFAULT_CANARY_GATES: Readonly<CanaryGates> = {
  maxErrorRateIncrease: 0.01,
  maxP95LatencyRatio: 1.2,
  minRequests: 100,
  minP95LatencyIncreaseMs: 2,
};

/** What the candidate must satisfy, compared with the primary, to stay and to be promoted. */
export interface CanaryGates {
  /**
   * Largest allowed candidate error rate minus primary error rate, as a fraction (0.01 = one
   * percentage point).
   */
  maxErrorRateIncrease: number;
  /** Largest allowed candidate p95 latency divided by the primary's p95 latency. */
  maxP95LatencyRatio: number;
  /**
   * Requests each variant must have served in the current stage before the gates are judged.
   * Fewer requests neither promote nor roll back: a handful of requests proves nothing.
   */
  minRequests: number;
  /**
   * The latency gate breaches only when the candidate's p95 is also this many milliseconds
   * above the primary's: sub-millisecond models jitter by more than any ratio on a busy host.
   */
  minP95LatencyIncreaseMs: number;
}

/** A canary's settings, all given; see {@link resolveCanaryConfig} for the defaults. */
export interface CanaryConfig {
  /** Candidate weights, strictly increasing, each in (0, 100], the last 100. */
  stages: readonly number[];
  /**
   * Seconds to hold at each stage before promotion: one number for every stage, or one per
   * stage except the final 100 % (which completes the rollout at once).
   */
  holdSeconds: number | readonly number[];
  gates: CanaryGates;
}

/** Settings as a caller gives them: anything left out takes its default. */
export interface CanaryConfigInput {
  stages?: readonly number[];
  holdSeconds?: number | readonly number[];
  gates?: Partial<CanaryGates>;
}

/** Where a canary stands. */
export type CanaryStatus = 'running' | 'completed' | 'rolled-back';

/** A canary's state between evaluations; made by {@link startCanary}. */
export interface CanaryState {
  config: CanaryConfig;
  status: CanaryStatus;
  /** Index in `config.stages` of the stage the candidate is at. */
  stageIndex: number;
  /** When the current stage began (ms since the epoch). */
  stageStartedAt: number;
}

/** One variant's figures over the current stage. */
export interface VariantObservation {
  requests: number;
  /** Requests that failed (counted by the server: 5xx answers, runtime errors, timeouts). */
  errors: number;
  /** 95th percentile of latency in milliseconds; may be `null` when there were no requests. */
  p95LatencyMs: number | null;
}

/** The primary's and the candidate's figures over the current stage. */
export interface CanaryObservation {
  primary: VariantObservation;
  candidate: VariantObservation;
}

/** What to do next. */
export type CanaryAction = 'hold' | 'promote-stage' | 'complete' | 'rollback';

/** The measured values a decision was made on (absent when too few requests were seen). */
export interface CanaryMeasurements {
  primaryErrorRate: number;
  candidateErrorRate: number;
  /** candidateErrorRate − primaryErrorRate. */
  errorRateIncrease: number;
  primaryP95LatencyMs: number;
  candidateP95LatencyMs: number;
  /** candidate p95 / primary p95 (Infinity when the primary's is 0 and the candidate's is not). */
  p95LatencyRatio: number;
}

/** The outcome of {@link evaluateCanary}. */
export interface CanaryDecision {
  action: CanaryAction;
  /** The candidate's weight from now on: unchanged on hold, 0 on rollback, 100 on complete. */
  nextWeight: number;
  /** A sentence for people and the deployment's event log, naming values and thresholds. */
  reason: string;
  measurements: CanaryMeasurements | null;
}

// Values exactly at a threshold pass; this absorbs rounding such as 0.03 − 0.02 > 0.01.
const THRESHOLD_SLACK = 1e-12;

function fail(message: string, context: Record<string, unknown> = {}): never {
  throw new InvalidParameterError(message, context);
}

function isNonNegativeNumber(value: number): boolean {
  return Number.isFinite(value) && value >= 0;
}

/**
 * Fills in defaults and checks a canary's settings.
 *
 * @throws {@link InvalidParameterError} when stages are not strictly increasing weights in
 *   (0, 100] ending at 100 with at least two of them, when `holdSeconds` is negative or lists the
 *   wrong number of values, or when a gate is out of range.
 */
export function resolveCanaryConfig(input: CanaryConfigInput = {}): CanaryConfig {
  const stages = [...(input.stages ?? DEFAULT_CANARY_STAGES)];
  const shown = stages.join(', ');
  if (stages.length < 2) {
    fail(
      `A canary needs at least two stages ending at 100, got [${shown}]; ` +
        'to switch all traffic at once use a blue-green rollout.',
      { stages },
    );
  }
  let previous = 0;
  for (const stage of stages) {
    if (!Number.isFinite(stage) || stage <= previous || stage > 100) {
      fail(
        `Canary stages must be strictly increasing weights above 0 and at most 100, ` +
          `but [${shown}] has ${String(stage)} after ${String(previous)}.`,
        { stages },
      );
    }
    previous = stage;
  }
  if (previous !== 100) {
    fail(`The last canary stage must be 100, but [${shown}] ends at ${String(previous)}.`, {
      stages,
    });
  }
  const holdSeconds = input.holdSeconds ?? DEFAULT_CANARY_HOLD_SECONDS;
  const holds = typeof holdSeconds === 'number' ? [holdSeconds] : [...holdSeconds];
  if (typeof holdSeconds !== 'number' && holds.length !== stages.length - 1) {
    fail(
      `holdSeconds lists ${String(holds.length)} values, but the stages [${shown}] have ` +
        `${String(stages.length - 1)} holds (the final 100 completes the rollout at once).`,
      { holdSeconds, stages },
    );
  }
  for (const hold of holds) {
    if (!isNonNegativeNumber(hold)) {
      fail(`Hold times must be numbers of seconds ≥ 0, got ${String(hold)}.`, { holdSeconds });
    }
  }
  const gates = resolveGates(input.gates);
  return { stages, holdSeconds, gates };
}

/**
 * Fills in the gate defaults ({@link DEFAULT_CANARY_GATES}) and checks the gates: every rollout
 * strategy guards the candidate's health with them.
 *
 * @throws {@link InvalidParameterError} when a gate is out of range.
 */
export function resolveGates(input: Partial<CanaryGates> = {}): CanaryGates {
  const gates: CanaryGates = { ...DEFAULT_CANARY_GATES, ...input };
  if (!isNonNegativeNumber(gates.maxErrorRateIncrease) || gates.maxErrorRateIncrease > 1) {
    fail(
      `gates.maxErrorRateIncrease is a fraction from 0 to 1 (0.01 = one percentage point), ` +
        `got ${String(gates.maxErrorRateIncrease)}.`,
      { maxErrorRateIncrease: gates.maxErrorRateIncrease },
    );
  }
  if (!Number.isFinite(gates.maxP95LatencyRatio) || gates.maxP95LatencyRatio <= 0) {
    fail(
      `gates.maxP95LatencyRatio must be a number above 0 (1.2 = 20 % slower allowed), ` +
        `got ${String(gates.maxP95LatencyRatio)}.`,
      { maxP95LatencyRatio: gates.maxP95LatencyRatio },
    );
  }
  if (!isNonNegativeNumber(gates.minP95LatencyIncreaseMs)) {
    fail(
      `gates.minP95LatencyIncreaseMs must be a number of milliseconds ≥ 0, ` +
        `got ${String(gates.minP95LatencyIncreaseMs)}.`,
      { minP95LatencyIncreaseMs: gates.minP95LatencyIncreaseMs },
    );
  }
  if (!Number.isInteger(gates.minRequests) || gates.minRequests < 1) {
    fail(`gates.minRequests must be a whole number ≥ 1, got ${String(gates.minRequests)}.`, {
      minRequests: gates.minRequests,
    });
  }
  return gates;
}

/**
 * Starts a canary at its first stage: the returned state's candidate weight is `stages[0]`.
 *
 * @throws {@link InvalidParameterError} when the settings are invalid (see
 *   {@link resolveCanaryConfig}).
 * @example
 * ```ts
 * const state = startCanary({ holdSeconds: 600, gates: { maxErrorRateIncrease: 0.005 } }, Date.now());
 * canaryWeight(state); // 5
 * ```
 */
export function startCanary(config: CanaryConfigInput, now: number): CanaryState {
  return {
    config: resolveCanaryConfig(config),
    status: 'running',
    stageIndex: 0,
    stageStartedAt: now,
  };
}

/** The candidate's current weight: its stage's, 100 once completed, 0 once rolled back. */
export function canaryWeight(state: CanaryState): number {
  if (state.status === 'completed') return 100;
  if (state.status === 'rolled-back') return 0;
  return stageWeight(state.config, state.stageIndex);
}

function stageWeight(config: CanaryConfig, index: number): number {
  const weight = config.stages[index];
  if (weight === undefined) {
    throw new InvalidStateError(
      `Canary stage ${String(index)} does not exist; the stages are [${config.stages.join(', ')}].`,
      { stageIndex: index },
    );
  }
  return weight;
}

function holdSecondsOf(config: CanaryConfig, index: number): number {
  return typeof config.holdSeconds === 'number'
    ? config.holdSeconds
    : (config.holdSeconds[index] ?? 0);
}

function checkObservation(role: 'primary' | 'candidate', o: VariantObservation): void {
  if (!Number.isInteger(o.requests) || o.requests < 0) {
    fail(`The ${role}'s request count must be a whole number ≥ 0, got ${String(o.requests)}.`, {
      role,
      requests: o.requests,
    });
  }
  if (!Number.isInteger(o.errors) || o.errors < 0 || o.errors > o.requests) {
    fail(
      `The ${role}'s error count must be a whole number from 0 to its ${String(o.requests)} ` +
        `requests, got ${String(o.errors)}.`,
      { role, errors: o.errors, requests: o.requests },
    );
  }
  if (o.p95LatencyMs !== null && !isNonNegativeNumber(o.p95LatencyMs)) {
    fail(
      `The ${role}'s p95 latency must be a number of milliseconds ≥ 0, got ${String(o.p95LatencyMs)}.`,
      {
        role,
        p95LatencyMs: o.p95LatencyMs,
      },
    );
  }
}

const percent = (fraction: number): string => `${(fraction * 100).toFixed(2)}%`;
const points = (fraction: number): string => `${(fraction * 100).toFixed(2)} points`;
const ms = (value: number): string => `${String(Math.round(value * 10) / 10)} ms`;
const ratio = (value: number): string => `${value.toFixed(2)}×`;

/** What {@link judgeGates} found. */
export interface GateJudgement {
  measurements: CanaryMeasurements;
  /** One clause per gate the candidate breaches (empty when it passes). */
  breaches: string[];
  /** The figures and limits as one clause, for reasons given when the gates pass. */
  passing: string;
}

/**
 * Compares a candidate's figures with the primary's against the gates: the error-rate increase
 * and the p95 latency ratio. Values exactly at a threshold pass. Both variants need a p95 (that
 * is, requests); callers check `minRequests` first.
 *
 * @throws {@link InvalidParameterError} when a p95 latency is missing.
 */
export function judgeGates(
  gates: CanaryGates,
  primary: VariantObservation,
  candidate: VariantObservation,
): GateJudgement {
  const primaryP95 = primary.p95LatencyMs;
  const candidateP95 = candidate.p95LatencyMs;
  if (primaryP95 === null || candidateP95 === null) {
    // Unreachable with requests ≥ minRequests ≥ 1 unless the caller lost its latencies.
    fail(
      `A p95 latency is needed for each variant once it has requests, but the ` +
        `${primaryP95 === null ? 'primary' : 'candidate'}'s is null.`,
    );
  }

  const primaryErrorRate = primary.errors / primary.requests;
  const candidateErrorRate = candidate.errors / candidate.requests;
  const errorRateIncrease = candidateErrorRate - primaryErrorRate;
  const p95LatencyRatio =
    primaryP95 === 0
      ? candidateP95 === 0
        ? 1
        : Number.POSITIVE_INFINITY
      : candidateP95 / primaryP95;
  const measurements: CanaryMeasurements = {
    primaryErrorRate,
    candidateErrorRate,
    errorRateIncrease,
    primaryP95LatencyMs: primaryP95,
    candidateP95LatencyMs: candidateP95,
    p95LatencyRatio,
  };

  const breaches: string[] = [];
  if (errorRateIncrease > gates.maxErrorRateIncrease + THRESHOLD_SLACK) {
    breaches.push(
      `the candidate's error rate ${percent(candidateErrorRate)} exceeds the primary's ` +
        `${percent(primaryErrorRate)} by ${points(errorRateIncrease)}, more than the allowed ` +
        points(gates.maxErrorRateIncrease),
    );
  }
  if (
    p95LatencyRatio > gates.maxP95LatencyRatio + THRESHOLD_SLACK &&
    candidateP95 - primaryP95 > gates.minP95LatencyIncreaseMs + THRESHOLD_SLACK
  ) {
    breaches.push(
      `the candidate's p95 latency ${ms(candidateP95)} is ${ratio(p95LatencyRatio)} the ` +
        `primary's ${ms(primaryP95)}, above the allowed ${ratio(gates.maxP95LatencyRatio)}` +
        (gates.minP95LatencyIncreaseMs > 0
          ? ` and more than ${ms(gates.minP95LatencyIncreaseMs)} slower`
          : ''),
    );
  }
  const passing =
    `error rate ${percent(candidateErrorRate)} vs the primary's ${percent(primaryErrorRate)} ` +
    `(allowed +${points(gates.maxErrorRateIncrease)}), p95 ${ms(candidateP95)} vs ` +
    `${ms(primaryP95)} (${ratio(p95LatencyRatio)}, allowed ${ratio(gates.maxP95LatencyRatio)})`;
  return { measurements, breaches, passing };
}

/**
 * Decides the canary's next step from the figures of its current stage:
 * 1. Fewer than `minRequests` requests on either variant: `hold` (nothing is judged yet).
 * 2. Candidate error rate above the primary's by more than `maxErrorRateIncrease`, or candidate
 *    p95 above `maxP95LatencyRatio` × the primary's: `rollback` to weight 0, at once, even in the
 *    middle of the hold time. Being exactly at a threshold passes.
 * 3. Gates pass but the stage's hold time has not run out: `hold`.
 * 4. Gates pass and the hold is over: `promote-stage` to the next weight, or `complete` (weight
 *    100) when the next stage is the last.
 *
 * @throws {@link InvalidStateError} when the canary is no longer running.
 * @throws {@link InvalidParameterError} when the observation's counts or latencies are invalid.
 * @example
 * ```ts
 * const decision = evaluateCanary(
 *   state,
 *   {
 *     primary: { requests: 9500, errors: 19, p95LatencyMs: 80 },
 *     candidate: { requests: 500, errors: 30, p95LatencyMs: 85 },
 *   },
 *   Date.now(),
 * );
 * // { action: 'rollback', nextWeight: 0, reason: 'Rolling back from 5%: the candidate's error
 * //   rate 6.00% exceeds the primary's 0.20% by 5.80 points, more than the allowed 1.00 points.' }
 * state = applyCanaryDecision(state, decision, Date.now());
 * ```
 */
export function evaluateCanary(
  state: CanaryState,
  observation: CanaryObservation,
  now: number,
): CanaryDecision {
  if (state.status !== 'running') {
    throw new InvalidStateError(
      `The canary has ${state.status === 'completed' ? 'completed' : 'been rolled back'}; ` +
        'there is nothing left to evaluate.',
      { status: state.status },
    );
  }
  if (!Number.isFinite(now)) fail(`The time must be a finite number of ms, got ${String(now)}.`);
  const { primary, candidate } = observation;
  checkObservation('primary', primary);
  checkObservation('candidate', candidate);
  const { config } = state;
  const { gates } = config;
  const weight = stageWeight(config, state.stageIndex);
  const at = `${String(weight)}%`;

  if (primary.requests < gates.minRequests || candidate.requests < gates.minRequests) {
    return {
      action: 'hold',
      nextWeight: weight,
      reason:
        `Holding at ${at}: the gates need at least ${String(gates.minRequests)} requests per ` +
        `variant in this stage, and so far the candidate has ${String(candidate.requests)} and ` +
        `the primary ${String(primary.requests)}.`,
      measurements: null,
    };
  }
  const { measurements, breaches, passing } = judgeGates(gates, primary, candidate);
  if (breaches.length > 0) {
    return {
      action: 'rollback',
      nextWeight: 0,
      reason: `Rolling back from ${at}: ${breaches.join('; and ')}.`,
      measurements,
    };
  }

  const holdSeconds = holdSecondsOf(config, state.stageIndex);
  const heldSeconds = Math.max(0, (now - state.stageStartedAt) / 1000);
  if (heldSeconds < holdSeconds) {
    return {
      action: 'hold',
      nextWeight: weight,
      reason:
        `Holding at ${at} for another ${String(Math.ceil(holdSeconds - heldSeconds))} s ` +
        `(held ${String(Math.floor(heldSeconds))} of ${String(holdSeconds)} s); gates pass: ${passing}.`,
      measurements,
    };
  }
  const nextIndex = state.stageIndex + 1;
  const nextWeight = stageWeight(config, nextIndex);
  const last = nextIndex === config.stages.length - 1;
  return {
    action: last ? 'complete' : 'promote-stage',
    nextWeight,
    reason:
      `${last ? 'Completing the rollout' : `Promoting to ${String(nextWeight)}%`} after ` +
      `holding ${at} for ${String(Math.floor(heldSeconds))} s (at least ${String(holdSeconds)} s) ` +
      `with ${String(candidate.requests)} candidate requests: ${passing}.`,
    measurements,
  };
}

/**
 * The state after acting on `decision`: `promote-stage` moves to the next stage starting at
 * `now`, `complete` and `rollback` end the canary, `hold` changes nothing.
 *
 * @throws {@link InvalidStateError} when the canary is no longer running.
 */
export function applyCanaryDecision(
  state: CanaryState,
  decision: CanaryDecision,
  now: number,
): CanaryState {
  if (state.status !== 'running') {
    throw new InvalidStateError(`The canary is ${state.status}; no decision applies to it.`, {
      status: state.status,
    });
  }
  switch (decision.action) {
    case 'hold':
      return state;
    case 'promote-stage':
      return { ...state, stageIndex: state.stageIndex + 1, stageStartedAt: now };
    case 'complete':
      return {
        ...state,
        status: 'completed',
        stageIndex: state.config.stages.length - 1,
        stageStartedAt: now,
      };
    case 'rollback':
      return { ...state, status: 'rolled-back', stageStartedAt: now };
  }
}

/**
 * The `p`th percentile (0–100) of `values` by linear interpolation between closest ranks (the
 * method numpy and most dashboards use by default). `values` is not modified.
 *
 * @throws {@link InvalidParameterError} when `values` is empty or holds a non-finite number, or
 *   `p` is outside 0–100.
 * @example
 * ```ts
 * percentile([15, 20, 35, 40, 50], 40); // 29
 * percentile(latenciesMs, 95);
 * ```
 */
export function percentile(values: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) fail(`A percentile must be from 0 to 100, got ${String(p)}.`, { p });
  if (values.length === 0) fail('Cannot take a percentile of no values.');
  const sorted = Float64Array.from(values);
  for (const value of sorted) {
    if (!Number.isFinite(value)) {
      fail(`Percentiles need finite numbers, got ${String(value)}.`, { value });
    }
  }
  sorted.sort();
  const rank = (p / 100) * (sorted.length - 1);
  const lowerIndex = Math.floor(rank);
  const lower = sorted[lowerIndex] ?? 0;
  const upper = sorted[Math.min(lowerIndex + 1, sorted.length - 1)] ?? lower;
  return lower + (upper - lower) * (rank - lowerIndex);
}

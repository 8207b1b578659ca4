/**
 * Rollouts as pure state: settings with their defaults and checks, the weights each phase gives
 * the primary and the candidate, and the decisions (hold, advance, complete, roll back) made from
 * measured figures. The server measures, calls {@link evaluateRollout}, applies the weights and
 * records the decision's reason as an event; nothing here does I/O or reads the clock.
 */
import {
  DEFAULT_CANARY_HOLD_SECONDS,
  applyCanaryDecision,
  canaryWeight,
  evaluateCanary,
  judgeGates,
  resolveCanaryConfig,
  resolveGates,
  startCanary,
} from './canary-policy.js';
import type { CanaryGates, CanaryMeasurements, VariantObservation } from './canary-policy.js';
import type {
  DeploymentStatus,
  OutcomeAggregate,
  OutcomeMetric,
  Rollout,
  RolloutPhase,
  RolloutSettings,
  RolloutStrategy,
  VariantRole,
  VariantStatus,
} from './deployment.js';
import { InvalidParameterError, InvalidStateError } from './errors.js';
import { twoProportionZTest, welchTTest } from './significance.js';
import type { Tensor } from './tensor.js';

/** Every strategy, for messages and schemas. */
export const ROLLOUT_STRATEGIES: readonly RolloutStrategy[] = [
  'canary',
  'blue-green',
  'ab',
  'shadow',
];

/** Seconds a blue-green rollout keeps the old version warm, or a shadow mirrors, by default. */
export const DEFAULT_WATCH_SECONDS = 300;

/** What a caller may set when starting a rollout; everything has a default per strategy. */
export interface RolloutOptions {
  /** Canary: candidate weights, strictly increasing, ending at 100 (default 5, 10, 25, 50, 100). */
  stages?: readonly number[] | undefined;
  /** See {@link RolloutSettings.holdSeconds}; canary: one number or one per stage but the last. */
  holdSeconds?: number | readonly number[] | undefined;
  gates?: Partial<CanaryGates> | undefined;
  /** A/B: the candidate's share (default 50); shadow: the mirrored percentage (default 100). */
  weight?: number | undefined;
  stickyHeader?: string | undefined;
  stickyField?: string | undefined;
  metric?:
    { name: string; kind: OutcomeMetric['kind']; higherIsBetter?: boolean | undefined } | undefined;
  alpha?: number | undefined;
  minSamples?: number | undefined;
  minAgreement?: number | undefined;
  autoPromote?: boolean | undefined;
}

/** What applies to which strategy, for refusing settings that would be silently ignored. */
const APPLIES: Record<Exclude<keyof RolloutOptions, 'gates'>, readonly RolloutStrategy[]> = {
  stages: ['canary'],
  holdSeconds: ['canary', 'blue-green', 'shadow'],
  weight: ['ab', 'shadow'],
  stickyHeader: ['canary', 'ab'],
  stickyField: ['canary', 'ab'],
  metric: ['ab'],
  alpha: ['ab'],
  minSamples: ['ab'],
  minAgreement: ['shadow'],
  autoPromote: ['ab', 'shadow'],
};

function fail(message: string, context: Record<string, unknown> = {}): never {
  throw new InvalidParameterError(message, context);
}

function checkStrategy(strategy: string): asserts strategy is RolloutStrategy {
  if (!(ROLLOUT_STRATEGIES as readonly string[]).includes(strategy)) {
    fail(`Unknown rollout strategy '${strategy}'; use one of ${ROLLOUT_STRATEGIES.join(', ')}.`, {
      strategy,
    });
  }
}

/** `an ab` / `a canary`, capitalised on request. */
function article(strategy: RolloutStrategy, capital = false): string {
  const a = strategy === 'ab' ? 'an' : 'a';
  return `${capital ? a.charAt(0).toUpperCase() + a.slice(1) : a} ${strategy}`;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Fills in a strategy's defaults and checks the options. Options that do not apply to the
 * strategy are refused rather than ignored (e.g. `stages` for an A/B test).
 *
 * @throws {@link InvalidParameterError} naming the option, its value and the allowed range.
 */
export function resolveRolloutSettings(
  strategy: string,
  options: RolloutOptions = {},
): { strategy: RolloutStrategy; settings: RolloutSettings; canaryStages: readonly number[] } {
  checkStrategy(strategy);
  for (const [key, strategies] of Object.entries(APPLIES)) {
    if (options[key as keyof typeof APPLIES] !== undefined && !strategies.includes(strategy)) {
      fail(
        `'${key}' does not apply to ${article(strategy)} rollout; it is a setting of ` +
          `${strategies.join(' and ')} rollouts.`,
        { [key]: options[key as keyof typeof APPLIES], strategy },
      );
    }
  }
  const gates = resolveGates(options.gates);
  let holdSeconds = 0;
  let canaryStages: readonly number[] = [];
  if (strategy === 'canary') {
    const config = resolveCanaryConfig({
      ...(options.stages !== undefined && { stages: options.stages }),
      ...(options.holdSeconds !== undefined && { holdSeconds: options.holdSeconds }),
      gates,
    });
    canaryStages = config.stages;
    holdSeconds =
      typeof config.holdSeconds === 'number'
        ? config.holdSeconds
        : (config.holdSeconds[0] ?? DEFAULT_CANARY_HOLD_SECONDS);
  } else if (strategy === 'blue-green' || strategy === 'shadow') {
    const hold = options.holdSeconds ?? DEFAULT_WATCH_SECONDS;
    if (typeof hold !== 'number' || !Number.isFinite(hold) || hold < 0) {
      const shown = Array.isArray(hold) ? JSON.stringify(hold) : String(hold);
      fail(`'holdSeconds' must be one number of seconds ≥ 0, got ${shown}.`, {
        holdSeconds: hold,
      });
    }
    holdSeconds = hold;
  }
  const weight = options.weight ?? (strategy === 'shadow' ? 100 : strategy === 'ab' ? 50 : 0);
  if (!Number.isFinite(weight) || weight < 0 || weight > 100) {
    fail(`'weight' must be a percentage from 0 to 100, got ${String(weight)}.`, { weight });
  }
  if ((strategy === 'ab' || strategy === 'shadow') && weight === 0) {
    fail(
      `${article(strategy, true)} rollout with weight 0 would send the candidate nothing; give a weight above 0.`,
      { weight },
    );
  }
  for (const key of ['stickyHeader', 'stickyField'] as const) {
    const value = options[key];
    if (value === undefined) continue;
    if (key === 'stickyHeader' ? !HEADER_NAME.test(value) : value.trim() === '') {
      fail(
        `'${key}' must be ${key === 'stickyHeader' ? 'an HTTP header name such as x-user-id' : 'a non-empty parameter name'}, got '${value}'.`,
        { [key]: value },
      );
    }
  }
  if (options.stickyHeader !== undefined && options.stickyField !== undefined) {
    fail("Give 'stickyHeader' or 'stickyField', not both: a request has one sticky key.");
  }
  let metric: OutcomeMetric | null = null;
  if (options.metric !== undefined) {
    const { name, kind, higherIsBetter } = options.metric;
    if (typeof name !== 'string' || name.trim() === '' || name.length > 250) {
      fail(`'metric.name' must be a name of 1 to 250 characters, got ${JSON.stringify(name)}.`);
    }
    if ((kind as string) !== 'proportion' && (kind as string) !== 'mean') {
      fail(`'metric.kind' must be 'proportion' or 'mean', got ${JSON.stringify(kind)}.`, { kind });
    }
    metric = { name, kind, higherIsBetter: higherIsBetter ?? true };
  }
  const alpha = options.alpha ?? 0.05;
  if (!Number.isFinite(alpha) || alpha <= 0 || alpha >= 0.5) {
    fail(`'alpha' must be a significance level above 0 and below 0.5, got ${String(alpha)}.`, {
      alpha,
    });
  }
  const minSamples = options.minSamples ?? 100;
  if (!Number.isInteger(minSamples) || minSamples < 2) {
    fail(`'minSamples' must be a whole number ≥ 2, got ${String(minSamples)}.`, { minSamples });
  }
  const minAgreement = options.minAgreement ?? 0.99;
  if (!Number.isFinite(minAgreement) || minAgreement < 0 || minAgreement > 1) {
    fail(`'minAgreement' must be a fraction from 0 to 1, got ${String(minAgreement)}.`, {
      minAgreement,
    });
  }
  const autoPromote = options.autoPromote ?? false;
  if (strategy === 'ab' && autoPromote && metric === null) {
    fail(
      "An A/B test decides by itself only on a declared 'metric'; declare one or leave autoPromote off.",
    );
  }
  return {
    strategy,
    canaryStages,
    settings: {
      gates,
      holdSeconds,
      weight,
      stickyHeader: options.stickyHeader?.toLowerCase() ?? null,
      stickyField: options.stickyField ?? null,
      metric,
      alpha,
      minSamples,
      minAgreement,
      autoPromote,
    },
  };
}

/** What {@link startRollout} needs besides the options. */
export interface StartRolloutInput {
  strategy: string;
  options?: RolloutOptions;
  /** The candidate's variant name and the current primary's. */
  candidate: string;
  primary: string;
  actor: string;
  reason?: string | undefined;
  now: number;
}

/**
 * A new rollout in phase `warming`: the candidate is loading and serves nothing yet.
 * @throws {@link InvalidParameterError} when the options are invalid.
 */
export function startRollout(input: StartRolloutInput): Rollout {
  const { strategy, settings, canaryStages } = resolveRolloutSettings(
    input.strategy,
    input.options,
  );
  const canary =
    strategy === 'canary'
      ? startCanary(
          {
            stages: canaryStages,
            holdSeconds: input.options?.holdSeconds ?? settings.holdSeconds,
            gates: settings.gates,
          },
          input.now,
        )
      : null;
  return {
    strategy,
    phase: 'warming',
    candidate: input.candidate,
    primary: input.primary,
    settings,
    canary,
    outcomes: {},
    baseline: null,
    startedAt: input.now,
    phaseSince: input.now,
    endedAt: null,
    actor: input.actor,
    reason: input.reason ?? '',
    lastDecision: `Loading the candidate '${input.candidate}'.`,
  };
}

/** A rollout that has not ended. */
export type ActiveRollout = Rollout & { phase: 'warming' | 'running' | 'switched' };

/** True while the rollout has not completed or rolled back. */
export function isRolloutActive(rollout: Rollout | null): rollout is ActiveRollout {
  return rollout !== null && rollout.phase !== 'completed' && rollout.phase !== 'rolled-back';
}

/** The primary's and candidate's weights (and the candidate's role) in an active rollout. */
export interface RolloutWeights {
  primary: number;
  candidate: number;
  candidateRole: VariantRole;
}

/**
 * The weights an active rollout gives: nothing to the candidate while it warms up; the canary's
 * stage weight; the A/B weight; all of it once a blue-green rollout has switched. A shadow
 * candidate has role `shadow` and its weight is the mirrored percentage.
 *
 * @throws {@link InvalidStateError} for a completed or rolled-back rollout.
 */
export function rolloutWeights(rollout: Rollout): RolloutWeights {
  const role: VariantRole = rollout.strategy === 'shadow' ? 'shadow' : 'candidate';
  switch (rollout.phase) {
    case 'warming':
      return { primary: 100, candidate: 0, candidateRole: role };
    case 'switched':
      return { primary: 0, candidate: 100, candidateRole: role };
    case 'running': {
      if (rollout.strategy === 'shadow') {
        return { primary: 100, candidate: rollout.settings.weight, candidateRole: role };
      }
      const candidate =
        rollout.strategy === 'canary' && rollout.canary !== null
          ? canaryWeight(rollout.canary)
          : rollout.settings.weight;
      return { primary: 100 - candidate, candidate, candidateRole: role };
    }
    case 'completed':
    case 'rolled-back':
      throw new InvalidStateError(`The rollout has ${rollout.phase}; it sets no weights.`, {
        phase: rollout.phase,
      });
  }
}

/** What to do after an evaluation; `rollout` is the state from then on. */
export interface RolloutDecision {
  /**
   * `hold`: nothing changes. `advance`: the weights change (canary stage, blue-green switch,
   * candidate ready). `complete`: the candidate becomes the primary and the old primary goes.
   * `rollback`: the candidate goes and the primary takes all traffic.
   */
  action: 'hold' | 'advance' | 'complete' | 'rollback';
  reason: string;
  /** The figures the decision rests on, for the event's details. */
  details: Record<string, unknown>;
  rollout: Rollout;
}

function ended(
  rollout: Rollout,
  phase: Extract<RolloutPhase, 'completed' | 'rolled-back'>,
  reason: string,
  now: number,
): Rollout {
  return { ...rollout, phase, phaseSince: now, endedAt: now, lastDecision: reason };
}

function requireActive(rollout: Rollout): void {
  if (rollout.phase === 'completed' || rollout.phase === 'rolled-back') {
    throw new InvalidStateError(
      `The ${rollout.strategy} rollout of '${rollout.candidate}' has ${rollout.phase === 'completed' ? 'completed' : 'been rolled back'}; start a new rollout to change the deployment.`,
      { phase: rollout.phase },
    );
  }
}

/**
 * The candidate has loaded: canary, A/B and shadow start `running` (the canary at its first
 * stage), blue-green switches all traffic at once and keeps `primaryBefore` (the primary's
 * figures while the candidate warmed up) as the baseline to judge the candidate against.
 *
 * @throws {@link InvalidStateError} unless the rollout is warming.
 */
export function candidateReady(
  rollout: Rollout,
  primaryBefore: VariantObservation,
  now: number,
): RolloutDecision {
  if (rollout.phase !== 'warming') {
    throw new InvalidStateError(`The rollout is ${rollout.phase}, not warming.`, {
      phase: rollout.phase,
    });
  }
  const { settings } = rollout;
  let next: Rollout;
  let reason: string;
  switch (rollout.strategy) {
    case 'canary': {
      const canary = rollout.canary === null ? null : { ...rollout.canary, stageStartedAt: now };
      next = { ...rollout, phase: 'running', canary, phaseSince: now };
      reason = `Candidate '${rollout.candidate}' is ready; the canary starts at ${String(
        canary === null ? 0 : canaryWeight(canary),
      )}% of traffic.`;
      break;
    }
    case 'blue-green':
      next = { ...rollout, phase: 'switched', baseline: primaryBefore, phaseSince: now };
      reason =
        `Candidate '${rollout.candidate}' is warm; all traffic switched to it at once. ` +
        `'${rollout.primary}' stays loaded for ${String(settings.holdSeconds)} s so that a rollback is instant.`;
      break;
    case 'ab':
      next = { ...rollout, phase: 'running', phaseSince: now };
      reason =
        `Candidate '${rollout.candidate}' is ready; the A/B test sends it ${String(settings.weight)}% of traffic` +
        (settings.stickyHeader !== null
          ? `, sticky per '${settings.stickyHeader}' header`
          : settings.stickyField !== null
            ? `, sticky per '${settings.stickyField}' parameter`
            : '') +
        '.';
      break;
    case 'shadow':
      next = { ...rollout, phase: 'running', phaseSince: now };
      reason = `Candidate '${rollout.candidate}' is ready; ${String(settings.weight)}% of requests are mirrored to it.`;
      break;
  }
  next = { ...next, lastDecision: reason };
  return { action: 'advance', reason, details: { phase: next.phase }, rollout: next };
}

/** The candidate could not be loaded: the rollout rolls back and the primary serves on. */
export function candidateFailed(rollout: Rollout, error: string, now: number): RolloutDecision {
  requireActive(rollout);
  const reason = `Rolled back: candidate '${rollout.candidate}' failed to load: ${error}`;
  return {
    action: 'rollback',
    reason,
    details: { error },
    rollout: ended(rollout, 'rolled-back', reason, now),
  };
}

/** What a shadow candidate did with its mirrored requests. */
export interface ShadowObservation {
  /** Mirrored requests the candidate answered (or failed on). */
  mirrored: number;
  /** Of those, answers that agreed with the primary's (see {@link outputsAgree}). */
  agreed: number;
}

/** The figures {@link evaluateRollout} judges, over the current phase or canary stage. */
export interface RolloutObservation {
  primary: VariantObservation;
  /** The candidate's own requests (for a shadow: the mirrored ones). */
  candidate: VariantObservation;
  shadow?: ShadowObservation | undefined;
}

const pct = (fraction: number): string => `${(fraction * 100).toFixed(2)}%`;
const latency = (ms: number | null): string =>
  ms === null ? 'unmeasured' : `${String(Math.round(ms * 100) / 100)} ms`;

function measurementDetails(m: CanaryMeasurements | null): Record<string, unknown> {
  return m === null ? {} : { measurements: m };
}

/**
 * Decides the next step of an active rollout from the figures of its current phase (or canary
 * stage). A health breach (the gates of {@link judgeGates}) rolls back at once in every strategy.
 * - canary: {@link evaluateCanary} (hold, next stage, complete, roll back).
 * - blue-green, `switched`: judged against the baseline; completes after `holdSeconds`.
 * - A/B: with `autoPromote` and a metric, completes when the candidate is significantly better
 *   (p < alpha, both variants with `minSamples` outcomes) and rolls back when significantly
 *   worse; otherwise runs until someone promotes or rolls back.
 * - shadow: with `autoPromote`, after `holdSeconds` and `minRequests` mirrored, completes when
 *   the agreement reaches `minAgreement` and rolls back when it does not.
 * A `warming` rollout holds (see {@link candidateReady}).
 *
 * @throws {@link InvalidStateError} when the rollout has ended.
 */
export function evaluateRollout(
  rollout: Rollout,
  observation: RolloutObservation,
  now: number,
): RolloutDecision {
  requireActive(rollout);
  const hold = (reason: string, details: Record<string, unknown> = {}): RolloutDecision => ({
    action: 'hold',
    reason,
    details,
    rollout: { ...rollout, lastDecision: reason },
  });
  const finish = (
    action: 'complete' | 'rollback',
    reason: string,
    details: Record<string, unknown>,
  ): RolloutDecision => ({
    action,
    reason,
    details,
    rollout: ended(rollout, action === 'complete' ? 'completed' : 'rolled-back', reason, now),
  });
  if (rollout.phase === 'warming') return hold(rollout.lastDecision);
  const { settings } = rollout;
  const { gates } = settings;
  const { primary, candidate } = observation;

  if (rollout.strategy === 'canary' && rollout.canary !== null) {
    const decision = evaluateCanary(rollout.canary, { primary, candidate }, now);
    const canary = applyCanaryDecision(rollout.canary, decision, now);
    const details = measurementDetails(decision.measurements);
    switch (decision.action) {
      case 'hold':
        return hold(decision.reason, details);
      case 'promote-stage':
        return {
          action: 'advance',
          reason: decision.reason,
          details: { ...details, weight: decision.nextWeight },
          rollout: { ...rollout, canary, phaseSince: now, lastDecision: decision.reason },
        };
      case 'complete':
      case 'rollback': {
        const final = finish(decision.action, decision.reason, details);
        return { ...final, rollout: { ...final.rollout, canary } };
      }
    }
  }

  const heldSeconds = Math.max(0, (now - rollout.phaseSince) / 1000);
  if (rollout.strategy === 'blue-green') {
    const baseline = rollout.baseline;
    const usable = baseline !== null && baseline.requests >= gates.minRequests;
    if (candidate.requests >= gates.minRequests) {
      const judged = judgeGates(
        gates,
        usable
          ? baseline
          : { requests: candidate.requests, errors: 0, p95LatencyMs: candidate.p95LatencyMs },
        candidate,
      );
      const breaches = usable
        ? judged.breaches
        : judged.breaches.filter((b) => b.includes('error rate'));
      if (breaches.length > 0) {
        return finish(
          'rollback',
          `Rolled back to '${rollout.primary}' after the switch: ${breaches.join('; and ')}` +
            (usable
              ? '.'
              : ` (no baseline: '${rollout.primary}' served ${String(baseline?.requests ?? 0)} requests before the switch, so the error rate is compared with 0 and latency is not judged).`),
          measurementDetails(judged.measurements),
        );
      }
    }
    if (heldSeconds < settings.holdSeconds) {
      return hold(
        `Watching '${rollout.candidate}' after the switch for another ${String(Math.ceil(settings.holdSeconds - heldSeconds))} s ` +
          `(${String(candidate.requests)} requests, ${String(candidate.errors)} errors so far); '${rollout.primary}' stays warm for a rollback.`,
      );
    }
    return finish(
      'complete',
      `Completed: '${rollout.candidate}' served ${String(candidate.requests)} requests with ` +
        `${String(candidate.errors)} errors over ${String(Math.floor(heldSeconds))} s after the switch` +
        (candidate.requests < gates.minRequests
          ? ` (fewer than the ${String(gates.minRequests)} requests the gates judge, so its health was not judged)`
          : '') +
        `; '${rollout.primary}' is released.`,
      {
        requests: candidate.requests,
        errors: candidate.errors,
        p95LatencyMs: candidate.p95LatencyMs,
      },
    );
  }

  // A/B and shadow: health first.
  let healthDetails: Record<string, unknown> = {};
  if (candidate.requests >= gates.minRequests && primary.requests >= gates.minRequests) {
    const judged = judgeGates(gates, primary, candidate);
    healthDetails = measurementDetails(judged.measurements);
    if (judged.breaches.length > 0) {
      return finish('rollback', `Rolled back: ${judged.breaches.join('; and ')}.`, healthDetails);
    }
  }

  if (rollout.strategy === 'ab') {
    const report = abReport(rollout);
    const details = { ...healthDetails, ...(report === null ? {} : { test: report }) };
    if (report === null) {
      return hold(
        `A/B test running at ${String(settings.weight)}% (no outcome metric declared; promote or roll back by hand).`,
        details,
      );
    }
    if (!settings.autoPromote || !report.decided) return hold(report.summary, details);
    return finish(report.candidateBetter ? 'complete' : 'rollback', report.summary, details);
  }

  // shadow
  const shadow = observation.shadow ?? { mirrored: candidate.requests, agreed: 0 };
  const agreement = shadow.mirrored === 0 ? null : shadow.agreed / shadow.mirrored;
  const summary =
    agreement === null
      ? 'no mirrored request answered yet'
      : `${pct(agreement)} of ${String(shadow.mirrored)} mirrored answers agree with the primary's ` +
        `(required ${pct(settings.minAgreement)}); candidate p95 ${latency(candidate.p95LatencyMs)} vs primary ${latency(primary.p95LatencyMs)}`;
  const details = { ...healthDetails, mirrored: shadow.mirrored, agreed: shadow.agreed, agreement };
  if (!settings.autoPromote) {
    return hold(`Shadowing: ${summary}; promote or roll back by hand.`, details);
  }
  if (heldSeconds < settings.holdSeconds || shadow.mirrored < gates.minRequests) {
    return hold(
      `Shadowing for ${String(Math.floor(heldSeconds))} of ${String(settings.holdSeconds)} s and ` +
        `${String(shadow.mirrored)} of ${String(gates.minRequests)} mirrored requests: ${summary}.`,
      details,
    );
  }
  return agreement !== null && agreement >= settings.minAgreement
    ? finish('complete', `Completed: ${summary}; '${rollout.candidate}' is promoted.`, details)
    : finish('rollback', `Rolled back: ${summary}.`, details);
}

/**
 * Someone promotes the candidate now (skipping remaining stages or the wait for evidence).
 * @throws {@link InvalidStateError} when the rollout has ended or is still warming.
 */
export function promoteRollout(
  rollout: Rollout,
  actor: string,
  reason: string | undefined,
  now: number,
): RolloutDecision {
  requireActive(rollout);
  if (rollout.phase === 'warming') {
    throw new InvalidStateError(
      `Candidate '${rollout.candidate}' is still loading; promote it once it is ready (see the deployment's status).`,
      { phase: rollout.phase },
    );
  }
  const why = `Promoted by ${actor}${reason === undefined || reason === '' ? '' : `: ${reason}`}.`;
  return {
    action: 'complete',
    reason: why,
    details: {},
    rollout: ended(rollout, 'completed', why, now),
  };
}

/**
 * Someone rolls the candidate back now.
 * @throws {@link InvalidStateError} when the rollout has ended.
 */
export function rollBackRollout(
  rollout: Rollout,
  actor: string,
  reason: string | undefined,
  now: number,
): RolloutDecision {
  requireActive(rollout);
  const why = `Rolled back by ${actor}${reason === undefined || reason === '' ? '' : `: ${reason}`}.`;
  return {
    action: 'rollback',
    reason: why,
    details: {},
    rollout: ended(rollout, 'rolled-back', why, now),
  };
}

// ---- A/B outcomes ----

/** An empty aggregate. */
export function emptyOutcome(): OutcomeAggregate {
  return { count: 0, sum: 0, mean: 0, m2: 0 };
}

/**
 * Adds outcome values to a variant's aggregate (Welford's update).
 * @throws {@link InvalidParameterError} for a non-finite value, or a value other than 0 or 1 for
 *   a `proportion` metric.
 */
export function addOutcomes(
  aggregate: OutcomeAggregate,
  metric: OutcomeMetric,
  values: readonly number[],
): OutcomeAggregate {
  let { count, sum, mean, m2 } = aggregate;
  for (const value of values) {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      fail(`Outcome values of '${metric.name}' must be finite numbers, got ${String(value)}.`, {
        value,
      });
    }
    if (metric.kind === 'proportion' && value !== 0 && value !== 1) {
      fail(
        `'${metric.name}' is a proportion metric: each outcome is 0 or 1, got ${String(value)}.`,
        { value },
      );
    }
    count += 1;
    sum += value;
    const delta = value - mean;
    mean += delta / count;
    m2 += delta * (value - mean);
  }
  return { count, sum, mean, m2 };
}

/** The A/B test's state: each arm's outcomes and, with enough of them, the significance test. */
export interface AbReport {
  metric: OutcomeMetric;
  primary: { name: string; count: number; mean: number };
  candidate: { name: string; count: number; mean: number };
  test: 'two-proportion z-test' | "Welch's t-test";
  /** candidate mean − primary mean. */
  difference: number | null;
  pValue: number | null;
  alpha: number;
  /** Both arms have `minSamples` outcomes and p < alpha. */
  decided: boolean;
  /** The candidate is better by the metric's direction (meaningful when `decided`). */
  candidateBetter: boolean;
  summary: string;
}

/** The A/B report of a rollout with a declared metric; null without one or for other strategies. */
export function abReport(rollout: Rollout): AbReport | null {
  const { metric, minSamples, alpha } = rollout.settings;
  if (rollout.strategy !== 'ab' || metric === null) return null;
  const a = rollout.outcomes[rollout.primary] ?? emptyOutcome();
  const b = rollout.outcomes[rollout.candidate] ?? emptyOutcome();
  const test = metric.kind === 'proportion' ? 'two-proportion z-test' : "Welch's t-test";
  let difference: number | null = null;
  let pValue: number | null = null;
  if (metric.kind === 'proportion' && a.count > 0 && b.count > 0) {
    const r = twoProportionZTest({
      successesA: Math.round(a.sum),
      totalA: a.count,
      successesB: Math.round(b.sum),
      totalB: b.count,
    });
    difference = r.difference;
    pValue = r.pValue;
  } else if (metric.kind === 'mean' && a.count >= 2 && b.count >= 2) {
    const r = welchTTest(
      { count: a.count, mean: a.mean, variance: a.m2 / (a.count - 1) },
      { count: b.count, mean: b.mean, variance: b.m2 / (b.count - 1) },
    );
    difference = r.difference;
    pValue = r.pValue;
  }
  const enough = a.count >= minSamples && b.count >= minSamples;
  const decided = enough && pValue !== null && pValue < alpha;
  const candidateBetter =
    difference !== null && (metric.higherIsBetter ? difference > 0 : difference < 0);
  const figures =
    `'${metric.name}' ${rollout.primary} ${a.mean.toPrecision(4)} (n=${String(a.count)}) vs ` +
    `${rollout.candidate} ${b.mean.toPrecision(4)} (n=${String(b.count)}), ${test}` +
    (pValue === null ? '' : ` p=${pValue.toPrecision(3)}`);
  const summary = !enough
    ? `A/B test collecting: ${figures}; each variant needs ${String(minSamples)} outcomes.`
    : decided
      ? `A/B test decided: ${figures} < alpha ${String(alpha)}; the candidate is ${candidateBetter ? 'better' : 'worse'}.`
      : `A/B test running: ${figures}; no significant difference at alpha ${String(alpha)} yet.`;
  return {
    metric,
    primary: { name: rollout.primary, count: a.count, mean: a.mean },
    candidate: { name: rollout.candidate, count: b.count, mean: b.mean },
    test,
    difference,
    pValue,
    alpha,
    decided,
    candidateBetter,
    summary,
  };
}

// ---- shadow comparison ----

/** Tolerances of {@link outputsAgree} for floating-point outputs: |a − b| ≤ atol + rtol·|b|. */
export const AGREEMENT_TOLERANCE = { rtol: 1e-3, atol: 1e-5 } as const;

function elementsAgree(a: Tensor, b: Tensor): boolean {
  if (a.datatype !== b.datatype || a.shape.length !== b.shape.length) return false;
  if (a.shape.some((d, i) => d !== b.shape[i])) return false;
  if (a.data.length !== b.data.length) return false;
  const floating = a.datatype === 'FP32' || a.datatype === 'FP64';
  for (let i = 0; i < a.data.length; i++) {
    const x = a.data[i];
    const y = b.data[i];
    if (floating) {
      const fx = x as number;
      const fy = y as number;
      if (fx === fy || (Number.isNaN(fx) && Number.isNaN(fy))) continue;
      if (!Number.isFinite(fx) || !Number.isFinite(fy)) return false;
      if (
        !(Math.abs(fx - fy) <= AGREEMENT_TOLERANCE.atol + AGREEMENT_TOLERANCE.rtol * Math.abs(fy))
      ) {
        return false;
      }
    } else if (x instanceof Uint8Array && y instanceof Uint8Array) {
      if (x.length !== y.length || x.some((v, j) => v !== y[j])) return false;
    } else if (x !== y) {
      return false;
    }
  }
  return true;
}

/**
 * True when two inferences' outputs agree: the same output names, and per output the same
 * datatype, shape and elements (FP32/FP64 within {@link AGREEMENT_TOLERANCE}, FP16 bit patterns,
 * integers, booleans and bytes exactly).
 */
export function outputsAgree(
  primary: Readonly<Record<string, Tensor>>,
  candidate: Readonly<Record<string, Tensor>>,
): boolean {
  const names = Object.keys(primary);
  if (names.length !== Object.keys(candidate).length) return false;
  return names.every((name) => {
    const a = primary[name];
    const b = candidate[name];
    return a !== undefined && b !== undefined && elementsAgree(b, a);
  });
}

// ---- reading a stored rollout ----

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks a rollout read back from storage (JSON) and returns it typed; settings are checked again
 * with {@link resolveRolloutSettings}.
 * @throws {@link InvalidParameterError} describing the first field that is wrong.
 */
export function parseRollout(value: unknown): Rollout {
  const bad = (what: string): never => fail(`The stored rollout is invalid: ${what}.`);
  if (!isRecord(value)) return bad('not an object');
  const str = (key: string): string => {
    const v = value[key];
    return typeof v === 'string' ? v : bad(`'${key}' is not a string`);
  };
  const num = (from: Record<string, unknown>, key: string): number => {
    const v = from[key];
    return typeof v === 'number' ? v : bad(`'${key}' is not a number`);
  };
  const strategy = str('strategy');
  const phase = str('phase');
  if (!['warming', 'running', 'switched', 'completed', 'rolled-back'].includes(phase)) {
    bad(`unknown phase '${phase}'`);
  }
  const rawSettings = value['settings'];
  if (!isRecord(rawSettings)) return bad("'settings' is not an object");
  const s = rawSettings as unknown as RolloutSettings;
  const canaryRaw = value['canary'];
  let canary: Rollout['canary'] = null;
  if (canaryRaw !== null) {
    if (!isRecord(canaryRaw) || !isRecord(canaryRaw['config'])) return bad("'canary' is invalid");
    const config = canaryRaw['config'];
    const resolved = resolveCanaryConfig({
      stages: config['stages'] as number[],
      holdSeconds: config['holdSeconds'] as number | number[],
      gates: config['gates'] as Partial<CanaryGates>,
    });
    const status = canaryRaw['status'];
    if (status !== 'running' && status !== 'completed' && status !== 'rolled-back') {
      return bad("'canary.status' is invalid");
    }
    const stageIndex = num(canaryRaw, 'stageIndex');
    if (!Number.isInteger(stageIndex) || stageIndex < 0 || stageIndex >= resolved.stages.length) {
      return bad(
        `'canary.stageIndex' ${String(stageIndex)} is not a stage of [${resolved.stages.join(', ')}]`,
      );
    }
    canary = {
      config: resolved,
      status,
      stageIndex,
      stageStartedAt: num(canaryRaw, 'stageStartedAt'),
    };
  }
  const { settings } = resolveRolloutSettings(strategy, {
    ...(strategy !== 'canary' && strategy !== 'ab' && { holdSeconds: s.holdSeconds }),
    gates: s.gates,
    ...((strategy === 'ab' || strategy === 'shadow') && { weight: s.weight }),
    ...(s.stickyHeader !== null && { stickyHeader: s.stickyHeader }),
    ...(s.stickyField !== null && { stickyField: s.stickyField }),
    ...(s.metric !== null && { metric: s.metric }),
    ...(strategy === 'ab' && { alpha: s.alpha, minSamples: s.minSamples }),
    ...(strategy === 'shadow' && { minAgreement: s.minAgreement }),
    ...((strategy === 'ab' || strategy === 'shadow') && { autoPromote: s.autoPromote }),
  });
  if (strategy === 'canary') settings.holdSeconds = num(rawSettings, 'holdSeconds');
  const outcomesRaw = value['outcomes'];
  if (!isRecord(outcomesRaw)) return bad("'outcomes' is not an object");
  const outcomes: Record<string, OutcomeAggregate> = {};
  for (const [name, o] of Object.entries(outcomesRaw)) {
    if (!isRecord(o)) return bad(`outcomes of '${name}' are not an object`);
    outcomes[name] = {
      count: num(o, 'count'),
      sum: num(o, 'sum'),
      mean: num(o, 'mean'),
      m2: num(o, 'm2'),
    };
  }
  const baselineRaw = value['baseline'];
  let baseline: VariantObservation | null = null;
  if (baselineRaw !== null) {
    if (!isRecord(baselineRaw)) return bad("'baseline' is not an object");
    const p95 = baselineRaw['p95LatencyMs'];
    baseline = {
      requests: num(baselineRaw, 'requests'),
      errors: num(baselineRaw, 'errors'),
      p95LatencyMs: typeof p95 === 'number' ? p95 : null,
    };
  }
  const endedAt = value['endedAt'];
  return {
    strategy: strategy as RolloutStrategy,
    phase: phase as RolloutPhase,
    candidate: str('candidate'),
    primary: str('primary'),
    settings,
    canary,
    outcomes,
    baseline,
    startedAt: num(value, 'startedAt'),
    phaseSince: num(value, 'phaseSince'),
    endedAt: typeof endedAt === 'number' ? endedAt : null,
    actor: str('actor'),
    reason: str('reason'),
    lastDecision: str('lastDecision'),
  };
}

// ---- live figures ----

/** One variant's live figures in {@link DeploymentMetrics}. */
export interface VariantMetrics {
  name: string;
  role: VariantRole;
  /** Share of traffic, 0 to 100. */
  weight: number;
  modelVersion: string;
  status: VariantStatus;
  /** Over the current window: the rollout's stage or phase (what the gates judge). */
  window: {
    requests: number;
    errors: number;
    p50LatencyMs: number | null;
    p95LatencyMs: number | null;
    p99LatencyMs: number | null;
    /** When the window began (ms since the epoch). */
    since: number;
  };
  /** Since the variant was loaded. */
  totalRequests: number;
  totalErrors: number;
  inFlight: number;
  /** Shadow variants: mirrored requests answered, how many agreed with the primary, their share. */
  shadow?: { mirrored: number; agreed: number; agreement: number | null };
}

/** `GET /api/v1/deployments/{name}/metrics`: live per-variant figures and the rollout's state. */
export interface DeploymentMetrics {
  deployment: string;
  status: DeploymentStatus;
  variants: VariantMetrics[];
  /** The rollout in progress or the last one; null when there has been none. */
  rollout: {
    strategy: RolloutStrategy;
    phase: RolloutPhase;
    /** The candidate's variant name. */
    candidate: string;
    /** The latest decision's reason. */
    lastDecision: string;
    /** The A/B report when the rollout is an A/B test with a metric. */
    ab: AbReport | null;
  } | null;
}

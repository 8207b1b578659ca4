/**
 * Deployments: a named endpoint serving one or more variants, each a registered model version.
 * A deployment has one primary variant; a rollout (canary, blue-green, A/B, shadow; see
 * `rollout.ts`) adds a candidate or shadow variant and moves traffic to it or takes it away.
 * Times are milliseconds since the Unix epoch.
 */
import type { CanaryGates, CanaryState, VariantObservation } from './canary-policy.js';

/** A deployment's health: `loading` until every variant is ready; `failed` says why. */
export type DeploymentStatus = 'loading' | 'ready' | 'degraded' | 'failed';

/** A variant's part in the deployment's traffic. */
export type VariantRole = 'primary' | 'candidate' | 'shadow';

/** Whether a variant's model is loaded: `failed` says why in the variant's `statusReason`. */
export type VariantStatus = 'loading' | 'ready' | 'failed';

/** Dynamic batching of a variant's requests. */
export interface BatchingOptions {
  maxBatchSize: number;
  maxLatencyMs: number;
}

/** One model version behind a deployment. */
export interface DeploymentVariant {
  /** Unique within the deployment, e.g. `primary`. */
  name: string;
  /** As given: `models:/churn@champion`, `models:/churn/3`. */
  modelUri: string;
  /** The registered model and version the URI resolved to when the variant was (re)loaded. */
  modelName: string;
  modelVersion: string;
  role: VariantRole;
  /** Share of traffic, 0–100. */
  weight: number;
  replicas: number;
  /** Requests one replica runs at once. */
  maxConcurrency: number;
  batching: BatchingOptions | null;
  status: VariantStatus;
  /** Why the status is what it is (the load error for `failed`). */
  statusReason: string;
}

export interface Deployment {
  name: string;
  description: string;
  variants: DeploymentVariant[];
  status: DeploymentStatus;
  /** Why the status is what it is (the load error for `failed`). */
  statusReason: string;
  /** The rollout in progress, or the last one (completed or rolled back); null if none yet. */
  rollout: Rollout | null;
  createdAt: number;
  updatedAt: number;
}

/** One recorded change of a deployment: who did what, when and why. */
export interface DeploymentEvent {
  deploymentName: string;
  /** Increasing per deployment, from 1. */
  sequence: number;
  at: number;
  actor: string;
  /** e.g. `created`, `status`, `scaled`, `deleted`. */
  action: string;
  reason: string;
  /** Action-specific details (JSON object). */
  details: Record<string, unknown>;
}

/** A registered model reference: a version number or an alias. */
export type ModelReference =
  | { name: string; version: string; alias?: undefined }
  | { name: string; alias: string; version?: undefined };

/**
 * How a candidate version reaches production:
 * - `canary`: staged weights with a hold and health gates per stage.
 * - `blue-green`: the candidate warms up fully, then takes all traffic at once; the old version
 *   stays warm for `holdSeconds` so that a rollback is instant.
 * - `ab`: a fixed weighted split, sticky per key, with outcome metrics and a significance test.
 * - `shadow`: requests are mirrored to the candidate; its answers are compared, never returned.
 */
export type RolloutStrategy = 'canary' | 'blue-green' | 'ab' | 'shadow';

/**
 * Where a rollout stands: `warming` while the candidate loads; `running` while it takes its
 * share (canary, A/B) or its mirrored copies (shadow); `switched` once a blue-green rollout has
 * moved all traffic and watches the candidate; `completed` (the candidate is the primary) and
 * `rolled-back` (the candidate is gone) are final.
 */
export type RolloutPhase = 'warming' | 'running' | 'switched' | 'completed' | 'rolled-back';

/** An A/B test's declared outcome metric. */
export interface OutcomeMetric {
  /** e.g. `converted`, `revenue`. */
  name: string;
  /** `proportion`: values are 0 or 1, compared with a two-proportion z-test; `mean`: any numbers, Welch's t-test. */
  kind: 'proportion' | 'mean';
  /** Whether a larger value is better (default true). */
  higherIsBetter: boolean;
}

/** Running count, sum, mean and sum of squared deviations (Welford) of one variant's outcomes. */
export interface OutcomeAggregate {
  count: number;
  sum: number;
  mean: number;
  m2: number;
}

/** A rollout's settings, defaults filled in (see `resolveRolloutSettings`). */
export interface RolloutSettings {
  /** Health gates, compared with the primary, for every strategy. */
  gates: CanaryGates;
  /**
   * blue-green: seconds to watch the candidate after the switch before the old version is let go;
   * shadow: seconds to mirror before an automatic decision; canary: the hold per stage (in
   * `canary.config`); A/B: unused (0).
   */
  holdSeconds: number;
  /** A/B: the candidate's share of traffic; shadow: the percentage of requests mirrored. */
  weight: number;
  /** A/B and canary: the request header whose value keeps a caller on one variant. */
  stickyHeader: string | null;
  /** A/B and canary: the request parameter whose value keeps a caller on one variant. */
  stickyField: string | null;
  /** A/B: the outcome metric tested. */
  metric: OutcomeMetric | null;
  /** A/B: the significance level of the test. */
  alpha: number;
  /** A/B: outcomes each variant needs before the test decides anything. */
  minSamples: number;
  /** Shadow: the share of mirrored requests whose answers must agree with the primary's. */
  minAgreement: number;
  /** A/B and shadow: decide by themselves (promote or roll back) once the evidence is in. */
  autoPromote: boolean;
}

/** One rollout of a candidate variant into a deployment. */
export interface Rollout {
  strategy: RolloutStrategy;
  phase: RolloutPhase;
  /** The candidate's variant name. */
  candidate: string;
  /** The primary's variant name when the rollout started. */
  primary: string;
  settings: RolloutSettings;
  /** The canary's state machine (canary only, from the moment the candidate is ready). */
  canary: CanaryState | null;
  /** A/B outcomes by variant name. */
  outcomes: Record<string, OutcomeAggregate>;
  /** Blue-green: the primary's figures before the switch, which the candidate is judged against. */
  baseline: VariantObservation | null;
  startedAt: number;
  /** When the current phase (or canary stage) began. */
  phaseSince: number;
  endedAt: number | null;
  /** Who started it and why. */
  actor: string;
  reason: string;
  /** The latest decision's reason (holds included), for status pages. */
  lastDecision: string;
}

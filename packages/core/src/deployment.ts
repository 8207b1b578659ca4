/**
 * Deployments: a named endpoint serving one or more variants, each a registered model version.
 * This first form has one primary variant; rollouts (canary, blue-green, A/B, shadow) add
 * candidate and shadow variants later. Times are milliseconds since the Unix epoch.
 */

/** A deployment's health: `loading` until every variant is ready; `failed` says why. */
export type DeploymentStatus = 'loading' | 'ready' | 'degraded' | 'failed';

/** A variant's part in the deployment's traffic. */
export type VariantRole = 'primary' | 'candidate' | 'shadow';

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
}

export interface Deployment {
  name: string;
  description: string;
  variants: DeploymentVariant[];
  status: DeploymentStatus;
  /** Why the status is what it is (the load error for `failed`). */
  statusReason: string;
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

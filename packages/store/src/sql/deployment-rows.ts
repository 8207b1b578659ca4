/**
 * Conversion between deployment rows and the domain's `Deployment` / `DeploymentEvent`. The
 * variants and event details are stored as JSON text; they are written from the known fields only
 * and checked field by field on read, so a row edited by hand or by a newer version fails loudly
 * instead of handing out an object of the wrong shape.
 */
import type { Selectable } from 'kysely';
import { InvalidParameterError, YardError, parseRollout } from '@modelyard/core';
import type {
  BatchingOptions,
  Deployment,
  DeploymentEvent,
  DeploymentStatus,
  DeploymentVariant,
  Rollout,
  VariantRole,
  VariantStatus,
} from '@modelyard/core';
import type { DeploymentEventsTable, DeploymentsTable } from './database-schema.js';

type DeploymentRow = Selectable<DeploymentsTable>;
type DeploymentEventRow = Selectable<DeploymentEventsTable>;

const STATUSES: ReadonlySet<string> = new Set<DeploymentStatus>([
  'loading',
  'ready',
  'degraded',
  'failed',
]);
const ROLES: ReadonlySet<string> = new Set<VariantRole>(['primary', 'candidate', 'shadow']);
const VARIANT_STATUSES: ReadonlySet<string> = new Set<VariantStatus>([
  'loading',
  'ready',
  'failed',
]);

/**
 * Refuses what the store cannot hold: an empty variant list, or two variants with one name.
 * Throws `InvalidParameterError` naming the deployment and the offending names.
 */
export function checkVariants(
  deploymentName: string,
  variants: readonly DeploymentVariant[],
): void {
  if (variants.length === 0) {
    throw new InvalidParameterError(
      `Deployment '${deploymentName}' needs at least one variant, got none.`,
      { deploymentName },
    );
  }
  const seen = new Set<string>();
  const duplicates = new Set<string>();
  for (const variant of variants) {
    if (seen.has(variant.name)) duplicates.add(variant.name);
    seen.add(variant.name);
  }
  if (duplicates.size > 0) {
    const names = [...duplicates];
    throw new InvalidParameterError(
      `Variant names must be unique within deployment '${deploymentName}', but ${names.map((n) => `'${n}'`).join(', ')} ${names.length === 1 ? 'appears' : 'appear'} more than once.`,
      { deploymentName, duplicates: names },
    );
  }
}

/** A variant with exactly the domain's fields (drops anything else a caller attached). */
function pickVariant(v: DeploymentVariant): DeploymentVariant {
  return {
    name: v.name,
    modelUri: v.modelUri,
    modelName: v.modelName,
    modelVersion: v.modelVersion,
    role: v.role,
    weight: v.weight,
    replicas: v.replicas,
    maxConcurrency: v.maxConcurrency,
    batching:
      v.batching === null
        ? null
        : { maxBatchSize: v.batching.maxBatchSize, maxLatencyMs: v.batching.maxLatencyMs },
    status: v.status,
    statusReason: v.statusReason,
  };
}

/** The variants as stored (JSON text). */
export function encodeVariants(variants: readonly DeploymentVariant[]): string {
  return JSON.stringify(variants.map(pickVariant));
}

/** The variants as the domain objects they were stored from. */
export function decodeVariants(deploymentName: string, text: string): DeploymentVariant[] {
  const corrupt = (what: string) =>
    new YardError(
      'INTERNAL_ERROR',
      `The stored variants of deployment '${deploymentName}' are corrupt: ${what}.`,
      { deploymentName },
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw corrupt('not JSON');
  }
  if (!Array.isArray(parsed)) throw corrupt('not a JSON array');
  return parsed.map((item: unknown, index): DeploymentVariant => {
    if (typeof item !== 'object' || item === null) throw corrupt(`item ${index} is not an object`);
    const v = item as Record<string, unknown>;
    const text = (key: string): string => {
      const value = v[key];
      if (typeof value !== 'string') throw corrupt(`item ${index} has no string '${key}'`);
      return value;
    };
    const num = (from: Record<string, unknown>, key: string): number => {
      const value = from[key];
      if (typeof value !== 'number') throw corrupt(`item ${index} has no number '${key}'`);
      return value;
    };
    const role = text('role');
    if (!ROLES.has(role)) throw corrupt(`item ${index} has the unknown role '${role}'`);
    let batching: BatchingOptions | null = null;
    if (v.batching !== null) {
      if (typeof v.batching !== 'object') {
        throw corrupt(`item ${index} has no 'batching' object or null`);
      }
      const b = v.batching as Record<string, unknown>;
      batching = { maxBatchSize: num(b, 'maxBatchSize'), maxLatencyMs: num(b, 'maxLatencyMs') };
    }
    // Rows written before migration 0003 have no variant status: the server reloads them anyway.
    const status = v.status === undefined ? 'loading' : text('status');
    if (!VARIANT_STATUSES.has(status)) {
      throw corrupt(`item ${index} has the unknown status '${status}'`);
    }
    return {
      name: text('name'),
      modelUri: text('modelUri'),
      modelName: text('modelName'),
      modelVersion: text('modelVersion'),
      role: role as VariantRole,
      weight: num(v, 'weight'),
      replicas: num(v, 'replicas'),
      maxConcurrency: num(v, 'maxConcurrency'),
      batching,
      status: status as VariantStatus,
      statusReason: v.statusReason === undefined ? '' : text('statusReason'),
    };
  });
}

/** The rollout as stored (JSON text), or null. */
export function encodeRollout(rollout: Rollout | null): string | null {
  return rollout === null ? null : JSON.stringify(rollout);
}

/** The stored rollout, checked (see `parseRollout`). */
export function decodeRollout(deploymentName: string, text: string | null): Rollout | null {
  if (text === null) return null;
  try {
    return parseRollout(JSON.parse(text));
  } catch (error) {
    throw new YardError(
      'INTERNAL_ERROR',
      `The stored rollout of deployment '${deploymentName}' is corrupt: ${error instanceof Error ? error.message : String(error)}`,
      { deploymentName },
    );
  }
}

/**
 * The event details as stored (JSON text of an object). Throws `InvalidParameterError` when they
 * cannot be written as JSON (a cycle, a BigInt).
 */
export function encodeDetails(details: Record<string, unknown> | undefined): string {
  try {
    return JSON.stringify(details ?? {});
  } catch (error) {
    throw new InvalidParameterError(
      `Event details must be JSON-serialisable: ${error instanceof Error ? error.message : String(error)}.`,
      {},
    );
  }
}

function decodeDetails(row: DeploymentEventRow): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(row.details);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new YardError(
      'INTERNAL_ERROR',
      `The stored details of event ${row.sequence} of deployment '${row.deployment_name}' are not a JSON object.`,
      { deploymentName: row.deployment_name, sequence: row.sequence },
    );
  }
  return parsed as Record<string, unknown>;
}

/** A deployment row as the domain's `Deployment`. */
export function toDeployment(row: DeploymentRow): Deployment {
  if (!STATUSES.has(row.status)) {
    throw new YardError(
      'INTERNAL_ERROR',
      `Deployment '${row.name}' has the unknown stored status '${row.status}'.`,
      { deploymentName: row.name, status: row.status },
    );
  }
  return {
    name: row.name,
    description: row.description,
    variants: decodeVariants(row.name, row.variants),
    status: row.status as DeploymentStatus,
    statusReason: row.status_reason,
    rollout: decodeRollout(row.name, row.rollout),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** An event row as the domain's `DeploymentEvent`. */
export function toDeploymentEvent(row: DeploymentEventRow): DeploymentEvent {
  return {
    deploymentName: row.deployment_name,
    sequence: row.sequence,
    at: row.at,
    actor: row.actor,
    action: row.action,
    reason: row.reason,
    details: decodeDetails(row),
  };
}

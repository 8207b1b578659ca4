import type { ManifestOptions } from './deployment-manifests.js';

/**
 * Defaults for the options the `yard deployments manifest` command does not require. Kept apart
 * from the generator so that defining the command does not load kubernetes-models.
 */
export const DEFAULT_MANIFEST_OPTIONS = {
  logLevel: 'info',
  cpuTargetPercent: 70,
  resources: { cpuRequest: '500m', memoryRequest: '512Mi', cpuLimit: '2', memoryLimit: '2Gi' },
} as const satisfies Partial<ManifestOptions>;

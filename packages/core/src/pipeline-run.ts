/**
 * What a pipeline run records in tracking, shared by the pipelines SDK that writes it and the
 * web UI that draws it: the tag keys on the run and its step runs, and the run's summary (a
 * stored blob named by the tag `modelyard.pipeline.summary`).
 */

/** Tag keys written on pipeline runs and their step runs. */
export const PIPELINE_TAGS = {
  pipeline: 'modelyard.pipeline.name',
  pipelineRunId: 'modelyard.pipeline.run_id',
  codeDigest: 'modelyard.pipeline.code_digest',
  bundleDigest: 'modelyard.pipeline.bundle_digest',
  seed: 'modelyard.pipeline.seed',
  summary: 'modelyard.pipeline.summary',
  resumedFrom: 'modelyard.pipeline.resumed_from',
  executor: 'modelyard.pipeline.executor',
  step: 'modelyard.step.name',
  stepItem: 'modelyard.step.item',
  stepKey: 'modelyard.step.cache_key',
  stepCode: 'modelyard.step.code_digest',
  stepDigest: 'modelyard.step.output_digest',
  stepAttempts: 'modelyard.step.attempts',
  stepWorker: 'modelyard.step.worker',
  stepLost: 'modelyard.step.lost',
  parentRun: 'mlflow.parentRunId',
} as const;

/** Where a step stands in a run. */
export type StepStatus = 'pending' | 'running' | 'succeeded' | 'cached' | 'failed' | 'skipped';

/** One call of a step (a task step has one; a map step one per item). */
export interface UnitSummary {
  status: StepStatus;
  cached: boolean;
  attempts: number;
  durationMs: number;
  /** The cache key (sha256 of code, params and input identities). */
  key: string | null;
  /** `sha256:<hex>` of the stored output. */
  outputDigest: string | null;
  /** The tracking run that produced the output (for a cached one: the earlier run's). */
  runId: string | null;
  /** For a cached output: the pipeline run that produced it. */
  cachedFrom: string | null;
  error: string | null;
  /** Who ran it, when not this process (a worker thread, `yard worker` host:pid). */
  worker?: string;
}

/** A step in a run's summary. */
export interface StepSummary extends UnitSummary {
  name: string;
  kind: 'task' | 'map';
  /** The steps it consumes. */
  inputs: string[];
  /** Map steps: each item's call. */
  items?: (UnitSummary & { index: number })[];
}

/** A pipeline run's summary: `yard run --json` prints it; it is stored with the run. */
export interface RunSummary {
  pipeline: string;
  pipelineRunId: string;
  trackingRunId: string;
  experimentId: string;
  status: 'running' | 'succeeded' | 'failed';
  startedAt: number;
  endedAt: number | null;
  params: Record<string, unknown>;
  seed: number;
  codeDigest: string;
  resumedFrom: string | null;
  steps: StepSummary[];
}

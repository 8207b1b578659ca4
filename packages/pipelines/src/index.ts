/**
 * `@modelyard/pipelines`: pipelines of typed steps, with caching, retries, timeouts and lineage
 * into the Modelyard tracking server.
 *
 * @example
 * ```ts
 * import { pipeline, step } from '@modelyard/pipelines';
 * const data = step('load', () => [1, 2, 3]);
 * const total = step('sum', { inputs: { data } }, ({ data }) => data.reduce((a, b) => a + b, 0));
 * export default pipeline('numbers', { steps: [data, total] });
 * ```
 */
export { step, isStep, STEP_BRAND } from './step.js';
export type {
  InputMap,
  MapOptions,
  OutputOf,
  ResolvedInputs,
  RetryPolicy,
  Step,
  StepConfig,
  StepContext,
  StepLogger,
  StepOptions,
} from './step.js';
export { pipeline, isPipeline, producersOf, PIPELINE_BRAND } from './pipeline.js';
export type { Pipeline, PipelineOptions } from './pipeline.js';
export { defineParams, parseParamArgs, resolveParams, NO_PARAMS } from './params.js';
export type { ParamsDef } from './params.js';
export { parseDuration } from './duration.js';
export type { Duration } from './duration.js';
export {
  UnrecoverableError,
  StepTimeoutError,
  StepCancelledError,
  backoffDelay,
  runAttempts,
} from './retry.js';
export type { AttemptFailure } from './retry.js';
export {
  file,
  dir,
  serializeOutput,
  deserializeOutput,
  digestOf,
  UnserializableOutputError,
} from './serialize.js';
export type { PathRef, StoredOutput } from './serialize.js';
export { runPipeline, readSummary, DEFAULT_CONCURRENCY } from './runner.js';
export { TAGS, executeUnit, inlineExecutor, blobLoader, loadRef } from './execute.js';
export type {
  OutputRef,
  UnitEvent,
  UnitExecutor,
  UnitHooks,
  UnitResult,
  UnitTask,
} from './execute.js';
export type {
  RunEvent,
  RunOptions,
  RunSummary,
  StepStatus,
  StepSummary,
  UnitSummary,
} from './runner.js';
export { bundlePipeline, importBundle, loadPipeline } from './load.js';
export type { PipelineBundle } from './load.js';
export {
  DEFAULT_QUEUE,
  redisExecutor,
  startWorker,
  schedulePipeline,
  listSchedules,
  removeSchedule,
  nextCronTime,
  uploadBundle,
} from './redis.js';
export type {
  QueueTarget,
  RedisExecutorOptions,
  WorkerOptions,
  WorkerEvent,
  PipelineWorker,
  ScheduleInfo,
  ScheduleOptions,
} from './redis.js';
export { StepThreadPool, withStepThreads } from './threads.js';
export { StepRecorder } from './step-recorder.js';
export type { StepRecorderOptions } from './step-recorder.js';

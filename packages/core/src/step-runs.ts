/**
 * Step run records: how the pipelines SDK records many step runs (nested tracking runs, each
 * with its tags and, optionally, the step's cache entry) in one request and one store
 * transaction. The client chooses each run's id, so it can send a run's `RUNNING` record and,
 * later, its `FINISHED` one without waiting for the server to name the run.
 */
import type { RunStatus } from './entities.js';
import { InvalidParameterError } from './errors.js';
import {
  validateBlobDigest,
  validateCacheKey,
  validatePipelineCacheEntryInput,
} from './pipeline-cache.js';
import type { PipelineCacheEntryInput } from './pipeline-cache.js';
import {
  MAX_PARAMS_TAGS_PER_BATCH,
  MAX_TAG_VAL_LENGTH,
  validateExperimentId,
  validateTag,
} from './validation.js';

/** Most records one batch of step run records may carry. */
export const STEP_RUN_RECORDS_MAX = 1000;

/** The largest output a step run record may carry inline, in bytes (decoded). */
export const STEP_RUN_OUTPUT_INLINE_MAX = 65_536;

/** The most output bytes (decoded) one batch of step run records may carry inline. */
export const STEP_RUN_OUTPUTS_BATCH_MAX = 4 * 1024 * 1024;

/** 32 lower-case hex digits: a step run's id (a uuid4 without dashes, as MLflow's run ids). */
export const STEP_RUN_ID_PATTERN = '^[0-9a-f]{32}$';

/** The statuses a step run record may set (every run status but `SCHEDULED`). */
export const STEP_RUN_STATUSES = [
  'RUNNING',
  'FINISHED',
  'FAILED',
  'KILLED',
] as const satisfies readonly RunStatus[];

/** A status a step run record may set. */
export type StepRunStatus = (typeof STEP_RUN_STATUSES)[number];

const STEP_RUN_ID_RE = new RegExp(STEP_RUN_ID_PATTERN);
const RUN_NAME_TAG = 'mlflow.runName';

/**
 * One step run to create or update. The first record of a run id the store has not seen
 * creates the run (with `runName`, `startTime`, `status`, `endTime` and `tags`); a record of an
 * existing run sets its status, its end time (when given) and upserts its tags.
 */
export interface StepRunRecord {
  /** Chosen by the client: 32 lower-case hex digits (a uuid4 without dashes, like MLflow's run ids). */
  runId: string;
  /** The experiment the run belongs to; an existing run must already be in it. */
  experimentId: string;
  /** The run's name; used when the record creates the run (also as the `mlflow.runName` tag). */
  runName: string;
  /** When the run started, in milliseconds since the epoch. */
  startTime: number;
  /** When the run ended, in milliseconds since the epoch; null or absent while it runs. */
  endTime?: number | null;
  /** The run's status after this record. */
  status: StepRunStatus;
  /** Tags to set on the run (last value per key wins); absent means none. */
  tags?: { key: string; value: string }[];
  /** A pipeline cache entry to write (upsert, last wins) in the same transaction. */
  cache?: { key: string } & PipelineCacheEntryInput;
  /**
   * A small output blob (at most {@link STEP_RUN_OUTPUT_INLINE_MAX} bytes), base64-encoded in
   * `data`, to store content-addressed under `digest` (the sha256 of the decoded bytes) before
   * the batch's rows are written: a step's output, cache entry and final state then need one
   * request between them instead of two.
   */
  output?: StepRunOutput;
}

/** An output blob carried inline by a step run record. */
export interface StepRunOutput {
  /** `sha256:<hex>` of the decoded bytes. */
  digest: string;
  /** The bytes, base64 (RFC 4648, with padding). */
  data: string;
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The decoded size in bytes of a well-formed base64 string (RFC 4648, with padding). */
export function base64Size(data: string): number {
  const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
  return (data.length / 4) * 3 - padding;
}

function preview(value: unknown): string {
  if (typeof value === 'string') {
    return value.length > 100 ? `'${value.slice(0, 100)}…'` : `'${value}'`;
  }
  try {
    // undefined for functions and symbols, whatever the declared type says.
    const text = JSON.stringify(value) as string | undefined;
    if (text !== undefined) return text.length > 100 ? `${text.slice(0, 100)}…` : text;
  } catch {
    // BigInt and cycles: described by their type below.
  }
  return typeof value === 'bigint' ? `${value}n` : `a ${typeof value}`;
}

function invalid(path: string, value: unknown, expected: string): InvalidParameterError {
  return new InvalidParameterError(
    `Invalid value ${preview(value)} for '${path}' of a step run record: expected ${expected}.`,
    { path, value },
  );
}

function isRecordObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isMillis(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Runs `check`; an error that does not name the record already is rethrown naming it. */
function atRecord<T>(index: number, check: () => T): T {
  try {
    return check();
  } catch (error) {
    const at = `records[${index}]`;
    if (error instanceof InvalidParameterError && !error.message.includes(at)) {
      throw new InvalidParameterError(`Invalid step run record ${at}: ${error.message}`, {
        ...error.context,
        index,
      });
    }
    throw error;
  }
}

function validateRecord(input: unknown, index: number): StepRunRecord {
  const at = `records[${index}]`;
  if (!isRecordObject(input)) {
    throw invalid(at, input, 'an object with runId, experimentId, runName, startTime, status');
  }
  const { runId, experimentId, runName, startTime, status } = input;
  const endTime = input.endTime ?? null;
  if (typeof runId !== 'string' || !STEP_RUN_ID_RE.test(runId)) {
    throw invalid(
      `${at}.runId`,
      runId,
      "32 lower-case hex digits (a uuid4 without dashes), e.g. '0123456789abcdef0123456789abcdef'",
    );
  }
  if (experimentId === undefined || experimentId === null) {
    throw invalid(`${at}.experimentId`, experimentId, "an experiment id, e.g. '1'");
  }
  validateExperimentId(experimentId);
  if (typeof runName !== 'string' || runName === '' || runName.length > MAX_TAG_VAL_LENGTH) {
    throw invalid(
      `${at}.runName`,
      runName,
      `a non-empty string of at most ${MAX_TAG_VAL_LENGTH} characters`,
    );
  }
  if (!isMillis(startTime)) {
    throw invalid(`${at}.startTime`, startTime, 'milliseconds since the epoch (an integer >= 0)');
  }
  if (endTime !== null && !isMillis(endTime)) {
    throw invalid(
      `${at}.endTime`,
      endTime,
      'milliseconds since the epoch (an integer >= 0), or null while the run runs',
    );
  }
  if (!(STEP_RUN_STATUSES as readonly unknown[]).includes(status)) {
    throw invalid(`${at}.status`, status, `one of ${STEP_RUN_STATUSES.join(', ')}`);
  }
  const rawTags = input.tags ?? [];
  if (!Array.isArray(rawTags) || rawTags.length > MAX_PARAMS_TAGS_PER_BATCH) {
    throw invalid(
      `${at}.tags`,
      Array.isArray(rawTags) ? `${rawTags.length} tags` : rawTags,
      `an array of at most ${MAX_PARAMS_TAGS_PER_BATCH} {key, value} tags`,
    );
  }
  const tags = rawTags.map((tag: unknown, i) => {
    const path = `${at}.tags[${i}]`;
    if (!isRecordObject(tag)) throw invalid(path, tag, 'a {key, value} object');
    return validateTag(tag as { key: unknown; value: unknown }, path);
  });
  const taggedName = tags.findLast((t) => t.key === RUN_NAME_TAG)?.value;
  if (taggedName !== undefined && taggedName !== runName) {
    throw new InvalidParameterError(
      `Step run record ${at} names its run ${preview(runName)} but its '${RUN_NAME_TAG}' tag ` +
        `says ${preview(taggedName)}: give one name (or leave the tag out; runName sets it).`,
      { path: `${at}.tags`, runName, tag: taggedName },
    );
  }
  const record: StepRunRecord = {
    runId,
    experimentId,
    runName,
    startTime,
    endTime,
    status: status as StepRunStatus,
    tags,
  };
  const cache = input.cache;
  if (cache !== undefined && cache !== null) {
    if (!isRecordObject(cache)) {
      throw invalid(
        `${at}.cache`,
        cache,
        'a cache entry {key, outputDigest, pipelineRunId, stepName, metadata?, scope?}',
      );
    }
    validateCacheKey(cache.key, `${at}.cache.key`);
    const entry = validatePipelineCacheEntryInput(cache as unknown as PipelineCacheEntryInput);
    record.cache = { key: cache.key, ...entry };
  }
  const output = input.output;
  if (output !== undefined && output !== null) {
    if (!isRecordObject(output)) {
      throw invalid(`${at}.output`, output, 'an output {digest, data}');
    }
    validateBlobDigest(output.digest, `${at}.output.digest`);
    const { data } = output;
    if (typeof data !== 'string' || !BASE64_RE.test(data)) {
      throw invalid(`${at}.output.data`, data, 'the bytes in base64 (RFC 4648, with padding)');
    }
    if (base64Size(data) > STEP_RUN_OUTPUT_INLINE_MAX) {
      throw invalid(
        `${at}.output.data`,
        `${base64Size(data)} bytes`,
        `at most ${STEP_RUN_OUTPUT_INLINE_MAX} bytes; upload larger outputs as blobs ` +
          '(PUT /api/v1/blobs/sha256/{hex})',
      );
    }
    record.output = { digest: output.digest, data };
  }
  return record;
}

/**
 * Checks a batch of step run records: an array of 1 to {@link STEP_RUN_RECORDS_MAX} records,
 * each with a run id of 32 lower-case hex digits, a valid experiment id, a non-empty run name,
 * times in milliseconds since the epoch, one of {@link STEP_RUN_STATUSES}, valid run tags (as
 * `log_batch` checks them, at most 100 per record) and, optionally, a valid pipeline cache
 * entry and a small output carried inline (at most {@link STEP_RUN_OUTPUT_INLINE_MAX} bytes
 * each, {@link STEP_RUN_OUTPUTS_BATCH_MAX} in all). A run id may appear more than once (later records set status and end time; tags
 * accumulate), but always in the same experiment.
 *
 * @returns the records with defaults filled in (`tags: []`, `endTime: null`, cache metadata `{}`).
 * @throws InvalidParameterError naming the record's index, the field and the bad value.
 * @example
 * validateStepRunRecords([{ runId: '0123456789abcdef0123456789abcdef', experimentId: '1',
 *   runName: 'train', startTime: Date.now(), status: 'RUNNING' }]);
 */
export function validateStepRunRecords(input: unknown): StepRunRecord[] {
  if (!Array.isArray(input) || input.length === 0 || input.length > STEP_RUN_RECORDS_MAX) {
    throw new InvalidParameterError(
      `Invalid step run records ${Array.isArray(input) ? `(${input.length} records)` : preview(input)}: ` +
        `expected an array of 1 to ${STEP_RUN_RECORDS_MAX} records; split larger batches.`,
      { length: Array.isArray(input) ? input.length : undefined, limit: STEP_RUN_RECORDS_MAX },
    );
  }
  const records = input.map((record: unknown, i) => atRecord(i, () => validateRecord(record, i)));
  const inlineBytes = records.reduce((n, r) => n + (r.output ? base64Size(r.output.data) : 0), 0);
  if (inlineBytes > STEP_RUN_OUTPUTS_BATCH_MAX) {
    throw new InvalidParameterError(
      `Step run records carry ${inlineBytes} bytes of outputs inline, more than the ` +
        `${STEP_RUN_OUTPUTS_BATCH_MAX} one batch may: split the batch, or upload some outputs ` +
        'as blobs.',
      { inlineBytes, limit: STEP_RUN_OUTPUTS_BATCH_MAX },
    );
  }
  const experimentOf = new Map<string, { experimentId: string; index: number }>();
  records.forEach((record, i) => {
    const first = experimentOf.get(record.runId);
    if (first === undefined) {
      experimentOf.set(record.runId, { experimentId: record.experimentId, index: i });
    } else if (first.experimentId !== record.experimentId) {
      throw new InvalidParameterError(
        `Step run records records[${first.index}] and records[${i}] put run '${record.runId}' in ` +
          `experiments '${first.experimentId}' and '${record.experimentId}': a run belongs to ` +
          `one experiment.`,
        {
          path: `records[${i}].experimentId`,
          runId: record.runId,
          experimentIds: [first.experimentId, record.experimentId],
        },
      );
    }
  });
  return records;
}

/**
 * MLflow's input rules and limits (MLflow 3.x `mlflow/utils/validation.py` and the search
 * limits of its stores), as pure functions that throw {@link InvalidParameterError} with
 * MLflow-shaped messages naming the offending field, key and value. Long values are shortened
 * in messages ({@link MESSAGE_VALUE_PREVIEW} characters).
 *
 * Names of metrics, params and tags follow MLflow's non-Windows server rule: letters, digits,
 * `_ - . / :` and spaces, and a name must not change under POSIX path normalisation (so no
 * `a//b`, `./a`, `a/..`, leading `/` or `..`, and not empty) because stores may use it as a
 * file name.
 */
import { InvalidParameterError } from './errors.js';
import type { SearchTarget } from './search-types.js';

/** Most metrics one `log_batch` request may carry. */
export const MAX_METRICS_PER_BATCH = 1000;
/** Most params, and separately most tags, one `log_batch` request may carry. */
export const MAX_PARAMS_TAGS_PER_BATCH = 100;
/** Most metrics + params + tags together in one `log_batch` request. */
export const MAX_ENTITIES_PER_BATCH = 1000;
/** Largest `log_batch` request body MLflow accepts, in bytes. */
export const MAX_BATCH_LOG_REQUEST_SIZE = 1_000_000;
/** Longest metric, param or run-tag key. */
export const MAX_ENTITY_KEY_LENGTH = 250;
/** Longest param value (MLflow 3; it was 500 before 2.x, then 6000). */
export const MAX_PARAM_VAL_LENGTH = 6000;
/** Longest run tag value. */
export const MAX_TAG_VAL_LENGTH = 8000;
/** Longest experiment name. */
export const MAX_EXPERIMENT_NAME_LENGTH = 500;
/** Longest experiment tag key. */
export const MAX_EXPERIMENT_TAG_KEY_LENGTH = 250;
/** Longest experiment tag value. */
export const MAX_EXPERIMENT_TAG_VAL_LENGTH = 5000;
/** Longest registered-model or model-version tag key. */
export const MAX_MODEL_REGISTRY_TAG_KEY_LENGTH = 250;
/** Longest registered-model or model-version tag value. */
export const MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH = 5000;
/** Longest registered-model alias. */
export const MAX_REGISTERED_MODEL_ALIAS_LENGTH = 255;
/** How many characters of an offending value an error message quotes. */
export const MESSAGE_VALUE_PREVIEW = 250;

/** The largest `max_results` each search accepts (MLflow's `*_MAX_RESULTS_THRESHOLD`). */
export const MAX_RESULTS_LIMITS: Readonly<Record<SearchTarget, number>> = {
  runs: 50_000,
  experiments: 50_000,
  registered_models: 1000,
  model_versions: 200_000,
  // MLflow sets no explicit ceiling for logged models; the general search limit is used.
  logged_models: 50_000,
};

/** The `max_results` each search uses when the request gives none (MLflow's defaults). */
export const DEFAULT_MAX_RESULTS: Readonly<Record<SearchTarget, number>> = {
  runs: 1000,
  experiments: 1000,
  registered_models: 100,
  model_versions: 10_000,
  logged_models: 100,
};

const NAME_RE = /^[/\p{L}\p{N}\p{M}_.\- :]*$/u;
const RUN_ID_RE = /^[a-zA-Z0-9][\p{L}\p{N}_-]{0,255}$/u;
const EXPERIMENT_ID_RE = /^[a-zA-Z0-9][\p{L}\p{N}_-]{0,63}$/u;
const ALIAS_RE = /^[\p{L}\p{N}_-]*$/u;
const VERSION_ALIAS_RE = /^[vV]\d+$/u;

const BAD_CHARACTERS_MESSAGE =
  'Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), ' +
  'spaces ( ), colon(:) and slashes (/).';

/** Options for the validators of values MLflow may shorten instead of rejecting. */
export interface TruncateOptions {
  /**
   * When true, a param or run-tag value over its limit is cut to the limit instead of
   * rejected. MLflow does this when `MLFLOW_TRUNCATE_LONG_VALUES` is set (its default); the
   * default here is to reject, so no data changes silently.
   */
  truncateLongValues?: boolean;
}

/** A metric point as it arrives from a request; fields are checked, not trusted. */
export interface MetricInput {
  key: unknown;
  value: unknown;
  timestamp: unknown;
  step: unknown;
}

/** A key/value pair (param or tag) as it arrives from a request. */
export interface KeyValueInput {
  key: unknown;
  value: unknown;
}

/** A validated param or tag. */
export interface KeyValue {
  key: string;
  value: string;
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/** Quotes `value` for a message, shortened to {@link MESSAGE_VALUE_PREVIEW} characters. */
function preview(value: unknown): string {
  if (typeof value === 'string') {
    return value.length > MESSAGE_VALUE_PREVIEW
      ? `${JSON.stringify(value.slice(0, MESSAGE_VALUE_PREVIEW))}…`
      : JSON.stringify(value);
  }
  // String() keeps NaN and Infinity readable, where JSON would print null.
  if (typeof value === 'number' || value === undefined) return String(value);
  const text = JSON.stringify(value);
  return text.length > MESSAGE_VALUE_PREVIEW ? `${text.slice(0, MESSAGE_VALUE_PREVIEW)}…` : text;
}

function invalidValue(path: string, value: unknown, message?: string): InvalidParameterError {
  return new InvalidParameterError(
    `Invalid value ${preview(value)} for parameter '${path}' supplied` +
      (message === undefined ? '.' : `: ${message}`),
    { path, value: typeof value === 'string' ? value.slice(0, MESSAGE_VALUE_PREVIEW) : value },
  );
}

function missingValue(path: string): InvalidParameterError {
  return new InvalidParameterError(`Missing value for required parameter '${path}'.`, { path });
}

function joinPath(base: string, field: string): string {
  return base === '' ? field : `${base}.${field}`;
}

// ---------------------------------------------------------------------------------------------
// Names and lengths
// ---------------------------------------------------------------------------------------------

/**
 * POSIX path normalisation as Python's `posixpath.normpath` does it (MLflow compares a name
 * with its normalised form to keep names from escaping their folder).
 */
export function normalizePosixPath(path: string): string {
  if (path === '') return '.';
  let initialSlashes = path.startsWith('/') ? 1 : 0;
  // POSIX keeps exactly two leading slashes, but collapses three or more to one.
  if (path.startsWith('//') && !path.startsWith('///')) initialSlashes = 2;
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (
      part !== '..' ||
      (initialSlashes === 0 && parts.length === 0) ||
      (parts.length > 0 && parts.at(-1) === '..')
    ) {
      parts.push(part);
    } else if (parts.length > 0) {
      parts.pop();
    }
  }
  const joined = '/'.repeat(initialSlashes) + parts.join('/');
  return joined === '' ? '.' : joined;
}

function pathNotUnique(name: string): boolean {
  const norm = normalizePosixPath(name);
  return norm !== name || norm === '.' || norm.startsWith('..') || norm.startsWith('/');
}

/**
 * Checks a metric, param or tag key: a string of allowed characters that is stable under path
 * normalisation.
 *
 * @param path the request field being checked, for the message (e.g. `params[2].key`).
 * @throws InvalidParameterError when the key is missing, has a character outside
 *   `[letters digits _ - . / : space]`, or would resolve to another path (`a/../b`, `/a`, `''`).
 */
export function validateEntityKey(key: unknown, path = 'key'): asserts key is string {
  if (key === undefined || key === null) throw missingValue(path);
  if (typeof key !== 'string') throw invalidValue(path, key, 'Names must be strings.');
  if (!NAME_RE.test(key)) throw invalidValue(path, key, BAD_CHARACTERS_MESSAGE);
  if (pathNotUnique(key)) {
    throw invalidValue(
      path,
      key,
      'Names may be treated as files in certain cases, and must not resolve to other names ' +
        `when treated as such. This name would resolve to '${normalizePosixPath(key)}'`,
    );
  }
}

function checkLength(
  path: string,
  limit: number,
  value: string,
  about: string,
  truncate = false,
): string {
  if (value.length <= limit) return value;
  if (truncate) return value.slice(0, limit);
  throw new InvalidParameterError(
    `'${path}' exceeds the maximum length of ${limit} characters: ${about}has ` +
      `${value.length} characters, ${preview(value)}`,
    { path, limit, length: value.length },
  );
}

function checkStringValue(value: unknown, path: string): string {
  if (value === undefined || value === null) throw missingValue(path);
  if (typeof value !== 'string') throw invalidValue(path, value, 'Values must be strings.');
  return value;
}

// ---------------------------------------------------------------------------------------------
// Metrics, params, tags
// ---------------------------------------------------------------------------------------------

/**
 * Checks one metric point: a valid key of at most {@link MAX_ENTITY_KEY_LENGTH} characters, a
 * numeric value (NaN and ±Infinity are allowed; booleans are not), a non-negative integer
 * timestamp and an integer step.
 *
 * @param path the request field, e.g. `metrics[3]`; fields are reported as `metrics[3].value`.
 * @throws InvalidParameterError naming the field, the metric key and the value.
 */
export function validateMetric(metric: MetricInput, path = ''): void {
  const keyPath = joinPath(path, 'key');
  validateEntityKey(metric.key, keyPath);
  const key = metric.key;
  const valuePath = joinPath(path, 'value');
  if (metric.value === undefined || metric.value === null) throw missingValue(valuePath);
  if (typeof metric.value !== 'number') {
    throw invalidValue(
      valuePath,
      metric.value,
      `metric '${key}' (timestamp=${preview(metric.timestamp)}). ` +
        'Please specify value as a valid double (64-bit floating point)',
    );
  }
  const { timestamp, step } = metric;
  if (typeof timestamp !== 'number' || !Number.isInteger(timestamp) || timestamp < 0) {
    throw invalidValue(
      joinPath(path, 'timestamp'),
      timestamp,
      `metric '${key}' (value=${preview(metric.value)}). ` +
        'Timestamp must be a nonnegative long (64-bit integer)',
    );
  }
  if (typeof step !== 'number' || !Number.isInteger(step)) {
    throw invalidValue(
      joinPath(path, 'step'),
      step,
      `metric '${key}' (value=${preview(metric.value)}). Step must be a valid long (64-bit integer).`,
    );
  }
  checkLength(keyPath, MAX_ENTITY_KEY_LENGTH, key, 'the key ');
}

/**
 * Checks a run param: a valid key of at most {@link MAX_ENTITY_KEY_LENGTH} characters and a
 * string value of at most {@link MAX_PARAM_VAL_LENGTH}. Returns the param, with its value cut
 * to the limit when `truncateLongValues` is set.
 *
 * @throws InvalidParameterError naming the field, key and (shortened) value.
 */
export function validateParam(
  param: KeyValueInput,
  path = '',
  options: TruncateOptions = {},
): KeyValue {
  const keyPath = joinPath(path, 'key');
  validateEntityKey(param.key, keyPath);
  const key = checkLength(keyPath, MAX_ENTITY_KEY_LENGTH, param.key, 'the key ');
  const valuePath = joinPath(path, 'value');
  const value = checkLength(
    valuePath,
    MAX_PARAM_VAL_LENGTH,
    checkStringValue(param.value, valuePath),
    `the value of param '${key}' `,
    options.truncateLongValues,
  );
  return { key, value };
}

/**
 * Checks a run tag: a valid key of at most {@link MAX_ENTITY_KEY_LENGTH} characters and a
 * string value of at most {@link MAX_TAG_VAL_LENGTH}. Returns the tag, with its value cut to the
 * limit when `truncateLongValues` is set.
 *
 * @throws InvalidParameterError naming the field, key and (shortened) value.
 */
export function validateTag(
  tag: KeyValueInput,
  path = '',
  options: TruncateOptions = {},
): KeyValue {
  return checkTag(tag, path, MAX_ENTITY_KEY_LENGTH, MAX_TAG_VAL_LENGTH, options.truncateLongValues);
}

/**
 * Checks an experiment tag: key at most {@link MAX_EXPERIMENT_TAG_KEY_LENGTH}, value at most
 * {@link MAX_EXPERIMENT_TAG_VAL_LENGTH} characters (never truncated).
 *
 * @throws InvalidParameterError naming the field, key and (shortened) value.
 */
export function validateExperimentTag(tag: KeyValueInput, path = ''): KeyValue {
  return checkTag(tag, path, MAX_EXPERIMENT_TAG_KEY_LENGTH, MAX_EXPERIMENT_TAG_VAL_LENGTH);
}

/**
 * Checks a registered-model or model-version tag: key at most
 * {@link MAX_MODEL_REGISTRY_TAG_KEY_LENGTH}, value (required) at most
 * {@link MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH} characters.
 *
 * @throws InvalidParameterError naming the field, key and (shortened) value.
 */
export function validateRegistryTag(tag: KeyValueInput, path = ''): KeyValue {
  return checkTag(
    tag,
    path,
    MAX_MODEL_REGISTRY_TAG_KEY_LENGTH,
    MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH,
  );
}

function checkTag(
  tag: KeyValueInput,
  path: string,
  keyLimit: number,
  valueLimit: number,
  truncate = false,
): KeyValue {
  const keyPath = joinPath(path, 'key');
  validateEntityKey(tag.key, keyPath);
  const key = checkLength(keyPath, keyLimit, tag.key, 'the key ');
  const valuePath = joinPath(path, 'value');
  const value = checkLength(
    valuePath,
    valueLimit,
    checkStringValue(tag.value, valuePath),
    `the value of tag '${key}' `,
    truncate,
  );
  return { key, value };
}

// ---------------------------------------------------------------------------------------------
// log_batch
// ---------------------------------------------------------------------------------------------

/** What `log_batch` carries, before validation. */
export interface LogBatchInput {
  metrics: readonly MetricInput[];
  params: readonly KeyValueInput[];
  tags: readonly KeyValueInput[];
}

function checkBatchLimit(entityName: string, limit: number, length: number): void {
  if (length > limit) {
    throw new InvalidParameterError(
      `A batch logging request can contain at most ${limit} ${entityName}. Got ${length} ` +
        `${entityName}. Please split up ${entityName} across multiple requests and try again.`,
      { entity: entityName, limit, length },
    );
  }
}

/**
 * Checks a `log_batch` request as MLflow does: at most {@link MAX_METRICS_PER_BATCH} metrics,
 * {@link MAX_PARAMS_TAGS_PER_BATCH} params and as many tags, {@link MAX_ENTITIES_PER_BATCH} in
 * all; every metric, param and run tag valid (fields reported as `metrics[i].value`, …); no
 * param key twice. Returns the params and tags as validated (values cut to their limits when
 * `truncateLongValues` is set).
 *
 * @throws InvalidParameterError for the first problem found.
 */
export function validateLogBatch(
  batch: LogBatchInput,
  options: TruncateOptions = {},
): { params: KeyValue[]; tags: KeyValue[] } {
  checkBatchLimit('metrics', MAX_METRICS_PER_BATCH, batch.metrics.length);
  checkBatchLimit('params', MAX_PARAMS_TAGS_PER_BATCH, batch.params.length);
  checkBatchLimit('tags', MAX_PARAMS_TAGS_PER_BATCH, batch.tags.length);
  checkBatchLimit(
    'metrics, params, and tags',
    MAX_ENTITIES_PER_BATCH,
    batch.metrics.length + batch.params.length + batch.tags.length,
  );
  batch.metrics.forEach((metric, i) => {
    validateMetric(metric, `metrics[${i}]`);
  });
  const params = batch.params.map((p, i) => validateParam(p, `params[${i}]`, options));
  const tags = batch.tags.map((t, i) => validateTag(t, `tags[${i}]`, options));

  const seen = new Set<string>();
  const duplicates: string[] = [];
  for (const { key } of params) {
    if (seen.has(key)) duplicates.push(key);
    seen.add(key);
  }
  if (duplicates.length > 0) {
    throw new InvalidParameterError(
      `Duplicate parameter keys have been submitted: [${duplicates.map((k) => `'${k}'`).join(', ')}]. ` +
        'Please ensure the request contains only one param value per param key.',
      { duplicates },
    );
  }
  return { params, tags };
}

/**
 * Checks the byte size of a `log_batch` request body against
 * {@link MAX_BATCH_LOG_REQUEST_SIZE}.
 *
 * @throws InvalidParameterError when the body is larger.
 */
export function validateLogBatchRequestSize(bytes: number): void {
  if (bytes > MAX_BATCH_LOG_REQUEST_SIZE) {
    throw new InvalidParameterError(
      `Batched logging API requests must be at most ${MAX_BATCH_LOG_REQUEST_SIZE} bytes, got a ` +
        `request of size ${bytes}.`,
      { bytes, limit: MAX_BATCH_LOG_REQUEST_SIZE },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Ids and names
// ---------------------------------------------------------------------------------------------

/**
 * Checks an experiment name: a non-empty string of at most {@link MAX_EXPERIMENT_NAME_LENGTH}
 * characters.
 *
 * @throws InvalidParameterError when it is missing, empty, not a string or too long.
 */
export function validateExperimentName(name: unknown): asserts name is string {
  if (name === undefined || name === null || name === '') {
    throw new InvalidParameterError(
      `Invalid experiment name: '${typeof name === 'string' ? name : ''}'`,
      {
        name,
      },
    );
  }
  if (typeof name !== 'string') {
    throw new InvalidParameterError(
      `Invalid experiment name: ${preview(name)}. Expects a string.`,
      {
        name,
      },
    );
  }
  checkLength('name', MAX_EXPERIMENT_NAME_LENGTH, name, 'the experiment name ');
}

/**
 * Checks a run id: a letter or digit, then up to 255 letters, digits, `_` or `-`.
 *
 * @throws InvalidParameterError naming the id.
 */
export function validateRunId(runId: unknown, path = 'run_id'): asserts runId is string {
  if (typeof runId !== 'string' || !RUN_ID_RE.test(runId)) throw invalidValue(path, runId);
}

/**
 * Checks an experiment id: a letter or digit, then up to 63 letters, digits, `_` or `-`.
 *
 * @throws InvalidParameterError naming the id.
 */
export function validateExperimentId(experimentId: unknown): asserts experimentId is string {
  if (typeof experimentId !== 'string' || !EXPERIMENT_ID_RE.test(experimentId)) {
    throw new InvalidParameterError(`Invalid experiment ID: ${preview(experimentId)}`, {
      experimentId,
    });
  }
}

/**
 * Checks a registered model name: non-empty, and without `/` or `:` (MLflow rejects both
 * because names appear in `models:/<name>/<version>` URIs).
 *
 * @throws InvalidParameterError naming the name and the character that is not allowed.
 */
export function validateModelName(name: unknown, path = 'name'): asserts name is string {
  if (name === undefined || name === null || name === '') throw missingValue(path);
  if (typeof name !== 'string') throw invalidValue(path, name, 'Names must be strings.');
  const bad = ['/', ':'].find((c) => name.includes(c));
  if (bad !== undefined) {
    throw invalidValue(
      path,
      name,
      `Registered model names cannot contain '${bad}' (nor '/' or ':' in general).`,
    );
  }
}

/**
 * Checks a model version number given as a string: it must be an integer.
 *
 * @returns the version as a number.
 * @throws InvalidParameterError with MLflow's "must be an integer" message.
 */
export function validateModelVersion(version: unknown, path = 'version'): number {
  const text = typeof version === 'number' ? String(version) : version;
  if (typeof text !== 'string' || !/^\s*[-+]?\d+\s*$/u.test(text)) {
    throw new InvalidParameterError(
      `Parameter '${path}' must be an integer, got '${typeof text === 'string' ? text : preview(version)}'.`,
      { path, version },
    );
  }
  return Number.parseInt(text, 10);
}

/**
 * Checks a registered-model alias: non-empty; letters, digits, `_` and `-` only; at most
 * {@link MAX_REGISTERED_MODEL_ALIAS_LENGTH} characters; not `latest` (any case, reserved for the
 * newest version) and not of the form `v<digits>` (reserved for version references).
 *
 * @throws InvalidParameterError naming the alias and the rule it breaks.
 */
export function validateAlias(alias: unknown): asserts alias is string {
  if (alias === undefined || alias === null || alias === '') {
    throw new InvalidParameterError('Registered model alias name cannot be empty.');
  }
  if (typeof alias !== 'string') throw invalidValue('alias', alias, 'Aliases must be strings.');
  if (!ALIAS_RE.test(alias)) {
    throw new InvalidParameterError(
      `Invalid alias name: ${preview(alias)}. Names may only contain alphanumerics, ` +
        'underscores (_), and dashes (-).',
      { alias },
    );
  }
  checkLength('alias', MAX_REGISTERED_MODEL_ALIAS_LENGTH, alias, 'the alias ');
  if (alias.toLowerCase() === 'latest') {
    throw new InvalidParameterError("'latest' alias name (case insensitive) is reserved.", {
      alias,
    });
  }
  if (VERSION_ALIAS_RE.test(alias)) {
    throw new InvalidParameterError(`Version alias name '${alias}' is reserved.`, { alias });
  }
}

// ---------------------------------------------------------------------------------------------
// Search limits
// ---------------------------------------------------------------------------------------------

/**
 * Checks `max_results` for a search on `target` against {@link MAX_RESULTS_LIMITS}. It must be
 * an integer from 1 (0 is also accepted for runs, which MLflow answers with an empty page) up
 * to the target's limit.
 *
 * @throws InvalidParameterError naming the value and the allowed range.
 */
export function validateMaxResults(
  target: SearchTarget,
  maxResults: unknown,
): asserts maxResults is number {
  const limit = MAX_RESULTS_LIMITS[target];
  const min = target === 'runs' ? 0 : 1;
  if (typeof maxResults !== 'number' || !Number.isInteger(maxResults) || maxResults < min) {
    throw new InvalidParameterError(
      `Invalid value for max_results. It must be ${min === 0 ? 'a non-negative' : 'a positive'} ` +
        `integer, but got ${preview(maxResults)}`,
      { maxResults, target },
    );
  }
  if (maxResults > limit) {
    throw new InvalidParameterError(
      `Invalid value for request parameter max_results. It must be at most ${limit}, but got ` +
        `value ${maxResults}`,
      { maxResults, limit, target },
    );
  }
}

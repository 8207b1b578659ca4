/**
 * Translates the parsed search grammar (`Filter`, `OrderBy` from `@modelyard/core`) into SQL
 * fragments for each searchable resource, with MLflow's semantics: a clause on a metric, param or
 * tag only matches rows that have that key; entities missing an `order_by` key sort last (for
 * metrics, NaN sorts after numbers and before missing); `LIKE` is case-sensitive and `ILIKE` is
 * not, on both dialects.
 */
import { sql } from 'kysely';
import type { RawBuilder } from 'kysely';
import { InvalidParameterError } from '@modelyard/core';
import type { Comparison, Filter, OrderBy } from '@modelyard/core';
import type { SqlBackend } from './sql-backend.js';

type Fragment = RawBuilder<unknown>;

/** SQL pieces of one search: extra joins (for ordering), conditions and the ORDER BY list. */
export interface SearchSql {
  joins: Fragment[];
  where: Fragment[];
  orderBy: Fragment[];
}

interface AttributeColumn {
  column: string;
  numeric: boolean;
}

type AttributeMap = Readonly<Record<string, AttributeColumn>>;

const str = (column: string): AttributeColumn => ({ column, numeric: false });
const num = (column: string): AttributeColumn => ({ column, numeric: true });

const RUN_ATTRIBUTES: AttributeMap = {
  run_id: str('r.run_uuid'),
  run_uuid: str('r.run_uuid'),
  run_name: str('r.name'),
  status: str('r.status'),
  user_id: str('r.user_id'),
  artifact_uri: str('r.artifact_uri'),
  lifecycle_stage: str('r.lifecycle_stage'),
  start_time: num('r.start_time'),
  created: num('r.start_time'),
  end_time: num('r.end_time'),
  experiment_id: num('r.experiment_id'),
};

const EXPERIMENT_ATTRIBUTES: AttributeMap = {
  name: str('e.name'),
  experiment_id: num('e.experiment_id'),
  artifact_location: str('e.artifact_location'),
  lifecycle_stage: str('e.lifecycle_stage'),
  creation_time: num('e.creation_time'),
  last_update_time: num('e.last_update_time'),
};

const LOGGED_MODEL_ATTRIBUTES: AttributeMap = {
  name: str('lm.name'),
  model_id: str('lm.model_id'),
  model_type: str('lm.model_type'),
  status: str('lm.status'),
  source_run_id: str('lm.source_run_id'),
  experiment_id: num('lm.experiment_id'),
  creation_timestamp: num('lm.creation_timestamp_ms'),
  creation_time: num('lm.creation_timestamp_ms'),
  creation_timestamp_ms: num('lm.creation_timestamp_ms'),
  last_updated_timestamp: num('lm.last_updated_timestamp_ms'),
  last_updated_timestamp_ms: num('lm.last_updated_timestamp_ms'),
};

const REGISTERED_MODEL_ATTRIBUTES: AttributeMap = {
  name: str('rm.name'),
  description: str('rm.description'),
  creation_timestamp: num('rm.creation_time'),
  creation_time: num('rm.creation_time'),
  timestamp: num('rm.last_updated_time'),
  last_updated_timestamp: num('rm.last_updated_time'),
  last_updated_time: num('rm.last_updated_time'),
};

const MODEL_VERSION_ATTRIBUTES: AttributeMap = {
  name: str('mv.name'),
  version: num('mv.version'),
  version_number: num('mv.version'),
  run_id: str('mv.run_id'),
  source: str('mv.source'),
  source_path: str('mv.source'),
  current_stage: str('mv.current_stage'),
  user_id: str('mv.user_id'),
  status: str('mv.status'),
  description: str('mv.description'),
  model_id: str('mv.model_id'),
  creation_timestamp: num('mv.creation_time'),
  creation_time: num('mv.creation_time'),
  timestamp: num('mv.last_updated_time'),
  last_updated_timestamp: num('mv.last_updated_time'),
  last_updated_time: num('mv.last_updated_time'),
};

function attribute(map: AttributeMap, key: string, what: string): AttributeColumn {
  const found = Object.hasOwn(map, key) ? map[key] : undefined;
  if (found === undefined) {
    throw new InvalidParameterError(
      `Invalid attribute key '${key}' for searching ${what}. Valid keys: ${Object.keys(map).join(', ')}.`,
      { key },
    );
  }
  return found;
}

function unsupported(c: Comparison | OrderBy, what: string): never {
  throw new InvalidParameterError(
    `Searching ${what} does not support '${c.kind}' keys (got '${c.kind}.${c.key}').`,
    { kind: c.kind, key: c.key },
  );
}

function asNumber(value: unknown, c: Comparison): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (typeof value === 'string' && value.trim() === '') {
    throw new InvalidParameterError(`Expected a number for '${c.key}', got an empty string.`);
  }
  if (Number.isNaN(n)) {
    throw new InvalidParameterError(
      `Expected a numeric value for '${c.key}' ${c.comparator}, got '${String(value)}'.`,
      { key: c.key, value },
    );
  }
  return n;
}

function asList(c: Comparison): string[] {
  if (!Array.isArray(c.value)) {
    throw new InvalidParameterError(
      `'${c.key} ${c.comparator}' needs a list of values such as ('a', 'b').`,
      { key: c.key },
    );
  }
  return c.value;
}

/**
 * The SQL condition `expr <comparator> value`. With `numeric`, values are compared as numbers;
 * otherwise as strings.
 */
export function compareSql(
  backend: SqlBackend,
  expr: string,
  c: Comparison,
  numeric: boolean,
): Fragment {
  const ref = sql.ref(expr);
  const scalar = (): unknown => {
    if (c.value === null || Array.isArray(c.value)) {
      throw new InvalidParameterError(`'${c.key} ${c.comparator}' needs a single value.`, {
        key: c.key,
      });
    }
    return numeric ? asNumber(c.value, c) : String(c.value);
  };
  switch (c.comparator) {
    case '=':
      return sql`${ref} = ${scalar()}`;
    case '!=':
      return sql`${ref} <> ${scalar()}`;
    case '<':
      return sql`${ref} < ${scalar()}`;
    case '<=':
      return sql`${ref} <= ${scalar()}`;
    case '>':
      return sql`${ref} > ${scalar()}`;
    case '>=':
      return sql`${ref} >= ${scalar()}`;
    case 'LIKE':
      return sql`${ref} LIKE ${String(c.value)}`;
    case 'ILIKE':
      return sql`lower(${ref}) LIKE lower(${String(c.value)})`;
    case 'IN':
    case 'NOT IN': {
      const list = asList(c);
      const values = numeric ? list.map((v) => asNumber(v, c)) : list;
      const inList = backend.inList(expr, values);
      return c.comparator === 'IN' ? inList : sql`NOT (${inList})`;
    }
    case 'IS NULL':
      return sql`${ref} IS NULL`;
    case 'IS NOT NULL':
      return sql`${ref} IS NOT NULL`;
  }
}

/**
 * A metric condition on a table with `value` / `is_nan` columns: NaN only satisfies `!=`, as in
 * IEEE arithmetic (MLflow stores NaN as 0 and lets it match `= 0`; we do not).
 */
function metricCompareSql(
  backend: SqlBackend,
  valueColumn: string,
  isNanColumn: string,
  c: Comparison,
): Fragment {
  const cmp = compareSql(backend, valueColumn, c, true);
  const isNan = sql.ref(isNanColumn);
  return c.comparator === '!=' || c.comparator === 'NOT IN'
    ? sql`(${isNan} = 1 OR ${cmp})`
    : sql`(${isNan} = 0 AND ${cmp})`;
}

function direction(ascending: boolean): Fragment {
  return ascending ? sql`ASC` : sql`DESC`;
}

/** ORDER BY items for a nullable column: rows without a value sort last in both directions. */
function orderNullsLast(expr: string, ascending: boolean): Fragment[] {
  const ref = sql.ref(expr);
  return [sql`CASE WHEN ${ref} IS NULL THEN 1 ELSE 0 END`, sql`${ref} ${direction(ascending)}`];
}

function existsIn(
  table: string,
  alias: string,
  link: Fragment,
  key: Fragment,
  condition: Fragment,
): Fragment {
  return sql`EXISTS (SELECT 1 FROM ${sql.table(table)} AS ${sql.raw(alias)} WHERE ${link} AND ${key} AND ${condition})`;
}

/** Key/value child table clause: IS NULL means the key is absent, IS NOT NULL that it is set. */
function keyValueClause(
  backend: SqlBackend,
  table: string,
  alias: string,
  link: Fragment,
  keyColumn: string,
  valueColumn: string,
  c: Comparison,
  absentMatchesNotEqual = false,
): Fragment {
  const key = sql`${sql.ref(`${alias}.${keyColumn}`)} = ${c.key}`;
  if (c.comparator === 'IS NULL') return sql`NOT ${existsIn(table, alias, link, key, sql`1 = 1`)}`;
  if (c.comparator === 'IS NOT NULL') return existsIn(table, alias, link, key, sql`1 = 1`);
  if (absentMatchesNotEqual && c.comparator === '!=') {
    // Registry searches: `tags.k != 'v'` also matches entities without the tag, as MLflow's
    // client relies on (it adds tags.`mlflow.prompt.is_prompt` != 'true' to every search).
    const equal: Comparison = { ...c, comparator: '=' };
    return sql`NOT ${existsIn(table, alias, link, key, compareSql(backend, `${alias}.${valueColumn}`, equal, false))}`;
  }
  return existsIn(
    table,
    alias,
    link,
    key,
    compareSql(backend, `${alias}.${valueColumn}`, c, false),
  );
}

function metricClause(
  backend: SqlBackend,
  table: string,
  alias: string,
  link: Fragment,
  keyColumn: string,
  valueColumn: string,
  c: Comparison,
): Fragment {
  const key = sql`${sql.ref(`${alias}.${keyColumn}`)} = ${c.key}`;
  if (c.comparator === 'IS NULL') return sql`NOT ${existsIn(table, alias, link, key, sql`1 = 1`)}`;
  if (c.comparator === 'IS NOT NULL') return existsIn(table, alias, link, key, sql`1 = 1`);
  return existsIn(
    table,
    alias,
    link,
    key,
    metricCompareSql(backend, `${alias}.${valueColumn}`, `${alias}.is_nan`, c),
  );
}

function attributeClause(
  backend: SqlBackend,
  map: AttributeMap,
  c: Comparison,
  what: string,
): Fragment {
  const attr = attribute(map, c.key, what);
  return compareSql(backend, attr.column, c, attr.numeric);
}

// ---------------------------------------------------------------- runs

const DATASET_FIELDS: Readonly<Record<string, string>> = {
  name: 'ds.name',
  digest: 'ds.digest',
  context: 'it.value',
};

function datasetClause(backend: SqlBackend, c: Comparison): Fragment {
  const column = Object.hasOwn(DATASET_FIELDS, c.key) ? DATASET_FIELDS[c.key] : undefined;
  if (column === undefined) {
    throw new InvalidParameterError(
      `Invalid dataset key '${c.key}'. Valid keys: name, digest, context.`,
      { key: c.key },
    );
  }
  const contextJoin =
    c.key === 'context'
      ? sql`JOIN input_tags AS it ON it.input_uuid = i.input_uuid AND it.name = 'mlflow.data.context'`
      : sql``;
  return sql`EXISTS (SELECT 1 FROM inputs AS i JOIN datasets AS ds ON ds.dataset_uuid = i.source_id ${contextJoin} WHERE i.destination_type = 'RUN' AND i.destination_id = r.run_uuid AND i.source_type = 'DATASET' AND ${compareSql(backend, column, c, false)})`;
}

/** Filter and order of a run search over `runs AS r`. */
export function runSearchSql(backend: SqlBackend, filter: Filter, orderBy: OrderBy[]): SearchSql {
  const where: Fragment[] = [];
  const link = (alias: string) => sql`${sql.ref(`${alias}.run_uuid`)} = r.run_uuid`;
  for (const c of filter) {
    switch (c.kind) {
      case 'attribute':
        where.push(attributeClause(backend, RUN_ATTRIBUTES, c, 'runs'));
        break;
      case 'metric':
        where.push(metricClause(backend, 'latest_metrics', 'fm', link('fm'), 'key', 'value', c));
        break;
      case 'param':
        where.push(keyValueClause(backend, 'params', 'fp', link('fp'), 'key', 'value', c));
        break;
      case 'tag':
        where.push(keyValueClause(backend, 'tags', 'ft', link('ft'), 'key', 'value', c));
        break;
      case 'dataset':
        where.push(datasetClause(backend, c));
        break;
    }
  }
  const joins: Fragment[] = [];
  const order: Fragment[] = [];
  let hasStartTime = false;
  for (const [i, o] of orderBy.entries()) {
    const alias = `o${i}`;
    const value = `${alias}.value`;
    switch (o.kind) {
      case 'attribute': {
        const attr = attribute(RUN_ATTRIBUTES, o.key, 'runs');
        if (attr.column === 'r.start_time') hasStartTime = true;
        order.push(...orderNullsLast(attr.column, o.ascending));
        break;
      }
      case 'metric':
        joins.push(
          sql`LEFT JOIN latest_metrics AS ${sql.raw(alias)} ON ${sql.ref(`${alias}.run_uuid`)} = r.run_uuid AND ${sql.ref(`${alias}.key`)} = ${o.key}`,
        );
        order.push(
          sql`CASE WHEN ${sql.ref(`${alias}.is_nan`)} = 1 THEN 1 WHEN ${sql.ref(`${alias}.run_uuid`)} IS NULL THEN 2 ELSE 0 END`,
          sql`${sql.ref(value)} ${direction(o.ascending)}`,
        );
        break;
      case 'param':
      case 'tag':
        joins.push(
          sql`LEFT JOIN ${sql.table(o.kind === 'param' ? 'params' : 'tags')} AS ${sql.raw(alias)} ON ${sql.ref(`${alias}.run_uuid`)} = r.run_uuid AND ${sql.ref(`${alias}.key`)} = ${o.key}`,
        );
        order.push(...orderNullsLast(value, o.ascending));
        break;
    }
  }
  if (!hasStartTime) order.push(sql`r.start_time DESC`);
  order.push(sql`r.run_uuid ASC`);
  return { joins, where, orderBy: order };
}

// ---------------------------------------------------------------- experiments

/** Filter and order of an experiment search over `experiments AS e` (MLflow's defaults). */
export function experimentSearchSql(
  backend: SqlBackend,
  filter: Filter,
  orderBy: OrderBy[],
): SearchSql {
  const where: Fragment[] = [];
  for (const c of filter) {
    if (c.kind === 'attribute') {
      where.push(attributeClause(backend, EXPERIMENT_ATTRIBUTES, c, 'experiments'));
    } else if (c.kind === 'tag') {
      where.push(
        keyValueClause(
          backend,
          'experiment_tags',
          'ft',
          sql`ft.experiment_id = e.experiment_id`,
          'key',
          'value',
          c,
        ),
      );
    } else {
      unsupported(c, 'experiments');
    }
  }
  const order: Fragment[] = [];
  const effective: OrderBy[] =
    orderBy.length > 0
      ? orderBy
      : [
          { kind: 'attribute', key: 'creation_time', ascending: false },
          { kind: 'attribute', key: 'experiment_id', ascending: true },
        ];
  let hasId = false;
  for (const o of effective) {
    if (o.kind !== 'attribute') unsupported(o, 'experiments');
    const attr = attribute(EXPERIMENT_ATTRIBUTES, o.key, 'experiments');
    if (attr.column === 'e.experiment_id') hasId = true;
    order.push(sql`${sql.ref(attr.column)} ${direction(o.ascending)}`);
  }
  // MLflow's tie-breaker when the caller's order does not name the id.
  if (!hasId) order.push(sql`e.experiment_id DESC`);
  return { joins: [], where, orderBy: order };
}

// ---------------------------------------------------------------- logged models

/** Filter and order of a logged model search over `logged_models AS lm`. */
export function loggedModelSearchSql(
  backend: SqlBackend,
  filter: Filter,
  orderBy: OrderBy[],
): SearchSql {
  const where: Fragment[] = [];
  const link = (alias: string) => sql`${sql.ref(`${alias}.model_id`)} = lm.model_id`;
  for (const c of filter) {
    switch (c.kind) {
      case 'attribute':
        where.push(attributeClause(backend, LOGGED_MODEL_ATTRIBUTES, c, 'logged models'));
        break;
      case 'metric':
        // Any logged point of the metric satisfies the clause, as MLflow's logged model search.
        where.push(
          metricClause(
            backend,
            'logged_model_metrics',
            'fm',
            link('fm'),
            'metric_name',
            'metric_value',
            c,
          ),
        );
        break;
      case 'param':
        where.push(
          keyValueClause(backend, 'logged_model_params', 'fp', link('fp'), 'key', 'value', c),
        );
        break;
      case 'tag':
        where.push(
          keyValueClause(backend, 'logged_model_tags', 'ft', link('ft'), 'key', 'value', c),
        );
        break;
      case 'dataset':
        unsupported(c, 'logged models');
    }
  }
  const joins: Fragment[] = [];
  const order: Fragment[] = [];
  let hasCreation = false;
  for (const [i, o] of orderBy.entries()) {
    const alias = `o${i}`;
    switch (o.kind) {
      case 'attribute': {
        const attr = attribute(LOGGED_MODEL_ATTRIBUTES, o.key, 'logged models');
        if (attr.column === 'lm.creation_timestamp_ms') hasCreation = true;
        order.push(...orderNullsLast(attr.column, o.ascending));
        break;
      }
      case 'metric': {
        // The model's latest point of the metric (optionally on one dataset).
        const dataset =
          o.datasetName === undefined
            ? sql``
            : o.datasetDigest === undefined
              ? sql`AND x.dataset_name = ${o.datasetName}`
              : sql`AND x.dataset_name = ${o.datasetName} AND x.dataset_digest = ${o.datasetDigest}`;
        const latest = (column: Fragment) =>
          sql`(SELECT ${column} FROM logged_model_metrics AS x WHERE x.model_id = lm.model_id AND x.metric_name = ${o.key} ${dataset} ORDER BY x.metric_step DESC, x.metric_timestamp_ms DESC LIMIT 1)`;
        order.push(
          sql`COALESCE(${latest(sql`x.is_nan`)}, 2)`,
          sql`${latest(sql`x.metric_value`)} ${direction(o.ascending)}`,
        );
        break;
      }
      case 'param':
      case 'tag':
        joins.push(
          sql`LEFT JOIN ${sql.table(o.kind === 'param' ? 'logged_model_params' : 'logged_model_tags')} AS ${sql.raw(alias)} ON ${sql.ref(`${alias}.model_id`)} = lm.model_id AND ${sql.ref(`${alias}.key`)} = ${o.key}`,
        );
        order.push(...orderNullsLast(`${alias}.value`, o.ascending));
        break;
    }
  }
  if (!hasCreation) order.push(sql`lm.creation_timestamp_ms DESC`);
  order.push(sql`lm.model_id ASC`);
  return { joins, where, orderBy: order };
}

// ---------------------------------------------------------------- registry

/** Filter and order of a registered model search over `registered_models AS rm` (name ASC). */
export function registeredModelSearchSql(
  backend: SqlBackend,
  filter: Filter,
  orderBy: OrderBy[],
): SearchSql {
  const where: Fragment[] = [];
  for (const c of filter) {
    if (c.kind === 'attribute') {
      where.push(attributeClause(backend, REGISTERED_MODEL_ATTRIBUTES, c, 'registered models'));
    } else if (c.kind === 'tag') {
      where.push(
        keyValueClause(
          backend,
          'registered_model_tags',
          'ft',
          sql`ft.name = rm.name`,
          'key',
          'value',
          c,
          true,
        ),
      );
    } else {
      unsupported(c, 'registered models');
    }
  }
  const order: Fragment[] = [];
  let hasName = false;
  for (const o of orderBy) {
    if (o.kind !== 'attribute') unsupported(o, 'registered models');
    const attr = attribute(REGISTERED_MODEL_ATTRIBUTES, o.key, 'registered models');
    if (attr.column === 'rm.name') hasName = true;
    order.push(sql`${sql.ref(attr.column)} ${direction(o.ascending)}`);
  }
  if (!hasName) order.push(sql`rm.name ASC`);
  return { joins: [], where, orderBy: order };
}

/** Filter and order of a model version search over `model_versions AS mv` (name ASC, version DESC). */
export function modelVersionSearchSql(
  backend: SqlBackend,
  filter: Filter,
  orderBy: OrderBy[],
): SearchSql {
  const where: Fragment[] = [];
  for (const c of filter) {
    if (c.kind === 'attribute') {
      where.push(attributeClause(backend, MODEL_VERSION_ATTRIBUTES, c, 'model versions'));
    } else if (c.kind === 'tag') {
      where.push(
        keyValueClause(
          backend,
          'model_version_tags',
          'ft',
          sql`ft.name = mv.name AND ft.version = mv.version`,
          'key',
          'value',
          c,
          true,
        ),
      );
    } else {
      unsupported(c, 'model versions');
    }
  }
  const order: Fragment[] = [];
  let hasName = false;
  let hasVersion = false;
  for (const o of orderBy) {
    if (o.kind !== 'attribute') unsupported(o, 'model versions');
    const attr = attribute(MODEL_VERSION_ATTRIBUTES, o.key, 'model versions');
    if (attr.column === 'mv.name') hasName = true;
    if (attr.column === 'mv.version') hasVersion = true;
    order.push(sql`${sql.ref(attr.column)} ${direction(o.ascending)}`);
  }
  if (!hasName) order.push(sql`mv.name ASC`);
  if (!hasVersion) order.push(sql`mv.version DESC`);
  return { joins: [], where, orderBy: order };
}

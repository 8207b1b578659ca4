/**
 * The parsed form of MLflow's search grammar (`filter_string` and `order_by`), shared by the
 * parser in `search-filter.ts` and the stores that translate it to SQL.
 */

/** What a search clause is about. `dataset` is only valid for runs. */
export type EntityKind = 'attribute' | 'metric' | 'param' | 'tag' | 'dataset';

export type Comparator =
  | '='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | 'LIKE'
  | 'ILIKE'
  | 'IN'
  | 'NOT IN'
  | 'IS NULL'
  | 'IS NOT NULL';

/**
 * One clause, e.g. `metrics.rmse < 0.5` is `{ kind: 'metric', key: 'rmse', comparator: '<', value: 0.5 }`.
 * Attribute keys are normalised to their canonical name (`created` -> `start_time`, `run name`
 * -> `run_name`). `value` is a number for numeric comparisons, a string list for IN / NOT IN and
 * null for IS NULL / IS NOT NULL.
 */
export interface Comparison {
  kind: EntityKind;
  key: string;
  comparator: Comparator;
  value: string | number | string[] | null;
}

/** A filter is a conjunction of clauses (MLflow supports only AND). */
export type Filter = Comparison[];

export interface OrderBy {
  kind: Exclude<EntityKind, 'dataset'>;
  key: string;
  ascending: boolean;
  /**
   * Logged models only: order by the metric's value on this dataset (MLflow's
   * `SearchLoggedModels` `order_by[].dataset_name`). Undefined everywhere else.
   */
  datasetName?: string;
  /** Logged models only: narrows `datasetName` to one digest of it. */
  datasetDigest?: string;
}

/** Which resource a filter is parsed for: each has its own attributes and allowed kinds. */
export type SearchTarget =
  'runs' | 'experiments' | 'registered_models' | 'model_versions' | 'logged_models';

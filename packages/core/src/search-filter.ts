/**
 * A parser for MLflow's search grammar: the `filter_string` and `order_by` parameters of
 * `search_runs`, `search_experiments`, `search_registered_models`, `search_model_versions` and
 * `search_logged_models`. It follows MLflow 3.x's `mlflow/utils/search_utils.py` (the per-target
 * `Search*Utils` classes) together with the checks MLflow's SQL stores add on top of it, so a
 * filter MLflow rejects is rejected here with a message of the same shape, and a filter MLflow
 * accepts yields the same clauses.
 *
 * Grammar, informally:
 * ```
 * filter     := clause (AND clause)*                      -- AND is case-insensitive; no OR, no ()
 * clause     := identifier comparator value
 *             | identifier [NOT] IN '(' string (',' string)* [','] ')'
 *             | identifier IS [NOT] NULL
 * identifier := [prefix '.'] key                         -- no prefix means an attribute
 * key        := word ('.' word)* | `quoted` | "quoted"
 * value      := number | 'string' | "string"
 * order_by   := identifier [ASC | DESC]                  -- ascending by default
 * ```
 *
 * Choices made where MLflow is ambiguous or accidental (each is deliberate):
 * - String literals are taken verbatim between their quotes, as MLflow does: `'it''s'` searches
 *   for `it''s` and `'a\'b'` for `a\'b`; no escape sequence is decoded.
 * - A key may mix quoted and bare segments (`tags.a."b.c"`); the segments after the prefix are
 *   joined with `.` after unquoting (MLflow does this for `order_by`; in filters it would keep the
 *   quote characters, which no real key contains).
 * - IN lists are returned as given. MLflow drops list items containing upper-case letters (a
 *   MySQL work-around for lower-case run ids); the stores here compare case-sensitively, so the
 *   results are the same without it.
 * - Comparators are validated while parsing (MLflow validates some of them only in its stores).
 * - `version_number` (model versions) also accepts a quoted integer such as `'3'`, which MLflow
 *   accepts and its SQL store coerces; it becomes the number 3.
 * - Registered-model `order_by` accepts `name`, `creation_timestamp`, `last_updated_timestamp`
 *   and `timestamp` (MLflow's SQL store alias of `last_updated_timestamp`), with or without an
 *   `attribute.` prefix.
 * - `max_results`, page tokens and view types are not part of the grammar; see `validation.ts`
 *   and `page-token.ts`.
 *
 * @example
 * parseFilter('runs', "metrics.rmse < 0.5 and tags.`mlflow.source.name` LIKE '%train%'");
 * // [{ kind: 'metric', key: 'rmse', comparator: '<', value: 0.5 },
 * //  { kind: 'tag', key: 'mlflow.source.name', comparator: 'LIKE', value: '%train%' }]
 * parseOrderBy('runs', ['metrics.rmse DESC', 'created']);
 * // [{ kind: 'metric', key: 'rmse', ascending: false },
 * //  { kind: 'attribute', key: 'start_time', ascending: true }]
 */
import { InvalidParameterError } from './errors.js';
import type {
  Comparator,
  Comparison,
  EntityKind,
  Filter,
  OrderBy,
  SearchTarget,
} from './search-types.js';

// ---------------------------------------------------------------------------------------------
// Per-target rules
// ---------------------------------------------------------------------------------------------

type AttributeType = 'string' | 'number';

interface AttributeSpec {
  /** The name stores use (`created` -> `start_time`). */
  canonical: string;
  type: AttributeType;
}

interface TargetRules {
  /** What the target is called in messages. */
  noun: string;
  /** Accepted prefixes (`metrics`, `params`, …) and the kind each stands for. */
  prefixes: Readonly<Record<string, EntityKind>>;
  /** The prefixes listed in the "invalid entity type" message. */
  prefixesForMessage: readonly string[];
  /** Whether a backticked prefix (`` `tags`.x ``) is unquoted first, as MLflow does for runs. */
  trimPrefixBackticks: boolean;
  /** Attributes allowed in filters, by the name users write. */
  filterAttributes: Readonly<Record<string, AttributeSpec>>;
  /** Attributes allowed in order_by, by the name users write, to their canonical name. */
  orderAttributes: Readonly<Record<string, string>>;
  /** Which non-attribute kinds may appear in order_by. */
  orderKinds: ReadonlySet<EntityKind>;
  comparators: {
    metric: readonly Comparator[];
    param: readonly Comparator[];
    tag: readonly Comparator[];
    dataset: readonly Comparator[];
    stringAttribute: readonly Comparator[];
    numericAttribute: readonly Comparator[];
  };
  /** Which string attributes accept IN / NOT IN lists; `'all'` for every string attribute. */
  listAttributes: readonly string[] | 'all';
  /** Whether order_by rejects the same field twice (MLflow's SQL stores do for these targets). */
  rejectDuplicateOrderBy: boolean;
}

const NUMERIC_COMPARATORS: readonly Comparator[] = ['=', '!=', '<', '<=', '>', '>='];
const STRING_COMPARATORS: readonly Comparator[] = ['=', '!=', 'LIKE', 'ILIKE'];
const STRING_LIST_COMPARATORS: readonly Comparator[] = [...STRING_COMPARATORS, 'IN', 'NOT IN'];
const NULL_COMPARATORS: readonly Comparator[] = ['IS NULL', 'IS NOT NULL'];
const NONE: readonly Comparator[] = [];

/** The dataset fields a runs filter may name (`datasets.name`, …). */
const DATASET_KEYS: readonly string[] = ['name', 'digest', 'context'];

const RUN_PREFIXES: Readonly<Record<string, EntityKind>> = {
  metric: 'metric',
  metrics: 'metric',
  parameter: 'param',
  parameters: 'param',
  param: 'param',
  params: 'param',
  tag: 'tag',
  tags: 'tag',
  attribute: 'attribute',
  attributes: 'attribute',
  attr: 'attribute',
  run: 'attribute',
  dataset: 'dataset',
  datasets: 'dataset',
};

const REGISTRY_PREFIXES: Readonly<Record<string, EntityKind>> = {
  attribute: 'attribute',
  tag: 'tag',
  tags: 'tag',
};

const str = (canonical: string): AttributeSpec => ({ canonical, type: 'string' });
const num = (canonical: string): AttributeSpec => ({ canonical, type: 'number' });

const RULES: Readonly<Record<SearchTarget, TargetRules>> = {
  runs: {
    noun: 'runs',
    prefixes: RUN_PREFIXES,
    prefixesForMessage: ['metric', 'parameter', 'tag', 'attribute', 'dataset'],
    trimPrefixBackticks: true,
    filterAttributes: {
      artifact_uri: str('artifact_uri'),
      end_time: num('end_time'),
      run_id: str('run_id'),
      run_name: str('run_name'),
      start_time: num('start_time'),
      status: str('status'),
      user_id: str('user_id'),
      created: num('start_time'),
      Created: num('start_time'),
      'run name': str('run_name'),
      'Run name': str('run_name'),
      'Run Name': str('run_name'),
    },
    orderAttributes: {
      artifact_uri: 'artifact_uri',
      end_time: 'end_time',
      run_id: 'run_id',
      run_name: 'run_name',
      start_time: 'start_time',
      status: 'status',
      user_id: 'user_id',
      created: 'start_time',
      Created: 'start_time',
    },
    orderKinds: new Set<EntityKind>(['metric', 'param', 'tag']),
    comparators: {
      metric: NUMERIC_COMPARATORS,
      param: [...STRING_COMPARATORS, ...NULL_COMPARATORS],
      tag: [...STRING_COMPARATORS, ...NULL_COMPARATORS],
      dataset: STRING_LIST_COMPARATORS,
      stringAttribute: STRING_LIST_COMPARATORS,
      numericAttribute: NUMERIC_COMPARATORS,
    },
    listAttributes: ['run_id'],
    rejectDuplicateOrderBy: true,
  },
  experiments: {
    noun: 'experiments',
    prefixes: REGISTRY_PREFIXES,
    prefixesForMessage: ['attribute', 'tag', 'tags'],
    trimPrefixBackticks: false,
    filterAttributes: {
      name: str('name'),
      creation_time: num('creation_time'),
      last_update_time: num('last_update_time'),
    },
    orderAttributes: {
      name: 'name',
      experiment_id: 'experiment_id',
      creation_time: 'creation_time',
      last_update_time: 'last_update_time',
    },
    orderKinds: new Set<EntityKind>(),
    comparators: {
      metric: NONE,
      param: NONE,
      tag: [...STRING_COMPARATORS, ...NULL_COMPARATORS],
      dataset: NONE,
      stringAttribute: STRING_COMPARATORS,
      numericAttribute: NUMERIC_COMPARATORS,
    },
    listAttributes: [],
    rejectDuplicateOrderBy: false,
  },
  registered_models: {
    noun: 'registered models',
    prefixes: REGISTRY_PREFIXES,
    prefixesForMessage: ['attribute', 'tag', 'tags'],
    trimPrefixBackticks: false,
    filterAttributes: { name: str('name') },
    orderAttributes: {
      name: 'name',
      creation_timestamp: 'creation_timestamp',
      last_updated_timestamp: 'last_updated_timestamp',
      timestamp: 'last_updated_timestamp',
    },
    orderKinds: new Set<EntityKind>(),
    comparators: {
      metric: NONE,
      param: NONE,
      tag: STRING_COMPARATORS,
      dataset: NONE,
      stringAttribute: STRING_COMPARATORS,
      numericAttribute: NUMERIC_COMPARATORS,
    },
    listAttributes: [],
    rejectDuplicateOrderBy: true,
  },
  model_versions: {
    noun: 'model versions',
    prefixes: REGISTRY_PREFIXES,
    prefixesForMessage: ['attribute', 'tag', 'tags'],
    trimPrefixBackticks: false,
    filterAttributes: {
      name: str('name'),
      version_number: num('version_number'),
      run_id: str('run_id'),
      source_path: str('source_path'),
    },
    orderAttributes: {
      name: 'name',
      version_number: 'version_number',
      creation_timestamp: 'creation_timestamp',
      last_updated_timestamp: 'last_updated_timestamp',
    },
    orderKinds: new Set<EntityKind>(),
    comparators: {
      metric: NONE,
      param: NONE,
      tag: STRING_COMPARATORS,
      dataset: NONE,
      // MLflow allows IN (not NOT IN) here, and only for run_id.
      stringAttribute: [...STRING_COMPARATORS, 'IN'],
      numericAttribute: NUMERIC_COMPARATORS,
    },
    listAttributes: ['run_id'],
    rejectDuplicateOrderBy: true,
  },
  logged_models: {
    noun: 'logged models',
    prefixes: Object.fromEntries(
      Object.entries(RUN_PREFIXES).filter(([, kind]) => kind !== 'dataset'),
    ),
    prefixesForMessage: ['metric', 'parameter', 'tag', 'attribute'],
    trimPrefixBackticks: true,
    filterAttributes: {
      name: str('name'),
      model_id: str('model_id'),
      model_type: str('model_type'),
      status: str('status'),
      source_run_id: str('source_run_id'),
      creation_timestamp: num('creation_timestamp'),
      creation_time: num('creation_timestamp'),
      last_updated_timestamp: num('last_updated_timestamp'),
      last_updated_time: num('last_updated_timestamp'),
    },
    orderAttributes: {
      name: 'name',
      model_id: 'model_id',
      model_type: 'model_type',
      status: 'status',
      source_run_id: 'source_run_id',
      creation_timestamp: 'creation_timestamp',
      creation_time: 'creation_timestamp',
      last_updated_timestamp: 'last_updated_timestamp',
      last_updated_time: 'last_updated_timestamp',
    },
    orderKinds: new Set<EntityKind>(['metric']),
    comparators: {
      metric: NUMERIC_COMPARATORS,
      param: STRING_COMPARATORS,
      tag: STRING_COMPARATORS,
      dataset: NONE,
      stringAttribute: STRING_LIST_COMPARATORS,
      numericAttribute: NUMERIC_COMPARATORS,
    },
    listAttributes: 'all',
    rejectDuplicateOrderBy: false,
  },
};

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

type TokenType =
  | 'word' // bare word: a key segment or a keyword (AND, IN, NOT, IS, NULL, LIKE, ILIKE, ASC, DESC)
  | 'single' // 'string'
  | 'double' // "string" (a value or a quoted key segment)
  | 'backtick' // `quoted key segment`
  | 'number'
  | 'dot'
  | 'op' // = != <> == < <= > >=
  | 'lparen'
  | 'rparen'
  | 'comma'
  | 'semicolon';

interface Token {
  type: TokenType;
  /** Source text, quotes included. */
  raw: string;
  /** Text without its quotes (same as `raw` for unquoted tokens). */
  text: string;
  start: number;
  end: number;
}

const NUMBER_RE = /-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?![\p{L}\p{N}_])/uy;
const WORD_RE = /[\p{L}\p{N}_]+/uy;
const OP_RE = /<=|>=|!=|<>|==|=|<|>/y;

function tokenize(source: string, what: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const push = (type: TokenType, start: number, end: number, text?: string): void => {
    const raw = source.slice(start, end);
    tokens.push({ type, raw, text: text ?? raw, start, end });
  };
  while (i < source.length) {
    const ch = source.charAt(i);
    if (/\s/u.test(ch)) {
      i += 1;
      continue;
    }
    if (ch === "'" || ch === '"' || ch === '`') {
      const end = findClosingQuote(source, i);
      if (end < 0) {
        throw new InvalidParameterError(
          `Error on parsing ${what} '${source}': the quoted text starting at character ${i + 1} ` +
            `(${ch}) is never closed.`,
          { input: source, position: i },
        );
      }
      const type: TokenType = ch === "'" ? 'single' : ch === '"' ? 'double' : 'backtick';
      push(type, i, end + 1, source.slice(i + 1, end));
      i = end + 1;
      continue;
    }
    // A dot right after a key segment joins segments; elsewhere `.5` is a number.
    const prev = tokens.at(-1);
    if (
      ch === '.' &&
      prev !== undefined &&
      prev.end === i &&
      (prev.type === 'word' || prev.type === 'double' || prev.type === 'backtick')
    ) {
      push('dot', i, i + 1);
      i += 1;
      continue;
    }
    NUMBER_RE.lastIndex = i;
    const number = NUMBER_RE.exec(source);
    if (number) {
      push('number', i, i + number[0].length);
      i += number[0].length;
      continue;
    }
    WORD_RE.lastIndex = i;
    const word = WORD_RE.exec(source);
    if (word) {
      push('word', i, i + word[0].length);
      i += word[0].length;
      continue;
    }
    OP_RE.lastIndex = i;
    const op = OP_RE.exec(source);
    if (op) {
      push('op', i, i + op[0].length);
      i += op[0].length;
      continue;
    }
    const single: Partial<Record<string, TokenType>> = {
      '(': 'lparen',
      ')': 'rparen',
      ',': 'comma',
      ';': 'semicolon',
      '.': 'dot',
    };
    const type = single[ch];
    if (type !== undefined) {
      push(type, i, i + 1);
      i += 1;
      continue;
    }
    throw new InvalidParameterError(
      `Error on parsing ${what} '${source}': unexpected character '${ch}' at position ${i + 1}. ` +
        'Keys with special characters must be quoted with backticks or double quotes, ' +
        'e.g. params.`my-param`, and string values with single or double quotes.',
      { input: source, position: i },
    );
  }
  return tokens;
}

/**
 * Index of the quote closing the one at `open`, or -1. A doubled quote (`''`) and a
 * backslash-escaped character do not close the string (as in sqlparse, which MLflow uses).
 */
function findClosingQuote(source: string, open: number): number {
  const quote = source.charAt(open);
  let i = open + 1;
  while (i < source.length) {
    const ch = source.charAt(i);
    if (ch === '\\' && quote !== '`') {
      i += 2;
      continue;
    }
    if (ch === quote) {
      if (source.charAt(i + 1) === quote) {
        i += 2;
        continue;
      }
      return i;
    }
    i += 1;
  }
  return -1;
}

const isWord = (token: Token | undefined, word: string): boolean =>
  token?.type === 'word' && token.text.toUpperCase() === word;

const isKeySegment = (token: Token | undefined): boolean =>
  token !== undefined &&
  (token.type === 'word' || token.type === 'double' || token.type === 'backtick');

// ---------------------------------------------------------------------------------------------
// Identifiers
// ---------------------------------------------------------------------------------------------

interface RawIdentifier {
  segments: Token[];
  raw: string;
}

/** Reads `segment ('.' segment)*` from `tokens` at `at`; returns it and the next index. */
function readIdentifier(tokens: readonly Token[], at: number): [RawIdentifier, number] | null {
  const first = tokens[at];
  if (first === undefined || !isKeySegment(first)) return null;
  const segments = [first];
  let i = at + 1;
  while (tokens[i]?.type === 'dot' && isKeySegment(tokens[i + 1])) {
    const next = tokens[i + 1];
    if (next === undefined) break;
    segments.push(next);
    i += 2;
  }
  return [
    {
      segments,
      raw: tokens
        .slice(at, i)
        .map((t) => t.raw)
        .join(''),
    },
    i,
  ];
}

interface ResolvedIdentifier {
  kind: EntityKind;
  /** The key as written (unquoted), before attribute aliases are applied. */
  key: string;
}

/** Splits an identifier into its kind and key, checking the prefix against the target's. */
function resolveIdentifier(rules: TargetRules, id: RawIdentifier): ResolvedIdentifier {
  const [first, ...rest] = id.segments;
  if (first === undefined) throw new Error('unreachable: empty identifier');
  if (rest.length === 0) return { kind: 'attribute', key: first.text };
  const prefix = first.type === 'backtick' && rules.trimPrefixBackticks ? first.text : first.raw;
  const kind = Object.hasOwn(rules.prefixes, prefix) ? rules.prefixes[prefix] : undefined;
  if (kind === undefined) {
    throw new InvalidParameterError(
      `Invalid entity type '${prefix}' in '${id.raw}'. Valid values are ` +
        `${formatList(rules.prefixesForMessage)}.`,
      { identifier: id.raw, entityType: prefix },
    );
  }
  return { kind, key: rest.map((s) => s.text).join('.') };
}

function lookupAttribute(
  table: Readonly<Record<string, AttributeSpec>>,
  key: string,
): AttributeSpec | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

function invalidAttributeKey(rules: TargetRules, key: string, valid: readonly string[]): never {
  throw new InvalidParameterError(
    `Invalid attribute key '${key}' specified. Valid keys are ${formatList(valid)}.`,
    { key, target: rules.noun },
  );
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

/** A clause's right-hand side before it is checked against the key's type. */
type RawValue =
  | { shape: 'none' }
  | { shape: 'scalar'; token: Token }
  | { shape: 'list'; tokens: Token[]; raw: string };

/**
 * Parses an MLflow `filter_string` for `target` into a conjunction of clauses. An empty or
 * missing filter yields `[]`. Attribute keys are normalised to their canonical names
 * (`created` -> `start_time`, `run name` -> `run_name`, `creation_time` -> `creation_timestamp`
 * for logged models); numeric values become numbers, IN lists string arrays, and IS [NOT] NULL
 * has the value `null`.
 *
 * Per target, as in MLflow 3.x:
 * - runs: `metrics.*` (`= != < <= > >=`, numeric), `params.*` / `tags.*`
 *   (`= != LIKE ILIKE IS NULL IS NOT NULL`), `datasets.name|digest|context`
 *   (`= != LIKE ILIKE IN NOT IN`), attributes `run_id run_name status user_id artifact_uri`
 *   (`= != LIKE ILIKE`, plus `IN NOT IN` for `run_id`) and `start_time end_time`
 *   (numeric; `created`/`Created` alias `start_time`, `run name` aliases `run_name`).
 * - experiments: `name` (`= != LIKE ILIKE`), `creation_time last_update_time` (numeric),
 *   `tags.*` (`= != LIKE ILIKE IS NULL IS NOT NULL`); prefixes `attribute`, `tag`, `tags` only.
 * - registered_models: `name` and `tags.*` (`= != LIKE ILIKE`).
 * - model_versions: `name source_path` (`= != LIKE ILIKE`), `run_id` (also `IN`),
 *   `version_number` (numeric), `tags.*` (`= != LIKE ILIKE`).
 * - logged_models: `metrics.*`, `params.*`, `tags.*` as for runs but without IS NULL;
 *   attributes `name model_id model_type status source_run_id` (`= != LIKE ILIKE IN NOT IN`) and
 *   `creation_timestamp last_updated_timestamp` (numeric; `*_time` aliases).
 *
 * @throws InvalidParameterError for any filter MLflow would reject, naming the offending
 *   token and what is allowed instead.
 */
export function parseFilter(target: SearchTarget, filter: string | undefined): Filter {
  if (filter === undefined || filter.trim() === '') return [];
  const rules = RULES[target];
  const tokens = tokenize(filter, 'filter');

  const semicolon = tokens.findIndex((t) => t.type === 'semicolon');
  if (semicolon >= 0) {
    if (tokens.slice(semicolon + 1).some((t) => t.type !== 'semicolon')) {
      throw new InvalidParameterError(
        `Search filter contained multiple expression '${filter}'. Provide AND-ed expression list.`,
        { filter },
      );
    }
    throw invalidClauses(filter, [';']);
  }

  // Split on top-level AND; lists may not contain bare words, but keep depth for clear errors.
  const clauses: Token[][] = [[]];
  let depth = 0;
  for (const [index, token] of tokens.entries()) {
    if (token.type === 'lparen') depth += 1;
    if (token.type === 'rparen') depth -= 1;
    // `tags.and` is a key, not a conjunction.
    const inKey = tokens[index - 1]?.type === 'dot' || tokens[index + 1]?.type === 'dot';
    if (depth === 0 && !inKey && isWord(token, 'AND')) {
      clauses.push([]);
      continue;
    }
    clauses.at(-1)?.push(token);
  }
  if (clauses.some((c) => c.length === 0)) {
    throw new InvalidParameterError(
      `Invalid clause(s) in filter string: 'AND'. Each AND must join two clauses, ` +
        `in '${filter}'.`,
      { filter },
    );
  }
  return clauses.map((clause) => parseClause(rules, filter, clause));
}

function parseClause(rules: TargetRules, filter: string, tokens: Token[]): Comparison {
  const first = tokens[0];
  const last = tokens.at(-1);
  const text = first && last ? filter.slice(first.start, last.end) : '';
  const read = readIdentifier(tokens, 0);
  if (read === null) {
    throw new InvalidParameterError(
      `Invalid comparison clause '${text}'. Expected an identifier such as metrics.rmse or ` +
        `tags.\`my.tag\` at the start, found '${first?.raw ?? ''}'.`,
      { filter, clause: text },
    );
  }
  const [identifier, afterIdentifier] = read;
  if (tokens[afterIdentifier]?.type === 'dot') {
    throw new InvalidParameterError(
      `Invalid identifier '${identifier.raw}.' in '${text}': a key must follow the '.'. ` +
        'Quote keys with special characters, e.g. tags.`my key`.',
      { filter, clause: text },
    );
  }
  const parsed = readComparator(tokens, afterIdentifier);
  if (parsed === null) throw invalidClauses(filter, [text], true);
  const [comparator, afterComparator] = parsed;

  let value: RawValue;
  let end = afterComparator;
  if (comparator === 'IS NULL' || comparator === 'IS NOT NULL') {
    value = { shape: 'none' };
  } else if (tokens[end]?.type === 'lparen') {
    const close = tokens.findIndex((t, i) => i > end && t.type === 'rparen');
    if (close < 0) {
      throw listError('but got ill-formed list.', text);
    }
    const inner = tokens.slice(end + 1, close);
    const open = tokens[end];
    const closing = tokens[close];
    value = {
      shape: 'list',
      tokens: inner,
      raw: open && closing ? filter.slice(open.start, closing.end) : '',
    };
    end = close + 1;
  } else {
    const token = tokens[end];
    if (token === undefined) {
      throw new InvalidParameterError(
        `Invalid comparison clause '${text}'. Expected a value after '${comparator}'.`,
        { filter, clause: text },
      );
    }
    value = { shape: 'scalar', token };
    end += 1;
  }
  if (end < tokens.length) throw invalidClauses(filter, [text], true);

  return buildComparison(rules, identifier, comparator, value, text);
}

/** Reads a comparator at `at`: an operator or a keyword form; null when none is there. */
function readComparator(tokens: readonly Token[], at: number): [string, number] | null {
  const t0 = tokens[at];
  const t1 = tokens[at + 1];
  const t2 = tokens[at + 2];
  if (t0 === undefined) return null;
  if (t0.type === 'op') return [t0.text, at + 1];
  if (isWord(t0, 'LIKE') || isWord(t0, 'ILIKE') || isWord(t0, 'IN')) {
    return [t0.text.toUpperCase(), at + 1];
  }
  if (isWord(t0, 'NOT') && t1?.type === 'word') {
    // NOT IN is valid; NOT LIKE / NOT ILIKE are read so the error can name them.
    return [`NOT ${t1.text.toUpperCase()}`, at + 2];
  }
  if (isWord(t0, 'IS') && isWord(t1, 'NULL')) return ['IS NULL', at + 2];
  if (isWord(t0, 'IS') && isWord(t1, 'NOT') && isWord(t2, 'NULL')) return ['IS NOT NULL', at + 3];
  return null;
}

function buildComparison(
  rules: TargetRules,
  identifier: RawIdentifier,
  comparatorText: string,
  value: RawValue,
  clause: string,
): Comparison {
  const { kind, key: writtenKey } = resolveIdentifier(rules, identifier);
  let key = writtenKey;
  let valueType: 'number' | 'string';
  let allowed: readonly Comparator[];
  let what: string;

  switch (kind) {
    case 'attribute': {
      const spec = lookupAttribute(rules.filterAttributes, writtenKey);
      if (spec === undefined) {
        invalidAttributeKey(rules, writtenKey, Object.keys(rules.filterAttributes));
      }
      key = spec.canonical;
      valueType = spec.type;
      allowed =
        spec.type === 'number'
          ? rules.comparators.numericAttribute
          : rules.comparators.stringAttribute;
      what = `${spec.type === 'number' ? 'numeric' : 'string'} attribute '${writtenKey}'`;
      break;
    }
    case 'dataset':
      if (!DATASET_KEYS.includes(writtenKey)) {
        throw new InvalidParameterError(
          `Invalid dataset key '${writtenKey}' specified. Valid keys are ` +
            `${formatList(DATASET_KEYS)}.`,
          { key: writtenKey },
        );
      }
      valueType = 'string';
      allowed = rules.comparators.dataset;
      what = `dataset key '${writtenKey}'`;
      break;
    case 'metric':
      valueType = 'number';
      allowed = rules.comparators.metric;
      what = `metric '${writtenKey}'`;
      break;
    case 'param':
      valueType = 'string';
      allowed = rules.comparators.param;
      what = `param '${writtenKey}'`;
      break;
    case 'tag':
      valueType = 'string';
      allowed = rules.comparators.tag;
      what = `tag '${writtenKey}'`;
      break;
  }
  if (key === '') {
    throw new InvalidParameterError(`Invalid identifier '${identifier.raw}': the key is empty.`, {
      identifier: identifier.raw,
    });
  }

  const comparator = allowed.find((c) => c === comparatorText);
  if (comparator === undefined) {
    throw new InvalidParameterError(
      `Invalid comparator '${comparatorText}' for ${what} in '${clause}'. Valid comparators are ` +
        `${formatList(allowed)}.`,
      { key: writtenKey, comparator: comparatorText, allowed: [...allowed] },
    );
  }

  const isList = comparator === 'IN' || comparator === 'NOT IN';
  if (value.shape === 'none') return { kind, key, comparator, value: null };
  if (value.shape === 'list') {
    if (!isList) {
      throw new InvalidParameterError(
        `Invalid comparison clause '${clause}': a list of values ${value.raw} needs the IN or ` +
          `NOT IN comparator, not '${comparator}'.`,
        { clause },
      );
    }
    const listAllowed =
      kind === 'dataset' ||
      rules.listAttributes === 'all' ||
      rules.listAttributes.includes(writtenKey);
    if (!listAllowed) {
      throw new InvalidParameterError(
        rules.listAttributes === 'all' || rules.listAttributes.length === 0
          ? `Comparison with a list of values is not supported for ${what} when searching ` +
              `${rules.noun}.`
          : `Only the ${formatList(rules.listAttributes)} attribute supports comparison with a ` +
              `list of quoted string values, not '${writtenKey}'.`,
        { key: writtenKey },
      );
    }
    return { kind, key, comparator, value: parseList(value, clause) };
  }
  if (isList) {
    throw new InvalidParameterError(
      `Invalid comparison clause '${clause}': ${comparator} expects a parenthesised list of ` +
        `quoted strings such as ('a', 'b'), got ${value.token.raw}.`,
      { clause },
    );
  }
  return {
    kind,
    key,
    comparator,
    value: convertScalar(rules, kind, writtenKey, valueType, value.token),
  };
}

function convertScalar(
  rules: TargetRules,
  kind: EntityKind,
  writtenKey: string,
  valueType: 'number' | 'string',
  token: Token,
): string | number {
  if (valueType === 'number') {
    if (token.type === 'number') return Number(token.raw);
    // MLflow accepts a quoted version number; its SQL store coerces it.
    if (
      rules === RULES.model_versions &&
      token.type === 'single' &&
      /^-?\d+$/u.test(token.text.trim())
    ) {
      return Number(token.text.trim());
    }
    throw new InvalidParameterError(
      kind === 'metric'
        ? `Expected numeric value type for metric. Found ${token.raw}`
        : `Expected numeric value type for numeric attribute: ${writtenKey}. Found ${token.raw}`,
      { key: writtenKey, value: token.raw },
    );
  }
  if (token.type === 'single' || token.type === 'double') return token.text;
  if (token.type === 'word' || token.type === 'backtick') {
    throw new InvalidParameterError(
      'Parameter value is either not quoted or unidentified quote types used for string value ' +
        `${token.raw}. Use either single or double quotes.`,
      { key: writtenKey, value: token.raw },
    );
  }
  const noun = kind === 'attribute' ? 'attributes' : kind;
  throw new InvalidParameterError(
    `Expected a quoted string value for ${noun} (e.g. 'my-value'). Got value ${token.raw}`,
    { key: writtenKey, value: token.raw },
  );
}

/** Parses the inside of `( 'a', "b", )`: quoted strings, commas, an optional trailing comma. */
function parseList(value: Extract<RawValue, { shape: 'list' }>, clause: string): string[] {
  const items: string[] = [];
  let expectItem = true;
  for (const token of value.tokens) {
    if (expectItem) {
      if (token.type === 'single' || token.type === 'double') {
        items.push(token.text);
        expectItem = false;
        continue;
      }
      if (token.type === 'comma') throw listError('but got ill-formed list.', clause);
      throw listError(
        `but got a value of a different type in list: ${value.raw} (${token.raw} is not a ` +
          'quoted string).',
        clause,
      );
    }
    if (token.type !== 'comma') throw listError('but got ill-formed list.', clause);
    expectItem = true;
  }
  if (items.length === 0) throw listError('but got empty list.', clause);
  return items;
}

function listError(detail: string, clause: string): InvalidParameterError {
  return new InvalidParameterError(
    `While parsing a list in the query '${clause}', expected a non-empty list of string ` +
      `values, ${detail}`,
    { clause },
  );
}

function invalidClauses(filter: string, clauses: string[], hint = false): InvalidParameterError {
  return new InvalidParameterError(
    `Invalid clause(s) in filter string: ${clauses.map((c) => `'${c}'`).join(', ')}` +
      (hint
        ? `. Each clause must be '<key> <comparator> <value>' (e.g. metrics.rmse < 0.5), ` +
          'joined with AND; OR and parentheses are not supported.'
        : ''),
    { filter },
  );
}

// ---------------------------------------------------------------------------------------------
// order_by
// ---------------------------------------------------------------------------------------------

/**
 * Parses MLflow `order_by` strings for `target`, e.g. `metrics.rmse DESC`,
 * `attributes.start_time ASC`, `params.x`, `name`, `tags.t`. Ascending is the default; ASC/DESC
 * are case-insensitive. Attribute keys are normalised as in {@link parseFilter}.
 *
 * Allowed per target (MLflow 3.x): runs — `metrics.*`, `params.*`, `tags.*` and the attributes
 * `artifact_uri end_time run_id run_name start_time status user_id` (`created`/`Created` alias
 * `start_time`); experiments — `name experiment_id creation_time last_update_time`;
 * registered_models — `name creation_timestamp last_updated_timestamp timestamp`;
 * model_versions — `name version_number creation_timestamp last_updated_timestamp`;
 * logged_models — `metrics.*` and the logged-model attributes. Runs, registered models and
 * model versions reject the same field given twice, as MLflow's SQL stores do.
 *
 * @throws InvalidParameterError naming the clause that could not be parsed or the key that is
 *   not allowed, with the allowed keys.
 */
export function parseOrderBy(target: SearchTarget, orderBy: string[] | undefined): OrderBy[] {
  if (orderBy === undefined || orderBy.length === 0) return [];
  const rules = RULES[target];
  const result = orderBy.map((clause) => parseOrderByClause(rules, target, clause));
  if (rules.rejectDuplicateOrderBy) rejectDuplicates(result, orderBy);
  return result;
}

function parseOrderByClause(rules: TargetRules, target: SearchTarget, clause: string): OrderBy {
  const unparsable = (): InvalidParameterError =>
    new InvalidParameterError(
      `Invalid order_by clause '${clause}'. Could not be parsed. Expected '<key> [ASC|DESC]', ` +
        'e.g. metrics.rmse DESC.',
      { clause },
    );
  const tokens = tokenize(clause, 'order_by clause');
  const read = readIdentifier(tokens, 0);
  if (read === null) throw unparsable();
  const [identifier, next] = read;
  let ascending = true;
  if (next < tokens.length) {
    const direction = tokens[next];
    if (next + 1 < tokens.length || direction?.type !== 'word') throw unparsable();
    const word = direction.text.toLowerCase();
    if (word !== 'asc' && word !== 'desc') {
      throw new InvalidParameterError(
        `Invalid ordering key in order_by clause '${clause}': '${direction.text}'. ` +
          "Use 'ASC' or 'DESC'.",
        { clause },
      );
    }
    ascending = word === 'asc';
  }

  const { kind, key } = resolveIdentifier(rules, identifier);
  if (kind === 'attribute') {
    const canonical = Object.hasOwn(rules.orderAttributes, key)
      ? rules.orderAttributes[key]
      : undefined;
    if (canonical === undefined) {
      throw new InvalidParameterError(
        `Invalid order_by key '${key}' specified for ${rules.noun}. Valid keys are ` +
          formatList(Object.keys(rules.orderAttributes)) +
          (rules.orderKinds.size > 0
            ? `, or ${[...rules.orderKinds].map((k) => `${k}s.<name>`).join(', ')}.`
            : '.'),
        { clause, key },
      );
    }
    return { kind, key: canonical, ascending };
  }
  if (kind === 'dataset' || !rules.orderKinds.has(kind)) {
    throw new InvalidParameterError(
      target === 'logged_models'
        ? `Invalid order by field name: ${identifier.segments[0]?.text ?? ''}, only ` +
            '`metrics.<name>` is allowed.'
        : `Invalid order_by entity '${kind}' in '${clause}': ${rules.noun} can only be ordered ` +
            `by ${formatList(Object.keys(rules.orderAttributes))}` +
            (rules.orderKinds.size > 0
              ? ` or ${[...rules.orderKinds].map((k) => `${k}s.<name>`).join(', ')}.`
              : '.'),
      { clause, kind },
    );
  }
  if (key === '') throw unparsable();
  return { kind, key, ascending };
}

function rejectDuplicates(parsed: readonly OrderBy[], orderBy: readonly string[]): void {
  const seen = new Set<string>();
  for (const item of parsed) {
    const id = `${item.kind}\u0000${item.key}`;
    if (seen.has(id)) {
      throw new InvalidParameterError(
        `\`order_by\` contains duplicate fields: ${formatList(orderBy)} ` +
          `('${item.kind === 'attribute' ? item.key : `${item.kind}s.${item.key}`}' appears twice).`,
        { orderBy: [...orderBy] },
      );
    }
    seen.add(id);
  }
}

/** One item of MLflow's `SearchLoggedModels.order_by` (JSON field names). */
export interface LoggedModelOrderByInput {
  field_name?: string;
  ascending?: boolean;
  dataset_name?: string;
  dataset_digest?: string;
}

/**
 * Parses the structured `order_by` of MLflow's `SearchLoggedModels` (a list of
 * `{field_name, ascending, dataset_name, dataset_digest}`). `field_name` is `metrics.<name>` or a
 * logged-model attribute (`creation_time` aliases `creation_timestamp`); `ascending` defaults
 * to true; `dataset_digest` needs `dataset_name`.
 *
 * @throws InvalidParameterError with MLflow's messages for a missing or unknown field name, or
 *   a digest without a dataset name.
 */
export function parseLoggedModelOrderBy(
  orderBy: readonly LoggedModelOrderByInput[] | undefined,
): OrderBy[] {
  const rules = RULES.logged_models;
  return (orderBy ?? []).map((item) => {
    const fieldName = item.field_name;
    if (fieldName === undefined || fieldName === '') {
      throw new InvalidParameterError('`field_name` in the `order_by` clause must be specified.');
    }
    let result: OrderBy;
    const dot = fieldName.indexOf('.');
    if (dot >= 0) {
      const entity = fieldName.slice(0, dot);
      if (entity !== 'metrics') {
        throw new InvalidParameterError(
          `Invalid order by field name: ${entity}, only \`metrics.<name>\` is allowed.`,
          { fieldName },
        );
      }
      const key = fieldName.slice(dot + 1);
      if (key === '') {
        throw new InvalidParameterError(`Invalid order by field name: ${fieldName}.`, {
          fieldName,
        });
      }
      result = { kind: 'metric', key, ascending: item.ascending ?? true };
    } else {
      const name = fieldName.trim();
      const canonical = Object.hasOwn(rules.orderAttributes, name)
        ? rules.orderAttributes[name]
        : undefined;
      if (canonical === undefined) {
        throw new InvalidParameterError(
          `Invalid order by field name: ${name}. Valid names are ` +
            `${formatList(Object.keys(rules.orderAttributes))} or metrics.<name>.`,
          { fieldName },
        );
      }
      result = { kind: 'attribute', key: canonical, ascending: item.ascending ?? true };
    }
    if (item.dataset_digest !== undefined && item.dataset_digest !== '' && !item.dataset_name) {
      throw new InvalidParameterError(
        '`dataset_digest` can only be specified if `dataset_name` is also specified.',
        { fieldName },
      );
    }
    if (item.dataset_name) result.datasetName = item.dataset_name;
    if (item.dataset_digest) result.datasetDigest = item.dataset_digest;
    return result;
  });
}

// ---------------------------------------------------------------------------------------------

function formatList(items: readonly string[]): string {
  return `[${items.map((i) => `'${i}'`).join(', ')}]`;
}

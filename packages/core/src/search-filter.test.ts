import { describe, expect, it } from 'vitest';
import {
  InvalidParameterError,
  parseFilter,
  parseLoggedModelOrderBy,
  parseOrderBy,
  type Comparison,
  type OrderBy,
  type SearchTarget,
} from '@modelyard/core';

type ValidCase = [filter: string, expected: Comparison[]];
type InvalidCase = [filter: string, message: RegExp];

const c = (
  kind: Comparison['kind'],
  key: string,
  comparator: Comparison['comparator'],
  value: Comparison['value'],
): Comparison => ({ kind, key, comparator, value });

function expectInvalid(run: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidParameterError);
  const error = caught as InvalidParameterError;
  expect(error.code).toBe('INVALID_PARAMETER_VALUE');
  expect(error.message).toMatch(message);
}

describe('parseFilter for runs', () => {
  const valid: ValidCase[] = [
    ['metrics.rmse < 0.5', [c('metric', 'rmse', '<', 0.5)]],
    ['metric.acc >= 1', [c('metric', 'acc', '>=', 1)]],
    ['metrics.loss != -2.5e-3', [c('metric', 'loss', '!=', -0.0025)]],
    ['metrics.a>.5', [c('metric', 'a', '>', 0.5)]],
    ['metrics.a <= 10', [c('metric', 'a', '<=', 10)]],
    ['metrics.a = 3', [c('metric', 'a', '=', 3)]],
    ['metrics."my metric" > 1', [c('metric', 'my metric', '>', 1)]],
    ['metrics.`my-metric` > 1', [c('metric', 'my-metric', '>', 1)]],
    ['metrics.train.loss < 1', [c('metric', 'train.loss', '<', 1)]],
    ['metrics.1st > 1', [c('metric', '1st', '>', 1)]],
    ["params.lr = '0.01'", [c('param', 'lr', '=', '0.01')]],
    ['param.lr = "0.01"', [c('param', 'lr', '=', '0.01')]],
    ["parameter.lr LIKE '0.%'", [c('param', 'lr', 'LIKE', '0.%')]],
    ["parameters.lr ilike '0.%'", [c('param', 'lr', 'ILIKE', '0.%')]],
    ["params.model != 'cnn'", [c('param', 'model', '!=', 'cnn')]],
    ['params.lr IS NULL', [c('param', 'lr', 'IS NULL', null)]],
    ['tags.env is not null', [c('tag', 'env', 'IS NOT NULL', null)]],
    ["tags.`mlflow.source.name` = 'train.py'", [c('tag', 'mlflow.source.name', '=', 'train.py')]],
    ['tag."mlflow.user" = "alice"', [c('tag', 'mlflow.user', '=', 'alice')]],
    ["tags.and = 'x'", [c('tag', 'and', '=', 'x')]],
    ["attributes.status = 'FINISHED'", [c('attribute', 'status', '=', 'FINISHED')]],
    ["attribute.user_id = 'bob'", [c('attribute', 'user_id', '=', 'bob')]],
    ["attr.artifact_uri LIKE 's3://%'", [c('attribute', 'artifact_uri', 'LIKE', 's3://%')]],
    ["run.run_name = 'x'", [c('attribute', 'run_name', '=', 'x')]],
    ["status != 'FAILED'", [c('attribute', 'status', '!=', 'FAILED')]],
    ['attributes.start_time > 1700000000000', [c('attribute', 'start_time', '>', 1700000000000)]],
    ['end_time <= 5', [c('attribute', 'end_time', '<=', 5)]],
    ['created > 0', [c('attribute', 'start_time', '>', 0)]],
    ['attributes.Created < 9', [c('attribute', 'start_time', '<', 9)]],
    ['`run name` = "abc"', [c('attribute', 'run_name', '=', 'abc')]],
    ['"Run Name" ILIKE \'%abc%\'', [c('attribute', 'run_name', 'ILIKE', '%abc%')]],
    ["attributes.`Run name` = 'x'", [c('attribute', 'run_name', '=', 'x')]],
    ["run_id IN ('a1', 'b2')", [c('attribute', 'run_id', 'IN', ['a1', 'b2'])]],
    ['run_id in ("a1",)', [c('attribute', 'run_id', 'IN', ['a1'])]],
    ["attributes.run_id NOT IN ('a1')", [c('attribute', 'run_id', 'NOT IN', ['a1'])]],
    ["datasets.name = 'iris'", [c('dataset', 'name', '=', 'iris')]],
    ["dataset.digest IN ('abc', 'def')", [c('dataset', 'digest', 'IN', ['abc', 'def'])]],
    ["datasets.context LIKE 'train%'", [c('dataset', 'context', 'LIKE', 'train%')]],
    ["`tags`.x = 'y'", [c('tag', 'x', '=', 'y')]],
    ["tags.x = 'it''s'", [c('tag', 'x', '=', "it''s")]],
    ["tags.x = 'a and b'", [c('tag', 'x', '=', 'a and b')]],
    ["tags.x = ''", [c('tag', 'x', '=', '')]],
    ["tags.x = 'héllo wörld'", [c('tag', 'x', '=', 'héllo wörld')]],
    [
      "metrics.rmse < 1 and params.lr = '0.1' AND tags.t LIKE '%a%'",
      [c('metric', 'rmse', '<', 1), c('param', 'lr', '=', '0.1'), c('tag', 't', 'LIKE', '%a%')],
    ],
    ['  metrics.a>1   And   metrics.b<2 ', [c('metric', 'a', '>', 1), c('metric', 'b', '<', 2)]],
  ];
  it.each(valid)('parses %s', (filter, expected) => {
    expect(parseFilter('runs', filter)).toEqual(expected);
  });

  it('treats a missing or blank filter as no clauses', () => {
    expect(parseFilter('runs', undefined)).toEqual([]);
    expect(parseFilter('runs', '')).toEqual([]);
    expect(parseFilter('runs', '   ')).toEqual([]);
  });

  const invalid: InvalidCase[] = [
    ["foo.bar = 'x'", /Invalid entity type 'foo'.*\['metric', 'parameter', 'tag', 'attribute'/],
    ['Metrics.a > 1', /Invalid entity type 'Metrics'/],
    ["attributes.foo = 'x'", /Invalid attribute key 'foo' specified\. Valid keys are .*'run_id'/],
    ["experiment_id = '1'", /Invalid attribute key 'experiment_id'/],
    ["lifecycle_stage = 'active'", /Invalid attribute key 'lifecycle_stage'/],
    ["datasets.source = 'x'", /Invalid dataset key 'source'.*\['name', 'digest', 'context'\]/],
    ["metrics.a LIKE '1'", /Invalid comparator 'LIKE' for metric 'a'.*'>='/],
    ['metrics.a IS NULL', /Invalid comparator 'IS NULL' for metric 'a'/],
    ["params.a > '1'", /Invalid comparator '>' for param 'a'.*'ILIKE'/],
    ["params.a IN ('1')", /Invalid comparator 'IN' for param 'a'/],
    ["tags.a < 'x'", /Invalid comparator '<' for tag 'a'/],
    ["tags.a NOT LIKE 'x'", /Invalid comparator 'NOT LIKE' for tag 'a'/],
    ["tags.a == 'x'", /Invalid comparator '==' for tag 'a'/],
    ["tags.a <> 'x'", /Invalid comparator '<>'/],
    ['start_time LIKE 5', /Invalid comparator 'LIKE' for numeric attribute 'start_time'/],
    ["status > 'A'", /Invalid comparator '>' for string attribute 'status'/],
    ["metrics.a > 'x'", /Expected numeric value type for metric\. Found 'x'/],
    ['metrics.a > abc', /Expected numeric value type for metric\. Found abc/],
    [
      "start_time > '5'",
      /Expected numeric value type for numeric attribute: start_time\. Found '5'/,
    ],
    [
      'params.a = 1',
      /Expected a quoted string value for param \(e\.g\. 'my-value'\)\. Got value 1/,
    ],
    [
      'tags.a = abc',
      /Parameter value is either not quoted or unidentified quote types used for string value abc/,
    ],
    ['tags.a = `abc`', /not quoted or unidentified quote types.*`abc`/],
    ["run_name IN ('a')", /Only the \['run_id'\] attribute supports comparison with a list/],
    ["run_id = ('a', 'b')", /needs the IN or NOT IN comparator, not '='/],
    ["run_id IN 'a'", /IN expects a parenthesised list/],
    ['run_id IN ()', /expected a non-empty list of string values, but got empty list/],
    ['run_id IN (1, 2)', /different type in list: \(1, 2\)/],
    ["run_id IN ('a' 'b')", /ill-formed list/],
    ["run_id IN ('a',, 'b')", /ill-formed list/],
    ["run_id IN ('a'", /ill-formed list/],
    [
      'metrics.a > 1 OR metrics.b < 2',
      /Invalid clause\(s\) in filter string: 'metrics\.a > 1 OR metrics\.b < 2'.*OR/,
    ],
    ['(metrics.a > 1)', /Expected an identifier.*found '\('/],
    ['metrics.a', /Invalid clause\(s\) in filter string: 'metrics\.a'/],
    ['metrics.a >', /Expected a value after '>'/],
    ['metrics.a > 1 AND', /Each AND must join two clauses/],
    ['AND metrics.a > 1', /Each AND must join two clauses/],
    ['metrics.a > 1 AND AND metrics.b > 1', /Each AND must join two clauses/],
    ['metrics.a > 1 1', /Invalid clause\(s\)/],
    ['metrics.a > 1; metrics.b > 2', /Search filter contained multiple expression/],
    ['metrics.a > 1;', /Invalid clause\(s\) in filter string: ';'/],
    ["params.learning-rate = 'x'", /unexpected character '-' at position 16/],
    ["tags.x = 'unterminated", /quoted text starting at character 10 \('\) is never closed/],
    ["tags.`x = 'a'", /never closed/],
    ["1 = 'a'", /Expected an identifier.*found '1'/],
    ["'tags.x' = 'a'", /Expected an identifier.*found ''tags\.x''/],
    ["tags. = 'a'", /Invalid identifier 'tags\.' in 'tags\. = 'a'': a key must follow the '\.'/],
    ['metrics.a.  > 1', /Invalid identifier 'metrics\.a\.'/],
  ];
  it.each(invalid)('rejects %s', (filter, message) => {
    expectInvalid(() => parseFilter('runs', filter), message);
  });

  it('names the offending key and the allowed comparators in the error context', () => {
    try {
      parseFilter('runs', "metrics.rmse LIKE '%1'");
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidParameterError);
      expect((error as InvalidParameterError).context).toMatchObject({
        key: 'rmse',
        comparator: 'LIKE',
        allowed: ['=', '!=', '<', '<=', '>', '>='],
      });
    }
  });
});

describe('parseFilter for experiments', () => {
  const valid: ValidCase[] = [
    ["name = 'exp'", [c('attribute', 'name', '=', 'exp')]],
    ["attribute.name LIKE 'e%'", [c('attribute', 'name', 'LIKE', 'e%')]],
    ["name ILIKE '%E%'", [c('attribute', 'name', 'ILIKE', '%E%')]],
    ['creation_time > 100', [c('attribute', 'creation_time', '>', 100)]],
    ['attribute.last_update_time <= 100', [c('attribute', 'last_update_time', '<=', 100)]],
    ["tags.team = 'ml'", [c('tag', 'team', '=', 'ml')]],
    ["tag.`a.b` != 'x'", [c('tag', 'a.b', '!=', 'x')]],
    ['tags.team IS NULL', [c('tag', 'team', 'IS NULL', null)]],
    ['tags.team IS NOT NULL', [c('tag', 'team', 'IS NOT NULL', null)]],
  ];
  it.each(valid)('parses %s', (filter, expected) => {
    expect(parseFilter('experiments', filter)).toEqual(expected);
  });

  const invalid: InvalidCase[] = [
    ["attributes.name = 'x'", /Invalid entity type 'attributes'.*\['attribute', 'tag', 'tags'\]/],
    ['metrics.a > 1', /Invalid entity type 'metrics'/],
    ["params.a = 'x'", /Invalid entity type 'params'/],
    [
      "experiment_id = '1'",
      /Invalid attribute key 'experiment_id'.*'name', 'creation_time', 'last_update_time'/,
    ],
    ["name IN ('a')", /Invalid comparator 'IN' for string attribute 'name'/],
    ['name IS NULL', /Invalid comparator 'IS NULL' for string attribute 'name'/],
    ["creation_time > 'x'", /Expected numeric value type for numeric attribute: creation_time/],
    ["tags.a > 'x'", /Invalid comparator '>' for tag 'a'/],
  ];
  it.each(invalid)('rejects %s', (filter, message) => {
    expectInvalid(() => parseFilter('experiments', filter), message);
  });
});

describe('parseFilter for registered models', () => {
  const valid: ValidCase[] = [
    ["name = 'm'", [c('attribute', 'name', '=', 'm')]],
    ["name LIKE 'm%'", [c('attribute', 'name', 'LIKE', 'm%')]],
    ["attribute.name ilike 'M%'", [c('attribute', 'name', 'ILIKE', 'M%')]],
    [
      "tags.`mlflow.prompt.is_prompt` != 'true'",
      [c('tag', 'mlflow.prompt.is_prompt', '!=', 'true')],
    ],
    [
      "name = 'm' and tag.owner = 'x'",
      [c('attribute', 'name', '=', 'm'), c('tag', 'owner', '=', 'x')],
    ],
  ];
  it.each(valid)('parses %s', (filter, expected) => {
    expect(parseFilter('registered_models', filter)).toEqual(expected);
  });

  const invalid: InvalidCase[] = [
    ["run_id = 'x'", /Invalid attribute key 'run_id' specified\. Valid keys are \['name'\]/],
    ['creation_timestamp > 1', /Invalid attribute key 'creation_timestamp'/],
    ["name IN ('a')", /Invalid comparator 'IN' for string attribute 'name'/],
    ['tags.a IS NULL', /Invalid comparator 'IS NULL' for tag 'a'/],
    ['metrics.a > 1', /Invalid entity type 'metrics'/],
    ['name = 1', /Expected a quoted string value for attributes/],
  ];
  it.each(invalid)('rejects %s', (filter, message) => {
    expectInvalid(() => parseFilter('registered_models', filter), message);
  });
});

describe('parseFilter for model versions', () => {
  const valid: ValidCase[] = [
    ["name = 'm'", [c('attribute', 'name', '=', 'm')]],
    ["run_id IN ('r1', 'r2')", [c('attribute', 'run_id', 'IN', ['r1', 'r2'])]],
    ["source_path LIKE 's3://%'", [c('attribute', 'source_path', 'LIKE', 's3://%')]],
    ['version_number >= 2', [c('attribute', 'version_number', '>=', 2)]],
    ["version_number = '3'", [c('attribute', 'version_number', '=', 3)]],
    ["tags.stage = 'prod'", [c('tag', 'stage', '=', 'prod')]],
  ];
  it.each(valid)('parses %s', (filter, expected) => {
    expect(parseFilter('model_versions', filter)).toEqual(expected);
  });

  const invalid: InvalidCase[] = [
    ["run_id NOT IN ('a')", /Invalid comparator 'NOT IN' for string attribute 'run_id'/],
    ["name IN ('a')", /Only the \['run_id'\] attribute supports comparison with a list/],
    ["version = '1'", /Invalid attribute key 'version'.*'version_number'/],
    ["version_number LIKE '1'", /Invalid comparator 'LIKE' for numeric attribute 'version_number'/],
    ["version_number = 'one'", /Expected numeric value type for numeric attribute: version_number/],
    ["current_stage = 'Production'", /Invalid attribute key 'current_stage'/],
    ["tags.a IN ('x')", /Invalid comparator 'IN' for tag 'a'/],
  ];
  it.each(invalid)('rejects %s', (filter, message) => {
    expectInvalid(() => parseFilter('model_versions', filter), message);
  });
});

describe('parseFilter for logged models', () => {
  const valid: ValidCase[] = [
    ['metrics.accuracy > 0.9', [c('metric', 'accuracy', '>', 0.9)]],
    ["params.lr = '0.1'", [c('param', 'lr', '=', '0.1')]],
    ["tags.t LIKE 'a%'", [c('tag', 't', 'LIKE', 'a%')]],
    ["name = 'model'", [c('attribute', 'name', '=', 'model')]],
    [
      "model_type IN ('sklearn', 'torch')",
      [c('attribute', 'model_type', 'IN', ['sklearn', 'torch'])],
    ],
    ["status NOT IN ('FAILED')", [c('attribute', 'status', 'NOT IN', ['FAILED'])]],
    ["source_run_id = 'abc'", [c('attribute', 'source_run_id', '=', 'abc')]],
    ["attributes.model_id = 'm-1'", [c('attribute', 'model_id', '=', 'm-1')]],
    ['creation_time > 5', [c('attribute', 'creation_timestamp', '>', 5)]],
    ['creation_timestamp > 5', [c('attribute', 'creation_timestamp', '>', 5)]],
    ['last_updated_time < 5', [c('attribute', 'last_updated_timestamp', '<', 5)]],
  ];
  it.each(valid)('parses %s', (filter, expected) => {
    expect(parseFilter('logged_models', filter)).toEqual(expected);
  });

  const invalid: InvalidCase[] = [
    [
      "datasets.name = 'x'",
      /Invalid entity type 'datasets'.*\['metric', 'parameter', 'tag', 'attribute'\]/,
    ],
    ["run_id = 'x'", /Invalid attribute key 'run_id'/],
    ['params.a IS NULL', /Invalid comparator 'IS NULL' for param 'a'/],
    ["creation_time > 'x'", /Expected numeric value type for numeric attribute: creation_time/],
    ['metrics.a LIKE 1', /Invalid comparator 'LIKE' for metric 'a'/],
  ];
  it.each(invalid)('rejects %s', (filter, message) => {
    expectInvalid(() => parseFilter('logged_models', filter), message);
  });
});

describe('parseOrderBy', () => {
  const o = (kind: OrderBy['kind'], key: string, ascending: boolean): OrderBy => ({
    kind,
    key,
    ascending,
  });
  const valid: [SearchTarget, string[], OrderBy[]][] = [
    ['runs', ['metrics.rmse DESC'], [o('metric', 'rmse', false)]],
    ['runs', ['metrics.`my metric` asc'], [o('metric', 'my metric', true)]],
    ['runs', ['metrics."a.b" desc'], [o('metric', 'a.b', false)]],
    ['runs', ['attributes.start_time ASC'], [o('attribute', 'start_time', true)]],
    ['runs', ['params.x'], [o('param', 'x', true)]],
    ['runs', ['tags.`mlflow.runName` DESC'], [o('tag', 'mlflow.runName', false)]],
    ['runs', ['created'], [o('attribute', 'start_time', true)]],
    ['runs', ['Created DESC'], [o('attribute', 'start_time', false)]],
    [
      'runs',
      ['run_name', 'status DESC'],
      [o('attribute', 'run_name', true), o('attribute', 'status', false)],
    ],
    [
      'runs',
      ['attr.end_time', 'run.user_id', 'artifact_uri', 'run_id'],
      [
        o('attribute', 'end_time', true),
        o('attribute', 'user_id', true),
        o('attribute', 'artifact_uri', true),
        o('attribute', 'run_id', true),
      ],
    ],
    ['experiments', ['name'], [o('attribute', 'name', true)]],
    ['experiments', ['experiment_id DESC'], [o('attribute', 'experiment_id', false)]],
    [
      'experiments',
      ['attribute.creation_time desc', 'last_update_time'],
      [o('attribute', 'creation_time', false), o('attribute', 'last_update_time', true)],
    ],
    ['registered_models', ['name DESC'], [o('attribute', 'name', false)]],
    ['registered_models', ['timestamp'], [o('attribute', 'last_updated_timestamp', true)]],
    [
      'registered_models',
      ['creation_timestamp DESC'],
      [o('attribute', 'creation_timestamp', false)],
    ],
    [
      'registered_models',
      ['attribute.last_updated_timestamp'],
      [o('attribute', 'last_updated_timestamp', true)],
    ],
    [
      'model_versions',
      ['version_number DESC', 'name'],
      [o('attribute', 'version_number', false), o('attribute', 'name', true)],
    ],
    [
      'model_versions',
      ['creation_timestamp', 'last_updated_timestamp desc'],
      [o('attribute', 'creation_timestamp', true), o('attribute', 'last_updated_timestamp', false)],
    ],
    [
      'logged_models',
      ['metrics.acc DESC', 'creation_time'],
      [o('metric', 'acc', false), o('attribute', 'creation_timestamp', true)],
    ],
  ];
  it.each(valid)('parses %s order_by %j', (target, orderBy, expected) => {
    expect(parseOrderBy(target, orderBy)).toEqual(expected);
  });

  it('treats a missing or empty order_by as no ordering', () => {
    expect(parseOrderBy('runs', undefined)).toEqual([]);
    expect(parseOrderBy('runs', [])).toEqual([]);
  });

  const invalid: [SearchTarget, string[], RegExp][] = [
    ['runs', [''], /Invalid order_by clause ''\. Could not be parsed/],
    ['runs', ['metrics.a DESC extra'], /Invalid order_by clause 'metrics\.a DESC extra'/],
    [
      'runs',
      ['metrics.a DOWN'],
      /Invalid ordering key in order_by clause 'metrics\.a DOWN'.*'DOWN'/,
    ],
    ['runs', ['metrics.a 1'], /Could not be parsed/],
    ['runs', ['foo.a'], /Invalid entity type 'foo'/],
    [
      'runs',
      ['bogus'],
      /Invalid order_by key 'bogus' specified for runs.*'start_time'.*metrics\.<name>/,
    ],
    ['runs', ['`run name`'], /Invalid order_by key 'run name'/],
    ['runs', ['datasets.name'], /Invalid order_by entity 'dataset'/],
    [
      'runs',
      ['metrics.a', 'metrics.a DESC'],
      /`order_by` contains duplicate fields.*'metrics\.a' appears twice/,
    ],
    ['runs', ['created', 'start_time'], /duplicate fields.*'start_time' appears twice/],
    [
      'experiments',
      ['tags.a'],
      /Invalid order_by entity 'tag'.*experiments can only be ordered by/,
    ],
    ['experiments', ['attributes.name'], /Invalid entity type 'attributes'/],
    [
      'experiments',
      ['creation_timestamp'],
      /Invalid order_by key 'creation_timestamp'.*'creation_time'/,
    ],
    ['registered_models', ['tags.a'], /Invalid order_by entity 'tag'/],
    ['registered_models', ['version_number'], /Invalid order_by key 'version_number'/],
    ['registered_models', ['timestamp', 'last_updated_timestamp DESC'], /duplicate fields/],
    ['model_versions', ['name', 'name DESC'], /duplicate fields/],
    ['model_versions', ['run_id'], /Invalid order_by key 'run_id'/],
    [
      'logged_models',
      ['params.a'],
      /Invalid order by field name: params, only `metrics\.<name>` is allowed/,
    ],
    ['logged_models', ['run_id'], /Invalid order_by key 'run_id'/],
  ];
  it.each(invalid)('rejects %s order_by %j', (target, orderBy, message) => {
    expectInvalid(() => parseOrderBy(target, orderBy), message);
  });
});

describe('parseLoggedModelOrderBy', () => {
  it('parses metric and attribute fields with datasets and defaults to ascending', () => {
    expect(
      parseLoggedModelOrderBy([
        { field_name: 'metrics.acc', ascending: false, dataset_name: 'eval', dataset_digest: 'd1' },
        { field_name: 'creation_time' },
        { field_name: 'name', ascending: true },
      ]),
    ).toEqual([
      { kind: 'metric', key: 'acc', ascending: false, datasetName: 'eval', datasetDigest: 'd1' },
      { kind: 'attribute', key: 'creation_timestamp', ascending: true },
      { kind: 'attribute', key: 'name', ascending: true },
    ]);
    expect(parseLoggedModelOrderBy(undefined)).toEqual([]);
  });

  const invalid: [Parameters<typeof parseLoggedModelOrderBy>[0], RegExp][] = [
    [[{}], /`field_name` in the `order_by` clause must be specified/],
    [[{ field_name: 'params.a' }], /Invalid order by field name: params, only `metrics\.<name>`/],
    [[{ field_name: 'bogus' }], /Invalid order by field name: bogus\./],
    [[{ field_name: 'metrics.' }], /Invalid order by field name: metrics\./],
    [
      [{ field_name: 'metrics.a', dataset_digest: 'd' }],
      /`dataset_digest` can only be specified if `dataset_name` is also specified/,
    ],
  ];
  it.each(invalid)('rejects %j', (orderBy, message) => {
    expectInvalid(() => parseLoggedModelOrderBy(orderBy), message);
  });
});

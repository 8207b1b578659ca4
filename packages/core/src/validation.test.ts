import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_RESULTS,
  InvalidParameterError,
  MAX_ENTITY_KEY_LENGTH,
  MAX_EXPERIMENT_NAME_LENGTH,
  MAX_EXPERIMENT_TAG_VAL_LENGTH,
  MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH,
  MAX_PARAM_VAL_LENGTH,
  MAX_RESULTS_LIMITS,
  MAX_TAG_VAL_LENGTH,
  normalizePosixPath,
  validateAlias,
  validateEntityKey,
  validateExperimentId,
  validateExperimentName,
  validateExperimentTag,
  validateLogBatch,
  validateLogBatchRequestSize,
  validateMaxResults,
  validateMetric,
  validateModelName,
  validateModelVersion,
  validateParam,
  validateRegistryTag,
  validateRunId,
  validateTag,
  type MetricInput,
  type SearchTarget,
} from '@modelyard/core';

function expectInvalid(run: () => unknown, message: RegExp): InvalidParameterError {
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
  return error;
}

const metric = (overrides: Partial<MetricInput> = {}): MetricInput => ({
  key: 'loss',
  value: 0.5,
  timestamp: 1_700_000_000_000,
  step: 0,
  ...overrides,
});

describe('limits', () => {
  it('match MLflow 3', () => {
    expect(MAX_PARAM_VAL_LENGTH).toBe(6000);
    expect(MAX_TAG_VAL_LENGTH).toBe(8000);
    expect(MAX_ENTITY_KEY_LENGTH).toBe(250);
    expect(MAX_EXPERIMENT_NAME_LENGTH).toBe(500);
    expect(MAX_RESULTS_LIMITS).toMatchObject({
      runs: 50_000,
      experiments: 50_000,
      registered_models: 1000,
      model_versions: 200_000,
    });
    expect(DEFAULT_MAX_RESULTS).toMatchObject({ runs: 1000, registered_models: 100 });
  });
});

describe('normalizePosixPath', () => {
  it.each([
    ['', '.'],
    ['a', 'a'],
    ['a/b', 'a/b'],
    ['a//b', 'a/b'],
    ['a/./b', 'a/b'],
    ['a/../b', 'b'],
    ['../a', '../a'],
    ['a/..', '.'],
    ['/a/../..', '/'],
    ['//a', '//a'],
    ['///a', '/a'],
    ['a/', 'a'],
    ['../../a/..', '../..'],
  ])('normalises %j to %j as Python posixpath does', (input, expected) => {
    expect(normalizePosixPath(input)).toBe(expected);
  });
});

describe('validateEntityKey', () => {
  it.each(['loss', 'train/loss', 'a.b-c_d', 'with space', 'épsilon', 'ns:key', 'a..b', 'x1'])(
    'accepts %j',
    (key) => {
      expect(() => {
        validateEntityKey(key);
      }).not.toThrow();
    },
  );

  it.each<[unknown, RegExp]>([
    ['bad*key', /Invalid value "bad\*key" for parameter 'key' supplied: Names may only contain/],
    ['a\\b', /Names may only contain/],
    ['tab\there', /Names may only contain/],
    ['', /This name would resolve to '\.'/],
    ['.', /would resolve to '\.'/],
    ['..', /would resolve to '\.\.'/],
    ['../escape', /would resolve to '\.\.\/escape'/],
    ['/abs', /would resolve to '\/abs'/],
    ['a//b', /would resolve to 'a\/b'/],
    ['a/./b', /would resolve to 'a\/b'/],
    ['a/', /would resolve to 'a'/],
    [undefined, /Missing value for required parameter 'key'/],
    [null, /Missing value for required parameter 'key'/],
    [3, /Invalid value 3 for parameter 'key' supplied: Names must be strings/],
  ])('rejects %j', (key, message) => {
    expectInvalid(() => {
      validateEntityKey(key);
    }, message);
  });
});

describe('validateMetric', () => {
  it.each<[string, MetricInput]>([
    ['a plain metric', metric()],
    ['NaN', metric({ value: Number.NaN })],
    ['Infinity', metric({ value: Number.POSITIVE_INFINITY })],
    ['-Infinity', metric({ value: Number.NEGATIVE_INFINITY })],
    ['a negative step', metric({ step: -3 })],
    ['a zero timestamp', metric({ timestamp: 0 })],
    ['a key of the maximum length', metric({ key: 'k'.repeat(MAX_ENTITY_KEY_LENGTH) })],
  ])('accepts %s', (_name, m) => {
    expect(() => {
      validateMetric(m);
    }).not.toThrow();
  });

  it.each<[string, MetricInput, RegExp]>([
    [
      'a string value',
      metric({ value: '1' }),
      /'metrics\[0\]\.value' supplied: metric 'loss'.*valid double/,
    ],
    [
      'a boolean value',
      metric({ value: true }),
      /Invalid value true for parameter 'metrics\[0\]\.value'/,
    ],
    [
      'a missing value',
      metric({ value: undefined }),
      /Missing value for required parameter 'metrics\[0\]\.value'/,
    ],
    [
      'a negative timestamp',
      metric({ timestamp: -1 }),
      /Invalid value -1 for parameter 'metrics\[0\]\.timestamp'.*nonnegative long/,
    ],
    ['a fractional timestamp', metric({ timestamp: 1.5 }), /'metrics\[0\]\.timestamp'/],
    ['a string timestamp', metric({ timestamp: '5' }), /'metrics\[0\]\.timestamp'/],
    [
      'a fractional step',
      metric({ step: 0.5 }),
      /Invalid value 0\.5 for parameter 'metrics\[0\]\.step'.*valid long/,
    ],
    ['a bad key', metric({ key: 'a*b' }), /'metrics\[0\]\.key'/],
    [
      'a long key',
      metric({ key: 'k'.repeat(251) }),
      /'metrics\[0\]\.key' exceeds the maximum length of 250 characters/,
    ],
  ])('rejects %s', (_name, m, message) => {
    expectInvalid(() => {
      validateMetric(m, 'metrics[0]');
    }, message);
  });
});

describe('validateParam and validateTag', () => {
  it('accept values up to their limits', () => {
    expect(
      validateParam({ key: 'lr', value: 'v'.repeat(MAX_PARAM_VAL_LENGTH) }).value,
    ).toHaveLength(MAX_PARAM_VAL_LENGTH);
    expect(validateTag({ key: 't', value: 'v'.repeat(MAX_TAG_VAL_LENGTH) }).value).toHaveLength(
      MAX_TAG_VAL_LENGTH,
    );
    expect(validateTag({ key: 't', value: '' })).toEqual({ key: 't', value: '' });
  });

  it('reject a param value over 6000 characters naming the key and a shortened value', () => {
    const error = expectInvalid(
      () => validateParam({ key: 'lr', value: 'x'.repeat(6001) }, 'params[1]'),
      /'params\[1\]\.value' exceeds the maximum length of 6000 characters: the value of param 'lr' has 6001 characters, "x{250}"…$/,
    );
    expect(error.message.length).toBeLessThan(500);
  });

  it('truncate long values instead when asked, as MLFLOW_TRUNCATE_LONG_VALUES does', () => {
    expect(
      validateParam({ key: 'lr', value: 'x'.repeat(7000) }, '', { truncateLongValues: true }).value,
    ).toHaveLength(MAX_PARAM_VAL_LENGTH);
    expect(
      validateTag({ key: 't', value: 'y'.repeat(9000) }, '', { truncateLongValues: true }).value,
    ).toHaveLength(MAX_TAG_VAL_LENGTH);
  });

  it('never truncate keys', () => {
    expectInvalid(
      () => validateParam({ key: 'k'.repeat(251), value: 'v' }, '', { truncateLongValues: true }),
      /'key' exceeds the maximum length of 250/,
    );
  });

  it.each<[string, () => unknown, RegExp]>([
    [
      'a tag over 8000 characters',
      () => validateTag({ key: 't', value: 'v'.repeat(8001) }),
      /'value' exceeds the maximum length of 8000 characters: the value of tag 't' has 8001/,
    ],
    [
      'a param without a value',
      () => validateParam({ key: 'lr', value: undefined }),
      /Missing value for required parameter 'value'/,
    ],
    [
      'a param with a numeric value',
      () => validateParam({ key: 'lr', value: 1 }),
      /Invalid value 1 for parameter 'value' supplied: Values must be strings/,
    ],
    [
      'a tag with a path-escaping key',
      () => validateTag({ key: '../x', value: 'v' }, 'tags[0]'),
      /'tags\[0\]\.key'.*would resolve to '\.\.\/x'/,
    ],
    [
      'an experiment tag over 5000 characters',
      () =>
        validateExperimentTag({ key: 't', value: 'v'.repeat(MAX_EXPERIMENT_TAG_VAL_LENGTH + 1) }),
      /exceeds the maximum length of 5000/,
    ],
    [
      'a registry tag over 5000 characters',
      () =>
        validateRegistryTag({
          key: 't',
          value: 'v'.repeat(MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH + 1),
        }),
      /exceeds the maximum length of 5000/,
    ],
    [
      'a registry tag without a value',
      () => validateRegistryTag({ key: 't', value: null }),
      /Missing value for required parameter 'value'/,
    ],
  ])('reject %s', (_name, run, message) => {
    expectInvalid(run, message);
  });
});

describe('validateLogBatch', () => {
  const many = <T>(n: number, make: (i: number) => T): T[] =>
    Array.from({ length: n }, (_, i) => make(i));
  const param = (i: number) => ({ key: `p${i}`, value: 'v' });
  const tag = (i: number) => ({ key: `t${i}`, value: 'v' });
  const m = (i: number) => metric({ key: `m${i}` });

  it('accepts a batch at every limit', () => {
    const result = validateLogBatch({
      metrics: many(800, m),
      params: many(100, param),
      tags: many(100, tag),
    });
    expect(result.params).toHaveLength(100);
    expect(result.tags).toHaveLength(100);
  });

  it('accepts an empty batch', () => {
    expect(validateLogBatch({ metrics: [], params: [], tags: [] })).toEqual({
      params: [],
      tags: [],
    });
  });

  it.each<[string, Parameters<typeof validateLogBatch>[0], RegExp]>([
    [
      '1001 metrics',
      { metrics: many(1001, m), params: [], tags: [] },
      /A batch logging request can contain at most 1000 metrics\. Got 1001 metrics\. Please split up metrics/,
    ],
    [
      '101 params',
      { metrics: [], params: many(101, param), tags: [] },
      /at most 100 params\. Got 101 params/,
    ],
    [
      '101 tags',
      { metrics: [], params: [], tags: many(101, tag) },
      /at most 100 tags\. Got 101 tags/,
    ],
    [
      '1001 entities in all',
      { metrics: many(901, m), params: many(100, param), tags: [] },
      /at most 1000 metrics, params, and tags\. Got 1001/,
    ],
    [
      'a bad metric, by index',
      { metrics: [m(0), metric({ value: 'x' })], params: [], tags: [] },
      /'metrics\[1\]\.value'/,
    ],
    [
      'a bad param, by index',
      { metrics: [], params: [param(0), { key: 'a*', value: 'v' }], tags: [] },
      /'params\[1\]\.key'/,
    ],
    [
      'a bad tag, by index',
      { metrics: [], params: [], tags: [{ key: 't', value: 'v'.repeat(8001) }] },
      /'tags\[0\]\.value' exceeds the maximum length of 8000/,
    ],
    [
      'a param key given twice',
      { metrics: [], params: [param(1), param(2), param(1)], tags: [] },
      /Duplicate parameter keys have been submitted: \['p1'\]/,
    ],
  ])('rejects %s', (_name, batch, message) => {
    expectInvalid(() => validateLogBatch(batch), message);
  });

  it('checks the request size', () => {
    expect(() => {
      validateLogBatchRequestSize(1_000_000);
    }).not.toThrow();
    expectInvalid(() => {
      validateLogBatchRequestSize(1_000_001);
    }, /at most 1000000 bytes, got a request of size 1000001/);
  });
});

describe('names and ids', () => {
  it('accepts good experiment names, run ids, experiment ids and model names', () => {
    expect(() => {
      validateExperimentName('my experiment/with: anything *');
      validateExperimentName('n'.repeat(500));
      validateRunId('0a1b2c3d4e5f');
      validateRunId('run_id-1');
      validateExperimentId('0');
      validateExperimentId('123456789');
      validateModelName('My Model v2.1');
    }).not.toThrow();
    expect(validateModelVersion('3')).toBe(3);
    expect(validateModelVersion(7)).toBe(7);
  });

  it.each<[string, () => unknown, RegExp]>([
    [
      'an empty experiment name',
      () => {
        validateExperimentName('');
      },
      /Invalid experiment name: ''/,
    ],
    [
      'a missing experiment name',
      () => {
        validateExperimentName(undefined);
      },
      /Invalid experiment name/,
    ],
    [
      'a numeric experiment name',
      () => {
        validateExperimentName(5);
      },
      /Invalid experiment name: 5\. Expects a string/,
    ],
    [
      'a 501-character experiment name',
      () => {
        validateExperimentName('n'.repeat(501));
      },
      /'name' exceeds the maximum length of 500 characters/,
    ],
    [
      'a run id starting with a dash',
      () => {
        validateRunId('-abc');
      },
      /Invalid value "-abc" for parameter 'run_id' supplied\./,
    ],
    [
      'a run id with a slash',
      () => {
        validateRunId('a/b');
      },
      /'run_id'/,
    ],
    [
      'a 257-character run id',
      () => {
        validateRunId('a'.repeat(257));
      },
      /'run_id'/,
    ],
    [
      'an experiment id with a space',
      () => {
        validateExperimentId('1 2');
      },
      /Invalid experiment ID: "1 2"/,
    ],
    [
      'an empty model name',
      () => {
        validateModelName('');
      },
      /Missing value for required parameter 'name'/,
    ],
    [
      'a model name with a slash',
      () => {
        validateModelName('a/b');
      },
      /Invalid value "a\/b" for parameter 'name'.*cannot contain '\/'/,
    ],
    [
      'a model name with a colon',
      () => {
        validateModelName('a:b');
      },
      /cannot contain ':'/,
    ],
    [
      'a non-integer version',
      () => validateModelVersion('1.5'),
      /Parameter 'version' must be an integer, got '1\.5'/,
    ],
    ['a word as version', () => validateModelVersion('latest'), /must be an integer, got 'latest'/],
  ])('rejects %s', (_name, run, message) => {
    expectInvalid(run, message);
  });
});

describe('validateAlias', () => {
  it.each(['champion', 'Challenger_2', 'a-b', 'v', 'v1a', 'latest1', 'x'.repeat(255)])(
    'accepts %j',
    (alias) => {
      expect(() => {
        validateAlias(alias);
      }).not.toThrow();
    },
  );

  it.each<[unknown, RegExp]>([
    ['', /Registered model alias name cannot be empty/],
    [undefined, /cannot be empty/],
    ['latest', /'latest' alias name \(case insensitive\) is reserved/],
    ['LaTeSt', /'latest' alias name/],
    ['v1', /Version alias name 'v1' is reserved/],
    ['V42', /Version alias name 'V42' is reserved/],
    [
      'has space',
      /Invalid alias name: "has space"\. Names may only contain alphanumerics, underscores \(_\), and dashes \(-\)/,
    ],
    ['a.b', /Invalid alias name/],
    ['x'.repeat(256), /'alias' exceeds the maximum length of 255 characters/],
  ])('rejects %j', (alias, message) => {
    expectInvalid(() => {
      validateAlias(alias);
    }, message);
  });
});

describe('validateMaxResults', () => {
  const targets = Object.keys(MAX_RESULTS_LIMITS) as SearchTarget[];

  it.each(targets)('accepts 1, the default and the limit for %s', (target) => {
    expect(() => {
      validateMaxResults(target, 1);
      validateMaxResults(target, DEFAULT_MAX_RESULTS[target]);
      validateMaxResults(target, MAX_RESULTS_LIMITS[target]);
    }).not.toThrow();
  });

  it.each(targets)('rejects one over the limit for %s, naming both', (target) => {
    const limit = MAX_RESULTS_LIMITS[target];
    expectInvalid(
      () => {
        validateMaxResults(target, limit + 1);
      },
      new RegExp(`It must be at most ${limit}, but got value ${limit + 1}`),
    );
  });

  it('accepts 0 for runs only, as MLflow does', () => {
    expect(() => {
      validateMaxResults('runs', 0);
    }).not.toThrow();
    expectInvalid(() => {
      validateMaxResults('experiments', 0);
    }, /must be a positive integer, but got 0/);
  });

  it.each<[unknown]>([[-1], [1.5], ['10'], [Number.NaN]])('rejects %j', (value) => {
    expectInvalid(() => {
      validateMaxResults('registered_models', value);
    }, /Invalid value for max_results/);
  });
});

import { describe, expect, it } from 'vitest';
import type { Run } from '@modelyard/core';
import {
  columnValue,
  compareValues,
  formatDuration,
  formatValue,
  parseColumn,
} from '../src/format.js';

const run: Run = {
  info: {
    runId: 'r1',
    runName: 'one',
    experimentId: '1',
    userId: 'ana',
    status: 'FINISHED',
    startTime: 1000,
    endTime: 5000,
    artifactUri: '',
    lifecycleStage: 'active',
  },
  data: {
    metrics: [{ key: 'rmse', value: 0.5, step: 3, timestamp: 1 }],
    params: [{ key: 'model.name', value: 'xgb' }],
    tags: [{ key: 'team', value: 'growth' }],
  },
  inputs: { datasetInputs: [], modelInputs: [] },
  outputs: { modelOutputs: [] },
};

describe('runs table columns', () => {
  it('parses a column id into its kind and key, keeping dots in the key', () => {
    expect(parseColumn('params.model.name')).toEqual({
      kind: 'params',
      key: 'model.name',
      id: 'params.model.name',
    });
    expect(parseColumn('attributes.status')).toBeUndefined();
    expect(parseColumn('metrics.')).toBeUndefined();
    expect(parseColumn('rmse')).toBeUndefined();
  });

  it('reads a run value for a metric, param or tag column', () => {
    expect(columnValue(run, { kind: 'metrics', key: 'rmse', id: 'metrics.rmse' })).toBe(0.5);
    expect(columnValue(run, { kind: 'params', key: 'model.name', id: 'params.model.name' })).toBe(
      'xgb',
    );
    expect(columnValue(run, { kind: 'tags', key: 'team', id: 'tags.team' })).toBe('growth');
    expect(columnValue(run, { kind: 'tags', key: 'none', id: 'tags.none' })).toBeUndefined();
  });

  it('sorts numbers and numeric strings by value, other strings by text, absent values last', () => {
    const values = ['10', undefined, '9', 'b', 'a', 2];
    expect([...values].sort(compareValues)).toEqual([2, '9', '10', 'a', 'b', undefined]);
  });
});

describe('formatting', () => {
  it('writes durations in seconds, minutes or hours', () => {
    expect(formatDuration(1000, 6500)).toBe('5.5s');
    expect(formatDuration(0, 6500)).toBe('—');
    expect(formatDuration(0 + 1, 1 + 125_000)).toBe('2m 5s');
    expect(formatDuration(1, 1 + 3_780_000)).toBe('1h 3m');
  });

  it('writes metric values with six significant digits and non-finite values by name', () => {
    expect(formatValue(0.123456789)).toBe('0.123457');
    expect(formatValue(3)).toBe('3');
    expect(formatValue(0.5)).toBe('0.5');
    expect(formatValue(Number.NaN)).toBe('NaN');
    expect(formatValue(-Infinity)).toBe('-Infinity');
  });
});

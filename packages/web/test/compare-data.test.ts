import { describe, expect, it } from 'vitest';
import type { Run } from '@modelyard/core';
import { diffRows, parallelData, runLabels } from '../src/compare-data.js';

function run(
  runId: string,
  runName: string,
  params: Record<string, string>,
  metrics: Record<string, number> = {},
  tags: Record<string, string> = {},
): Run {
  return {
    info: {
      runId,
      runName,
      experimentId: '1',
      userId: '',
      status: 'FINISHED',
      startTime: 1,
      endTime: 2,
      artifactUri: '',
      lifecycleStage: 'active',
    },
    data: {
      metrics: Object.entries(metrics).map(([key, value]) => ({
        key,
        value,
        step: 0,
        timestamp: 0,
      })),
      params: Object.entries(params).map(([key, value]) => ({ key, value })),
      tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
    },
    inputs: { datasetInputs: [], modelInputs: [] },
    outputs: { modelOutputs: [] },
  };
}

const runs = [
  run('aaaaaaa1', 'base', { lr: '0.1', model: 'xgb', seed: '1' }, { rmse: 0.4 }, { team: 'a' }),
  run('bbbbbbb2', 'base', { lr: '0.01', model: 'xgb', seed: '1' }, { rmse: 0.3 }, { team: 'a' }),
  run('ccccccc3', '', { lr: '0.05', model: 'mlp' }, {}, { 'mlflow.user': 'x', team: 'b' }),
];

describe('compare page data', () => {
  it('labels runs by name, telling apart runs that share one', () => {
    expect(runLabels(runs)).toEqual(['base (aaaaaaa)', 'base (bbbbbbb)', 'ccccccc3']);
  });

  it('puts params side by side and marks the keys whose values differ or are missing', () => {
    expect(diffRows(runs, 'params')).toEqual([
      { key: 'lr', values: ['0.1', '0.01', '0.05'], differs: true },
      { key: 'model', values: ['xgb', 'xgb', 'mlp'], differs: true },
      { key: 'seed', values: ['1', '1', undefined], differs: true },
    ]);
    expect(diffRows(runs.slice(0, 2), 'params').map((r) => [r.key, r.differs])).toEqual([
      ['lr', true],
      ['model', false],
      ['seed', false],
    ]);
  });

  it("leaves MLflow's own tags out unless asked", () => {
    expect(diffRows(runs, 'tags').map((r) => r.key)).toEqual(['team']);
    expect(diffRows(runs, 'tags', true).map((r) => r.key)).toEqual(['mlflow.user', 'team']);
  });

  it('builds value axes for numeric params, category axes for others, the metric last', () => {
    const { axes, values } = parallelData(runs, 'rmse');
    expect(axes).toEqual([
      { name: 'lr', type: 'value' },
      { name: 'model', type: 'category', categories: ['mlp', 'xgb'] },
      { name: 'seed', type: 'value' },
      { name: 'rmse', type: 'value' },
    ]);
    expect(values).toEqual([
      [0.1, 'xgb', 1, 0.4],
      [0.01, 'xgb', 1, 0.3],
      [0.05, 'mlp', null, null],
    ]);
  });
});

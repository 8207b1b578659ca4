/**
 * The churn pipeline: load the committed data set, split it, train a logistic regression,
 * evaluate it, export it to ONNX as an MLflow model, register the version, and move the
 * `champion` alias to it when it beats the current champion's test AUC.
 *
 * ```sh
 * npx yard run examples/churn-pipeline/src/pipeline.ts --param seed=42
 * npx yard deployments create churn --model models:/churn@champion --wait
 * ```
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { defineParams, pipeline, step } from '@modelyard/pipelines';
import { loadChurnTable, stratifiedSplit } from './dataset.js';
import type { Table } from './dataset.js';
import { beatsChampion, evaluate } from './evaluate.js';
import { writeMlflowModel } from './onnx-export.js';
import { predictProba, train } from './train.js';

const params = defineParams({
  /** The CSV to train on; default: the committed data set. */
  data: Type.Optional(Type.String()),
  seed: Type.Integer({ default: 42 }),
  testFraction: Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.2 }),
  model: Type.String({ default: 'churn' }),
  alias: Type.String({ default: 'champion' }),
});

/** A table as a step output: JSON with its typed arrays. */
function plain(table: Table): Table {
  return { ...table, featureNames: [...table.featureNames] };
}

const load = step('load', { params }, async (_inputs, ctx) => {
  const table = await loadChurnTable(ctx.params.data);
  ctx.log.info(`loaded ${String(table.rowCount)} customers`);
  return plain(table);
});

const split = step('split', { params, inputs: { table: load } }, ({ table }, ctx) => {
  const { train: trainSet, test } = stratifiedSplit(table, {
    seed: ctx.params.seed,
    testFraction: ctx.params.testFraction,
  });
  return { train: plain(trainSet), test: plain(test) };
});

const model = step('train', { inputs: { split }, retries: 1, timeout: '10m' }, ({ split }) => {
  const trained = train(split.train);
  return { ...trained, featureNames: [...trained.featureNames] };
});

const metrics = step('evaluate', { inputs: { split, model } }, ({ split, model }, ctx) => {
  const result = evaluate(split.test.labels, predictProba(model, split.test.features));
  for (const [key, value] of Object.entries(result) as [string, number][]) {
    ctx.log.metric(`test_${key}`, value);
  }
  return result;
});

const registered = step(
  'register',
  { params, inputs: { model, metrics }, cache: false },
  async ({ model, metrics }, ctx) => {
    const dir = await mkdtemp(join(tmpdir(), 'churn-model-'));
    await writeMlflowModel(model, join(dir, 'model'));
    const name = ctx.params.model;
    const version = await ctx.models.register(name, join(dir, 'model'), {
      description: `logistic regression, test AUC ${metrics.roc_auc.toFixed(4)}`,
    });
    ctx.log.metric('test_roc_auc', metrics.roc_auc);
    const championVersion = await ctx.models.versionByAlias(name, ctx.params.alias);
    let champion: { roc_auc: number } | undefined;
    if (championVersion !== undefined) {
      const championRun = (await ctx.client.modelVersions.get(name, championVersion)).runId;
      const auc = (await ctx.client.runs.get(championRun)).data.metrics.find(
        (m) => m.key === 'test_roc_auc',
      )?.value;
      champion = auc === undefined ? undefined : { roc_auc: auc };
    }
    const promoted = beatsChampion(metrics, champion);
    if (promoted) await ctx.models.setAlias(name, ctx.params.alias, version);
    ctx.log.info(
      promoted
        ? `version ${version} is the new ${ctx.params.alias}`
        : `version ${version} does not beat the ${ctx.params.alias} (version ${String(championVersion)})`,
    );
    return { model: name, version, promoted };
  },
);

export default pipeline('churn', {
  params,
  description: 'Train, evaluate, export to ONNX and register a churn classifier.',
  steps: [load, split, model, metrics, registered],
});

// The UI benchmark's data, written through MLflow's REST API 2.0 so that `yard server` and the
// MLflow tracking server hold exactly the same experiments, runs, params, metrics and tags.
import { log } from '../lib/report.mjs';

/**
 * @typedef {object} UiSizes
 * @property {number} tableRuns      runs in the table experiment (issue: 10,000)
 * @property {number} chartRuns      runs with a long metric (issue: 10)
 * @property {number} chartSteps     points of that metric per run (issue: 100,000)
 * @property {number} wideKeys       metric keys of the wide run (issue: 1,000)
 * @property {number} concurrency    requests in flight while loading
 */

/** The table's 30 columns: 10 params, 10 metrics, 10 tags. */
export const COLUMNS = {
  params: Array.from({ length: 10 }, (_, i) => `p${i}`),
  metrics: Array.from({ length: 10 }, (_, i) => `m${i}`),
  tags: Array.from({ length: 10 }, (_, i) => `t${i}`),
};

/** The metric the chart runs log. */
export const CHART_METRIC = 'loss';

/**
 * @typedef {object} UiData
 * @property {string} tableExperimentId
 * @property {string} firstRunName     the run the table shows first (newest start time)
 * @property {string} lastRunName      the run at the end of the table
 * @property {string} chartExperimentId
 * @property {string[]} chartRunIds
 * @property {string} wideExperimentId
 * @property {string} wideRunId
 * @property {number} loadSeconds
 */

/**
 * Runs `n` jobs with at most `concurrency` in flight, reporting progress every 10%.
 * @param {number} n
 * @param {number} concurrency
 * @param {string} label
 * @param {(i: number) => Promise<void>} job
 */
async function pool(n, concurrency, label, job) {
  let next = 0;
  let done = 0;
  let reported = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) {
        const i = next++;
        await job(i);
        done++;
        if (done * 10 >= (reported + 1) * n) {
          reported = Math.floor((done * 10) / n);
          log(`  ${label}: ${done}/${n}`);
        }
      }
    }),
  );
}

/** @param {number} i */
const runName = (i) => `run-${String(i).padStart(5, '0')}`;

/**
 * Writes the benchmark's data into a fresh server.
 * @param {import('../lib/http-client.mjs').JsonClient} client
 * @param {UiSizes} sizes
 * @returns {Promise<UiData>}
 */
export async function loadData(client, sizes) {
  const t0 = performance.now();
  const base = Date.UTC(2026, 0, 1);
  const table = await client.post('/api/2.0/mlflow/experiments/create', { name: 'ui-bench-table' });
  const tableExperimentId = String(table.experiment_id);
  await pool(sizes.tableRuns, sizes.concurrency, 'table runs', async (i) => {
    const created = await client.post('/api/2.0/mlflow/runs/create', {
      experiment_id: tableExperimentId,
      run_name: runName(i),
      start_time: base + i * 1000,
    });
    const runId = created.run.info.run_id;
    await client.post('/api/2.0/mlflow/runs/log-batch', {
      run_id: runId,
      params: COLUMNS.params.map((key, k) => ({ key, value: `v${(i * 7 + k) % 13}` })),
      metrics: COLUMNS.metrics.map((key, k) => ({
        key,
        value: Math.sin(i * 0.37 + k),
        timestamp: base + i * 1000,
        step: 0,
      })),
      tags: COLUMNS.tags.map((key, k) => ({ key, value: `tag-${(i + k) % 17}` })),
    });
    await client.post('/api/2.0/mlflow/runs/update', {
      run_id: runId,
      status: 'FINISHED',
      end_time: base + i * 1000 + 500,
    });
  });

  const charts = await client.post('/api/2.0/mlflow/experiments/create', {
    name: 'ui-bench-charts',
  });
  const chartExperimentId = String(charts.experiment_id);
  /** @type {string[]} */
  const chartRunIds = [];
  for (let r = 0; r < sizes.chartRuns; r++) {
    const created = await client.post('/api/2.0/mlflow/runs/create', {
      experiment_id: chartExperimentId,
      run_name: `curve-${r}`,
      start_time: base + r,
    });
    chartRunIds.push(created.run.info.run_id);
  }
  const perBatch = 1000;
  const batchesPerRun = Math.ceil(sizes.chartSteps / perBatch);
  await pool(sizes.chartRuns * batchesPerRun, sizes.concurrency, 'chart points', async (j) => {
    const r = Math.floor(j / batchesPerRun);
    const from = (j % batchesPerRun) * perBatch;
    const to = Math.min(sizes.chartSteps, from + perBatch);
    const metrics = [];
    for (let step = from; step < to; step++) {
      const decay = Math.exp(-step / (sizes.chartSteps / 4));
      metrics.push({
        key: CHART_METRIC,
        value: 0.1 + r * 0.02 + decay + 0.05 * Math.sin(step / 50 + r),
        timestamp: base + step * 10,
        step,
      });
    }
    await client.post('/api/2.0/mlflow/runs/log-batch', { run_id: chartRunIds[r], metrics });
  });

  // The wide run has an experiment of its own, so the chart experiment holds only the curves.
  const wideExperiment = await client.post('/api/2.0/mlflow/experiments/create', {
    name: 'ui-bench-wide',
  });
  const wideExperimentId = String(wideExperiment.experiment_id);
  const wide = await client.post('/api/2.0/mlflow/runs/create', {
    experiment_id: wideExperimentId,
    run_name: 'wide',
    start_time: base + 100,
  });
  const wideRunId = wide.run.info.run_id;
  for (let from = 0; from < sizes.wideKeys; from += perBatch) {
    const keys = Math.min(perBatch, sizes.wideKeys - from);
    await client.post('/api/2.0/mlflow/runs/log-batch', {
      run_id: wideRunId,
      metrics: Array.from({ length: keys }, (_, k) => ({
        key: `k${String(from + k).padStart(4, '0')}`,
        value: (from + k) / sizes.wideKeys,
        timestamp: base,
        step: 0,
      })),
    });
  }
  return {
    tableExperimentId,
    firstRunName: runName(sizes.tableRuns - 1),
    lastRunName: runName(0),
    chartExperimentId,
    chartRunIds,
    wideExperimentId,
    wideRunId,
    loadSeconds: Math.round((performance.now() - t0) / 100) / 10,
  };
}

// The tracking workloads (a)-(d), driven through the MLflow REST API 2.0 so that the same
// requests go to MLflow and to `yard server`.
import { log } from '../lib/report.mjs';
import { closedLoop, median, percentile, pool, round, seededRandom } from '../lib/stats.mjs';

const API = '/api/2.0/mlflow';

/** A fixed base timestamp (ms) so that both servers receive byte-identical data. */
const BASE_TS = 1_700_000_000_000;

/**
 * @typedef {object} Sizes
 * @property {number} rounds          timed rounds per workload; figures are medians over rounds
 * @property {number} roundSeconds    minimum length of one timed round
 * @property {number} batchMaxCalls   cap on log-batch calls in one round (a)
 * @property {number} clients         concurrent closed-loop clients for log-metric (b)
 * @property {number} searchRuns      runs populated for runs/search (c)
 * @property {number} searchMetrics   metrics per run (c)
 * @property {number} searchParams    params per run (c)
 * @property {number} historySteps    steps of the long metric (d)
 * @property {number} populateConcurrency  requests in flight while populating
 */

/** The search of workload (c). */
export const SEARCH_QUERY = {
  filter: "metrics.m3 > 0.5 and params.p1 = 'a'",
  order_by: ['metrics.m7 DESC'],
  max_results: 1000,
};

/** Values a param may take in workload (c). */
const PARAM_VALUES = ['a', 'b', 'c', 'd'];

/**
 * Summarizes timed rounds: median throughput over rounds, latency percentiles over all calls.
 * @param {import('../lib/stats.mjs').LoopResult[]} rounds
 */
function summarize(rounds) {
  const all = rounds.flatMap((r) => r.latenciesMs);
  return {
    callsPerSec: round(median(rounds.map((r) => r.calls / r.seconds))),
    p50Ms: round(percentile(all, 50)),
    p99Ms: round(percentile(all, 99)),
    calls: all.length,
    rounds: rounds.map((r) => ({ calls: r.calls, seconds: round(r.seconds) })),
  };
}

/**
 * Creates an experiment and returns its id.
 * @param {import('../lib/http-client.mjs').JsonClient} client
 * @param {string} name
 * @returns {Promise<string>}
 */
async function createExperiment(client, name) {
  const res = await client.post(`${API}/experiments/create`, { name });
  return String(res.experiment_id);
}

/**
 * Creates a run and returns its id.
 * @param {import('../lib/http-client.mjs').JsonClient} client
 * @param {string} experimentId
 * @param {string} runName
 * @param {number} startTime
 * @returns {Promise<string>}
 */
async function createRun(client, experimentId, runName, startTime) {
  const res = await client.post(`${API}/runs/create`, {
    experiment_id: experimentId,
    run_name: runName,
    start_time: startTime,
  });
  return String(res.run.info.run_id);
}

/**
 * The body of the n-th log-batch call of workload (a): 1,000 metrics over 10 keys, steps unique
 * across calls.
 * @param {string} runId
 * @param {number} n
 * @returns {Buffer}
 */
function batchBody(runId, n) {
  const rand = seededRandom(1000 + n);
  const metrics = [];
  for (let j = 0; j < 1000; j++) {
    const step = n * 100 + Math.floor(j / 10);
    metrics.push({ key: `m${j % 10}`, value: rand(), timestamp: BASE_TS + step, step });
  }
  return Buffer.from(JSON.stringify({ run_id: runId, metrics, params: [], tags: [] }));
}

/**
 * (a) Repeated log-batch calls of 1,000 metrics each from one client.
 * @param {import('../lib/http-client.mjs').JsonClient} client
 * @param {Sizes} sizes
 */
export async function logBatchWorkload(client, sizes) {
  const exp = await createExperiment(client, 'bench-log-batch');
  const warm = await createRun(client, exp, 'warm-up', BASE_TS);
  /** @type {number[]} */
  const warmMs = [];
  for (let n = 0; n < 5; n++) {
    const body = batchBody(warm, n);
    const t = performance.now();
    await client.post(`${API}/runs/log-batch`, body);
    warmMs.push(performance.now() - t);
  }
  // Bodies are serialized before each round, so the timed loop measures the server; the warm-up
  // latency sizes the round (twice the calls it suggests fit in it) so a slow server does not
  // wait for a thousand bodies it will never send.
  const perRound = Math.min(
    sizes.batchMaxCalls,
    Math.ceil(((sizes.roundSeconds * 1000) / Math.max(median(warmMs), 0.1)) * 2) + 3,
  );
  const runId = await createRun(client, exp, 'log-batch', BASE_TS);
  let offset = 0;
  const rounds = [];
  for (let r = 0; r < sizes.rounds; r++) {
    const bodies = Array.from({ length: perRound }, (_, i) => batchBody(runId, offset + i));
    const res = await closedLoop(
      { clients: 1, minSeconds: sizes.roundSeconds, minCalls: 3, maxCalls: perRound },
      async (_c, n) => {
        await client.post(`${API}/runs/log-batch`, /** @type {Buffer} */ (bodies[n]));
      },
    );
    offset += res.calls;
    rounds.push(res);
    log(`  (a) round ${r + 1}: ${res.calls} calls in ${res.seconds.toFixed(2)} s`);
  }
  const s = summarize(rounds);
  return { ...s, metricsPerSec: round(s.callsPerSec * 1000) };
}

/**
 * (b) Single log-metric calls from several concurrent closed-loop clients, each on its own run.
 * @param {import('../lib/http-client.mjs').JsonClient} client
 * @param {Sizes} sizes
 */
export async function logMetricWorkload(client, sizes) {
  const exp = await createExperiment(client, 'bench-log-metric');
  /** @type {string[]} */
  const runs = [];
  for (let c = 0; c < sizes.clients; c++) {
    runs.push(await createRun(client, exp, `client-${c}`, BASE_TS + c));
  }
  let step = 0;
  /** @param {number} c */
  const call = (c) => {
    const s = step++;
    return client.post(`${API}/runs/log-metric`, {
      run_id: runs[c],
      key: 'loss',
      value: 1 / (s + 1),
      timestamp: BASE_TS + s,
      step: s,
    });
  };
  await closedLoop(
    {
      clients: sizes.clients,
      minSeconds: 0,
      minCalls: sizes.clients * 20,
      maxCalls: sizes.clients * 20,
    },
    async (c) => {
      await call(c);
    },
  );
  const rounds = [];
  for (let r = 0; r < sizes.rounds; r++) {
    const res = await closedLoop(
      { clients: sizes.clients, minSeconds: sizes.roundSeconds, minCalls: 100, maxCalls: 1e7 },
      async (c) => {
        await call(c);
      },
    );
    rounds.push(res);
    log(`  (b) round ${r + 1}: ${res.calls} calls in ${res.seconds.toFixed(2)} s`);
  }
  return { clients: sizes.clients, ...summarize(rounds) };
}

/**
 * The data of workload (c), generated once and sent identically to every server.
 * @param {Sizes} sizes
 */
export function makeSearchData(sizes) {
  const rand = seededRandom(42);
  const runs = [];
  for (let i = 0; i < sizes.searchRuns; i++) {
    const metrics = Array.from({ length: sizes.searchMetrics }, () => rand());
    const params = Array.from(
      { length: sizes.searchParams },
      () => /** @type {string} */ (PARAM_VALUES[Math.floor(rand() * PARAM_VALUES.length)]),
    );
    runs.push({
      name: `run-${String(i).padStart(5, '0')}`,
      startTime: BASE_TS + i,
      metrics,
      params,
    });
  }
  // What SEARCH_QUERY must return, computed here: the cross-check for both servers.
  const matching = runs
    .filter((r) => (r.metrics[3] ?? 0) > 0.5 && r.params[1] === 'a')
    .sort((x, y) => (y.metrics[7] ?? 0) - (x.metrics[7] ?? 0));
  return {
    runs,
    expectedTotal: matching.length,
    expectedFirstPage: matching.slice(0, SEARCH_QUERY.max_results).map((r) => r.name),
  };
}

/**
 * (c) Populates the search data through runs/create + log-batch, then times runs/search with a
 * filter and an order_by, and checks the answer against the locally computed expectation.
 * @param {import('../lib/http-client.mjs').JsonClient} client
 * @param {Sizes} sizes
 * @param {ReturnType<typeof makeSearchData>} data
 */
export async function searchWorkload(client, sizes, data) {
  const exp = await createExperiment(client, 'bench-search');
  const t0 = performance.now();
  await pool(
    data.runs.length,
    sizes.populateConcurrency,
    async (i) => {
      const run = /** @type {(typeof data.runs)[number]} */ (data.runs[i]);
      const runId = await createRun(client, exp, run.name, run.startTime);
      await client.post(`${API}/runs/log-batch`, {
        run_id: runId,
        metrics: run.metrics.map((value, k) => ({
          key: `m${k}`,
          value,
          timestamp: run.startTime,
          step: 0,
        })),
        params: run.params.map((value, k) => ({ key: `p${k}`, value })),
        tags: [],
      });
    },
    (done) => log(`  (c) populated ${done}/${data.runs.length} runs`),
  );
  const populateSeconds = (performance.now() - t0) / 1000;
  log(`  (c) populated ${data.runs.length} runs in ${populateSeconds.toFixed(1)} s`);

  const body = Buffer.from(JSON.stringify({ experiment_ids: [exp], ...SEARCH_QUERY }));
  const check = await checkSearch(client, exp, data);
  for (let i = 0; i < 3; i++) await client.post(`${API}/runs/search`, body);
  const rounds = [];
  for (let r = 0; r < sizes.rounds; r++) {
    const res = await closedLoop(
      { clients: 1, minSeconds: sizes.roundSeconds, minCalls: 3, maxCalls: 1e6 },
      async () => {
        await client.post(`${API}/runs/search`, body);
      },
    );
    rounds.push(res);
    log(`  (c) round ${r + 1}: ${res.calls} searches in ${res.seconds.toFixed(2)} s`);
  }
  const s = summarize(rounds);
  return {
    runs: data.runs.length,
    populateSeconds: round(populateSeconds),
    msPerQuery: s.p50Ms,
    queriesPerSec: s.callsPerSec,
    p99Ms: s.p99Ms,
    calls: s.calls,
    rounds: s.rounds,
    check,
  };
}

/**
 * Pages through the whole search answer once and compares it with the expectation.
 * @param {import('../lib/http-client.mjs').JsonClient} client
 * @param {string} exp
 * @param {ReturnType<typeof makeSearchData>} data
 */
async function checkSearch(client, exp, data) {
  /** @type {string[]} */
  let firstPage = [];
  let total = 0;
  /** @type {string | undefined} */
  let token;
  for (let page = 0; ; page++) {
    const res = await client.post(`${API}/runs/search`, {
      experiment_ids: [exp],
      ...SEARCH_QUERY,
      ...(token ? { page_token: token } : {}),
    });
    /** @type {any[]} */
    const runs = res.runs ?? [];
    if (page === 0) firstPage = runs.map((r) => String(r.info.run_name));
    total += runs.length;
    token = res.next_page_token;
    if (!token || runs.length === 0) break;
  }
  const firstPageOrderMatches =
    firstPage.length === data.expectedFirstPage.length &&
    firstPage.every((name, i) => name === data.expectedFirstPage[i]);
  return {
    expectedTotal: data.expectedTotal,
    total,
    firstPage: firstPage.length,
    firstPageOrderMatches,
    ok: total === data.expectedTotal && firstPageOrderMatches,
  };
}

/**
 * Fetches a whole metric history, following page tokens.
 * @param {import('../lib/http-client.mjs').JsonClient} client
 * @param {string} runId
 * @param {string} key
 * @returns {Promise<any[]>}
 */
async function fetchHistory(client, runId, key) {
  /** @type {any[]} */
  const out = [];
  /** @type {string | undefined} */
  let token;
  for (;;) {
    /** @type {Record<string, string>} */
    const query = { run_id: runId, metric_key: key };
    if (token) query.page_token = token;
    const res = await client.get(`${API}/metrics/get-history`, query);
    /** @type {any[]} */
    const metrics = res.metrics ?? [];
    out.push(...metrics);
    token = res.next_page_token;
    if (!token || metrics.length === 0) return out;
  }
}

/**
 * (d) Logs one metric with many steps (log-batch, 1,000 a call) and times fetching its whole
 * history with get-history.
 * @param {import('../lib/http-client.mjs').JsonClient} client
 * @param {Sizes} sizes
 */
export async function historyWorkload(client, sizes) {
  const exp = await createExperiment(client, 'bench-history');
  const runId = await createRun(client, exp, 'long-metric', BASE_TS);
  const rand = seededRandom(7);
  const calls = Math.ceil(sizes.historySteps / 1000);
  const t0 = performance.now();
  let expectedStepSum = 0;
  for (let n = 0; n < calls; n++) {
    const metrics = [];
    for (let step = n * 1000; step < Math.min((n + 1) * 1000, sizes.historySteps); step++) {
      metrics.push({ key: 'long', value: rand(), timestamp: BASE_TS + step, step });
      expectedStepSum += step;
    }
    await client.post(`${API}/runs/log-batch`, { run_id: runId, metrics, params: [], tags: [] });
  }
  const populateSeconds = (performance.now() - t0) / 1000;
  log(`  (d) logged ${sizes.historySteps} steps in ${populateSeconds.toFixed(1)} s`);
  const first = await fetchHistory(client, runId, 'long');
  const stepSum = first.reduce((acc, m) => acc + Number(m.step), 0);
  const check = {
    expectedPoints: sizes.historySteps,
    points: first.length,
    ok: first.length === sizes.historySteps && stepSum === expectedStepSum,
  };
  const rounds = [];
  for (let r = 0; r < sizes.rounds; r++) {
    const res = await closedLoop(
      { clients: 1, minSeconds: sizes.roundSeconds, minCalls: 3, maxCalls: 1e6 },
      async () => {
        await fetchHistory(client, runId, 'long');
      },
    );
    rounds.push(res);
    log(`  (d) round ${r + 1}: ${res.calls} fetches in ${res.seconds.toFixed(2)} s`);
  }
  const s = summarize(rounds);
  return {
    points: sizes.historySteps,
    populateSeconds: round(populateSeconds),
    msPerFetch: s.p50Ms,
    p99Ms: s.p99Ms,
    calls: s.calls,
    rounds: s.rounds,
    check,
  };
}

// The tracking benchmark: `yard server` against the MLflow tracking server on the same workload.
// Usage: npm run bench -- tracking [--quick] [--pg URL] [--only mlflow,yard,yard-pg]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JsonClient } from '../lib/http-client.mjs';
import { MLFLOW_VERSION, ensureMlflow } from '../lib/peer-mlflow.mjs';
import { appendResult, log, machineInfo, textTable } from '../lib/report.mjs';
import {
  ServerUnavailableError,
  freePort,
  startServer,
  stopServer,
  treeMemory,
  yardServerSpec,
} from '../lib/server-process.mjs';
import { median, round } from '../lib/stats.mjs';
import {
  SEARCH_QUERY,
  historyWorkload,
  logBatchWorkload,
  logMetricWorkload,
  makeSearchData,
  searchWorkload,
} from './workloads.mjs';

const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repoDir = path.resolve(benchDir, '..');
const yardBin = path.join(repoDir, 'packages', 'cli', 'dist', 'bin.js');

/** @type {import('./workloads.mjs').Sizes} */
const FULL = {
  rounds: 3,
  roundSeconds: 3,
  batchMaxCalls: 1000,
  clients: 8,
  searchRuns: 10_000,
  searchMetrics: 20,
  searchParams: 10,
  historySteps: 100_000,
  populateConcurrency: 4,
};

/** @type {import('./workloads.mjs').Sizes} */
const QUICK = {
  ...FULL,
  roundSeconds: 1,
  batchMaxCalls: 300,
  searchRuns: 1_000,
  historySteps: 20_000,
};

/**
 * A way of running one server under test.
 * @typedef {object} Target
 * @property {string} key         `mlflow`, `yard`, `yard-pg`
 * @property {string} label
 * @property {() => { backendUri: string, cleanup: () => void }} prepare
 *   makes a fresh, empty backend store (per start)
 * @property {(dir: string, port: number, backendUri: string) => import('../lib/server-process.mjs').ServerSpec} spec
 */

/**
 * Parses the command line.
 * @param {string[]} argv
 */
function parseArgs(argv) {
  const opts = {
    quick: false,
    /** @type {string | undefined} */ pg: process.env.MODELYARD_TEST_PG_URL,
    only: ['mlflow', 'yard', 'yard-pg'],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--pg') opts.pg = argv[++i];
    else if (a === '--no-pg') opts.pg = undefined;
    else if (a === '--only') {
      opts.only = (argv[++i] ?? '').split(',');
      const bad = opts.only.filter((k) => !['mlflow', 'yard', 'yard-pg'].includes(k));
      if (bad.length > 0)
        throw new Error(`--only takes mlflow, yard, yard-pg; got '${bad.join(',')}'.`);
    } else if (a === '--help' || a === '-h') {
      process.stderr.write(
        'usage: npm run bench -- tracking [--quick] [--pg URL | --no-pg] [--only mlflow,yard,yard-pg]\n',
      );
      process.exit(0);
    } else throw new Error(`Unknown option '${a}'. Try --help.`);
  }
  return opts;
}

/**
 * Runs psql against a PostgreSQL URL; throws with its output when it fails.
 * @param {string} url
 * @param {string} sql
 */
function psql(url, sql) {
  const res = spawnSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], {
    encoding: 'utf8',
  });
  if (res.status !== 0) {
    throw new Error(`psql failed on '${sql}': ${res.stderr || res.error?.message || ''}`.trim());
  }
}

/**
 * @param {{ python: string }} mlflow
 * @returns {Target}
 */
function mlflowTarget(mlflow) {
  return {
    key: 'mlflow',
    label: `MLflow ${MLFLOW_VERSION} (SQLite)`,
    prepare: () => ({ backendUri: '', cleanup: () => undefined }),
    spec: (dir, port) => ({
      name: 'mlflow server',
      command: mlflow.python,
      // MLflow's defaults otherwise: uvicorn with 4 worker processes, security middleware on.
      args: [
        '-m',
        'mlflow',
        'server',
        '--backend-store-uri',
        `sqlite:///${path.join(dir, 'mlflow.db')}`,
        '--artifacts-destination',
        path.join(dir, 'mlartifacts'),
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
      ],
      baseUrl: `http://127.0.0.1:${port}`,
      logFile: path.join(dir, 'server.log'),
      cwd: dir,
    }),
  };
}

/**
 * @param {string | undefined} pgUrl  when set, a fresh database on this server per start
 * @returns {Target}
 */
function yardTarget(pgUrl) {
  let n = 0;
  return {
    key: pgUrl ? 'yard-pg' : 'yard',
    label: pgUrl ? 'yard server (PostgreSQL)' : 'yard server (SQLite)',
    prepare: () => {
      if (!pgUrl) return { backendUri: '', cleanup: () => undefined };
      const db = `yard_bench_${process.pid}_${Date.now()}_${n++}`;
      psql(pgUrl, `CREATE DATABASE ${db}`);
      const u = new URL(pgUrl);
      u.pathname = `/${db}`;
      return {
        backendUri: u.toString(),
        cleanup: () => psql(pgUrl, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`),
      };
    },
    spec: (dir, port, backendUri) => yardServerSpec({ yardBin, dir, port, backendUri }),
  };
}

/**
 * Starts a target on a fresh store, returning the running server and how to clean up after it.
 * @param {Target} target
 */
async function startFresh(target) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `bench-${target.key}-`));
  const store = target.prepare();
  const port = await freePort();
  const spec = target.spec(dir, port, store.backendUri);
  const cleanup = () => {
    store.cleanup();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    return { server: await startServer(spec), cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/**
 * Measures one target: cold starts, then workloads (a)-(d) and memory on one instance.
 * One server runs at a time so that it has the machine to itself.
 * @param {Target} target
 * @param {import('./workloads.mjs').Sizes} sizes
 * @param {ReturnType<typeof makeSearchData>} searchData
 * @param {number} coldStarts
 * @returns {Promise<Record<string, unknown>>}
 */
async function measure(target, sizes, searchData, coldStarts) {
  log(`${target.label}: starting`);
  /** @type {Record<string, unknown>} */
  const figures = { label: target.label, available: false };
  /** @type {number[]} */
  const starts = [];
  /** @type {Awaited<ReturnType<typeof startFresh>> | undefined} */
  let running;
  try {
    for (let i = 0; i < coldStarts; i++) {
      running = await startFresh(target);
      starts.push(running.server.coldStartMs);
      log(`  (e) cold start ${i + 1}: ${running.server.coldStartMs.toFixed(0)} ms`);
      if (i < coldStarts - 1) {
        await stopServer(running.server);
        running.cleanup();
        running = undefined;
      }
    }
  } catch (err) {
    if (!(err instanceof ServerUnavailableError)) throw err;
    log(`  ${err.message}`);
    return { ...figures, reason: err.reason, output: err.logTail.slice(-800) };
  }
  if (!running) throw new Error('coldStarts must be at least 1');
  figures.available = true;
  figures.coldStartMs = { median: round(median(starts)), samples: starts.map((s) => round(s)) };
  const client = new JsonClient(running.server.baseUrl, sizes.clients);
  try {
    log(`${target.label}: (a) log-batch of 1,000 metrics`);
    figures.logBatch = await logBatchWorkload(client, sizes);
    log(`${target.label}: (b) log-metric from ${sizes.clients} clients`);
    figures.logMetric = await logMetricWorkload(client, sizes);
    log(`${target.label}: (c) runs/search over ${sizes.searchRuns} runs`);
    figures.search = await searchWorkload(client, sizes, searchData);
    log(`${target.label}: (d) get-history of ${sizes.historySteps} steps`);
    figures.history = await historyWorkload(client, sizes);
    figures.memory = treeMemory(running.server.pid);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log(`  ${target.label} failed: ${message}`);
    figures.error = message;
  } finally {
    client.close();
    await stopServer(running.server);
    running.cleanup();
  }
  return figures;
}

/**
 * Reads a number at a dotted path of a figures object, or null.
 * @param {Record<string, unknown> | undefined} figures
 * @param {string} dotted
 * @returns {number | null}
 */
function pick(figures, dotted) {
  /** @type {unknown} */
  let v = figures;
  for (const k of dotted.split('.')) {
    if (v === null || typeof v !== 'object') return null;
    v = /** @type {Record<string, unknown>} */ (v)[k];
  }
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/**
 * The headline comparison: one row per figure with ours, the peer's, the ratio and the target.
 * Ratio = ours / peer for throughput, peer / ours for latency (so > 1 always means faster).
 * @param {Record<string, Record<string, unknown>>} servers
 */
function compare(servers) {
  const peer = servers.mlflow;
  const ours = servers.yard;
  const oursPg = servers['yard-pg'];
  /** @type {{ id: string, figure: string, path: string, better: 'higher' | 'lower', target: { ratio?: number, max?: number } }[]} */
  const rows = [
    {
      id: 'a',
      figure: 'log-batch (1,000 metrics) calls/s',
      path: 'logBatch.callsPerSec',
      better: 'higher',
      target: { ratio: 20 },
    },
    {
      id: 'b',
      figure: 'log-metric calls/s, 8 clients',
      path: 'logMetric.callsPerSec',
      better: 'higher',
      target: { ratio: 5 },
    },
    { id: 'b', figure: 'log-metric p50 ms', path: 'logMetric.p50Ms', better: 'lower', target: {} },
    { id: 'b', figure: 'log-metric p99 ms', path: 'logMetric.p99Ms', better: 'lower', target: {} },
    {
      id: 'c',
      figure: 'runs/search ms per query',
      path: 'search.msPerQuery',
      better: 'lower',
      target: { ratio: 20 },
    },
    {
      id: 'd',
      figure: 'get-history ms (full)',
      path: 'history.msPerFetch',
      better: 'lower',
      target: { ratio: 5 },
    },
    {
      id: 'e',
      figure: 'cold start ms',
      path: 'coldStartMs.median',
      better: 'lower',
      target: { max: 1000 },
    },
    {
      id: 'f',
      figure: 'RSS MB after workload',
      path: 'memory.rssMB',
      better: 'lower',
      target: { max: 200 },
    },
    { id: 'f', figure: 'PSS MB after workload', path: 'memory.pssMB', better: 'lower', target: {} },
  ];
  return rows.map((r) => {
    const p = pick(peer, r.path);
    const o = pick(ours, r.path);
    const og = pick(oursPg, r.path);
    /** @param {number | null} x */
    const ratioOf = (x) =>
      x === null || p === null || x === 0 || p === 0
        ? null
        : round(r.better === 'higher' ? x / p : p / x, 3);
    const ratio = ratioOf(o);
    /** @type {boolean | null} */
    let met = null;
    let target = '';
    if (r.target.ratio !== undefined) {
      target = `>= ${r.target.ratio}x`;
      met = ratio === null ? null : ratio >= r.target.ratio;
    } else if (r.target.max !== undefined) {
      target = `< ${r.target.max}`;
      met = o === null ? null : o < r.target.max;
    }
    return {
      id: r.id,
      figure: r.figure,
      peer: p,
      ours: o,
      ratio,
      target,
      met,
      oursPostgres: og,
      ratioPostgres: ratioOf(og),
    };
  });
}

/**
 * Entry point used by `bench/run.mjs`.
 * @param {string[]} argv  the arguments after the benchmark's name
 * @returns {Promise<number>} the exit code
 */
export async function run(argv) {
  const opts = parseArgs(argv);
  const sizes = opts.quick ? QUICK : FULL;
  const coldStarts = opts.quick ? 2 : 3;
  /** @type {Target[]} */
  const targets = [];
  /** @type {Record<string, unknown>} */
  let peerInfo = { name: 'mlflow', version: MLFLOW_VERSION, skipped: true };
  if (opts.only.includes('mlflow')) {
    const mlflow = ensureMlflow(path.join(benchDir, '.work'));
    log(`MLflow ${mlflow.version}: ${mlflow.how}`);
    peerInfo = {
      name: 'mlflow',
      version: mlflow.version,
      install: mlflow.how,
      server: 'mlflow server: uvicorn, 4 worker processes (its defaults), SQLite, local artifacts',
    };
    targets.push(mlflowTarget(mlflow));
  }
  /** @type {Record<string, Record<string, unknown>>} */
  const servers = {};
  const yardBuilt = existsSync(yardBin);
  if (opts.only.includes('yard')) targets.push(yardTarget(undefined));
  if (opts.only.includes('yard-pg')) {
    if (opts.pg) targets.push(yardTarget(opts.pg));
    else {
      log('yard server (PostgreSQL): skipped, no --pg URL and MODELYARD_TEST_PG_URL is unset');
      servers['yard-pg'] = {
        available: false,
        reason: 'no PostgreSQL URL given (--pg or MODELYARD_TEST_PG_URL)',
      };
    }
  }
  const searchData = makeSearchData(sizes);
  for (const target of targets) {
    if (target.key !== 'mlflow' && !yardBuilt) {
      servers[target.key] = {
        label: target.label,
        available: false,
        reason: `${path.relative(repoDir, yardBin)} does not exist; run 'npm run build' first`,
      };
      log(`${target.label}: not available (not built)`);
      continue;
    }
    servers[target.key] = await measure(
      target,
      sizes,
      searchData,
      target.key === 'yard-pg' ? 1 : coldStarts,
    );
  }
  const comparison = compare(servers);
  const checksFailed = Object.entries(servers).filter(([, f]) => {
    const s = /** @type {{ check?: { ok: boolean } } | undefined} */ (f.search);
    const h = /** @type {{ check?: { ok: boolean } } | undefined} */ (f.history);
    return s?.check?.ok === false || h?.check?.ok === false || f.error !== undefined;
  });
  const result = {
    benchmark: 'tracking',
    quick: opts.quick,
    workload: {
      api: 'MLflow REST API 2.0 over HTTP/1.1 keep-alive, identical requests to every server',
      a: 'POST runs/log-batch, 1,000 metrics per call (10 keys x 100 steps), one closed-loop client',
      b: `POST runs/log-metric, ${sizes.clients} concurrent closed-loop clients, one run each`,
      c: `POST runs/search over ${sizes.searchRuns} runs x ${sizes.searchMetrics} metrics x ${sizes.searchParams} params; filter "${SEARCH_QUERY.filter}", order_by ${SEARCH_QUERY.order_by.join(', ')}, max_results ${SEARCH_QUERY.max_results}; answer checked against the expected runs and order`,
      d: `GET metrics/get-history of a ${sizes.historySteps}-step metric, all pages`,
      e: 'spawn to first 200 on GET /health, fresh store',
      f: 'memory of the server process tree after (a)-(d): summed VmRSS and summed Pss',
      timing: `${sizes.rounds} rounds of >= ${sizes.roundSeconds} s after a warm-up; throughput is the median over rounds, latency the percentile over all calls; one server runs at a time`,
      sizes,
    },
    machine: machineInfo(),
    peer: peerInfo,
    servers,
    comparison,
    checksFailed: checksFailed.map(([k]) => k),
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  const file = appendResult(benchDir, 'tracking', result);
  /** @param {number | null} x */
  const fmt = (x) => (x === null ? '-' : String(x));
  process.stderr.write(
    '\n' +
      textTable(
        ['', 'figure', 'mlflow', 'yard', 'ratio', 'target', 'met', 'yard pg', 'ratio pg'],
        comparison.map((r) => [
          r.id,
          r.figure,
          fmt(r.peer),
          fmt(r.ours),
          r.ratio === null ? '-' : `${r.ratio}x`,
          r.target,
          r.met === null ? '-' : r.met ? 'yes' : 'NO',
          fmt(r.oursPostgres),
          r.ratioPostgres === null ? '-' : `${r.ratioPostgres}x`,
        ]),
      ) +
      '\n' +
      Object.entries(servers)
        .filter(([, f]) => !f.available || f.error)
        .map(
          ([k, f]) =>
            `${k}: ${f.available ? `failed: ${String(f.error)}` : `not available: ${String(f.reason)}`}\n`,
        )
        .join('') +
      (checksFailed.length
        ? `correctness checks FAILED for: ${checksFailed.map(([k]) => k).join(', ')}\n`
        : '') +
      `appended to ${path.relative(process.cwd(), file)}\n`,
  );
  return checksFailed.length > 0 ? 1 : 0;
}

// The serving benchmark: `yard server` against `mlflow models serve`, MLServer and onnxruntime
// in-process, on the same ONNX model and the same closed-loop load.
// Usage: npm run bench -- serving [--quick] [--only floor,yard,mlflow,mlserver] [--clients 1,8,32]
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { JsonClient, probe } from '../lib/http-client.mjs';
import { MLFLOW_VERSION, ensureMlflow } from '../lib/peer-mlflow.mjs';
import { appendResult, log, machineInfo, textTable } from '../lib/report.mjs';
import {
  ServerUnavailableError,
  freePort,
  startServer,
  stopServer,
  treeMemory,
} from '../lib/server-process.mjs';
import { round } from '../lib/stats.mjs';
import {
  MLSERVER_VERSION,
  ensureMlserver,
  ensureOnnxFor,
  registerFixture,
  writeMlserverConfig,
  yardDeploy,
  yardDeployBatched,
} from './servers.mjs';
import {
  checkPredictions,
  httpCall,
  invocations,
  loadFixture,
  measureFloor,
  measureSteps,
  oipV2,
  pacedRun,
} from './workloads.mjs';

const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repoDir = path.resolve(benchDir, '..');
const workDir = path.join(benchDir, '.work');
const yardBin = path.join(repoDir, 'packages', 'cli', 'dist', 'bin.js');
const FIXTURE = path.join(repoDir, 'packages', 'server', 'test', 'fixtures', 'iris-like-onnx');
const ALL = ['floor', 'yard', 'mlflow', 'mlserver'];
/** Dynamic batching of the second yard deployment. */
const BATCHING = { maxBatchSize: 32, maxLatencyMs: 2 };
/** The concurrency the batched deployment is measured at (the issue's "32 clients"). */
const BATCH_CLIENTS = 32;

/** @type {import('./workloads.mjs').Sizes} */
const FULL = {
  concurrencies: [1, 8, 32],
  rounds: 3,
  roundSeconds: 5,
  warmupSeconds: 2,
  pacedSeconds: 15,
};

/** @type {import('./workloads.mjs').Sizes} */
const QUICK = { ...FULL, rounds: 2, roundSeconds: 1, warmupSeconds: 0.5, pacedSeconds: 3 };

/**
 * Parses the command line.
 * @param {string[]} argv
 */
function parseArgs(argv) {
  /** @type {{ quick: boolean, only: string[], clients: number[] | undefined }} */
  const opts = { quick: false, only: ALL, clients: undefined };
  const usage =
    'usage: npm run bench -- serving [--quick] [--only floor,yard,mlflow,mlserver] [--clients 1,8,32]\n';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--only') {
      opts.only = (argv[++i] ?? '').split(',');
      const bad = opts.only.filter((k) => !ALL.includes(k));
      if (bad.length > 0)
        throw new Error(`--only takes ${ALL.join(', ')}; got '${bad.join(',')}'.`);
    } else if (a === '--clients') {
      const clients = (argv[++i] ?? '').split(',').map(Number);
      if (clients.some((c) => !Number.isInteger(c) || c < 1)) {
        throw new Error('--clients takes positive integers, e.g. 1,8,32.');
      }
      opts.clients = clients;
    } else if (a === '--help' || a === '-h') {
      process.stderr.write(usage);
      process.exit(0);
    } else throw new Error(`Unknown option '${a}'. Try --help.`);
  }
  return opts;
}

/**
 * @typedef {Record<string, any>} Figures
 */

/**
 * Runs `body` against a server started by `start`, recording availability, errors and the memory
 * of its process tree after the workload; the server is stopped afterwards in every case.
 * @param {string} label
 * @param {() => Promise<import('../lib/server-process.mjs').RunningServer>} start
 * @param {(server: import('../lib/server-process.mjs').RunningServer, figures: Figures) => Promise<void>} body
 * @returns {Promise<Figures>}
 */
async function withServer(label, start, body) {
  log(`${label}: starting`);
  /** @type {Figures} */
  const figures = { label, available: false };
  let server;
  try {
    server = await start();
  } catch (err) {
    if (!(err instanceof ServerUnavailableError)) throw err;
    log(`  ${err.message}`);
    return { ...figures, reason: err.reason, output: err.logTail.slice(-1500) };
  }
  figures.available = true;
  figures.startMs = round(server.coldStartMs);
  try {
    await body(server, figures);
    figures.memory = treeMemory(server.pid);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log(`  ${label} failed: ${message}`);
    figures.error = message;
  } finally {
    await stopServer(server);
  }
  return figures;
}

/**
 * Measures one protocol of a server: the correctness cross-check, then every concurrency step.
 * @param {Figures} figures
 * @param {string} label
 * @param {JsonClient} client
 * @param {import('./workloads.mjs').Protocol} protocol
 * @param {import('./workloads.mjs').Fixture} fixture
 * @param {import('./workloads.mjs').Sizes} sizes
 * @param {number[]} concurrencies
 */
async function measureProtocol(figures, label, client, protocol, fixture, sizes, concurrencies) {
  const check = await checkPredictions(client, protocol, fixture);
  figures.checks = { ...figures.checks, [label]: check };
  if (!check.ok) {
    log(`  ${label}: predictions WRONG: ${JSON.stringify(check)}`);
    return;
  }
  figures[label] = await measureSteps(
    sizes,
    `${figures.label} ${label}`,
    concurrencies,
    httpCall(client, protocol, fixture),
  );
}

/**
 * `yard server` on a fresh SQLite store with the fixture registered, deployed plainly and with
 * dynamic batching.
 * @param {import('./workloads.mjs').Fixture} fixture
 * @param {import('./workloads.mjs').Sizes} sizes
 * @returns {Promise<Figures>}
 */
async function measureYard(fixture, sizes) {
  if (!existsSync(yardBin)) {
    return {
      label: 'yard server',
      available: false,
      reason: `${path.relative(repoDir, yardBin)} does not exist; run 'npm run build' first`,
    };
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-serving-yard-'));
  try {
    const port = await freePort();
    return await withServer(
      'yard server',
      () =>
        startServer({
          name: 'yard server',
          command: process.execPath,
          args: [
            yardBin,
            'server',
            '--host',
            '127.0.0.1',
            '--port',
            String(port),
            '--backend-store-uri',
            `sqlite:///${path.join(dir, 'yard.db')}`,
            '--artifacts-destination',
            path.join(dir, 'artifacts'),
          ],
          baseUrl: `http://127.0.0.1:${port}`,
          logFile: path.join(dir, 'server.log'),
          cwd: dir,
        }),
      async (server, figures) => {
        const client = new JsonClient(server.baseUrl, 64);
        try {
          const version = await registerFixture(client, server.baseUrl, fixture.dir, 'iris');
          const uri = `models:/iris/${version}`;
          yardDeploy(yardBin, server.baseUrl, 'iris', uri);
          await yardDeployBatched(client, 'iris-batched', uri, BATCHING);
          figures.deployments = {
            iris: `${uri}, defaults (1 replica, max concurrency 4)`,
            'iris-batched': `${uri}, batching ${JSON.stringify(BATCHING)}`,
          };
          const v2 = oipV2(fixture, 'iris');
          await measureProtocol(figures, 'v2', client, v2, fixture, sizes, sizes.concurrencies);
          await measureProtocol(
            figures,
            'invocations',
            client,
            invocations(fixture, '/endpoints/iris/invocations'),
            fixture,
            sizes,
            sizes.concurrencies,
          );
          await measureProtocol(
            figures,
            'v2Batched',
            client,
            oipV2(fixture, 'iris-batched'),
            fixture,
            sizes,
            [BATCH_CLIENTS],
          );
          /** @type {import('./workloads.mjs').StepResult[]} */
          const steps = figures.v2 ?? [];
          const saturation = Math.max(0, ...steps.map((s) => s.reqPerSec));
          if (saturation > 0) {
            log(`  yard v2 paced at half saturation: ${round(saturation / 2)} req/s`);
            figures.pacedHalfSaturation = {
              saturationReqPerSec: saturation,
              ...(await pacedRun(
                saturation / 2,
                sizes.pacedSeconds,
                httpCall(client, v2, fixture),
              )),
            };
            log(`  -> ${JSON.stringify(figures.pacedHalfSaturation)}`);
          }
        } finally {
          client.close();
        }
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `mlflow models serve` (MLflow's own scoring server, its defaults: one uvicorn worker) on a copy
 * of the fixture, from the benchmark's MLflow venv.
 * @param {import('./workloads.mjs').Fixture} fixture
 * @param {import('./workloads.mjs').Sizes} sizes
 * @returns {Promise<Figures>}
 */
async function measureMlflow(fixture, sizes) {
  /** @type {Figures} */
  let install;
  let python;
  try {
    const mlflow = ensureMlflow(workDir);
    python = mlflow.python;
    install = { version: mlflow.version, how: mlflow.how, onnx: ensureOnnxFor(python) };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { label: 'mlflow models serve', available: false, reason };
  }
  const py = python;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-serving-mlflow-'));
  try {
    const modelDir = path.join(dir, 'model');
    cpSync(fixture.dir, modelDir, { recursive: true });
    const port = await freePort();
    const figures = await withServer(
      `mlflow models serve ${MLFLOW_VERSION}`,
      () =>
        startServer(
          {
            name: 'mlflow models serve',
            command: py,
            args: [
              '-m',
              'mlflow',
              'models',
              'serve',
              '-m',
              modelDir,
              '--env-manager',
              'local',
              '-h',
              '127.0.0.1',
              '-p',
              String(port),
            ],
            baseUrl: `http://127.0.0.1:${port}`,
            logFile: path.join(dir, 'server.log'),
            cwd: dir,
            healthPath: '/ping',
          },
          180_000,
        ),
      async (server, figures) => {
        const client = new JsonClient(server.baseUrl, 64);
        try {
          await measureProtocol(
            figures,
            'invocations',
            client,
            invocations(fixture, '/invocations'),
            fixture,
            sizes,
            sizes.concurrencies,
          );
        } finally {
          client.close();
        }
      },
    );
    return { ...figures, install };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * MLServer with its MLflow runtime (mlserver-mlflow), its own venv, MLServer's defaults.
 * @param {import('./workloads.mjs').Fixture} fixture
 * @param {import('./workloads.mjs').Sizes} sizes
 * @returns {Promise<Figures>}
 */
async function measureMlserver(fixture, sizes) {
  const label = `MLServer ${MLSERVER_VERSION} (mlserver-mlflow runtime)`;
  const install = ensureMlserver(workDir);
  if (!install.ok) return { label, available: false, reason: install.reason };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-serving-mlserver-'));
  try {
    const modelDir = path.join(dir, 'model');
    cpSync(fixture.dir, modelDir, { recursive: true });
    const repo = path.join(dir, 'repo');
    const port = await writeMlserverConfig(repo, modelDir, 'iris');
    const bin = path.join(path.dirname(install.python), 'mlserver');
    const figures = await withServer(
      label,
      async () => {
        const server = await startServer(
          {
            name: 'mlserver',
            command: bin,
            args: ['start', repo],
            baseUrl: `http://127.0.0.1:${port}`,
            logFile: path.join(dir, 'server.log'),
            cwd: repo,
            healthPath: '/v2/health/ready',
          },
          180_000,
        );
        // Ready means the server is; the model may still be loading.
        const t0 = performance.now();
        while ((await probe(`${server.baseUrl}/v2/models/iris/ready`, 500)) !== 200) {
          if (performance.now() - t0 > 120_000) {
            await stopServer(server);
            let logTail = '';
            try {
              logTail = readFileSync(server.logFile, 'utf8').slice(-2000);
            } catch {
              // no log
            }
            throw new ServerUnavailableError(label, 'model iris not ready within 120 s', logTail);
          }
          await new Promise((r) => setTimeout(r, 50));
        }
        server.coldStartMs = performance.now() - t0 + server.coldStartMs;
        return server;
      },
      async (server, figures) => {
        const client = new JsonClient(server.baseUrl, 64);
        try {
          await measureProtocol(
            figures,
            'v2',
            client,
            oipV2(fixture, 'iris'),
            fixture,
            sizes,
            sizes.concurrencies,
          );
        } finally {
          client.close();
        }
      },
    );
    return { ...figures, install: { how: install.how, versions: install.versions } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The req/s of one server's protocol at a concurrency, or null.
 * @param {Figures | undefined} figures
 * @param {string} protocol
 * @param {number} clients
 * @returns {number | null}
 */
function rate(figures, protocol, clients) {
  /** @type {import('./workloads.mjs').StepResult[] | undefined} */
  const steps = figures?.[protocol];
  const s = steps?.find((x) => x.clients === clients);
  return s && Number.isFinite(s.reqPerSec) ? s.reqPerSec : null;
}

/**
 * The headline comparison: one row per target and concurrency.
 * @param {Record<string, Figures>} servers
 * @param {number[]} concurrencies
 */
function compare(servers, concurrencies) {
  const { yard, mlflow, mlserver, floor } = servers;
  /** @type {{ figure: string, clients: number | null, ours: number | null, peer: number | null, ratio: number | null, target: string, met: boolean | null }[]} */
  const rows = [];
  /**
   * @param {string} figure
   * @param {number | null} clients
   * @param {number | null} ours
   * @param {number | null} peer
   * @param {number | null} min  the ratio target, or null for information only
   */
  const add = (figure, clients, ours, peer, min) => {
    const ratio = ours === null || peer === null || peer === 0 ? null : round(ours / peer, 3);
    rows.push({
      figure,
      clients,
      ours,
      peer,
      ratio,
      target: min === null ? '' : `>= ${min}x`,
      met: min === null || ratio === null ? null : ratio >= min,
    });
  };
  for (const c of concurrencies) {
    add(
      'req/s vs mlflow models serve (/invocations)',
      c,
      rate(yard, 'invocations', c),
      rate(mlflow, 'invocations', c),
      3,
    );
  }
  for (const c of concurrencies) {
    add('req/s vs MLServer (OIP v2)', c, rate(yard, 'v2', c), rate(mlserver, 'v2', c), 1.5);
  }
  for (const c of concurrencies) {
    add(
      'req/s vs in-process floor (OIP v2)',
      c,
      rate(yard, 'v2', c),
      rate(floor, 'steps', c),
      null,
    );
  }
  add(
    `batched (${BATCHING.maxBatchSize}/${BATCHING.maxLatencyMs} ms) req/s vs floor`,
    BATCH_CLIENTS,
    rate(yard, 'v2Batched', BATCH_CLIENTS),
    rate(floor, 'steps', BATCH_CLIENTS),
    0.75,
  );
  /** @type {number | null} */
  const p99 = yard?.pacedHalfSaturation?.p99Ms ?? null;
  rows.push({
    figure: 'p99 ms at half saturation (OIP v2, paced)',
    clients: null,
    ours: p99,
    peer: null,
    ratio: null,
    target: '< 5 ms',
    met: p99 === null || !Number.isFinite(p99) ? null : p99 < 5,
  });
  return rows;
}

/**
 * Entry point used by `bench/run.mjs`.
 * @param {string[]} argv  the arguments after the benchmark's name
 * @returns {Promise<number>} the exit code
 */
export async function run(argv) {
  const opts = parseArgs(argv);
  const base = opts.quick ? QUICK : FULL;
  const sizes = opts.clients ? { ...base, concurrencies: opts.clients } : base;
  const fixture = loadFixture(FIXTURE);
  /** @type {Record<string, Figures>} */
  const servers = {};
  // One at a time, so that each has the machine to itself while measured.
  if (opts.only.includes('floor')) {
    log('floor: onnxruntime-node in-process');
    try {
      servers.floor = await measureFloor(sizes, fixture);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      servers.floor = { label: 'onnxruntime-node in-process', available: false, reason };
    }
  }
  if (opts.only.includes('yard')) servers.yard = await measureYard(fixture, sizes);
  if (opts.only.includes('mlflow')) servers.mlflow = await measureMlflow(fixture, sizes);
  if (opts.only.includes('mlserver')) servers.mlserver = await measureMlserver(fixture, sizes);

  const comparison = compare(servers, sizes.concurrencies);
  const checksFailed = Object.entries(servers)
    .filter(([, f]) => {
      /** @type {{ ok: boolean }[]} */
      const checks = f.check ? [f.check] : Object.values(f.checks ?? {});
      /** @type {import('./workloads.mjs').StepResult[]} */
      const steps = ['steps', 'v2', 'invocations', 'v2Batched'].flatMap((k) => f[k] ?? []);
      return (
        f.error !== undefined ||
        checks.some((c) => !c.ok) ||
        steps.some((s) => s.wrongLabels > 0) ||
        (f.pacedHalfSaturation?.wrongLabels ?? 0) + (f.pacedHalfSaturation?.failed ?? 0) > 0
      );
    })
    .map(([k]) => k);
  const result = {
    benchmark: 'serving',
    quick: opts.quick,
    workload: {
      model:
        'packages/server/test/fixtures/iris-like-onnx: scikit-learn LogisticRegression, 20 FP32 features, 3 classes, ONNX (skl2onnx)',
      requests:
        'one row per request, cycling through the 8 rows of expected.json; every answer label checked',
      v2: 'POST /v2/models/<name>/infer, {"inputs":[{"name":"float_input","datatype":"FP32","shape":[1,20],"data":[...]}]}',
      invocations:
        'POST /endpoints/<name>/invocations (yard) or /invocations (MLflow), {"inputs":[[...]]}',
      load: `closed loop, ${sizes.concurrencies.join('/')} concurrent clients, HTTP/1.1 keep-alive (node:http Agent); ${sizes.rounds} rounds of >= ${sizes.roundSeconds} s after ${sizes.warmupSeconds} s warm-up; req/s is the median over rounds, latency percentiles over all calls`,
      paced: `OIP v2 to the plain yard deployment at half the best closed-loop req/s, open loop for ${sizes.pacedSeconds} s, latency from each request's due time`,
      batching: `second yard deployment with batching ${JSON.stringify(BATCHING)}, measured at ${BATCH_CLIENTS} clients`,
      floor:
        'onnxruntime-node InferenceSession.run in the benchmark process, intraOpNumThreads 1, same rows, same concurrencies',
      memory: 'summed VmRSS / Pss of each server process tree after its workload',
      sizes,
    },
    machine: machineInfo(),
    servers,
    comparison,
    checksFailed,
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  const file = appendResult(benchDir, 'serving', result);
  /** @param {number | null | undefined} x */
  const fmt = (x) => (x === null || x === undefined ? '-' : String(x));
  /** @type {string[][]} */
  const detail = [];
  for (const [key, f] of Object.entries(servers)) {
    for (const proto of ['steps', 'v2', 'invocations', 'v2Batched']) {
      /** @type {import('./workloads.mjs').StepResult[]} */
      const steps = f[proto] ?? [];
      for (const s of steps) {
        detail.push([
          key,
          proto === 'steps' ? 'in-process' : proto,
          String(s.clients),
          fmt(s.reqPerSec),
          fmt(s.p50Ms),
          fmt(s.p99Ms),
          fmt(f.memory?.rssMB),
        ]);
      }
    }
  }
  process.stderr.write(
    '\n' +
      textTable(['server', 'protocol', 'clients', 'req/s', 'p50 ms', 'p99 ms', 'RSS MB'], detail) +
      '\n\n' +
      textTable(
        ['figure', 'clients', 'yard', 'peer', 'ratio', 'target', 'met'],
        comparison.map((r) => [
          r.figure,
          fmt(r.clients),
          fmt(r.ours),
          fmt(r.peer),
          r.ratio === null ? '-' : `${r.ratio}x`,
          r.target,
          r.met === null ? '-' : r.met ? 'yes' : 'NO',
        ]),
      ) +
      '\n' +
      Object.entries(servers)
        .filter(([, f]) => !f.available || f.error)
        .map(
          ([k, f]) =>
            `${k}: ${f.available ? `failed: ${String(f.error)}` : `not available: ${String(f.reason).slice(0, 600)}`}\n`,
        )
        .join('') +
      (checksFailed.length ? `correctness checks FAILED for: ${checksFailed.join(', ')}\n` : '') +
      `appended to ${path.relative(process.cwd(), file)}\n`,
  );
  return checksFailed.length > 0 ? 1 : 0;
}

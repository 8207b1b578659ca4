// The serving benchmark: `yard server` against `mlflow models serve`, MLServer, a bare node:http
// ceiling and onnxruntime in-process, on the same ONNX models and the same closed-loop load.
// Usage: npm run bench -- serving [--quick] [--model iris|cnn|all]
//          [--only floor,yard,http,mlflow,mlserver] [--clients 1,8,32] [--yard-node-options "..."]
//          [--no-probe]
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { JsonClient, probe } from '../lib/http-client.mjs';
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
  warmUp,
} from './workloads.mjs';
import { measureMachineJitter } from './machine-jitter.mjs';
import { startWindow } from './window-stats.mjs';

const servingDir = path.dirname(fileURLToPath(import.meta.url));
const benchDir = path.resolve(servingDir, '..');
const repoDir = path.resolve(benchDir, '..');
const workDir = path.join(benchDir, '.work');
const yardBin = path.join(repoDir, 'packages', 'cli', 'dist', 'bin.js');

/** The benchmark's models: the deployment name (`key`) -> its fixture and what it is. */
const MODELS = {
  iris: {
    dir: path.join(repoDir, 'packages', 'server', 'test', 'fixtures', 'iris-like-onnx'),
    description:
      'packages/server/test/fixtures/iris-like-onnx: scikit-learn LogisticRegression, 20 FP32 features, 3 classes, ONNX (skl2onnx)',
  },
  cnn: {
    dir: path.join(servingDir, 'fixtures', 'small-cnn'),
    description:
      'bench/serving/fixtures/small-cnn: 3 conv layers (32/64/128 channels, 3x3) + GAP + Gemm on a FP32 [3, 32, 32] image of pixel values, 10 classes, 38.6 M multiply-adds and 94 k weights, fixed random weights (make_small_cnn.py)',
  },
};
/** @typedef {keyof typeof MODELS} ModelKey */
const MODEL_KEYS = /** @type {ModelKey[]} */ (Object.keys(MODELS));
const ALL = ['floor', 'yard', 'http', 'mlflow', 'mlserver'];
/** Dynamic batching of the second yard deployment. */
const BATCHING = { maxBatchSize: 32, maxLatencyMs: 2 };
/** The concurrency the batched deployment is measured at (the issue's "32 clients"). */
const BATCH_CLIENTS = 32;
/** Closed loops of the warm-up each server and protocol gets before its first step. */
const WARM_UP_CLIENTS = 8;

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

const USAGE =
  'usage: npm run bench -- serving [--quick] [--model iris|cnn|all] ' +
  '[--only floor,yard,http,mlflow,mlserver] [--clients 1,8,32] [--yard-node-options "..."] [--no-probe]\n';

/**
 * Parses the command line.
 * @param {string[]} argv
 */
function parseArgs(argv) {
  /** @type {{ quick: boolean, models: ModelKey[], only: string[], clients: number[] | undefined, yardNodeOptions: string[], probe: boolean }} */
  const opts = {
    quick: false,
    models: MODEL_KEYS,
    only: ALL,
    clients: undefined,
    yardNodeOptions: [],
    probe: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--model') {
      const m = argv[++i] ?? '';
      if (m === 'all') opts.models = MODEL_KEYS;
      else if (MODEL_KEYS.includes(/** @type {ModelKey} */ (m)))
        opts.models = [/** @type {ModelKey} */ (m)];
      else throw new Error(`--model takes ${MODEL_KEYS.join(', ')} or all; got '${m}'.`);
    } else if (a === '--only') {
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
    } else if (a === '--yard-node-options') {
      opts.yardNodeOptions = (argv[++i] ?? '').split(' ').filter((o) => o !== '');
    } else if (a === '--no-probe') {
      opts.probe = false;
    } else if (a === '--help' || a === '-h') {
      process.stderr.write(USAGE);
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
  const call = httpCall(client, protocol, fixture);
  await warmUp(Math.max(1, sizes.warmupSeconds), WARM_UP_CLIENTS, call);
  figures[label] = await measureSteps(
    sizes,
    `${fixture.key} ${figures.label} ${label}`,
    concurrencies,
    call,
  );
}

/**
 * `yard server` on a fresh SQLite store with the fixture registered, deployed plainly and with
 * dynamic batching.
 * @param {import('./workloads.mjs').Fixture} fixture
 * @param {import('./workloads.mjs').Sizes} sizes
 * @param {string[]} nodeOptions  extra `node` flags for the server (e.g. `--cpu-prof`)
 * @param {boolean} probed  load server-probe.mjs into the server, for the paced run's inside view
 * @returns {Promise<Figures>}
 */
async function measureYard(fixture, sizes, nodeOptions, probed) {
  if (!existsSync(yardBin)) {
    return {
      label: 'yard server',
      available: false,
      reason: `${path.relative(repoDir, yardBin)} does not exist; run 'npm run build' first`,
    };
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-serving-yard-'));
  const probeFile = probed ? path.join(dir, 'probe.jsonl') : undefined;
  try {
    const port = await freePort();
    return await withServer(
      'yard server',
      () =>
        startServer({
          ...yardServerSpec({
            yardBin,
            dir,
            port,
            nodeArgs: [
              ...(probed
                ? ['--import', pathToFileURL(path.join(servingDir, 'server-probe.mjs')).href]
                : []),
              ...nodeOptions,
            ],
          }),
          ...(probeFile && { env: { MODELYARD_BENCH_PROBE_OUT: probeFile } }),
        }),
      async (server, figures) => {
        const client = new JsonClient(server.baseUrl, 64);
        try {
          const name = fixture.key;
          const batched = `${name}-batched`;
          const version = await registerFixture(client, server.baseUrl, fixture.dir, name);
          const uri = `models:/${name}/${version}`;
          yardDeploy(yardBin, server.baseUrl, name, uri);
          await yardDeployBatched(client, batched, uri, BATCHING);
          figures.deployments = {
            [name]: `${uri}, defaults (1 replica, max concurrency 4)`,
            [batched]: `${uri}, batching ${JSON.stringify(BATCHING)}`,
          };
          const v2 = oipV2(fixture, name);
          await measureProtocol(figures, 'v2', client, v2, fixture, sizes, sizes.concurrencies);
          await measureProtocol(
            figures,
            'invocations',
            client,
            invocations(fixture, `/endpoints/${name}/invocations`),
            fixture,
            sizes,
            sizes.concurrencies,
          );
          await measureProtocol(
            figures,
            'v2Batched',
            client,
            oipV2(fixture, batched),
            fixture,
            sizes,
            [BATCH_CLIENTS],
          );
          /** @type {import('./workloads.mjs').StepResult[]} */
          const steps = figures.v2 ?? [];
          const saturation = Math.max(0, ...steps.map((s) => s.reqPerSec));
          // The target's load (half), then a lighter one, to show where the tail starts.
          for (const [key, fraction] of /** @type {const} */ ([
            ['pacedHalfSaturation', 0.5],
            ['pacedQuarterSaturation', 0.25],
          ])) {
            if (saturation <= 0) break;
            const rate = saturation * fraction;
            log(`  ${fixture.key} yard v2 paced at ${fraction} x saturation: ${round(rate)} req/s`);
            const window = startWindow(server.pid, probeFile);
            const paced = await pacedRun(rate, sizes.pacedSeconds, httpCall(client, v2, fixture));
            figures[key] = {
              saturationReqPerSec: saturation,
              ...paced,
              during: await window.end(),
            };
            log(`  -> ${JSON.stringify(figures[key])}`);
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
            // `mlflow models serve` runs `exec uvicorn ...` through bash: the interpreter's own
            // bin folder (a venv's) must come first on PATH, or it finds no uvicorn.
            env: { PATH: `${path.dirname(py)}${path.delimiter}${process.env.PATH ?? ''}` },
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
    const port = await writeMlserverConfig(repo, modelDir, fixture.key);
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
        while ((await probe(`${server.baseUrl}/v2/models/${fixture.key}/ready`, 500)) !== 200) {
          if (performance.now() - t0 > 120_000) {
            await stopServer(server);
            let logTail = '';
            try {
              logTail = readFileSync(server.logFile, 'utf8').slice(-2000);
            } catch {
              // no log
            }
            throw new ServerUnavailableError(
              label,
              `model ${fixture.key} not ready within 120 s`,
              logTail,
            );
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
            oipV2(fixture, fixture.key),
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
 * The HTTP ceiling (`http-ceiling.mjs`): a bare node:http server answering the fixture's
 * expected outputs without inference, driven over OIP v2 like the others, plus a paced run at
 * the rate yard's was paced at (so both tails are taken at the same load).
 * @param {import('./workloads.mjs').Fixture} fixture
 * @param {import('./workloads.mjs').Sizes} sizes
 * @param {number | undefined} pacedRate  yard's paced rate, when it was measured
 * @returns {Promise<Figures>}
 */
async function measureHttpCeiling(fixture, sizes, pacedRate) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-serving-http-'));
  try {
    const port = await freePort();
    return await withServer(
      'node:http ceiling (JSON in and out, no inference)',
      () =>
        startServer({
          name: 'http ceiling',
          command: process.execPath,
          args: [path.join(servingDir, 'http-ceiling.mjs'), String(port), fixture.dir],
          baseUrl: `http://127.0.0.1:${port}`,
          logFile: path.join(dir, 'server.log'),
          cwd: dir,
        }),
      async (server, figures) => {
        const client = new JsonClient(server.baseUrl, 64);
        try {
          const v2 = oipV2(fixture, fixture.key);
          await measureProtocol(figures, 'v2', client, v2, fixture, sizes, sizes.concurrencies);
          /** @type {import('./workloads.mjs').StepResult[]} */
          const steps = figures.v2 ?? [];
          const rate = pacedRate ?? Math.max(0, ...steps.map((s) => s.reqPerSec)) / 2;
          if (rate > 0) {
            log(`  ${fixture.key} http ceiling paced: ${round(rate)} req/s`);
            const window = startWindow(server.pid, undefined);
            const paced = await pacedRun(rate, sizes.pacedSeconds, httpCall(client, v2, fixture));
            figures.paced = { ...paced, during: await window.end() };
            log(`  -> ${JSON.stringify(figures.paced)}`);
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
 * The headline comparison of one model: one row per target and concurrency.
 * @param {Record<string, Figures>} servers
 * @param {number[]} concurrencies
 * @param {ModelKey} model  the p99 target is the small model's (iris); for the CNN it is shown
 *   for information
 */
function compare(servers, concurrencies, model) {
  const { yard, mlflow, mlserver, floor, http } = servers;
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
  for (const c of concurrencies) {
    add('req/s vs the HTTP ceiling (OIP v2)', c, rate(yard, 'v2', c), rate(http, 'v2', c), null);
  }
  const batched = `batched (${BATCHING.maxBatchSize}/${BATCHING.maxLatencyMs} ms) req/s`;
  const batchedRate = rate(yard, 'v2Batched', BATCH_CLIENTS);
  add(`${batched} vs floor`, BATCH_CLIENTS, batchedRate, rate(floor, 'steps', BATCH_CLIENTS), 0.75);
  add(
    `${batched} vs the HTTP ceiling`,
    BATCH_CLIENTS,
    batchedRate,
    rate(http, 'v2', BATCH_CLIENTS),
    null,
  );
  add(
    'HTTP ceiling req/s vs floor (what HTTP alone allows)',
    BATCH_CLIENTS,
    rate(http, 'v2', BATCH_CLIENTS),
    rate(floor, 'steps', BATCH_CLIENTS),
    null,
  );
  /** @type {Figures | undefined} */
  const paced = yard?.pacedHalfSaturation;
  /** @type {number | null} */
  const p99 = paced?.p99Ms ?? null;
  const small = model === 'iris';
  rows.push({
    figure: 'p99 ms at half saturation (OIP v2, paced; peer: HTTP ceiling at the same rate)',
    clients: null,
    ours: p99,
    peer: http?.paced?.p99Ms ?? null,
    ratio: null,
    target: small ? '< 5 ms' : '',
    met: !small || p99 === null || !Number.isFinite(p99) ? null : p99 < 5,
  });
  /** @param {string} figure @param {number | null} ours @param {number | null} peer */
  const info = (figure, ours, peer) =>
    rows.push({ figure, clients: null, ours, peer, ratio: null, target: '', met: null });
  info(
    "  the same, from each request's actual send (generator lag left out)",
    paced?.fromSendP99Ms ?? null,
    http?.paced?.fromSendP99Ms ?? null,
  );
  info(
    '  the same, inside the server (server-probe.mjs: request line to last byte)',
    paced?.during?.insideServer?.p99Ms ?? null,
    null,
  );
  info(
    'p99 ms at a quarter of saturation (OIP v2, paced)',
    yard?.pacedQuarterSaturation?.p99Ms ?? null,
    null,
  );
  return rows;
}

/**
 * Measures every selected server on one model, one server at a time.
 * @param {ReturnType<typeof parseArgs>} opts
 * @param {import('./workloads.mjs').Sizes} sizes
 * @param {import('./workloads.mjs').Fixture} fixture
 * @returns {Promise<Record<string, Figures>>}
 */
async function measureModel(opts, sizes, fixture) {
  /** @type {Record<string, Figures>} */
  const servers = {};
  // One at a time, so that each has the machine to itself while measured.
  if (opts.only.includes('floor')) {
    log(`${fixture.key} floor: onnxruntime-node in-process`);
    try {
      servers.floor = await measureFloor(sizes, fixture);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      servers.floor = { label: 'onnxruntime-node in-process', available: false, reason };
    }
  }
  if (opts.only.includes('yard')) {
    servers.yard = await measureYard(fixture, sizes, opts.yardNodeOptions, opts.probe);
  }
  if (opts.only.includes('http')) {
    /** @type {number | undefined} */
    const paced = servers.yard?.pacedHalfSaturation?.targetReqPerSec;
    servers.http = await measureHttpCeiling(fixture, sizes, paced);
  }
  if (opts.only.includes('mlflow')) servers.mlflow = await measureMlflow(fixture, sizes);
  if (opts.only.includes('mlserver')) servers.mlserver = await measureMlserver(fixture, sizes);
  return servers;
}

/**
 * The servers of one model whose answers were wrong or whose run failed.
 * @param {Record<string, Figures>} servers
 * @returns {string[]}
 */
function failedChecks(servers) {
  return Object.entries(servers)
    .filter(([, f]) => {
      /** @type {{ ok: boolean }[]} */
      const checks = f.check ? [f.check] : Object.values(f.checks ?? {});
      /** @type {import('./workloads.mjs').StepResult[]} */
      const steps = ['steps', 'v2', 'invocations', 'v2Batched'].flatMap((k) => f[k] ?? []);
      const paced = [f.pacedHalfSaturation, f.pacedQuarterSaturation, f.paced].filter(
        (p) => p !== undefined,
      );
      return (
        f.error !== undefined ||
        checks.some((c) => !c.ok) ||
        steps.some((s) => s.wrongLabels > 0) ||
        paced.some((p) => (p.wrongLabels ?? 0) + (p.failed ?? 0) > 0)
      );
    })
    .map(([k]) => k);
}

/** @param {number | null | undefined} x */
const fmt = (x) => (x === null || x === undefined ? '-' : String(x));

/**
 * The human-readable tables of one model.
 * @param {ModelKey} model
 * @param {Record<string, Figures>} servers
 * @param {ReturnType<typeof compare>} comparison
 * @returns {string}
 */
function report(model, servers, comparison) {
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
    for (const paced of [f.pacedHalfSaturation, f.pacedQuarterSaturation, f.paced]) {
      if (!paced) continue;
      detail.push([
        key,
        `v2 paced ${fmt(paced.targetReqPerSec)}/s`,
        '-',
        fmt(paced.achievedReqPerSec),
        fmt(paced.p50Ms),
        fmt(paced.p99Ms),
        fmt(f.memory?.rssMB),
      ]);
    }
  }
  return (
    `\n== ${model} ==\n` +
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
      .join('')
  );
}

/**
 * One summary line of the machine's own stalls.
 * @param {string} when
 * @param {Awaited<ReturnType<typeof measureMachineJitter>>} jitter
 */
function stallsLine(when, { oneThread, allCores }) {
  return (
    `machine stalls ${when} (spinning threads, no server): 1 thread: longest ${oneThread.maxGapMs} ms, ` +
    `${oneThread.gapsOver5Ms} over 5 ms in ${oneThread.seconds} s; ${allCores.threads} threads (every core): ` +
    `longest ${allCores.maxGapMs} ms, ${allCores.gapsOver5Ms} over 5 ms, ${allCores.lostMsPerSecond} ms lost per second per thread\n`
  );
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
  const jitterSeconds = opts.quick ? 2 : 5;
  log(`machine stalls: spinning 1 thread, then one per core, ${jitterSeconds} s each`);
  const jitterBefore = await measureMachineJitter(jitterSeconds);
  log(`  -> ${JSON.stringify(jitterBefore)}`);
  /** @type {Record<string, { model: string, servers: Record<string, Figures>, comparison: ReturnType<typeof compare>, checksFailed: string[] }>} */
  const models = {};
  for (const key of opts.models) {
    const fixture = loadFixture(key, MODELS[key].dir);
    const servers = await measureModel(opts, sizes, fixture);
    models[key] = {
      model: MODELS[key].description,
      servers,
      comparison: compare(servers, sizes.concurrencies, key),
      checksFailed: failedChecks(servers),
    };
  }
  log('machine stalls again, after the servers');
  const jitterAfter = await measureMachineJitter(jitterSeconds);
  log(`  -> ${JSON.stringify(jitterAfter)}`);
  const checksFailed = Object.entries(models).flatMap(([key, m]) =>
    m.checksFailed.map((server) => `${key}/${server}`),
  );
  const result = {
    benchmark: 'serving',
    quick: opts.quick,
    workload: {
      requests:
        "one row per request, cycling through the 8 rows of the model's expected.json; every answer label checked, class probabilities checked before timing",
      v2: 'POST /v2/models/<name>/infer, {"inputs":[{"name":"<input>","datatype":"FP32","shape":[1, ...row shape],"data":[...flat]}]}',
      invocations:
        'POST /endpoints/<name>/invocations (yard) or /invocations (MLflow), {"inputs":[row nested as its shape]}',
      load: `closed loop, ${sizes.concurrencies.join('/')} concurrent clients, HTTP/1.1 keep-alive (node:http Agent); each server and protocol first warmed up for ${Math.max(1, sizes.warmupSeconds)} s at ${WARM_UP_CLIENTS} clients; ${sizes.rounds} rounds of >= ${sizes.roundSeconds} s after ${sizes.warmupSeconds} s warm-up; req/s is the median over rounds, latency percentiles over all calls`,
      paced: `OIP v2 to the plain yard deployment at half (the target's load), then a quarter, of the best closed-loop req/s, open loop for ${sizes.pacedSeconds} s each, latency from each request's due time (also from its actual send, and inside the server by server-probe.mjs), with CPU use of the machine, the server and the generator; the HTTP ceiling is paced at the half rate`,
      batching: `second yard deployment with batching ${JSON.stringify(BATCHING)}, measured at ${BATCH_CLIENTS} clients`,
      floor:
        'onnxruntime-node InferenceSession.run in the benchmark process, intraOpNumThreads 1, one row per call, same rows, same concurrencies (runs take turns on the one thread)',
      http: 'bench/serving/http-ceiling.mjs: node:http, JSON.parse of the body, JSON answer of the expected outputs, no inference; OIP v2 bodies',
      memory: 'summed VmRSS / Pss of each server process tree after its workload',
      machineStalls:
        'bench/serving/machine-jitter.mjs, before and after the servers: threads spinning on performance.now() with nothing else running; a gap between two reads is time the machine took the thread off its CPU, which bounds any tail latency measured here',
      sizes,
      ...(opts.yardNodeOptions.length > 0 && { yardNodeOptions: opts.yardNodeOptions }),
    },
    machine: { ...machineInfo(), stalls: { before: jitterBefore, after: jitterAfter } },
    models,
    checksFailed,
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  const file = appendResult(benchDir, 'serving', result);
  process.stderr.write(
    Object.entries(models)
      .map(([key, m]) => report(/** @type {ModelKey} */ (key), m.servers, m.comparison))
      .join('') +
      stallsLine('before', jitterBefore) +
      stallsLine('after', jitterAfter) +
      (checksFailed.length ? `correctness checks FAILED for: ${checksFailed.join(', ')}\n` : '') +
      `appended to ${path.relative(process.cwd(), file)}\n`,
  );
  return checksFailed.length > 0 ? 1 : 0;
}

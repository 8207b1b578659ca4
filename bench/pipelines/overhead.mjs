// Part (a) of the pipelines benchmark: orchestration overhead per step of `yard run` and of
// Prefect 3 on the same shapes, first run (cold cache) and fully cached rerun.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@modelyard/client';
import { deserializeOutput } from '@modelyard/pipelines';
import { log } from '../lib/report.mjs';
import {
  ServerUnavailableError,
  freePort,
  machineCpuSeconds,
  startServer,
  stopServer,
  treeCpuSeconds,
  waitForIdle,
  yardServerSpec,
} from '../lib/server-process.mjs';
import { median, round } from '../lib/stats.mjs';
import { timedCommand } from '../lib/timed-command.mjs';
import {
  callsOf,
  checkSummary,
  expectedAnswer,
  finalDigest,
  parseSummary,
  writeYardPipeline,
} from './shapes.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const prefectScript = path.join(here, 'prefect_shapes.py');

/** @typedef {import('./shapes.mjs').Shape} Shape */

/**
 * The small size every shape also runs at (a 1-step chain, a 1-item fan-out): subtracting its
 * figures leaves what the extra steps cost, without the process's fixed costs (runtime start,
 * imports, yard bundling the file, Prefect's flow setup).
 */
export const BASE_STEPS = 1;
/** @typedef {'first' | 'cached'} RunKind */

/**
 * One measured run of a shape.
 * @typedef {object} Sample
 * @property {number} wallMs     the process: spawn to exit
 * @property {number} inRunMs    the run's own time (yard: summary endedAt - startedAt; Prefect: the flow call)
 * @property {number} clientCpuMs  CPU of the `yard run` / Python process
 * @property {number} serverCpuMs  CPU of the server's processes from the run's start until the
 *   server is idle again (a peer may record part of a run after it returned)
 * @property {number} othersCpuMs  CPU of the rest of the machine over the same span (other
 *   people's processes: high values mean a disturbed sample)
 * @property {number} executed  step calls whose body ran
 * @property {number} cached    step calls answered from the cache
 */

/**
 * A shape and run kind over all rounds: medians and samples.
 * @typedef {object} Figure
 * @property {Shape} shape
 * @property {RunKind} run
 * @property {number} calls           step calls per run
 * @property {number} wallS           median wall time, s
 * @property {number} inRunS          median in-run time, s
 * @property {number} wallMsPerStep   wallS / calls, in ms
 * @property {number} inRunMsPerStep  inRunS / calls, in ms
 * @property {number} cpuMsPerStep    median client + server CPU / calls, in ms
 * @property {number} serverCpuMsPerStep  median server CPU / calls, in ms
 * @property {Marginal | null} marginal  the cost of one more step call
 * @property {Sample[]} samples
 */

/**
 * What one more step call costs: (median at the full size - median at {@link BASE_STEPS}) /
 * (calls - calls at BASE_STEPS), in ms, for the wall, in-run and CPU figures.
 * @typedef {object} Marginal
 * @property {number} wallMsPerStep
 * @property {number} inRunMsPerStep
 * @property {number} cpuMsPerStep
 * @property {number} baseCalls
 * @property {number} baseWallS
 */

/**
 * What one run of a peer gives back, or why it is unusable.
 * @typedef {{ sample: Sample, problems: string[] }} RunOutcome
 */

/**
 * Turns the samples of each shape and run kind into figures.
 * @param {Map<string, Sample[]>} samples  keyed `${shape}/${run}`
 * @param {number} n
 * @returns {Figure[]}
 */
function figuresOf(samples, n) {
  /** @param {Sample[]} list */
  const medians = (list) => ({
    wallMs: median(list.map((s) => s.wallMs)),
    inRunMs: median(list.map((s) => s.inRunMs)),
    cpuMs: median(list.map((s) => s.clientCpuMs + s.serverCpuMs)),
  });
  return [...samples.entries()]
    .filter(([key]) => !key.endsWith('/base'))
    .map(([key, list]) => {
      const [shape, run] = /** @type {[Shape, RunKind]} */ (key.split('/'));
      const calls = callsOf(shape, n);
      const m = medians(list);
      const baseList = samples.get(`${key}/base`);
      const baseCalls = callsOf(shape, BASE_STEPS);
      /** @type {Marginal | null} */
      let marginal = null;
      if (baseList !== undefined && calls > baseCalls) {
        const b = medians(baseList);
        const per = (/** @type {number} */ full, /** @type {number} */ small) =>
          round((full - small) / (calls - baseCalls));
        marginal = {
          wallMsPerStep: per(m.wallMs, b.wallMs),
          inRunMsPerStep: per(m.inRunMs, b.inRunMs),
          cpuMsPerStep: per(m.cpuMs, b.cpuMs),
          baseCalls,
          baseWallS: round(b.wallMs / 1000),
        };
      }
      const sampleOut = (/** @type {Sample} */ s) => ({
        wallMs: round(s.wallMs),
        inRunMs: round(s.inRunMs),
        clientCpuMs: round(s.clientCpuMs),
        serverCpuMs: round(s.serverCpuMs),
        othersCpuMs: round(s.othersCpuMs),
        executed: s.executed,
        cached: s.cached,
      });
      return {
        shape,
        run,
        calls,
        wallS: round(m.wallMs / 1000),
        inRunS: round(m.inRunMs / 1000),
        wallMsPerStep: round(m.wallMs / calls),
        inRunMsPerStep: round(m.inRunMs / calls),
        cpuMsPerStep: round(m.cpuMs / calls),
        serverCpuMsPerStep: round(median(list.map((s) => s.serverCpuMs)) / calls),
        marginal,
        samples: list.map(sampleOut),
        baseSamples: (baseList ?? []).map(sampleOut),
      };
    });
}

/**
 * Runs every shape `rounds` times, first with a fresh salt (cold cache) and then again with the
 * same salt (the cached rerun), at the full size and at {@link BASE_STEPS} (with salts of its
 * own), after one unmeasured warm-up of each shape. The server is let go idle before the first
 * run and after each run (its CPU is counted until then).
 * @param {object} o
 * @param {Shape[]} o.shapes
 * @param {number} o.steps
 * @param {number} o.rounds
 * @param {number} o.serverPid
 * @param {string} o.label
 * @param {(shape: Shape, salt: string, run: RunKind, steps: number) => Promise<RunOutcome>} o.runOnce
 * @returns {Promise<{ samples: Map<string, Sample[]>, problems: string[] }>}
 */
async function rounds({ shapes, steps, rounds: count, serverPid, label, runOnce }) {
  /** @type {Map<string, Sample[]>} */
  const samples = new Map();
  /** @type {string[]} */
  const problems = [];
  // Salts are whole numbers (yard takes them as --seed): new ones per benchmark run and round.
  const base = (Date.now() % 1e9) * 100;
  for (const shape of shapes) {
    log(`${label}: ${shape}: warm-up run`);
    const warm = await runOnce(shape, String(base + 99), 'first', steps);
    problems.push(...warm.problems.map((p) => `${shape} warm-up: ${p}`));
  }
  await waitForIdle(serverPid);
  for (let r = 0; r < count; r++) {
    for (const [shape, size] of shapes.flatMap((s) => [
      /** @type {const} */ ([s, steps]),
      /** @type {const} */ ([s, BASE_STEPS]),
    ])) {
      const salt = String(base + r + (size === steps ? 0 : 50));
      const sized = size === steps ? '' : ` (${size} step${size === 1 ? '' : 's'})`;
      for (const run of /** @type {RunKind[]} */ (['first', 'cached'])) {
        const serverCpu0 = treeCpuSeconds(serverPid);
        const machine0 = machineCpuSeconds().busy;
        const bench0 = process.cpuUsage();
        const { sample, problems: wrong } = await runOnce(shape, salt, run, size);
        await waitForIdle(serverPid);
        sample.serverCpuMs = (treeCpuSeconds(serverPid) - serverCpu0) * 1000;
        const bench = process.cpuUsage(bench0);
        sample.othersCpuMs = Math.max(
          0,
          (machineCpuSeconds().busy - machine0) * 1000 -
            sample.clientCpuMs -
            sample.serverCpuMs -
            (bench.user + bench.system) / 1000,
        );
        log(
          `${label}: ${shape}${sized} ${run} (round ${r + 1}/${count}): wall ${(sample.wallMs / 1000).toFixed(2)} s, ` +
            `in-run ${(sample.inRunMs / 1000).toFixed(2)} s, CPU ${(sample.clientCpuMs / 1000).toFixed(2)} + ` +
            `${(sample.serverCpuMs / 1000).toFixed(2)} s (server), others ${(sample.othersCpuMs / 1000).toFixed(2)} s, ` +
            `${sample.executed} executed, ` +
            `${sample.cached} cached` +
            (wrong.length > 0 ? `; PROBLEMS: ${wrong.join('; ')}` : ''),
        );
        problems.push(...wrong.map((p) => `${shape}${sized} ${run} round ${r + 1}: ${p}`));
        const key = `${shape}/${run}${size === steps ? '' : '/base'}`;
        samples.set(key, [...(samples.get(key) ?? []), sample]);
      }
    }
  }
  return { samples, problems };
}

/**
 * @typedef {object} PeerFigures
 * @property {string} label
 * @property {boolean} available
 * @property {string} [reason]
 * @property {Figure[]} [figures]
 * @property {string[]} [problems]   failed correctness checks (any makes the exit code 1)
 * @property {string} [error]
 */

/**
 * Measures `yard run` on a fresh `yard server` (SQLite, local artifacts) in `workDir/yard`.
 * @param {object} o
 * @param {string} o.workDir
 * @param {string} o.yardBin
 * @param {Shape[]} o.shapes
 * @param {number} o.steps
 * @param {number} o.rounds
 * @returns {Promise<PeerFigures>}
 */
export async function measureYard({ workDir, yardBin, shapes, steps, rounds: count }) {
  const label = 'yard';
  const dir = path.join(workDir, 'yard');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  let server;
  try {
    server = await startServer(yardServerSpec({ yardBin, dir, port }));
  } catch (err) {
    if (!(err instanceof ServerUnavailableError)) throw err;
    return { label, available: false, reason: err.message };
  }
  const client = createClient({ baseUrl });
  const files = new Map(
    shapes.flatMap((s) =>
      [steps, BASE_STEPS].map((n) => [`${s}-${n}`, writeYardPipeline(dir, s, n)]),
    ),
  );
  /** @type {(shape: Shape, salt: string, run: RunKind, n: number) => Promise<RunOutcome>} */
  const runOnce = async (shape, salt, run, n) => {
    // The seed is part of every cache key: a new one is a cold cache, the same one a rerun.
    const res = await timedCommand(
      process.execPath,
      [
        yardBin,
        '--server',
        baseUrl,
        'run',
        /** @type {string} */ (files.get(`${shape}-${n}`)),
        '--json',
        '--seed',
        salt,
      ],
      { cwd: dir },
    );
    const summary = parseSummary(res.stdout);
    /** @type {Sample} */
    const sample = {
      wallMs: res.wallMs,
      inRunMs: Number.NaN,
      clientCpuMs: res.cpuMs,
      serverCpuMs: Number.NaN,
      othersCpuMs: Number.NaN,
      executed: 0,
      cached: 0,
    };
    if (summary === null || res.code !== 0) {
      return {
        sample,
        problems: [
          `yard run exited ${res.code ?? res.signal}${summary === null ? ' without a summary' : ''}: ` +
            `${res.stderr.trim().slice(-800)}`,
        ],
      };
    }
    sample.inRunMs = (summary.endedAt ?? Number.NaN) - summary.startedAt;
    const check = checkSummary(summary, shape, n, run);
    sample.executed = check.executed;
    sample.cached = check.cached;
    const problems = [...check.problems];
    const digest = finalDigest(summary);
    const expected = expectedAnswer(shape, n);
    if (digest === null) problems.push('the last step has no output');
    else {
      const answer = await deserializeOutput(await client.blobs.get(digest), digest);
      if (answer !== expected) {
        problems.push(`the answer is ${JSON.stringify(answer)}, expected ${expected}`);
      }
    }
    return { sample, problems };
  };
  try {
    const { samples, problems } = await rounds({
      shapes,
      steps,
      rounds: count,
      serverPid: server.pid,
      label,
      runOnce,
    });
    return { label, available: true, figures: figuresOf(samples, steps), problems };
  } catch (err) {
    return { label, available: true, error: err instanceof Error ? err.message : String(err) };
  } finally {
    await stopServer(server);
  }
}

/**
 * The environment of the Prefect server and of the flow processes.
 * @param {string} dir
 * @param {string | undefined} apiUrl
 * @returns {Record<string, string>}
 */
export function prefectEnv(dir, apiUrl) {
  return {
    // Its own profile, settings and SQLite database (PREFECT_HOME/prefect.db).
    PREFECT_HOME: path.join(dir, 'home'),
    PREFECT_LOCAL_STORAGE_PATH: path.join(dir, 'results'),
    PREFECT_RESULTS_PERSIST_BY_DEFAULT: 'true',
    // INFO would print (and send to the API) a line per task run; yard's --json prints none.
    PREFECT_LOGGING_LEVEL: 'WARNING',
    PREFECT_SERVER_LOGGING_LEVEL: 'WARNING',
    PREFECT_SERVER_ANALYTICS_ENABLED: 'false',
    PREFECT_SERVER_UI_ENABLED: 'false',
    ...(apiUrl !== undefined && { PREFECT_API_URL: apiUrl }),
  };
}

/**
 * Measures Prefect 3 running the same shapes (bench/pipelines/prefect_shapes.py) against a local
 * `prefect server` on its own SQLite, started like `yard server` is.
 * @param {object} o
 * @param {string} o.workDir
 * @param {{ python: string, prefect: string, version: string }} o.install
 * @param {Shape[]} o.shapes
 * @param {number} o.steps
 * @param {number} o.rounds
 * @returns {Promise<PeerFigures>}
 */
export async function measurePrefect({ workDir, install, shapes, steps, rounds: count }) {
  const label = `Prefect ${install.version}`;
  const dir = path.join(workDir, 'prefect');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}/api`;
  let server;
  try {
    server = await startServer({
      name: 'prefect server',
      command: install.prefect,
      args: ['server', 'start', '--host', '127.0.0.1', '--port', String(port)],
      baseUrl: `http://127.0.0.1:${port}`,
      healthPath: '/api/health',
      logFile: path.join(dir, 'server.log'),
      cwd: dir,
      env: prefectEnv(dir, undefined),
    });
  } catch (err) {
    if (!(err instanceof ServerUnavailableError)) throw err;
    return { label, available: false, reason: err.message };
  }
  const env = prefectEnv(dir, apiUrl);
  /** @type {(shape: Shape, salt: string, run: RunKind, n: number) => Promise<RunOutcome>} */
  const runOnce = async (shape, salt, run, n) => {
    const res = await timedCommand(
      install.python,
      [prefectScript, shape, '--steps', String(n), '--salt', salt],
      { cwd: dir, env },
    );
    /** @type {Sample} */
    const sample = {
      wallMs: res.wallMs,
      inRunMs: Number.NaN,
      clientCpuMs: res.cpuMs,
      serverCpuMs: Number.NaN,
      othersCpuMs: Number.NaN,
      executed: 0,
      cached: 0,
    };
    /** @type {{ flowSeconds: number, answer: unknown, expected: number, bodies: number, states: Record<string, number>, flowState: string, taskRuns: number } | null} */
    let out = null;
    try {
      out = JSON.parse(res.stdout.trim().split('\n').pop() ?? '');
    } catch {
      // reported below
    }
    if (out === null || res.code !== 0) {
      return {
        sample,
        problems: [
          `prefect_shapes.py exited ${res.code ?? res.signal}${out === null ? ' without its JSON line' : ''}: ` +
            `${res.stderr.trim().slice(-800)}`,
        ],
      };
    }
    sample.inRunMs = out.flowSeconds * 1000;
    sample.executed = out.bodies;
    sample.cached = out.states.Cached ?? 0;
    const calls = callsOf(shape, n);
    /** @type {string[]} */
    const problems = [];
    const expected = expectedAnswer(shape, n);
    if (out.answer !== expected) {
      problems.push(`the answer is ${JSON.stringify(out.answer)}, expected ${expected}`);
    }
    const states = JSON.stringify(out.states);
    if (run === 'first' && (out.bodies !== calls || out.states.Completed !== calls)) {
      problems.push(`${out.bodies} of ${calls} task bodies ran (states ${states}); expected all`);
    }
    if (run === 'cached' && (out.bodies !== 0 || out.states.Cached !== calls)) {
      problems.push(
        `${out.bodies} task bodies ran (states ${states}); expected ${calls} Cached, none run`,
      );
    }
    return { sample, problems };
  };
  try {
    const { samples, problems } = await rounds({
      shapes,
      steps,
      rounds: count,
      serverPid: server.pid,
      label,
      runOnce,
    });
    return { label, available: true, figures: figuresOf(samples, steps), problems };
  } catch (err) {
    return { label, available: true, error: err instanceof Error ? err.message : String(err) };
  } finally {
    await stopServer(server);
  }
}

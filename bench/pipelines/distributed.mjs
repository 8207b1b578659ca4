// Part (b) of the pipelines benchmark: throughput of trivial step jobs through Redis with 1, 2
// and 4 `yard worker` processes.
import { spawn } from 'node:child_process';
import { closeSync, createWriteStream, mkdirSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { log } from '../lib/report.mjs';
import {
  ServerUnavailableError,
  freePort,
  killGroup,
  machineCpuSeconds,
  startServer,
  stopServer,
  treeCpuSeconds,
  waitForIdle,
  yardServerSpec,
} from '../lib/server-process.mjs';
import { round } from '../lib/stats.mjs';
import { timedCommand } from '../lib/timed-command.mjs';
import { checkSummary, parseSummary, writeYardPipeline } from './shapes.mjs';

/** Step calls each worker runs at once (`yard worker --concurrency`). */
export const WORKER_CONCURRENCY = 8;

/**
 * Sends PING to a Redis server; true when it answers +PONG.
 * @param {number} port
 * @returns {Promise<boolean>}
 */
function ping(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    const done = (/** @type {boolean} */ ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (b) => {
      answer += b.toString('latin1');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}

/**
 * Starts a throwaway `redis-server` (no persistence) on a free port, logging into `dir`.
 * @param {string} dir
 * @returns {Promise<{ child: import('node:child_process').ChildProcess, url: string, version: string }>}
 * @throws {ServerUnavailableError} when it exits or does not answer PING within 10 s
 */
async function startRedis(dir) {
  const port = await freePort();
  const logFile = path.join(dir, 'redis.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { stdio: ['ignore', fd, fd], detached: true },
  );
  closeSync(fd);
  /** @type {string | null} */
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = signal ?? `code ${code}`;
  });
  child.on('error', (err) => {
    exited = `spawn error: ${err.message} (is redis-server installed? apt-get install redis-server)`;
  });
  const t0 = performance.now();
  while (!(await ping(port))) {
    const tail = () => readFileSync(logFile, 'utf8').slice(-1500);
    if (exited !== null) {
      throw new ServerUnavailableError('redis-server', `it exited (${exited})`, tail());
    }
    if (performance.now() - t0 > 10_000) {
      await killGroup(child);
      throw new ServerUnavailableError('redis-server', 'no PONG within 10 s', tail());
    }
    await sleep(20);
  }
  const version = /version=(\d+\.\d+\.\d+)/.exec(readFileSync(logFile, 'utf8'))?.[1] ?? 'unknown';
  return { child, url: `redis://127.0.0.1:${port}`, version };
}

/**
 * Starts one `yard worker` and waits for its "ready on" line.
 * @param {object} o
 * @param {string} o.yardBin
 * @param {string} o.serverUrl
 * @param {string} o.redisUrl
 * @param {string} o.queue
 * @param {string} o.cwd       where it imports pipeline bundles (`.modelyard/pipelines`)
 * @param {string} o.logFile
 * @returns {Promise<import('node:child_process').ChildProcess>}
 * @throws {Error} with the command and its output when it exits or is not ready within 60 s
 */
async function startWorker({ yardBin, serverUrl, redisUrl, queue, cwd, logFile }) {
  const args = [
    yardBin,
    '--server',
    serverUrl,
    'worker',
    '--redis',
    redisUrl,
    '--queue',
    queue,
    '--concurrency',
    String(WORKER_CONCURRENCY),
  ];
  const child = spawn(process.execPath, args, {
    cwd,
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  const out = createWriteStream(logFile, { flags: 'a' });
  let text = '';
  /** @type {string | null} */
  let exited = null;
  const ready = new Promise((resolve, reject) => {
    child.stderr?.on('data', (b) => {
      out.write(b);
      // Only the start matters; later lines go to the log file alone.
      if (text.length < 20_000) text += b.toString('utf8');
      if (/ ready on /.test(text)) resolve(undefined);
    });
    child.on('exit', (code, signal) => {
      exited = signal ?? `code ${code}`;
      reject(new Error('exited'));
    });
    child.on('error', reject);
  });
  // Unreferenced: a worker that got ready must not keep the benchmark alive for the rest of it.
  const timeout = sleep(60_000, undefined, { ref: false }).then(() => 'timeout');
  const outcome = await Promise.race([ready.then(() => 'ready'), timeout]).catch(() => 'exited');
  if (outcome !== 'ready') {
    await killGroup(child);
    throw new Error(
      `yard worker ${outcome === 'timeout' ? 'printed no "ready on" line within 60 s' : `exited (${exited}) before it was ready`}.\n` +
        `command: node ${args.join(' ')}\noutput:\n${text.slice(-2000)}`,
    );
  }
  child.stderr?.on('end', () => out.end());
  return child;
}

/**
 * CPU seconds used during a run, by process group.
 * @typedef {object} CpuSplit
 * @property {number} run       the `yard run` process (the coordinator)
 * @property {number} server    `yard server`
 * @property {number} workers   all `yard worker` processes
 * @property {number} redis
 * @property {number} benchmark this process
 * @property {number} others    the rest of the machine (other people's processes)
 */

/**
 * One worker count's figures.
 * @typedef {object} WorkerFigures
 * @property {number} workers
 * @property {number} jobs
 * @property {number} [jobsPerSec]        jobs / the map step's duration
 * @property {number} [mapSeconds]        the map step's duration (first item started to last done)
 * @property {number} [inRunSeconds]      the whole run (list, map, fan-in), from the summary
 * @property {number} [wallSeconds]       the `yard run` process, spawn to exit
 * @property {number} [distinctWorkers]   workers that ran at least one item
 * @property {Record<string, number>} [itemsPerWorker]
 * @property {CpuSplit} [cpuSeconds]      who used the CPU during the measured run
 * @property {number} [machineBusyCores]  cores busy on average during it (of os.cpus().length)
 * @property {number} [loadAverage1m]     at its end
 * @property {string[]} problems
 * @property {string} [error]            the command and output when the run failed outright
 */

/**
 * @typedef {{ server: number, workers: number, redis: number, benchmark: NodeJS.CpuUsage, machine: { busy: number } }} CpuReading
 */

/**
 * Splits the machine's CPU use between two readings by who used it.
 * @param {CpuReading} a
 * @param {CpuReading} b
 * @param {number} runSeconds  the `yard run` process's CPU
 * @returns {CpuSplit}
 */
function cpuSplit(a, b, runSeconds) {
  const bench =
    (b.benchmark.user + b.benchmark.system - a.benchmark.user - a.benchmark.system) / 1e6;
  const split = {
    run: runSeconds,
    server: b.server - a.server,
    workers: b.workers - a.workers,
    redis: b.redis - a.redis,
    benchmark: bench,
  };
  const ours = Object.values(split).reduce((x, y) => x + y, 0);
  const others = Math.max(0, b.machine.busy - a.machine.busy - ours);
  return {
    run: round(split.run, 3),
    server: round(split.server, 3),
    workers: round(split.workers, 3),
    redis: round(split.redis, 3),
    benchmark: round(split.benchmark, 3),
    others: round(others, 3),
  };
}

/**
 * Measures `yard run --executor redis` of the fan-out shape with `jobs` map items, for each
 * worker count: K fresh workers on a queue of their own, one unmeasured warm-up run (each worker
 * imports the bundle once), then the measured run, with a new seed each so that no item is
 * cached.
 * @param {object} o
 * @param {string} o.workDir
 * @param {string} o.yardBin
 * @param {number} o.jobs
 * @param {number[]} o.workerCounts
 * @returns {Promise<{ available: boolean, reason?: string, redis?: string, results: WorkerFigures[] }>}
 */
export async function measureDistributed({ workDir, yardBin, jobs, workerCounts }) {
  const dir = path.join(workDir, 'distributed');
  mkdirSync(dir, { recursive: true });
  /** @type {Awaited<ReturnType<typeof startRedis>>} */
  let redis;
  try {
    redis = await startRedis(dir);
  } catch (err) {
    if (!(err instanceof ServerUnavailableError)) throw err;
    return { available: false, reason: err.message, results: [] };
  }
  log(`redis-server ${redis.version} on ${redis.url}`);
  const port = await freePort();
  const serverUrl = `http://127.0.0.1:${port}`;
  let server;
  try {
    server = await startServer(yardServerSpec({ yardBin, dir, port }));
  } catch (err) {
    await killGroup(redis.child);
    if (!(err instanceof ServerUnavailableError)) throw err;
    return { available: false, reason: err.message, results: [] };
  }
  const file = writeYardPipeline(dir, 'fanout', jobs);
  /** @type {WorkerFigures[]} */
  const results = [];
  let seed = (Date.now() % 1e9) * 100;
  try {
    for (const k of workerCounts) {
      const queue = `bench-${process.pid}-${k}w-${Date.now().toString(36)}`;
      /** @type {import('node:child_process').ChildProcess[]} */
      const workers = [];
      /** @type {WorkerFigures} */
      const figures = { workers: k, jobs, problems: [] };
      results.push(figures);
      try {
        for (let i = 0; i < k; i++) {
          workers.push(
            await startWorker({
              yardBin,
              serverUrl,
              redisUrl: redis.url,
              queue,
              cwd: dir,
              logFile: path.join(dir, `worker-${k}w-${i}.log`),
            }),
          );
        }
        log(`distributed: ${k} worker(s) ready on queue ${queue}`);
        const args = [
          yardBin,
          '--server',
          serverUrl,
          'run',
          file,
          '--executor',
          'redis',
          '--redis',
          redis.url,
          '--queue',
          queue,
          '--json',
        ];
        const cpuNow = () => ({
          server: treeCpuSeconds(server.pid),
          workers: workers.reduce((sum, w) => sum + treeCpuSeconds(w.pid ?? -1), 0),
          redis: treeCpuSeconds(redis.child.pid ?? -1),
          benchmark: process.cpuUsage(),
          machine: machineCpuSeconds(),
        });
        for (const phase of ['warm-up', 'measured']) {
          await waitForIdle(server.pid);
          const cpu0 = cpuNow();
          const res = await timedCommand(process.execPath, [...args, '--seed', String(seed++)], {
            cwd: dir,
          });
          const cpu1 = cpuNow();
          const summary = parseSummary(res.stdout);
          if (summary === null || res.code !== 0) {
            figures.error =
              `${phase} run failed: exit ${res.code ?? res.signal}\ncommand: node ${args.join(' ')}\n` +
              `stderr:\n${res.stderr.trim().slice(-3000)}` +
              (summary === null ? `\nstdout:\n${res.stdout.trim().slice(-1500)}` : '');
            break;
          }
          const check = checkSummary(summary, 'fanout', jobs, 'first');
          const map = summary.steps.find((s) => s.kind === 'map');
          /** @type {Record<string, number>} */
          const perWorker = {};
          for (const item of map?.items ?? []) {
            const w = item.worker ?? '(none)';
            perWorker[w] = (perWorker[w] ?? 0) + 1;
          }
          const mapSeconds = (map?.durationMs ?? Number.NaN) / 1000;
          log(
            `distributed: ${k} worker(s), ${phase}: ${jobs} jobs in ${mapSeconds.toFixed(2)} s ` +
              `(${(jobs / mapSeconds).toFixed(0)} jobs/s), wall ${(res.wallMs / 1000).toFixed(2)} s, ` +
              `${Object.keys(perWorker).length} distinct workers` +
              (check.problems.length > 0 ? `; PROBLEMS: ${check.problems.join('; ')}` : ''),
          );
          if (phase === 'warm-up') {
            figures.problems.push(...check.problems.map((p) => `warm-up: ${p}`));
            continue;
          }
          figures.problems.push(...check.problems);
          Object.assign(figures, {
            jobsPerSec: round(jobs / mapSeconds),
            mapSeconds: round(mapSeconds),
            inRunSeconds: round(((summary.endedAt ?? Number.NaN) - summary.startedAt) / 1000),
            wallSeconds: round(res.wallMs / 1000),
            distinctWorkers: Object.keys(perWorker).filter((w) => w !== '(none)').length,
            itemsPerWorker: perWorker,
            cpuSeconds: cpuSplit(cpu0, cpu1, res.cpuMs / 1000),
            machineBusyCores: round(
              (cpu1.machine.busy - cpu0.machine.busy) / (res.wallMs / 1000),
              3,
            ),
            loadAverage1m: round(os.loadavg()[0] ?? 0, 3),
          });
        }
      } catch (err) {
        figures.error = err instanceof Error ? err.message : String(err);
        log(`distributed: ${k} worker(s) failed: ${figures.error}`);
      } finally {
        await Promise.all(workers.map((w) => killGroup(w)));
      }
    }
  } finally {
    await stopServer(server);
    await killGroup(redis.child);
  }
  return { available: true, redis: redis.version, results };
}

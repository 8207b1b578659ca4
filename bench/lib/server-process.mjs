// Starting, probing, measuring and stopping a server process (and its children).
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { probe } from './http-client.mjs';

/** Thrown when a server cannot be started: it exited or never answered its health check. */
export class ServerUnavailableError extends Error {
  /**
   * @param {string} name
   * @param {string} reason
   * @param {string} logTail
   */
  constructor(name, reason, logTail) {
    super(
      `${name} is not available: ${reason}${logTail ? `\n--- its output ---\n${logTail}` : ''}`,
    );
    this.name = 'ServerUnavailableError';
    /** @readonly */ this.reason = reason;
    /** @readonly */ this.logTail = logTail;
  }
}

/**
 * Asks the kernel for a free TCP port on 127.0.0.1.
 * @returns {Promise<number>}
 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * @typedef {object} ServerSpec
 * @property {string} name        label used in messages
 * @property {string} command
 * @property {string[]} args
 * @property {string} baseUrl     e.g. `http://127.0.0.1:5000`
 * @property {string} logFile     where stdout and stderr go
 * @property {string} [cwd]
 * @property {Record<string, string | undefined>} [env]
 * @property {string} [healthPath]  the readiness probe; `/health` unless given
 */

/**
 * The spec of a built `yard server` on 127.0.0.1:`port` keeping its store in `dir` (SQLite
 * `yard.db` unless `backendUri` is given, artifacts in `artifacts/`, log in `server.log`).
 * @param {{ yardBin: string, dir: string, port: number, backendUri?: string, nodeArgs?: string[] }} o
 *   `nodeArgs`: node flags before the CLI (e.g. `--import` a probe)
 * @returns {ServerSpec}
 */
export function yardServerSpec({ yardBin, dir, port, backendUri, nodeArgs = [] }) {
  return {
    name: 'yard server',
    command: process.execPath,
    args: [
      ...nodeArgs,
      yardBin,
      'server',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--backend-store-uri',
      backendUri || `sqlite:///${path.join(dir, 'yard.db')}`,
      '--artifacts-destination',
      path.join(dir, 'artifacts'),
    ],
    baseUrl: `http://127.0.0.1:${port}`,
    logFile: path.join(dir, 'server.log'),
    cwd: dir,
  };
}

/**
 * A running server: its process group leader and how long it took to answer /health.
 * @typedef {object} RunningServer
 * @property {import('node:child_process').ChildProcess} child
 * @property {number} pid
 * @property {number} coldStartMs  spawn to the first 200 on /health
 * @property {string} baseUrl
 * @property {string} name
 * @property {string} logFile
 */

/**
 * Reads the last bytes of a log file, for error messages.
 * @param {string} file
 * @param {number} bytes
 * @returns {string}
 */
function tail(file, bytes = 2000) {
  try {
    const text = readFileSync(file, 'utf8');
    return text.slice(-bytes).trim();
  } catch {
    return '';
  }
}

/**
 * Spawns a server in its own process group and polls `GET /health` (or `spec.healthPath`) every
 * 10 ms until it answers 200. The time from spawn to that answer is the cold start.
 * @param {ServerSpec} spec
 * @param {number} timeoutMs  give up (and kill it) after this long
 * @returns {Promise<RunningServer>}
 * @throws {ServerUnavailableError} when it exits first or does not answer in time
 */
export async function startServer(spec, timeoutMs = 120_000) {
  const fd = openSync(spec.logFile, 'a');
  const t0 = performance.now();
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  closeSync(fd);
  /** @type {string | null} */
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = signal ? `signal ${signal}` : `code ${code}`;
  });
  child.on('error', (err) => {
    exited = `spawn error: ${err.message}`;
  });
  const healthPath = spec.healthPath ?? '/health';
  const healthUrl = `${spec.baseUrl}${healthPath}`;
  for (;;) {
    if (exited !== null) {
      throw new ServerUnavailableError(
        spec.name,
        `it exited (${exited}) before ${healthPath} answered 200`,
        tail(spec.logFile),
      );
    }
    if ((await probe(healthUrl, 500)) === 200) break;
    if (performance.now() - t0 > timeoutMs) {
      await killGroup(child);
      throw new ServerUnavailableError(
        spec.name,
        `${healthPath} did not answer 200 within ${timeoutMs} ms`,
        tail(spec.logFile),
      );
    }
    await sleep(10);
  }
  const coldStartMs = performance.now() - t0;
  return {
    child,
    pid: child.pid ?? -1,
    coldStartMs,
    baseUrl: spec.baseUrl,
    name: spec.name,
    logFile: spec.logFile,
  };
}

/**
 * Sends SIGTERM to a process group, then SIGKILL if it has not exited within 10 s.
 * @param {import('node:child_process').ChildProcess} child
 * @returns {Promise<void>}
 */
export async function killGroup(child) {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const pid = child.pid;
  const done = new Promise((resolve) => child.once('exit', resolve));
  /** @param {NodeJS.Signals} sig */
  const signal = (sig) => {
    try {
      process.kill(-pid, sig);
    } catch {
      // the group is already gone
    }
  };
  signal('SIGTERM');
  const timedOut = await Promise.race([done.then(() => false), sleep(10_000).then(() => true)]);
  if (timedOut) {
    signal('SIGKILL');
    await done;
  }
  // Children of the group leader (uvicorn workers) may outlive it briefly.
  signal('SIGKILL');
}

/**
 * Stops a running server and all processes of its group.
 * @param {RunningServer} server
 * @returns {Promise<void>}
 */
export function stopServer(server) {
  return killGroup(server.child);
}

/**
 * The pids of a process and all its descendants, from /proc.
 * @param {number} root
 * @returns {number[]}
 */
export function processTree(root) {
  /** @type {Map<number, number[]>} */
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // The command name (field 2) may contain spaces; fields after its closing paren are fixed.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(rest[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const out = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = /** @type {number} */ (queue.shift());
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/**
 * Reads a `kB` field from a /proc file; 0 when the process or field is gone.
 * @param {string} file
 * @param {string} field
 * @returns {number}
 */
function procKb(file, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Memory of a process tree: the sum of VmRSS (what `ps` shows; counts pages shared between
 * forked workers once per process) and the sum of Pss (shared pages split between sharers, so it
 * adds up to what the tree really occupies), with a per-process breakdown.
 * @param {number} root
 */
export function treeMemory(root) {
  /** @param {number} kb */
  const mb = (kb) => Math.round((kb / 1024) * 10) / 10;
  const processes = processTree(root).map((pid) => {
    let command = '';
    try {
      command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      // the process is gone
    }
    return {
      pid,
      rssMB: mb(procKb(`/proc/${pid}/status`, 'VmRSS')),
      pssMB: mb(procKb(`/proc/${pid}/smaps_rollup`, 'Pss')),
      command: command.length > 100 ? `${command.slice(0, 97)}...` : command,
    };
  });
  const sum = (/** @type {'rssMB' | 'pssMB'} */ k) =>
    Math.round(processes.reduce((acc, p) => acc + p[k], 0) * 10) / 10;
  return {
    processes: processes.length,
    rssMB: sum('rssMB'),
    pssMB: sum('pssMB'),
    byProcess: processes,
  };
}

/** Clock ticks per second of /proc/<pid>/stat's CPU times (`getconf CLK_TCK`, 100 on Linux). */
let clockTicks = 0;

/**
 * CPU times from /proc/<pid>/stat, in seconds; zeros when the process is gone.
 * @param {number | 'self'} pid
 * @returns {{ own: number, reapedChildren: number }}  user + system of the process itself, and
 *   of its children that exited and were waited for (cutime + cstime)
 */
function statCpu(pid) {
  if (clockTicks === 0) {
    const res = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    clockTicks = Number(res.stdout?.trim()) || 100;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name: state is [0], utime [11], stime [12], cutime [13], cstime [14].
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      own: (Number(rest[11]) + Number(rest[12])) / clockTicks,
      reapedChildren: (Number(rest[13]) + Number(rest[14])) / clockTicks,
    };
  } catch {
    return { own: 0, reapedChildren: 0 };
  }
}

/**
 * CPU seconds (user + system) used so far by the live processes of a tree, from /proc.
 * @param {number} root
 * @returns {number}
 */
export function treeCpuSeconds(root) {
  return processTree(root).reduce((sum, pid) => sum + statCpu(pid).own, 0);
}

/**
 * CPU seconds used by this process's children that have exited and been waited for (Node waits
 * for every child it spawned): the difference across one child's run is that child's CPU, as long
 * as no other child exits meanwhile.
 * @returns {number}
 */
export function reapedChildrenCpuSeconds() {
  return statCpu('self').reapedChildren;
}

/**
 * CPU seconds of the whole machine so far, all cores together, from the first line of /proc/stat:
 * `busy` (everything but idle and iowait) and `total`. Zeros where /proc/stat is missing.
 * @returns {{ busy: number, total: number }}
 */
export function machineCpuSeconds() {
  statCpu('self'); // sets clockTicks
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return { busy: (total - idle) / clockTicks, total: total / clockTicks };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/**
 * Waits until a server's process tree is idle: it used less than `maxShare` of one core over a
 * window of `windowMs` (work it does after answering, such as a peer recording events, finishes
 * before the next measurement starts). Gives up after `timeoutMs`.
 * @param {number} root
 * @param {{ windowMs?: number, maxShare?: number, timeoutMs?: number }} [options]
 * @returns {Promise<{ idle: boolean, waitedMs: number }>}
 */
export async function waitForIdle(root, options = {}) {
  const { windowMs = 500, maxShare = 0.05, timeoutMs = 30_000 } = options;
  const t0 = performance.now();
  let before = treeCpuSeconds(root);
  for (;;) {
    await sleep(windowMs);
    const after = treeCpuSeconds(root);
    const share = (after - before) / (windowMs / 1000);
    before = after;
    const waitedMs = performance.now() - t0;
    if (share < maxShare) return { idle: true, waitedMs };
    if (waitedMs > timeoutMs) return { idle: false, waitedMs };
  }
}

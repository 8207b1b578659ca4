// What the machine and the server did during a measured window: CPU use from /proc (Linux;
// elsewhere the figures are null) and, for a server started with server-probe.mjs, its own view
// of request latency, GC pauses and event-loop delay.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { processTree } from '../lib/server-process.mjs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

/**
 * All cores' jiffies from /proc/stat; `steal` is time the hypervisor gave this VM's cores to
 * others (counted in `busy`: a core that was stolen could not run the benchmark either).
 * @returns {{ busy: number, steal: number, total: number } | null}
 */
function machineJiffies() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - idle, steal: f[7] ?? 0, total };
  } catch {
    return null;
  }
}

/**
 * CPU milliseconds used so far by a process and its descendants (all their threads).
 * @param {number} pid
 * @returns {number | null}
 */
function treeCpuMs(pid) {
  let ms = 0;
  try {
    for (const p of processTree(pid)) {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ms += (Number(f[11]) + Number(f[12])) * TICK_MS;
    }
  } catch {
    return null;
  }
  return ms;
}

/**
 * Starts a window: CPU counters now, and (when `probeFile` is given) a SIGUSR2 to the server so
 * that its probe opens a window. `end()` reads the same counters and the probe's figures.
 * @param {number} serverPid
 * @param {string | undefined} probeFile  MODELYARD_BENCH_PROBE_OUT of the server, if probed
 */
export function startWindow(serverPid, probeFile) {
  const lines = () =>
    (probeFile && existsSync(probeFile) ? readFileSync(probeFile, 'utf8') : '')
      .split('\n')
      .filter((l) => l !== '');
  // Counted before the signal; this signal opens the probe's window (it writes nothing), the one
  // in end() writes the window's line and closes it.
  const probeLines0 = lines().length;
  if (probeFile) process.kill(serverPid, 'SIGUSR2');
  const t0 = performance.now();
  const machine0 = machineJiffies();
  const server0 = treeCpuMs(serverPid);
  const bench0 = process.cpuUsage();
  return {
    /** @returns {Promise<Record<string, unknown>>} */
    async end() {
      const seconds = (performance.now() - t0) / 1000;
      const machine1 = machineJiffies();
      const server1 = treeCpuMs(serverPid);
      const bench = process.cpuUsage(bench0);
      const pct = (/** @type {number} */ x) => Math.round(x * 10) / 10;
      /** @type {Record<string, unknown>} */
      const out = {
        cores: os.cpus().length,
        loadAverage1m: pct(os.loadavg()[0] ?? 0),
        machineBusyPercent:
          machine0 && machine1
            ? pct((100 * (machine1.busy - machine0.busy)) / (machine1.total - machine0.total))
            : null,
        machineStealPercent:
          machine0 && machine1
            ? pct((100 * (machine1.steal - machine0.steal)) / (machine1.total - machine0.total))
            : null,
        serverCpuPercentOfOneCore:
          server0 !== null && server1 !== null ? pct((server1 - server0) / seconds / 10) : null,
        loadGeneratorCpuPercentOfOneCore: pct((bench.user + bench.system) / 1000 / seconds / 10),
      };
      if (probeFile) {
        process.kill(serverPid, 'SIGUSR2');
        for (let i = 0; i < 100 && lines().length < probeLines0 + 1; i++) await sleep(20);
        const last = lines()[probeLines0];
        out.insideServer = last ? JSON.parse(last) : null;
      }
      return out;
    },
  };
}

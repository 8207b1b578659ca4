// How often the machine itself stops a running thread: every core spins on performance.now() in
// its own worker thread and records each gap between two consecutive reads. Nothing else runs,
// so a gap of milliseconds is time the thread was not on a CPU (the hypervisor or the kernel
// took it), which no server can hide from its tail latency. Measured with one spinning thread
// (the machine mostly idle) and with one per core (the machine fully busy), since a paced run
// sits in between.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { round } from '../lib/stats.mjs';

const SPIN = `
const { parentPort, workerData } = require('node:worker_threads');
const end = performance.now() + workerData.ms;
let last = performance.now();
let maxGapMs = 0, over1 = 0, over5 = 0, lostMs = 0;
for (;;) {
  const now = performance.now();
  const gap = now - last;
  last = now;
  if (gap > maxGapMs) maxGapMs = gap;
  if (gap > 1) { over1++; lostMs += gap; }
  if (gap > 5) over5++;
  if (now >= end) break;
}
parentPort.postMessage({ maxGapMs, over1, over5, lostMs });
`;

/**
 * @typedef {{ threads: number, seconds: number, maxGapMs: number, gapsOver1Ms: number,
 *   gapsOver5Ms: number, lostMsPerSecond: number }} JitterFigures
 */

/**
 * Spins `threads` threads for `seconds` and merges what they saw.
 * @param {number} threads
 * @param {number} seconds
 * @returns {Promise<JitterFigures>}
 */
async function spin(threads, seconds) {
  const results = await Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise((resolve, reject) => {
          const worker = new Worker(SPIN, { eval: true, workerData: { ms: seconds * 1000 } });
          worker.once('message', resolve);
          worker.once('error', reject);
        }),
    ),
  );
  /** @type {{ maxGapMs: number, over1: number, over5: number, lostMs: number }[]} */
  const all = /** @type {any} */ (results);
  return {
    threads,
    seconds,
    maxGapMs: round(Math.max(...all.map((r) => r.maxGapMs))),
    gapsOver1Ms: all.reduce((sum, r) => sum + r.over1, 0),
    gapsOver5Ms: all.reduce((sum, r) => sum + r.over5, 0),
    lostMsPerSecond: round(all.reduce((sum, r) => sum + r.lostMs, 0) / (seconds * threads)),
  };
}

/**
 * Measures the machine's own stalls with one spinning thread, then one per core.
 * @param {number} seconds  per measurement
 * @returns {Promise<{ oneThread: JitterFigures, allCores: JitterFigures }>}
 */
export async function measureMachineJitter(seconds) {
  const oneThread = await spin(1, seconds);
  const allCores = await spin(os.availableParallelism(), seconds);
  return { oneThread, allCores };
}

// Loaded into `yard server` by the serving benchmark (`node --import <this file>`), on the main
// thread only: measures, from inside the server, what the load generator cannot tell apart from
// the machine: how long each POST took from its request line to its last byte written
// (node:diagnostics_channel `http.server.request.start` / `http.server.response.finish`), the
// garbage collector's pauses (PerformanceObserver `gc`), and event-loop delay
// (monitorEventLoopDelay, 5 ms resolution, reported beyond those 5 ms). Costs about a
// microsecond per request.
//
// Each SIGUSR2 appends the figures gathered since the previous one as a JSON line to the file
// named by MODELYARD_BENCH_PROBE_OUT and starts over, so the benchmark brackets a window with
// two signals and reads the last line.
import { appendFileSync } from 'node:fs';
import dc from 'node:diagnostics_channel';
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const out = process.env.MODELYARD_BENCH_PROBE_OUT;
if (isMainThread && out) {
  const start = new WeakMap();
  /** @type {number[]} */
  let durations = [];
  /** @type {number[]} */
  let pauses = [];
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  dc.subscribe('http.server.request.start', (message) => {
    const { request } = /** @type {{ request: import('node:http').IncomingMessage }} */ (message);
    if (request.method === 'POST') start.set(request, performance.now());
  });
  dc.subscribe('http.server.response.finish', (message) => {
    const { request } = /** @type {{ request: import('node:http').IncomingMessage }} */ (message);
    const t0 = start.get(request);
    if (t0 !== undefined) durations.push(performance.now() - t0);
  });
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) pauses.push(entry.duration);
  }).observe({ entryTypes: ['gc'] });
  /**
   * @param {number[]} xs
   * @param {number} p
   */
  const pct = (xs, p) => {
    if (xs.length === 0) return null;
    const s = [...xs].sort((a, b) => a - b);
    const v = /** @type {number} */ (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]);
    return Math.round(v * 1000) / 1000;
  };
  // The histogram records the time between timer ticks, i.e. the resolution plus any delay.
  const lateMs = (/** @type {number} */ ns) => Math.max(0, Math.round((ns / 1e6 - 5) * 100) / 100);
  process.on('SIGUSR2', () => {
    const line = {
      requests: durations.length,
      p50Ms: pct(durations, 50),
      p90Ms: pct(durations, 90),
      p99Ms: pct(durations, 99),
      maxMs: pct(durations, 100),
      gc: {
        pauses: pauses.length,
        totalMs: Math.round(pauses.reduce((a, b) => a + b, 0) * 10) / 10,
        p50Ms: pct(pauses, 50),
        maxMs: pct(pauses, 100),
        over2Ms: pauses.filter((d) => d > 2).length,
      },
      eventLoopDelay: { p99Ms: lateMs(delay.percentile(99)), maxMs: lateMs(delay.max) },
    };
    appendFileSync(out, JSON.stringify(line) + '\n');
    durations = [];
    pauses = [];
    delay.reset();
  });
}

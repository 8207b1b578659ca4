// Loaded into `yard server` by the serving benchmark (`node --import <this file>`), on the main
// thread only: measures, from inside the server, what the load generator cannot tell apart from
// the machine: how long each POST took from its request line to its last byte written
// (node:diagnostics_channel `http.server.request.start` / `http.server.response.finish`), the
// garbage collector's pauses (PerformanceObserver `gc`), and event-loop delay
// (monitorEventLoopDelay, 5 ms resolution, reported beyond those 5 ms). Costs about a
// microsecond per request.
//
// It records only inside a window: the first SIGUSR2 opens one (and costs nothing), the next
// appends the window's figures as a JSON line to the file named by MODELYARD_BENCH_PROBE_OUT and
// closes it. Outside windows nothing is kept, so the report never has to sort more than the
// window's own requests: an earlier version reported and restarted on every signal, so the
// signal that began a paced run first sorted every request since the server started (about a
// million after the closed-loop steps) and stalled the server for up to 2 s at the start of the
// very run it was meant to observe.
import { appendFileSync } from 'node:fs';
import dc from 'node:diagnostics_channel';
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const out = process.env.MODELYARD_BENCH_PROBE_OUT;
if (isMainThread && out) {
  const start = new WeakMap();
  let open = false;
  /** @type {number[]} */
  let durations = [];
  /** @type {number[]} */
  let pauses = [];
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  dc.subscribe('http.server.request.start', (message) => {
    const { request } = /** @type {{ request: import('node:http').IncomingMessage }} */ (message);
    if (open && request.method === 'POST') start.set(request, performance.now());
  });
  dc.subscribe('http.server.response.finish', (message) => {
    const { request } = /** @type {{ request: import('node:http').IncomingMessage }} */ (message);
    const t0 = start.get(request);
    if (t0 !== undefined) durations.push(performance.now() - t0);
  });
  new PerformanceObserver((list) => {
    if (open) for (const entry of list.getEntries()) pauses.push(entry.duration);
  }).observe({ entryTypes: ['gc'] });
  /**
   * @param {Float64Array} sorted
   * @param {number} p
   */
  const pct = (sorted, p) => {
    if (sorted.length === 0) return null;
    const v = /** @type {number} */ (
      sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
    );
    return Math.round(v * 1000) / 1000;
  };
  // The histogram records the time between timer ticks, i.e. the resolution plus any delay.
  const lateMs = (/** @type {number} */ ns) => Math.max(0, Math.round((ns / 1e6 - 5) * 100) / 100);
  process.on('SIGUSR2', () => {
    if (!open) {
      durations = [];
      pauses = [];
      delay.reset();
      open = true;
      return;
    }
    open = false;
    const byTime = Float64Array.from(durations).sort();
    const pauseTimes = Float64Array.from(pauses).sort();
    const line = {
      requests: byTime.length,
      p50Ms: pct(byTime, 50),
      p90Ms: pct(byTime, 90),
      p99Ms: pct(byTime, 99),
      maxMs: pct(byTime, 100),
      gc: {
        pauses: pauseTimes.length,
        totalMs: Math.round(pauses.reduce((a, b) => a + b, 0) * 10) / 10,
        p50Ms: pct(pauseTimes, 50),
        maxMs: pct(pauseTimes, 100),
        over2Ms: pauses.filter((d) => d > 2).length,
      },
      eventLoopDelay: { p99Ms: lateMs(delay.percentile(99)), maxMs: lateMs(delay.max) },
    };
    appendFileSync(out, JSON.stringify(line) + '\n');
    durations = [];
    pauses = [];
  });
}

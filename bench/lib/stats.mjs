// Small statistics and load-loop helpers shared by benchmarks.

/**
 * The median of a list of numbers (NaN for an empty list).
 * @param {number[]} xs
 * @returns {number}
 */
export function median(xs) {
  return percentile(xs, 50);
}

/**
 * A percentile by linear interpolation between closest ranks (NaN for an empty list).
 * @param {number[]} xs
 * @param {number} p  0..100
 * @returns {number}
 */
export function percentile(xs, p) {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const idx = (p / 100) * (s.length - 1);
  const lo = Math.floor(idx);
  const hi = Math.ceil(idx);
  const a = /** @type {number} */ (s[lo]);
  const b = /** @type {number} */ (s[hi]);
  return a + (b - a) * (idx - lo);
}

/**
 * Rounds to a number of significant digits, for printing.
 * @param {number} x
 * @param {number} digits
 * @returns {number}
 */
export function round(x, digits = 4) {
  if (!Number.isFinite(x) || x === 0) return x;
  return Number(x.toPrecision(digits));
}

/**
 * A deterministic pseudo-random generator (mulberry32), so both servers get identical data.
 * @param {number} seed
 * @returns {() => number} values in [0, 1)
 */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs `count` tasks with at most `concurrency` in flight, calling `onProgress` now and then.
 * @param {number} count
 * @param {number} concurrency
 * @param {(i: number) => Promise<void>} task
 * @param {(done: number) => void} [onProgress]
 * @returns {Promise<void>}
 */
export async function pool(count, concurrency, task, onProgress) {
  let next = 0;
  let done = 0;
  let lastReport = performance.now();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await task(i);
      done++;
      if (onProgress && performance.now() - lastReport > 5000) {
        lastReport = performance.now();
        onProgress(done);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/**
 * @typedef {object} LoopResult
 * @property {number} calls       calls completed in the round
 * @property {number} seconds     wall time of the round
 * @property {number[]} latenciesMs  one per call
 */

/**
 * Runs `clients` closed loops (each waits for its answer before sending the next call) until at
 * least `minSeconds` have passed and at least `minCalls` calls completed, or `maxCalls` calls were
 * started. `call(clientIndex, callIndex)` performs one call.
 * @param {object} opts
 * @param {number} opts.clients
 * @param {number} opts.minSeconds
 * @param {number} opts.minCalls
 * @param {number} opts.maxCalls
 * @param {(client: number, n: number) => Promise<void>} call
 * @returns {Promise<LoopResult>}
 */
export async function closedLoop({ clients, minSeconds, minCalls, maxCalls }, call) {
  /** @type {number[]} */
  const latenciesMs = [];
  let started = 0;
  const t0 = performance.now();
  const more = () =>
    started < maxCalls && (started < minCalls || performance.now() - t0 < minSeconds * 1000);
  const loop = async (/** @type {number} */ c) => {
    while (more()) {
      const n = started++;
      const s = performance.now();
      await call(c, n);
      latenciesMs.push(performance.now() - s);
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => loop(c)));
  const seconds = (performance.now() - t0) / 1000;
  return { calls: latenciesMs.length, seconds, latenciesMs };
}

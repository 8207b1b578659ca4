import { percentile } from '@modelyard/core';
import type { VariantObservation } from '@modelyard/core';

/** Latency samples kept per window; beyond it, reservoir sampling keeps a uniform sample. */
const RESERVOIR_SIZE = 4096;

/** A variant's figures over the current window and since it was loaded. */
export interface VariantFigures {
  /** Over the current window (the rollout stage or phase). */
  window: VariantObservation & {
    p50LatencyMs: number | null;
    p99LatencyMs: number | null;
    since: number;
  };
  totalRequests: number;
  totalErrors: number;
  inFlight: number;
}

/**
 * Counts one variant's requests, errors and latencies. The window is what rollout gates judge
 * (reset when a stage or phase begins); the totals run since the variant was loaded. Latency
 * percentiles come from a uniform reservoir sample of the window's requests, so memory stays
 * bounded under any load.
 */
export class VariantMeter {
  #since: number;
  #requests = 0;
  #errors = 0;
  #samples: number[] = [];
  #totalRequests = 0;
  #totalErrors = 0;
  #inFlight = 0;
  readonly #random: () => number;

  constructor(now = Date.now(), random: () => number = Math.random) {
    this.#since = now;
    this.#random = random;
  }

  /** A request started (for the in-flight count; a retired variant drains to 0). */
  started(): void {
    this.#inFlight += 1;
  }

  /**
   * A request ended after `latencyMs`; `failed` when the variant is to blame (a 5xx answer, a
   * runtime error, an overloaded queue), not for a client's bad input.
   */
  finished(latencyMs: number, failed: boolean): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
    this.#requests += 1;
    this.#totalRequests += 1;
    if (failed) {
      this.#errors += 1;
      this.#totalErrors += 1;
    }
    if (this.#samples.length < RESERVOIR_SIZE) {
      this.#samples.push(latencyMs);
    } else {
      const slot = Math.floor(this.#random() * this.#requests);
      if (slot < RESERVOIR_SIZE) this.#samples[slot] = latencyMs;
    }
  }

  /** A request ended without being counted (e.g. the client's input was refused). */
  abandoned(): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Starts a new window at `now`; totals are kept. */
  resetWindow(now = Date.now()): void {
    this.#since = now;
    this.#requests = 0;
    this.#errors = 0;
    this.#samples = [];
  }

  /** The window's figures as the rollout gates take them. */
  observe(): VariantObservation {
    return {
      requests: this.#requests,
      errors: this.#errors,
      p95LatencyMs: this.#samples.length === 0 ? null : percentile(this.#samples, 95),
    };
  }

  /** Window and totals, for the metrics endpoint. */
  figures(): VariantFigures {
    const at = (p: number): number | null =>
      this.#samples.length === 0 ? null : round(percentile(this.#samples, p));
    const observation = this.observe();
    return {
      window: {
        ...observation,
        p95LatencyMs: observation.p95LatencyMs === null ? null : round(observation.p95LatencyMs),
        p50LatencyMs: at(50),
        p99LatencyMs: at(99),
        since: this.#since,
      },
      totalRequests: this.#totalRequests,
      totalErrors: this.#totalErrors,
      inFlight: this.#inFlight,
    };
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

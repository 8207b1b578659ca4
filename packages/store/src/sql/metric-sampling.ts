/**
 * Step sampling for `getMetricHistoryBulkInterval`, after MLflow's bulk-interval handler
 * (`get_metric_history_bulk_interval_impl` in `mlflow/server/handlers.py`): sample the union of
 * the runs' steps evenly, keep each run's first and last step, and return only points at sampled
 * steps. Unlike MLflow (which may return `maxResults + 1` points and ignores negative steps when no
 * range is given), a run never gets more than `maxResults` points and no range means all steps.
 */

/**
 * At most `max` items of `items` spread evenly over it, always keeping the first and the last.
 * With `max` 1 only the last item is kept.
 */
export function evenlySpaced<T>(items: readonly T[], max: number): T[] {
  const n = items.length;
  if (n <= max) return [...items];
  if (max <= 0) return [];
  if (max === 1) return items.slice(n - 1);
  const picked: T[] = [];
  for (let i = 0; i < max; i++) {
    picked.push(items[Math.round((i * (n - 1)) / (max - 1))] as T);
  }
  return picked;
}

/**
 * The steps to fetch for a bulk-interval query: `maxResults` steps sampled evenly from the union
 * of all runs' steps within `[startStep, endStep]`, plus each run's smallest and largest step in
 * that range so every run's line keeps both ends.
 */
export function sampleBulkIntervalSteps(
  stepsByRun: ReadonlyMap<string, readonly number[]>,
  maxResults: number,
  startStep?: number,
  endStep?: number,
): number[] {
  const inRange = (step: number) =>
    (startStep === undefined || step >= startStep) && (endStep === undefined || step <= endStep);
  const union = new Set<number>();
  const ends = new Set<number>();
  for (const steps of stepsByRun.values()) {
    let min = Infinity;
    let max = -Infinity;
    for (const step of steps) {
      if (!inRange(step)) continue;
      union.add(step);
      if (step < min) min = step;
      if (step > max) max = step;
    }
    if (min !== Infinity) ends.add(min).add(max);
  }
  const sorted = [...union].sort((a, b) => a - b);
  const sampled = new Set(evenlySpaced(sorted, maxResults));
  for (const step of ends) sampled.add(step);
  return [...sampled].sort((a, b) => a - b);
}

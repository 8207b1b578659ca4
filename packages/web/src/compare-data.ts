/** Pure helpers of the compare page: run labels, the params/tags diff, parallel axes. */
import type { Run } from '@modelyard/core';

/**
 * A label per run for legends and headers: its name, with the start of its id added where two
 * runs share a name (or the id alone for a run without one).
 */
export function runLabels(runs: readonly Run[]): string[] {
  const counts = new Map<string, number>();
  for (const run of runs) counts.set(run.info.runName, (counts.get(run.info.runName) ?? 0) + 1);
  return runs.map((run) => {
    const name = run.info.runName;
    if (name === '') return run.info.runId;
    return (counts.get(name) ?? 0) > 1 ? `${name} (${run.info.runId.slice(0, 7)})` : name;
  });
}

/** One key of the diff table: each run's value (undefined where the run lacks the key). */
export interface DiffRow {
  key: string;
  values: (string | undefined)[];
  /** Whether the runs do not all have the same value (a missing value counts as different). */
  differs: boolean;
}

/**
 * The params or tags of `runs` side by side, one row per key in key order. MLflow's own
 * `mlflow.*` tags are left out of the tags unless `withSystemTags`.
 */
export function diffRows(
  runs: readonly Run[],
  kind: 'params' | 'tags',
  withSystemTags = false,
): DiffRow[] {
  const maps = runs.map((run) => new Map(run.data[kind].map((kv) => [kv.key, kv.value])));
  const keys = new Set<string>();
  for (const map of maps) for (const key of map.keys()) keys.add(key);
  return [...keys]
    .filter((key) => kind === 'params' || withSystemTags || !key.startsWith('mlflow.'))
    .sort((a, b) => a.localeCompare(b))
    .map((key) => {
      const values = maps.map((map) => map.get(key));
      return { key, values, differs: values.some((v) => v !== values[0]) };
    });
}

/** An axis of the parallel-coordinates plot. */
export interface ParallelAxis {
  name: string;
  /** Numbers on a value axis; anything else on a category axis of `categories`. */
  type: 'value' | 'category';
  categories?: string[];
}

/** The most param axes drawn: params that vary come first. */
export const MAX_PARALLEL_PARAMS = 24;

/**
 * The axes of a parallel-coordinates plot of `runs` from their params to metric `metricKey`
 * (the last axis), and each run's values along them (`null` where it has none). Params whose
 * values all read as numbers get a value axis; others a category axis. Params that differ
 * between runs are preferred when there are more than {@link MAX_PARALLEL_PARAMS}.
 */
export function parallelData(
  runs: readonly Run[],
  metricKey: string,
): { axes: ParallelAxis[]; values: (number | string | null)[][] } {
  const rows = diffRows(runs, 'params');
  const chosen = [...rows.filter((r) => r.differs), ...rows.filter((r) => !r.differs)]
    .slice(0, MAX_PARALLEL_PARAMS)
    .sort((a, b) => a.key.localeCompare(b.key));
  const axes: ParallelAxis[] = chosen.map((row) => {
    const present = row.values.filter((v): v is string => v !== undefined);
    const numeric = present.every((v) => v.trim() !== '' && Number.isFinite(Number(v)));
    return numeric
      ? { name: row.key, type: 'value' }
      : { name: row.key, type: 'category', categories: [...new Set(present)].sort() };
  });
  axes.push({ name: metricKey, type: 'value' });
  const values = runs.map((run, i) => [
    ...chosen.map((row, a) => {
      const v = row.values[i];
      if (v === undefined) return null;
      return axes[a]?.type === 'value' ? Number(v) : v;
    }),
    ((): number | null => {
      const value = run.data.metrics.find((m) => m.key === metricKey)?.value;
      return value === undefined || !Number.isFinite(value) ? null : value;
    })(),
  ]);
  return { axes, values };
}

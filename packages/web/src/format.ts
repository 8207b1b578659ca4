import type { Run } from '@modelyard/core';

/** A moment as the reader's locale writes it; `—` for none. */
export function formatTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined || ms <= 0 ? '—' : new Date(ms).toLocaleString();
}

/** A run's wall time so far (or in all, once ended), as `1h 2m`, `3m 4s` or `5.6s`. */
export function formatDuration(startMs: number, endMs: number | null, now = Date.now()): string {
  if (startMs <= 0) return '—';
  const ms = Math.max(0, (endMs ?? now) - startMs);
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h ${m}m` : `${m}m ${s % 60}s`;
}

/** A metric value with up to 6 significant digits; NaN and infinities spelled out. */
export function formatValue(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return Number.isInteger(value) ? String(value) : value.toPrecision(6).replace(/\.?0+$/, '');
}

/** The value of a run's tag `key`, or undefined. */
export function tagValue(run: Run, key: string): string | undefined {
  return run.data.tags.find((tag) => tag.key === key)?.value;
}

/** A column of the runs table: a metric, param or tag, named as the filter grammar names it. */
export interface RunColumn {
  kind: 'metrics' | 'params' | 'tags';
  key: string;
  /** `metrics.rmse`, `params.lr`, `tags.team`: also the column's id in the URL. */
  id: string;
}

/** Parses a column id such as `metrics.rmse`; undefined for anything else. */
export function parseColumn(id: string): RunColumn | undefined {
  const dot = id.indexOf('.');
  const kind = id.slice(0, dot);
  const key = id.slice(dot + 1);
  if (dot <= 0 || key === '') return undefined;
  if (kind !== 'metrics' && kind !== 'params' && kind !== 'tags') return undefined;
  return { kind, key, id };
}

/** A run's value in `column`: a number for metrics, a string otherwise, undefined if absent. */
export function columnValue(run: Run, column: RunColumn): number | string | undefined {
  switch (column.kind) {
    case 'metrics':
      return run.data.metrics.find((m) => m.key === column.key)?.value;
    case 'params':
      return run.data.params.find((p) => p.key === column.key)?.value;
    case 'tags':
      return tagValue(run, column.key);
  }
}

/**
 * Orders two cell values: absent last, numbers (and numeric strings) by value, other strings
 * by locale.
 */
export function compareValues(
  a: number | string | undefined,
  b: number | string | undefined,
): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? 1 : -1;
  const x = typeof a === 'number' ? a : Number(a);
  const y = typeof b === 'number' ? b : Number(b);
  if (!Number.isNaN(x) && !Number.isNaN(y) && a !== '' && b !== '') return x - y;
  return String(a).localeCompare(String(b));
}

import type { Database, Statement } from 'better-sqlite3';
import type { MetricSeriesSample, StepRange } from '../metadata-store.js';

/** What {@link sampleSqliteSeries} is asked: one metric of one run, a step range, a width. */
export interface SeriesSampleQuery extends StepRange {
  runId: string;
  metricKey: string;
  buckets: number;
}

/** A point as a sampling query answers it. */
export interface SampledRow {
  step: number;
  timestamp: number;
  value: number;
  isNan: boolean;
}

/**
 * Lays points out as columns. A sample (`sampled`) is first sorted by step then timestamp and
 * rid of repeats (an interval's lowest and highest point, or an end, may be the same point);
 * every point of a range comes already in the store's order and is kept as it is.
 */
export function sampleFromRows(
  rows: SampledRow[],
  totalPoints: number,
  sampled: boolean,
): MetricSeriesSample {
  const points = rows.map((r) => ({
    step: r.step,
    timestamp: r.timestamp,
    value: r.isNan ? NaN : r.value,
  }));
  if (sampled) {
    points.sort((a, b) => a.step - b.step || a.timestamp - b.timestamp || a.value - b.value || 0);
  }
  const sample: MetricSeriesSample = {
    steps: [],
    timestamps: [],
    values: [],
    totalPoints,
    sampled,
  };
  let previous: (typeof points)[number] | undefined;
  for (const p of points) {
    if (
      sampled &&
      previous !== undefined &&
      previous.step === p.step &&
      previous.timestamp === p.timestamp &&
      Object.is(previous.value, p.value)
    ) {
      continue;
    }
    sample.steps.push(p.step);
    sample.timestamps.push(p.timestamp);
    sample.values.push(p.value);
    previous = p;
  }
  return sample;
}

const statements = new WeakMap<Database, Map<string, Statement>>();
function prepare(db: Database, text: string): Statement {
  let cache = statements.get(db);
  if (cache === undefined) {
    cache = new Map();
    statements.set(db, cache);
  }
  let statement = cache.get(text);
  if (statement === undefined) {
    statement = db.prepare(text);
    cache.set(text, statement);
  }
  return statement;
}

type Row = { step: number; timestamp: number; value: number; is_nan: number };
const toSampled = (r: Row): SampledRow => ({
  step: r.step,
  timestamp: r.timestamp,
  value: r.value,
  isNan: r.is_nan === 1,
});

/**
 * `MetadataStore.sampleMetricSeries` on a SQLite connection (the caller has checked the run):
 * synchronous, so that it can run on a worker thread's own read-only connection.
 */
export function sampleSqliteSeries(db: Database, query: SeriesSampleQuery): MetricSeriesSample {
  const { runId, metricKey, minStep, maxStep, buckets } = query;
  const range = `run_uuid = ? AND key = ?${minStep === undefined ? '' : ' AND step >= ?'}${
    maxStep === undefined ? '' : ' AND step <= ?'
  }`;
  const args: (string | number)[] = [runId, metricKey];
  if (minStep !== undefined) args.push(minStep);
  if (maxStep !== undefined) args.push(maxStep);
  const extent = prepare(
    db,
    `SELECT count(*) AS n, min(step) AS lo, max(step) AS hi FROM metrics WHERE ${range}`,
  ).get(...args) as { n: number; lo: number | null; hi: number | null };
  if (extent.n <= 4 * buckets || extent.lo === null || extent.hi === null) {
    const all = prepare(
      db,
      `SELECT step, timestamp, value, is_nan FROM metrics WHERE ${range}
       ORDER BY step, timestamp, value, is_nan`,
    ).all(...args) as Row[];
    return sampleFromRows(all.map(toSampled), extent.n, false);
  }
  // Equal step intervals over [lo, hi]; a float width keeps huge step numbers exact enough.
  // With one min() or max(), SQLite takes the bare columns from that row.
  const width = (extent.hi - extent.lo + 1) / buckets;
  const extreme = (which: 'min' | 'max') =>
    prepare(
      db,
      `SELECT step, timestamp, ${which}(value) AS value, 0 AS is_nan FROM metrics
       WHERE ${range} AND is_nan = 0 GROUP BY CAST((step - ?) / CAST(? AS REAL) AS INTEGER)`,
    ).all(...args, extent.lo, width) as Row[];
  const end = (direction: 'ASC' | 'DESC') =>
    prepare(
      db,
      `SELECT step, timestamp, value, is_nan FROM metrics WHERE ${range}
       ORDER BY step ${direction}, timestamp ${direction} LIMIT 1`,
    ).all(...args) as Row[];
  const rows = [...end('ASC'), ...extreme('min'), ...extreme('max'), ...end('DESC')];
  return sampleFromRows(rows.map(toSampled), extent.n, true);
}

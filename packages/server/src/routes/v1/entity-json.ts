import type { Metric, Run } from '@modelyard/core';
import { jsonDouble, readDouble } from '../../json.js';

/** A metric as the native API writes it: non-finite values as "NaN" / "Infinity" / "-Infinity". */
export type MetricJson = Omit<Metric, 'value'> & { value: number | string };

/** A run as the native API writes it. */
export type RunJson = Omit<Run, 'data'> & {
  data: Omit<Run['data'], 'metrics'> & { metrics: MetricJson[] };
};

/** A metric with its value made JSON-safe. */
export function metricJson(metric: Metric): MetricJson {
  return { ...metric, value: jsonDouble(metric.value) };
}

/** A run with its metric values made JSON-safe; everything else is the entity as is. */
export function runJson(run: Run): RunJson {
  return { ...run, data: { ...run.data, metrics: run.data.metrics.map(metricJson) } };
}

/** The value of a validated `JsonDouble` (a number or one of the non-finite strings). */
export function doubleOf(value: number | string): number {
  // The schema admits only numbers and the three non-finite names, all of which readDouble reads.
  return readDouble(value) ?? NaN;
}

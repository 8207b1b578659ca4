import Table from 'cli-table3';
import { InvalidArgumentError } from 'commander';

/**
 * Renders rows under `head` as a plain (uncoloured) table, ending with a newline. With
 * `widths`, a column with a width wraps its cells at that many characters (null: as wide as its
 * widest cell).
 */
export function renderTable(
  head: string[],
  rows: string[][],
  widths?: readonly (number | null)[],
): string {
  const table = new Table({
    head,
    style: { head: [], border: [], compact: true },
    ...(widths !== undefined && {
      colWidths: [...widths],
      wordWrap: true,
      wrapOnWordBoundary: false,
    }),
  });
  table.push(...rows);
  return `${table.toString()}\n`;
}

/** Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` in local time; `-` when absent. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || ms <= 0) return '-';
  const d = new Date(ms);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}

/** A metric value in at most 6 significant digits (NaN and ±Infinity by name). */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return String(Number(value.toPrecision(6)));
}

/** JSON for `--json`: indented, with NaN and ±Infinity as the strings the API uses. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(
    value,
    (_key, v: unknown) =>
      typeof v === 'number' && !Number.isFinite(v)
        ? Number.isNaN(v)
          ? 'NaN'
          : v > 0
            ? 'Infinity'
            : '-Infinity'
        : v,
    2,
  )}\n`;
}

/** Reads a positive integer option value, for commander's option parsers. */
export function positiveInt(raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError(`expected a positive integer, got '${raw}'.`);
  }
  return n;
}

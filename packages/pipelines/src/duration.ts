import { InvalidParameterError } from '@modelyard/core';

/** A length of time: milliseconds as a number, or a string such as `500ms`, `30s`, `10m`, `2h`, `7d`. */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Milliseconds in a {@link Duration}.
 * @throws InvalidParameterError naming `what` and the value when it is not a duration ≥ 0.
 * @example parseDuration('10m', 'timeout') // 600000
 */
export function parseDuration(value: Duration, what: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value;
  } else if (typeof value === 'string') {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim());
    if (match !== null) return Number(match[1]) * (UNIT_MS[match[2] ?? 'ms'] ?? 1);
  }
  const shown = typeof value === 'number' ? String(value) : JSON.stringify(value);
  throw new InvalidParameterError(
    `${what} must be milliseconds ≥ 0 or a duration such as '500ms', '30s', '10m', '2h' or ` +
      `'7d', got ${shown}.`,
    { [what]: value },
  );
}

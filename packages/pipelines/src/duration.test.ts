import { InvalidParameterError } from '@modelyard/core';
import { describe, expect, it } from 'vitest';
import type { Duration } from './duration.js';
import { parseDuration } from './duration.js';

function refusal(value: unknown, what = 'timeout'): InvalidParameterError {
  let caught: unknown;
  try {
    parseDuration(value as Duration, what);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidParameterError);
  return caught as InvalidParameterError;
}

describe('parseDuration', () => {
  it('takes a number as milliseconds', () => {
    expect(parseDuration(0, 'timeout')).toBe(0);
    expect(parseDuration(1500, 'timeout')).toBe(1500);
    expect(parseDuration(2.5, 'timeout')).toBe(2.5);
  });

  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['10m', 600_000],
    ['2h', 7_200_000],
    ['7d', 604_800_000],
    ['0s', 0],
    ['0ms', 0],
  ] as const)('reads %s as %d ms', (value, ms) => {
    expect(parseDuration(value, 'timeout')).toBe(ms);
  });

  it('reads decimals in every unit', () => {
    expect(parseDuration('1.5s', 'timeout')).toBe(1500);
    expect(parseDuration('0.5m', 'timeout')).toBe(30_000);
    expect(parseDuration('1.25h', 'timeout')).toBe(4_500_000);
    expect(parseDuration('0.5d', 'timeout')).toBe(43_200_000);
    expect(parseDuration('2.5ms', 'timeout')).toBe(2.5);
  });

  it('ignores spaces around the value', () => {
    expect(parseDuration(' 10m ' as Duration, 'timeout')).toBe(600_000);
  });

  it.each([-1, -0.5, -600_000])('refuses the negative number %d naming it', (value) => {
    const error = refusal(value);
    expect(error.message).toContain(`got ${String(value)}.`);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    'refuses the number %d',
    (value) => {
      refusal(value);
    },
  );

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    'names the non-finite number %d in the message',
    (value) => {
      const error = refusal(value);
      expect(error.message).toContain(`got ${String(value)}.`);
    },
  );

  it.each([
    '-5s',
    '10',
    '10 minutes',
    'ten minutes',
    '10M',
    '1e3ms',
    '.5s',
    '5.s',
    '10m30s',
    '',
    's',
  ])('refuses the string %j naming it', (value) => {
    const error = refusal(value);
    expect(error.message).toContain(`got ${JSON.stringify(value)}`);
  });

  it('says what the value is for, what it got and what would be right', () => {
    const error = refusal('soon', "Step 'train': timeout");
    expect(error.message).toBe(
      "Step 'train': timeout must be milliseconds ≥ 0 or a duration such as '500ms', '30s', " +
        `'10m', '2h' or '7d', got "soon".`,
    );
    expect(error.code).toBe('INVALID_PARAMETER_VALUE');
    expect(error.context).toEqual({ "Step 'train': timeout": 'soon' });
  });

  it.each([null, true, {}, ['10m']])('refuses the non-duration %j naming it', (value) => {
    const error = refusal(value);
    expect(error.message).toContain(`got ${JSON.stringify(value)}`);
  });
});

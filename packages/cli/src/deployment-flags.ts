import { InvalidArgumentError } from 'commander';
import type { BatchingOptions, OutcomeMetric } from '@modelyard/core';
import { CliError } from './cli-io.js';

/*
 * Option parsers for the deployment commands. Commander prefixes their messages with the flag and
 * the value (`option '--stages <list>' argument '5,x' is invalid.`); the messages add what was
 * expected.
 */

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function parseNumber(raw: string): number | undefined {
  const text = raw.trim();
  return NUMBER.test(text) ? Number(text) : undefined;
}

/** A list such as `5,10,25,50,100`. */
export function numberList(raw: string): number[] {
  const items = raw.split(',').map(parseNumber);
  const numbers = items.filter((n): n is number => n !== undefined);
  if (raw.trim() === '' || numbers.length !== items.length) {
    throw new InvalidArgumentError(
      `expected comma-separated numbers such as 5,10,25,50,100, got '${raw}'.`,
    );
  }
  return numbers;
}

/** Seconds: one number ≥ 0, or (canary) a comma-separated list of them, one per stage. */
export function holdSeconds(raw: string): number | number[] {
  if (raw.includes(',')) {
    const list = numberList(raw);
    if (list.some((n) => n < 0)) {
      throw new InvalidArgumentError(`expected seconds ≥ 0, got '${raw}'.`);
    }
    return list;
  }
  const n = parseNumber(raw);
  if (n === undefined || n < 0) {
    throw new InvalidArgumentError(
      `expected seconds ≥ 0 (for a canary also one per stage, such as 60,60,300,600), got '${raw}'.`,
    );
  }
  return n;
}

/** A number ≥ 0. */
export function nonNegativeNumber(raw: string): number {
  const n = parseNumber(raw);
  if (n === undefined || n < 0) {
    throw new InvalidArgumentError(`expected a number ≥ 0, got '${raw}'.`);
  }
  return n;
}

/** A number > 0. */
export function positiveNumber(raw: string): number {
  const n = parseNumber(raw);
  if (n === undefined || n <= 0) {
    throw new InvalidArgumentError(`expected a number above 0, got '${raw}'.`);
  }
  return n;
}

/** A percentage from 0 to 100. */
export function percentage(raw: string): number {
  const n = parseNumber(raw);
  if (n === undefined || n < 0 || n > 100) {
    throw new InvalidArgumentError(`expected a percentage from 0 to 100, got '${raw}'.`);
  }
  return n;
}

/** A fraction from 0 to 1. */
export function fraction(raw: string): number {
  const n = parseNumber(raw);
  if (n === undefined || n < 0 || n > 1) {
    throw new InvalidArgumentError(`expected a fraction from 0 to 1 (0.99 = 99%), got '${raw}'.`);
  }
  return n;
}

/** Any finite number (an outcome's value). */
export function anyNumber(raw: string): number {
  const n = parseNumber(raw);
  if (n === undefined) throw new InvalidArgumentError(`expected a number, got '${raw}'.`);
  return n;
}

/** An A/B test's metric as `name:proportion` or `name:mean`, with `:lower` when smaller is better. */
export function outcomeMetric(raw: string): Omit<OutcomeMetric, 'higherIsBetter'> & {
  higherIsBetter?: boolean;
} {
  const [name = '', kind, direction, ...rest] = raw.split(':');
  const ok =
    name.trim() !== '' &&
    (kind === 'proportion' || kind === 'mean') &&
    (direction === undefined || direction === 'lower' || direction === 'higher') &&
    rest.length === 0;
  if (!ok) {
    throw new InvalidArgumentError(
      'expected name:proportion or name:mean, with :lower when smaller values are better ' +
        `(e.g. converted:proportion, latency:mean:lower), got '${raw}'.`,
    );
  }
  return {
    name,
    kind,
    ...(direction !== undefined && { higherIsBetter: direction === 'higher' }),
  };
}

/** The batching flags shared by create, update and rollout. */
export interface BatchingFlags {
  maxBatchSize?: number;
  maxLatencyMs?: number;
  /** False for `--no-batching` (commander's negated option), absent otherwise. */
  batching?: boolean;
}

/**
 * The batching the flags ask for: options, `null` for `--no-batching`, `undefined` when none of
 * the flags was given.
 * @throws CliError for `--max-latency-ms` without `--max-batch-size`, or sizes with `--no-batching`.
 */
export function batchingFrom(flags: BatchingFlags): BatchingOptions | null | undefined {
  if (flags.batching === false) {
    if (flags.maxBatchSize !== undefined || flags.maxLatencyMs !== undefined) {
      throw new CliError(
        '--no-batching turns batching off; leave out --max-batch-size and --max-latency-ms with it.',
      );
    }
    return null;
  }
  if (flags.maxLatencyMs !== undefined && flags.maxBatchSize === undefined) {
    throw new CliError('--max-latency-ms needs --max-batch-size: batching is off without it.');
  }
  if (flags.maxBatchSize === undefined) return undefined;
  return { maxBatchSize: flags.maxBatchSize, maxLatencyMs: flags.maxLatencyMs ?? 5 };
}

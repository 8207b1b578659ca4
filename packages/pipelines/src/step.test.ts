import { InvalidParameterError } from '@modelyard/core';
import { describe, expect, it } from 'vitest';
import type { StepContext, StepOptions } from './step.js';
import { isStep, step, STEP_BRAND } from './step.js';

function invalid(run: () => unknown): InvalidParameterError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(InvalidParameterError);
  return caught as InvalidParameterError;
}

/** Builds a step from options a plain JavaScript caller could pass (no compile-time checks). */
function withOptions(options: Record<string, unknown>, name = 'train') {
  return step(name, options as StepOptions, () => 1);
}

const ctx = {} as StepContext<unknown>;

describe('step', () => {
  describe('names', () => {
    it.each(['load', 'a', '0', 'Load_data.v2-final', 'x'.repeat(100)])('accepts %j', (name) => {
      expect(step(name, () => 1).name).toBe(name);
    });

    it.each(['', '-load', '_load', '.load', 'load data', 'load/data', 'löad', 'x'.repeat(101)])(
      'refuses %j, saying what a name may contain',
      (name) => {
        const error = invalid(() => step(name, () => 1));
        expect(error.message).toBe(
          `Invalid step name ${JSON.stringify(name)}: use 1 to 100 letters, digits, '_', '.' or '-', ` +
            'starting with a letter or digit.',
        );
        expect(error.context).toEqual({ name });
      },
    );

    it('refuses a name that is not a string', () => {
      const error = invalid(() => step(42 as unknown as string, () => 1));
      expect(error.message).toContain('Invalid step name 42');
    });
  });

  describe('functions and inputs', () => {
    it('refuses a step without a function', () => {
      const error = invalid(() => step('train', {}, undefined as never));
      expect(error.message).toBe("Step 'train' needs a function to run.");
    });

    it('makes a frozen, branded task step', () => {
      const load = step('load', () => [1, 2, 3]);
      expect(isStep(load)).toBe(true);
      expect(load[STEP_BRAND]).toBe(true);
      expect(load.kind).toBe('task');
      expect(load.over).toBeUndefined();
      expect(load.inputs).toEqual({});
      expect(Object.isFrozen(load)).toBe(true);
      expect(Object.isFrozen(load.inputs)).toBe(true);
      expect(load.codeDigest).toMatch(/^[0-9a-f]{64}$/);
    });

    it('keeps its producers by the name the consumer receives them under', () => {
      const load = step('load', () => [1, 2, 3]);
      const train = step('train', { inputs: { rows: load } }, ({ rows }) => rows.length);
      expect(train.inputs).toEqual({ rows: load });
      expect(train.inputs['rows']).toBe(load);
    });

    it('copies the inputs, so later changes to the caller object do not leak in', () => {
      const load = step('load', () => 1);
      const inputs: Record<string, typeof load> = { load };
      const train = step('train', { inputs }, () => 2);
      inputs['other'] = load;
      expect(Object.keys(train.inputs)).toEqual(['load']);
    });

    it.each([
      ['a number', 5],
      ['a string', 'load'],
      ['null', null],
      ['a plain object', { name: 'load' }],
      ['a function', () => 1],
    ])('refuses an input that is %s, naming the input', (_, value) => {
      const error = invalid(() => withOptions({ inputs: { data: value } }));
      expect(error.message).toBe(
        "Step 'train' takes input 'data' from something that is not a step; pass the value " +
          'returned by step(...).',
      );
      expect(error.context).toEqual({ step: 'train', input: 'data' });
    });

    it('accepts a step made by another copy of the SDK (same global brand)', () => {
      const foreign = { ...step('load', () => 1) };
      expect(isStep(foreign)).toBe(true);
      expect(() => withOptions({ inputs: { data: foreign } })).not.toThrow();
    });

    it('isStep refuses what is not a step', () => {
      for (const value of [null, undefined, 1, 'load', {}, () => 1, { name: 'load' }]) {
        expect(isStep(value)).toBe(false);
      }
    });

    it('calls the function with the inputs and the context, always giving a promise', async () => {
      const seen: unknown[] = [];
      const sync = step('sync', (inputs, context) => {
        seen.push(inputs, context);
        return 'done';
      });
      const result = sync.call({ a: 1 }, ctx, undefined);
      expect(result).toBeInstanceOf(Promise);
      await expect(result).resolves.toBe('done');
      expect(seen).toEqual([{ a: 1 }, ctx]);
      const load = step('load', () => 1);
      const async = step('async', { inputs: { load } }, ({ load }) => Promise.resolve(load + 1));
      await expect(async.call({ load: 41 }, ctx, undefined)).resolves.toBe(42);
    });

    it('turns a function that throws synchronously into a rejected promise', async () => {
      const boom = step('boom', () => {
        throw new Error('bad row 7');
      });
      await expect(boom.call({}, ctx, undefined)).rejects.toThrow('bad row 7');
    });
  });

  describe('config', () => {
    it('has defaults: no retry, no timeout, cached without ttl', () => {
      const { config } = step('load', () => 1);
      expect(config).toEqual({
        retry: {
          retries: 0,
          backoff: 'exponential',
          delay: 1000,
          maxDelay: 300_000,
          jitter: true,
        },
        timeoutMs: undefined,
        cache: true,
        ttlMs: undefined,
        version: '',
        refresh: false,
        worker: false,
        when: undefined,
      });
      expect('retryIf' in config.retry).toBe(false);
    });

    it('takes retries as a count, with exponential backoff from 1 s and jitter', () => {
      expect(withOptions({ retries: 3 }).config.retry).toEqual({
        retries: 3,
        backoff: 'exponential',
        delay: 1000,
        maxDelay: 300_000,
        jitter: true,
      });
    });

    it('takes retries as a full policy', () => {
      const retryIf = (error: unknown) => error instanceof TypeError;
      const load = step(
        'load',
        {
          retries: {
            retries: 5,
            backoff: 'linear',
            delay: '2s',
            maxDelay: '1m',
            jitter: false,
            retryIf,
          },
        },
        () => 1,
      );
      expect(load.config.retry).toEqual({
        retries: 5,
        backoff: 'linear',
        delay: 2000,
        maxDelay: 60_000,
        jitter: false,
        retryIf,
      });
    });

    it('fills in a policy with only a count', () => {
      expect(withOptions({ retries: { retries: 2, backoff: 'fixed' } }).config.retry).toEqual({
        retries: 2,
        backoff: 'fixed',
        delay: 1000,
        maxDelay: 300_000,
        jitter: true,
      });
    });

    it.each([-1, 1.5, 101, Number.NaN])('refuses retries %j', (retries) => {
      const error = invalid(() => withOptions({ retries }));
      expect(error.message).toBe(
        `Step 'train': retries must be a whole number from 0 to 100, got ${String(retries)}.`,
      );
      const policy = invalid(() => withOptions({ retries: { retries } }));
      expect(policy.message).toBe(error.message);
    });

    it('refuses retries given as a string', () => {
      expect(invalid(() => withOptions({ retries: '3' })).message).toMatch(
        /^Step 'train': retries must be a whole number from 0 to 100/,
      );
    });

    it('names a string retries value in the refusal', () => {
      expect(invalid(() => withOptions({ retries: '3' })).message).toContain('3');
    });

    it('accepts 0 and 100 retries', () => {
      expect(withOptions({ retries: 0 }).config.retry.retries).toBe(0);
      expect(withOptions({ retries: 100 }).config.retry.retries).toBe(100);
    });

    it('refuses an unknown backoff, listing the known ones', () => {
      const error = invalid(() => withOptions({ retries: { retries: 1, backoff: 'quadratic' } }));
      expect(error.message).toBe(
        `Step 'train': backoff must be 'exponential', 'linear' or 'fixed', got "quadratic".`,
      );
    });

    it('parses durations for timeout, delays and cache ttl', () => {
      const { config } = withOptions({
        timeout: '10m',
        retries: { retries: 1, delay: '500ms', maxDelay: '2h' },
        cache: { ttl: '7d' },
      });
      expect(config.timeoutMs).toBe(600_000);
      expect(config.retry.delay).toBe(500);
      expect(config.retry.maxDelay).toBe(7_200_000);
      expect(config.cache).toBe(true);
      expect(config.ttlMs).toBe(604_800_000);
      expect(withOptions({ timeout: 2500 }).config.timeoutMs).toBe(2500);
    });

    it.each([
      [{ timeout: '10 minutes' }, "Step 'train': timeout", '"10 minutes"'],
      [{ timeout: -5 }, "Step 'train': timeout", '-5'],
      [{ retries: { retries: 1, delay: 'soon' } }, "Step 'train': retries.delay", '"soon"'],
      [{ retries: { retries: 1, maxDelay: '1w' } }, "Step 'train': retries.maxDelay", '"1w"'],
      [{ cache: { ttl: '7 days' } }, "Step 'train': cache.ttl", '"7 days"'],
    ])('names the field and the value of a bad duration in %j', (options, what, got) => {
      const error = invalid(() => withOptions(options));
      expect(error.message).toMatch(new RegExp(`^${escape(what)} must be milliseconds ≥ 0`));
      expect(error.message).toContain(`got ${got}.`);
    });

    it('turns caching off with cache: false, and keeps it on for cache: true or {}', () => {
      expect(withOptions({ cache: false }).config).toMatchObject({
        cache: false,
        ttlMs: undefined,
      });
      expect(withOptions({ cache: true }).config).toMatchObject({ cache: true, ttlMs: undefined });
      expect(withOptions({ cache: {} }).config).toMatchObject({ cache: true, ttlMs: undefined });
    });

    it('keeps version, refresh, worker and when', () => {
      const when = () => true;
      const { config } = withOptions({ version: '2', refresh: true, worker: true, when });
      expect(config.version).toBe('2');
      expect(config.refresh).toBe(true);
      expect(config.worker).toBe(true);
      expect(config.when).toBe(when);
    });
  });

  describe('codeDigest', () => {
    it('is equal for identical definitions', () => {
      const a = step('train', { version: '1' }, () => 42);
      const b = step('train', { version: '1' }, () => 42);
      expect(a.codeDigest).toBe(b.codeDigest);
    });

    it("does not depend on the step's name, inputs or run settings", () => {
      const load = step('load', () => 1);
      const a = step('a', () => 42);
      const b = step('b', { inputs: { load }, retries: 3, timeout: '1m', cache: false }, () => 42);
      expect(a.codeDigest).toBe(b.codeDigest);
    });

    it('changes when the function body changes', () => {
      const a = step('train', () => 42);
      const b = step('train', () => 43);
      expect(a.codeDigest).not.toBe(b.codeDigest);
    });

    it('changes when `when` changes, or is added', () => {
      const plain = step('train', () => 42);
      const a = step('train', { when: () => true }, () => 42);
      const b = step('train', { when: () => false }, () => 42);
      expect(new Set([plain.codeDigest, a.codeDigest, b.codeDigest]).size).toBe(3);
    });

    it('changes when `version` changes', () => {
      const none = step('train', () => 42);
      const v1 = step('train', { version: '1' }, () => 42);
      const v2 = step('train', { version: '2' }, () => 42);
      expect(new Set([none.codeDigest, v1.codeDigest, v2.codeDigest]).size).toBe(3);
    });

    it('changes with the kind (task or map) for the same function', () => {
      const list = step('list', () => [1, 2]);
      const fn = (x: unknown) => x;
      const task = step('same', fn);
      const map = step.map('same', { over: list }, fn);
      expect(task.codeDigest).not.toBe(map.codeDigest);
    });
  });

  describe('step.map', () => {
    it('makes a map step over a list step', async () => {
      const list = step('list', () => [1, 2, 3]);
      const model = step('model', () => 10);
      const scaled = step.map(
        'scale',
        { over: list, inputs: { model }, retries: 2 },
        (item, { model }) => item * model,
      );
      expect(scaled.kind).toBe('map');
      expect(scaled.over).toBe(list);
      expect(scaled.inputs).toEqual({ model });
      expect(scaled.config.retry.retries).toBe(2);
      expect(isStep(scaled)).toBe(true);
      await expect(scaled.call({ model: 10 }, ctx, 4)).resolves.toBe(40);
    });

    it('passes the item, the inputs and the context to the function', async () => {
      const list = step('list', () => ['a']);
      const seen: unknown[] = [];
      const m = step.map('m', { over: list }, (item, inputs, context) => {
        seen.push(item, inputs, context);
        return item.toUpperCase();
      });
      await expect(m.call({}, ctx, 'b')).resolves.toBe('B');
      expect(seen).toEqual(['b', {}, ctx]);
    });

    it.each([
      ['undefined', undefined],
      ['a list', [1, 2, 3]],
      ['a plain object', { name: 'list' }],
    ])('refuses `over` that is %s', (_, over) => {
      const error = invalid(() => step.map('score', { over } as never, (item: unknown) => item));
      expect(error.message).toBe(
        "Step 'score' maps over something that is not a step; give 'over' a step whose output is a list.",
      );
    });

    it('checks its name, function and inputs like a task step', () => {
      const list = step('list', () => [1]);
      expect(invalid(() => step.map('bad name', { over: list }, (x) => x)).message).toContain(
        'Invalid step name "bad name"',
      );
      expect(
        invalid(() => step.map('m', { over: list, inputs: { x: 1 } } as never, (x: unknown) => x))
          .message,
      ).toContain("takes input 'x' from something that is not a step");
      expect(invalid(() => step.map('m', { over: list }, undefined as never)).message).toBe(
        "Step 'm' needs a function to run.",
      );
    });
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

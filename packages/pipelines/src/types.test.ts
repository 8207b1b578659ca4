/**
 * Type-level tests: the root `tsc -p tsconfig.json --noEmit` checks them (an `@ts-expect-error`
 * on a line that compiles fails the typecheck), and vitest runs the value-level parts.
 */
import { Type } from '@sinclair/typebox';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { Duration } from './duration.js';
import { defineParams } from './params.js';
import type { ParamsDef } from './params.js';
import type { Pipeline } from './pipeline.js';
import { pipeline } from './pipeline.js';
import type { OutputOf, ResolvedInputs, Step, StepContext } from './step.js';
import { step } from './step.js';

/** Holds checks that only the compiler looks at: their code would throw if it ran. */
function typeOnly(check: () => void): void {
  expect(check).toBeTypeOf('function');
}

const load = step('load', () => ['a', 'b', 'c']);
const name = step('name', () => 'iris');
const count = step('count', { inputs: { load } }, ({ load }) => load.length);

describe('step output types', () => {
  it('infers the output of a step from its function', () => {
    expectTypeOf(load).toEqualTypeOf<Step<string[]>>();
    expectTypeOf(name).toEqualTypeOf<Step<string>>();
    expectTypeOf(count).toEqualTypeOf<Step<number>>();
    expectTypeOf(step('nothing', () => undefined)).toEqualTypeOf<Step<undefined>>();
    expectTypeOf(step('obj', () => ({ a: 1, b: ['x'] }))).toEqualTypeOf<
      Step<{ a: number; b: string[] }>
    >();
  });

  it('awaits the output of an async step', () => {
    const fetched = step('fetch', async () => {
      await Promise.resolve();
      return 42;
    });
    expectTypeOf(fetched).toEqualTypeOf<Step<number>>();
    const nested = step('nested', { inputs: { fetched } }, ({ fetched }) =>
      Promise.resolve({ n: fetched }),
    );
    expectTypeOf(nested).toEqualTypeOf<Step<{ n: number }>>();
    const promiseOfPromise = step('pp', () => Promise.resolve(Promise.resolve('deep')));
    expectTypeOf(promiseOfPromise).toEqualTypeOf<Step<string>>();
  });

  it('OutputOf gives the output, without undefined added', () => {
    expectTypeOf<OutputOf<typeof load>>().toEqualTypeOf<string[]>();
    expectTypeOf<OutputOf<Step<number>>>().toEqualTypeOf<number>();
    expectTypeOf<OutputOf<Step<number | undefined>>>().toEqualTypeOf<number | undefined>();
    expectTypeOf<OutputOf<string>>().toEqualTypeOf<never>();
  });
});

describe('inputs flow from producer to consumer', () => {
  it('gives the consumer each producer’s output under the name it chose', () => {
    const fetched = step('fetch', async () => Promise.resolve({ rows: 3 }));
    const report = step('report', { inputs: { lines: load, total: count, fetched } }, (inputs) => {
      expectTypeOf(inputs.lines).toEqualTypeOf<string[]>();
      expectTypeOf(inputs.total).toEqualTypeOf<number>();
      expectTypeOf(inputs.fetched).toEqualTypeOf<{ rows: number }>();
      return `${inputs.lines.join(',')}:${String(inputs.total + inputs.fetched.rows)}`;
    });
    expectTypeOf(report).toEqualTypeOf<Step<string>>();
  });

  it('ResolvedInputs maps an input map to its outputs', () => {
    type Inputs = ResolvedInputs<{ a: Step<string>; b: Step<number[]> }>;
    expectTypeOf<Inputs>().toEqualTypeOf<{ a: string; b: number[] }>();
  });

  it('types `when` with the resolved inputs and the params', () => {
    const params = defineParams({ minRows: Type.Integer({ default: 1 }) });
    step(
      'maybe',
      {
        inputs: { load },
        params,
        when: (inputs, p) => {
          expectTypeOf(inputs.load).toEqualTypeOf<string[]>();
          expectTypeOf(p.minRows).toEqualTypeOf<number>();
          return inputs.load.length >= p.minRows;
        },
      },
      ({ load }) => load[0],
    );
  });

  it('refuses a wrong wiring at compile time', () => {
    typeOnly(() => {
      const useNumber = (n: number) => n * 2;
      // @ts-expect-error `name` produces a string; the consumer uses it as a number.
      step('double', { inputs: { name } }, ({ name }) => useNumber(name));
      // @ts-expect-error `name` produces a string; the consumer promises a number.
      step('as-number', { inputs: { name } }, ({ name }): number => name);
      // @ts-expect-error the consumer declares `name` as a number, the producer gives a string.
      step('typed', { inputs: { name } }, ({ name }: { name: number }) => name + 1);
      // @ts-expect-error `load` produces string[], not number[].
      step('sum', { inputs: { load } }, ({ load }: { load: number[] }) =>
        load.reduce((a, b) => a + b, 0),
      );
      // @ts-expect-error the step has no input called `other`.
      step('missing', { inputs: { load } }, ({ other }) => typeof other);
      // @ts-expect-error an input must be a step, not a value.
      step('value', { inputs: { data: [1, 2, 3] } }, ({ data }) => data);
    });
  });

  it('refuses a result used with the wrong type downstream', () => {
    typeOnly(() => {
      const total = step('total', { inputs: { count } }, ({ count }) => count);
      // @ts-expect-error the output is a number, not a string.
      const _label: Step<string> = total;
    });
  });
});

describe('step.map', () => {
  it('gives the function one element of the list, and makes a list of the results', () => {
    const rows = step('rows', () => [
      { id: 1, text: 'a' },
      { id: 2, text: 'b' },
    ]);
    const ids = step.map('ids', { over: rows }, (row, inputs, ctx) => {
      expectTypeOf(row).toEqualTypeOf<{ id: number; text: string }>();
      expectTypeOf(inputs).toEqualTypeOf<{ readonly [x: string]: unknown }>();
      expectTypeOf(ctx.item).toEqualTypeOf<number | undefined>();
      return String(row.id);
    });
    expectTypeOf(ids).toEqualTypeOf<Step<string[]>>();
  });

  it('awaits async results and passes typed inputs', () => {
    const scale = step('scale', () => 10);
    const shards = step('shards', () => [0, 1, 2] as const);
    const scores = step.map(
      'scores',
      { over: shards, inputs: { scale } },
      async (shard, { scale }) => {
        expectTypeOf(shard).toEqualTypeOf<0 | 1 | 2>();
        expectTypeOf(scale).toEqualTypeOf<number>();
        return Promise.resolve(shard * scale);
      },
    );
    expectTypeOf(scores).toEqualTypeOf<Step<number[]>>();
    const total = step('total', { inputs: { scores } }, ({ scores }) =>
      scores.reduce((a, b) => a + b, 0),
    );
    expectTypeOf(total).toEqualTypeOf<Step<number>>();
  });

  it('maps over a readonly list', () => {
    const frozen = step('frozen', (): readonly string[] => ['x']);
    const upper = step.map('upper', { over: frozen }, (item) => item.toUpperCase());
    expectTypeOf(upper).toEqualTypeOf<Step<string[]>>();
  });

  it('refuses, at compile time, a step that does not produce a list, or a wrong item type', () => {
    typeOnly(() => {
      // @ts-expect-error `name` produces a string, not a list.
      step.map('chars', { over: name }, (c) => c);
      // @ts-expect-error the items are strings, not numbers.
      step.map('sq', { over: load }, (item: number) => item * item);
      const lengths = step.map('lengths', { over: load }, (item) => item.length);
      // @ts-expect-error the map step gives a list of numbers, not one number.
      step('half', { inputs: { lengths } }, ({ lengths }) => lengths / 2);
    });
  });
});

describe('params', () => {
  const params = defineParams({
    epochs: Type.Integer({ default: 5 }),
    model: Type.Union([Type.Literal('logreg'), Type.Literal('mlp')], { default: 'logreg' }),
    data: Type.String(),
  });

  it('types ctx.params from defineParams', () => {
    step('train', { params, inputs: { load } }, (inputs, ctx) => {
      expectTypeOf(ctx.params.epochs).toEqualTypeOf<number>();
      expectTypeOf(ctx.params.model).toEqualTypeOf<'logreg' | 'mlp'>();
      expectTypeOf(ctx.params.data).toEqualTypeOf<string>();
      expectTypeOf(ctx).toEqualTypeOf<
        StepContext<{ epochs: number; model: 'logreg' | 'mlp'; data: string }>
      >();
      return inputs.load.length * ctx.params.epochs;
    });
    expectTypeOf(params).toEqualTypeOf<
      ParamsDef<{ epochs: number; model: 'logreg' | 'mlp'; data: string }>
    >();
  });

  it('types ctx.params in a map step', () => {
    step.map('per-row', { over: load, params }, (row, _inputs, ctx) => {
      expectTypeOf(ctx.params.epochs).toEqualTypeOf<number>();
      return row.repeat(ctx.params.epochs);
    });
  });

  it('gives a step without params an untyped record', () => {
    step('plain', (_inputs, ctx) => {
      expectTypeOf(ctx.params).toEqualTypeOf<Record<string, unknown>>();
      expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>();
      expectTypeOf<Parameters<StepContext['log']['metric']>>().toEqualTypeOf<
        [string, number, (number | undefined)?]
      >();
    });
  });

  it('refuses unknown or mistyped params at compile time', () => {
    typeOnly(() => {
      step('train', { params }, (_inputs, ctx) => {
        // @ts-expect-error there is no `epoch` param.
        return typeof ctx.params.epoch;
      });
      step('train', { params }, (_inputs, ctx) => {
        // @ts-expect-error `model` is 'logreg' | 'mlp', never 'forest'.
        return ctx.params.model === 'forest';
      });
    });
  });

  it('types the pipeline with its params', () => {
    const p = pipeline('typed', { steps: [load, count], params });
    expectTypeOf(p).toEqualTypeOf<
      Pipeline<{ epochs: number; model: 'logreg' | 'mlp'; data: string }>
    >();
    expectTypeOf(pipeline('plain', { steps: [load] })).toEqualTypeOf<
      Pipeline<Record<string, never>>
    >();
    expect(p.steps.map((s) => s.name)).toEqual(['load', 'count']);
  });
});

describe('options', () => {
  it('accepts durations as numbers or unit strings, and full retry policies', () => {
    const ok = step(
      'ok',
      {
        retries: { retries: 3, backoff: 'linear', delay: '500ms', maxDelay: '1m', jitter: false },
        timeout: '10m',
        cache: { ttl: '7d' },
        version: '2',
        refresh: true,
        worker: false,
      },
      () => 1,
    );
    expect(ok.config.timeoutMs).toBe(600_000);
    expectTypeOf<'1.5h'>().toExtend<Duration>();
    expectTypeOf<250>().toExtend<Duration>();
  });

  it('refuses wrong options at compile time', () => {
    typeOnly(() => {
      // @ts-expect-error 'quadratic' is not a backoff.
      step('a', { retries: { retries: 1, backoff: 'quadratic' } }, () => 1);
      // @ts-expect-error a duration needs a unit it knows.
      step('b', { timeout: '10 minutes' }, () => 1);
      // @ts-expect-error a ttl is a duration.
      step('c', { cache: { ttl: true } }, () => 1);
      // @ts-expect-error a policy needs its count.
      step('d', { retries: { backoff: 'fixed' } }, () => 1);
      // @ts-expect-error a pipeline lists steps.
      pipeline('p', { steps: [load, 'count'] });
    });
  });
});

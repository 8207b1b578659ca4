import { InvalidParameterError } from '@modelyard/core';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { defineParams, NO_PARAMS } from './params.js';
import { isPipeline, pipeline, PIPELINE_BRAND, producersOf } from './pipeline.js';
import type { Step } from './step.js';
import { step } from './step.js';

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

const names = (steps: readonly Step<unknown>[]) => steps.map((s) => s.name);

/** A mutable stand-in for a step, so inputs can point at each other (step() cannot build a cycle). */
interface HandStep {
  [key: symbol]: true;
  name: string;
  kind: 'task';
  inputs: Record<string, HandStep>;
  over: HandStep | undefined;
}

function handStep(name: string): HandStep {
  return {
    [Symbol.for('modelyard.pipelines.step')]: true,
    name,
    kind: 'task',
    inputs: {},
    over: undefined,
  };
}

const asSteps = (steps: HandStep[]) => steps as unknown as Step<unknown>[];

describe('pipeline', () => {
  const load = step('load', () => [3, 1, 2]);
  const split = step('split', { inputs: { load } }, ({ load }) => ({
    train: load.slice(0, 2),
    test: load.slice(2),
  }));
  const features = step('features', { inputs: { split } }, ({ split }) =>
    split.train.map((x) => x * 2),
  );
  const train = step(
    'train',
    { inputs: { features, split } },
    ({ features, split }) => features.length + split.test.length,
  );

  describe('names and steps', () => {
    it('makes a frozen, branded pipeline with defaults', () => {
      const p = pipeline('churn', { steps: [load, split] });
      expect(isPipeline(p)).toBe(true);
      expect(p[PIPELINE_BRAND]).toBe(true);
      expect(p.name).toBe('churn');
      expect(p.description).toBe('');
      expect(p.params).toBe(NO_PARAMS);
      expect(Object.isFrozen(p)).toBe(true);
      expect(Object.isFrozen(p.steps)).toBe(true);
    });

    it('keeps the description and params', () => {
      const params = defineParams({ epochs: Type.Integer({ default: 5 }) });
      const p = pipeline('churn', {
        steps: [load],
        params,
        description: 'Trains the churn model.',
      });
      expect(p.description).toBe('Trains the churn model.');
      expect(p.params).toBe(params);
    });

    it('isPipeline refuses what is not a pipeline', () => {
      for (const value of [null, undefined, 'churn', {}, load, { name: 'churn', steps: [] }]) {
        expect(isPipeline(value)).toBe(false);
      }
    });

    it.each(['', 'my pipeline', '-churn', 'churn/v2', 'x'.repeat(101)])(
      'refuses the name %j',
      (name) => {
        const error = invalid(() => pipeline(name, { steps: [load] }));
        expect(error.message).toBe(
          `Invalid pipeline name ${JSON.stringify(name)}: use 1 to 100 letters, digits, '_', '.' or ` +
            "'-', starting with a letter or digit.",
        );
      },
    );

    it.each(['churn', 'Churn_v2.1-final', '7'])('accepts the name %j', (name) => {
      expect(pipeline(name, { steps: [load] }).name).toBe(name);
    });

    it('refuses a pipeline without steps', () => {
      const message = "Pipeline 'churn' needs at least one step in 'steps'.";
      expect(invalid(() => pipeline('churn', { steps: [] })).message).toBe(message);
      expect(invalid(() => pipeline('churn', {} as never)).message).toBe(message);
      expect(invalid(() => pipeline('churn', { steps: load as never })).message).toBe(message);
    });

    it('refuses an entry that is not a step, naming its index', () => {
      const error = invalid(() => pipeline('churn', { steps: [load, 'split' as never] }));
      expect(error.message).toBe(
        "Pipeline 'churn': steps[1] is not a step; list the values returned by step(...).",
      );
    });
  });

  describe('duplicate names', () => {
    it('says so when the same step is listed twice', () => {
      const error = invalid(() => pipeline('churn', { steps: [load, split, load] }));
      expect(error.message).toBe("Pipeline 'churn' lists step 'load' twice.");
      expect(error.context).toEqual({ step: 'load' });
    });

    it('says so when two different steps share a name', () => {
      const other = step('load', () => [9]);
      const error = invalid(() => pipeline('churn', { steps: [load, other] }));
      expect(error.message).toBe(
        "Pipeline 'churn' has two different steps named 'load'; step names must be unique.",
      );
    });
  });

  describe('missing producers', () => {
    it('names the step, the input and the steps produced so far', () => {
      const error = invalid(() => pipeline('churn', { steps: [load, split, train] }));
      expect(error.message).toBe(
        "Step 'train' needs input 'features', but no step produces it ('features' is not in the " +
          "pipeline's steps). Produced so far: load, split.",
      );
      expect(error.message).toMatch(
        /^Step 'train' needs input 'features', but no step produces it.*\. Produced so far: load, split\.$/,
      );
      expect(error.context).toEqual({ step: 'train', input: 'features', producer: 'features' });
    });

    it('uses the name the consumer gives the input', () => {
      const consumer = step('report', { inputs: { rows: load } }, ({ rows }) => rows.length);
      expect(invalid(() => pipeline('churn', { steps: [consumer] })).message).toBe(
        "Step 'report' needs input 'rows', but no step produces it ('load' is not in the " +
          "pipeline's steps). Produced so far: (none).",
      );
    });

    it('says when a different step with the producer’s name is in the pipeline', () => {
      const otherLoad = step('load', () => [7]);
      const error = invalid(() => pipeline('churn', { steps: [otherLoad, split] }));
      expect(error.message).toBe(
        "Step 'split' needs input 'load', but no step produces it (a different step named 'load' " +
          'is in the pipeline). Produced so far: load.',
      );
    });

    it("refuses a map step whose list is not in the pipeline, as input '(over)'", () => {
      const scores = step.map('scores', { over: load }, (x) => x * 2);
      expect(invalid(() => pipeline('churn', { steps: [scores] })).message).toBe(
        "Step 'scores' needs input '(over)', but no step produces it ('load' is not in the " +
          "pipeline's steps). Produced so far: (none).",
      );
    });
  });

  describe('order', () => {
    it('keeps a listed order that is already topological and has one path', () => {
      const p = pipeline('churn', { steps: [load, split, features, train] });
      expect(names(p.steps)).toEqual(['load', 'split', 'features', 'train']);
    });

    it('puts producers before consumers whatever the listed order', () => {
      const p = pipeline('churn', { steps: [train, features, split, load] });
      expect(names(p.steps)).toEqual(['load', 'split', 'features', 'train']);
      for (const [index, s] of p.steps.entries()) {
        for (const { step: producer } of producersOf(s)) {
          expect(p.steps.indexOf(producer)).toBeLessThan(index);
        }
      }
    });

    it('keeps the listed order among independent steps', () => {
      const a = step('a', () => 1);
      const b = step('b', () => 2);
      const c = step('c', () => 3);
      expect(names(pipeline('p', { steps: [b, c, a] }).steps)).toEqual(['b', 'c', 'a']);
      expect(names(pipeline('p', { steps: [c, a, b] }).steps)).toEqual(['c', 'a', 'b']);
    });

    it('keeps the listed order among steps that become ready together (diamond)', () => {
      const right = step('right', { inputs: { load } }, ({ load }) => load.length);
      const left = step('left', { inputs: { load } }, ({ load }) => load[0]);
      const join = step('join', { inputs: { left, right } }, ({ left, right }) => [left, right]);
      const p = pipeline('diamond', { steps: [join, right, left, load] });
      expect(names(p.steps)).toEqual(['load', 'right', 'left', 'join']);
    });

    it('orders a map step after the list it runs over', () => {
      const scores = step.map('scores', { over: load }, (x) => x * 2);
      const total = step('total', { inputs: { scores } }, ({ scores }) => scores.length);
      const p = pipeline('fan', { steps: [total, scores, load] });
      expect(names(p.steps)).toEqual(['load', 'scores', 'total']);
    });

    it('keeps a valid listed order unchanged', () => {
      const a = step('a', () => 1);
      const b = step('b', { inputs: { a } }, ({ a }) => a + 1);
      const c = step('c', () => 3);
      expect(names(pipeline('p', { steps: [a, b, c] }).steps)).toEqual(['a', 'b', 'c']);
    });
  });

  describe('cycles', () => {
    it('refuses two steps consuming each other, naming the cycle', () => {
      const a = handStep('a');
      const b = handStep('b');
      a.inputs['fromB'] = b;
      b.inputs['fromA'] = a;
      const error = invalid(() => pipeline('loop', { steps: asSteps([a, b]) }));
      expect(error.message).toBe(
        "Pipeline 'loop' has a cycle among steps 'a', 'b': a -> b -> a. A step cannot consume its " +
          'own output, directly or through others.',
      );
      expect(error.context).toEqual({ steps: ['a', 'b'] });
    });

    it('names a three-step cycle in the direction data flows', () => {
      const a = handStep('a');
      const b = handStep('b');
      const c = handStep('c');
      // c -> a -> b -> c: a consumes c, b consumes a, c consumes b.
      a.inputs['c'] = c;
      b.inputs['a'] = a;
      c.inputs['b'] = b;
      const error = invalid(() => pipeline('loop', { steps: asSteps([a, b, c]) }));
      expect(error.message).toContain("has a cycle among steps 'a', 'b', 'c': a -> b -> c -> a.");
    });

    it('refuses a step that consumes itself', () => {
      const a = handStep('a');
      a.inputs['self'] = a;
      expect(invalid(() => pipeline('loop', { steps: asSteps([a]) })).message).toContain(
        "has a cycle among steps 'a': a -> a.",
      );
    });

    it('runs the check only after the acyclic part, naming the cycle through a map step', () => {
      const root = handStep('root');
      const m = handStep('m');
      const x = handStep('x');
      m.over = x;
      m.inputs['root'] = root;
      x.inputs['m'] = m;
      const error = invalid(() => pipeline('loop', { steps: asSteps([root, m, x]) }));
      expect(error.message).toContain("has a cycle among steps 'm', 'x': m -> x -> m.");
    });

    it('mentions every stuck step, also one downstream of the cycle', () => {
      const a = handStep('a');
      const b = handStep('b');
      const after = handStep('after');
      a.inputs['b'] = b;
      b.inputs['a'] = a;
      after.inputs['a'] = a;
      const error = invalid(() => pipeline('loop', { steps: asSteps([a, b, after]) }));
      expect(error.message).toContain("has a cycle among steps 'a', 'b', 'after'");
      expect(error.message).toContain('a -> b -> a');
    });
  });

  describe('cycle description', () => {
    it('names only the cycle when a step downstream of it is listed first', () => {
      const a = handStep('a');
      const b = handStep('b');
      const after = handStep('after');
      a.inputs['b'] = b;
      b.inputs['a'] = a;
      after.inputs['a'] = a;
      const error = invalid(() => pipeline('loop', { steps: asSteps([after, a, b]) }));
      expect(error.message).toContain(': a -> b -> a.');
    });
  });

  describe('producersOf', () => {
    it('lists the inputs by the name they are received under, and a map’s list first', () => {
      const model = step('model', () => 2);
      const scores = step.map(
        'scores',
        { over: load, inputs: { model } },
        (x, { model }) => x * model,
      );
      expect(producersOf(scores)).toEqual([
        { as: '(over)', step: load },
        { as: 'model', step: model },
      ]);
      expect(producersOf(train)).toEqual([
        { as: 'features', step: features },
        { as: 'split', step: split },
      ]);
      expect(producersOf(load)).toEqual([]);
    });
  });
});

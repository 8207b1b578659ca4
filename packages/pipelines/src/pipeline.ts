import { InvalidParameterError } from '@modelyard/core';
import type { ParamsDef } from './params.js';
import { NO_PARAMS } from './params.js';
import type { Step } from './step.js';
import { isStep } from './step.js';

/** Marks pipeline objects (global symbol, so two copies of the SDK agree). */
export const PIPELINE_BRAND: unique symbol = Symbol.for('modelyard.pipelines.pipeline') as never;

/** A checked pipeline, made by {@link pipeline}. */
export interface Pipeline<P = Record<string, unknown>> {
  readonly [PIPELINE_BRAND]: true;
  readonly name: string;
  readonly description: string;
  readonly params: ParamsDef<P>;
  /** The steps in a valid execution order (producers before consumers). */
  readonly steps: readonly Step<unknown>[];
}

/** What {@link pipeline} takes. */
export interface PipelineOptions<P> {
  /** Every step of the pipeline; each step's producers must be among them. */
  steps: readonly Step<unknown>[];
  params?: ParamsDef<P>;
  description?: string;
}

const PIPELINE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

/** True for pipeline objects, also those made by another copy of this SDK. */
export function isPipeline(value: unknown): value is Pipeline<unknown> {
  return typeof value === 'object' && value !== null && PIPELINE_BRAND in value;
}

/** The steps a step consumes: its inputs and, for a map, the list it runs over. */
export function producersOf(s: Step<unknown>): { as: string; step: Step<unknown> }[] {
  const producers = Object.entries(s.inputs).map(([as, producer]) => ({ as, step: producer }));
  if (s.over !== undefined) producers.unshift({ as: '(over)', step: s.over });
  return producers;
}

/**
 * Checks a pipeline before anything runs and orders its steps: names are unique, every input
 * comes from a step of the pipeline, and there is no cycle.
 *
 * @throws InvalidParameterError with a message such as `Step 'train' needs input 'features', but
 *   no step produces it. Produced so far: load, split.`
 */
export function pipeline<P = Record<string, never>>(
  name: string,
  options: PipelineOptions<P>,
): Pipeline<P> {
  if (typeof name !== 'string' || !PIPELINE_NAME.test(name)) {
    throw new InvalidParameterError(
      `Invalid pipeline name ${JSON.stringify(name)}: use 1 to 100 letters, digits, '_', '.' or ` +
        "'-', starting with a letter or digit.",
      { name },
    );
  }
  const steps = options.steps as readonly unknown[];
  if (!Array.isArray(steps) || steps.length === 0) {
    throw new InvalidParameterError(`Pipeline '${name}' needs at least one step in 'steps'.`);
  }
  const byName = new Map<string, Step<unknown>>();
  for (const [index, s] of steps.entries()) {
    if (!isStep(s)) {
      throw new InvalidParameterError(
        `Pipeline '${name}': steps[${String(index)}] is not a step; list the values returned by step(...).`,
        { index },
      );
    }
    const other = byName.get(s.name);
    if (other !== undefined) {
      throw new InvalidParameterError(
        other === s
          ? `Pipeline '${name}' lists step '${s.name}' twice.`
          : `Pipeline '${name}' has two different steps named '${s.name}'; step names must be unique.`,
        { step: s.name },
      );
    }
    byName.set(s.name, s);
  }
  const listed = (steps as Step<unknown>[]).map((s) => s.name);
  for (const [index, s] of (steps as Step<unknown>[]).entries()) {
    for (const { as, step: producer } of producersOf(s)) {
      if (byName.get(producer.name) !== producer) {
        const before = listed.slice(0, index);
        throw new InvalidParameterError(
          `Step '${s.name}' needs input '${as}', but no step produces it` +
            (byName.has(producer.name)
              ? ` (a different step named '${producer.name}' is in the pipeline)`
              : ` ('${producer.name}' is not in the pipeline's steps)`) +
            `. Produced so far: ${before.length === 0 ? '(none)' : before.join(', ')}.`,
          { step: s.name, input: as, producer: producer.name },
        );
      }
    }
  }
  return Object.freeze({
    [PIPELINE_BRAND]: true as const,
    name,
    description: options.description ?? '',
    params: (options.params ?? NO_PARAMS) as ParamsDef<P>,
    steps: Object.freeze(order(name, steps as Step<unknown>[])),
  });
}

/** Producers before consumers; otherwise the listed order (each step as early as it can go). */
function order(name: string, steps: Step<unknown>[]): Step<unknown>[] {
  const done = new Set<string>();
  const out: Step<unknown>[] = [];
  while (out.length < steps.length) {
    const next = steps.find(
      (s) => !done.has(s.name) && producersOf(s).every((p) => done.has(p.step.name)),
    );
    if (next === undefined) {
      const stuck = steps.filter((s) => !done.has(s.name));
      const cycle = findCycle(stuck);
      throw new InvalidParameterError(
        `Pipeline '${name}' has a cycle among steps ${stuck.map((s) => `'${s.name}'`).join(', ')}: ` +
          `${cycle.join(' -> ')}. A step cannot consume its own output, directly or through others.`,
        { steps: stuck.map((s) => s.name) },
      );
    }
    out.push(next);
    done.add(next.name);
  }
  return out;
}

/** A cycle among steps none of which can run: follow producers until a step repeats. */
function findCycle(stuck: Step<unknown>[]): string[] {
  const names = new Set(stuck.map((s) => s.name));
  const byName = new Map(stuck.map((s) => [s.name, s]));
  let current = stuck[0];
  const path: string[] = [];
  while (current !== undefined && !path.includes(current.name)) {
    path.push(current.name);
    const next = producersOf(current).find((p) => names.has(p.step.name));
    current = next === undefined ? undefined : byName.get(next.step.name);
  }
  if (current === undefined) return path;
  const cycle = [...path.slice(path.indexOf(current.name)), current.name];
  // Producers were followed backwards; show the data's direction.
  return cycle.reverse();
}

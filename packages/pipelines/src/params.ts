import { Type } from '@sinclair/typebox';
import type { Static, TObject, TProperties } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { InvalidParameterError } from '@modelyard/core';

/** A pipeline's parameters: a TypeBox object schema and, type-level, the values it describes. */
export interface ParamsDef<P> {
  readonly schema: TObject;
  /** Type-level only. */
  readonly __params?: P;
}

/**
 * Declares a pipeline's parameters with TypeBox schemas (defaults, ranges, enums), giving steps
 * a typed `ctx.params` and `yard run --param k=v` its validation.
 *
 * @example
 * ```ts
 * import { Type } from '@sinclair/typebox';
 * const params = defineParams({
 *   data: Type.String({ default: 'data/churn.csv' }),
 *   epochs: Type.Integer({ minimum: 1, default: 200 }),
 * });
 * const train = step('train', { params, inputs: { data } }, (inputs, ctx) => ctx.params.epochs);
 * ```
 */
export function defineParams<T extends TProperties>(properties: T): ParamsDef<Static<TObject<T>>> {
  return { schema: Type.Object(properties, { additionalProperties: false }) as TObject };
}

/** The parameters of a pipeline that declares none. */
export const NO_PARAMS: ParamsDef<Record<string, never>> = {
  schema: Type.Object({}, { additionalProperties: false }),
};

/**
 * Turns `--param k=v` strings and programmatic values into the pipeline's parameters: fills in
 * defaults, converts strings to the declared types, and checks them.
 * @throws InvalidParameterError naming each wrong or unknown parameter and what it must be.
 */
export function resolveParams(
  def: ParamsDef<unknown>,
  given: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const known = Object.keys(def.schema.properties);
  const unknown = Object.keys(given).filter((key) => !known.includes(key));
  if (unknown.length > 0) {
    throw new InvalidParameterError(
      `Unknown parameter${unknown.length === 1 ? '' : 's'} ${unknown.map((k) => `'${k}'`).join(', ')}; ` +
        (known.length === 0
          ? 'this pipeline takes none.'
          : `this pipeline takes ${known.map((k) => `'${k}'`).join(', ')}.`),
      { unknown },
    );
  }
  // Conversion would truncate 2.5 to 2 for an integer: refuse that instead.
  for (const [key, raw] of Object.entries(given)) {
    const schema = def.schema.properties[key] as { type?: unknown } | undefined;
    const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (
      schema?.type === 'integer' &&
      typeof n === 'number' &&
      Number.isFinite(n) &&
      !Number.isInteger(n)
    ) {
      throw new InvalidParameterError(
        `Invalid parameters: '${key}' must be a whole number, got ${JSON.stringify(raw)}.`,
        { errors: [key] },
      );
    }
  }
  const value = Value.Default(def.schema, Value.Convert(def.schema, { ...given })) as Record<
    string,
    unknown
  >;
  const errors = [...Value.Errors(def.schema, value)];
  if (errors.length > 0) {
    const lines = errors.map((e) => {
      const key = e.path.replace(/^\//, '') || '(params)';
      return `'${key}' ${e.message.toLowerCase()}, got ${JSON.stringify(e.value)}`;
    });
    throw new InvalidParameterError(`Invalid parameters: ${lines.join('; ')}.`, {
      errors: lines,
    });
  }
  return value;
}

/**
 * Parses `k=v` strings (the CLI's `--param`) into a record of strings.
 * @throws InvalidParameterError for an entry without `=` or with an empty key.
 */
export function parseParamArgs(entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of entries) {
    const at = entry.indexOf('=');
    if (at <= 0) {
      throw new InvalidParameterError(
        `--param takes key=value, got '${entry}' (e.g. --param epochs=20).`,
        { entry },
      );
    }
    out[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return out;
}

import { InvalidParameterError } from '@modelyard/core';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { defineParams, NO_PARAMS, parseParamArgs, resolveParams } from './params.js';

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

const params = defineParams({
  data: Type.String({ default: 'data/churn.csv' }),
  epochs: Type.Integer({ minimum: 1, default: 200 }),
  lr: Type.Number({ exclusiveMinimum: 0, default: 0.01 }),
  shuffle: Type.Boolean({ default: true }),
  model: Type.Union([Type.Literal('logreg'), Type.Literal('mlp')], { default: 'logreg' }),
});

describe('defineParams', () => {
  it('makes a closed object schema of the properties', () => {
    expect(params.schema.type).toBe('object');
    expect(Object.keys(params.schema.properties)).toEqual([
      'data',
      'epochs',
      'lr',
      'shuffle',
      'model',
    ]);
    expect(params.schema.additionalProperties).toBe(false);
  });

  it('NO_PARAMS declares none', () => {
    expect(Object.keys(NO_PARAMS.schema.properties)).toEqual([]);
    expect(resolveParams(NO_PARAMS, {})).toEqual({});
  });
});

describe('resolveParams', () => {
  it('fills in every default', () => {
    expect(resolveParams(params, {})).toEqual({
      data: 'data/churn.csv',
      epochs: 200,
      lr: 0.01,
      shuffle: true,
      model: 'logreg',
    });
  });

  it('converts strings from --param to the declared types', () => {
    expect(
      resolveParams(params, {
        epochs: '20',
        lr: '0.5',
        shuffle: 'false',
        model: 'mlp',
        data: 'x.csv',
      }),
    ).toEqual({ data: 'x.csv', epochs: 20, lr: 0.5, shuffle: false, model: 'mlp' });
    expect(resolveParams(params, { shuffle: 'true' })).toMatchObject({ shuffle: true });
  });

  it('keeps values that already have the right type', () => {
    expect(resolveParams(params, { epochs: 3, lr: 0.2, shuffle: false })).toMatchObject({
      epochs: 3,
      lr: 0.2,
      shuffle: false,
    });
  });

  it('does not change the object it is given', () => {
    const given = { epochs: '20' };
    resolveParams(params, given);
    expect(given).toEqual({ epochs: '20' });
  });

  it('names a bad key, what it must be and the value', () => {
    const error = invalid(() => resolveParams(params, { epochs: '0' }));
    expect(error.message).toBe(
      "Invalid parameters: 'epochs' expected integer to be greater or equal to 1, got 0.",
    );
  });

  it('names each bad key with its value', () => {
    const error = invalid(() =>
      resolveParams(params, { epochs: 'many', lr: '-1', shuffle: 'yes', model: 'forest' }),
    );
    expect(error.message).toMatch(/^Invalid parameters: /);
    expect(error.message).toContain(`'epochs' expected integer, got "many"`);
    expect(error.message).toContain(`'lr' expected number to be greater than 0, got -1`);
    expect(error.message).toContain(`'shuffle' expected boolean, got "yes"`);
    expect(error.message).toContain(`'model' expected union value, got "forest"`);
    expect(error.context['errors']).toHaveLength(4);
  });

  it('names a required parameter that is missing', () => {
    const required = defineParams({ dataset: Type.String(), seed: Type.Integer({ default: 1 }) });
    const error = invalid(() => resolveParams(required, {}));
    expect(error.message).toMatch(/^Invalid parameters: 'dataset' expected required property/);
    expect(resolveParams(required, { dataset: 'iris' })).toEqual({ dataset: 'iris', seed: 1 });
  });

  it('refuses an unknown parameter, listing the known ones', () => {
    const error = invalid(() => resolveParams(params, { epoch: '20' }));
    expect(error.message).toBe(
      "Unknown parameter 'epoch'; this pipeline takes 'data', 'epochs', 'lr', 'shuffle', 'model'.",
    );
    expect(error.context).toEqual({ unknown: ['epoch'] });
  });

  it('refuses several unknown parameters at once', () => {
    const error = invalid(() => resolveParams(params, { epoch: '20', rate: '1', lr: '0.1' }));
    expect(error.message).toBe(
      "Unknown parameters 'epoch', 'rate'; this pipeline takes 'data', 'epochs', 'lr', 'shuffle', 'model'.",
    );
  });

  it('says when a pipeline takes no parameters', () => {
    expect(invalid(() => resolveParams(NO_PARAMS, { epochs: '3' })).message).toBe(
      "Unknown parameter 'epochs'; this pipeline takes none.",
    );
  });

  it.each(['2.5', 2.5])('refuses the fractional value %j for an integer', (epochs) => {
    const error = invalid(() => resolveParams(params, { epochs }));
    expect(error.message).toContain("'epochs'");
    expect(error.message).toContain('2.5');
  });
});

describe('parseParamArgs', () => {
  it('reads key=value entries', () => {
    expect(parseParamArgs(['epochs=20', 'lr=0.1'])).toEqual({ epochs: '20', lr: '0.1' });
    expect(parseParamArgs([])).toEqual({});
  });

  it('keeps everything after the first = in the value', () => {
    expect(parseParamArgs(['a=b=c', 'filter=x==1'])).toEqual({ a: 'b=c', filter: 'x==1' });
  });

  it('accepts an empty value', () => {
    expect(parseParamArgs(['tag='])).toEqual({ tag: '' });
  });

  it('takes the last of repeated keys', () => {
    expect(parseParamArgs(['epochs=1', 'epochs=2'])).toEqual({ epochs: '2' });
  });

  it.each(['=x', 'x', '', '='])('refuses %j, showing the expected form', (entry) => {
    const error = invalid(() => parseParamArgs(['ok=1', entry]));
    expect(error.message).toBe(`--param takes key=value, got '${entry}' (e.g. --param epochs=20).`);
    expect(error.context).toEqual({ entry });
  });
});

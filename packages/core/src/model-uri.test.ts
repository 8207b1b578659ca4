import { describe, expect, it } from 'vitest';
import { InvalidParameterError, parseModelUri } from '@modelyard/core';

describe('parseModelUri', () => {
  it.each([
    ['models:/churn/3', { name: 'churn', version: '3' }],
    ['models:/churn@champion', { name: 'churn', alias: 'champion' }],
    ['churn/12', { name: 'churn', version: '12' }],
    ['team/churn@prod', { name: 'team/churn', alias: 'prod' }],
  ])('reads %s', (uri, expected) => {
    expect(parseModelUri(uri)).toEqual(expected);
  });

  it.each(['models:/churn', 'models:/churn/0', 'models:/churn/v3', 'models:/@x', '', 'churn@'])(
    'refuses %s naming the accepted forms',
    (uri) => {
      expect(() => parseModelUri(uri)).toThrow(InvalidParameterError);
      expect(() => parseModelUri(uri)).toThrow(/models:\/<name>\/<version>/);
    },
  );
});

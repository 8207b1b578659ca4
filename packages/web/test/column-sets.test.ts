import { describe, expect, it } from 'vitest';
import {
  COLUMN_SET_TAG_PREFIX,
  columnSetNameError,
  columnSetsOf,
  decodeColumnSet,
  encodeColumnSet,
} from '../src/column-sets.js';

describe('column sets as experiment tags', () => {
  it('encodes a set as a tag under the prefix with the JSON list of column ids', () => {
    const tag = encodeColumnSet({ name: ' errors ', columns: ['metrics.rmse', 'params.lr'] });
    expect(tag).toEqual({
      key: 'modelyard.ui.columns.errors',
      value: '["metrics.rmse","params.lr"]',
    });
    expect(decodeColumnSet(tag)).toEqual({
      name: 'errors',
      columns: ['metrics.rmse', 'params.lr'],
    });
  });

  it('ignores other tags and values that are not a list of strings', () => {
    expect(decodeColumnSet({ key: 'team', value: '["a"]' })).toBeUndefined();
    expect(decodeColumnSet({ key: COLUMN_SET_TAG_PREFIX, value: '[]' })).toBeUndefined();
    expect(
      decodeColumnSet({ key: `${COLUMN_SET_TAG_PREFIX}x`, value: 'not json' }),
    ).toBeUndefined();
    expect(decodeColumnSet({ key: `${COLUMN_SET_TAG_PREFIX}x`, value: '[1,2]' })).toBeUndefined();
    expect(decodeColumnSet({ key: `${COLUMN_SET_TAG_PREFIX}x`, value: '{}' })).toBeUndefined();
  });

  it('lists the sets among tags sorted by name', () => {
    const sets = columnSetsOf([
      { key: 'owner', value: 'ana' },
      { key: `${COLUMN_SET_TAG_PREFIX}zeta`, value: '["tags.team"]' },
      { key: `${COLUMN_SET_TAG_PREFIX}alpha`, value: '[]' },
    ]);
    expect(sets.map((s) => s.name)).toEqual(['alpha', 'zeta']);
    expect(sets[1]?.columns).toEqual(['tags.team']);
  });

  it('refuses names a tag key cannot carry and lists too long for a tag value', () => {
    expect(columnSetNameError('')).toMatch(/Give the column set a name/);
    expect(columnSetNameError('a/b')).toMatch(/"a\/b" cannot name a column set/);
    expect(columnSetNameError('x..y')).toBeDefined();
    expect(columnSetNameError('Loss view: v2')).toBeUndefined();
    expect(() => encodeColumnSet({ name: 'bad/name', columns: [] })).toThrow(/cannot name/);
    const many = Array.from({ length: 400 }, (_, i) => `metrics.some_long_metric_${i}`);
    expect(() => encodeColumnSet({ name: 'all', columns: many })).toThrow(/too long to save/);
  });
});

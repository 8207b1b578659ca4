import { describe, expect, it } from 'vitest';
import { filterKeys } from '../src/key-search.js';

describe('filterKeys', () => {
  const items = [{ key: 'train/loss' }, { key: 'val/loss' }, { key: 'val/accuracy' }];

  it('keeps the keys holding every word, in any order, case ignored', () => {
    expect(filterKeys(items, 'LOSS val').map((i) => i.key)).toEqual(['val/loss']);
    expect(filterKeys(items, ' loss ').map((i) => i.key)).toEqual(['train/loss', 'val/loss']);
  });

  it('keeps everything for an empty search and nothing for a word no key has', () => {
    expect(filterKeys(items, '   ')).toEqual(items);
    expect(filterKeys(items, 'f1')).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { generateRunName } from '@modelyard/core';

/** A small deterministic generator (mulberry32) so names can be reproduced. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('generateRunName', () => {
  it('produces adjective-noun-number names', () => {
    for (let i = 0; i < 200; i += 1) {
      expect(generateRunName()).toMatch(/^[a-z]+-[a-z]+-\d{1,3}$/);
    }
  });

  it('is reproducible with the same random source', () => {
    expect(generateRunName(seeded(42))).toBe(generateRunName(seeded(42)));
  });

  it('uses the first words and 0 for a source returning 0, and stays in range for 1', () => {
    const low = generateRunName(() => 0);
    expect(low).toMatch(/^[a-z]+-[a-z]+-0$/);
    expect(generateRunName(() => 0.999999)).toMatch(/-999$/);
    expect(generateRunName(() => 1)).toMatch(/^[a-z]+-[a-z]+-999$/);
  });

  it('varies: many names from one source are mostly distinct', () => {
    const random = seeded(7);
    const names = new Set(Array.from({ length: 500 }, () => generateRunName(random)));
    expect(names.size).toBeGreaterThan(490);
  });
});

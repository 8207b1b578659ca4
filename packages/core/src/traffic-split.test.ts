import { describe, expect, it } from 'vitest';
import {
  BUCKET_COUNT,
  InvalidParameterError,
  createSeededRandom,
  createTrafficSplitter,
  hashKey,
  shouldMirror,
  stickyBucket,
  validateWeights,
  type WeightedVariant,
} from '@modelyard/core';

const canary = (candidateWeight: number): WeightedVariant[] => [
  { name: 'primary', role: 'primary', weight: 100 - candidateWeight },
  { name: 'canary', role: 'candidate', weight: candidateWeight },
];

function countPicks(pick: (i: number) => string, n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const name = pick(i);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

describe('validateWeights', () => {
  it('accepts serving weights that add up to 100 with shadows mirroring any percentage', () => {
    expect(() => {
      validateWeights([
        { name: 'a', role: 'primary', weight: 33.33 },
        { name: 'b', role: 'candidate', weight: 33.33 },
        { name: 'c', role: 'candidate', weight: 33.34 },
        { name: 's', role: 'shadow', weight: 75 },
      ]);
    }).not.toThrow();
    expect(() => {
      validateWeights([{ name: 'only', role: 'primary', weight: 100 }]);
    }).not.toThrow();
  });

  it('rejects serving weights whose sum is not 100, naming each variant and the sum', () => {
    expect(() => {
      validateWeights([
        { name: 'primary', role: 'primary', weight: 80 },
        { name: 'canary', role: 'candidate', weight: 10 },
        { name: 'mirror', role: 'shadow', weight: 10 },
      ]);
    }).toThrow(
      'The weights of the primary and candidate variants must add up to 100, but primary=80, canary=10 add up to 90.',
    );
  });

  it('carries the weights and the sum in the error context', () => {
    try {
      validateWeights(canary(10).map((v) => ({ ...v, weight: v.weight + 1 })));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidParameterError);
      expect((error as InvalidParameterError).context).toEqual({
        weights: { primary: 91, canary: 11 },
        sum: 102,
      });
    }
  });

  it.each([-1, 100.5, Number.NaN, Number.POSITIVE_INFINITY])(
    'rejects a weight of %s as outside 0 to 100',
    (weight) => {
      expect(() => {
        validateWeights([{ name: 'p', role: 'primary', weight }]);
      }).toThrow(`Variant 'p' has weight ${String(weight)}; it must be a number from 0 to 100.`);
    },
  );

  it('calls a shadow weight a mirror percentage when it is out of range', () => {
    expect(() => {
      validateWeights([...canary(0), { name: 's', role: 'shadow', weight: 150 }]);
    }).toThrow("Variant 's' has mirror percentage 150; it must be a number from 0 to 100.");
  });

  it('rejects duplicate variant names', () => {
    expect(() => {
      validateWeights([
        { name: 'x', role: 'primary', weight: 50 },
        { name: 'x', role: 'candidate', weight: 50 },
      ]);
    }).toThrow("'x' appears more than once");
  });

  it('rejects a deployment with no serving variant', () => {
    expect(() => {
      validateWeights([]);
    }).toThrow('it has no variants.');
    expect(() => {
      validateWeights([{ name: 's', role: 'shadow', weight: 100 }]);
    }).toThrow('it has only shadow variants (s).');
  });
});

describe('hashKey and stickyBucket', () => {
  it('give the documented FNV-1a + murmur3-finaliser values, also for non-ASCII keys', () => {
    // Reference values computed independently in Python over the UTF-8 bytes.
    expect(hashKey('')).toBe(2872998923);
    expect(hashKey('a')).toBe(444641715);
    expect(hashKey('user-42')).toBe(2083131798);
    expect(hashKey('ünïcødé 🚀')).toBe(1495683422);
    expect(stickyBucket('user-42')).toBe(1798);
    expect(stickyBucket('user-42', 'churn')).toBe(2294);
  });
});

describe('createTrafficSplitter', () => {
  it('lays serving variants on the buckets in name order with cumulative weights', () => {
    const splitter = createTrafficSplitter([
      { name: 'primary', role: 'primary', weight: 87.5 },
      { name: 'canary', role: 'candidate', weight: 12.5 },
      { name: 'shadow', role: 'shadow', weight: 30 },
    ]);
    expect(splitter.routes).toEqual([
      { name: 'canary', weight: 12.5, from: 0, to: 1250 },
      { name: 'primary', weight: 87.5, from: 1250, to: BUCKET_COUNT },
    ]);
    expect(splitter.mirrors).toEqual([{ name: 'shadow', percent: 30 }]);
  });

  it('refuses invalid weights', () => {
    expect(() => createTrafficSplitter(canary(10).slice(0, 1))).toThrow(InvalidParameterError);
  });

  it('splits 100k un-keyed picks by weight within half a percentage point', () => {
    const splitter = createTrafficSplitter(
      [
        { name: 'a', role: 'primary', weight: 50 },
        { name: 'b', role: 'candidate', weight: 30 },
        { name: 'c', role: 'candidate', weight: 20 },
      ],
      { random: createSeededRandom(7) },
    );
    const n = 100_000;
    const counts = countPicks(() => splitter.pick(), n);
    expect(Math.abs((counts.get('a') ?? 0) / n - 0.5)).toBeLessThan(0.005);
    expect(Math.abs((counts.get('b') ?? 0) / n - 0.3)).toBeLessThan(0.005);
    expect(Math.abs((counts.get('c') ?? 0) / n - 0.2)).toBeLessThan(0.005);
  });

  it('splits 100k distinct sticky keys by weight within half a percentage point', () => {
    const splitter = createTrafficSplitter(canary(10), { salt: 'endpoint' });
    const n = 100_000;
    const counts = countPicks((i) => splitter.pick(`user-${String(i)}`), n);
    expect(Math.abs((counts.get('canary') ?? 0) / n - 0.1)).toBeLessThan(0.005);
    expect((counts.get('canary') ?? 0) + (counts.get('primary') ?? 0)).toBe(n);
  });

  it('gives a sticky key the same variant every time, in any splitter with the same weights', () => {
    const first = createTrafficSplitter(canary(50), { random: createSeededRandom(1) });
    const reordered = createTrafficSplitter([...canary(50)].reverse(), {
      random: createSeededRandom(2),
    });
    for (let i = 0; i < 1000; i++) {
      const key = `session-${String(i)}`;
      const variant = first.pick(key);
      expect(first.pick(key)).toBe(variant);
      expect(reordered.pick(key)).toBe(variant);
    }
  });

  it('reshuffles sticky keys when the salt changes', () => {
    const a = createTrafficSplitter(canary(50), { salt: 'one' });
    const b = createTrafficSplitter(canary(50), { salt: 'two' });
    let differing = 0;
    for (let i = 0; i < 10_000; i++) {
      if (a.pick(String(i)) !== b.pick(String(i))) differing++;
    }
    // Independent 50/50 splits disagree about half the time.
    expect(differing / 10_000).toBeGreaterThan(0.45);
    expect(differing / 10_000).toBeLessThan(0.55);
  });

  it('moves only the keys the new weight needs, all towards the growing candidate', () => {
    const stages = [5, 10, 25, 50, 100];
    const keys = Array.from({ length: 50_000 }, (_, i) => `k${String(i)}`);
    const initial = createTrafficSplitter(canary(1));
    let previous = keys.map((k) => initial.pick(k));
    let previousWeight = 1;
    for (const weight of stages) {
      const splitter = createTrafficSplitter(canary(weight));
      const current = keys.map((k) => splitter.pick(k));
      let moved = 0;
      for (const [i, variant] of current.entries()) {
        if (previous[i] === 'canary') expect(variant).toBe('canary');
        if (variant !== previous[i]) moved++;
      }
      expect(Math.abs(moved / keys.length - (weight - previousWeight) / 100)).toBeLessThan(0.005);
      previous = current;
      previousWeight = weight;
    }
  });

  it('never routes to a weight-0 variant and always to a weight-100 one', () => {
    const edge = (random: () => number) =>
      createTrafficSplitter(
        [
          { name: 'a-zero', role: 'candidate', weight: 0 },
          { name: 'b-all', role: 'primary', weight: 100 },
          { name: 'c-zero', role: 'candidate', weight: 0 },
        ],
        { random },
      );
    const seeded = edge(createSeededRandom(3));
    for (let i = 0; i < 10_000; i++) {
      expect(seeded.pick()).toBe('b-all');
      expect(seeded.pick(`key-${String(i)}`)).toBe('b-all');
    }
    // The extremes of the random source too, including a source that returns exactly 1.
    for (const r of [0, 0.5, 1 - Number.EPSILON, 1]) expect(edge(() => r).pick()).toBe('b-all');
  });

  it('maps the extremes of the random source to the first and last serving variant', () => {
    expect(createTrafficSplitter(canary(10), { random: () => 0 }).pick()).toBe('canary');
    expect(createTrafficSplitter(canary(10), { random: () => 0.0999 }).pick()).toBe('canary');
    expect(createTrafficSplitter(canary(10), { random: () => 0.1 }).pick()).toBe('primary');
    expect(createTrafficSplitter(canary(10), { random: () => 1 }).pick()).toBe('primary');
  });

  it('mirrors to each shadow variant by its own percentage', () => {
    const splitter = createTrafficSplitter(
      [
        ...canary(0),
        { name: 'half', role: 'shadow', weight: 50 },
        { name: 'all', role: 'shadow', weight: 100 },
        { name: 'none', role: 'shadow', weight: 0 },
      ],
      { random: createSeededRandom(11) },
    );
    const n = 20_000;
    const counts = countPicks(() => splitter.mirrorTargets().join(','), n);
    // Only two outcomes: 'all' alone, or 'half' and 'all' (in variant order).
    expect([...counts.keys()].sort()).toEqual(['all', 'half,all']);
    expect(Math.abs((counts.get('half,all') ?? 0) / n - 0.5)).toBeLessThan(0.02);
  });
});

describe('shouldMirror', () => {
  it('mirrors about the given share of 100k requests', () => {
    const random = createSeededRandom(5);
    let mirrored = 0;
    for (let i = 0; i < 100_000; i++) if (shouldMirror(25, random)) mirrored++;
    expect(Math.abs(mirrored / 100_000 - 0.25)).toBeLessThan(0.005);
  });

  it('never mirrors at 0 and always at 100, whatever the random source says', () => {
    expect(shouldMirror(0, () => 0)).toBe(false);
    expect(shouldMirror(100, () => 0.999999)).toBe(true);
    expect(shouldMirror(1, () => 0.0099)).toBe(true);
    expect(shouldMirror(1, () => 0.01)).toBe(false);
  });

  it.each([-5, 101, Number.NaN])('rejects a mirror percentage of %s', (percent) => {
    expect(() => shouldMirror(percent)).toThrow(
      `The mirror percentage must be a number from 0 to 100, got ${String(percent)}.`,
    );
  });
});

describe('createSeededRandom', () => {
  it('repeats its sequence for the same seed and stays within [0, 1)', () => {
    const a = createSeededRandom(123);
    const b = createSeededRandom(123);
    const c = createSeededRandom(124);
    const seqA = Array.from({ length: 1000 }, a);
    expect(Array.from({ length: 1000 }, b)).toEqual(seqA);
    expect(Array.from({ length: 1000 }, c)).not.toEqual(seqA);
    for (const x of seqA) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
  });
});

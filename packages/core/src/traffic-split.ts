/**
 * Traffic-split math for deployments: checking variant weights, picking the variant that serves
 * a request (weighted at random, or sticky per key), and deciding which requests a shadow variant
 * receives a copy of. Pure functions; randomness is injected so that callers and tests can seed it.
 *
 * Weights resolve to {@link BUCKET_COUNT} buckets, so a weight counts to 0.01 %: 12.345 routes
 * like 12.35.
 */
import { InvalidParameterError } from './errors.js';
import type { VariantRole } from './deployment.js';

/** How many buckets traffic is divided into: one bucket is 0.01 % of requests. */
export const BUCKET_COUNT = 10_000;

/** A source of uniform random numbers in [0, 1), like `Math.random`. */
export type RandomSource = () => number;

/**
 * What traffic splitting needs to know of a variant. For `primary` and `candidate` variants
 * `weight` is the share of requests served (0–100); for `shadow` variants it is the percentage of
 * requests mirrored to the variant (0–100), whose responses are never returned to the caller.
 */
export interface WeightedVariant {
  name: string;
  role: VariantRole;
  weight: number;
}

/** A serving variant's slice of the buckets: it serves keys whose bucket is in `[from, to)`. */
export interface TrafficRoute {
  name: string;
  weight: number;
  from: number;
  to: number;
}

/** A shadow variant and the percentage of requests mirrored to it. */
export interface MirrorRoute {
  name: string;
  percent: number;
}

/** Options of {@link createTrafficSplitter}. */
export interface TrafficSplitterOptions {
  /** The random source for un-keyed picks and mirroring. Default `Math.random`. */
  random?: RandomSource;
  /**
   * Mixed into every sticky key's hash, e.g. the deployment name, so that one user is not put in
   * the same bucket by every deployment. Changing it reshuffles every key. Default `''`.
   */
  salt?: string;
}

/** Routes requests among a deployment's variants; made by {@link createTrafficSplitter}. */
export interface TrafficSplitter {
  /** The serving variants' bucket ranges, in bucket order (variants sorted by name). */
  readonly routes: readonly TrafficRoute[];
  /** The shadow variants and their mirror percentages. */
  readonly mirrors: readonly MirrorRoute[];
  /**
   * The name of the variant that serves a request: chosen at random by weight when `stickyKey`
   * is undefined, and by the key's bucket otherwise, so that the same key always gets the same
   * variant while the weights stay the same.
   */
  pick(stickyKey?: string): string;
  /** The shadow variants this request is mirrored to, each drawn by its own percentage. */
  mirrorTargets(): string[];
}

const WEIGHT_TOLERANCE = 1e-9;

function isServing(variant: WeightedVariant): boolean {
  return variant.role !== 'shadow';
}

function describeWeights(variants: readonly WeightedVariant[]): string {
  return variants.map((v) => `${v.name}=${String(v.weight)}`).join(', ');
}

/**
 * Checks a deployment's variant weights: names are unique, every weight is a number in 0–100,
 * there is at least one primary or candidate variant, and the weights of the primary and
 * candidate variants add up to 100. Shadow variants do not count towards the sum; their weight is
 * the percentage of requests mirrored to them.
 *
 * @throws {@link InvalidParameterError} naming the variants and their weights (and the sum when
 *   that is what is wrong).
 * @example
 * ```ts
 * validateWeights([
 *   { name: 'primary', role: 'primary', weight: 90 },
 *   { name: 'canary', role: 'candidate', weight: 10 },
 *   { name: 'shadow', role: 'shadow', weight: 25 }, // mirrors 25 % of requests
 * ]);
 * ```
 */
export function validateWeights(variants: readonly WeightedVariant[]): void {
  const seen = new Set<string>();
  for (const variant of variants) {
    if (seen.has(variant.name)) {
      throw new InvalidParameterError(
        `Variant names must be unique within a deployment, but '${variant.name}' appears more than once.`,
        { variant: variant.name },
      );
    }
    seen.add(variant.name);
    if (!Number.isFinite(variant.weight) || variant.weight < 0 || variant.weight > 100) {
      const what = isServing(variant) ? 'weight' : 'mirror percentage';
      throw new InvalidParameterError(
        `Variant '${variant.name}' has ${what} ${String(variant.weight)}; it must be a number from 0 to 100.`,
        { variant: variant.name, weight: variant.weight },
      );
    }
  }
  const serving = variants.filter(isServing);
  if (serving.length === 0) {
    throw new InvalidParameterError(
      'A deployment needs at least one primary or candidate variant to serve requests; ' +
        (variants.length === 0
          ? 'it has no variants.'
          : `it has only shadow variants (${variants.map((v) => v.name).join(', ')}).`),
    );
  }
  const sum = serving.reduce((total, v) => total + v.weight, 0);
  if (Math.abs(sum - 100) > WEIGHT_TOLERANCE) {
    throw new InvalidParameterError(
      `The weights of the primary and candidate variants must add up to 100, but ` +
        `${describeWeights(serving)} add up to ${String(sum)}.`,
      { weights: Object.fromEntries(serving.map((v) => [v.name, v.weight])), sum },
    );
  }
}

/**
 * A stable 32-bit hash of a string: FNV-1a over its UTF-8 bytes, followed by MurmurHash3's
 * 32-bit finaliser so that keys differing only in their last characters spread over all buckets.
 * The same string gives the same number in every process and version of the platform.
 */
export function hashKey(key: string): number {
  let hash = 0x811c9dc5;
  const mix = (byte: number): void => {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  };
  for (const char of key) {
    // Each string element is iterated by code point; encode it as UTF-8 by hand.
    const cp = char.codePointAt(0) ?? 0;
    if (cp < 0x80) {
      mix(cp);
    } else if (cp < 0x800) {
      mix(0xc0 | (cp >> 6));
      mix(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      mix(0xe0 | (cp >> 12));
      mix(0x80 | ((cp >> 6) & 0x3f));
      mix(0x80 | (cp & 0x3f));
    } else {
      mix(0xf0 | (cp >> 18));
      mix(0x80 | ((cp >> 12) & 0x3f));
      mix(0x80 | ((cp >> 6) & 0x3f));
      mix(0x80 | (cp & 0x3f));
    }
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** The bucket, in [0, {@link BUCKET_COUNT}), that a sticky key falls in. */
export function stickyBucket(key: string, salt = ''): number {
  return hashKey(salt === '' ? key : `${salt}\u0000${key}`) % BUCKET_COUNT;
}

/**
 * True when a request should be mirrored to a shadow variant that receives `percent` % of
 * requests: always at 100, never at 0, otherwise when `random()` falls below the share.
 *
 * @throws {@link InvalidParameterError} when `percent` is not a number from 0 to 100.
 * @example
 * ```ts
 * if (shouldMirror(10)) void sendToShadow(request); // about one request in ten
 * ```
 */
export function shouldMirror(percent: number, random: RandomSource = Math.random): boolean {
  if (!Number.isFinite(percent) || percent < 0 || percent > 100) {
    throw new InvalidParameterError(
      `The mirror percentage must be a number from 0 to 100, got ${String(percent)}.`,
      { percent },
    );
  }
  if (percent === 0) return false;
  if (percent === 100) return true;
  return random() * 100 < percent;
}

/**
 * Builds the router of a deployment's requests from its variants' weights (checked with
 * {@link validateWeights}).
 *
 * Serving variants are laid out on {@link BUCKET_COUNT} buckets in order of name, each taking a
 * run of buckets as long as its weight (cumulative weights, rounded to whole buckets). A sticky
 * key is hashed ({@link stickyBucket}) to a bucket and served by the variant owning it; an
 * un-keyed request draws a uniform point on the same line.
 *
 * Guarantees, for sticky keys:
 * - The same key (and salt) always gets the same variant while the weights are unchanged, in any
 *   process, whatever order the variants are listed in.
 * - When weights change, a key moves only if its bucket lies between a boundary's old and new
 *   position, so at most Σ|old boundary − new boundary| buckets move. With two serving variants
 *   (canary, blue-green, a two-armed A/B test) that is the least possible: moving the candidate
 *   from 5 % to 10 % moves exactly 5 % of keys, all from the primary to the candidate, and no key
 *   already on the candidate ever leaves it while its weight only grows. With more variants,
 *   moving weight between two variants adjacent in name order is also minimal; other changes
 *   may move keys of the variants in between.
 *
 * @throws {@link InvalidParameterError} when the weights are invalid.
 * @example
 * ```ts
 * const splitter = createTrafficSplitter(
 *   [
 *     { name: 'primary', role: 'primary', weight: 90 },
 *     { name: 'canary', role: 'candidate', weight: 10 },
 *   ],
 *   { salt: 'churn-endpoint' },
 * );
 * splitter.pick(); // 'primary' nine times in ten, at random
 * splitter.pick('user-42'); // the same answer every time for user-42
 * ```
 */
export function createTrafficSplitter(
  variants: readonly WeightedVariant[],
  options: TrafficSplitterOptions = {},
): TrafficSplitter {
  validateWeights(variants);
  const random = options.random ?? Math.random;
  const salt = options.salt ?? '';

  const serving = variants
    .filter(isServing)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const routes: TrafficRoute[] = [];
  let cumulative = 0;
  let from = 0;
  for (const [index, variant] of serving.entries()) {
    cumulative += variant.weight;
    // The last boundary is pinned to the end so that rounding never leaves a bucket unowned.
    const to =
      index === serving.length - 1
        ? BUCKET_COUNT
        : Math.min(BUCKET_COUNT, Math.round((cumulative * BUCKET_COUNT) / 100));
    routes.push({ name: variant.name, weight: variant.weight, from, to });
    from = to;
  }
  const mirrors: MirrorRoute[] = variants
    .filter((v) => !isServing(v))
    .map((v) => ({ name: v.name, percent: v.weight }));

  const owner = (position: number): string => {
    // A zero-weight route has from === to and so never owns a position.
    for (const route of routes) {
      if (position < route.to) return route.name;
    }
    // Unreachable for positions below BUCKET_COUNT; the last route owns the end.
    return routes[routes.length - 1]?.name ?? '';
  };

  return {
    routes,
    mirrors,
    pick(stickyKey?: string): string {
      if (stickyKey !== undefined) return owner(stickyBucket(stickyKey, salt));
      // Guard against sources that return exactly 1.
      return owner(Math.min(random(), 1 - Number.EPSILON) * BUCKET_COUNT);
    },
    mirrorTargets(): string[] {
      return mirrors.filter((m) => shouldMirror(m.percent, random)).map((m) => m.name);
    },
  };
}

/**
 * A seeded pseudo-random source (mulberry32): the same seed gives the same sequence, for tests
 * and simulations of traffic. Not for anything that must be unpredictable.
 *
 * @example
 * ```ts
 * const splitter = createTrafficSplitter(variants, { random: createSeededRandom(42) });
 * ```
 */
export function createSeededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

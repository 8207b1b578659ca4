/**
 * Friendly names for runs created without one, in MLflow's style: `adjective-noun-number`,
 * e.g. `bold-owl-123`.
 */

const ADJECTIVES = [
  'agile',
  'amber',
  'bold',
  'brave',
  'bright',
  'calm',
  'clever',
  'cool',
  'crisp',
  'curious',
  'dapper',
  'eager',
  'fancy',
  'fast',
  'fierce',
  'gentle',
  'glad',
  'golden',
  'grand',
  'happy',
  'honest',
  'jolly',
  'keen',
  'kind',
  'lively',
  'loud',
  'lucky',
  'merry',
  'mighty',
  'neat',
  'nimble',
  'noble',
  'polite',
  'proud',
  'quick',
  'quiet',
  'rare',
  'rosy',
  'rustic',
  'sharp',
  'shiny',
  'silent',
  'silver',
  'sleek',
  'smart',
  'snappy',
  'sunny',
  'swift',
  'tidy',
  'vivid',
  'warm',
  'wise',
  'witty',
  'zesty',
] as const;

const NOUNS = [
  'ant',
  'badger',
  'bass',
  'bat',
  'bear',
  'bee',
  'bison',
  'boar',
  'carp',
  'cat',
  'crab',
  'crane',
  'crow',
  'deer',
  'doe',
  'dove',
  'duck',
  'eagle',
  'eel',
  'elk',
  'finch',
  'fox',
  'frog',
  'gnu',
  'goat',
  'goose',
  'hare',
  'hawk',
  'heron',
  'horse',
  'ibis',
  'jay',
  'koala',
  'lark',
  'lion',
  'lynx',
  'mink',
  'mole',
  'moth',
  'newt',
  'otter',
  'owl',
  'panda',
  'pike',
  'puffin',
  'quail',
  'ram',
  'raven',
  'robin',
  'seal',
  'shark',
  'snail',
  'swan',
  'tiger',
  'toad',
  'trout',
  'wasp',
  'whale',
  'wolf',
  'wren',
  'yak',
  'zebra',
] as const;

/** How many distinct numbers end a run name: 0 to 999, as MLflow does. */
const NUMBER_RANGE = 1000;

function pick<T>(items: readonly T[], random: () => number): T {
  // Clamp so a source returning exactly 1 (or slightly out of range) still picks a valid item.
  const index = Math.min(items.length - 1, Math.max(0, Math.floor(random() * items.length)));
  const item = items[index];
  if (item === undefined) throw new Error('unreachable: empty word list');
  return item;
}

/**
 * Generates a run name such as `bold-owl-123`: an adjective, a noun and a number from 0 to
 * 999, joined with dashes. Names are not unique; they are for people to tell runs apart.
 *
 * @param random a source of numbers in [0, 1); `Math.random` by default. Pass a seeded one
 *   for reproducible names.
 * @example
 * generateRunName(); // 'merry-heron-412'
 */
export function generateRunName(random: () => number = Math.random): string {
  const adjective = pick(ADJECTIVES, random);
  const noun = pick(NOUNS, random);
  const number = Math.min(NUMBER_RANGE - 1, Math.max(0, Math.floor(random() * NUMBER_RANGE)));
  return `${adjective}-${noun}-${number}`;
}

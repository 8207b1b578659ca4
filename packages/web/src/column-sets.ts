import type { Tag } from '@modelyard/core';

/**
 * Saved column sets of the runs table, kept as experiment tags so that everyone who opens the
 * experiment sees them: `modelyard.ui.columns.<name>` holds the JSON list of column ids
 * (`["metrics.rmse","params.lr"]`).
 */
export const COLUMN_SET_TAG_PREFIX = 'modelyard.ui.columns.';

/** The longest value an experiment tag may have on the server. */
const MAX_TAG_VALUE = 5000;
/** A set's name: what a tag key allows, without `/` (no folders) and of reasonable length. */
const NAME = /^[\w\-. :]{1,100}$/;

/** A named list of column ids. */
export interface ColumnSet {
  name: string;
  columns: string[];
}

/** Why `name` cannot name a column set, or undefined when it can. */
export function columnSetNameError(name: string): string | undefined {
  const trimmed = name.trim();
  if (trimmed === '') return 'Give the column set a name.';
  if (!NAME.test(trimmed) || trimmed.includes('..')) {
    return (
      `"${trimmed}" cannot name a column set: use up to 100 letters, digits, spaces and ` +
      "'_ - . :'."
    );
  }
  return undefined;
}

/** The experiment tag that stores `set`. @throws Error when the name or the list is refused. */
export function encodeColumnSet(set: ColumnSet): Tag {
  const name = set.name.trim();
  const problem = columnSetNameError(name);
  if (problem !== undefined) throw new Error(problem);
  const value = JSON.stringify(set.columns);
  if (value.length > MAX_TAG_VALUE) {
    throw new Error(
      `The column set "${name}" is too long to save (${value.length} characters of JSON, at ` +
        `most ${MAX_TAG_VALUE}): choose fewer columns.`,
    );
  }
  return { key: `${COLUMN_SET_TAG_PREFIX}${name}`, value };
}

/** The column set a tag stores, or undefined when the tag is not one (or not readable). */
export function decodeColumnSet(tag: Tag): ColumnSet | undefined {
  if (!tag.key.startsWith(COLUMN_SET_TAG_PREFIX)) return undefined;
  const name = tag.key.slice(COLUMN_SET_TAG_PREFIX.length);
  if (name === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(tag.value);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every((id) => typeof id === 'string')) return undefined;
  return { name, columns: parsed };
}

/** Every column set among an experiment's tags, by name. */
export function columnSetsOf(tags: readonly Tag[]): ColumnSet[] {
  return tags
    .map(decodeColumnSet)
    .filter((set): set is ColumnSet => set !== undefined)
    .sort((a, b) => a.name.localeCompare(b.name));
}

import { readFileSync } from 'node:fs';

/** Modelyard's version, from this package's package.json (kept in step with the root's). */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/**
 * Parses a metadata store URI in the forms MLflow's `--backend-store-uri` accepts.
 */
import { isAbsolute, resolve } from 'node:path';
import { InvalidParameterError } from '@modelyard/core';

/** Where the metadata lives: a SQLite file or a PostgreSQL database. */
export type StoreLocation =
  { kind: 'sqlite'; path: string } | { kind: 'postgres'; connectionString: string };

const ACCEPTED =
  'sqlite:///relative/path.db, sqlite:////absolute/path.db, a file path ending in .db, or postgresql://user:password@host:port/database (also postgres:// and postgresql+psycopg2://)';

/**
 * Parses `uri`:
 * - `sqlite:///foo.db` is `foo.db` relative to `cwd`, `sqlite:////abs/foo.db` is `/abs/foo.db`
 *   (MLflow's form), `sqlite:///:memory:` is an in-memory database;
 * - a plain path ending in `.db`, `.sqlite` or `.sqlite3`;
 * - `postgresql://`, `postgres://` or `postgresql+<driver>://` URLs (passed to `pg` as
 *   `postgresql://`).
 *
 * @throws InvalidParameterError naming the URI and the accepted forms.
 */
export function parseStoreUri(uri: string, cwd: string = process.cwd()): StoreLocation {
  const trimmed = uri.trim();
  const pgMatch = /^(postgres|postgresql)(\+[a-z0-9_]+)?:\/\//i.exec(trimmed);
  if (pgMatch) {
    const rest = trimmed.slice(pgMatch[0].length);
    if (rest.length === 0) throw invalid(uri);
    return { kind: 'postgres', connectionString: `postgresql://${rest}` };
  }
  if (/^sqlite:/i.test(trimmed)) {
    const match = /^sqlite:\/\/\/(.+)$/i.exec(trimmed);
    const rawPath = match?.[1]?.replace(/\?.*$/, '');
    if (rawPath === undefined || rawPath.length === 0) throw invalid(uri);
    if (rawPath === ':memory:') return { kind: 'sqlite', path: ':memory:' };
    return { kind: 'sqlite', path: isAbsolute(rawPath) ? rawPath : resolve(cwd, rawPath) };
  }
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) && /\.(db|sqlite|sqlite3)$/i.test(trimmed)) {
    return { kind: 'sqlite', path: resolve(cwd, trimmed) };
  }
  throw invalid(uri);
}

function invalid(uri: string): InvalidParameterError {
  return new InvalidParameterError(`Unsupported metadata store URI '${uri}'. Use ${ACCEPTED}.`, {
    uri,
  });
}

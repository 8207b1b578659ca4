/**
 * Loads the `pg` driver on first use, so SQLite users never load it.
 */
import type pg from 'pg';

/** The parts of `pg` the PostgreSQL back end uses. */
export interface PgDriver {
  Pool: new (config: pg.PoolConfig) => pg.Pool;
  TypeOverrides: typeof pg.TypeOverrides;
}

let loaded: Promise<PgDriver> | undefined;

/** Imports `pg` once. */
export function loadPg(): Promise<PgDriver> {
  loaded ??= import('pg').then(({ default: driver }) => ({
    Pool: driver.Pool,
    TypeOverrides: driver.TypeOverrides,
  }));
  return loaded;
}

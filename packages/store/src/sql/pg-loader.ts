/**
 * Loads the `pg` driver on first use, so SQLite users never load it.
 */
import { createRequire } from 'node:module';
import type pg from 'pg';

/** The parts of `pg` the PostgreSQL back end uses. */
export interface PgDriver {
  Pool: new (config: pg.PoolConfig) => pg.Pool;
  TypeOverrides: typeof pg.TypeOverrides;
}

interface PgPoolModule {
  default: new (config: pg.PoolConfig & { Client: unknown }) => pg.Pool;
}

let loaded: Promise<PgDriver> | undefined;

/**
 * Imports `pg`. When Node resolves with the `import` condition for `require` too (vitest passes
 * `--conditions import` to its workers), Node 20's require(esm) hands pg's CommonJS entry the ESM
 * namespace of `pg-pool` and `pg` fails to load; pg's own client with pg-pool's ESM entry (the
 * same classes) still works, so that combination is used instead.
 */
export function loadPg(): Promise<PgDriver> {
  loaded ??= (async () => {
    // What `require('pg-pool')` inside pg would load: an ES module means pg cannot load.
    const requirable = !/\.mjs$/.test(createRequire(import.meta.url).resolve('pg-pool'));
    if (requirable) {
      const { default: driver } = await import('pg');
      return { Pool: driver.Pool, TypeOverrides: driver.TypeOverrides };
    }
    // Specifiers in variables: pg-pool and pg's internals ship no type declarations of their own.
    const specifiers = ['pg-pool', 'pg/lib/client.js', 'pg/lib/type-overrides.js'] as const;
    const [poolModule, clientModule, overridesModule] = await Promise.all([
      import(specifiers[0]) as Promise<PgPoolModule>,
      import(specifiers[1]) as Promise<{ default: new () => pg.ClientBase }>,
      import(specifiers[2]) as Promise<{ default: typeof pg.TypeOverrides }>,
    ]);
    const BasePool = poolModule.default;
    const Client = clientModule.default;
    class Pool extends BasePool {
      constructor(config: pg.PoolConfig) {
        super({ ...config, Client });
      }
    }
    return { Pool, TypeOverrides: overridesModule.default };
  })();
  return loaded;
}

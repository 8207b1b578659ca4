/**
 * The two database back ends of the SQL metadata store: a Kysely instance plus the few things
 * that differ between SQLite and PostgreSQL (how a write transaction starts, how a list of values
 * is bound, how migrations are locked).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import type { RawBuilder, SqlBool } from 'kysely';
import { YardError } from '@modelyard/core';
import type { MetadataDatabase } from './database-schema.js';
import { loadPg } from './pg-loader.js';

/** A Kysely instance over the metadata schema (the root or a transaction). */
export type Db = Kysely<MetadataDatabase>;

/** Bound parameters per statement we allow ourselves; below SQLite's 32,766 and PG's 65,535. */
export const MAX_BOUND_PARAMETERS = 10_000;

/** A database back end of the SQL metadata store. */
export interface SqlBackend {
  readonly dialect: 'sqlite' | 'postgres';
  readonly db: Db;
  /** Runs `fn` in one write transaction; commits when it resolves, rolls back when it throws. */
  write<T>(fn: (trx: Db) => Promise<T>): Promise<T>;
  /** Runs `fn` in one write transaction that also holds the schema-migration lock. */
  migrationTransaction<T>(fn: (trx: Db) => Promise<T>): Promise<T>;
  /** `column IN (values)` with the whole list bound as one parameter (no bound-parameter limit). */
  inList(column: string, values: readonly (string | number)[]): RawBuilder<SqlBool>;
  close(): Promise<void>;
}

/** Options of the SQLite back end. */
export interface SqliteBackendOptions {
  /** How long a writer waits for another connection's write lock, in ms. Default 10,000. */
  busyTimeoutMs?: number | undefined;
  /**
   * `FULL` (default) makes every acknowledged commit survive a power loss; `NORMAL` may lose the
   * last commits on power loss (never on a process crash) and writes faster.
   */
  synchronous?: 'FULL' | 'NORMAL' | undefined;
}

function isSqliteBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_'));
}

/**
 * Opens a SQLite database file in WAL mode with one connection (Kysely's SQLite dialect uses
 * exactly one), foreign keys on and case-sensitive LIKE.
 *
 * Write transactions start with `BEGIN IMMEDIATE`, so a transaction never has to upgrade a read
 * lock (the case where SQLite answers SQLITE_BUSY at once instead of waiting). Taking the write
 * lock is retried asynchronously until `busyTimeoutMs` passes instead of relying on SQLite's
 * blocking busy handler: better-sqlite3 is synchronous, so a blocking wait would freeze the event
 * loop and, with two stores on one file in one process, wait for a lock holder that cannot run.
 */
export function createSqliteBackend(path: string, options: SqliteBackendOptions = {}): SqlBackend {
  const busyTimeoutMs = options.busyTimeoutMs ?? 10_000;
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const raw = new BetterSqlite3(path, { timeout: busyTimeoutMs });
  raw.pragma('journal_mode = WAL');
  raw.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
  raw.pragma('foreign_keys = ON');
  raw.pragma('case_sensitive_like = ON');
  const db = new Kysely<MetadataDatabase>({ dialect: new SqliteDialect({ database: raw }) });

  const beginImmediate = async (): Promise<void> => {
    const deadline = Date.now() + busyTimeoutMs;
    raw.pragma('busy_timeout = 0');
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          raw.exec('BEGIN IMMEDIATE');
          return;
        } catch (error) {
          if (!isSqliteBusy(error)) throw error;
          if (Date.now() >= deadline) {
            throw new YardError(
              'TEMPORARILY_UNAVAILABLE',
              `The SQLite database '${path}' stayed locked by another writer for more than ${busyTimeoutMs} ms. Retry later, or raise the busy timeout.`,
              { path, busyTimeoutMs },
            );
          }
          const backoff = Math.min(25, 2 ** Math.min(attempt, 5));
          await sleep(backoff * (0.5 + Math.random()));
        }
      }
    } finally {
      raw.pragma(`busy_timeout = ${busyTimeoutMs}`);
    }
  };

  const write = <T>(fn: (trx: Db) => Promise<T>): Promise<T> =>
    // `connection()` reserves Kysely's single connection for the whole transaction, so the raw
    // handle may be driven directly for BEGIN / COMMIT / ROLLBACK.
    db.connection().execute(async (conn) => {
      await beginImmediate();
      try {
        const result = await fn(conn);
        raw.exec('COMMIT');
        return result;
      } catch (error) {
        if (raw.inTransaction) raw.exec('ROLLBACK');
        throw error;
      }
    });

  return {
    dialect: 'sqlite',
    db,
    write,
    // The write lock of BEGIN IMMEDIATE is database-wide, so it also serialises migrations.
    migrationTransaction: write,
    inList: (column, values) =>
      sql<SqlBool>`${sql.ref(column)} IN (SELECT value FROM json_each(${JSON.stringify(values)}))`,
    close: () => db.destroy(),
  };
}

/** Options of the PostgreSQL back end. */
export interface PostgresBackendOptions {
  /** Schema to use (sets `search_path`); default: the connection's own search path. */
  schema?: string | undefined;
  /** Pool size; default 10. */
  poolSize?: number | undefined;
}

const PG_INT8_OID = 20;
const PG_NUMERIC_OID = 1700;
const RETRYABLE_PG_CODES = new Set(['40001', '40P01']);
/** First key of the advisory lock that serialises migrations (second: the schema's hash). */
const MIGRATION_LOCK_CLASS = 0x6d796d67;

/**
 * Opens a pooled PostgreSQL connection. 64-bit integers are parsed as JS numbers (times in ms
 * and counts fit easily). Write transactions that lose a deadlock or serialisation race are
 * retried up to three times.
 */
export async function createPostgresBackend(
  connectionString: string,
  options: PostgresBackendOptions = {},
): Promise<SqlBackend> {
  const pg = await loadPg();
  const types = new pg.TypeOverrides();
  const parseNumber = (value: string): number => Number(value);
  types.setTypeParser(PG_INT8_OID, parseNumber);
  types.setTypeParser(PG_NUMERIC_OID, parseNumber);
  const pool = new pg.Pool({
    connectionString,
    max: options.poolSize ?? 10,
    types,
    ...(options.schema === undefined
      ? {}
      : { options: `-c search_path=${quotePgIdentifier(options.schema)}` }),
  });
  const db = new Kysely<MetadataDatabase>({ dialect: new PostgresDialect({ pool }) });

  const write = async <T>(fn: (trx: Db) => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await db.transaction().execute(fn);
      } catch (error) {
        const code = (error as { code?: unknown } | null)?.code;
        if (attempt >= 3 || typeof code !== 'string' || !RETRYABLE_PG_CODES.has(code)) throw error;
        await sleep(5 * attempt * (0.5 + Math.random()));
      }
    }
  };

  return {
    dialect: 'postgres',
    db,
    write,
    migrationTransaction: (fn) =>
      db.transaction().execute(async (trx) => {
        await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_CLASS}::int4, hashtext(current_schema())::int4)`.execute(
          trx,
        );
        return fn(trx);
      }),
    inList: (column, values) => sql<SqlBool>`${sql.ref(column)} = ANY(${values})`,
    close: () => db.destroy(),
  };
}

/** Quotes a PostgreSQL identifier for use in `search_path`. */
function quotePgIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

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
import type { RawBuilder, SqlBool, SqliteDatabase } from 'kysely';
import { YardError } from '@modelyard/core';
import type { MetricSeriesSample } from '../metadata-store.js';
import type { MetadataDatabase } from './database-schema.js';
import { loadPg } from './pg-loader.js';
import { SqliteSamplerPool } from './sqlite-sampler-pool.js';
import { sampleSqliteSeries } from './series-sample.js';
import type { SeriesSampleQuery } from './series-sample.js';

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
  /**
   * SQLite: `MetadataStore.sampleMetricSeries` (the run already checked), on worker threads
   * for a database file, on the connection itself for `:memory:`. PostgreSQL samples in SQL.
   */
  sampleSeries?: (query: SeriesSampleQuery) => Promise<MetricSeriesSample>;
  close(): Promise<void>;
}

/** Most writes committed together by one SQLite transaction (group commit). */
const MAX_GROUP_COMMIT = 256;

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
  const db = new Kysely<MetadataDatabase>({
    dialect: new SqliteDialect({ database: withStatementCache(raw) }),
  });

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

  // Group commit: writes that arrive while a transaction is running are queued and then run
  // together in the next transaction, each inside its own SAVEPOINT. A write that throws rolls
  // back to its savepoint alone and gets its error; the others commit with one COMMIT, so one
  // fsync serves the whole group. Each caller is answered only after that COMMIT returned.
  interface QueuedWrite {
    fn: (trx: Db) => Promise<unknown>;
    resolve: (value: unknown) => void;
    reject: (error: unknown) => void;
  }
  const queue: QueuedWrite[] = [];
  let draining = false;

  const runGroup = (group: QueuedWrite[]): Promise<void> =>
    // `connection()` reserves Kysely's single connection for the whole transaction, so the raw
    // handle may be driven directly for BEGIN / SAVEPOINT / COMMIT / ROLLBACK.
    db.connection().execute(async (conn) => {
      try {
        await beginImmediate();
      } catch (error) {
        for (const item of group) item.reject(error);
        return;
      }
      const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
      try {
        for (const item of group) {
          raw.exec('SAVEPOINT yard_write');
          try {
            const value = await item.fn(conn);
            raw.exec('RELEASE yard_write');
            outcomes.push({ ok: true, value });
          } catch (error) {
            raw.exec('ROLLBACK TO yard_write');
            raw.exec('RELEASE yard_write');
            outcomes.push({ ok: false, error });
          }
        }
        raw.exec('COMMIT');
      } catch (error) {
        if (raw.inTransaction) raw.exec('ROLLBACK');
        for (const item of group) item.reject(error);
        return;
      }
      group.forEach((item, i) => {
        const outcome = outcomes[i];
        if (outcome?.ok === true) item.resolve(outcome.value);
        else item.reject(outcome?.error);
      });
    });

  const drain = async (): Promise<void> => {
    draining = true;
    try {
      while (queue.length > 0) {
        const group = queue.splice(0, MAX_GROUP_COMMIT);
        try {
          await runGroup(group);
        } catch (error) {
          // E.g. the store was closed: no caller may be left waiting.
          for (const item of group) item.reject(error);
        }
      }
    } finally {
      draining = false;
    }
  };

  const write = <T>(fn: (trx: Db) => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (!draining) void drain();
    });

  // A `:memory:` database exists only on this connection: it samples there.
  const sampler = path === ':memory:' ? undefined : new SqliteSamplerPool(path);
  return {
    dialect: 'sqlite',
    db,
    write,
    sampleSeries: (query) =>
      sampler === undefined
        ? Promise.resolve(sampleSqliteSeries(raw, query))
        : sampler.sample(query),
    // The write lock of BEGIN IMMEDIATE is database-wide, so it also serialises migrations.
    migrationTransaction: write,
    inList: (column, values) =>
      sql<SqlBool>`${sql.ref(column)} IN (SELECT value FROM json_each(${JSON.stringify(values)}))`,
    close: async () => {
      await sampler?.close();
      await db.destroy();
    },
  };
}

/** Prepared statements kept per SQLite connection (least recently used dropped first). */
const STATEMENT_CACHE_SIZE = 500;

/**
 * Kysely's SQLite driver prepares every query afresh; preparing is a large share of the cost of
 * a hot write such as a 1,000-row insert. This wrapper hands Kysely a cached prepared statement
 * for SQL text it has seen recently (a statement still iterating is never handed out twice).
 */
function withStatementCache(raw: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  const prepare = (source: string): BetterSqlite3.Statement => {
    const cached = cache.get(source);
    if (cached !== undefined && !cached.busy) {
      cache.delete(source);
      cache.set(source, cached);
      return cached;
    }
    const statement = raw.prepare(source);
    if (cached === undefined) {
      cache.set(source, statement);
      if (cache.size > STATEMENT_CACHE_SIZE) {
        const oldest = cache.keys().next().value;
        if (oldest !== undefined) cache.delete(oldest);
      }
    }
    return statement;
  };
  return {
    prepare,
    close: () => {
      cache.clear();
      raw.close();
    },
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

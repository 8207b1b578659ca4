/**
 * The factory that opens a `MetadataStore` from a backend-store URI.
 */
import type { MetadataStore } from '../metadata-store.js';
import { createPostgresBackend, createSqliteBackend } from './sql-backend.js';
import { SqlMetadataStore } from './sql-metadata-store.js';
import type { MetadataStoreLogger } from './sql-metadata-store.js';
import { parseStoreUri } from './store-uri.js';

/** Options of `createMetadataStore`. */
export interface CreateMetadataStoreOptions {
  /** Root under which experiments store artifacts by default: `<root>/<experimentId>`. */
  defaultArtifactRoot: string;
  logger?: MetadataStoreLogger | undefined;
  /** SQLite: how long a writer waits for another process's write lock, in ms (default 10,000). */
  busyTimeoutMs?: number | undefined;
  /**
   * SQLite: `FULL` (default) makes every acknowledged write survive a power loss; `NORMAL` is
   * faster and may lose the latest writes on power loss (not on a process crash).
   */
  sqliteSynchronous?: 'FULL' | 'NORMAL' | undefined;
  /** PostgreSQL: the schema to use (sets `search_path`); it must exist. */
  schema?: string | undefined;
  /** PostgreSQL: connection pool size (default 10). */
  poolSize?: number | undefined;
}

/**
 * Opens the metadata store at `uri`: `sqlite:///relative.db`, `sqlite:////absolute.db`, a path
 * ending in `.db`, or `postgresql://…` (also `postgres://`, `postgresql+psycopg2://`). For SQLite
 * the file's folder is created. Call `migrate()` on the result before using it.
 *
 * @throws InvalidParameterError when the URI has none of the accepted forms; the driver's error
 *   when the database cannot be reached.
 * @example
 * ```ts
 * const store = await createMetadataStore('sqlite:///mlruns.db', { defaultArtifactRoot: './mlartifacts' });
 * await store.migrate();
 * ```
 */
export async function createMetadataStore(
  uri: string,
  options: CreateMetadataStoreOptions,
): Promise<MetadataStore> {
  const location = parseStoreUri(uri);
  const backend =
    location.kind === 'sqlite'
      ? createSqliteBackend(location.path, {
          busyTimeoutMs: options.busyTimeoutMs,
          synchronous: options.sqliteSynchronous,
        })
      : await createPostgresBackend(location.connectionString, {
          schema: options.schema,
          poolSize: options.poolSize,
        });
  const store = new SqlMetadataStore(backend, {
    defaultArtifactRoot: options.defaultArtifactRoot,
    logger: options.logger,
  });
  try {
    // Fail fast on an unreachable server or an unreadable file.
    await store.ping();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

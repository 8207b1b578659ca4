/**
 * Versioned schema migrations of the SQL metadata store.
 *
 * Kysely's `Migrator` creates its bookkeeping tables outside any lock and, on SQLite, runs
 * migrations without a transaction, so two processes migrating one database at once can fail or
 * leave half a migration behind. This runner keeps Kysely's `Migration` shape but applies every
 * pending migration, the bookkeeping and the Default experiment in one transaction that holds the
 * migration lock (PostgreSQL: a transaction-scoped advisory lock per schema; SQLite: the write
 * lock of `BEGIN IMMEDIATE`). A second migrator waits for the first, then finds nothing to do.
 */
import { sql } from 'kysely';
import type { ColumnDefinitionBuilder, Kysely } from 'kysely';
import type { Db, SqlBackend } from './sql-backend.js';

/** One versioned migration. Names sort in the order they are applied. */
export interface SchemaMigration {
  readonly name: string;
  up(db: Kysely<unknown>, dialect: 'sqlite' | 'postgres'): Promise<void>;
}

const cascade = (c: ColumnDefinitionBuilder) => c.onDelete('cascade').notNull();

async function createInitialSchema(
  db: Kysely<unknown>,
  dialect: 'sqlite' | 'postgres',
): Promise<void> {
  const s = db.schema;
  // PostgreSQL compares and sorts text in byte order, as SQLite does, whatever the database's
  // default collation: searches and orders then agree across both dialects.
  const txt = (c: ColumnDefinitionBuilder) =>
    dialect === 'postgres' ? c.modifyFront(sql`COLLATE "C"`) : c;
  // On SQLite the per-run key/value tables are clustered on their primary key (WITHOUT ROWID):
  // loading a page of runs and the EXISTS probes of a search then read one B-tree, not an index
  // and then the table (about 40% faster searches at 10,000 runs).
  const clustered = dialect === 'sqlite' ? sql`WITHOUT ROWID` : sql``;
  await s
    .createTable('experiments')
    .addColumn('experiment_id', 'integer', (c) =>
      dialect === 'postgres'
        ? c.primaryKey().generatedByDefaultAsIdentity()
        : c.primaryKey().autoIncrement(),
    )
    .addColumn('name', 'varchar(500)', (c) => txt(c).notNull().unique())
    .addColumn('artifact_location', 'text', (c) => txt(c).notNull())
    .addColumn('lifecycle_stage', 'varchar(32)', (c) => txt(c).notNull())
    .addColumn('creation_time', 'bigint', (c) => c.notNull())
    .addColumn('last_update_time', 'bigint', (c) => c.notNull())
    .execute();
  await s
    .createIndex('experiments_creation_time')
    .on('experiments')
    .columns(['creation_time', 'experiment_id'])
    .execute();
  await s
    .createTable('experiment_tags')
    .addColumn('experiment_id', 'integer', (c) =>
      cascade(c.references('experiments.experiment_id')),
    )
    .addColumn('key', 'varchar(250)', (c) => txt(c).notNull())
    .addColumn('value', 'text', (c) => txt(c).notNull())
    .addPrimaryKeyConstraint('experiment_tags_pk', ['experiment_id', 'key'])
    .execute();

  await s
    .createTable('runs')
    .addColumn('run_uuid', 'varchar(32)', (c) => txt(c).primaryKey())
    .addColumn('name', 'varchar(250)', (c) => txt(c).notNull())
    .addColumn('experiment_id', 'integer', (c) =>
      cascade(c.references('experiments.experiment_id')),
    )
    .addColumn('user_id', 'varchar(256)', (c) => txt(c).notNull())
    .addColumn('status', 'varchar(20)', (c) => txt(c).notNull())
    .addColumn('start_time', 'bigint', (c) => c.notNull())
    .addColumn('end_time', 'bigint')
    .addColumn('deleted_time', 'bigint')
    .addColumn('lifecycle_stage', 'varchar(20)', (c) => txt(c).notNull())
    .addColumn('artifact_uri', 'text', (c) => txt(c).notNull())
    .execute();
  await s
    .createIndex('runs_experiment_start_time')
    .on('runs')
    .columns(['experiment_id', 'lifecycle_stage', 'start_time', 'run_uuid'])
    .execute();

  for (const table of ['params', 'tags'] as const) {
    await s
      .createTable(table)
      .addColumn('run_uuid', 'varchar(32)', (c) => cascade(txt(c).references('runs.run_uuid')))
      .addColumn('key', 'varchar(250)', (c) => txt(c).notNull())
      .addColumn('value', 'text', (c) => txt(c).notNull())
      .addPrimaryKeyConstraint(`${table}_pk`, ['run_uuid', 'key'])
      .modifyEnd(clustered)
      .execute();
    await s.createIndex(`${table}_key_value`).on(table).columns(['key', 'run_uuid']).execute();
  }

  await s
    .createTable('metrics')
    .addColumn('run_uuid', 'varchar(32)', (c) => cascade(txt(c).references('runs.run_uuid')))
    .addColumn('key', 'varchar(250)', (c) => txt(c).notNull())
    .addColumn('step', 'bigint', (c) => c.notNull())
    .addColumn('timestamp', 'bigint', (c) => c.notNull())
    .addColumn('value', 'double precision', (c) => c.notNull())
    .addColumn('is_nan', 'smallint', (c) => c.notNull())
    .addColumn('model_id', 'varchar(40)', (c) => txt(c))
    .addColumn('dataset_name', 'varchar(500)', (c) => txt(c))
    .addColumn('dataset_digest', 'varchar(36)', (c) => txt(c))
    // One row per distinct point, as MLflow; the key order serves metric history by step.
    .addPrimaryKeyConstraint('metrics_pk', [
      'run_uuid',
      'key',
      'step',
      'timestamp',
      'value',
      'is_nan',
    ])
    .modifyEnd(clustered)
    .execute();

  await s
    .createTable('latest_metrics')
    .addColumn('run_uuid', 'varchar(32)', (c) => cascade(txt(c).references('runs.run_uuid')))
    .addColumn('key', 'varchar(250)', (c) => txt(c).notNull())
    .addColumn('value', 'double precision', (c) => c.notNull())
    .addColumn('is_nan', 'smallint', (c) => c.notNull())
    .addColumn('timestamp', 'bigint', (c) => c.notNull())
    .addColumn('step', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('latest_metrics_pk', ['run_uuid', 'key'])
    .modifyEnd(clustered)
    .execute();
  await s
    .createIndex('latest_metrics_key_value')
    .on('latest_metrics')
    .columns(['key', 'value', 'run_uuid'])
    .execute();

  await s
    .createTable('datasets')
    .addColumn('dataset_uuid', 'varchar(36)', (c) => txt(c).primaryKey())
    .addColumn('experiment_id', 'integer', (c) =>
      cascade(c.references('experiments.experiment_id')),
    )
    .addColumn('name', 'varchar(500)', (c) => txt(c).notNull())
    .addColumn('digest', 'varchar(36)', (c) => txt(c).notNull())
    .addColumn('source_type', 'varchar(36)', (c) => txt(c).notNull())
    .addColumn('source', 'text', (c) => txt(c).notNull())
    .addColumn('schema', 'text', (c) => txt(c))
    .addColumn('profile', 'text', (c) => txt(c))
    .addUniqueConstraint('datasets_experiment_name_digest', ['experiment_id', 'name', 'digest'])
    .execute();
  await s
    .createTable('inputs')
    .addColumn('input_uuid', 'varchar(36)', (c) => txt(c).primaryKey())
    .addColumn('source_type', 'varchar(36)', (c) => txt(c).notNull())
    .addColumn('source_id', 'varchar(36)', (c) => txt(c).notNull())
    .addColumn('destination_type', 'varchar(36)', (c) => txt(c).notNull())
    .addColumn('destination_id', 'varchar(36)', (c) => txt(c).notNull())
    .addUniqueConstraint('inputs_link', [
      'source_type',
      'source_id',
      'destination_type',
      'destination_id',
    ])
    .execute();
  await s
    .createIndex('inputs_destination')
    .on('inputs')
    .columns(['destination_type', 'destination_id'])
    .execute();
  await s
    .createTable('input_tags')
    .addColumn('input_uuid', 'varchar(36)', (c) => cascade(txt(c).references('inputs.input_uuid')))
    .addColumn('name', 'varchar(255)', (c) => txt(c).notNull())
    .addColumn('value', 'text', (c) => txt(c).notNull())
    .addPrimaryKeyConstraint('input_tags_pk', ['input_uuid', 'name'])
    .execute();

  await s
    .createTable('logged_models')
    .addColumn('model_id', 'varchar(40)', (c) => txt(c).primaryKey())
    .addColumn('experiment_id', 'integer', (c) =>
      cascade(c.references('experiments.experiment_id')),
    )
    .addColumn('name', 'varchar(500)', (c) => txt(c).notNull())
    .addColumn('artifact_location', 'text', (c) => txt(c).notNull())
    .addColumn('creation_timestamp_ms', 'bigint', (c) => c.notNull())
    .addColumn('last_updated_timestamp_ms', 'bigint', (c) => c.notNull())
    .addColumn('status', 'varchar(40)', (c) => txt(c).notNull())
    .addColumn('status_message', 'text', (c) => txt(c))
    .addColumn('lifecycle_stage', 'varchar(32)', (c) => txt(c).notNull())
    .addColumn('model_type', 'varchar(500)', (c) => txt(c))
    .addColumn('source_run_id', 'varchar(32)', (c) => txt(c))
    .execute();
  await s
    .createIndex('logged_models_experiment')
    .on('logged_models')
    .columns(['experiment_id', 'creation_timestamp_ms'])
    .execute();
  for (const table of ['logged_model_tags', 'logged_model_params'] as const) {
    await s
      .createTable(table)
      .addColumn('model_id', 'varchar(40)', (c) =>
        cascade(txt(c).references('logged_models.model_id')),
      )
      .addColumn('key', 'varchar(255)', (c) => txt(c).notNull())
      .addColumn('value', 'text', (c) => txt(c).notNull())
      .addPrimaryKeyConstraint(`${table}_pk`, ['model_id', 'key'])
      .execute();
  }
  await s
    .createTable('logged_model_metrics')
    .addColumn('model_id', 'varchar(40)', (c) => txt(c).notNull())
    .addColumn('metric_name', 'varchar(500)', (c) => txt(c).notNull())
    .addColumn('metric_timestamp_ms', 'bigint', (c) => c.notNull())
    .addColumn('metric_step', 'bigint', (c) => c.notNull())
    .addColumn('metric_value', 'double precision', (c) => c.notNull())
    .addColumn('is_nan', 'smallint', (c) => c.notNull())
    .addColumn('experiment_id', 'integer', (c) => c.notNull())
    .addColumn('run_id', 'varchar(32)', (c) => txt(c))
    .addColumn('dataset_name', 'varchar(500)', (c) => txt(c))
    .addColumn('dataset_digest', 'varchar(36)', (c) => txt(c))
    .execute();
  await s
    .createIndex('logged_model_metrics_model')
    .on('logged_model_metrics')
    .columns(['model_id', 'metric_name', 'metric_step', 'metric_timestamp_ms'])
    .execute();

  await s
    .createTable('run_outputs')
    .addColumn('run_uuid', 'varchar(32)', (c) => cascade(txt(c).references('runs.run_uuid')))
    .addColumn('model_id', 'varchar(40)', (c) => txt(c).notNull())
    .addColumn('step', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('run_outputs_pk', ['run_uuid', 'model_id'])
    .execute();

  await s
    .createTable('registered_models')
    .addColumn('name', 'varchar(256)', (c) => txt(c).primaryKey())
    .addColumn('creation_time', 'bigint', (c) => c.notNull())
    .addColumn('last_updated_time', 'bigint', (c) => c.notNull())
    .addColumn('description', 'text', (c) => txt(c).notNull())
    .addColumn('max_version', 'integer', (c) => c.notNull())
    .execute();
  await s
    .createTable('registered_model_tags')
    .addColumn('name', 'varchar(256)', (c) =>
      cascade(txt(c).references('registered_models.name').onUpdate('cascade')),
    )
    .addColumn('key', 'varchar(250)', (c) => txt(c).notNull())
    .addColumn('value', 'text', (c) => txt(c).notNull())
    .addPrimaryKeyConstraint('registered_model_tags_pk', ['name', 'key'])
    .execute();
  await s
    .createTable('model_versions')
    .addColumn('name', 'varchar(256)', (c) =>
      cascade(txt(c).references('registered_models.name').onUpdate('cascade')),
    )
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('creation_time', 'bigint', (c) => c.notNull())
    .addColumn('last_updated_time', 'bigint', (c) => c.notNull())
    .addColumn('description', 'text', (c) => txt(c).notNull())
    .addColumn('user_id', 'varchar(256)', (c) => txt(c).notNull())
    .addColumn('current_stage', 'varchar(20)', (c) => txt(c).notNull())
    .addColumn('source', 'text', (c) => txt(c).notNull())
    .addColumn('run_id', 'varchar(32)', (c) => txt(c).notNull())
    .addColumn('run_link', 'text', (c) => txt(c).notNull())
    .addColumn('status', 'varchar(20)', (c) => txt(c).notNull())
    .addColumn('status_message', 'text', (c) => txt(c).notNull())
    .addColumn('model_id', 'varchar(40)', (c) => txt(c))
    .addColumn('digest', 'varchar(128)', (c) => txt(c))
    .addPrimaryKeyConstraint('model_versions_pk', ['name', 'version'])
    .execute();
  await s.createIndex('model_versions_run_id').on('model_versions').column('run_id').execute();
  await s
    .createIndex('model_versions_stage')
    .on('model_versions')
    .columns(['name', 'current_stage', 'version'])
    .execute();
  await s
    .createTable('model_version_tags')
    .addColumn('name', 'varchar(256)', (c) => txt(c).notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('key', 'varchar(250)', (c) => txt(c).notNull())
    .addColumn('value', 'text', (c) => txt(c).notNull())
    .addPrimaryKeyConstraint('model_version_tags_pk', ['name', 'version', 'key'])
    .addForeignKeyConstraint(
      'model_version_tags_version_fk',
      ['name', 'version'],
      'model_versions',
      ['name', 'version'],
      (c) => c.onDelete('cascade').onUpdate('cascade'),
    )
    .execute();
  await s
    .createTable('registered_model_aliases')
    .addColumn('name', 'varchar(256)', (c) => txt(c).notNull())
    .addColumn('alias', 'varchar(256)', (c) => txt(c).notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('registered_model_aliases_pk', ['name', 'alias'])
    .addForeignKeyConstraint(
      'registered_model_aliases_version_fk',
      ['name', 'version'],
      'model_versions',
      ['name', 'version'],
      (c) => c.onDelete('cascade').onUpdate('cascade'),
    )
    .execute();
  await s
    .createIndex('registered_model_aliases_version')
    .on('registered_model_aliases')
    .columns(['name', 'version'])
    .execute();
}

/** Deployments and their event log (model serving). */
async function createDeploymentTables(
  db: Kysely<unknown>,
  dialect: 'sqlite' | 'postgres',
): Promise<void> {
  // Byte-order text on PostgreSQL, as in the initial schema, so listing by name agrees.
  const txt = (c: ColumnDefinitionBuilder) =>
    dialect === 'postgres' ? c.modifyFront(sql`COLLATE "C"`) : c;
  await db.schema
    .createTable('deployments')
    .addColumn('name', 'varchar(256)', (c) => txt(c).primaryKey())
    .addColumn('description', 'text', (c) => txt(c).notNull())
    .addColumn('status', 'varchar(20)', (c) => txt(c).notNull())
    .addColumn('status_reason', 'text', (c) => txt(c).notNull())
    .addColumn('variants', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  // No foreign key to `deployments`: the history outlives the deployment.
  await db.schema
    .createTable('deployment_events')
    .addColumn('deployment_name', 'varchar(256)', (c) => txt(c).notNull())
    .addColumn('sequence', 'integer', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => txt(c).notNull())
    .addColumn('action', 'text', (c) => txt(c).notNull())
    .addColumn('reason', 'text', (c) => txt(c).notNull())
    .addColumn('details', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('deployment_events_pk', ['deployment_name', 'sequence'])
    .execute();
}

/**
 * Rollouts: the deployment's current (or last) rollout as JSON text, null until the first. The
 * variants' JSON gains each variant's load status, which older rows lack (read as `loading`).
 */
async function addDeploymentRollout(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('deployments').addColumn('rollout', 'text').execute();
}

/**
 * The pipeline step cache: which output blob (by digest) a step with a given cache key produced.
 * The key is a sha256 hex, so 64 characters; the row is replaced as a whole on every write.
 */
async function createPipelineCache(
  db: Kysely<unknown>,
  dialect: 'sqlite' | 'postgres',
): Promise<void> {
  // Byte-order text on PostgreSQL, as in the earlier tables.
  const txt = (c: ColumnDefinitionBuilder) =>
    dialect === 'postgres' ? c.modifyFront(sql`COLLATE "C"`) : c;
  await db.schema
    .createTable('pipeline_cache')
    .addColumn('cache_key', 'varchar(64)', (c) => txt(c).primaryKey())
    .addColumn('output_digest', 'text', (c) => txt(c).notNull())
    .addColumn('metadata', 'text', (c) => c.notNull())
    .addColumn('pipeline_run_id', 'text', (c) => txt(c).notNull())
    .addColumn('step_name', 'text', (c) => txt(c).notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
}

/**
 * The scope of a pipeline cache entry (its key's derivation less the call's inputs), indexed so
 * that a run fetches the entries of all its steps in one query. Entries written before this
 * migration have none and are found by key only.
 */
async function addPipelineCacheScope(
  db: Kysely<unknown>,
  dialect: 'sqlite' | 'postgres',
): Promise<void> {
  await db.schema
    .alterTable('pipeline_cache')
    .addColumn('scope', 'varchar(64)', (c) =>
      dialect === 'postgres' ? c.modifyFront(sql`COLLATE "C"`) : c,
    )
    .execute();
  await db.schema
    .createIndex('pipeline_cache_scope')
    .on('pipeline_cache')
    .columns(['scope', 'created_at'])
    .execute();
}

/** Every migration, oldest first. Append new ones; never edit an applied one. */
export const SCHEMA_MIGRATIONS: readonly SchemaMigration[] = [
  { name: '0001_initial', up: createInitialSchema },
  { name: '0002_deployments', up: createDeploymentTables },
  { name: '0003_deployment_rollouts', up: addDeploymentRollout },
  { name: '0004_pipeline_cache', up: createPipelineCache },
  { name: '0005_pipeline_cache_scope', up: addPipelineCacheScope },
];

/** What `applyMigrations` did. */
export interface MigrationOutcome {
  applied: string[];
}

/**
 * Applies the pending migrations and creates the Default experiment (`0`, artifact location
 * `<defaultArtifactRoot>/0`) if it is missing, all in one locked transaction.
 */
export async function applyMigrations(
  backend: SqlBackend,
  defaultArtifactRoot: string,
  migrations: readonly SchemaMigration[] = SCHEMA_MIGRATIONS,
): Promise<MigrationOutcome> {
  return backend.migrationTransaction(async (trx: Db) => {
    await trx.schema
      .createTable('modelyard_schema_migrations')
      .ifNotExists()
      .addColumn('name', 'varchar(255)', (c) => c.primaryKey())
      .addColumn('applied_at', 'bigint', (c) => c.notNull())
      .execute();
    const done = new Set(
      (await trx.selectFrom('modelyard_schema_migrations').select('name').execute()).map(
        (row) => row.name,
      ),
    );
    const known = new Set(migrations.map((m) => m.name));
    const unknown = [...done].filter((name) => !known.has(name));
    if (unknown.length > 0) {
      throw new Error(
        `The database has migrations this version does not know (${unknown.join(', ')}); it was migrated by a newer Modelyard. Upgrade Modelyard or use another database.`,
      );
    }
    const applied: string[] = [];
    for (const migration of [...migrations].sort((a, b) => a.name.localeCompare(b.name))) {
      if (done.has(migration.name)) continue;
      await migration.up(trx as unknown as Kysely<unknown>, backend.dialect);
      await trx
        .insertInto('modelyard_schema_migrations')
        .values({ name: migration.name, applied_at: Date.now() })
        .execute();
      applied.push(migration.name);
    }
    const now = Date.now();
    await trx
      .insertInto('experiments')
      .values({
        experiment_id: 0,
        name: 'Default',
        artifact_location: `${defaultArtifactRoot.replace(/\/+$/, '')}/0`,
        lifecycle_stage: 'active',
        creation_time: now,
        last_update_time: now,
      })
      .onConflict((oc) => oc.doNothing())
      .execute();
    return { applied };
  });
}

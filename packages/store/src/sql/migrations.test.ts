import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCHEMA_MIGRATIONS, applyMigrations } from './migrations.js';
import { loadPg } from './pg-loader.js';
import { createPostgresBackend, createSqliteBackend } from './sql-backend.js';
import type { SqlBackend } from './sql-backend.js';
import { SqlMetadataStore } from './sql-metadata-store.js';

const pgUrl = process.env.MODELYARD_TEST_PG_URL;
if (!pgUrl) {
  console.warn(
    'SKIPPED: the PostgreSQL migration upgrade test needs MODELYARD_TEST_PG_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres).',
  );
}

const ROOT = '/tmp/modelyard-migration-artifacts';

/** A database migrated by the first release only, then opened by this one. */
async function upgradeFromInitial(backend: SqlBackend): Promise<void> {
  const initial = SCHEMA_MIGRATIONS.filter((m) => m.name === '0001_initial');
  expect(await applyMigrations(backend, ROOT, initial)).toEqual({ applied: ['0001_initial'] });
  const old = new SqlMetadataStore(backend, { defaultArtifactRoot: ROOT });
  await old.createRegisteredModel({ name: 'churn' });
  await old.createModelVersion({ name: 'churn', source: 's3://b/1' });

  const upToDeployments = SCHEMA_MIGRATIONS.filter((m) => m.name <= '0002_deployments');
  expect(await applyMigrations(backend, ROOT, upToDeployments)).toEqual({
    applied: ['0002_deployments'],
  });
  // A deployment as the 0002 release stored it: no rollout column, variants without status.
  const oldVariant = {
    name: 'primary',
    modelUri: 'models:/churn/1',
    modelName: 'churn',
    modelVersion: '1',
    role: 'primary',
    weight: 100,
    replicas: 1,
    maxConcurrency: 1,
    batching: null,
  };
  await backend.db
    .insertInto('deployments')
    .values({
      name: 'legacy',
      description: '',
      status: 'ready',
      status_reason: 'Serving churn version 1.',
      variants: JSON.stringify([oldVariant]),
      created_at: 1,
      updated_at: 1,
    })
    .execute();

  const upToRollouts = SCHEMA_MIGRATIONS.filter((m) => m.name <= '0003_deployment_rollouts');
  expect(await applyMigrations(backend, ROOT, upToRollouts)).toEqual({
    applied: ['0003_deployment_rollouts'],
  });
  const upToCache = SCHEMA_MIGRATIONS.filter((m) => m.name <= '0004_pipeline_cache');
  expect(await applyMigrations(backend, ROOT, upToCache)).toEqual({
    applied: ['0004_pipeline_cache'],
  });
  // A cache entry written before entries had scopes.
  await backend.db
    .insertInto('pipeline_cache')
    .values({
      cache_key: 'e'.repeat(64),
      output_digest: `sha256:${'f'.repeat(64)}`,
      metadata: '{}',
      pipeline_run_id: 'old-run',
      step_name: 'old-step',
      created_at: 5,
    })
    .execute();
  expect(await applyMigrations(backend, ROOT)).toEqual({
    applied: ['0005_pipeline_cache_scope'],
  });
  expect(await applyMigrations(backend, ROOT)).toEqual({ applied: [] });

  const store = new SqlMetadataStore(backend, { defaultArtifactRoot: ROOT });
  const legacy = await store.getDeployment('legacy');
  expect(legacy.rollout).toBeNull();
  expect(legacy.variants).toEqual([{ ...oldVariant, status: 'loading', statusReason: '' }]);
  await store.deleteDeployment('legacy', 'alice');
  expect((await store.getModelVersion('churn', '1')).source).toBe('s3://b/1');
  await store.setModelVersionDigest('churn', '1', 'sha256:00');
  const deployment = await store.createDeployment({
    name: 'churn',
    variants: [
      {
        name: 'primary',
        modelUri: 'models:/churn/1',
        modelName: 'churn',
        modelVersion: '1',
        role: 'primary',
        weight: 100,
        replicas: 1,
        maxConcurrency: 1,
        batching: null,
        status: 'ready',
        statusReason: '',
      },
    ],
    actor: 'alice',
  });
  expect(await store.listDeployments()).toEqual([deployment]);

  const cached = await store.putPipelineCacheEntry({
    key: 'c'.repeat(64),
    outputDigest: `sha256:${'d'.repeat(64)}`,
    metadata: { serializer: 'json' },
    pipelineRunId: 'run-1',
    stepName: 'load',
  });
  expect(await store.getPipelineCacheEntry('c'.repeat(64))).toEqual(cached);
  // The older entry reads with no scope, so bulk lookups never find it.
  expect(await store.getPipelineCacheEntry('e'.repeat(64))).toMatchObject({
    stepName: 'old-step',
    scope: null,
  });
  const scoped = await store.putPipelineCacheEntry({ ...cached, scope: 'a'.repeat(64) });
  expect(await store.lookupPipelineCacheEntries(['a'.repeat(64)], 10)).toEqual({
    entries: [scoped],
    complete: true,
  });
}

describe('schema migrations', () => {
  it('upgrades a SQLite database of the first release to the latest schema', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'modelyard-migrate-'));
    const backend = createSqliteBackend(join(dir, 'old.db'));
    try {
      await upgradeFromInitial(backend);
    } finally {
      await backend.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!pgUrl)(
    'upgrades a PostgreSQL database of the first release to the latest schema',
    async () => {
      const url = pgUrl ?? '';
      const schema = `modelyard_test_${randomBytes(6).toString('hex')}`;
      const { Pool } = await loadPg();
      const admin = new Pool({ connectionString: url, max: 1 });
      await admin.query(`CREATE SCHEMA ${schema}`);
      const backend = await createPostgresBackend(url, { schema });
      try {
        await upgradeFromInitial(backend);
      } finally {
        await backend.close();
        await admin.query(`DROP SCHEMA ${schema} CASCADE`);
        await admin.end();
      }
    },
  );
});

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createMetadataStore } from './index.js';
import { CONTRACT_ARTIFACT_ROOT, runMetadataStoreContract } from './metadata-store.contract.js';
import { loadPg } from './sql/pg-loader.js';

const url = process.env.MODELYARD_TEST_PG_URL;

if (!url) {
  console.warn(
    'SKIPPED: PostgreSQL metadata store tests need MODELYARD_TEST_PG_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres).',
  );
}

/** Runs one statement on a connection of its own (schema setup, checks and teardown). */
async function admin<Row extends object = object>(
  connectionString: string,
  statement: string,
): Promise<Row[]> {
  const { Pool } = await loadPg();
  const pool = new Pool({ connectionString, max: 1 });
  try {
    return (await pool.query<Row>(statement)).rows;
  } finally {
    await pool.end();
  }
}

describe.skipIf(!url)('PostgreSQL metadata store', () => {
  const pgUrl = url ?? '';

  runMetadataStoreContract('postgres', async () => {
    // Every test gets a schema of its own, dropped afterwards, so runs never collide.
    const schema = `modelyard_test_${randomBytes(6).toString('hex')}`;
    await admin(pgUrl, `CREATE SCHEMA ${schema}`);
    const open = () =>
      createMetadataStore(pgUrl, { defaultArtifactRoot: CONTRACT_ARTIFACT_ROOT, schema });
    const store = await open();
    return {
      store,
      openAnother: open,
      async cleanup() {
        await store.close();
        await admin(pgUrl, `DROP SCHEMA ${schema} CASCADE`);
      },
    };
  });

  it('accepts the postgresql+psycopg2 form and a search_path given in the URI', async () => {
    const schema = `modelyard_test_${randomBytes(6).toString('hex')}`;
    await admin(pgUrl, `CREATE SCHEMA ${schema}`);
    try {
      const withPath = new URL(pgUrl.replace(/^postgres(ql)?:/, 'postgresql+psycopg2:'));
      withPath.searchParams.set('options', `-c search_path=${schema}`);
      const store = await createMetadataStore(withPath.toString(), {
        defaultArtifactRoot: '/tmp/pg-artifacts',
      });
      expect(store.dialect).toBe('postgres');
      await store.migrate();
      const rows = await admin<{ name: string }>(pgUrl, `SELECT name FROM ${schema}.experiments`);
      expect(rows).toEqual([{ name: 'Default' }]);
      await store.close();
    } finally {
      await admin(pgUrl, `DROP SCHEMA ${schema} CASCADE`);
    }
  });
});

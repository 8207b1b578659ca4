import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSqliteBackend } from './sql-backend.js';
import type { SqlBackend } from './sql-backend.js';

describe('SQLite group commit', () => {
  let dir: string;
  let backend: SqlBackend;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'yard-backend-'));
    backend = createSqliteBackend(join(dir, 'g.db'));
    await sql`CREATE TABLE t (n INTEGER PRIMARY KEY)`.execute(backend.db);
  });
  afterEach(async () => {
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('commits concurrent writes together and rolls back only the one that failed', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, n) =>
        backend.write(async (trx) => {
          await sql`INSERT INTO t (n) VALUES (${n})`.execute(trx);
          if (n === 7) throw new Error('write 7 refused');
          return n;
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(19);
    const failed = results[7];
    expect(failed?.status).toBe('rejected');
    expect((failed as PromiseRejectedResult).reason).toEqual(new Error('write 7 refused'));
    const rows = await sql<{ n: number }>`SELECT n FROM t ORDER BY n`.execute(backend.db);
    expect(rows.rows.map((r) => r.n)).toEqual(
      Array.from({ length: 20 }, (_, n) => n).filter((n) => n !== 7),
    );
  });

  it('answers each write with its own result', async () => {
    const values = await Promise.all(
      [1, 2, 3].map((n) => backend.write(() => Promise.resolve(n * 10))),
    );
    expect(values).toEqual([10, 20, 30]);
  });
});

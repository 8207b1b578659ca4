import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { CHURN_CSV_PATH } from './dataset.js';

const SCRIPT = fileURLToPath(new URL('../scripts/generate-data.mjs', import.meta.url));
const run = promisify(execFile);

describe('scripts/generate-data.mjs', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('writes the committed data/churn.csv byte for byte', async () => {
    dir = await mkdtemp(join(tmpdir(), 'churn-data-'));
    const out = join(dir, 'churn.csv');
    await run(process.execPath, [SCRIPT, '--out', out]);
    const [generated, committed] = await Promise.all([readFile(out), readFile(CHURN_CSV_PATH)]);
    expect(generated.equals(committed)).toBe(true);
    expect((await stat(CHURN_CSV_PATH)).size).toBeLessThan(500 * 1024);
  });

  it('writes another data set for another seed', async () => {
    dir = await mkdtemp(join(tmpdir(), 'churn-data-'));
    const out = join(dir, 'churn.csv');
    await run(process.execPath, [SCRIPT, '--seed', '1', '--rows', '20', '--out', out]);
    const lines = (await readFile(out, 'utf8')).split('\n');
    expect(lines).toHaveLength(22); // header, 20 rows, trailing newline
    const committed = (await readFile(CHURN_CSV_PATH, 'utf8')).split('\n');
    expect(lines[0]).toBe(committed[0]);
    expect(lines.slice(1, 21)).not.toEqual(committed.slice(1, 21));
  });

  it('names a flag it does not know', async () => {
    await expect(run(process.execPath, [SCRIPT, '--sed', '1'])).rejects.toThrow(
      /Unknown flag '--sed'/,
    );
  });
});

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@modelyard/client';
import type { RunSummary } from '@modelyard/pipelines';
import { startIrisServer } from './test-support/iris-server.js';
import type { IrisServer } from './test-support/iris-server.js';
import { runYard } from './test-support/run-yard.js';

/**
 * `yard run` on real pipeline files (TypeScript bundled with esbuild), against a real server:
 * the churn example end to end (train, export to ONNX, register, alias, serve), caching on a
 * rerun, `yard runs show`, and failures with their exit status.
 */

const CHURN = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../../examples/churn-pipeline/src/pipeline.ts',
);

let yard: IrisServer;
const at = (): string[] => ['--server', yard.server.url];

beforeAll(async () => {
  yard = await startIrisServer('yard-run-');
});

afterAll(async () => {
  await yard.close();
});

describe('yard run', () => {
  it('runs the churn example: trains, registers, sets the champion, and the model serves', async () => {
    const first = await runYard([...at(), 'run', CHURN, '--param', 'seed=7', '--json']);
    expect(first.error).toBeUndefined();
    const summary = JSON.parse(first.out) as RunSummary;
    expect(summary.status).toBe('succeeded');
    expect(summary.steps.map((s) => [s.name, s.status])).toEqual([
      ['load', 'succeeded'],
      ['split', 'succeeded'],
      ['train', 'succeeded'],
      ['evaluate', 'succeeded'],
      ['register', 'succeeded'],
    ]);
    const client = createClient({ baseUrl: yard.server.url });
    const champion = await client.registeredModels.getByAlias('churn', 'champion');
    expect(champion.version).toBe('1');
    const run = await client.runs.get(summary.trackingRunId);
    expect(run.data.params).toEqual(expect.arrayContaining([{ key: 'seed', value: '7' }]));
    expect(run.data.tags.map((t) => t.key)).toEqual(
      expect.arrayContaining(['mlflow.source.name', 'modelyard.pipeline.bundle_digest']),
    );
    const auc = (await client.runs.get(champion.runId)).data.metrics.find(
      (m) => m.key === 'test_roc_auc',
    );
    expect(auc?.value).toBeGreaterThan(0.7);

    // The registered ONNX export serves as it is.
    const created = await runYard([
      ...at(),
      'deployments',
      'create',
      'churn',
      '--model',
      'models:/churn@champion',
      '--wait',
    ]);
    expect(created.error).toBeUndefined();
    const res = await fetch(`${yard.server.url}/v2/models/churn/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          {
            name: 'features',
            datatype: 'FP32',
            shape: [1, 10],
            data: [2, 95, 190, 1, 0, 0, 4, 1, 1, 30],
          },
        ],
      }),
    });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { outputs: { name: string; data: number[] }[] };
    const probability = answer.outputs.find((o) => o.name === 'probability')?.data[0];
    expect(probability).toBeGreaterThan(0);
    expect(probability).toBeLessThan(1);

    // A rerun reuses every cached step; the registration (cache: false) runs again and the
    // equal model does not take the alias from version 1.
    const second = await runYard([...at(), 'run', CHURN, '--param', 'seed=7']);
    expect(second.error).toBeUndefined();
    expect(second.err).toMatch(/load cached/);
    expect(second.err).toMatch(/train cached/);
    expect(second.out).toMatch(/✓ register\s+succeeded/);
    expect((await client.registeredModels.getByAlias('churn', 'champion')).version).toBe('1');

    const shown = await runYard([...at(), 'runs', 'show', summary.trackingRunId]);
    expect(shown.error).toBeUndefined();
    expect(shown.out).toMatch(/^Pipeline churn: succeeded/);
    expect(shown.out).toMatch(/✓ evaluate\s+succeeded .* <- split, train/);
  }, 120_000);

  it('exits with an error naming the failed step and how to resume', async () => {
    const file = join(yard.dir, 'failing', 'pipeline.ts');
    await mkdir(dirname(file), { recursive: true });
    await writeFile(
      file,
      `import { pipeline, step, UnrecoverableError } from '@modelyard/pipelines';
const a = step('a', () => 1);
const b = step('b', { inputs: { a } }, ({ a }): number => {
  throw new UnrecoverableError('bad input ' + String(a));
});
export default pipeline('failing', { steps: [a, b] });
`,
    );
    const result = await runYard([...at(), 'run', file]);
    expect(result.error?.message).toMatch(/Pipeline failing failed.*--resume [0-9a-f]+/);
    expect(result.err).toMatch(/✗ b failed .*bad input 1/);
  }, 60_000);

  it('refuses a file that does not build or exports no pipeline, and bad params', async () => {
    const broken = join(yard.dir, 'broken.ts');
    await writeFile(broken, 'export default pipeline(;\n');
    expect((await runYard([...at(), 'run', broken])).error?.message).toMatch(
      /Could not build pipeline file .*broken\.ts:\n.*broken\.ts:1:\d+/,
    );
    const empty = join(yard.dir, 'empty.ts');
    await writeFile(empty, 'export const x = 1;\n');
    expect((await runYard([...at(), 'run', empty])).error?.message).toMatch(
      /must export a pipeline as its default export/,
    );
    expect((await runYard([...at(), 'run', CHURN, '--param', 'seed'])).error?.message).toMatch(
      /--param takes key=value, got 'seed'/,
    );
    expect((await runYard([...at(), 'run', CHURN, '--param', 'seed=1.5'])).error?.message).toMatch(
      /'seed' must be a whole number, got "1.5"/,
    );
  }, 60_000);
});

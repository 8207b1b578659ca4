import { mkdir, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@modelyard/client';
import type { YardClient } from '@modelyard/client';
import { startTemporaryServer } from '@modelyard/server';
import type { TemporaryServer } from '@modelyard/server';
import {
  UnrecoverableError,
  defineParams,
  pipeline,
  readSummary,
  runPipeline,
  step,
} from '@modelyard/pipelines';
import type { RunEvent, RunSummary, StepSummary } from '@modelyard/pipelines';

/**
 * Pipelines against a real server (SQLite file, artifact folder, HTTP): caching, invalidation,
 * retries, timeouts, resume, fan-out, conditions, lineage and model registration.
 */

let dir: string;
let server: TemporaryServer;
let client: YardClient;

beforeAll(async () => {
  server = await startTemporaryServer('yard-pipelines-');
  dir = server.dir;
  client = createClient({ baseUrl: server.url });
});

afterAll(async () => {
  await server.close();
});

function stepOf(summary: RunSummary, name: string): StepSummary {
  const found = summary.steps.find((s) => s.name === name);
  if (found === undefined) throw new Error(`no step ${name}`);
  return found;
}

function statuses(summary: RunSummary): Record<string, string> {
  return Object.fromEntries(summary.steps.map((s) => [s.name, s.status]));
}

/** A small numeric pipeline; `calls` counts how often each step body really ran. */
function numbers(calls: Record<string, number>, scale = 2) {
  const count = (name: string) => {
    calls[name] = (calls[name] ?? 0) + 1;
  };
  const params = defineParams({ n: Type.Integer({ minimum: 1, default: 5 }) });
  const load = step('load', { params }, (_inputs, ctx) => {
    count('load');
    return Array.from({ length: ctx.params.n }, (_, i) => i + 1);
  });
  // The code digest covers a step's source, not the values its closure captures: an edit is a
  // different function body.
  const scaled =
    scale === 2
      ? step('scale', { inputs: { values: load } }, ({ values }) => {
          count('scale');
          return values.map((v) => v * 2);
        })
      : step('scale', { inputs: { values: load } }, ({ values }) => {
          count('scale');
          return values.map((v) => v * 3);
        });
  const total = step('total', { inputs: { values: scaled } }, ({ values }, ctx) => {
    count('total');
    const sum = values.reduce((a, b) => a + b, 0);
    ctx.log.metric('sum', sum);
    ctx.log.param('count', values.length);
    ctx.log.info('summed', { sum });
    return { sum };
  });
  const mean = step('mean', { inputs: { values: load } }, ({ values }) => {
    count('mean');
    return values.reduce((a, b) => a + b, 0) / values.length;
  });
  return pipeline('numbers', { params, steps: [load, scaled, total, mean] });
}

describe('a pipeline run', () => {
  it('runs every step, records lineage, and reuses everything on a rerun', async () => {
    const calls: Record<string, number> = {};
    const events: RunEvent[] = [];
    const first = await runPipeline(numbers(calls), {
      client,
      params: { n: '4' },
      onEvent: (e) => events.push(e),
    });
    expect(first.status).toBe('succeeded');
    expect(statuses(first)).toEqual({
      load: 'succeeded',
      scale: 'succeeded',
      total: 'succeeded',
      mean: 'succeeded',
    });
    expect(calls).toEqual({ load: 1, scale: 1, total: 1, mean: 1 });
    expect(first.params).toEqual({ n: 4 });
    expect(stepOf(first, 'total').inputs).toEqual(['scale']);
    expect(events[0]?.type).toBe('run-started');
    expect(events.at(-1)?.type).toBe('run-finished');

    // The tracking side: the pipeline run with its params, a nested run per executed step.
    const run = await client.runs.get(first.trackingRunId);
    expect(run.info.status).toBe('FINISHED');
    expect(run.data.params).toEqual([{ key: 'n', value: '4' }]);
    const totalRun = await client.runs.get(stepOf(first, 'total').runId ?? '');
    expect(totalRun.data.tags).toEqual(
      expect.arrayContaining([
        { key: 'mlflow.parentRunId', value: first.trackingRunId },
        { key: 'modelyard.step.name', value: 'total' },
      ]),
    );
    expect(totalRun.data.metrics.map((m) => [m.key, m.value])).toEqual([['sum', 20]]);
    expect(totalRun.data.params).toEqual([{ key: 'count', value: '4' }]);
    const logs = await client.runs.artifacts.download(totalRun.info.runId, 'logs.txt');
    expect(Buffer.from(logs).toString('utf8')).toMatch(/INFO summed \{"sum":20\}/);
    expect(await readSummary(client, first.trackingRunId)).toEqual(first);

    const second = await runPipeline(numbers(calls), { client, params: { n: '4' } });
    expect(second.status).toBe('succeeded');
    expect(calls).toEqual({ load: 1, scale: 1, total: 1, mean: 1 });
    expect(statuses(second)).toEqual({
      load: 'cached',
      scale: 'cached',
      total: 'cached',
      mean: 'cached',
    });
    expect(stepOf(second, 'total')).toMatchObject({
      cached: true,
      cachedFrom: first.pipelineRunId,
      runId: stepOf(first, 'total').runId,
      outputDigest: stepOf(first, 'total').outputDigest,
    });
  });

  it('asks the server for its cache entries once per run, and sends small outputs with the step records', async () => {
    const requests: string[] = [];
    const counting = createClient({
      baseUrl: server.url,
      fetch: (input, init) => {
        const url = new URL(input instanceof Request ? input.url : String(input));
        requests.push(`${init?.method ?? 'GET'} ${url.pathname}`);
        return fetch(input, init);
      },
    });
    const take = (what: string) => {
      const seen = requests.filter((r) => r.includes(what));
      requests.length = 0;
      return seen;
    };
    const calls: Record<string, number> = {};
    const first = await runPipeline(numbers(calls), { client: counting, seed: 4242 });
    expect(Object.values(statuses(first))).toEqual(Array(4).fill('succeeded'));
    const firstRequests = [...requests];
    expect(take('/pipeline-cache')).toEqual(['POST /api/v1/pipeline-cache/lookup']);
    // One upload: the run's summary; the four outputs travelled with their step records.
    expect(firstRequests.filter((r) => r.startsWith('PUT /api/v1/blobs/'))).toHaveLength(1);
    for (const s of first.steps) {
      expect(await counting.blobs.has(s.outputDigest ?? ''), s.name).toBe(true);
    }
    const again = await runPipeline(numbers(calls), { client: counting, seed: 4242 });
    expect(Object.values(statuses(again))).toEqual(Array(4).fill('cached'));
    expect(take('/pipeline-cache')).toEqual(['POST /api/v1/pipeline-cache/lookup']);
    expect(calls).toEqual({ load: 1, scale: 1, total: 1, mean: 1 });
    // Without the cache, nothing is looked up.
    await runPipeline(numbers(calls), { client: counting, seed: 4242, cache: false });
    expect(take('/pipeline-cache')).toEqual([]);
  });

  it('reruns an edited step and everything downstream, and other params miss the cache', async () => {
    const calls: Record<string, number> = {};
    await runPipeline(numbers(calls), { client, params: { n: 3 } });
    const edited: Record<string, number> = {};
    const after = await runPipeline(numbers(edited, 3), { client, params: { n: 3 } });
    // `scale` has new code; `total` depends on it; `load` and `mean` do not.
    expect(statuses(after)).toEqual({
      load: 'cached',
      scale: 'succeeded',
      total: 'succeeded',
      mean: 'cached',
    });
    expect(edited).toEqual({ scale: 1, total: 1 });
    const otherParams = await runPipeline(numbers(edited, 3), { client, params: { n: 7 } });
    expect(Object.values(statuses(otherParams))).toEqual(Array(4).fill('succeeded'));
    const noCache = await runPipeline(numbers(edited, 3), {
      client,
      params: { n: 7 },
      cache: false,
    });
    expect(Object.values(statuses(noCache))).toEqual(Array(4).fill('succeeded'));
  });

  it('misses the cache when the TTL ran out or the stored output is gone', async () => {
    let runs = 0;
    const make = (ttl: number) => {
      const only = step('only', { cache: { ttl } }, () => {
        runs += 1;
        return { at: 'fixed' };
      });
      return pipeline('ttl', { steps: [only] });
    };
    await runPipeline(make(60_000), { client });
    expect((await runPipeline(make(60_000), { client })).steps[0]?.status).toBe('cached');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect((await runPipeline(make(10), { client })).steps[0]?.status).toBe('succeeded');
    expect(runs).toBe(2);

    // Remove the stored blob behind the server's back: the entry no longer counts.
    const digest = (await runPipeline(make(60_000), { client })).steps[0]?.outputDigest ?? '';
    const hex = digest.replace('sha256:', '');
    await unlink(join(dir, 'artifacts', 'blobs', 'sha256', hex.slice(0, 2), hex));
    expect((await runPipeline(make(60_000), { client })).steps[0]?.status).toBe('succeeded');
    expect(runs).toBe(3);
  });
});

describe('failures', () => {
  it('retries, times out, stops only the consumers, and resumes from the failure', async () => {
    let flaky = 0;
    let fixed = false;
    const make = () => {
      const source = step('source', () => [1, 2, 3]);
      const retried = step(
        'flaky',
        { inputs: { source }, retries: { retries: 3, delay: 5 } },
        ({ source }) => {
          flaky += 1;
          if (flaky < 3) throw new Error(`transient failure ${String(flaky)}`);
          return source.length;
        },
      );
      const broken = step('broken', { inputs: { source }, retries: 5 }, () => {
        if (!fixed) throw new UnrecoverableError('the input file is corrupt');
        return 'ok';
      });
      const slow = step(
        'slow',
        { inputs: { source }, timeout: 50, retries: { retries: 1, delay: 1 } },
        async () => {
          if (!fixed) await new Promise((resolve) => setTimeout(resolve, 2_000));
          return 'done';
        },
      );
      const report = step(
        'report',
        { inputs: { broken, slow } },
        ({ broken, slow }) => `${broken}/${slow}`,
      );
      return pipeline('failures', { steps: [source, retried, broken, slow, report] });
    };
    const first = await runPipeline(make(), { client, cache: false });
    expect(first.status).toBe('failed');
    expect(stepOf(first, 'flaky')).toMatchObject({ status: 'succeeded', attempts: 3 });
    expect(stepOf(first, 'broken')).toMatchObject({
      status: 'failed',
      attempts: 1,
      error: 'the input file is corrupt',
    });
    expect(stepOf(first, 'slow')).toMatchObject({ status: 'failed', attempts: 2 });
    expect(stepOf(first, 'slow').error).toMatch(/timed out after 50 ms/);
    expect(stepOf(first, 'report')).toMatchObject({
      status: 'skipped',
      error: "not run: input 'broken' from step 'broken' failed",
    });
    expect((await client.runs.get(first.trackingRunId)).info.status).toBe('FAILED');
    expect((await client.runs.get(stepOf(first, 'broken').runId ?? '')).info.status).toBe('FAILED');

    fixed = true;
    const attemptsBefore = flaky;
    const resumed = await runPipeline(make(), {
      client,
      cache: false,
      resume: first.trackingRunId,
    });
    expect(resumed.status).toBe('succeeded');
    expect(resumed.resumedFrom).toBe(first.trackingRunId);
    expect(statuses(resumed)).toEqual({
      source: 'cached',
      flaky: 'cached',
      broken: 'succeeded',
      slow: 'succeeded',
      report: 'succeeded',
    });
    expect(flaky).toBe(attemptsBefore);
  });

  it('fails a step whose output cannot be stored, naming where', async () => {
    const bad = step('bad', () => ({ model: { predict: () => 1 } }));
    const summary = await runPipeline(pipeline('bad-output', { steps: [bad] }), { client });
    expect(summary.status).toBe('failed');
    expect(stepOf(summary, 'bad').error).toMatch(
      /Step 'bad' returned an output that cannot be stored: output\.model\.predict is a function/,
    );
  });

  it('refuses bad parameters before anything runs', async () => {
    const before = await client.experiments.search();
    await expect(runPipeline(numbers({}), { client, params: { n: 'many' } })).rejects.toThrow(
      /Invalid parameters: 'n' .*"many"/,
    );
    await expect(runPipeline(numbers({}), { client, params: { m: 1 } })).rejects.toThrow(
      "Unknown parameter 'm'; this pipeline takes 'n'.",
    );
    expect(await client.experiments.search()).toEqual(before);
  });
});

describe('fan-out, conditions and the registry', () => {
  it('maps over a list item by item, caching each item, and fans in', async () => {
    let scored = 0;
    const make = (more: boolean) => {
      // Every param is part of every cache key, so the list changes in code here.
      const list = more ? step('shards', () => [1, 2, 3, 4]) : step('shards', () => [1, 2, 3]);
      const scores = step.map('score', { over: list }, (shard: number, _inputs, ctx) => {
        scored += 1;
        return { shard, score: shard * 10, item: ctx.item };
      });
      const best = step('best', { inputs: { scores } }, ({ scores }) =>
        Math.max(...scores.map((s) => s.score)),
      );
      return pipeline('fan', { steps: [list, scores, best] });
    };
    const first = await runPipeline(make(false), { client });
    expect(first.status).toBe('succeeded');
    expect(scored).toBe(3);
    expect(stepOf(first, 'score').items?.map((i) => i.status)).toEqual([
      'succeeded',
      'succeeded',
      'succeeded',
    ]);
    const best = await client.blobs.get(stepOf(first, 'best').outputDigest ?? '');
    expect(best.length).toBeGreaterThan(0);
    // One more shard: only the new item runs.
    const second = await runPipeline(make(true), { client });
    expect(scored).toBe(4);
    expect(stepOf(second, 'score').items?.map((i) => i.cached)).toEqual([true, true, true, false]);
    expect(stepOf(second, 'best').status).toBe('succeeded');
  });

  it('skips a branch whose condition is false, and its consumers, without failing', async () => {
    const metrics = step('metrics', () => ({ auc: 0.6 }));
    const deploy = step(
      'deploy',
      { inputs: { metrics }, when: ({ metrics }) => metrics.auc > 0.8 },
      () => 'deployed',
    );
    const announce = step('announce', { inputs: { deploy } }, ({ deploy }) => `${deploy}!`);
    const summary = await runPipeline(pipeline('gated', { steps: [metrics, deploy, announce] }), {
      client,
    });
    expect(summary.status).toBe('succeeded');
    expect(statuses(summary)).toEqual({
      metrics: 'succeeded',
      deploy: 'skipped',
      announce: 'skipped',
    });
  });

  it('registers a model version from a step, linked to the pipeline run, and sets an alias', async () => {
    const modelDir = join(dir, 'model-out');
    await mkdir(modelDir, { recursive: true });
    await writeFile(
      join(modelDir, 'MLmodel'),
      'flavors:\n  modelyard_js:\n    module: model.mjs\n',
    );
    await writeFile(join(modelDir, 'model.mjs'), 'export function predict() { return {}; }\n');
    const train = step('train', { cache: false }, async (_inputs, ctx) => {
      const version = await ctx.models.register('pipeline-model', modelDir);
      if ((await ctx.models.versionByAlias('pipeline-model', 'champion')) === undefined) {
        await ctx.models.setAlias('pipeline-model', 'champion', version);
      }
      return version;
    });
    const summary = await runPipeline(pipeline('register', { steps: [train] }), { client });
    expect(summary.status).toBe('succeeded');
    const version = await client.registeredModels.getByAlias('pipeline-model', 'champion');
    expect(version.runId).toBe(stepOf(summary, 'train').runId);
    expect(version.tags).toEqual(
      expect.arrayContaining([{ key: 'modelyard.pipeline.run_id', value: summary.pipelineRunId }]),
    );
    const files = await client.runs.artifacts.list(version.runId, 'model');
    expect(files.files.map((f) => f.path).sort()).toEqual(['model/MLmodel', 'model/model.mjs']);
    expect(await readdir(modelDir)).toHaveLength(2);
  });
});

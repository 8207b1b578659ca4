import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { typeScriptExecArgv } from '@modelyard/core/module-worker';
import { createClient } from '@modelyard/client';
import type { YardClient } from '@modelyard/client';
import { startTemporaryServer } from '@modelyard/server';
import type { TemporaryServer } from '@modelyard/server';
import type { RunSummary } from '@modelyard/pipelines';
import { runYard } from './test-support/run-yard.js';

/**
 * The redis executor end to end: `yard worker` processes (started from sources, like the CLI
 * would run) take step jobs from a real Redis, a worker killed with SIGKILL mid-step loses
 * nothing, and `yard schedule` runs a pipeline on a cron schedule.
 */

const redisUrl = process.env.MODELYARD_TEST_REDIS_URL;
if (!redisUrl) {
  console.warn(
    'SKIPPED: redis executor tests need MODELYARD_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379).',
  );
}

const here = dirname(fileURLToPath(import.meta.url));
const BIN = join(here, 'bin.ts');
const PACKAGE_DIR = join(here, '..');

let dir: string;
let server: TemporaryServer;
let client: YardClient;
const workers: ChildProcess[] = [];

/** A `yard worker` child process; resolves once it says it is ready. */
async function startYardWorker(
  queue: string,
  name: string,
): Promise<{ child: ChildProcess; log: () => string }> {
  let log = '';
  const child = spawn(
    process.execPath,
    [
      ...typeScriptExecArgv(import.meta.url),
      BIN,
      '--server',
      server.url,
      'worker',
      '--redis',
      redisUrl ?? '',
      '--queue',
      queue,
      '--concurrency',
      '4',
      '--lock-duration',
      '1500',
    ],
    {
      cwd: PACKAGE_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WORKER_NAME: name },
    },
  );
  workers.push(child);
  child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`worker ${name} did not start in 60 s:\n${log}`));
    }, 60_000);
    child.stderr.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (/ready on/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker ${name} exited with ${String(code)}:\n${log}`));
    });
  });
  return { child, log: () => log };
}

async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
    child.kill(signal);
  });
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `yard run <file> --executor redis` on `queue`, in-process. */
function runOnRedis(file: string, queue: string, ...extra: string[]) {
  return runYard([
    '--server',
    server.url,
    'run',
    file,
    '--executor',
    'redis',
    '--redis',
    redisUrl ?? '',
    '--queue',
    queue,
    ...extra,
  ]);
}

async function pipelineFile(name: string, code: string): Promise<string> {
  const file = join(dir, name, 'pipeline.ts');
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, code);
  return file;
}

beforeAll(async () => {
  server = await startTemporaryServer('yard-worker-');
  dir = server.dir;
  client = createClient({ baseUrl: server.url });
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => stop(w, 'SIGKILL')));
});

afterAll(async () => {
  await server.close();
});

describe.skipIf(!redisUrl)('the redis executor and yard worker', () => {
  it('spreads a fan-out over two workers and gives the same answer as a local run', async () => {
    const queue = `t-${randomUUID()}`;
    const file = await pipelineFile(
      'fanout',
      `import { pipeline, step } from '@modelyard/pipelines';
const items = step('items', () => Array.from({ length: 24 }, (_, i) => i));
const squares = step.map('square', { over: items }, async (n: number) => {
  await new Promise((r) => setTimeout(r, 20));
  return n * n;
});
const total = step('total', { inputs: { squares } }, ({ squares }) => squares.reduce((a, b) => a + b, 0));
export default pipeline('fanout', { steps: [items, squares, total] });
`,
    );
    const a = await startYardWorker(queue, 'a');
    const b = await startYardWorker(queue, 'b');
    const run = await runOnRedis(file, queue, '--json');
    expect(run.error).toBeUndefined();
    const summary = JSON.parse(run.out) as RunSummary;
    expect(summary.status).toBe('succeeded');
    const square = summary.steps.find((s) => s.name === 'square');
    const workersUsed = new Set(square?.items?.map((i) => i.worker));
    expect(workersUsed.size).toBe(2);
    expect(a.log()).toMatch(/square\[\d+\] succeeded/);
    expect(b.log()).toMatch(/square\[\d+\] succeeded/);
    const totalRun = summary.steps.find((s) => s.name === 'total');
    const value = await client.blobs.get(totalRun?.outputDigest ?? '');
    expect(Buffer.from(value).toString('utf8')).toContain(String((23 * 24 * 47) / 6));
    const stepRun = await client.runs.get(totalRun?.runId ?? '');
    expect(stepRun.data.tags).toEqual(
      expect.arrayContaining([{ key: 'modelyard.step.worker', value: totalRun?.worker ?? '' }]),
    );
    const pipelineRun = await client.runs.get(summary.trackingRunId);
    expect(pipelineRun.data.tags).toEqual(
      expect.arrayContaining([{ key: 'modelyard.pipeline.executor', value: 'redis' }]),
    );

    // Rerun: every call is a cache hit, decided without a job.
    const again = await runOnRedis(file, queue, '--json');
    const cached = JSON.parse(again.out) as RunSummary;
    expect(cached.steps.map((s) => s.status)).toEqual(['cached', 'cached', 'cached']);
  }, 120_000);

  it('loses nothing when a worker is killed with SIGKILL mid-step: another worker runs it', async () => {
    const queue = `t-${randomUUID()}`;
    const marker = join(dir, `started-${randomUUID()}`);
    const file = await pipelineFile(
      'killed',
      `import { existsSync, writeFileSync } from 'node:fs';
import { pipeline, step } from '@modelyard/pipelines';
const first = step('first', () => 20);
const slow = step('slow', { inputs: { first } }, async ({ first }) => {
  // The first worker to get here records it and hangs, to be killed; the next one finishes.
  if (!existsSync(${JSON.stringify(marker)})) {
    writeFileSync(${JSON.stringify(marker)}, String(process.pid));
    await new Promise((r) => setTimeout(r, 120_000));
  }
  return first + 1;
});
const last = step('last', { inputs: { slow } }, ({ slow }) => slow * 2);
export default pipeline('killed', { steps: [first, slow, last] });
`,
    );
    // The run starts before any worker listens: it says so and waits.
    const running = runOnRedis(file, queue);
    const doomed = await startYardWorker(queue, 'doomed');
    await until('the slow step to start', () =>
      Promise.resolve(existsSync(marker) ? true : undefined),
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; the worker said:\n${doomed.log()}`);
    });
    await stop(doomed.child, 'SIGKILL');
    const rescuer = await startYardWorker(queue, 'rescuer');
    const result = await running;
    expect(result.error).toBeUndefined();
    expect(result.err).toMatch(/No worker is listening on queue/);
    expect(result.out).toMatch(/✓ last\s+succeeded/);
    expect(rescuer.log()).toMatch(/slow was running on a worker that stopped/);

    const runs = await client.runs.search({
      experimentIds: [(await client.experiments.getByName('killed')).experimentId],
      filter: "tags.`modelyard.step.name` = 'slow'",
    });
    const statuses = runs.runs.map((r) => r.info.status).sort();
    expect(statuses).toEqual(['FINISHED', 'KILLED']);
    const killed = runs.runs.find((r) => r.info.status === 'KILLED');
    expect(killed?.data.tags.find((t) => t.key === 'modelyard.step.lost')?.value).toMatch(
      /stopped during the step/,
    );
    const lastRun = runs.runs.find((r) => r.info.status === 'FINISHED');
    expect(lastRun?.data.tags.find((t) => t.key === 'modelyard.step.worker')?.value).toMatch(
      new RegExp(`:${String(rescuer.child.pid)}$`),
    );
  }, 180_000);

  it('schedules a pipeline on a cron expression; a worker runs it; the schedule can be removed', async () => {
    const queue = `t-${randomUUID()}`;
    const file = await pipelineFile(
      'scheduled',
      `import { Type } from '@sinclair/typebox';
import { defineParams, pipeline, step } from '@modelyard/pipelines';
const params = defineParams({ n: Type.Integer({ default: 1 }) });
const one = step('one', { params }, (_, ctx) => ctx.params.n * 10);
export default pipeline('scheduled', { params, steps: [one] });
`,
    );
    const queueArgs = ['--redis', redisUrl ?? '', '--queue', queue];

    const bad = await runYard([
      '--server',
      server.url,
      'schedule',
      file,
      '--cron',
      '61 * * * *',
      ...queueArgs,
    ]);
    expect(bad.error?.message).toMatch(/Invalid cron expression "61 \* \* \* \*"/);
    expect((await runYard(['schedules', 'list', ...queueArgs])).out).toMatch(/No schedules/);

    const made = await runYard([
      '--server',
      server.url,
      'schedule',
      file,
      '--cron',
      '* * * * * *',
      '--id',
      'every-second',
      '--param',
      'n=4',
      ...queueArgs,
    ]);
    expect(made.error).toBeUndefined();
    expect(made.out).toMatch(
      /Scheduled scheduled as 'every-second' \(\* \* \* \* \* \*\); next run/,
    );
    const listed = await runYard(['schedules', 'list', '--json', ...queueArgs]);
    expect(JSON.parse(listed.out)).toEqual([
      expect.objectContaining({ id: 'every-second', cron: '* * * * * *', params: { n: 4 } }),
    ]);

    await startYardWorker(queue, 'scheduler');
    const finished = await until('a scheduled run', async () => {
      const experiment = await client.experiments.getByName('scheduled').catch(() => undefined);
      if (experiment === undefined) return undefined;
      const page = await client.runs.search({
        experimentIds: [experiment.experimentId],
        filter:
          "tags.`modelyard.pipeline.schedule` = 'every-second' and attributes.status = 'FINISHED'",
      });
      return page.runs[0];
    });
    expect(finished.data.params).toEqual([{ key: 'n', value: '4' }]);

    const removed = await runYard(['schedules', 'remove', 'every-second', ...queueArgs]);
    expect(removed.out).toMatch(/Removed schedule 'every-second'/);
    expect((await runYard(['schedules', 'list', ...queueArgs])).out).toMatch(/No schedules/);
    const again = await runYard(['schedules', 'remove', 'every-second', ...queueArgs]);
    expect(again.error?.message).toMatch(/No schedule 'every-second'/);
  }, 120_000);

  it('refuses a Redis URL that is not one, and says where nothing answers', async () => {
    const file = await pipelineFile(
      'tiny',
      `import { pipeline, step } from '@modelyard/pipelines';
export default pipeline('tiny', { steps: [step('a', () => 1)] });
`,
    );
    const wrong = await runYard([
      '--server',
      server.url,
      'run',
      file,
      '--executor',
      'redis',
      '--redis',
      'http://x',
    ]);
    expect(wrong.error?.message).toMatch(
      /The Redis URL must look like redis:\/\/host:6379, got "http:\/\/x"/,
    );
    const nobody = await runYard([
      '--server',
      server.url,
      'run',
      file,
      '--executor',
      'redis',
      '--redis',
      'redis://127.0.0.1:1',
    ]);
    expect(nobody.error?.message).toMatch(/Cannot reach Redis at redis:\/\/127.0.0.1:1/);
  }, 60_000);
});

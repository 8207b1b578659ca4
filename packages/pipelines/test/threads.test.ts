import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@modelyard/client';
import type { YardClient } from '@modelyard/client';
import { startTemporaryServer } from '@modelyard/server';
import type { TemporaryServer } from '@modelyard/server';
import { deserializeOutput, loadPipeline, runPipeline } from '@modelyard/pipelines';
import type { RunEvent, RunSummary } from '@modelyard/pipelines';

/**
 * `worker: true` steps in worker threads of the local executor, against a real server: they run
 * off the main thread (map items too), retries and timeouts still apply, and other steps stay in
 * the main thread.
 */

let server: TemporaryServer;
let client: YardClient;

beforeAll(async () => {
  server = await startTemporaryServer('yard-threads-');
  client = createClient({ baseUrl: server.url });
});

afterAll(async () => {
  await server.close();
});

const PIPELINE = `import { isMainThread, threadId } from 'node:worker_threads';
import { pipeline, step } from '@modelyard/pipelines';
const where = () => ({ main: isMainThread, thread: threadId });
const light = step('light', () => where());
const heavy = step('heavy', { worker: true }, () => {
  let x = 0;
  for (let i = 0; i < 1e6; i += 1) x += i % 7;
  return { ...where(), x };
});
const list = step('list', () => [1, 2, 3, 4]);
const squares = step.map('squares', { over: list, worker: true }, (n: number) => ({ n: n * n, ...where() }));
const flaky = step('flaky', { worker: true, retries: { retries: 2, delay: 10 } }, (_, ctx) => {
  if (ctx.attempt < 3) throw new Error('not yet, attempt ' + String(ctx.attempt));
  return ctx.attempt;
});
const slow = step('slow', { worker: true, timeout: '300ms' }, async (_, ctx) => {
  await new Promise((resolve, reject) => {
    const t = setTimeout(resolve, 20_000);
    ctx.signal.addEventListener('abort', () => { clearTimeout(t); reject(ctx.signal.reason); });
  });
  return 'never';
});
export default pipeline('threads', { steps: [light, heavy, list, squares, flaky, slow] });
`;

async function output(summary: RunSummary, name: string): Promise<unknown> {
  const digest = summary.steps.find((s) => s.name === name)?.outputDigest ?? '';
  return deserializeOutput(await client.blobs.get(digest), digest);
}

describe('worker: true steps', () => {
  it('run in worker threads (with retries and timeouts); other steps stay in the main thread', async () => {
    const file = join(server.dir, 'threads.ts');
    await writeFile(file, PIPELINE);
    const { pipeline, bundle } = await loadPipeline(file);
    const events: RunEvent[] = [];
    const summary = await runPipeline(pipeline, {
      client,
      bundle,
      onEvent: (e) => events.push(e),
    });
    const status = Object.fromEntries(summary.steps.map((s) => [s.name, s.status]));
    expect(status).toEqual({
      light: 'succeeded',
      heavy: 'succeeded',
      list: 'succeeded',
      squares: 'succeeded',
      flaky: 'succeeded',
      slow: 'failed',
    });
    expect(await output(summary, 'light')).toEqual({ main: true, thread: 0 });
    const heavy = (await output(summary, 'heavy')) as { main: boolean; thread: number };
    expect(heavy.main).toBe(false);
    expect(heavy.thread).toBeGreaterThan(0);
    expect(summary.steps.find((s) => s.name === 'heavy')?.worker).toBe(
      `local thread ${String(heavy.thread)}`,
    );
    const squares = summary.steps.find((s) => s.name === 'squares');
    expect(squares?.items?.every((i) => /^local thread \d+$/.test(i.worker ?? ''))).toBe(true);
    const flaky = summary.steps.find((s) => s.name === 'flaky');
    expect(flaky?.attempts).toBe(3);
    expect(events.filter((e) => e.type === 'attempt-failed' && e.step === 'flaky')).toHaveLength(2);
    expect(summary.steps.find((s) => s.name === 'slow')?.error).toMatch(/300 ms|timed out/);
  }, 60_000);

  it("read a main-thread step's output even while it is still being stored", async () => {
    // 'make' runs in the main thread, and its output reaches the server with its step record's
    // batch a moment later; 'use' runs in a warm thread that fetches it from the server at once.
    const file = join(server.dir, 'threads-handoff.ts');
    await writeFile(
      file,
      `import { pipeline, step } from '@modelyard/pipelines';
const warm = step('warm', { worker: true }, () => 1);
const make = step('make', { inputs: { warm } }, ({ warm }) => ({ made: warm + 41 }));
const use = step('use', { worker: true, inputs: { make } }, ({ make }) => make.made * 2);
export default pipeline('threads-handoff', { steps: [warm, make, use] });
`,
    );
    const { pipeline, bundle } = await loadPipeline(file);
    for (let seed = 1; seed <= 2; seed++) {
      const summary = await runPipeline(pipeline, { client, bundle, seed });
      expect(summary.steps.map((s) => [s.name, s.status, s.error])).toEqual([
        ['warm', 'succeeded', null],
        ['make', 'succeeded', null],
        ['use', 'succeeded', null],
      ]);
      expect(await output(summary, 'use')).toBe(84);
    }
  }, 60_000);

  it('run in the main thread, with a warning, when the pipeline does not come from a file', async () => {
    const file = join(server.dir, 'threads-inline.ts');
    await writeFile(file, PIPELINE.replace("'threads'", "'threads-inline'"));
    const { pipeline } = await loadPipeline(file);
    const events: RunEvent[] = [];
    const summary = await runPipeline(pipeline, {
      client,
      cache: false,
      onEvent: (e) => events.push(e),
    });
    expect(await output(summary, 'heavy')).toMatchObject({ main: true });
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'log',
        step: 'heavy',
        level: 'warn',
        message: expect.stringMatching(/runs in the main thread/) as unknown,
      }),
    );
  }, 60_000);
});

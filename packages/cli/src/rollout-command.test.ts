import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@modelyard/client';
import type { DeploymentMetrics, YardClient } from '@modelyard/client';
import type { AbReport, Deployment, RolloutPhase } from '@modelyard/core';
import { startIrisServer } from './test-support/iris-server.js';
import type { IrisServer } from './test-support/iris-server.js';
import { runYard } from './test-support/run-yard.js';
import type { YardResult } from './test-support/run-yard.js';

/**
 * `yard deployments rollout|promote|rollback|metrics|outcomes` against a real server where
 * versions 1 and 2 of `iris` are the same ONNX model, so every rollout is healthy unless a test
 * makes it otherwise. The server decides rollouts on its own 1 s timer.
 */
describe('yard deployments rollouts against a real server', () => {
  let iris: IrisServer;
  let client: YardClient;
  const yard = (...args: string[]): Promise<YardResult> =>
    runYard(['--server', iris.server.url, 'deployments', ...args]);

  beforeAll(async () => {
    iris = await startIrisServer('yard-cli-rollouts-', { versions: 2 });
    client = createClient({ baseUrl: iris.server.url });
  });

  afterAll(async () => {
    await iris.close();
  });

  /** Creates deployment `name` serving `iris/<version>` and waits until it is ready. */
  async function deploy(name: string, version = 1): Promise<void> {
    await client.deployments.create({ name, modelUri: `models:/iris/${String(version)}` });
    const settled = await client.deployments.waitUntilSettled(name, { intervalMs: 50 });
    expect(settled.status, settled.statusReason).toBe('ready');
  }

  /** One OIP v2 inference; returns the variant that answered. */
  async function infer(name: string): Promise<string | null> {
    const res = await fetch(`${iris.server.url}/v2/models/${name}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          { name: 'float_input', datatype: 'FP32', shape: [1, 20], data: Array(20).fill(0.5) },
        ],
      }),
    });
    await res.arrayBuffer();
    expect(res.status).toBe(200);
    return res.headers.get('x-modelyard-variant');
  }

  /** Sequential requests to `name` until stopped; returns the variants that answered. */
  function drive(name: string): { stop(): Promise<(string | null)[]> } {
    const variants: (string | null)[] = [];
    const state = { running: true };
    const loop = (async () => {
      while (state.running) variants.push(await infer(name));
    })();
    return {
      async stop() {
        state.running = false;
        await loop;
        return variants;
      },
    };
  }

  /** Polls the deployment until its rollout is in one of `phases`. */
  async function waitPhase(name: string, ...phases: RolloutPhase[]): Promise<Deployment> {
    for (let i = 0; i < 600; i += 1) {
      const d = await client.deployments.get(name);
      if (d.rollout !== null && phases.includes(d.rollout.phase)) return d;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`the rollout of ${name} never reached ${phases.join(' or ')}`);
  }

  it('refuses a rollout whose strategy or flags are wrong, naming them, and changes nothing', async () => {
    await deploy('refused');
    const args = ['rollout', 'refused', '--model', 'models:/iris/2'];
    const strategy = await yard(...args, '--strategy', 'linear');
    expect(strategy.error?.message).toMatch(
      /--strategy <strategy>' argument 'linear' is invalid. Allowed choices are canary, blue-green, ab, shadow/,
    );
    const stages = await yard(...args, '--strategy', 'canary', '--stages', '5,x');
    expect(stages.error?.message).toMatch(
      /--stages <list>' argument '5,x' is invalid. expected comma-separated numbers/,
    );
    const hold = await yard(...args, '--strategy', 'blue-green', '--hold', '60,60');
    expect(hold.error?.message).toMatch(
      /--hold takes one number of seconds for a blue-green rollout, got '60,60'/,
    );
    const weight = await yard(...args, '--strategy', 'ab', '--weight', '150');
    expect(weight.error?.message).toMatch(/--weight <percent>' argument '150' is invalid/);
    const metric = await yard(...args, '--strategy', 'ab', '--metric', 'converted:ratio');
    expect(metric.error?.message).toMatch(/expected name:proportion or name:mean/);
    const sticky = await yard(
      ...args,
      '--strategy',
      'ab',
      '--sticky-header',
      'x-user',
      '--sticky-field',
      'user',
    );
    expect(sticky.error?.message).toMatch(/--sticky-header or --sticky-field, not both/);
    // What only the server knows: which setting applies to which strategy.
    const misplaced = await yard(...args, '--strategy', 'ab', '--stages', '5,100');
    expect(misplaced.error?.message).toMatch(/'stages' does not apply to an ab rollout/);
    const missing = await yard(
      'rollout',
      'refused',
      '--model',
      'models:/iris/7',
      '--strategy',
      'ab',
    );
    expect(missing.error?.message).toMatch(/7/);
    const same = await yard('rollout', 'refused', '--model', 'models:/iris/1', '--strategy', 'ab');
    expect(same.error?.message).toMatch(/already serves iris version 1/);
    const after = await client.deployments.get('refused');
    expect(after.rollout).toBeNull();
    expect(after.variants.map((v) => v.name)).toEqual(['v1']);
    await client.deployments.delete('refused');
  }, 60_000);

  it('follows a healthy blue-green rollout with --wait to completion, printing progress', async () => {
    await deploy('bg');
    const load = drive('bg');
    const result = await yard(
      'rollout',
      'bg',
      '--model',
      'models:/iris/2',
      '--strategy',
      'blue-green',
      // Long enough for a poll (every second) to see the switched phase.
      '--hold',
      '2',
      // Sub-millisecond latencies jitter by more than 1.2x on a busy machine; the gates
      // themselves are the server suite's subject.
      '--min-requests',
      '5',
      '--max-p95-ratio',
      '50',
      '--reason',
      'same model, new version',
      '--wait',
    );
    const answered = await load.stop();
    expect(result.error).toBeUndefined();
    expect(result.err).toContain("Rolling models:/iris/2 out to 'bg' as 'v2' (blue-green)");
    expect(result.err).toMatch(
      /\] switched +v1 primary 0%: \d+ req, 0 err, .*\| v2 candidate 100%/,
    );
    expect(result.err).toContain('all traffic switched to it at once');
    expect(result.err).toMatch(/Rollout completed after [\d.]+ s\./);
    expect(result.out).toContain("Rollout:       blue-green of 'v2' against 'v1', phase completed");
    expect(result.out).toMatch(/Last decision: Completed: 'v2' served \d+ requests with 0 errors/);
    expect(result.out).toMatch(/v2 +│ primary +│ 100%/);
    expect(answered).toContain('v2');
    expect(await infer('bg')).toBe('v2');
    await client.deployments.delete('bg');
  }, 60_000);

  it('exits with an error when the rollout it waits for is rolled back', async () => {
    await deploy('ab-worse');
    const waiting = yard(
      'rollout',
      'ab-worse',
      '--model',
      'models:/iris/2',
      '--strategy',
      'ab',
      '--metric',
      'converted:proportion',
      '--min-samples',
      '10',
      '--auto-promote',
      '--wait',
    );
    await waitPhase('ab-worse', 'running');
    // The candidate converts nobody, the primary everybody: significantly worse.
    const report = await client.deployments.recordOutcomes('ab-worse', [
      ...Array.from({ length: 20 }, () => ({ variant: 'v1', value: 1 })),
      ...Array.from({ length: 20 }, () => ({ variant: 'v2', value: 0 })),
    ]);
    expect(report.decided).toBe(true);
    const result = await waiting;
    expect(result.error?.name).toBe('CliError');
    expect(result.error?.message).toMatch(/The rollout of 'ab-worse' was rolled back: /);
    expect(result.err).toMatch(/Rollout rolled-back after/);
    expect(result.out).toContain('phase rolled-back');
    await client.deployments.delete('ab-worse');
  }, 60_000);

  it('promotes and rolls back by hand', async () => {
    await deploy('by-hand');
    const started = await yard(
      'rollout',
      'by-hand',
      '--model',
      'models:/iris/2',
      '--strategy',
      'ab',
      '--weight',
      '30',
      '--json',
    );
    expect(started.error).toBeUndefined();
    const rollout = (JSON.parse(started.out) as Deployment).rollout;
    expect(rollout).toMatchObject({ strategy: 'ab', phase: 'warming', candidate: 'v2' });
    await waitPhase('by-hand', 'running');
    const promoted = await yard('promote', 'by-hand', '--reason', 'looks right');
    expect(promoted.error).toBeUndefined();
    expect(promoted.out).toContain("Rollout:       ab of 'v2' against 'v1', phase completed");
    expect(promoted.out).toMatch(/v2 +│ primary +│ 100% +│ ready/);
    expect(promoted.out).not.toMatch(/v1 +│/);

    const again = await yard(
      'rollout',
      'by-hand',
      '--model',
      'models:/iris/1',
      '--strategy',
      'canary',
    );
    expect(again.error).toBeUndefined();
    await waitPhase('by-hand', 'running');
    const back = await yard('rollback', 'by-hand', '--reason', 'not today', '--json');
    expect(back.error).toBeUndefined();
    const rolledBack = JSON.parse(back.out) as Deployment;
    expect(rolledBack.rollout).toMatchObject({ phase: 'rolled-back', candidate: 'v1' });
    expect(rolledBack.rollout?.lastDecision).toContain('not today');
    expect(rolledBack.variants.map((v) => [v.name, v.role, v.weight])).toEqual([
      ['v2', 'primary', 100],
    ]);
    const none = await yard('rollback', 'by-hand');
    expect(none.error?.message).toMatch(/by-hand/);
    await client.deployments.delete('by-hand');
  }, 60_000);

  it('shows live metrics as a table and as JSON, and records A/B outcomes', async () => {
    await deploy('ab');
    const started = await yard(
      'rollout',
      'ab',
      '--model',
      'models:/iris/2',
      '--strategy',
      'ab',
      '--metric',
      'converted:proportion',
      '--min-samples',
      '5',
    );
    expect(started.error).toBeUndefined();
    await waitPhase('ab', 'running');
    const answered: (string | null)[] = [];
    for (let i = 0; i < 30; i += 1) answered.push(await infer('ab'));

    const json = await yard('metrics', 'ab', '--json');
    expect(json.error).toBeUndefined();
    const metrics = JSON.parse(json.out) as DeploymentMetrics;
    expect(metrics.rollout).toMatchObject({ strategy: 'ab', phase: 'running', candidate: 'v2' });
    expect(metrics.variants.map((v) => [v.name, v.role, v.weight])).toEqual([
      ['v1', 'primary', 50],
      ['v2', 'candidate', 50],
    ]);
    const served = metrics.variants.reduce((sum, v) => sum + v.window.requests, 0);
    expect(served).toBe(30);
    for (const v of metrics.variants) {
      expect(v.window.requests).toBe(answered.filter((a) => a === v.name).length);
      expect(v.window.errors).toBe(0);
    }
    const table = await yard('metrics', 'ab');
    expect(table.error).toBeUndefined();
    expect(table.out).toMatch(/Variant +│ Role +│ Weight .*p95 ms/);
    expect(table.out).toMatch(/v2 +│ candidate +│ 50%/);
    expect(table.out).toContain("A/B test on 'converted' (proportion, higher is better)");

    const one = await yard('outcomes', 'ab', '--variant', 'v2', '--value', '1');
    expect(one.error).toBeUndefined();
    expect(one.out).toMatch(/v2 +│ candidate +│ 1 +│ 1/);
    const file = join(iris.dir, 'outcomes.json');
    await writeFile(
      file,
      JSON.stringify([
        ...Array.from({ length: 6 }, (_, i) => ({ variant: 'v1', value: i % 2 })),
        ...Array.from({ length: 5 }, () => ({ variant: 'v2', value: 1 })),
        { key: 'user-7', value: 1 },
      ]),
    );
    const many = await yard('outcomes', 'ab', '--file', file, '--json');
    expect(many.error).toBeUndefined();
    const report = JSON.parse(many.out) as AbReport;
    expect(report.test).toBe('two-proportion z-test');
    expect(report.primary.count + report.candidate.count).toBe(13);
    expect(report.pValue).toEqual(expect.any(Number));

    const noValue = await yard('outcomes', 'ab', '--variant', 'v2');
    expect(noValue.error?.message).toMatch(/Give --value with --variant or --key/);
    const both = await yard('outcomes', 'ab', '--variant', 'v2', '--key', 'k', '--value', '1');
    expect(both.error?.message).toMatch(/--variant .* or --key .* one of the two/);
    const notNumber = await yard('outcomes', 'ab', '--variant', 'v2', '--value', 'yes');
    expect(notNumber.error?.message).toMatch(/--value <number>' argument 'yes' is invalid/);
    await writeFile(file, JSON.stringify([{ variant: 'v2', value: 1 }, { variant: 'v2' }]));
    const badFile = await yard('outcomes', 'ab', '--file', file);
    expect(badFile.error?.message).toMatch(/outcome 1 needs a numeric 'value'/);
    const unknown = await yard('outcomes', 'ab', '--variant', 'v9', '--value', '1');
    expect(unknown.error?.message).toMatch(/must name a variant of the test \(v1 or v2\)/);
    await client.deployments.delete('ab');
  }, 60_000);

  it('has --help with an example for every deployments command', async () => {
    for (const command of [
      'create',
      'list',
      'get',
      'update',
      'scale',
      'rollout',
      'promote',
      'rollback',
      'metrics',
      'outcomes',
      'delete',
      'manifest',
    ]) {
      const help = await yard(command, '--help');
      expect(help.out, command).toMatch(new RegExp(`\\$ yard deployments ${command} `));
    }
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  call,
  registerModel,
  registerVersion,
  startServingServer,
  waitSettled,
} from './support/serving-server.js';
import type { ServingServer } from './support/serving-server.js';

/**
 * Rollouts end to end on a real server (SQLite, artifact folder, worker threads): versions of a
 * small `js` model that doubles, triples, fails, is slow or does not load, driven by real HTTP
 * load while the server's rollout timer decides.
 */

type Behaviour = 'double' | 'triple' | 'throw' | 'slow' | 'broken';

function scorer(behaviour: Behaviour): Record<string, () => Readable> {
  const factor = behaviour === 'triple' ? 3 : 2;
  const before =
    behaviour === 'throw'
      ? "throw new Error('the scorer is broken');"
      : behaviour === 'slow'
        ? 'await new Promise((resolve) => setTimeout(resolve, 40));'
        : '';
  const module =
    behaviour === 'broken'
      ? 'export const signature = ;\n'
      : `export const signature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 1] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }],
};
export async function predict({ x }) {
  ${before}
  const y = new Float32Array(x.data.length);
  for (let i = 0; i < y.length; i += 1) y[i] = x.data[i] * ${String(factor)};
  return { y: { name: 'y', datatype: 'FP32', shape: [...x.shape], data: y } };
}
`;
  const mlmodel = 'artifact_path: model\nflavors:\n  modelyard_js:\n    module: model.mjs\n';
  return { MLmodel: () => Readable.from([mlmodel]), 'model.mjs': () => Readable.from([module]) };
}

/** Versions of the `scorer` model: what each one does. */
const VERSIONS: Behaviour[] = ['double', 'double', 'triple', 'throw', 'slow', 'broken'];
const V = { double: '1', double2: '2', triple: '3', throws: '4', slow: '5', broken: '6' };

interface Answer {
  status: number;
  variant: string | null;
  y: number | null;
}

async function infer(
  server: ServingServer,
  name: string,
  x: number,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await call(
    server,
    'POST',
    `/v2/models/${name}/infer`,
    { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [x] }] },
    headers,
  );
  const outputs = res.body['outputs'] as { data: number[] }[] | undefined;
  return {
    status: res.status,
    variant: res.headers.get('x-modelyard-variant'),
    y: outputs?.[0]?.data[0] ?? null,
  };
}

/** Closed-loop load from `clients` callers until stopped; returns every answer. */
function drive(server: ServingServer, name: string, clients = 3): { stop(): Promise<Answer[]> } {
  const answers: Answer[] = [];
  let running = true;
  const loops = Array.from({ length: clients }, async () => {
    while (running) answers.push(await infer(server, name, 1.5));
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return answers;
    },
  };
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

interface RolloutView {
  strategy: string;
  phase: string;
  candidate: string;
  lastDecision: string;
}
interface VariantView {
  name: string;
  role: string;
  weight: number;
  modelVersion: string;
  status: string;
}

async function deployment(
  server: ServingServer,
  name: string,
): Promise<{ status: string; variants: VariantView[]; rollout: RolloutView | null }> {
  const got = await call(server, 'GET', `/api/v1/deployments/${name}`);
  expect(got.status).toBe(200);
  return got.body as unknown as {
    status: string;
    variants: VariantView[];
    rollout: RolloutView | null;
  };
}

/** Waits until the deployment's rollout reaches one of `phases`. */
function waitPhase(server: ServingServer, name: string, ...phases: string[]): Promise<RolloutView> {
  return waitFor(`rollout of ${name} to reach ${phases.join('/')}`, async () => {
    const d = await deployment(server, name);
    return d.rollout !== null && phases.includes(d.rollout.phase) ? d.rollout : undefined;
  });
}

async function events(
  server: ServingServer,
  name: string,
): Promise<{ action: string; actor: string; reason: string; details: Record<string, unknown> }[]> {
  const got = await call(server, 'GET', `/api/v1/deployments/${name}/events?maxResults=1000`);
  return got.body['events'] as {
    action: string;
    actor: string;
    reason: string;
    details: Record<string, unknown>;
  }[];
}

async function createDeployment(server: ServingServer, name: string): Promise<void> {
  const created = await call(server, 'POST', '/api/v1/deployments', {
    name,
    modelUri: `models:/scorer/${V.double}`,
  });
  expect(created.status).toBe(201);
  expect((await waitSettled(server, name))['status']).toBe('ready');
}

function rollout(
  server: ServingServer,
  name: string,
  body: Record<string, unknown>,
): ReturnType<typeof call> {
  return call(server, 'POST', `/api/v1/deployments/${name}/rollout`, body);
}

let dir: string;
let server: ServingServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'yard-rollouts-'));
  server = await startServingServer(dir, 1024 * 1024, 50);
  await registerModel(server, 'scorer', scorer(VERSIONS[0] ?? 'double'));
  for (const behaviour of VERSIONS.slice(1))
    await registerVersion(server, 'scorer', scorer(behaviour));
}, 60_000);

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('canary rollouts', () => {
  it('walks a healthy candidate through every stage to primary without failing a request', async () => {
    await createDeployment(server, 'canary-ok');
    const load = drive(server, 'canary-ok');
    const started = await rollout(server, 'canary-ok', {
      modelUri: `models:/scorer/${V.double2}`,
      strategy: 'canary',
      stages: [20, 50, 100],
      holdSeconds: 0.3,
      gates: { minRequests: 10, maxP95LatencyRatio: 50 },
      reason: 'retrained on October data',
    });
    expect(started.status).toBe(200);
    expect((started.body['rollout'] as RolloutView).phase).toBe('warming');
    const done = await waitPhase(server, 'canary-ok', 'completed', 'rolled-back');
    const answers = await load.stop();
    expect(done.phase, done.lastDecision).toBe('completed');
    // Loading, every weight change and the final swap dropped nothing.
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    expect(answers.every((a) => a.y === 3)).toBe(true);
    expect(new Set(answers.map((a) => a.variant))).toEqual(new Set(['v1', 'v2']));

    const d = await deployment(server, 'canary-ok');
    expect(d.status).toBe('ready');
    expect(d.variants.map((v) => [v.name, v.role, v.weight, v.modelVersion])).toEqual([
      ['v2', 'primary', 100, '2'],
    ]);
    const log = await events(server, 'canary-ok');
    const rolloutEvents = log.filter((e) => e.action.startsWith('rollout-'));
    expect(rolloutEvents.map((e) => [e.action, e.details['weights']])).toEqual([
      ['rollout-started', undefined],
      ['rollout-stage', { v1: 80, v2: 20 }],
      ['rollout-stage', { v1: 50, v2: 50 }],
      ['rollout-completed', { v2: 100 }],
    ]);
    expect(rolloutEvents[0]?.reason).toBe('retrained on October data');
    expect(rolloutEvents[0]?.actor).toBe('anonymous');
    expect(rolloutEvents[2]?.actor).toBe('modelyard');
    expect(rolloutEvents[2]?.reason).toMatch(/^Promoting to 50% after holding 20%/);
    expect(rolloutEvents[3]?.reason).toMatch(/^Completing the rollout/);
    expect(await infer(server, 'canary-ok', 2)).toEqual({ status: 200, variant: 'v2', y: 4 });
  }, 60_000);

  it('rolls a failing candidate back at once and records why, the primary serving on', async () => {
    await createDeployment(server, 'canary-errors');
    const load = drive(server, 'canary-errors');
    await rollout(server, 'canary-errors', {
      modelUri: `models:/scorer/${V.throws}`,
      strategy: 'canary',
      stages: [30, 100],
      holdSeconds: 60,
      gates: { minRequests: 10 },
    });
    const done = await waitPhase(server, 'canary-errors', 'completed', 'rolled-back');
    const answers = await load.stop();
    expect(done.phase).toBe('rolled-back');
    expect(done.lastDecision).toMatch(/Rolling back from 30%: the candidate's error rate 100\.00%/);
    // Only the candidate failed; the primary answered every request it got.
    expect(answers.filter((a) => a.variant === 'v1').every((a) => a.status === 200)).toBe(true);
    expect(answers.some((a) => a.status === 500)).toBe(true);
    const d = await deployment(server, 'canary-errors');
    expect(d.status).toBe('ready');
    expect(d.variants.map((v) => [v.name, v.weight])).toEqual([['v1', 100]]);
    const after = await Promise.all([1, 2, 3, 4, 5].map((x) => infer(server, 'canary-errors', x)));
    expect(after.every((a) => a.status === 200 && a.variant === 'v1')).toBe(true);
    const rolledBack = (await events(server, 'canary-errors')).find(
      (e) => e.action === 'rollout-rolled-back',
    );
    expect(rolledBack?.details['measurements']).toMatchObject({ candidateErrorRate: 1 });
  }, 60_000);

  it('rolls back a candidate whose p95 latency breaches the gate', async () => {
    await createDeployment(server, 'canary-slow');
    const load = drive(server, 'canary-slow');
    await rollout(server, 'canary-slow', {
      modelUri: `models:/scorer/${V.slow}`,
      strategy: 'canary',
      stages: [50, 100],
      holdSeconds: 60,
      gates: { minRequests: 10, maxP95LatencyRatio: 3 },
    });
    const done = await waitPhase(server, 'canary-slow', 'completed', 'rolled-back');
    await load.stop();
    expect(done.phase).toBe('rolled-back');
    expect(done.lastDecision).toMatch(/p95 latency .* above the allowed 3\.00×/);
  }, 60_000);

  it('rolls back a candidate that fails to load; the deployment stays ready', async () => {
    await createDeployment(server, 'canary-broken');
    const load = drive(server, 'canary-broken');
    await rollout(server, 'canary-broken', {
      modelUri: `models:/scorer/${V.broken}`,
      strategy: 'canary',
    });
    const done = await waitPhase(server, 'canary-broken', 'rolled-back');
    const answers = await load.stop();
    expect(done.lastDecision).toMatch(/candidate 'v6' failed to load/);
    expect(answers.every((a) => a.status === 200 && a.variant === 'v1')).toBe(true);
    const d = await deployment(server, 'canary-broken');
    expect(d.status).toBe('ready');
    expect(d.variants.map((v) => v.name)).toEqual(['v1']);
  }, 60_000);
});

describe('blue-green rollouts', () => {
  it('switches all traffic once warm and rolls back instantly', async () => {
    await createDeployment(server, 'bg');
    const started = await rollout(server, 'bg', {
      modelUri: `models:/scorer/${V.triple}`,
      strategy: 'blue-green',
      holdSeconds: 600,
    });
    expect(started.status).toBe(200);
    // While warming, the old version serves everything.
    await waitPhase(server, 'bg', 'switched');
    const switched = await Promise.all([1, 2, 3, 4, 5, 6].map(() => infer(server, 'bg', 1)));
    expect(switched.map((a) => [a.variant, a.y])).toEqual(Array(6).fill(['v3', 3]));
    const d = await deployment(server, 'bg');
    expect(d.variants.map((v) => [v.name, v.weight, v.status])).toEqual([
      ['v1', 0, 'ready'],
      ['v3', 100, 'ready'],
    ]);

    const t0 = Date.now();
    const back = await call(server, 'POST', '/api/v1/deployments/bg/rollback', {
      reason: 'wrong answers',
    });
    expect(back.status).toBe(200);
    const first = await infer(server, 'bg', 1);
    // Instant: the old version never unloaded, so the next request is its answer.
    expect(first).toEqual({ status: 200, variant: 'v1', y: 2 });
    expect(Date.now() - t0).toBeLessThan(5_000);
    const rolledBack = (await events(server, 'bg')).at(-1);
    expect(rolledBack).toMatchObject({
      action: 'rollout-rolled-back',
      reason: 'Rolled back by anonymous: wrong answers.',
    });
  }, 60_000);

  it('completes after the watch and releases the old version', async () => {
    await createDeployment(server, 'bg-done');
    const load = drive(server, 'bg-done');
    await rollout(server, 'bg-done', {
      modelUri: `models:/scorer/${V.double2}`,
      strategy: 'blue-green',
      holdSeconds: 0.3,
      // Sub-millisecond latencies jitter by more than 1.2x on a busy machine.
      gates: { minRequests: 5, maxP95LatencyRatio: 50 },
    });
    const done = await waitPhase(server, 'bg-done', 'completed', 'rolled-back');
    const answers = await load.stop();
    expect(done.phase, done.lastDecision).toBe('completed');
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    expect((await deployment(server, 'bg-done')).variants.map((v) => v.name)).toEqual(['v2']);
  }, 60_000);
});

describe('A/B tests', () => {
  it('splits sticky per header, reports the significance test and promotes the better arm', async () => {
    await createDeployment(server, 'ab');
    const started = await rollout(server, 'ab', {
      modelUri: `models:/scorer/${V.double2}`,
      strategy: 'ab',
      weight: 50,
      stickyHeader: 'X-User-Id',
      metric: { name: 'converted', kind: 'proportion' },
      minSamples: 50,
      autoPromote: true,
    });
    expect(started.status).toBe(200);
    await waitPhase(server, 'ab', 'running');
    const users = Array.from({ length: 40 }, (_, i) => `user-${String(i)}`);
    const first = new Map<string, string | null>();
    for (const user of users) {
      first.set(user, (await infer(server, 'ab', 1, { 'x-user-id': user })).variant);
    }
    // Sticky: each user keeps its variant; both arms get users.
    for (const user of users.slice(0, 10)) {
      expect((await infer(server, 'ab', 1, { 'x-user-id': user })).variant).toBe(first.get(user));
    }
    expect(new Set(first.values())).toEqual(new Set(['v1', 'v2']));

    // Outcomes: v1 converts 20 %, v2 60 %, by variant name and by sticky key.
    const outcomes = [
      ...Array.from({ length: 60 }, (_, i) => ({ variant: 'v1', value: i % 5 === 0 ? 1 : 0 })),
      ...Array.from({ length: 60 }, (_, i) => ({ variant: 'v2', value: i % 5 < 3 ? 1 : 0 })),
    ];
    const keyed = users.map((user) => ({ key: user, value: first.get(user) === 'v2' ? 1 : 0 }));
    const report = await call(server, 'POST', '/api/v1/deployments/ab/outcomes', {
      outcomes: [...outcomes, ...keyed],
    });
    expect(report.status).toBe(200);
    expect(report.body).toMatchObject({ test: 'two-proportion z-test', decided: true });
    expect(report.body['pValue'] as number).toBeLessThan(0.001);
    const done = await waitPhase(server, 'ab', 'completed', 'rolled-back');
    expect(done.phase).toBe('completed');
    expect(done.lastDecision).toMatch(/A\/B test decided: 'converted' .* p=/);
    expect((await deployment(server, 'ab')).variants.map((v) => [v.name, v.role])).toEqual([
      ['v2', 'primary'],
    ]);
  }, 60_000);

  it('refuses outcomes that the metric does not take and changes nothing', async () => {
    await createDeployment(server, 'ab-bad');
    await rollout(server, 'ab-bad', {
      modelUri: `models:/scorer/${V.double2}`,
      strategy: 'ab',
      metric: { name: 'converted', kind: 'proportion' },
    });
    await waitPhase(server, 'ab-bad', 'running');
    const bad = await call(server, 'POST', '/api/v1/deployments/ab-bad/outcomes', {
      outcomes: [
        { variant: 'v1', value: 1 },
        { variant: 'v2', value: 2 },
      ],
    });
    expect(bad.status).toBe(400);
    expect(bad.body['message']).toMatch(
      /'converted' is a proportion metric: each outcome is 0 or 1, got 2/,
    );
    const unknown = await call(server, 'POST', '/api/v1/deployments/ab-bad/outcomes', {
      outcomes: [{ variant: 'v9', value: 1 }],
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body['message']).toMatch(/v1 or v2/);
    const metrics = await call(server, 'GET', '/api/v1/deployments/ab-bad/metrics');
    expect(
      (metrics.body['rollout'] as { ab: { primary: { count: number } } }).ab.primary.count,
    ).toBe(0);
  }, 60_000);
});

describe('shadow rollouts', () => {
  it('mirrors to a disagreeing candidate, never returns its answers, and rolls it back', async () => {
    await createDeployment(server, 'shadow-bad');
    const load = drive(server, 'shadow-bad');
    await rollout(server, 'shadow-bad', {
      modelUri: `models:/scorer/${V.triple}`,
      strategy: 'shadow',
      weight: 100,
      holdSeconds: 0.3,
      minAgreement: 0.9,
      autoPromote: true,
      gates: { minRequests: 10, maxP95LatencyRatio: 50 },
    });
    await waitPhase(server, 'shadow-bad', 'running');
    const metrics = await waitFor('mirrored requests', async () => {
      const m = await call(server, 'GET', '/api/v1/deployments/shadow-bad/metrics');
      const variants = m.body['variants'] as { shadow?: { mirrored: number; agreement: number } }[];
      const shadow = variants.find((v) => v.shadow !== undefined)?.shadow;
      return shadow !== undefined && shadow.mirrored >= 5 ? shadow : undefined;
    });
    expect(metrics.agreement).toBe(0);
    const done = await waitPhase(server, 'shadow-bad', 'completed', 'rolled-back');
    const answers = await load.stop();
    expect(done.phase).toBe('rolled-back');
    expect(done.lastDecision).toMatch(/0\.00% of \d+ mirrored answers agree/);
    expect(answers.every((a) => a.status === 200 && a.variant === 'v1' && a.y === 3)).toBe(true);
  }, 60_000);

  it('promotes an agreeing candidate after the shadow period', async () => {
    await createDeployment(server, 'shadow-ok');
    const load = drive(server, 'shadow-ok');
    await rollout(server, 'shadow-ok', {
      modelUri: `models:/scorer/${V.double2}`,
      strategy: 'shadow',
      holdSeconds: 0.3,
      autoPromote: true,
      gates: { minRequests: 10, maxP95LatencyRatio: 50 },
    });
    const done = await waitPhase(server, 'shadow-ok', 'completed', 'rolled-back');
    const answers = await load.stop();
    expect(done.phase, done.lastDecision).toBe('completed');
    expect(done.lastDecision).toMatch(/100\.00% of \d+ mirrored answers agree/);
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    expect((await deployment(server, 'shadow-ok')).variants.map((v) => v.name)).toEqual(['v2']);
  }, 60_000);
});

describe('a restart during a rollout', () => {
  it('reloads both variants and carries the rollout on where it was', async () => {
    const restartDir = await mkdtemp(join(tmpdir(), 'yard-rollout-restart-'));
    let first: ServingServer | undefined = await startServingServer(restartDir, 1024 * 1024, 50);
    let second: ServingServer | undefined;
    try {
      await registerModel(first, 'scorer', scorer('double'));
      await registerVersion(first, 'scorer', scorer('triple'));
      await createDeployment(first, 'kept');
      await rollout(first, 'kept', {
        modelUri: 'models:/scorer/2',
        strategy: 'ab',
        weight: 30,
        stickyField: 'user',
      });
      await waitPhase(first, 'kept', 'running');
      await first.close();
      first = undefined;

      second = await startServingServer(restartDir, 1024 * 1024, 50);
      const server2 = second;
      const d = await waitFor('both variants to reload', async () => {
        const got = await deployment(server2, 'kept');
        return got.variants.every((v) => v.status === 'ready') ? got : undefined;
      });
      expect(d.status).toBe('ready');
      expect(d.rollout?.phase).toBe('running');
      expect(d.variants.map((v) => [v.name, v.role, v.weight])).toEqual([
        ['v1', 'primary', 70],
        ['v2', 'candidate', 30],
      ]);
      // The sticky field routes as before the restart: one user, one variant, both in use.
      const seen = new Set<string | null>();
      for (let user = 0; user < 30; user += 1) {
        const res = await call(server2, 'POST', '/v2/models/kept/infer', {
          parameters: { user: `u${String(user)}` },
          inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [1] }],
        });
        expect(res.status).toBe(200);
        seen.add(res.headers.get('x-modelyard-variant'));
      }
      expect(seen).toEqual(new Set(['v1', 'v2']));
    } finally {
      await first?.close();
      await second?.close();
      await rm(restartDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('rollout requests that are refused', () => {
  it('names the problem and changes nothing', async () => {
    await createDeployment(server, 'guarded');
    const before = await events(server, 'guarded');
    const badStrategy = await rollout(server, 'guarded', {
      modelUri: `models:/scorer/${V.double2}`,
      strategy: 'linear',
    });
    expect(badStrategy.status).toBe(400);
    expect(String(badStrategy.body['message'])).toMatch(/strategy/);
    const same = await rollout(server, 'guarded', {
      modelUri: `models:/scorer/${V.double}`,
      strategy: 'canary',
    });
    expect(same.status).toBe(400);
    expect(same.body['message']).toMatch(/already serves scorer version 1/);
    const misplaced = await rollout(server, 'guarded', {
      modelUri: `models:/scorer/${V.double2}`,
      strategy: 'blue-green',
      stages: [10, 100],
    });
    expect(misplaced.status).toBe(400);
    expect(misplaced.body['message']).toMatch(/'stages' does not apply to a blue-green rollout/);
    const noVersion = await rollout(server, 'guarded', {
      modelUri: 'models:/scorer/99',
      strategy: 'canary',
    });
    expect(noVersion.status).toBe(404);
    const nothing = await call(server, 'POST', '/api/v1/deployments/guarded/rollback', {});
    expect(nothing.status).toBe(400);
    expect(nothing.body['message']).toMatch(/has no rollout in progress/);
    expect(await events(server, 'guarded')).toEqual(before);

    await rollout(server, 'guarded', {
      modelUri: `models:/scorer/${V.double2}`,
      strategy: 'canary',
      holdSeconds: 600,
    });
    const second = await rollout(server, 'guarded', {
      modelUri: `models:/scorer/${V.triple}`,
      strategy: 'canary',
    });
    expect(second.status).toBe(400);
    expect(second.body['message']).toMatch(/has a canary rollout of 'v2' in progress/);
    const promoted = await waitFor('promotion', async () => {
      const res = await call(server, 'POST', '/api/v1/deployments/guarded/promote', {});
      return res.status === 200 ? res : undefined;
    });
    expect((promoted.body['rollout'] as RolloutView).phase).toBe('completed');
    await waitFor('v1 to leave', async () => {
      const d = await deployment(server, 'guarded');
      return d.variants.length === 1 ? d : undefined;
    });
  }, 60_000);
});

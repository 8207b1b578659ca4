// The serving workloads: request bodies, the correctness cross-check, closed-loop rounds at each
// concurrency, the paced (open-loop) latency run, and the in-process onnxruntime floor.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { log } from '../lib/report.mjs';
import { closedLoop, median, percentile, round } from '../lib/stats.mjs';

/**
 * @typedef {object} Sizes
 * @property {number[]} concurrencies  closed-loop clients per step, e.g. 1, 8, 32
 * @property {number} rounds            timed rounds per concurrency
 * @property {number} roundSeconds      minimum length of a round
 * @property {number} warmupSeconds     untimed load before the rounds of each concurrency
 * @property {number} pacedSeconds      length of the paced run at half saturation
 */

/**
 * The fixture's inputs and expected answers (`expected.json` beside the model).
 * @typedef {object} Fixture
 * @property {string} dir
 * @property {string} inputName
 * @property {number[][]} rows
 * @property {number[]} labels
 */

/**
 * Reads the model fixture.
 * @param {string} dir  an MLflow model directory holding `model.onnx` and `expected.json`
 * @returns {Fixture}
 */
export function loadFixture(dir) {
  const expected = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8'));
  return {
    dir,
    inputName: expected.input.name,
    rows: expected.input.rows,
    labels: expected.label,
  };
}

/**
 * One protocol a server is driven with: where to POST, the pre-serialized one-row bodies (one per
 * fixture row) and how to read the predicted label out of an answer.
 * @typedef {object} Protocol
 * @property {string} key       `v2` or `invocations`
 * @property {string} path
 * @property {Buffer[]} bodies  bodies[i] carries fixture row i
 * @property {(answer: any) => unknown} label
 */

/**
 * OIP v2 JSON inference, one FP32 [1, 20] tensor per request.
 * @param {Fixture} fixture
 * @param {string} model  the model (deployment) name in the URL
 * @returns {Protocol}
 */
export function oipV2(fixture, model) {
  return {
    key: 'v2',
    path: `/v2/models/${model}/infer`,
    bodies: fixture.rows.map((row) =>
      Buffer.from(
        JSON.stringify({
          inputs: [
            { name: fixture.inputName, datatype: 'FP32', shape: [1, row.length], data: row },
          ],
        }),
      ),
    ),
    label: (answer) => {
      /** @type {{ name: string, data: unknown[] }[]} */
      const outputs = answer?.outputs ?? [];
      const out = outputs.find((o) => o.name === 'label') ?? outputs[0];
      return out?.data?.[0];
    },
  };
}

/**
 * MLflow scoring (`/invocations`), `{"inputs": [[...20 floats]]}` per request.
 * @param {Fixture} fixture
 * @param {string} urlPath  `/invocations` or `/endpoints/<name>/invocations`
 * @returns {Protocol}
 */
export function invocations(fixture, urlPath) {
  return {
    key: 'invocations',
    path: urlPath,
    bodies: fixture.rows.map((row) => Buffer.from(JSON.stringify({ inputs: [row] }))),
    label: (answer) => {
      const p = answer?.predictions;
      if (Array.isArray(p)) return p[0]?.label ?? p[0];
      return p?.label?.[0];
    },
  };
}

/**
 * Sends each fixture row once, one per request, and compares the labels with the expected ones.
 * @param {import('../lib/http-client.mjs').JsonClient} client
 * @param {Protocol} protocol
 * @param {Fixture} fixture
 * @returns {Promise<{ ok: boolean, expected: number[], got: unknown[], error?: string }>}
 */
export async function checkPredictions(client, protocol, fixture) {
  /** @type {unknown[]} */
  const got = [];
  try {
    for (const body of protocol.bodies) {
      got.push(protocol.label((await client.request('POST', protocol.path, body)).body));
    }
  } catch (err) {
    return {
      ok: false,
      expected: fixture.labels,
      got,
      error: err instanceof Error ? err.message : String(err),
    };
  }
  const ok = got.length === fixture.labels.length && got.every((g, i) => g === fixture.labels[i]);
  return { ok, expected: fixture.labels, got };
}

/**
 * Throughput and latency of one concurrency step.
 * @typedef {object} StepResult
 * @property {number} clients
 * @property {number} reqPerSec   median over rounds
 * @property {number} p50Ms       over all calls of all rounds
 * @property {number} p99Ms
 * @property {number} calls
 * @property {number} wrongLabels answers whose label differed from the expected one
 * @property {number[]} roundsReqPerSec
 */

/**
 * Runs closed-loop rounds at one concurrency: a warm-up, then `sizes.rounds` timed rounds.
 * `call(n)` performs call number n and resolves to whether its answer was right.
 * @param {Sizes} sizes
 * @param {number} clients
 * @param {(n: number) => Promise<boolean>} call
 * @returns {Promise<StepResult>}
 */
export async function measureStep(sizes, clients, call) {
  let wrong = 0;
  const timed = async (/** @type {number} */ _c, /** @type {number} */ n) => {
    if (!(await call(n))) wrong++;
  };
  await closedLoop(
    { clients, minSeconds: sizes.warmupSeconds, minCalls: clients, maxCalls: Infinity },
    timed,
  );
  wrong = 0;
  /** @type {number[]} */
  const all = [];
  /** @type {number[]} */
  const rates = [];
  let calls = 0;
  for (let r = 0; r < sizes.rounds; r++) {
    const res = await closedLoop(
      { clients, minSeconds: sizes.roundSeconds, minCalls: clients, maxCalls: Infinity },
      timed,
    );
    rates.push(res.calls / res.seconds);
    for (const l of res.latenciesMs) all.push(l);
    calls += res.calls;
  }
  return {
    clients,
    reqPerSec: round(median(rates)),
    p50Ms: round(percentile(all, 50)),
    p99Ms: round(percentile(all, 99)),
    calls,
    wrongLabels: wrong,
    roundsReqPerSec: rates.map((x) => round(x)),
  };
}

/**
 * An HTTP call function for {@link measureStep}: cycles through the fixture rows and checks
 * every answer's label.
 * @param {import('../lib/http-client.mjs').JsonClient} client
 * @param {Protocol} protocol
 * @param {Fixture} fixture
 * @returns {(n: number) => Promise<boolean>}
 */
export function httpCall(client, protocol, fixture) {
  const k = protocol.bodies.length;
  return async (n) => {
    const i = n % k;
    const res = await client.request('POST', protocol.path, protocol.bodies[i]);
    return protocol.label(res.body) === fixture.labels[i];
  };
}

/**
 * Runs every concurrency step of one protocol against one server.
 * @param {Sizes} sizes
 * @param {string} label  for progress lines
 * @param {number[]} concurrencies
 * @param {(n: number) => Promise<boolean>} call
 * @returns {Promise<StepResult[]>}
 */
export async function measureSteps(sizes, label, concurrencies, call) {
  /** @type {StepResult[]} */
  const steps = [];
  for (const clients of concurrencies) {
    const step = await measureStep(sizes, clients, call);
    log(
      `  ${label} @${clients}: ${step.reqPerSec} req/s, p50 ${step.p50Ms} ms, p99 ${step.p99Ms} ms` +
        (step.wrongLabels ? `, ${step.wrongLabels} WRONG labels` : ''),
    );
    steps.push(step);
  }
  return steps;
}

/**
 * Sends requests at a fixed rate regardless of answers (open loop) for `seconds`, so latency is
 * measured at a known load instead of at saturation. Latency counts from the moment a request was
 * due, so a generator or server falling behind shows up in it (no coordinated omission).
 * @param {number} rate     requests per second
 * @param {number} seconds
 * @param {(n: number) => Promise<boolean>} call
 */
export async function pacedRun(rate, seconds, call) {
  const interval = 1000 / rate;
  /** @type {number[]} */
  const latenciesMs = [];
  /** @type {Set<Promise<void>>} */
  const pending = new Set();
  let sent = 0;
  let wrong = 0;
  let failed = 0;
  /** @type {string | undefined} */
  let firstError;
  const t0 = performance.now();
  for (;;) {
    const now = performance.now() - t0;
    if (now >= seconds * 1000) break;
    const due = Math.floor(now / interval) + 1;
    while (sent < due) {
      const scheduled = t0 + sent * interval;
      const p = call(sent)
        .then(
          (ok) => {
            if (!ok) wrong++;
            latenciesMs.push(performance.now() - scheduled);
          },
          (/** @type {unknown} */ err) => {
            failed++;
            firstError ??= err instanceof Error ? err.message : String(err);
          },
        )
        .finally(() => pending.delete(p));
      pending.add(p);
      sent++;
    }
    await sleep(1);
  }
  await Promise.all(pending);
  const elapsed = (performance.now() - t0) / 1000;
  return {
    targetReqPerSec: round(rate),
    achievedReqPerSec: round(latenciesMs.length / elapsed),
    calls: latenciesMs.length,
    p50Ms: round(percentile(latenciesMs, 50)),
    p99Ms: round(percentile(latenciesMs, 99)),
    maxMs: round(Math.max(...latenciesMs)),
    wrongLabels: wrong,
    failed,
    ...(firstError ? { firstError } : {}),
  };
}

/**
 * The floor: the fixture's model.onnx in onnxruntime-node inside this process, one-row inputs,
 * no HTTP. Session options match what `yard server` gives a replica (one intra-op thread).
 * @param {Sizes} sizes
 * @param {Fixture} fixture
 */
export async function measureFloor(sizes, fixture) {
  const ort = await import('onnxruntime-node');
  const rssBefore = process.memoryUsage().rss;
  const session = await ort.InferenceSession.create(path.join(fixture.dir, 'model.onnx'), {
    intraOpNumThreads: 1,
  });
  const inputs = fixture.rows.map((row) => Float32Array.from(row));
  const k = inputs.length;
  /** @param {number} n */
  const call = async (n) => {
    const i = n % k;
    const data = /** @type {Float32Array} */ (inputs[i]);
    const out = await session.run({
      [fixture.inputName]: new ort.Tensor('float32', data, [1, data.length]),
    });
    const label = out.label?.data[0];
    return Number(label) === fixture.labels[i];
  };
  /** @type {number[]} */
  const got = [];
  for (let i = 0; i < k; i++) {
    const data = /** @type {Float32Array} */ (inputs[i]);
    const out = await session.run({
      [fixture.inputName]: new ort.Tensor('float32', data, [1, data.length]),
    });
    got.push(Number(out.label?.data[0]));
  }
  const check = {
    ok: got.every((g, i) => g === fixture.labels[i]),
    expected: fixture.labels,
    got,
  };
  const steps = await measureSteps(sizes, 'floor', sizes.concurrencies, call);
  const rssMB = Math.round((process.memoryUsage().rss / 2 ** 20) * 10) / 10;
  await session.release();
  return {
    label: 'onnxruntime-node in-process (no HTTP)',
    available: true,
    check,
    steps,
    memory: {
      rssMB,
      note:
        'RSS of the benchmark process itself (load generator included); ' +
        `it was ${Math.round((rssBefore / 2 ** 20) * 10) / 10} MB before the session was created`,
    },
  };
}

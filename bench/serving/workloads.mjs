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
 * One benchmark model: an MLflow model directory with its inputs and expected answers
 * (`expected.json` beside the model).
 * @typedef {object} Fixture
 * @property {string} key            `iris` or `cnn`: the deployment / model name in URLs
 * @property {string} dir
 * @property {string} inputName
 * @property {number[]} rowShape     the shape of one row (the input's shape without the batch
 *   dimension): [20] for iris, [3, 32, 32] for the CNN
 * @property {number[][]} rows       each row's values, flat, row-major
 * @property {number[]} labels
 * @property {number[][] | undefined} probabilities  expected class probabilities per row
 */

/**
 * Reads a model fixture.
 * @param {string} key  the model's name in URLs
 * @param {string} dir  an MLflow model directory holding `model.onnx` and `expected.json`
 * @returns {Fixture}
 */
export function loadFixture(key, dir) {
  const expected = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8'));
  /** @type {number[]} */
  const shape = expected.input.shape;
  return {
    key,
    dir,
    inputName: expected.input.name,
    rowShape: shape.slice(1),
    rows: expected.input.rows,
    labels: expected.label,
    probabilities: expected.probabilities,
  };
}

/**
 * A flat row-major list nested as `shape` (what `np.array(...).reshape(shape).tolist()` gives),
 * for bodies whose tensors carry their shape in their nesting.
 * @param {number[]} flat
 * @param {number[]} shape
 * @returns {unknown[]}
 */
export function nest(flat, shape) {
  if (shape.length <= 1) return flat;
  const [, ...inner] = shape;
  const size = inner.reduce((a, b) => a * b, 1);
  return Array.from({ length: shape[0] ?? 0 }, (_, i) =>
    nest(flat.slice(i * size, (i + 1) * size), inner),
  );
}

/**
 * One protocol a server is driven with: where to POST, the pre-serialized one-row bodies (one per
 * fixture row) and how to read the predicted label and class probabilities out of an answer.
 * @typedef {object} Protocol
 * @property {string} key       `v2` or `invocations`
 * @property {string} path
 * @property {Buffer[]} bodies  bodies[i] carries fixture row i
 * @property {(answer: any) => unknown} label
 * @property {(answer: any) => unknown} probabilities  the row's probabilities, flat
 */

/**
 * OIP v2 JSON inference, one FP32 [1, ...rowShape] tensor per request, its data flat.
 * @param {Fixture} fixture
 * @param {string} model  the model (deployment) name in the URL
 * @returns {Protocol}
 */
export function oipV2(fixture, model) {
  /** @param {any} answer @param {string} name */
  const output = (answer, name) => {
    /** @type {{ name: string, data: unknown[] }[]} */
    const outputs = answer?.outputs ?? [];
    return outputs.find((o) => o.name === name);
  };
  return {
    key: 'v2',
    path: `/v2/models/${model}/infer`,
    bodies: fixture.rows.map((row) =>
      Buffer.from(
        JSON.stringify({
          inputs: [
            {
              name: fixture.inputName,
              datatype: 'FP32',
              shape: [1, ...fixture.rowShape],
              data: row,
            },
          ],
        }),
      ),
    ),
    label: (answer) => (output(answer, 'label') ?? answer?.outputs?.[0])?.data?.[0],
    probabilities: (answer) => output(answer, 'probabilities')?.data?.flat(),
  };
}

/**
 * MLflow scoring (`/invocations`), `{"inputs": [row]}` per request, the row nested as its shape
 * (a list of 20 numbers for iris, 3 x 32 x 32 nested lists for the CNN).
 * @param {Fixture} fixture
 * @param {string} urlPath  `/invocations` or `/endpoints/<name>/invocations`
 * @returns {Protocol}
 */
export function invocations(fixture, urlPath) {
  /** @param {any} answer @param {string} name */
  const prediction = (answer, name) => {
    const p = answer?.predictions;
    if (Array.isArray(p)) return name === 'label' ? (p[0]?.label ?? p[0]) : p[0]?.[name];
    return p?.[name]?.[0];
  };
  return {
    key: 'invocations',
    path: urlPath,
    bodies: fixture.rows.map((row) =>
      Buffer.from(JSON.stringify({ inputs: [nest(row, fixture.rowShape)] })),
    ),
    label: (answer) => prediction(answer, 'label'),
    probabilities: (answer) => {
      const p = prediction(answer, 'probabilities');
      return Array.isArray(p) ? p.flat() : p;
    },
  };
}

/**
 * The largest difference between expected and answered probabilities, or null when the answer
 * carries none (or the fixture has none).
 * @param {number[] | undefined} expected
 * @param {unknown} got
 * @returns {number | null}
 */
function probabilityError(expected, got) {
  if (expected === undefined || !Array.isArray(got)) return null;
  if (got.length !== expected.length) return Infinity;
  let worst = 0;
  expected.forEach((e, i) => {
    worst = Math.max(worst, Math.abs(e - Number(got[i])));
  });
  return Number.isNaN(worst) ? Infinity : worst;
}

/** How far answered class probabilities may be from onnxruntime-node's own. */
export const PROBABILITY_TOLERANCE = 1e-4;

/**
 * Sends each fixture row once, one per request, and compares the labels with the expected ones
 * and the class probabilities (when the answer has them) within {@link PROBABILITY_TOLERANCE}.
 * @param {import('../lib/http-client.mjs').JsonClient} client
 * @param {Protocol} protocol
 * @param {Fixture} fixture
 * @returns {Promise<{ ok: boolean, expected: number[], got: unknown[], maxProbabilityError: number | null, error?: string }>}
 */
export async function checkPredictions(client, protocol, fixture) {
  /** @type {unknown[]} */
  const got = [];
  /** @type {number | null} */
  let maxProbabilityError = null;
  try {
    for (const [i, body] of protocol.bodies.entries()) {
      const answer = (await client.request('POST', protocol.path, body)).body;
      got.push(protocol.label(answer));
      const err = probabilityError(fixture.probabilities?.[i], protocol.probabilities(answer));
      if (err !== null) maxProbabilityError = Math.max(maxProbabilityError ?? 0, err);
    }
  } catch (err) {
    return {
      ok: false,
      expected: fixture.labels,
      got,
      maxProbabilityError,
      error: err instanceof Error ? err.message : String(err),
    };
  }
  const ok =
    got.length === fixture.labels.length &&
    got.every((g, i) => g === fixture.labels[i]) &&
    (maxProbabilityError ?? 0) <= PROBABILITY_TOLERANCE;
  return { ok, expected: fixture.labels, got, maxProbabilityError };
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
 * Warms a server up before its first measured step: `clients` closed loops for `seconds`, so that
 * a JIT-compiled server (Node's) is measured compiled, like the interpreted ones, whatever
 * concurrency comes first. Answers are not counted.
 * @param {number} seconds
 * @param {number} clients
 * @param {(n: number) => Promise<boolean>} call
 */
export async function warmUp(seconds, clients, call) {
  await closedLoop(
    { clients, minSeconds: seconds, minCalls: clients, maxCalls: Infinity },
    (_c, n) => call(n).then(() => undefined),
  );
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
 * due, so a generator or server falling behind shows up in it (no coordinated omission). The
 * generator wakes about every millisecond and sends what is due, so requests leave in small
 * bursts and somewhat late: how late (`sendLag*`) and the latency from the actual send
 * (`fromSend*`) are reported too, to tell the generator's share of the tail from the server's.
 * @param {number} rate     requests per second
 * @param {number} seconds
 * @param {(n: number) => Promise<boolean>} call
 */
export async function pacedRun(rate, seconds, call) {
  const interval = 1000 / rate;
  /** @type {number[]} */
  const latenciesMs = [];
  /** @type {number[]} */
  const fromSendMs = [];
  /** @type {number[]} */
  const lagMs = [];
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
      const sendAt = performance.now();
      lagMs.push(sendAt - scheduled);
      const p = call(sent)
        .then(
          (ok) => {
            if (!ok) wrong++;
            const end = performance.now();
            latenciesMs.push(end - scheduled);
            fromSendMs.push(end - sendAt);
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
    sendLagP50Ms: round(percentile(lagMs, 50)),
    sendLagP99Ms: round(percentile(lagMs, 99)),
    fromSendP50Ms: round(percentile(fromSendMs, 50)),
    fromSendP99Ms: round(percentile(fromSendMs, 99)),
    wrongLabels: wrong,
    failed,
    ...(firstError ? { firstError } : {}),
  };
}

/**
 * The floor: the fixture's model.onnx in onnxruntime-node inside this process, one-row inputs,
 * no HTTP. Session options match what `yard server` gives a replica (one intra-op thread).
 * onnxruntime-node runs a session synchronously on the calling thread (`run` only defers to
 * `setImmediate`), so "n concurrent callers" are n closed loops whose single-row runs take turns
 * on this one thread: the best one session on one core does with no HTTP, no batching.
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
  const dims = [1, ...fixture.rowShape];
  const k = inputs.length;
  /** @param {number} i */
  const runRow = async (i) => {
    const data = /** @type {Float32Array} */ (inputs[i]);
    const out = await session.run({ [fixture.inputName]: new ort.Tensor('float32', data, dims) });
    return {
      label: Number(out.label?.data[0]),
      probabilities: Array.from(/** @type {Float32Array} */ (out.probabilities?.data ?? [])),
    };
  };
  /** @param {number} n */
  const call = async (n) => {
    const i = n % k;
    return (await runRow(i)).label === fixture.labels[i];
  };
  /** @type {number[]} */
  const got = [];
  /** @type {number | null} */
  let maxProbabilityError = null;
  for (let i = 0; i < k; i++) {
    const answer = await runRow(i);
    got.push(answer.label);
    const err = probabilityError(fixture.probabilities?.[i], answer.probabilities);
    if (err !== null) maxProbabilityError = Math.max(maxProbabilityError ?? 0, err);
  }
  const check = {
    ok:
      got.every((g, i) => g === fixture.labels[i]) &&
      (maxProbabilityError ?? 0) <= PROBABILITY_TOLERANCE,
    expected: fixture.labels,
    got,
    maxProbabilityError,
  };
  const steps = await measureSteps(sizes, `${fixture.key} floor`, sizes.concurrencies, call);
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

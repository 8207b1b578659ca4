// The servers under test in the serving benchmark: how each is installed, started, given the
// fixture model, and stopped.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { log } from '../lib/report.mjs';
import { freePort } from '../lib/server-process.mjs';

/** The MLServer release the benchmark compares against, with its MLflow runtime. */
export const MLSERVER_VERSION = '1.7.1';

/** onnx / onnxruntime for the Python peers (MLflow's ONNX flavour loads the model with them). */
const PY_ONNX = ['onnx==1.23.2', 'onnxruntime==1.32.0'];

/**
 * MLServer 1.7.1's inference workers call `asyncio.get_event_loop()` outside a running loop, which
 * uvloop >= 0.22 (what pip picks by default) turns into "RuntimeError: There is no current event
 * loop", so every worker dies at start and the model never loads; the last uvloop before that.
 */
const MLSERVER_UVLOOP = 'uvloop==0.21.0';

/**
 * Runs a command and returns its status and combined output.
 * @param {string} cmd
 * @param {string[]} args
 */
function runCapture(cmd, args) {
  log(`$ ${cmd} ${args.join(' ')}`);
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  return {
    ok: res.status === 0,
    output: `${res.stdout ?? ''}${res.stderr ?? ''}${res.error ? res.error.message : ''}`,
  };
}

/**
 * Whether an interpreter imports every module named.
 * @param {string} python
 * @param {string[]} modules
 */
function imports(python, modules) {
  return (
    spawnSync(python, ['-c', modules.map((m) => `import ${m}`).join('; ')], { stdio: 'ignore' })
      .status === 0
  );
}

/**
 * Makes sure the MLflow interpreter can load an ONNX model (MLflow's onnx flavour needs the `onnx`
 * and `onnxruntime` packages, which `pip install mlflow` does not bring).
 * @param {string} python
 * @returns {string} what was done
 */
export function ensureOnnxFor(python) {
  if (imports(python, ['onnx', 'onnxruntime'])) return 'onnx and onnxruntime already installed';
  const res = runCapture(python, [
    '-m',
    'pip',
    'install',
    '--disable-pip-version-check',
    '-q',
    ...PY_ONNX,
  ]);
  if (!res.ok) throw new Error(`pip install ${PY_ONNX.join(' ')} failed:\n${res.output}`);
  return `pip install ${PY_ONNX.join(' ')}`;
}

/**
 * Installs MLServer with its MLflow runtime into its own virtual environment
 * (`bench/.work/mlserver-venv`; its MLflow need not be the pinned one). Returns the interpreter,
 * or the pip error when it cannot be installed.
 * @param {string} workDir
 * @returns {{ ok: true, python: string, how: string, versions: Record<string, string> } | { ok: false, reason: string }}
 */
export function ensureMlserver(workDir) {
  const venv = path.resolve(workDir, 'mlserver-venv');
  const python = path.join(venv, 'bin', 'python');
  const system = process.env.PYTHON ?? 'python3';
  const want = ['mlserver', 'mlserver_mlflow', 'onnx', 'onnxruntime'];
  const uvloopPinned = () =>
    spawnSync(
      python,
      [
        '-c',
        `import importlib.metadata as m; assert m.version('uvloop') == '${MLSERVER_UVLOOP.split('==')[1]}'`,
      ],
      { stdio: 'ignore' },
    ).status === 0;
  let how = `venv ${venv} (already installed)`;
  if (!existsSync(python) || !imports(python, want) || !uvloopPinned()) {
    mkdirSync(workDir, { recursive: true });
    if (!existsSync(python)) {
      const v = runCapture(system, ['-m', 'venv', venv]);
      if (!v.ok) return { ok: false, reason: `python -m venv failed: ${v.output.slice(-2000)}` };
    }
    log(`installing mlserver==${MLSERVER_VERSION} + mlserver-mlflow into ${venv} (once)`);
    const pkgs = [
      `mlserver==${MLSERVER_VERSION}`,
      `mlserver-mlflow==${MLSERVER_VERSION}`,
      ...PY_ONNX,
      MLSERVER_UVLOOP,
    ];
    const res = runCapture(python, [
      '-m',
      'pip',
      'install',
      '--disable-pip-version-check',
      '-q',
      ...pkgs,
    ]);
    if (!res.ok || !imports(python, want) || !uvloopPinned()) {
      return {
        ok: false,
        reason: `pip install ${pkgs.join(' ')} failed: ${res.output.slice(-3000)}`,
      };
    }
    how = `pip install ${pkgs.join(' ')} into ${venv}`;
  }
  const versions = spawnSync(
    python,
    [
      '-c',
      'import json, importlib.metadata as m; print(json.dumps({p: m.version(p) for p in ' +
        '["mlserver", "mlserver-mlflow", "mlflow", "onnxruntime"]}))',
    ],
    { encoding: 'utf8' },
  );
  return { ok: true, python, how, versions: JSON.parse(versions.stdout || '{}') };
}

/**
 * Writes MLServer's settings and model-settings for the fixture served by its MLflow runtime.
 * MLServer's defaults apart from ports and the host (notably `parallel_workers`, left unset).
 * @param {string} dir        an empty folder that becomes MLServer's model repository
 * @param {string} modelDir   the MLflow model directory
 * @param {string} model      the model name in `/v2/models/<name>/infer`
 * @returns {Promise<number>} the HTTP port
 */
export async function writeMlserverConfig(dir, modelDir, model) {
  const [httpPort, grpcPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'settings.json'),
    JSON.stringify({
      host: '127.0.0.1',
      http_port: httpPort,
      grpc_port: grpcPort,
      metrics_port: metricsPort,
    }),
  );
  const modelRepo = path.join(dir, 'models', model);
  mkdirSync(modelRepo, { recursive: true });
  writeFileSync(
    path.join(modelRepo, 'model-settings.json'),
    JSON.stringify({
      name: model,
      implementation: 'mlserver_mlflow.MLflowRuntime',
      parameters: { uri: modelDir },
    }),
  );
  return httpPort;
}

/**
 * One raw request with a Buffer body (the JSON client sends JSON only); resolves to status and text.
 * @param {string} baseUrl
 * @param {'PUT' | 'POST' | 'GET'} method
 * @param {string} urlPath
 * @param {Buffer} [body]
 * @returns {Promise<{ status: number, text: string }>}
 */
function rawRequest(baseUrl, method, urlPath, body) {
  const url = new URL(urlPath, baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        agent: false,
        headers: body
          ? { 'content-type': 'application/octet-stream', 'content-length': body.length }
          : {},
      },
      (res) => {
        /** @type {Buffer[]} */
        const chunks = [];
        res.on('data', (c) => chunks.push(/** @type {Buffer} */ (c)));
        res.on('error', reject);
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Registers the fixture on a running `yard server` the way an MLflow client does: an experiment
 * and a run (MLflow REST API 2.0), the model files uploaded through the artifact proxy as the
 * run's `model` artifact, then a registered model and version 1 from `runs:/<run>/model`.
 * @param {import('../lib/http-client.mjs').JsonClient} client
 * @param {string} baseUrl
 * @param {string} modelDir
 * @param {string} model
 */
export async function registerFixture(client, baseUrl, modelDir, model) {
  const exp = await client.post('/api/2.0/mlflow/experiments/create', { name: `bench-${model}` });
  const run = await client.post('/api/2.0/mlflow/runs/create', {
    experiment_id: exp.experiment_id,
  });
  const info = run.run.info;
  const base = String(info.artifact_uri).replace(/^mlflow-artifacts:\/*/, '');
  for (const file of readdirSync(modelDir)) {
    const res = await rawRequest(
      baseUrl,
      'PUT',
      `/api/2.0/mlflow-artifacts/artifacts/${base}/model/${file}`,
      readFileSync(path.join(modelDir, file)),
    );
    if (res.status !== 200)
      throw new Error(`artifact upload of ${file}: ${res.status} ${res.text}`);
  }
  await client.post('/api/2.0/mlflow/registered-models/create', { name: model });
  const version = await client.post('/api/2.0/mlflow/model-versions/create', {
    name: model,
    source: `runs:/${info.run_id}/model`,
    run_id: info.run_id,
  });
  return /** @type {string} */ (version.model_version.version);
}

/**
 * `yard deployments create <name> --model models:/<model>/<version> --wait` with the built CLI.
 * @param {string} yardBin
 * @param {string} baseUrl
 * @param {string} name
 * @param {string} modelUri
 */
export function yardDeploy(yardBin, baseUrl, name, modelUri) {
  const res = runCapture(process.execPath, [
    yardBin,
    '--server',
    baseUrl,
    'deployments',
    'create',
    name,
    '--model',
    modelUri,
    '--wait',
    '--json',
  ]);
  if (!res.ok) throw new Error(`yard deployments create ${name} failed: ${res.output}`);
}

/**
 * Creates a deployment with dynamic batching through the native API (the CLI has no batching
 * flags) and waits until it leaves `loading`.
 * @param {import('../lib/http-client.mjs').JsonClient} client
 * @param {string} name
 * @param {string} modelUri
 * @param {{ maxBatchSize: number, maxLatencyMs: number }} batching
 */
export async function yardDeployBatched(client, name, modelUri, batching) {
  await client.post('/api/v1/deployments', { name, modelUri, batching });
  for (let i = 0; i < 1200; i++) {
    const d = await client.get(`/api/v1/deployments/${name}`);
    if (d.status === 'ready') return d;
    if (d.status !== 'loading') {
      throw new Error(`deployment ${name} is ${d.status}: ${d.statusReason ?? ''}`);
    }
    await sleep(50);
  }
  throw new Error(`deployment ${name} still loading after 60 s`);
}

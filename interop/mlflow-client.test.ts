/**
 * Runs the Python MLflow client scenarios (`interop/test_*.py`) against `yard server`.
 *
 * The scenarios start the server themselves (see `interop/conftest.py`), once per backend that
 * the environment provides. This file only launches pytest, streams its output and fails when
 * pytest fails. It builds nothing: run `npm run build` first.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const interopDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(interopDir);
const yardBin = path.join(repoRoot, 'packages', 'cli', 'dist', 'bin.js');
const python = process.env.MODELYARD_INTEROP_PYTHON ?? 'python3';
const required = process.env.MODELYARD_REQUIRE_INTEROP === '1';
const fifteenMinutes = 15 * 60 * 1000;

/** Why the Python side cannot run here, or undefined when it can. */
function pythonProblem(): string | undefined {
  const probe = spawnSync(
    python,
    [
      '-c',
      'import mlflow, sklearn, pandas, pytest, boto3, tritonclient.http, skl2onnx, onnxruntime',
    ],
    {
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  if (probe.error) {
    return `cannot run '${python}': ${probe.error.message}`;
  }
  if (probe.status !== 0) {
    const detail = probe.stderr.trim().split('\n').at(-1) ?? '';
    return `'${python}' cannot import the interop requirements (${detail}); install them with: ${python} -m pip install -r interop/requirements.txt`;
  }
  return undefined;
}

/** Runs pytest, copying its output to ours as it arrives; resolves with its exit code and tail. */
function runPytest(args: readonly string[]): Promise<{ code: number | null; tail: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-m', 'pytest', ...args], {
      cwd: repoRoot,
      env: { ...process.env, PYTHONUNBUFFERED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const keep = (chunk: Buffer, sink: NodeJS.WriteStream): void => {
      sink.write(chunk);
      tail = (tail + chunk.toString('utf8')).slice(-2000);
    };
    child.stdout.on('data', (chunk: Buffer) => {
      keep(chunk, process.stdout);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      keep(chunk, process.stderr);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, tail });
    });
  });
}

const problem = pythonProblem();

if (problem !== undefined && !required) {
  console.warn(
    `[interop] SKIPPED: the Python MLflow client scenarios did not run: ${problem}. ` +
      'Set MODELYARD_REQUIRE_INTEROP=1 to make this a failure.',
  );
}

describe.skipIf(problem !== undefined && !required)('the Python MLflow client', () => {
  it(
    'runs every interop scenario against yard server without a failure',
    async () => {
      if (problem !== undefined) {
        throw new Error(
          `MODELYARD_REQUIRE_INTEROP=1 but the Python MLflow client cannot run: ${problem}`,
        );
      }
      if (!existsSync(yardBin)) {
        throw new Error(`${yardBin} is missing: run \`npm run build\` before the interop tests.`);
      }
      const extra = (process.env.MODELYARD_INTEROP_PYTEST_ARGS ?? '').split(/\s+/).filter(Boolean);
      const { code, tail } = await runPytest([
        'interop',
        '-q',
        '-p',
        'no:cacheprovider',
        '--server=yard',
        ...extra,
      ]);
      expect(code, `pytest exited with ${code}; last output:\n${tail}`).toBe(0);
    },
    fifteenMinutes,
  );
});

// Installs and locates the MLflow tracking server used as the peer in the tracking benchmark.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { log } from './report.mjs';

/** The MLflow version the benchmark compares against (the issue pins it). */
export const MLFLOW_VERSION = '3.18.0';

/**
 * The last release whose `mlflow-skinny` / `mlflow-tracing` companions are known to be on the
 * registry; used only to pull in the dependency set when the pinned release's companions are not
 * published (see {@link ensureMlflow}).
 */
const DEPENDENCY_DONOR_VERSION = '3.17.2';

/**
 * @typedef {object} MlflowInstall
 * @property {string} python    the interpreter whose `-m mlflow` is the pinned release
 * @property {string} version   `mlflow.__version__` as reported by that interpreter
 * @property {string} how       how the install was obtained (reused, pip, pip with donor deps)
 */

/**
 * Returns `mlflow.__version__` for an interpreter, or null when mlflow is not importable there.
 * @param {string} python
 * @returns {string | null}
 */
function mlflowVersionOf(python) {
  const res = spawnSync(python, ['-c', 'import mlflow; print(mlflow.__version__)'], {
    encoding: 'utf8',
  });
  if (res.status !== 0) return null;
  return res.stdout.trim();
}

/**
 * Runs a command, streaming its output to stderr; throws when it fails.
 * @param {string} cmd
 * @param {string[]} args
 * @returns {boolean} whether it exited 0
 */
function run(cmd, args) {
  log(`$ ${cmd} ${args.join(' ')}`);
  const res = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  return res.status === 0;
}

/**
 * Makes sure a Python interpreter with exactly `mlflow==MLFLOW_VERSION` exists and returns it.
 *
 * Order: (1) a system `python3` that already imports that exact version is reused; (2) otherwise a
 * virtual environment under `bench/.work/venv` gets `pip install mlflow==<pinned>`; (3) when pip
 * cannot resolve that (the registry has the `mlflow` wheel but not yet its exact-pinned
 * `mlflow-skinny` / `mlflow-tracing` companions), the dependency set of the previous release is
 * installed, its three mlflow distributions removed, and the pinned `mlflow` wheel — which carries
 * the whole `mlflow` Python package, server included — installed with `--no-deps`. The result
 * reports which path was taken.
 *
 * @param {string} workDir  `bench/.work`
 * @returns {MlflowInstall}
 * @throws {Error} when no path yields the pinned version
 */
export function ensureMlflow(workDir) {
  const system = process.env.PYTHON ?? 'python3';
  if (mlflowVersionOf(system) === MLFLOW_VERSION) {
    return { python: system, version: MLFLOW_VERSION, how: `reused ${system}` };
  }
  mkdirSync(workDir, { recursive: true });
  const venv = path.resolve(workDir, 'venv');
  const python = path.join(venv, 'bin', 'python');
  if (existsSync(python) && mlflowVersionOf(python) === MLFLOW_VERSION) {
    return { python, version: MLFLOW_VERSION, how: `venv ${venv} (already installed)` };
  }
  log(`installing mlflow==${MLFLOW_VERSION} into ${venv} (a few minutes, once)`);
  if (!existsSync(python) && !run(system, ['-m', 'venv', venv])) {
    throw new Error(`Could not create a virtual environment at ${venv} with ${system}.`);
  }
  const pip = [python, '-m', 'pip', 'install', '--disable-pip-version-check', '-q'];
  /** @param {string[]} args */
  const pipRun = (args) => run(/** @type {string} */ (pip[0]), [...pip.slice(1), ...args]);
  if (pipRun([`mlflow==${MLFLOW_VERSION}`]) && mlflowVersionOf(python) === MLFLOW_VERSION) {
    return { python, version: MLFLOW_VERSION, how: `pip install mlflow==${MLFLOW_VERSION}` };
  }
  log(
    `pip could not resolve mlflow==${MLFLOW_VERSION} (its exact-pinned mlflow-skinny/mlflow-tracing ` +
      `are not on the registry); installing the dependency set of ${DEPENDENCY_DONOR_VERSION} and ` +
      `the ${MLFLOW_VERSION} wheel with --no-deps`,
  );
  const ok =
    pipRun([`mlflow==${DEPENDENCY_DONOR_VERSION}`]) &&
    run(python, [
      '-m',
      'pip',
      'uninstall',
      '-y',
      '-q',
      'mlflow',
      'mlflow-skinny',
      'mlflow-tracing',
    ]) &&
    pipRun(['--no-deps', `mlflow==${MLFLOW_VERSION}`]);
  const version = mlflowVersionOf(python);
  if (!ok || version !== MLFLOW_VERSION) {
    throw new Error(
      `Could not install mlflow==${MLFLOW_VERSION} into ${venv} (got ${version ?? 'nothing'}). ` +
        `Delete ${venv} and retry, or set PYTHON to an interpreter that has it.`,
    );
  }
  return {
    python,
    version,
    how:
      `pip install --no-deps mlflow==${MLFLOW_VERSION} over the dependencies of ` +
      `mlflow==${DEPENDENCY_DONOR_VERSION} (the pinned mlflow-skinny/-tracing were not published)`,
  };
}

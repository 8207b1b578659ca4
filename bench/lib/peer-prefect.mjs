// Installs and locates Prefect, the peer of the pipelines benchmark, in its own virtual environment.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { log } from './report.mjs';

/** The Prefect version the benchmark compares against (the issue pins it). */
export const PREFECT_VERSION = '3.9.1';

/**
 * @typedef {object} PrefectInstall
 * @property {string} python   the venv's interpreter (`-m prefect` is the pinned release)
 * @property {string} prefect  the venv's `prefect` command
 * @property {string} version  `prefect.__version__` as that interpreter reports it
 * @property {string} how      how the install was obtained (reused, pip, pip with a relaxed pin)
 */

/**
 * @typedef {object} PrefectMissing
 * @property {false} available
 * @property {string} reason   what failed, with pip's output
 */

/**
 * Returns `prefect.__version__` for an interpreter, or null when prefect is not importable there.
 * @param {string} python
 * @returns {string | null}
 */
function prefectVersionOf(python) {
  const res = spawnSync(python, ['-c', 'import prefect; print(prefect.__version__)'], {
    encoding: 'utf8',
  });
  return res.status === 0 ? res.stdout.trim() : null;
}

/**
 * Runs a command, collecting its output; logs the command line.
 * @param {string} cmd
 * @param {string[]} args
 * @returns {{ ok: boolean, output: string }}
 */
function run(cmd, args) {
  log(`$ ${cmd} ${args.join(' ')}`);
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  const output = `${res.stdout ?? ''}${res.stderr ?? ''}${res.error ? res.error.message : ''}`;
  return { ok: res.status === 0, output: output.trim() };
}

/**
 * Makes sure `bench/.work/prefect-venv` holds exactly `prefect==PREFECT_VERSION` and returns it.
 *
 * Order: (1) an existing venv with that version is reused; (2) otherwise the venv is made and
 * `pip install prefect==<pinned>` runs once; (3) when pip cannot resolve that because one of
 * Prefect's lower bounds names a release the registry does not have yet (3.9.1 asks for
 * `certifi>=2026.10.19` while the newest certifi there was 2026.10.18 when this was written), the
 * pinned `prefect` wheel is installed with `--no-deps` and its own requirement list (read from its
 * metadata, extras left out) installed with only the unresolvable lower bounds dropped. The
 * result's `how` names the dropped bounds; `pip check` output is logged.
 *
 * @param {string} workDir  `bench/.work`
 * @returns {PrefectInstall | PrefectMissing}
 */
export function ensurePrefect(workDir) {
  const venv = path.resolve(workDir, 'prefect-venv');
  const python = path.join(venv, 'bin', 'python');
  const prefect = path.join(venv, 'bin', 'prefect');
  const found = (/** @type {string} */ how) => ({
    python,
    prefect,
    version: PREFECT_VERSION,
    how,
  });
  if (existsSync(python) && prefectVersionOf(python) === PREFECT_VERSION) {
    return found(`venv ${venv} (already installed)`);
  }
  mkdirSync(workDir, { recursive: true });
  log(`installing prefect==${PREFECT_VERSION} into ${venv} (a minute, once)`);
  const system = process.env.PYTHON ?? 'python3';
  if (!existsSync(python)) {
    const made = run(system, ['-m', 'venv', venv]);
    if (!made.ok) {
      return {
        available: false,
        reason: `could not create a virtual environment at ${venv} with ${system}: ${made.output}`,
      };
    }
  }
  const pip = ['-m', 'pip', 'install', '--disable-pip-version-check', '-q'];
  const direct = run(python, [...pip, `prefect==${PREFECT_VERSION}`]);
  if (direct.ok && prefectVersionOf(python) === PREFECT_VERSION) {
    return found(`pip install prefect==${PREFECT_VERSION}`);
  }
  // Which requirement could not be met: pip says "No matching distribution found for X>=v".
  const unmet = [...direct.output.matchAll(/No matching distribution found for ([A-Za-z0-9_.-]+)/g)]
    .map((m) => (m[1] ?? '').toLowerCase())
    .filter(Boolean);
  if (unmet.length === 0) {
    return {
      available: false,
      reason: `pip install prefect==${PREFECT_VERSION} failed:\n${direct.output}`,
    };
  }
  log(
    `pip could not resolve prefect==${PREFECT_VERSION}: no release of ${unmet.join(', ')} meets ` +
      `its lower bound; installing its requirements without that bound`,
  );
  const wheel = run(python, [...pip, '--no-deps', `prefect==${PREFECT_VERSION}`]);
  if (!wheel.ok) {
    return { available: false, reason: `pip install --no-deps prefect failed:\n${wheel.output}` };
  }
  const listed = spawnSync(
    python,
    [
      '-c',
      'from importlib.metadata import requires\n' +
        "for r in requires('prefect') or []:\n" +
        "    if 'extra ==' not in r: print(r)",
    ],
    { encoding: 'utf8' },
  );
  if (listed.status !== 0) {
    return { available: false, reason: `could not read prefect's requirements: ${listed.stderr}` };
  }
  const requirements = listed.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const name = (/^[A-Za-z0-9_.-]+/.exec(line)?.[0] ?? '').toLowerCase();
      return unmet.includes(name) ? name : line;
    });
  const file = path.join(workDir, 'prefect-requirements.txt');
  writeFileSync(file, requirements.join('\n') + '\n');
  const deps = run(python, [...pip, '-r', file]);
  const version = prefectVersionOf(python);
  if (!deps.ok || version !== PREFECT_VERSION) {
    return {
      available: false,
      reason:
        `installing prefect's requirements (${file}) failed, prefect imports as ` +
        `${version ?? 'nothing'}:\n${deps.output}\n--- first attempt ---\n${direct.output}`,
    };
  }
  log(`pip check: ${run(python, ['-m', 'pip', 'check']).output}`);
  return found(
    `pip install --no-deps prefect==${PREFECT_VERSION}, then its requirements with the lower ` +
      `bound of ${unmet.join(', ')} dropped (no release on the registry met it)`,
  );
}

// Running a command to completion and timing it from spawn to exit.
import { spawn } from 'node:child_process';
import { reapedChildrenCpuSeconds } from './server-process.mjs';

/**
 * @typedef {object} TimedResult
 * @property {number} wallMs        spawn to the process's exit
 * @property {number} cpuMs         its CPU time, user + system (its own children included once
 *   waited for); wrong if another child of this process exits meanwhile
 * @property {number | null} code   its exit code (null when killed by a signal)
 * @property {string | null} signal
 * @property {string} stdout
 * @property {string} stderr
 */

/**
 * Spawns a command, collects its output and measures its wall time (spawn to exit: interpreter
 * start, imports and all its work) and its CPU time. Kills it with SIGKILL after `timeoutMs`.
 * @param {string} command
 * @param {string[]} args
 * @param {{ cwd?: string, env?: Record<string, string | undefined>, timeoutMs?: number }} [options]
 * @returns {Promise<TimedResult>}
 */
export function timedCommand(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const cpu0 = reapedChildrenCpuSeconds();
    const t0 = performance.now();
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    /** @type {Buffer[]} */
    const out = [];
    /** @type {Buffer[]} */
    const err = [];
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => err.push(b));
    let wallMs = 0;
    child.on('exit', () => {
      wallMs = performance.now() - t0;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`Could not run ${command}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        wallMs: wallMs || performance.now() - t0,
        cpuMs: (reapedChildrenCpuSeconds() - cpu0) * 1000,
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

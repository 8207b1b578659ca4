// Progress lines, machine facts, result files and the human-readable table.
import { appendFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Writes one progress line to stderr, prefixed with the elapsed time.
 * @param {string} message
 */
export function log(message) {
  const s = (performance.now() / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[${s}s] ${message}\n`);
}

/**
 * Facts about the machine a result was measured on.
 * @returns {{ cpu: string, cores: number, memoryGiB: number, os: string, node: string, date: string }}
 */
export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    date: new Date().toISOString(),
  };
}

/**
 * Appends one result as a JSON line to `bench/results/<name>.jsonl`.
 * @param {string} benchDir  the `bench` folder
 * @param {string} name      the benchmark's name
 * @param {unknown} result
 * @returns {string} the file written
 */
export function appendResult(benchDir, name, result) {
  const dir = path.join(benchDir, 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.jsonl`);
  appendFileSync(file, JSON.stringify(result) + '\n');
  return file;
}

/**
 * Renders rows as a plain text table with aligned columns.
 * @param {string[]} header
 * @param {string[][]} rows
 * @returns {string}
 */
export function textTable(header, rows) {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  /** @param {string[]} r */
  const line = (r) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

// Runs one benchmark by name: `npm run bench -- <name> [options]`.
// Each benchmark lives in bench/<name>/index.mjs and exports `run(argv): Promise<number>`.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(path.join(here, d.name, 'index.mjs')))
  .map((d) => d.name);

const [name, ...rest] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  process.stderr.write(
    `${name ? `Unknown benchmark '${name}'. ` : ''}usage: npm run bench -- <name> [options]\n` +
      `benchmarks: ${available.join(', ')}\n`,
  );
  process.exit(name ? 2 : 0);
}
/** @type {{ run: (argv: string[]) => Promise<number> }} */
const bench = await import(pathToFileURL(path.join(here, name, 'index.mjs')).href);
process.exitCode = await bench.run(rest);

import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidParameterError } from '@modelyard/core';
import type { Pipeline } from './pipeline.js';
import { isPipeline } from './pipeline.js';

/** A pipeline file bundled into one ES module (TypeScript compiled, its own imports inlined). */
export interface PipelineBundle {
  /** The module's source. */
  code: string;
  /** `sha256:<hex>` of `code`: the same file gives the same bundle. */
  digest: string;
  /** The pipeline file it was built from. */
  source: string;
}

/**
 * Bundles a pipeline file (`.ts` or `.js`) with esbuild: TypeScript is compiled, the file's own
 * relative imports are inlined, and packages stay imports (resolved from the project's
 * `node_modules` where the bundle runs). `import.meta.url` in the project's files keeps naming
 * the original file, so paths built from it still work.
 *
 * @throws InvalidParameterError with esbuild's messages (file, line, column) when it fails.
 */
export async function bundlePipeline(file: string): Promise<PipelineBundle> {
  const source = resolve(file);
  await stat(source).catch(() => {
    throw new InvalidParameterError(`Pipeline file ${source} does not exist.`, { file: source });
  });
  const esbuild = await import('esbuild');
  let result;
  try {
    result = await esbuild.build({
      entryPoints: [source],
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      write: false,
      logLevel: 'silent',
      sourcemap: 'inline',
      sourcesContent: false,
      plugins: [
        {
          name: 'modelyard-import-meta-url',
          setup(build) {
            build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, async (args) => {
              if (args.path.includes(`/node_modules/`)) return undefined;
              const text = await readFile(args.path, 'utf8');
              const url = JSON.stringify(pathToFileURL(args.path).href);
              const p = args.path;
              const loader = p.endsWith('.tsx')
                ? 'tsx'
                : /\.[cm]?ts$/.test(p)
                  ? 'ts'
                  : p.endsWith('.jsx')
                    ? 'jsx'
                    : 'js';
              return {
                contents: text.replace(/\bimport\.meta\.url\b/g, url),
                loader,
                resolveDir: dirname(p),
              };
            });
          },
        },
      ],
    });
  } catch (error) {
    const errors =
      (
        error as {
          errors?: {
            text: string;
            location?: { file: string; line: number; column: number } | null;
          }[];
        }
      ).errors ?? [];
    const lines = errors.map((e) =>
      e.location === null || e.location === undefined
        ? e.text
        : `${e.location.file}:${String(e.location.line)}:${String(e.location.column)}: ${e.text}`,
    );
    throw new InvalidParameterError(
      `Could not build pipeline file ${source}:\n${lines.length > 0 ? lines.join('\n') : String(error)}`,
      { file: source },
    );
  }
  const code = result.outputFiles[0]?.text ?? '';
  return { code, digest: `sha256:${createHash('sha256').update(code).digest('hex')}`, source };
}

/**
 * Writes a bundle into `dir` (default `.modelyard/pipelines` under the working directory, so that
 * its package imports resolve from the project's `node_modules`) and imports it.
 * @returns the pipeline the module exports by default.
 * @throws InvalidParameterError when the module has no pipeline as its default export.
 */
export async function importBundle(
  bundle: Pick<PipelineBundle, 'code' | 'digest'> & { source?: string },
  dir = join(process.cwd(), '.modelyard', 'pipelines'),
): Promise<Pipeline<unknown>> {
  const path = join(dir, `${bundle.digest.replace('sha256:', '')}.mjs`);
  const exists = await stat(path).then(
    () => true,
    () => false,
  );
  if (!exists) {
    await mkdir(dir, { recursive: true });
    const staging = `${path}.${String(process.pid)}.tmp`;
    await writeFile(staging, bundle.code);
    await rename(staging, path);
  }
  const module = (await import(pathToFileURL(path).href)) as { default?: unknown };
  if (!isPipeline(module.default)) {
    throw new InvalidParameterError(
      `${bundle.source ?? 'The pipeline file'} must export a pipeline as its default export: ` +
        "`export default pipeline('name', { steps: [...] })`.",
      { file: bundle.source },
    );
  }
  return module.default;
}

/** Bundles and imports a pipeline file (see {@link bundlePipeline} and {@link importBundle}). */
export async function loadPipeline(
  file: string,
): Promise<{ pipeline: Pipeline<unknown>; bundle: PipelineBundle }> {
  const bundle = await bundlePipeline(file);
  return { pipeline: await importBundle(bundle), bundle };
}

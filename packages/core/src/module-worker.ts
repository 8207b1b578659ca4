import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { WorkerOptions } from 'node:worker_threads';

/**
 * The URL of the module `name` beside `importMetaUrl`, with the caller's own extension: `.js`
 * in the built package, `.ts` when the sources run directly (as under vitest).
 *
 * @example siblingModule(import.meta.url, 'onnx-worker')
 */
export function siblingModule(importMetaUrl: string, name: string): URL {
  const extension = extname(fileURLToPath(importMetaUrl));
  return new URL(`./${name}${extension}`, importMetaUrl);
}

// Module hooks for a worker that runs TypeScript sources: `.js` specifiers that do not exist
// resolve to the `.ts` beside them, and `.ts` files are transpiled (types erased) by the
// TypeScript compiler the repository already has. Only used when the caller itself is a `.ts`
// file, i.e. in development and tests; the built package runs plain `.js` workers.
function typeScriptHooks(typescriptUrl: string): string {
  return `
import { fileURLToPath } from 'node:url';
const ts = (await import(${JSON.stringify(typescriptUrl)})).default;
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (error) {
    if (specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
      return next(specifier.slice(0, -3) + '.ts', context);
    }
    throw error;
  }
}
export async function load(url, context, next) {
  if (!url.endsWith('.ts')) return next(url, context);
  const { source } = await next(url, { ...context, format: 'module' });
  const { outputText } = ts.transpileModule(String(source), {
    fileName: fileURLToPath(url),
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
      sourceMap: false,
    },
  });
  return { format: 'module', source: outputText, shortCircuit: true };
}`;
}

function dataUrl(code: string): URL {
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}

/** Code that registers the TypeScript module hooks (`typescript` resolved from `fromUrl`). */
function registerHooks(fromUrl: string): string {
  const require = createRequire(fromUrl);
  const typescriptUrl = pathToFileURL(require.resolve('typescript')).href;
  const hooksUrl = dataUrl(typeScriptHooks(typescriptUrl)).href;
  return `import { register } from 'node:module';
register(${JSON.stringify(hooksUrl)});`;
}

/**
 * `node` flags that run TypeScript sources in a child process the way {@link startModuleWorker}
 * runs them in a thread. For development and tests.
 * @param fromUrl a module whose `node_modules` has `typescript`
 */
export function typeScriptExecArgv(fromUrl: string): string[] {
  return ['--conditions=@modelyard/source', '--import', dataUrl(registerHooks(fromUrl)).href];
}

/**
 * Starts a worker thread running the ES module at `moduleUrl`. A `.js` module starts as is; a
 * `.ts` module (running from sources) starts behind module hooks that transpile it and its
 * relative imports, with the `@modelyard/source` export condition so sibling packages resolve
 * to their sources too.
 */
export function startModuleWorker(moduleUrl: URL, options: WorkerOptions = {}): Worker {
  if (!moduleUrl.pathname.endsWith('.ts')) return new Worker(moduleUrl, options);
  const boot = `${registerHooks(moduleUrl.href)}
await import(${JSON.stringify(moduleUrl.href)});`;
  return new Worker(dataUrl(boot), {
    ...options,
    execArgv: [...(options.execArgv ?? []), '--conditions=@modelyard/source'],
  });
}

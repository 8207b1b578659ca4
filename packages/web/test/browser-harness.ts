import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import { startTemporaryServer } from '@modelyard/server';
import type { ServerConfig, TemporaryServer } from '@modelyard/server';

const WEB_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Where the end-to-end tests save a screenshot of each page, for a reviewer to look at. */
export const SCREENSHOTS = join(WEB_DIR, 'test-output');
export const CHROMIUM = process.env.MODELYARD_CHROMIUM ?? '/usr/bin/chromium';
/** Flags for a closed network: no first-run, sync, update or background traffic. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(
    `!!!!! WEB UI E2E TESTS SKIPPED: no Chromium at ${CHROMIUM} (apt-get install chromium, or set MODELYARD_CHROMIUM) !!!!!`,
  );
}

/** Builds the UI with Vite into `outDir`, so the test serves the sources as they are now. */
export function buildWebUi(outDir: string): void {
  const vite = join(WEB_DIR, 'node_modules', 'vite', 'bin', 'vite.js');
  const bin = existsSync(vite)
    ? vite
    : join(WEB_DIR, '..', '..', 'node_modules', 'vite', 'bin', 'vite.js');
  const result = spawnSync(process.execPath, [bin, 'build', '--outDir', outDir, '--emptyOutDir'], {
    cwd: WEB_DIR,
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new Error(`vite build failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
}

/** A temporary server that serves a fresh build of the UI, and a headless Chromium page. */
export interface BrowserHarness {
  work: string;
  server: TemporaryServer;
  url: string;
  browser: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/**
 * Builds the UI, starts a temporary server that serves it (on SQLite and a local artifact
 * folder), and opens Chromium with a 1280 x 900 viewport; `close` undoes all of it.
 */
export async function openBrowserHarness(
  prefix: string,
  serverConfig: Partial<ServerConfig> = {},
): Promise<BrowserHarness> {
  const work = await mkdtemp(join(tmpdir(), prefix));
  let server: TemporaryServer | undefined;
  try {
    const webRoot = join(work, 'web');
    buildWebUi(webRoot);
    server = await startTemporaryServer(prefix, { ...serverConfig, webRoot });
    await mkdir(SCREENSHOTS, { recursive: true });
    const browser = await chromium.launchPersistentContext(join(work, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
    });
    const page = browser.pages()[0] ?? (await browser.newPage());
    const started = server;
    return {
      work,
      server: started,
      url: started.url,
      browser,
      page,
      async close() {
        await browser.close();
        await started.close();
        await rm(work, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await server?.close();
    await rm(work, { recursive: true, force: true });
    throw error;
  }
}

/** Saves a full-page screenshot as `test-output/<name>.png`. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

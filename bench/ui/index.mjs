// The UI benchmark: Modelyard's web UI against MLflow's, in headless Chromium, on the same data.
// Usage: npm run bench -- ui [--quick] [--only yard,mlflow] [--repeat N]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { JsonClient } from '../lib/http-client.mjs';
import { MLFLOW_VERSION, ensureMlflow } from '../lib/peer-mlflow.mjs';
import { appendResult, log, machineInfo, textTable } from '../lib/report.mjs';
import { freePort, startServer, stopServer, yardServerSpec } from '../lib/server-process.mjs';
import { median, round } from '../lib/stats.mjs';
import { CHART_METRIC, COLUMNS, loadData } from './data.mjs';

const uiDir = path.dirname(fileURLToPath(import.meta.url));
const benchDir = path.resolve(uiDir, '..');
const repoDir = path.resolve(benchDir, '..');
const yardBin = path.join(repoDir, 'packages', 'cli', 'dist', 'bin.js');
const webBuild = path.join(repoDir, 'packages', 'web', 'dist', 'index.html');
const CHROMIUM = process.env.MODELYARD_CHROMIUM ?? '/usr/bin/chromium';
/** Flags for a closed network (see the web UI's end-to-end tests). */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** The issue's target for each page, and the longest task allowed while scrolling. */
const TARGET_MS = 1000;
const LONG_TASK_TARGET_MS = 200;
const PAGE_TIMEOUT_MS = 120_000;

/** @type {import('./data.mjs').UiSizes} */
const FULL = {
  tableRuns: 10_000,
  chartRuns: 10,
  chartSteps: 100_000,
  wideKeys: 1000,
  concurrency: 8,
};
/** @type {import('./data.mjs').UiSizes} */
const QUICK = { ...FULL, tableRuns: 1000, chartSteps: 10_000 };

/**
 * @typedef {object} Options
 * @property {boolean} quick
 * @property {string[]} only
 * @property {number} repeat
 */

/**
 * @param {string[]} argv
 * @returns {Options | null} null after printing help
 */
function parseArgs(argv) {
  /** @type {Options} */
  const opts = { quick: false, only: ['yard', 'mlflow'], repeat: 3 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--only') {
      opts.only = String(argv[++i] ?? '').split(',');
      const bad = opts.only.filter((k) => !['yard', 'mlflow'].includes(k));
      if (bad.length > 0) throw new Error(`--only takes yard, mlflow; got '${bad.join(',')}'.`);
    } else if (a === '--repeat') {
      opts.repeat = Number(argv[++i]);
      if (!Number.isInteger(opts.repeat) || opts.repeat < 1) {
        throw new Error(`--repeat takes a whole number >= 1; got '${argv[i]}'.`);
      }
    } else if (a === '--help' || a === '-h') {
      process.stderr.write(
        'usage: npm run bench -- ui [--quick] [--only yard,mlflow] [--repeat N]\n' +
          '  --quick    1,000 runs and 10 x 10,000 points instead of 10,000 and 10 x 100,000\n' +
          '  --repeat   page loads per figure (median; default 3)\n',
      );
      return null;
    } else throw new Error(`Unknown option '${a}'; see --help.`);
  }
  return opts;
}

/**
 * Where each figure's page is, and when it counts as drawn, for one UI.
 * @typedef {object} UiPages
 * @property {string} table        the runs table of the table experiment
 * @property {string} tableReady   a page function: the first run's row is on screen
 * @property {string} scroller     CSS selector of the table's scrolling element
 * @property {string} endReady     a page function: the last loaded row is on screen
 * @property {string} rowCount     a page function: how many runs the table has loaded
 * @property {string} allLoaded    a page function: the table has loaded every run it will
 * @property {string} chart        the chart of the curves' long metric
 * @property {string} chartReady   a page function: every curve is drawn
 * @property {string} wide         the run with 1,000 metric keys
 * @property {string} wideReady    a page function: its metrics are listed
 */

/**
 * A page function: some text node reads exactly `text` and is laid out.
 * @param {string} text
 */
const textOnScreen = (text) =>
  `(() => { if (!document.body) return false; const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT); for (let n = w.nextNode(); n; n = w.nextNode()) { if (n.textContent.trim() === ${JSON.stringify(text)} && n.parentElement.getBoundingClientRect().height > 0) return true; } return false; })()`;

/**
 * @param {string} base
 * @param {import('./data.mjs').UiData} data
 * @param {import('./data.mjs').UiSizes} sizes
 * @returns {UiPages}
 */
function yardPages(base, data, sizes) {
  const cols = [
    ...COLUMNS.params.map((k) => `params.${k}`),
    ...COLUMNS.metrics.map((k) => `metrics.${k}`),
    ...COLUMNS.tags.map((k) => `tags.${k}`),
  ].join(',');
  return {
    table: `${base}/experiments/${data.tableExperimentId}?cols=${encodeURIComponent(cols)}`,
    tableReady: textOnScreen(data.firstRunName),
    scroller: '[data-testid="runs-grid"]',
    endReady: textOnScreen(data.lastRunName),
    rowCount: `parseInt(document.querySelector('[data-testid="run-count"]')?.textContent ?? '0', 10)`,
    allLoaded: `/^\\s*${sizes.tableRuns} runs\\s*$/.test(document.querySelector('[data-testid="run-count"]')?.textContent ?? '')`,
    chart: `${base}/compare?runs=${data.chartRunIds.join(',')}&metrics=${CHART_METRIC}`,
    chartReady: `document.querySelectorAll('[data-testid="metric-chart"] .u-legend .u-series').length > ${sizes.chartRuns} && document.querySelector('[data-testid="metric-chart"] canvas') !== null`,
    wide: `${base}/runs/${data.wideRunId}`,
    wideReady: textOnScreen('k0000'),
  };
}

/**
 * MLflow 3.18's UI: a hash router; its runs table is ag-grid and loads 100 runs per page; its
 * chart view draws each metric with plotly from a sampled history.
 * @param {string} base
 * @param {import('./data.mjs').UiData} data
 * @param {import('./data.mjs').UiSizes} sizes
 * @returns {UiPages}
 */
function mlflowPages(base, data, sizes) {
  return {
    table: `${base}/#/experiments/${data.tableExperimentId}/runs`,
    tableReady: textOnScreen(data.firstRunName),
    scroller: '.ag-body-viewport',
    endReady: `(() => { const rows = [...document.querySelectorAll('.ag-center-cols-container [role=row], .ag-pinned-left-cols-container [role=row]')]; const n = Math.max(...rows.map((r) => Number(r.getAttribute('row-index') ?? -1))); const last = rows.find((r) => Number(r.getAttribute('row-index')) === n); return n >= 0 && last !== undefined && last.getBoundingClientRect().bottom <= document.querySelector('.ag-body-viewport').getBoundingClientRect().bottom + 1; })()`,
    rowCount: `String(document.querySelectorAll('.ag-center-cols-container [role=row]').length && (Math.max(...[...document.querySelectorAll('[role=row][row-index]')].map((r) => Number(r.getAttribute('row-index')))) + 1))`,
    // Its first page of 100 is all it loads until "Load more" is pressed.
    allLoaded: 'true',
    chart: `${base}/#/experiments/${data.chartExperimentId}/runs?compareRunsMode=CHART`,
    chartReady: `document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length >= ${sizes.chartRuns}`,
    wide: `${base}/#/experiments/${data.wideExperimentId}/runs/${data.wideRunId}`,
    wideReady: textOnScreen('k0000'),
  };
}

/** Records every long task (> 50 ms) of the page in `window.__longTasks`. */
const LONG_TASK_SCRIPT = `
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: 'longtask', buffered: true });
`;

/**
 * Opens `url` in a fresh browser context (cold cache) and waits until `ready` holds.
 * @param {import('playwright-core').Browser} browser
 * @param {string} url
 * @param {string} ready
 * @returns {Promise<{ context: import('playwright-core').BrowserContext, page: import('playwright-core').Page, ms: number, longestTaskMs: number }>}
 */
async function openPage(browser, url, ready) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript(LONG_TASK_SCRIPT);
  const page = await context.newPage();
  await page.goto(url, { waitUntil: 'commit' });
  // Polled each animation frame; the time is taken inside the page, from navigation start.
  await page.waitForFunction(
    `(() => { if (!(${ready})) return false; window.__readyAt ??= performance.now(); return true; })()`,
    undefined,
    { polling: 'raf', timeout: PAGE_TIMEOUT_MS },
  );
  const { ms, longest } = /** @type {{ ms: number, longest: number }} */ (
    await page.evaluate(
      `({ ms: window.__readyAt, longest: Math.max(0, ...window.__longTasks.map((t) => t.duration)) })`,
    )
  );
  return { context, page, ms, longestTaskMs: longest };
}

/**
 * In an open runs table: the time until every run is loaded (from navigation start), then the
 * time to jump to the end until the last row is drawn, then a scroll back to the top and down
 * through every row a screen at a time, one step per animation frame, with the longest task
 * seen during it.
 * @param {import('playwright-core').Page} page
 * @param {UiPages} pages
 */
async function scrollTable(page, pages) {
  await page.waitForFunction(
    `(() => { if (!(${pages.allLoaded})) return false; window.__loadedAt ??= performance.now(); return true; })()`,
    undefined,
    { polling: 'raf', timeout: PAGE_TIMEOUT_MS },
  );
  const loadedMs = /** @type {number} */ (await page.evaluate('window.__loadedAt'));
  const jumpMs = await page.evaluate(
    `(async () => {
      const el = document.querySelector(${JSON.stringify(pages.scroller)});
      const t0 = performance.now();
      el.scrollTop = el.scrollHeight;
      for (;;) {
        await new Promise((r) => requestAnimationFrame(r));
        if (${pages.endReady}) return performance.now() - t0;
        if (performance.now() - t0 > ${PAGE_TIMEOUT_MS}) throw new Error('the end of the table never showed');
        el.scrollTop = el.scrollHeight;
      }
    })()`,
  );
  const sweep = await page.evaluate(
    `(async () => {
      const el = document.querySelector(${JSON.stringify(pages.scroller)});
      el.scrollTop = 0;
      await new Promise((r) => requestAnimationFrame(r));
      const t0 = performance.now();
      let frames = 0;
      while (el.scrollTop + el.clientHeight < el.scrollHeight - 1) {
        el.scrollTop += el.clientHeight;
        await new Promise((r) => requestAnimationFrame(r));
        frames++;
      }
      const ms = performance.now() - t0;
      const longest = Math.max(0, ...window.__longTasks.filter((t) => t.start >= t0).map((t) => t.duration));
      return { ms, frames, longest };
    })()`,
  );
  const rows = Number(await page.evaluate(pages.rowCount));
  return {
    loadedMs,
    jumpMs: /** @type {number} */ (jumpMs),
    .../** @type {{ ms: number, frames: number, longest: number }} */ (sweep),
    rows,
  };
}

/**
 * Measures one UI: each page `repeat` times in a fresh context; medians.
 * @param {import('playwright-core').Browser} browser
 * @param {UiPages} pages
 * @param {number} repeat
 * @param {string} label
 */
async function measureUi(browser, pages, repeat, label) {
  /** @type {Record<string, number[]>} */
  const samples = {
    tableMs: [],
    tableLongestTaskMs: [],
    allRowsLoadedMs: [],
    jumpToEndMs: [],
    sweepMs: [],
    sweepFrames: [],
    sweepLongestTaskMs: [],
    chartMs: [],
    chartLongestTaskMs: [],
    wideMs: [],
    wideLongestTaskMs: [],
  };
  let rowsLoaded = 0;
  for (let i = 0; i < repeat; i++) {
    const table = await openPage(browser, pages.table, pages.tableReady);
    samples.tableMs?.push(table.ms);
    samples.tableLongestTaskMs?.push(table.longestTaskMs);
    const scroll = await scrollTable(table.page, pages);
    rowsLoaded = scroll.rows;
    samples.allRowsLoadedMs?.push(scroll.loadedMs);
    samples.jumpToEndMs?.push(scroll.jumpMs);
    samples.sweepMs?.push(scroll.ms);
    samples.sweepFrames?.push(scroll.frames);
    samples.sweepLongestTaskMs?.push(scroll.longest);
    await table.context.close();
    log(
      `  ${label} table: ${round(table.ms)} ms, all rows ${round(scroll.loadedMs)} ms, end ${round(scroll.jumpMs)} ms, sweep of ${scroll.rows} rows ${round(scroll.ms)} ms in ${scroll.frames} frames, longest task ${round(scroll.longest)} ms`,
    );

    const chart = await openPage(browser, pages.chart, pages.chartReady);
    samples.chartMs?.push(chart.ms);
    samples.chartLongestTaskMs?.push(chart.longestTaskMs);
    await chart.context.close();
    log(`  ${label} chart: ${round(chart.ms)} ms (longest task ${round(chart.longestTaskMs)} ms)`);

    const wide = await openPage(browser, pages.wide, pages.wideReady);
    samples.wideMs?.push(wide.ms);
    samples.wideLongestTaskMs?.push(wide.longestTaskMs);
    await wide.context.close();
    log(`  ${label} wide run: ${round(wide.ms)} ms (longest task ${round(wide.longestTaskMs)} ms)`);
  }
  /** @type {Record<string, number>} */
  const medians = {};
  for (const [k, v] of Object.entries(samples)) medians[k] = round(median(v));
  return { ...medians, rowsLoaded, samples };
}

/**
 * @param {Options} opts
 * @param {import('./data.mjs').UiSizes} sizes
 * @param {import('playwright-core').Browser} browser
 */
async function measureYard(opts, sizes, browser) {
  if (!existsSync(yardBin) || !existsSync(webBuild)) {
    return {
      available: false,
      reason: "the server or the web UI is not built: run 'npm run build'",
    };
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-ui-yard-'));
  const server = await startServer(yardServerSpec({ yardBin, dir, port: await freePort() }));
  try {
    const client = new JsonClient(server.baseUrl, sizes.concurrency);
    log('yard server: loading the data through the MLflow REST API');
    const data = await loadData(client, sizes);
    client.close();
    log(`yard server: data loaded in ${data.loadSeconds} s`);
    return {
      available: true,
      data,
      ...(await measureUi(browser, yardPages(server.baseUrl, data, sizes), opts.repeat, 'yard')),
    };
  } finally {
    await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * @param {Options} opts
 * @param {import('./data.mjs').UiSizes} sizes
 * @param {import('playwright-core').Browser} browser
 */
async function measureMlflow(opts, sizes, browser) {
  const mlflow = ensureMlflow(path.join(benchDir, '.work'));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-ui-mlflow-'));
  try {
    const db = `sqlite:///${path.join(dir, 'mlflow.db')}`;
    const artifacts = path.join(dir, 'mlartifacts');
    log('MLflow: writing the data into its database (bulk, before the server starts)');
    const t0 = performance.now();
    const load = spawnSync(
      mlflow.python,
      [path.join(uiDir, 'mlflow_load.py'), db, artifacts, JSON.stringify(sizes)],
      { encoding: 'utf8', maxBuffer: 16 * 2 ** 20 },
    );
    if (load.status !== 0) throw new Error(`mlflow_load.py failed: ${load.stderr}`);
    const lines = load.stdout.trim().split('\n');
    /** @type {import('./data.mjs').UiData} */
    const data = {
      ...JSON.parse(lines[lines.length - 1] ?? '{}'),
      loadSeconds: round((performance.now() - t0) / 1000),
    };
    log(`MLflow: data written in ${data.loadSeconds} s`);
    const port = await freePort();
    const server = await startServer({
      name: 'mlflow server',
      command: mlflow.python,
      args: [
        '-m',
        'mlflow',
        'server',
        '--backend-store-uri',
        db,
        '--artifacts-destination',
        artifacts,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
      ],
      baseUrl: `http://127.0.0.1:${port}`,
      logFile: path.join(dir, 'server.log'),
      cwd: dir,
    });
    try {
      return {
        available: true,
        version: mlflow.version,
        data,
        ...(await measureUi(
          browser,
          mlflowPages(server.baseUrl, data, sizes),
          opts.repeat,
          'mlflow',
        )),
      };
    } finally {
      await stopServer(server);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * @param {string[]} argv
 * @returns {Promise<number>} the exit code
 */
export async function run(argv) {
  const opts = parseArgs(argv);
  if (opts === null) return 0;
  const sizes = opts.quick ? QUICK : FULL;
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `No Chromium at ${CHROMIUM}: apt-get install chromium, or set MODELYARD_CHROMIUM.`,
    );
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const browserVersion = browser.version();
  /** @type {Record<string, any>} */
  const results = {};
  try {
    for (const key of opts.only) {
      log(
        `${key}: ${sizes.tableRuns} runs x 30 columns, ${sizes.chartRuns} x ${sizes.chartSteps} points, ${sizes.wideKeys} metric keys`,
      );
      try {
        results[key] =
          key === 'yard'
            ? await measureYard(opts, sizes, browser)
            : await measureMlflow(opts, sizes, browser);
      } catch (error) {
        results[key] = {
          available: false,
          reason: error instanceof Error ? error.message : String(error),
        };
        log(`${key}: not available: ${results[key].reason}`);
      }
    }
  } finally {
    await browser.close();
  }

  const yard = results.yard?.available ? results.yard : undefined;
  const peer = results.mlflow?.available ? results.mlflow : undefined;
  /** @param {number | undefined} v */
  const show = (v) => (v === undefined ? '-' : String(round(v)));
  /** @type {string[][]} */
  const rows = [];
  /**
   * @param {string} figure
   * @param {string} key
   * @param {number | null} target
   */
  const add = (figure, key, target) => {
    const y = yard?.[key];
    const p = peer?.[key];
    rows.push([
      figure,
      show(y),
      show(p),
      y !== undefined && p !== undefined && y > 0 ? `${round(p / y)}x` : '-',
      target === null ? '-' : `< ${target} ms`,
      target === null || y === undefined ? '-' : y < target ? 'yes' : 'NO',
    ]);
  };
  add(`runs table first render, ms (${sizes.tableRuns} runs x 30 columns)`, 'tableMs', TARGET_MS);
  add('every run loaded in the table (from navigation start), ms', 'allRowsLoadedMs', null);
  add(
    'jump to the end of the loaded table until its last row is drawn, ms',
    'jumpToEndMs',
    TARGET_MS,
  );
  add(
    'longest task while scrolling through every row a screen per frame, ms',
    'sweepLongestTaskMs',
    LONG_TASK_TARGET_MS,
  );
  add('scroll through every row, a screen per frame, ms', 'sweepMs', null);
  add(`chart of ${sizes.chartRuns} runs x ${sizes.chartSteps} points, ms`, 'chartMs', TARGET_MS);
  add(`run with ${sizes.wideKeys} metric keys, ms`, 'wideMs', TARGET_MS);
  process.stderr.write(
    `\n${textTable(['figure', 'yard', `mlflow ${MLFLOW_VERSION}`, 'mlflow / yard', 'target', 'met'], rows)}\n`,
  );
  if (yard && peer) {
    process.stderr.write(
      `rows the table holds: yard ${yard.rowsLoaded}, MLflow ${peer.rowsLoaded} (MLflow loads 100 runs at a time; "Load more" for the rest)\n`,
    );
  }
  const result = {
    benchmark: 'ui',
    quick: opts.quick,
    machine: machineInfo(),
    browser: `Chromium ${browserVersion} (${CHROMIUM}), headless, 1280 x 900, fresh context per page`,
    sizes,
    method:
      'each figure: performance.now() inside the page, from navigation start until the page function holds (polled every animation frame); long tasks from PerformanceObserver; median of --repeat loads',
    results,
  };
  appendResult(benchDir, 'ui', result);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return Object.values(results).every((r) => r.available) ? 0 : 1;
}

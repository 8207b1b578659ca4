import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page, Request } from 'playwright-core';
import { createClient } from '@modelyard/client';
import type { YardClient } from '@modelyard/client';
import { haveChromium, openBrowserHarness, screenshot } from './browser-harness.js';
import type { BrowserHarness } from './browser-harness.js';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A real RGB PNG of `size` x `size` pixels: a diagonal gradient. */
function gradientPng(size: number): Uint8Array {
  const chunk = (type: string, data: Uint8Array): Buffer => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'ascii');
    const body = Buffer.concat([head.subarray(4), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body), 0);
    return Buffer.concat([head.subarray(0, 4), body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const raw = Buffer.alloc(size * (1 + size * 3));
  for (let y = 0; y < size; y++) {
    const row = y * (1 + size * 3);
    for (let x = 0; x < size; x++) {
      raw[row + 1 + x * 3] = Math.round((255 * x) / size);
      raw[row + 2 + x * 3] = Math.round((255 * y) / size);
      raw[row + 3 + x * 3] = 128;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array()),
  ]);
}

const MLMODEL = `artifact_path: model
flavors:
  python_function:
    env:
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    python_version: 3.11.9
  sklearn:
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.5.1
mlflow_version: 2.16.0
model_uuid: 1f2e3d4c
run_id: 0123456789abcdef
signature:
  inputs: '[{"type": "double", "name": "age", "required": true}]'
  outputs: '[{"type": "long", "required": true}]'
`;

/**
 * Runs `code` (an expression) in the page. The tests are type-checked without the DOM library,
 * so what they read from the DOM is written as page code.
 */
function inPage<T>(page: Page, code: string): Promise<T> {
  return page.evaluate<T>(code);
}

/** How many non-transparent pixels the first canvas under `selector` has: proof of drawing. */
function inkedPixels(page: Page, selector: string): Promise<number> {
  return inPage<number>(
    page,
    `(() => {
      const canvas = document.querySelector(${JSON.stringify(`${selector} canvas`)});
      const context = canvas && canvas.getContext('2d');
      if (!context) return 0;
      const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
      let inked = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked++;
      return inked;
    })()`,
  );
}

describe.skipIf(!haveChromium)('runs table, run page and compare page in Chromium', () => {
  let harness: BrowserHarness | undefined;
  let page: Page;
  let url: string;
  let yard: YardClient;
  let experimentId: string;
  const runIds: Record<string, string> = {};
  const BIG = 200_000;

  beforeAll(async () => {
    harness = await openBrowserHarness('yard-runs-ui-e2e-');
    ({ url, page } = harness);
    yard = createClient({ baseUrl: url });
    const experiment = await yard.experiments.create({ name: 'e2e-compare' });
    experimentId = experiment.experimentId;
    const start = Date.now() - 600_000;
    for (const [name, lr, final] of [
      ['alpha', '0.1', 0.4],
      ['beta', '0.05', 0.25],
      ['gamma', '0.01', 0.3],
    ] as const) {
      const run = await yard.runs.create({ experimentId, runName: name, startTime: start });
      runIds[name] = run.info.runId;
      await yard.runs.logBatch(run.info.runId, {
        params: [
          { key: 'lr', value: lr },
          { key: 'model', value: 'xgb' },
          { key: 'depth', value: '6' },
        ],
        tags: [{ key: 'team', value: 'growth' }],
        metrics: Array.from({ length: 100 }, (_, step) => [
          {
            key: 'loss',
            value: final + (1 - final) * Math.exp(-step / 15) + 0.03 * Math.sin(step),
            step,
            timestamp: start + step * 1000,
          },
          { key: 'acc', value: 1 - final * (1 - step / 200), step, timestamp: start + step * 1000 },
        ]).flat(),
      });
      await yard.runs.update(run.info.runId, { status: 'FINISHED', endTime: start + 100_000 });
    }

    // A long metric: 200,000 points of a noisy wave with a few spikes.
    const big = await yard.runs.create({ experimentId, runName: 'long-run', startTime: start });
    runIds.big = big.info.runId;
    const batches = Array.from({ length: BIG / 1000 }, (_, b) => b);
    for (let i = 0; i < batches.length; i += 4) {
      await Promise.all(
        batches.slice(i, i + 4).map((b) =>
          yard.runs.logBatch(big.info.runId, {
            metrics: Array.from({ length: 1000 }, (_, j) => {
              const step = b * 1000 + j;
              return {
                key: 'signal',
                value:
                  Math.sin(step / 5000) + 0.1 * Math.sin(step / 7) + (step % 50_021 === 0 ? 3 : 0),
                step,
                timestamp: start + step,
              };
            }),
          }),
        ),
      );
    }

    // A run with 1,000 metric keys.
    const wide = await yard.runs.create({ experimentId, runName: 'wide-run', startTime: start });
    runIds.wide = wide.info.runId;
    await yard.runs.logBatch(wide.info.runId, {
      metrics: Array.from({ length: 1000 }, (_, i) => ({
        key: `layer_${String(i).padStart(4, '0')}/grad_norm`,
        value: i / 1000,
        step: 0,
        timestamp: start,
      })),
    });
  }, 300_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('saves a column set as an experiment tag, applies it from the menu and deletes it', async () => {
    await page.goto(`${url}/experiments/${experimentId}?cols=metrics.loss,params.lr`);
    await page.getByRole('columnheader', { name: 'lr' }).waitFor();
    await page.getByLabel('Column set name').fill('loss view');
    await page.getByRole('button', { name: 'Save columns' }).click();
    await page
      .getByLabel('Column set', { exact: true })
      .locator('option', { hasText: 'loss view' })
      .waitFor({ state: 'attached' });

    const tagged = await yard.experiments.get(experimentId);
    expect(tagged.tags).toContainEqual({
      key: 'modelyard.ui.columns.loss view',
      value: '["metrics.loss","params.lr"]',
    });
    await screenshot(page, 'runs-column-sets');

    // Another column choice, then the saved set from the menu.
    await page.goto(`${url}/experiments/${experimentId}?cols=params.model`);
    await page.getByRole('columnheader', { name: 'model' }).waitFor();
    await page.getByLabel('Column set', { exact: true }).selectOption('loss view');
    await page.waitForURL(/cols=metrics\.loss%2Cparams\.lr|cols=metrics\.loss,params\.lr/);
    await page.getByRole('columnheader', { name: 'loss' }).waitFor();

    await page.getByRole('button', { name: 'Delete set' }).click();
    await page.getByText('No saved column sets').waitFor({ state: 'attached' });
    const untagged = await yard.experiments.get(experimentId);
    expect(untagged.tags.some((t) => t.key.startsWith('modelyard.ui.columns.'))).toBe(false);
  });

  it('selects three runs and compares them: overlay chart, parallel coordinates, diff', async () => {
    const histories: URL[] = [];
    const onRequest = (request: Request) => {
      const u = new URL(request.url());
      if (/\/api\/v1\/runs\/[^/]+\/metrics\/loss\/history$/.test(u.pathname)) histories.push(u);
    };
    page.on('request', onRequest);
    await page.goto(`${url}/experiments/${experimentId}`);
    await page.getByTestId('run-count').waitFor();
    const compare = page.getByRole('button', { name: /^Compare \(/ });
    expect(await compare.isDisabled()).toBe(true);
    for (const name of ['alpha', 'beta', 'gamma']) {
      await page.getByLabel(`Select ${name}`, { exact: true }).check();
    }
    await screenshot(page, 'runs-selected');
    await page.getByRole('button', { name: 'Compare (3)' }).click();
    await page.waitForURL(/\/compare\?runs=/);
    const ids = (new URL(page.url()).searchParams.get('runs') ?? '').split(',');
    expect(ids.sort()).toEqual([runIds.alpha, runIds.beta, runIds.gamma].sort());

    // One chart (the first key, acc), one series per run, named in the legend.
    await page.getByTestId('metric-chart').locator('canvas').waitFor();
    await page.getByLabel('Chart loss').check();
    const lossChart = page.locator('section.metric-chart[data-key="loss"]');
    await lossChart.getByTestId('metric-chart').locator('canvas').waitFor();
    await expect.poll(() => lossChart.locator('.u-legend .u-series').count()).toBe(4); // the x-axis, then three runs
    for (const name of ['alpha', 'beta', 'gamma']) {
      await lossChart.locator('.u-legend').getByText(name, { exact: true }).waitFor();
    }
    expect(await inkedPixels(page, 'section.metric-chart[data-key="loss"]')).toBeGreaterThan(500);
    expect(histories.length).toBeGreaterThanOrEqual(3);
    for (const u of histories) expect(u.searchParams.get('maxPoints')).toBe('2000');

    // Params -> metric as parallel coordinates, drawn by ECharts on a canvas.
    await page.getByLabel('Metric of the parallel coordinates').selectOption('loss');
    const parallel = page.getByTestId('parallel-coordinates').locator('canvas');
    await parallel.waitFor();
    const box = await parallel.boundingBox();
    expect(box?.width ?? 0).toBeGreaterThan(300);
    await expect
      .poll(() => inkedPixels(page, '[data-testid="parallel-coordinates"]'))
      .toBeGreaterThan(1000);

    // The diff highlights lr, which differs, and not model, which does not.
    const lr = page.getByTestId('diff-row').filter({ hasText: 'lr' });
    expect(await lr.getAttribute('data-differs')).toBe('true');
    const highlight = (key: string) =>
      inPage<string>(
        page,
        `(() => {
          const rows = [...document.querySelectorAll('[data-testid="diff-row"]')];
          const row = rows.find((r) => r.cells[0].textContent.trim() === ${JSON.stringify(key)});
          return getComputedStyle(row.cells[1]).backgroundColor;
        })()`,
      );
    expect(await highlight('lr')).not.toBe(await highlight('model'));
    const model = page.getByTestId('diff-row').filter({ hasText: 'model' });
    expect(await model.getAttribute('data-differs')).toBe('false');
    await screenshot(page, 'compare');

    await page.getByLabel('only differences').check();
    await page.waitForURL(/only=1/);
    await model.waitFor({ state: 'detached' });
    await lr.waitFor();
    await screenshot(page, 'compare-only-differences');
    page.off('request', onRequest);
  }, 60_000);

  it('previews a PNG, a CSV, a JSON file and an MLmodel uploaded through the API', async () => {
    const runId = runIds.alpha ?? '';
    const encoder = new TextEncoder();
    await yard.runs.artifacts.upload(runId, 'plots/loss.png', gradientPng(64));
    await yard.runs.artifacts.upload(
      runId,
      'data/sample.csv',
      encoder.encode('city,temp,"note, quoted"\nOslo,3.5,"cold, ""very"""\nLima,19,mild\n'),
    );
    await yard.runs.artifacts.upload(
      runId,
      'metrics.json',
      encoder.encode('{"rmse":0.25,"folds":[0.2,0.3]}'),
    );
    await yard.runs.artifacts.upload(runId, 'model/MLmodel', encoder.encode(MLMODEL));

    await page.goto(`${url}/runs/${runId}`);
    const tree = page.getByRole('tree', { name: 'Artifacts' });
    await tree.getByRole('button', { name: '▸ plots/' }).click();
    await page.getByRole('button', { name: 'Preview plots/loss.png' }).click();
    const image = page.getByTestId('artifact-preview').locator('img');
    await image.waitFor();
    await expect
      .poll(() =>
        inPage<number>(
          page,
          `document.querySelector('[data-testid="artifact-preview"] img').naturalWidth`,
        ),
      )
      .toBe(64);
    expect(await image.getAttribute('src')).toMatch(/^blob:/);
    expect(new URL(page.url()).searchParams.get('artifact')).toBe('plots/loss.png');
    await image.scrollIntoViewIfNeeded();
    await screenshot(page, 'run-artifact-image');

    await tree.getByRole('button', { name: '▸ data/' }).click();
    await page.getByRole('button', { name: 'Preview data/sample.csv' }).click();
    const csv = page.getByTestId('csv-preview');
    await csv.waitFor();
    expect(await csv.locator('th').allTextContents()).toEqual(['city', 'temp', 'note, quoted']);
    await csv.getByText('cold, "very"').waitFor();
    await csv.getByText('Lima').waitFor();
    await screenshot(page, 'run-artifact-csv');

    await page.getByRole('button', { name: 'Preview metrics.json' }).click();
    const json = page.getByTestId('text-preview');
    await json.waitFor();
    expect(await json.textContent()).toBe(
      '{\n  "rmse": 0.25,\n  "folds": [\n    0.2,\n    0.3\n  ]\n}',
    );
    await screenshot(page, 'run-artifact-json');

    await tree.getByRole('button', { name: '▸ model/' }).click();
    await page.getByRole('button', { name: 'Preview model/MLmodel' }).click();
    await page.getByTestId('mlmodel-preview').waitFor();
    expect(await page.getByTestId('mlmodel-flavor').allTextContents()).toEqual([
      'python_function',
      'sklearn',
    ]);
    const highlighted = page.getByTestId('mlmodel-preview').locator('span.key');
    expect(await highlighted.filter({ hasText: 'signature:' }).count()).toBe(1);
    expect(await highlighted.filter({ hasText: 'sklearn_version' }).count()).toBe(1);
    expect(
      await page
        .getByTestId('mlmodel-preview')
        .locator('span:not(.key)')
        .filter({ hasText: 'run_id' })
        .count(),
    ).toBe(1);
    await screenshot(page, 'run-artifact-mlmodel');

    // A file uploaded in the browser lands in the chosen folder and opens in the preview.
    await page.getByLabel('Upload into folder').fill('logs');
    await page.getByLabel('File to upload').setInputFiles({
      name: 'train.log',
      mimeType: 'text/plain',
      buffer: Buffer.from('epoch 1 loss 0.9\nepoch 2 loss 0.5\n'),
    });
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await page
      .getByTestId('upload-message')
      .filter({ hasText: 'Uploaded logs/train.log' })
      .waitFor();
    await page.waitForURL(/artifact=logs%2Ftrain\.log|artifact=logs\/train\.log/);
    expect(await page.getByTestId('text-preview').textContent()).toBe(
      'epoch 1 loss 0.9\nepoch 2 loss 0.5\n',
    );
    const listed = await yard.runs.artifacts.list(runId, 'logs');
    expect(listed.files.map((f) => f.path)).toEqual(['logs/train.log']);
    await screenshot(page, 'run-artifact-uploaded-text');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download metrics.json' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('metrics.json');
  });

  it('charts a 200,000-point metric from the downsampled series, zooms and smooths it', async () => {
    const requests: URL[] = [];
    const onRequest = (request: Request) => {
      const u = new URL(request.url());
      if (u.pathname.endsWith('/metrics/signal/history')) requests.push(u);
    };
    page.on('request', onRequest);
    await page.goto(`${url}/runs/${runIds.big ?? ''}`);
    const note = page.getByTestId('chart-note');
    await note.filter({ hasText: `2000 points of ${BIG} (downsampled)` }).waitFor();
    const canvas = page.getByTestId('metric-chart').locator('canvas');
    await canvas.waitFor();
    expect(await inkedPixels(page, '[data-testid="metric-chart"]')).toBeGreaterThan(1000);
    expect(requests[0]?.searchParams.get('maxPoints')).toBe('2000');
    expect(requests[0]?.searchParams.has('minStep')).toBe(false);
    await screenshot(page, 'run-large-metric');

    // Dragging across a tenth of the plot asks for that step range again.
    const over = page.getByTestId('metric-chart').locator('.u-over');
    const area = await over.boundingBox();
    if (area === null) throw new Error('the chart has no plotting area');
    const y = area.y + area.height / 2;
    await page.mouse.move(area.x + area.width * 0.4, y);
    await page.mouse.down();
    await page.mouse.move(area.x + area.width * 0.45, y, { steps: 5 });
    await page.mouse.up();
    await expect.poll(() => requests.some((u) => u.searchParams.has('minStep'))).toBe(true);
    const zoom = requests.find((u) => u.searchParams.has('minStep'));
    const minStep = Number(zoom?.searchParams.get('minStep'));
    const maxStep = Number(zoom?.searchParams.get('maxStep'));
    expect(minStep).toBeGreaterThan(BIG * 0.3);
    expect(maxStep).toBeLessThan(BIG * 0.55);
    expect(maxStep - minStep).toBeLessThan(BIG * 0.1);
    await note.filter({ hasText: `steps ${minStep}–${maxStep}` }).waitFor();
    await screenshot(page, 'run-large-metric-zoomed');

    // A double click goes back to the whole run.
    const before = requests.length;
    await over.dblclick();
    await expect.poll(() => requests.length).toBeGreaterThan(before);
    expect(requests.at(-1)?.searchParams.has('minStep')).toBe(false);
    await note.filter({ hasText: `2000 points of ${BIG}` }).waitFor();

    // Smoothing draws the moving average over the faint raw series.
    await inPage(
      page,
      `(() => {
        const input = document.querySelector('input[name="smoothing"]');
        input.value = '0.9';
        input.dispatchEvent(new Event('change', { bubbles: true }));
      })()`,
    );
    await page.waitForURL(/smooth=0\.9/);
    await page
      .getByTestId('metric-chart')
      .locator('.u-legend')
      .getByText('long-run (raw)')
      .waitFor();
    expect(await page.getByTestId('smoothing-value').textContent()).toBe('0.90');
    await screenshot(page, 'run-large-metric-smoothed');
    page.off('request', onRequest);
  }, 60_000);

  it('opens a run with 1,000 metric keys with one chart and a searchable key list', async () => {
    await page.goto(`${url}/runs/${runIds.wide ?? ''}`);
    await page.getByRole('heading', { name: 'Latest metrics (1000)' }).waitFor();
    expect(await page.getByTestId('metrics').locator('tr').count()).toBe(200);
    await page.getByTestId('metrics-more').filter({ hasText: '200 of 1000' }).waitFor();
    expect(await page.getByTestId('metric-chart').count()).toBeLessThanOrEqual(1);

    await page.getByLabel('Search metric keys').fill('layer_0999');
    await page.waitForURL(/mq=layer_0999/);
    await expect.poll(() => page.getByTestId('metrics').locator('tr').count()).toBe(1);
    await page.getByLabel('Chart layer_0999/grad_norm').check();
    await page.waitForURL(
      /metrics=layer_0000%2Fgrad_norm%2Clayer_0999%2Fgrad_norm|metrics=layer_0000/,
    );
    await page.locator('section.metric-chart[data-key="layer_0999/grad_norm"]').waitFor();
    expect(await page.locator('section.metric-chart').count()).toBe(2);
    await screenshot(page, 'run-wide');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { createClient } from '@modelyard/client';
import { haveChromium, openBrowserHarness, screenshot } from './browser-harness.js';
import type { BrowserHarness } from './browser-harness.js';

describe.skipIf(!haveChromium)('the web UI in Chromium', () => {
  let harness: BrowserHarness | undefined;
  let page: Page;
  let url: string;
  let experimentId: string;
  const runIds: Record<string, string> = {};

  beforeAll(async () => {
    harness = await openBrowserHarness('yard-web-e2e-');
    ({ url, page } = harness);
    const yard = createClient({ baseUrl: url });
    const experiment = await yard.experiments.create({ name: 'e2e-churn' });
    experimentId = experiment.experimentId;
    const start = Date.now() - 60_000;
    for (const [name, model, lr, final] of [
      ['baseline', 'logreg', '0.1', 0.42],
      ['boosted', 'xgb', '0.05', 0.21],
      ['deep', 'mlp', '0.01', 0.33],
    ] as const) {
      const run = await yard.runs.create({ experimentId, runName: name, startTime: start });
      runIds[name] = run.info.runId;
      await yard.runs.logBatch(run.info.runId, {
        params: [
          { key: 'model', value: model },
          { key: 'lr', value: lr },
        ],
        tags: [
          { key: 'mlflow.source.name', value: 'train.py' },
          { key: 'mlflow.source.git.commit', value: 'abc1234' },
          { key: 'team', value: 'growth' },
        ],
        metrics: Array.from({ length: 50 }, (_, step) => ({
          key: 'rmse',
          value: final + (1 - final) * Math.exp(-step / 8),
          step,
          timestamp: start + step * 1000,
        })),
      });
      await yard.runs.update(run.info.runId, { status: 'FINISHED', endTime: start + 50_000 });
    }
  }, 180_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('lists the experiment on the experiments page', async () => {
    await page.goto(`${url}/`);
    await page.getByRole('link', { name: 'e2e-churn' }).waitFor();
    expect(page.url()).toBe(`${url}/experiments`);
    await screenshot(page, 'experiments');
  });

  it('creates, searches, renames, deletes and restores an experiment', async () => {
    await page.getByLabel('New experiment name').fill('scratch pad');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('link', { name: 'scratch pad' }).waitFor();

    await page.getByLabel('Search experiments by name').fill('SCRATCH');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/q=SCRATCH/);
    await page.getByRole('link', { name: 'e2e-churn' }).waitFor({ state: 'detached' });
    await page.getByRole('link', { name: 'scratch pad' }).waitFor();

    const row = page.getByRole('row', { name: /scratch pad/ });
    await row.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('New name').fill('scratch notes');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByLabel('Search experiments by name').fill('');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'scratch notes' }).waitFor();
    await screenshot(page, 'experiments-edited');

    await page
      .getByRole('row', { name: /scratch notes/ })
      .getByRole('button', { name: 'Delete' })
      .click();
    await page.getByRole('link', { name: 'scratch notes' }).waitFor({ state: 'detached' });
    await page.getByLabel('Which experiments').selectOption('deleted');
    await page.waitForURL(/view=deleted/);
    await page
      .getByRole('row', { name: /scratch notes/ })
      .getByRole('button', { name: 'Restore' })
      .click();
    await page.getByText('No deleted experiments.').waitFor();
    await page.getByLabel('Which experiments').selectOption('active');
    await page.getByRole('link', { name: 'scratch notes' }).waitFor();
    await page.getByRole('link', { name: 'e2e-churn' }).waitFor();
  });

  it('shows the experiment runs in the table', async () => {
    await page.getByRole('link', { name: 'e2e-churn' }).click();
    await page.getByTestId('run-count').waitFor();
    expect(await page.getByTestId('run-count').textContent()).toContain('3 runs');
    const rows = page.getByTestId('run-row');
    expect(await rows.count()).toBe(3);
    for (const name of ['baseline', 'boosted', 'deep']) {
      await page.getByRole('link', { name, exact: true }).waitFor();
    }
    // The default columns are the metrics and params the runs have.
    await page.getByRole('columnheader', { name: 'rmse' }).waitFor();
    await page.getByRole('columnheader', { name: 'model' }).waitFor();
    await screenshot(page, 'runs');
  });

  it('narrows the runs with a filter and keeps it in the URL', async () => {
    await page.getByLabel('Filter runs').fill("metrics.rmse < 0.4 and params.model != 'mlp'");
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByTestId('run-count').filter({ hasText: '1 run' }).waitFor();
    expect(await page.getByTestId('run-row').count()).toBe(1);
    await page.getByRole('link', { name: 'boosted', exact: true }).waitFor();
    expect(new URL(page.url()).searchParams.get('filter')).toBe(
      "metrics.rmse < 0.4 and params.model != 'mlp'",
    );
    await screenshot(page, 'runs-filtered');
  });

  it('shows the server message for a bad filter beside the box', async () => {
    await page.getByLabel('Filter runs').fill('metrics.rmse <<< 1');
    await page.getByRole('button', { name: 'Apply' }).click();
    const message = page.getByTestId('filter-error');
    await message.waitFor();
    expect((await message.textContent())?.trim()).not.toBe('');
    expect(await page.getByTestId('run-row').count()).toBe(0);
    await screenshot(page, 'runs-bad-filter');
  });

  it('keeps only the rows in view in the page for a large experiment, and scrolls to the end', async () => {
    const yard = createClient({ baseUrl: url });
    const big = await yard.experiments.create({ name: 'e2e-large' });
    const count = 1200;
    const base = Date.now() - 3_600_000;
    for (let from = 0; from < count; from += 40) {
      await Promise.all(
        Array.from({ length: Math.min(40, count - from) }, async (_, j) => {
          const i = from + j;
          const run = await yard.runs.create({
            experimentId: big.experimentId,
            runName: `run-${String(i).padStart(4, '0')}`,
            startTime: base + i * 1000,
          });
          await yard.runs.logBatch(run.info.runId, {
            metrics: [{ key: 'score', value: i / count, step: 0 }],
            params: [{ key: 'index', value: String(i) }],
          });
        }),
      );
    }
    await page.goto(`${url}/experiments/${big.experimentId}`);
    await page
      .getByTestId('run-count')
      .filter({ hasText: `${count} runs` })
      .waitFor();
    const inPage = await page.getByTestId('run-row').count();
    expect(inPage).toBeGreaterThan(10);
    expect(inPage).toBeLessThan(100);
    // Newest first by default: the oldest run is at the very end.
    await page.getByRole('link', { name: 'run-1199', exact: true }).waitFor();
    await page.getByTestId('runs-grid').hover();
    await page.mouse.wheel(0, count * 40);
    await page.getByRole('link', { name: 'run-0000', exact: true }).waitFor();
    expect(await page.getByTestId('run-row').count()).toBeLessThan(100);
    // Sorting by a metric column, ascending, puts the lowest score first.
    await page.getByRole('columnheader', { name: 'score' }).getByRole('button').click();
    await page.waitForURL(/sort=metrics\.score/);
    await page.mouse.wheel(0, -count * 40);
    await page.getByRole('link', { name: 'run-0000', exact: true }).waitFor();
    await screenshot(page, 'runs-large');
  }, 120_000);

  it('opens a run from a deep link with its params, metrics and a drawn chart', async () => {
    await page.goto(`${url}/runs/${runIds.boosted ?? ''}`);
    await page.getByRole('heading', { name: 'boosted' }).waitFor();
    const params = page.getByTestId('params');
    await params.getByText('xgb').waitFor();
    await params.getByText('0.05').waitFor();
    await page.getByTestId('run-overview').getByText('abc1234').waitFor();
    await page.getByTestId('run-overview').getByText('FINISHED').waitFor();
    await page.getByText('50 points').waitFor();
    const canvas = page.getByTestId('metric-chart').locator('canvas');
    await canvas.waitFor();
    const box = await canvas.boundingBox();
    expect(box?.width ?? 0).toBeGreaterThan(100);
    expect(box?.height ?? 0).toBeGreaterThan(100);
    await screenshot(page, 'run');
  });

  it('switches the chart to time and a log scale through the URL', async () => {
    await page.getByLabel('log scale').check();
    await page.getByLabel('x-axis').selectOption('time');
    await page.waitForURL(/x=time/);
    const url = new URL(page.url());
    expect(url.searchParams.get('log')).toBe('1');
    const box = await page.getByTestId('metric-chart').locator('canvas').boundingBox();
    expect(box?.width ?? 0).toBeGreaterThan(100);
    await screenshot(page, 'run-log-time');
  });
});

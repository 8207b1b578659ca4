import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { createClient } from '@modelyard/client';
import type { YardClient } from '@modelyard/client';
import { pipeline, runPipeline, step } from '@modelyard/pipelines';
import type { RunSummary } from '@modelyard/pipelines';
import { haveChromium, openBrowserHarness, screenshot } from './browser-harness.js';
import type { BrowserHarness } from './browser-harness.js';
import { IRIS_MODEL_DIR } from './fixtures.js';

interface Expected {
  input: { name: string; shape: number[]; rows: number[][] };
}

describe.skipIf(!haveChromium)('the deployment and pipeline pages in Chromium', () => {
  let harness: BrowserHarness | undefined;
  let page: Page;
  let url: string;
  let yard: YardClient;
  let expected: Expected;

  /** One OIP v2 inference of the fixture's rows; answers the HTTP status. */
  async function infer(name: string): Promise<number> {
    const res = await fetch(`${url}/v2/models/${name}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        inputs: [
          {
            name: expected.input.name,
            datatype: 'FP32',
            shape: expected.input.shape,
            data: expected.input.rows,
          },
        ],
      }),
    });
    await res.arrayBuffer();
    return res.status;
  }

  /** Registers the ONNX fixture as the next version of `model` (logged as a run's artifact). */
  async function registerFixture(model: string, experimentId: string): Promise<string> {
    const run = await yard.runs.create({ experimentId, runName: `${model}-train` });
    for (const file of ['MLmodel', 'model.onnx']) {
      await yard.runs.artifacts.upload(
        run.info.runId,
        `model/${file}`,
        await readFile(join(IRIS_MODEL_DIR, file)),
      );
    }
    const version = await yard.modelVersions.create(model, {
      source: `runs:/${run.info.runId}/model`,
      runId: run.info.runId,
    });
    return version.version;
  }

  beforeAll(async () => {
    harness = await openBrowserHarness('yard-operations-ui-');
    ({ url, page } = harness);
    yard = createClient({ baseUrl: url });
    expected = JSON.parse(
      await readFile(join(IRIS_MODEL_DIR, 'expected.json'), 'utf8'),
    ) as Expected;
    const experiment = await yard.experiments.create({ name: 'iris-training' });
    await yard.registeredModels.create({ name: 'iris' });
    await registerFixture('iris', experiment.experimentId);
    await registerFixture('iris', experiment.experimentId);
    await yard.registeredModels.setAlias('iris', 'champion', 1);
    await yard.deployments.create({
      name: 'iris-scorer',
      modelUri: 'models:/iris@champion',
      reason: 'first deployment',
    });
    expect((await yard.deployments.waitUntilSettled('iris-scorer')).status).toBe('ready');
    for (let i = 0; i < 5; i += 1) expect(await infer('iris-scorer')).toBe(200);
  }, 180_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('lists the deployments with their status', async () => {
    await page.goto(`${url}/`);
    await page.getByRole('link', { name: 'Deployments' }).click();
    const row = page.getByTestId('deployment-row').filter({ hasText: 'iris-scorer' });
    await row.waitFor();
    await row.getByText('ready', { exact: true }).waitFor();
    await row.getByText('iris v1 · primary · 100%').waitFor();
    await screenshot(page, 'deployments');
  });

  it('shows the variants, events and live charts of a deployment', async () => {
    // Traffic while the page polls, so that the rates have intervals to be drawn over.
    const sending = { on: true };
    const traffic = (async () => {
      while (sending.on) {
        await infer('iris-scorer');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    try {
      await page.getByRole('link', { name: 'iris-scorer' }).click();
      await page.waitForURL(`${url}/deployments/iris-scorer`);
      const variant = page.getByTestId('variant-row');
      await variant.first().waitFor();
      expect(await variant.count()).toBe(1);
      const cells = await variant.getByRole('cell').allTextContents();
      expect(cells.map((c) => c.trim())).toEqual(
        expect.arrayContaining(['models:/iris@champion', 'primary', 'iris v1', '100%']),
      );
      const events = page.getByTestId('events');
      await events.getByText('created', { exact: true }).first().waitFor();
      await events.getByText('first deployment').first().waitFor();
      // Three uPlot charts, drawn on canvases once the first figures are in.
      const canvases = page.locator('.deployment-chart canvas');
      await canvases.nth(2).waitFor();
      for (let i = 0; i < 3; i += 1) {
        const box = await canvases.nth(i).boundingBox();
        expect(box?.width ?? 0).toBeGreaterThan(100);
        expect(box?.height ?? 0).toBeGreaterThan(100);
      }
      // Several polls with requests between them: the figures table counts them.
      const total = page.getByTestId('variant-figures').locator('tbody td').nth(1);
      for (let i = 0; i < 100; i += 1) {
        if (Number(((await total.textContent()) ?? '0').replace(/\D/g, '')) > 10) break;
        await page.waitForTimeout(200);
      }
      expect(Number(((await total.textContent()) ?? '0').replace(/\D/g, ''))).toBeGreaterThan(10);
      await page.waitForTimeout(4500);
      await screenshot(page, 'deployment');
    } finally {
      sending.on = false;
      await traffic;
    }
  }, 60_000);

  it('rolls a canary back from the page after a confirmation', async () => {
    await yard.deployments.rollout('iris-scorer', {
      modelUri: 'models:/iris/2',
      strategy: 'canary',
      stages: [20, 100],
      holdSeconds: 3600,
      reason: 'try version 2',
    });
    await page.getByTestId('rollout-phase').filter({ hasText: 'running' }).waitFor({
      timeout: 60_000,
    });
    await page.getByTestId('variant-row').nth(1).waitFor();
    await page.getByTestId('rollout').getByText('20%').first().waitFor();
    await screenshot(page, 'deployment-rollout');
    await page.getByRole('button', { name: 'Rollback' }).click();
    const dialog = page.getByRole('dialog', { name: 'Roll back the rollout?' });
    await dialog.waitFor();
    await dialog.getByLabel('Reason').fill('checked by hand');
    await dialog.getByRole('button', { name: 'Roll back now' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByTestId('rollout-phase').filter({ hasText: 'rolled-back' }).waitFor();
    const deployment = await yard.deployments.get('iris-scorer');
    expect(deployment.rollout?.phase).toBe('rolled-back');
    expect(deployment.variants.map((v) => [v.modelVersion, v.role, v.weight])).toEqual([
      ['1', 'primary', 100],
    ]);
    await page.getByRole('button', { name: 'Rollback' }).waitFor({ state: 'detached' });
    await page.getByTestId('events').getByText('checked by hand').first().waitFor();
    // Newest first: the rollback is the top row.
    const newest = await yard.deployments.events('iris-scorer', { order: 'desc', maxResults: 1 });
    const top = page.getByTestId('event-row').first();
    await top.getByText(newest.events[0]?.action ?? '?', { exact: true }).waitFor();
    expect(await top.innerText()).toContain('checked by hand');
  }, 90_000);

  it("draws a finished pipeline's graph with every step's status, and a step's log", async () => {
    const load = step('load', () => [1, 2, 3, 4]);
    const square = step.map('square', { over: load }, (n: number) => n * n);
    const total = step('total', { inputs: { values: square } }, ({ values }, ctx) => {
      const sum = values.reduce((a, b) => a + b, 0);
      ctx.log.info('summed', { sum });
      return { sum };
    });
    const mean = step('mean', { inputs: { values: load } }, ({ values }) => {
      return values.reduce((a, b) => a + b, 0) / values.length;
    });
    const summary: RunSummary = await runPipeline(
      pipeline('ui-numbers', { steps: [load, square, total, mean] }),
      { client: yard },
    );
    expect(summary.status).toBe('succeeded');

    await page.goto(`${url}/runs/${summary.trackingRunId}`);
    await page.getByRole('link', { name: 'Pipeline graph' }).click();
    await page.waitForURL(`${url}/pipeline-runs/${summary.trackingRunId}`);
    await page.getByRole('heading', { name: 'Pipeline ui-numbers' }).waitFor();
    const nodes = page.getByTestId('dag-node');
    await nodes.first().waitFor();
    expect(await nodes.count()).toBe(summary.steps.length);
    for (const s of summary.steps) {
      const node = page.locator(`[data-testid="dag-node"][data-step="${s.name}"]`);
      expect(await node.getAttribute('data-status')).toBe(s.status);
      await node.getByText(s.status, { exact: true }).waitFor();
    }
    expect(await page.getByTestId('dag-edge').count()).toBe(3);
    await page
      .locator('[data-testid="dag-node"][data-step="square"]')
      .getByText('4 items')
      .waitFor();
    await screenshot(page, 'pipeline-run');

    await page.locator('[data-testid="dag-node"][data-step="total"]').click();
    await page.waitForURL(/step=total/);
    const panel = page.getByTestId('step-panel');
    const totalStep = summary.steps.find((s) => s.name === 'total');
    expect(
      (await panel.getByTestId('step-output-digest').textContent())?.includes(
        totalStep?.outputDigest ?? 'none',
      ),
    ).toBe(true);
    await panel
      .getByTestId('step-log')
      .getByText(/INFO summed \{"sum":30\}/)
      .waitFor();
    await panel.getByRole('button', { name: 'Preview output' }).click();
    await panel.getByTestId('step-output').getByText('"sum": 30').waitFor();
    await screenshot(page, 'pipeline-step');

    // A step without log lines says so.
    await page.locator('[data-testid="dag-node"][data-step="mean"]').click();
    await page.getByTestId('step-no-log').waitFor();
  }, 120_000);

  it("builds a running pipeline's view from its step runs and completes it when it ends", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started: () => void = () => undefined;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    const prepare = step('prepare', () => 'ready');
    const slow = step('slow', { inputs: { prepared: prepare } }, async ({ prepared }) => {
      started();
      await gate;
      return `${prepared}!`;
    });
    const run = runPipeline(pipeline('ui-slow', { steps: [prepare, slow] }), { client: yard });
    try {
      await running;
      const runs = await yard.runs.search({
        experimentIds: [(await yard.experiments.getByName('ui-slow')).experimentId],
        filter: "tags.`modelyard.pipeline.name` = 'ui-slow'",
      });
      const trackingRunId = runs.runs[0]?.info.runId ?? '';
      await page.goto(`${url}/pipeline-runs/${trackingRunId}`);
      await page.getByTestId('partial-note').waitFor();
      const slowNode = page.locator('[data-testid="dag-node"][data-step="slow"]');
      await slowNode.waitFor();
      expect(await slowNode.getAttribute('data-status')).toBe('running');
      await screenshot(page, 'pipeline-run-running');
    } finally {
      release();
    }
    const summary = await run;
    expect(summary.status).toBe('succeeded');
    // The page refreshes by itself and, once the summary is stored, draws the edge too.
    await page
      .locator('[data-testid="dag-node"][data-step="slow"][data-status="succeeded"]')
      .waitFor({ timeout: 20_000 });
    // A straight horizontal path has an empty box, which Playwright calls hidden: attached it is.
    await page.locator('[data-testid="dag-edge"][data-from="prepare"][data-to="slow"]').waitFor({
      state: 'attached',
    });
    await page.getByTestId('partial-note').waitFor({ state: 'detached' });
  }, 120_000);
});

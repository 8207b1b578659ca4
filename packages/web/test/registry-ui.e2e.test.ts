import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { createClient } from '@modelyard/client';
import type { YardClient } from '@modelyard/client';
import { haveChromium, openBrowserHarness, screenshot } from './browser-harness.js';
import type { BrowserHarness } from './browser-harness.js';
import { IRIS_MODEL_DIR } from './fixtures.js';

const MLMODEL = join(IRIS_MODEL_DIR, 'MLmodel');

/** Polls `read` until it answers `expected` (the UI's write lands a moment after the click). */
async function eventually<T>(read: () => Promise<T>, expected: T): Promise<void> {
  let last: T | undefined;
  for (let i = 0; i < 100; i += 1) {
    last = await read();
    if (last === expected) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(last).toBe(expected);
}

describe.skipIf(!haveChromium)('the registry pages in Chromium', () => {
  let harness: BrowserHarness | undefined;
  let page: Page;
  let url: string;
  let yard: YardClient;
  const runIds: string[] = [];

  beforeAll(async () => {
    harness = await openBrowserHarness('yard-registry-ui-');
    ({ url, page } = harness);
    yard = createClient({ baseUrl: url });
    const experiment = await yard.experiments.create({ name: 'registry-ui' });
    const mlmodel = await readFile(MLMODEL);
    await yard.registeredModels.create({ name: 'iris-classifier', description: 'First draft.' });
    await yard.registeredModels.create({ name: 'churn' });
    for (let i = 0; i < 3; i += 1) {
      const run = await yard.runs.create({
        experimentId: experiment.experimentId,
        runName: `train-${String(i + 1)}`,
      });
      runIds.push(run.info.runId);
      await yard.runs.artifacts.upload(run.info.runId, 'model/MLmodel', mlmodel);
      await yard.modelVersions.create('iris-classifier', {
        source: `runs:/${run.info.runId}/model`,
        runId: run.info.runId,
      });
    }
    await yard.registeredModels.setAlias('iris-classifier', 'champion', 1);
  }, 180_000);

  afterAll(async () => {
    await harness?.close();
  });

  it('lists the registered models and searches them by name', async () => {
    await page.goto(`${url}/`);
    await page.getByRole('link', { name: 'Models' }).click();
    await page.getByRole('link', { name: 'iris-classifier' }).waitFor();
    await page.getByRole('link', { name: 'churn' }).waitFor();
    expect(await page.getByTestId('model-row').count()).toBe(2);
    await page
      .getByRole('row', { name: /iris-classifier/ })
      .getByText('@champion → v1')
      .waitFor();
    await screenshot(page, 'models');

    await page.getByLabel('Search models by name').fill('IRIS');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/q=IRIS/);
    await page.getByRole('link', { name: 'churn' }).waitFor({ state: 'detached' });
    expect(await page.getByTestId('model-row').count()).toBe(1);

    await page.getByLabel('Search models by name').fill('no-such-model');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No registered model matches “no-such-model”.').waitFor();
  });

  it('shows a model with its versions linked to their source runs', async () => {
    await page.goto(`${url}/models/iris-classifier`);
    await page.getByRole('heading', { name: 'iris-classifier' }).waitFor();
    const rows = page.getByTestId('version-row');
    await rows.first().waitFor();
    expect(await rows.count()).toBe(3);
    // Newest first, each linked to the run it was registered from.
    expect(await rows.first().getByRole('link').textContent()).toBe(runIds[2]);
    await page.getByTestId('aliases').getByText('@champion').waitFor();
    await screenshot(page, 'model');
    await rows.last().getByRole('link').click();
    await page.waitForURL(`${url}/runs/${runIds[0] ?? ''}`);
    await page.getByRole('heading', { name: 'train-1' }).waitFor();
  });

  it('sets a new alias without asking, and moves an existing one after a confirmation', async () => {
    await page.goto(`${url}/models/iris-classifier`);
    const form = page.getByTestId('alias-form');
    await form.waitFor();
    await form.getByLabel('Alias', { exact: true }).fill('challenger');
    await form.getByLabel('Alias version').selectOption('3');
    await form.getByRole('button', { name: 'Set alias' }).click();
    await page.getByTestId('aliases').getByText('@challenger').waitFor();
    expect((await yard.registeredModels.getByAlias('iris-classifier', 'challenger')).version).toBe(
      '3',
    );

    // Cancelling the move changes nothing.
    await form.getByLabel('Alias', { exact: true }).fill('champion');
    await form.getByLabel('Alias version').selectOption('2');
    await form.getByRole('button', { name: 'Set alias' }).click();
    const dialog = page.getByRole('dialog', { name: 'Move alias @champion?' });
    await dialog.waitFor();
    await dialog.getByText('version 1', { exact: true }).waitFor();
    await dialog.getByText('version 2', { exact: true }).waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    expect((await yard.registeredModels.getByAlias('iris-classifier', 'champion')).version).toBe(
      '1',
    );

    // The row's "Move…" fills the form; confirming moves the alias.
    await page
      .getByTestId('alias-row')
      .filter({ hasText: '@champion' })
      .getByRole('button', { name: 'Move…' })
      .click();
    expect(await form.getByLabel('Alias', { exact: true }).inputValue()).toBe('champion');
    await form.getByLabel('Alias version').selectOption('2');
    await form.getByRole('button', { name: 'Set alias' }).click();
    await dialog.waitFor();
    await screenshot(page, 'model-alias-move');
    await dialog.getByRole('button', { name: 'Move to version 2' }).click();
    await dialog.waitFor({ state: 'detached' });
    await eventually(
      async () => (await yard.registeredModels.getByAlias('iris-classifier', 'champion')).version,
      '2',
    );
    await page
      .getByTestId('version-row')
      .filter({ hasText: 'Version 2' })
      .getByText('@champion')
      .waitFor();
  });

  it('edits the model description and its tags', async () => {
    await page.getByRole('button', { name: 'Edit description' }).click();
    await page.getByLabel('Model description').fill('Classifies irises.\nTrained nightly.');
    await page.getByRole('button', { name: 'Save description' }).click();
    await page.getByTestId('model-description').getByText('Trained nightly.').waitFor();
    await eventually(
      async () => (await yard.registeredModels.get('iris-classifier')).description,
      'Classifies irises.\nTrained nightly.',
    );

    await page.getByLabel('New model tag key').fill('team');
    await page.getByLabel('New model tag value').fill('vision');
    await page.getByRole('button', { name: 'Add tag' }).first().click();
    await page.getByTestId('model-tags').getByText('vision').waitFor();
    await eventually(
      async () =>
        (await yard.registeredModels.get('iris-classifier')).tags.find((t) => t.key === 'team')
          ?.value,
      'vision',
    );
    await page.getByRole('button', { name: 'Remove model tag team' }).click();
    await page.getByTestId('model-tags').waitFor({ state: 'detached' });
    expect((await yard.registeredModels.get('iris-classifier')).tags).toEqual([]);
  });

  it("shows a version's digest and signature, and edits its description and stage", async () => {
    await page.getByRole('button', { name: 'Version 1', exact: true }).click();
    await page.waitForURL(/version=1/);
    const panel = page.getByTestId('version-panel');
    await panel.waitFor();
    const version = await yard.modelVersions.get('iris-classifier', 1);
    expect(version.digest).not.toBeNull();
    expect((await panel.getByTestId('version-digest').textContent())?.trim()).toBe(version.digest);
    const inputs = panel.getByTestId('signature-inputs');
    await inputs.getByText('float32 [-1, 20]').waitFor();
    await panel.getByTestId('signature-outputs').getByText('probabilities').waitFor();

    await panel.getByRole('button', { name: 'Edit version description' }).click();
    await panel.getByLabel('Version description').fill('The first candidate.');
    await panel.getByRole('button', { name: 'Save version description' }).click();
    await panel.getByText('The first candidate.').waitFor();
    await eventually(
      async () => (await yard.modelVersions.get('iris-classifier', 1)).description,
      'The first candidate.',
    );

    await panel.getByLabel('New stage').selectOption('Staging');
    await panel.getByRole('button', { name: 'Transition' }).click();
    await eventually(
      async () => (await yard.modelVersions.get('iris-classifier', 1)).currentStage,
      'Staging',
    );
    await screenshot(page, 'model-version');

    // A deep link opens the same panel.
    await page.goto(`${url}/models/iris-classifier?version=3`);
    await page.getByTestId('version-panel').getByText('iris-classifier · version 3').waitFor();
  });
});

/**
 * The executable specification of the `MetadataStore` port. Every adapter runs it:
 * `runMetadataStoreContract('sqlite', makeStore)`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  InvalidParameterError,
  InvalidStateError,
  NotFoundError,
  startRollout,
} from '@modelyard/core';
import type {
  Comparison,
  DeploymentVariant,
  Filter,
  Metric,
  OrderBy,
  StepRunRecord,
} from '@modelyard/core';
import type { MetadataStore, PutPipelineCacheEntryInput } from './metadata-store.js';

/** A fresh, not yet migrated store on an empty database of its own. */
export interface MetadataStoreFixture {
  store: MetadataStore;
  /**
   * Opens another, independent store (its own connection or pool) on the same database, like a
   * second process would. Used by the concurrency tests.
   */
  openAnother(): Promise<MetadataStore>;
  /** Closes the store(s) and removes the database. */
  cleanup(): Promise<void>;
}

/** The artifact root every fixture must pass as `defaultArtifactRoot`. */
export const CONTRACT_ARTIFACT_ROOT = '/tmp/modelyard-contract-artifacts';

const attr = (key: string, comparator: Comparison['comparator'], value: Comparison['value']) =>
  ({ kind: 'attribute', key, comparator, value }) as const satisfies Comparison;
const metric = (key: string, comparator: Comparison['comparator'], value: Comparison['value']) =>
  ({ kind: 'metric', key, comparator, value }) as const satisfies Comparison;
const param = (key: string, comparator: Comparison['comparator'], value: Comparison['value']) =>
  ({ kind: 'param', key, comparator, value }) as const satisfies Comparison;
const tag = (key: string, comparator: Comparison['comparator'], value: Comparison['value']) =>
  ({ kind: 'tag', key, comparator, value }) as const satisfies Comparison;
const order = (kind: OrderBy['kind'], key: string, ascending = true): OrderBy => ({
  kind,
  key,
  ascending,
});
const byKey = <T extends { key: string }>(list: T[]): T[] =>
  [...list].sort((a, b) => a.key.localeCompare(b.key));
const point = (key: string, value: number, step: number, timestamp = 1000 + step): Metric => ({
  key,
  value,
  step,
  timestamp,
});

/**
 * Registers the contract suite for one adapter. `makeStore` opens a fresh store on an empty
 * database for every test.
 */
export function runMetadataStoreContract(
  name: string,
  makeStore: () => Promise<MetadataStoreFixture>,
): void {
  describe(`MetadataStore contract: ${name}`, () => {
    let fixture: MetadataStoreFixture;
    let store: MetadataStore;
    const others: MetadataStore[] = [];

    const another = async (): Promise<MetadataStore> => {
      const other = await fixture.openAnother();
      others.push(other);
      return other;
    };

    beforeEach(async () => {
      fixture = await makeStore();
      store = fixture.store;
    });

    afterEach(async () => {
      for (const other of others.splice(0)) await other.close();
      await fixture.cleanup();
    });

    const searchRuns = (
      experimentIds: string[],
      filter: Filter = [],
      orderBy: OrderBy[] = [],
      maxResults = 1000,
      offset = 0,
    ) =>
      store.searchRuns({
        experimentIds,
        filter,
        orderBy,
        maxResults,
        offset,
        viewType: 'ACTIVE_ONLY',
      });

    describe('migrations', () => {
      it('creates the Default experiment and can be applied twice', async () => {
        await store.migrate();
        await store.migrate();
        await store.ping();
        const exp = await store.getExperiment('0');
        expect(exp).toMatchObject({
          experimentId: '0',
          name: 'Default',
          artifactLocation: `${CONTRACT_ARTIFACT_ROOT}/0`,
          lifecycleStage: 'active',
        });
      });

      it('lets two stores migrate the same database at the same time', async () => {
        const second = await another();
        await Promise.all([store.migrate(), second.migrate(), store.migrate()]);
        expect((await second.getExperiment('0')).name).toBe('Default');
        const id = await store.createExperiment({ name: 'after-concurrent-migrate' });
        expect((await second.getExperiment(id)).name).toBe('after-concurrent-migrate');
      });
    });

    describe('with a migrated database', () => {
      beforeEach(async () => {
        await store.migrate();
      });

      // ------------------------------------------------------------ experiments
      describe('experiments', () => {
        it('creates an experiment with an integer id, default location and tags', async () => {
          const id = await store.createExperiment({
            name: 'exp-a',
            tags: [
              { key: 'team', value: 'vision' },
              { key: 'team', value: 'nlp' },
            ],
          });
          expect(id).toMatch(/^[1-9]\d*$/);
          const exp = await store.getExperiment(id);
          expect(exp.name).toBe('exp-a');
          expect(exp.artifactLocation).toBe(`${CONTRACT_ARTIFACT_ROOT}/${id}`);
          expect(exp.tags).toEqual([{ key: 'team', value: 'nlp' }]);
          expect(exp.creationTime).toBeGreaterThan(0);
          expect(await store.getExperimentByName('exp-a')).toMatchObject({ experimentId: id });
          expect(await store.getExperimentByName('nope')).toBeNull();
          const custom = await store.createExperiment({
            name: 'exp-b',
            artifactLocation: 's3://bucket/b',
          });
          expect((await store.getExperiment(custom)).artifactLocation).toBe('s3://bucket/b');
        });

        it('rejects a duplicate name and reports missing experiments', async () => {
          await store.createExperiment({ name: 'dup' });
          await expect(store.createExperiment({ name: 'dup' })).rejects.toBeInstanceOf(
            AlreadyExistsError,
          );
          await expect(store.getExperiment('987654')).rejects.toBeInstanceOf(NotFoundError);
          await expect(store.getExperiment('not-a-number')).rejects.toBeInstanceOf(NotFoundError);
        });

        it('renames, deletes and restores experiments with their runs', async () => {
          const id = await store.createExperiment({ name: 'old' });
          await store.createExperiment({ name: 'taken' });
          await expect(store.renameExperiment(id, 'taken')).rejects.toBeInstanceOf(
            AlreadyExistsError,
          );
          await store.renameExperiment(id, 'new');
          expect((await store.getExperiment(id)).name).toBe('new');

          const keep = await store.createRun(runInput(id));
          const earlier = await store.createRun(runInput(id));
          await store.deleteRun(earlier.info.runId);
          await new Promise((resolve) => setTimeout(resolve, 5));
          await store.deleteExperiment(id);
          expect((await store.getExperiment(id)).lifecycleStage).toBe('deleted');
          expect((await store.getRun(keep.info.runId)).info.lifecycleStage).toBe('deleted');
          await expect(store.renameExperiment(id, 'x')).rejects.toBeInstanceOf(InvalidStateError);
          await expect(store.createRun(runInput(id))).rejects.toBeInstanceOf(InvalidStateError);
          await expect(store.setExperimentTag(id, { key: 'k', value: 'v' })).rejects.toBeInstanceOf(
            InvalidStateError,
          );

          await store.restoreExperiment(id);
          expect((await store.getExperiment(id)).lifecycleStage).toBe('active');
          expect((await store.getRun(keep.info.runId)).info.lifecycleStage).toBe('active');
          expect((await store.getRun(earlier.info.runId)).info.lifecycleStage).toBe('deleted');
          await expect(store.restoreExperiment(id)).rejects.toBeInstanceOf(InvalidStateError);
        });

        it('refuses to delete the Default experiment', async () => {
          await expect(store.deleteExperiment('0')).rejects.toBeInstanceOf(InvalidParameterError);
        });

        it('sets and deletes experiment tags', async () => {
          const id = await store.createExperiment({ name: 'tags' });
          await store.setExperimentTag(id, { key: 'a', value: '1' });
          await store.setExperimentTag(id, { key: 'a', value: '2' });
          expect((await store.getExperiment(id)).tags).toEqual([{ key: 'a', value: '2' }]);
          await store.deleteExperimentTag(id, 'a');
          expect((await store.getExperiment(id)).tags).toEqual([]);
          await expect(store.deleteExperimentTag(id, 'a')).rejects.toBeInstanceOf(NotFoundError);
          await expect(
            store.setExperimentTag('424242', { key: 'a', value: '1' }),
          ).rejects.toBeInstanceOf(NotFoundError);
        });

        it('searches experiments by name, tag and view type, newest first, in pages', async () => {
          const ids: string[] = [];
          for (const n of ['alpha', 'Alpha-2', 'beta', 'gamma']) {
            ids.push(await store.createExperiment({ name: n, tags: [{ key: 'n', value: n }] }));
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
          const names = async (filter: Filter, orderBy: OrderBy[] = []) =>
            (
              await store.searchExperiments({
                filter,
                orderBy,
                viewType: 'ACTIVE_ONLY',
                maxResults: 100,
                offset: 0,
              })
            ).items.map((e) => e.name);
          expect(await names([])).toEqual(['gamma', 'beta', 'Alpha-2', 'alpha', 'Default']);
          expect(await names([attr('name', 'LIKE', 'alpha%')])).toEqual(['alpha']);
          expect(await names([attr('name', 'ILIKE', 'alpha%')])).toEqual(['Alpha-2', 'alpha']);
          expect(await names([tag('n', '=', 'beta')])).toEqual(['beta']);
          expect(await names([tag('n', '!=', 'beta')])).toEqual(['gamma', 'Alpha-2', 'alpha']);
          expect(await names([], [order('attribute', 'name')])).toEqual([
            'Alpha-2',
            'Default',
            'alpha',
            'beta',
            'gamma',
          ]);
          await store.deleteExperiment(ids[2]!);
          const deleted = await store.searchExperiments({
            filter: [],
            orderBy: [],
            viewType: 'DELETED_ONLY',
            maxResults: 10,
            offset: 0,
          });
          expect(deleted.items.map((e) => e.name)).toEqual(['beta']);
          const first = await store.searchExperiments({
            filter: [],
            orderBy: [],
            viewType: 'ALL',
            maxResults: 3,
            offset: 0,
          });
          expect(first.items).toHaveLength(3);
          expect(first.nextOffset).toBe(3);
          const second = await store.searchExperiments({
            filter: [],
            orderBy: [],
            viewType: 'ALL',
            maxResults: 3,
            offset: 3,
          });
          expect(second.items.map((e) => e.name)).toEqual(['alpha', 'Default']);
          expect(second.nextOffset).toBeNull();
        });
      });

      // ------------------------------------------------------------ runs
      describe('runs', () => {
        let experimentId: string;
        beforeEach(async () => {
          experimentId = await store.createExperiment({ name: 'runs' });
        });

        it('creates a run with a 32-hex id, its artifact URI and run name tag', async () => {
          const run = await store.createRun({
            ...runInput(experimentId),
            runName: 'brave-fox',
            tags: [{ key: 'source', value: 'test' }],
          });
          expect(run.info.runId).toMatch(/^[0-9a-f]{32}$/);
          expect(run.info).toMatchObject({
            runName: 'brave-fox',
            experimentId,
            userId: 'alice',
            status: 'RUNNING',
            startTime: 1_000,
            endTime: null,
            lifecycleStage: 'active',
            artifactUri: `${CONTRACT_ARTIFACT_ROOT}/${experimentId}/${run.info.runId}/artifacts`,
          });
          expect(byKey(run.data.tags)).toEqual([
            { key: 'mlflow.runName', value: 'brave-fox' },
            { key: 'source', value: 'test' },
          ]);
          expect(await store.getRun(run.info.runId)).toEqual(run);
          await expect(store.getRun('0'.repeat(32))).rejects.toBeInstanceOf(NotFoundError);
          await expect(store.createRun(runInput('31337'))).rejects.toBeInstanceOf(NotFoundError);
        });

        it('updates status, end time and name (with the mlflow.runName tag)', async () => {
          const run = await store.createRun(runInput(experimentId));
          const info = await store.updateRun(run.info.runId, {
            status: 'FINISHED',
            endTime: 5_000,
            runName: 'renamed',
          });
          expect(info).toMatchObject({ status: 'FINISHED', endTime: 5_000, runName: 'renamed' });
          const again = await store.getRun(run.info.runId);
          expect(again.info).toEqual(info);
          expect(again.data.tags).toContainEqual({ key: 'mlflow.runName', value: 'renamed' });
          await store.logBatch(run.info.runId, {
            metrics: [],
            params: [],
            tags: [{ key: 'mlflow.runName', value: 'by-tag' }],
          });
          expect((await store.getRun(run.info.runId)).info.runName).toBe('by-tag');
        });

        it('deletes and restores a run, and refuses writes to a deleted run', async () => {
          const run = await store.createRun(runInput(experimentId));
          await store.deleteRun(run.info.runId);
          expect((await store.getRun(run.info.runId)).info.lifecycleStage).toBe('deleted');
          const batch = { metrics: [point('m', 1, 0)], params: [], tags: [] };
          await expect(store.logBatch(run.info.runId, batch)).rejects.toBeInstanceOf(
            InvalidStateError,
          );
          await expect(
            store.updateRun(run.info.runId, { status: 'FAILED' }),
          ).rejects.toBeInstanceOf(InvalidStateError);
          await store.restoreRun(run.info.runId);
          await store.logBatch(run.info.runId, batch);
          await expect(store.deleteRun('f'.repeat(32))).rejects.toBeInstanceOf(NotFoundError);
          await expect(store.logBatch('f'.repeat(32), batch)).rejects.toBeInstanceOf(NotFoundError);
        });

        it('keeps params immutable: the same value is accepted, a new value is rejected', async () => {
          const { runId } = (await store.createRun(runInput(experimentId))).info;
          await store.logBatch(runId, {
            metrics: [],
            params: [{ key: 'lr', value: '0.1' }],
            tags: [],
          });
          await store.logBatch(runId, {
            metrics: [],
            params: [{ key: 'lr', value: '0.1' }],
            tags: [],
          });
          const error: unknown = await store
            .logBatch(runId, { metrics: [], params: [{ key: 'lr', value: '0.2' }], tags: [] })
            .catch((e: unknown) => e);
          expect(error).toBeInstanceOf(InvalidParameterError);
          expect((error as Error).message).toContain('lr');
          expect((error as Error).message).toContain('0.1');
          expect((error as Error).message).toContain('0.2');
          const dup = store.logBatch(runId, {
            metrics: [],
            params: [
              { key: 'bs', value: '32' },
              { key: 'bs', value: '64' },
            ],
            tags: [],
          });
          await expect(dup).rejects.toBeInstanceOf(InvalidParameterError);
          await expect(dup).rejects.toThrow(/bs/);
          expect((await store.getRun(runId)).data.params).toEqual([{ key: 'lr', value: '0.1' }]);
        });

        it('applies a batch all or nothing', async () => {
          const { runId } = (await store.createRun(runInput(experimentId))).info;
          await store.logBatch(runId, {
            metrics: [],
            params: [{ key: 'fixed', value: 'a' }],
            tags: [],
          });
          await expect(
            store.logBatch(runId, {
              metrics: [point('loss', 0.5, 1)],
              params: [
                { key: 'fresh', value: 'x' },
                { key: 'fixed', value: 'b' },
              ],
              tags: [{ key: 'note', value: 'should not persist' }],
            }),
          ).rejects.toBeInstanceOf(InvalidParameterError);
          const run = await store.getRun(runId);
          expect(run.data.params).toEqual([{ key: 'fixed', value: 'a' }]);
          expect(run.data.metrics).toEqual([]);
          expect(run.data.tags.map((t) => t.key)).toEqual(['mlflow.runName']);
          const history = await store.getMetricHistory(runId, 'loss', {
            maxResults: 10,
            offset: 0,
          });
          expect(history.items).toEqual([]);
        });

        it('stores NaN and infinities faithfully', async () => {
          const { runId } = (await store.createRun(runInput(experimentId))).info;
          await store.logBatch(runId, {
            metrics: [
              point('nan', NaN, 0),
              point('pinf', Infinity, 0),
              point('ninf', -Infinity, 0),
              point('big', 1.5e300, 0),
              point('neg', -0.25, 0),
            ],
            params: [],
            tags: [],
          });
          const latest = new Map(
            (await store.getRun(runId)).data.metrics.map((m) => [m.key, m.value]),
          );
          expect(latest.get('nan')).toBeNaN();
          expect(latest.get('pinf')).toBe(Infinity);
          expect(latest.get('ninf')).toBe(-Infinity);
          expect(latest.get('big')).toBe(1.5e300);
          expect(latest.get('neg')).toBe(-0.25);
          const history = await store.getMetricHistory(runId, 'nan', {
            maxResults: 10,
            offset: 0,
          });
          expect(history.items[0]!.value).toBeNaN();
          const found = await searchRuns([experimentId], [metric('pinf', '>', 1e308)]);
          expect(found.items.map((r) => r.info.runId)).toEqual([runId]);
          expect((await searchRuns([experimentId], [metric('nan', '=', 0)])).items).toEqual([]);
        });

        it('appends metrics, keeps the latest by step then timestamp, and pages history', async () => {
          const { runId } = (await store.createRun(runInput(experimentId))).info;
          await store.logBatch(runId, {
            metrics: [point('acc', 0.5, 2, 10), point('acc', 0.1, 0, 50), point('acc', 0.3, 1, 5)],
            params: [],
            tags: [],
          });
          await store.logBatch(runId, {
            metrics: [point('acc', 0.9, 1, 99), point('acc', 0.5, 2, 10)],
            params: [],
            tags: [],
          });
          const run = await store.getRun(runId);
          expect(run.data.metrics).toEqual([
            expect.objectContaining({ key: 'acc', value: 0.5, step: 2, timestamp: 10 }),
          ]);
          const page1 = await store.getMetricHistory(runId, 'acc', { maxResults: 3, offset: 0 });
          expect(page1.items.map((m) => [m.step, m.value])).toEqual([
            [0, 0.1],
            [1, 0.3],
            [1, 0.9],
          ]);
          expect(page1.nextOffset).toBe(3);
          const page2 = await store.getMetricHistory(runId, 'acc', { maxResults: 3, offset: 3 });
          // The identical point logged twice is stored once.
          expect(page2.items.map((m) => [m.step, m.value])).toEqual([[2, 0.5]]);
          expect(page2.nextOffset).toBeNull();
          await expect(
            store.getMetricHistory('e'.repeat(32), 'acc', { maxResults: 1, offset: 0 }),
          ).rejects.toBeInstanceOf(NotFoundError);
        });

        it('streams a history in chunks in the order of the paged history', async () => {
          const { runId } = (await store.createRun(runInput(experimentId))).info;
          await store.logBatch(runId, {
            metrics: [
              point('s', 3, 2, 5),
              point('s', 1, 0, 5),
              point('s', NaN, 1, 5),
              point('s', 2, 1, 5),
              point('s', 0.5, 1, 4),
              point('other', 9, 0, 1),
            ],
            params: [],
            tags: [],
          });
          const chunks: Metric[][] = [];
          for await (const chunk of store.streamMetricHistory(runId, 's', 2)) chunks.push(chunk);
          expect(chunks.map((c) => c.length)).toEqual([2, 2, 1]);
          const paged = await store.getMetricHistory(runId, 's', { maxResults: 10, offset: 0 });
          expect(chunks.flat()).toEqual(paged.items);
          const ranged: Metric[] = [];
          for await (const chunk of store.streamMetricHistory(runId, 's', 1, { minStep: 1 })) {
            ranged.push(...chunk);
          }
          expect(ranged).toEqual(paged.items.filter((m) => m.step >= 1));
          const capped: Metric[] = [];
          const range = { minStep: 1, maxStep: 1 };
          for await (const chunk of store.streamMetricHistory(runId, 's', 2, range)) {
            capped.push(...chunk);
          }
          expect(capped.map((m) => m.step)).toEqual([1, 1, 1]);
          const columns = {
            steps: [] as number[],
            timestamps: [] as number[],
            values: [] as number[],
          };
          for await (const chunk of store.streamMetricSeries(runId, 's', { maxStep: 1 }, 2)) {
            expect(chunk.steps.length).toBeLessThanOrEqual(2);
            columns.steps.push(...chunk.steps);
            columns.timestamps.push(...chunk.timestamps);
            columns.values.push(...chunk.values);
          }
          const upToOne = paged.items.filter((m) => m.step <= 1);
          expect(columns).toEqual({
            steps: upToOne.map((m) => m.step),
            timestamps: upToOne.map((m) => m.timestamp),
            values: upToOne.map((m) => m.value),
          });
          expect(columns.values.some((v) => Number.isNaN(v))).toBe(true);
          await expect(store.streamMetricSeries('e'.repeat(32), 's').next()).rejects.toBeInstanceOf(
            NotFoundError,
          );
          const none: Metric[][] = [];
          for await (const chunk of store.streamMetricHistory(runId, 'missing')) none.push(chunk);
          expect(none).toEqual([]);
          await expect(
            store.streamMetricHistory('e'.repeat(32), 's').next(),
          ).rejects.toBeInstanceOf(NotFoundError);
        });

        it('samples a long metric to each step interval’s lowest and highest point', async () => {
          const { runId } = (await store.createRun(runInput(experimentId))).info;
          // 1,000 steps with a sawtooth of period 10, a spike at 503 and a NaN at 250.
          const metrics = Array.from({ length: 1000 }, (_, step) =>
            point('saw', step === 503 ? 100 : step === 250 ? NaN : step % 10, step, step),
          );
          await store.logBatch(runId, { metrics, params: [], tags: [] });

          const few = await store.sampleMetricSeries(runId, 'saw', {}, 500);
          expect(few).toMatchObject({ totalPoints: 1000, sampled: false });
          expect(few.steps).toEqual(metrics.map((m) => m.step));
          expect(few.values.filter((v) => Number.isNaN(v))).toHaveLength(1);

          // 20 intervals of 50 steps each: every interval's 0 and 9 (or the spike), in step order.
          const sample = await store.sampleMetricSeries(runId, 'saw', {}, 20);
          expect(sample).toMatchObject({ totalPoints: 1000, sampled: true });
          expect(sample.steps[0]).toBe(0);
          expect(sample.steps.at(-1)).toBe(999);
          expect(sample.steps).toEqual([...sample.steps].sort((a, b) => a - b));
          expect(sample.steps.length).toBeLessThanOrEqual(2 * 20 + 2);
          expect(sample.values.some((v) => Number.isNaN(v))).toBe(false);
          for (let b = 0; b < 20; b++) {
            const inside = sample.steps
              .map((step, i) => ({ step, value: sample.values[i] }))
              .filter((p) => p.step >= b * 50 && p.step < (b + 1) * 50);
            expect(inside.map((p) => p.value)).toContain(0);
            expect(inside.map((p) => p.value)).toContain(b === 10 ? 100 : 9);
          }
          const index = sample.steps.indexOf(503);
          expect(sample.values[index]).toBe(100);
          expect(sample.timestamps[index]).toBe(503);

          const ranged = await store.sampleMetricSeries(
            runId,
            'saw',
            { minStep: 400, maxStep: 599 },
            10,
          );
          expect(ranged).toMatchObject({ totalPoints: 200, sampled: true });
          expect(ranged.steps[0]).toBe(400);
          expect(ranged.steps.at(-1)).toBe(599);
          expect(ranged.steps.every((s) => s >= 400 && s <= 599)).toBe(true);
          expect(ranged.values).toContain(100);

          const none = await store.sampleMetricSeries(runId, 'missing', {}, 10);
          expect(none).toEqual({
            steps: [],
            timestamps: [],
            values: [],
            totalPoints: 0,
            sampled: false,
          });
          await expect(
            store.sampleMetricSeries('e'.repeat(32), 'saw', {}, 10),
          ).rejects.toBeInstanceOf(NotFoundError);
          await expect(store.sampleMetricSeries(runId, 'saw', {}, 0)).rejects.toBeInstanceOf(
            InvalidParameterError,
          );
        });

        it('logs a large batch in one call', async () => {
          const { runId } = (await store.createRun(runInput(experimentId))).info;
          const metrics = Array.from({ length: 5000 }, (_, i) => point(`m${i % 50}`, i, i));
          const params = Array.from({ length: 1500 }, (_, i) => ({ key: `p${i}`, value: `${i}` }));
          const tags = Array.from({ length: 1500 }, (_, i) => ({ key: `t${i}`, value: `${i}` }));
          await store.logBatch(runId, { metrics, params, tags });
          const run = await store.getRun(runId);
          expect(run.data.metrics).toHaveLength(50);
          expect(run.data.params).toHaveLength(1500);
          expect(run.data.tags).toHaveLength(1501);
          const m49 = run.data.metrics.find((m) => m.key === 'm49');
          expect(m49?.value).toBe(4999);
          const history = await store.getMetricHistory(runId, 'm0', {
            maxResults: 1000,
            offset: 0,
          });
          expect(history.items).toHaveLength(100);
        });

        it('sets tags last-write-wins and deletes them', async () => {
          const { runId } = (await store.createRun(runInput(experimentId))).info;
          await store.logBatch(runId, {
            metrics: [],
            params: [],
            tags: [
              { key: 'a', value: '1' },
              { key: 'a', value: '2' },
            ],
          });
          await store.logBatch(runId, {
            metrics: [],
            params: [],
            tags: [{ key: 'b', value: 'x' }],
          });
          await store.logBatch(runId, {
            metrics: [],
            params: [],
            tags: [{ key: 'b', value: 'y' }],
          });
          const tags = (await store.getRun(runId)).data.tags.filter(
            (t) => t.key !== 'mlflow.runName',
          );
          expect(byKey(tags)).toEqual([
            { key: 'a', value: '2' },
            { key: 'b', value: 'y' },
          ]);
          await store.deleteRunTag(runId, 'a');
          await expect(store.deleteRunTag(runId, 'a')).rejects.toBeInstanceOf(NotFoundError);
          expect((await store.getRun(runId)).data.tags.map((t) => t.key)).not.toContain('a');
        });

        it('records dataset inputs once per dataset and model inputs and outputs', async () => {
          const { runId } = (await store.createRun(runInput(experimentId))).info;
          const dataset = {
            name: 'iris',
            digest: 'abc123',
            sourceType: 'local',
            source: '{"uri": "/data/iris.csv"}',
            schema: '{"cols": []}',
            profile: null,
          };
          const input = { dataset, tags: [{ key: 'mlflow.data.context', value: 'training' }] };
          await store.logInputs(runId, [input], [{ modelId: 'm-0123' }]);
          await store.logInputs(runId, [input], [{ modelId: 'm-0123' }]);
          await store.logOutputs(runId, [{ modelId: 'm-0456', step: 3 }]);
          const run = await store.getRun(runId);
          expect(run.inputs.datasetInputs).toEqual([input]);
          expect(run.inputs.modelInputs).toEqual([{ modelId: 'm-0123' }]);
          expect(run.outputs.modelOutputs).toEqual([{ modelId: 'm-0456', step: 3 }]);
          const other = (await store.createRun(runInput(experimentId))).info.runId;
          await store.logInputs(other, [
            {
              dataset: { ...dataset, digest: 'def456' },
              tags: [{ key: 'mlflow.data.context', value: 'eval' }],
            },
          ]);
          const ids = async (filter: Filter) =>
            (await searchRuns([experimentId], filter)).items.map((r) => r.info.runId).sort();
          expect(
            await ids([{ kind: 'dataset', key: 'name', comparator: '=', value: 'iris' }]),
          ).toEqual([runId, other].sort());
          expect(
            await ids([{ kind: 'dataset', key: 'digest', comparator: '=', value: 'def456' }]),
          ).toEqual([other]);
          expect(
            await ids([{ kind: 'dataset', key: 'context', comparator: 'IN', value: ['training'] }]),
          ).toEqual([runId]);
        });

        it('samples metric history across runs by step, keeping both ends', async () => {
          const a = (await store.createRun(runInput(experimentId))).info.runId;
          const b = (await store.createRun(runInput(experimentId))).info.runId;
          await store.logBatch(a, {
            metrics: Array.from({ length: 100 }, (_, i) => point('loss', 100 - i, i)),
            params: [],
            tags: [],
          });
          await store.logBatch(b, {
            metrics: Array.from({ length: 10 }, (_, i) => point('loss', i, i * 5 + 3)),
            params: [],
            tags: [],
          });
          const all = await store.getMetricHistoryBulkInterval({
            runIds: [a, b],
            metricKey: 'loss',
            maxResults: 10,
          });
          const stepsA = all.filter((m) => m.runId === a).map((m) => m.step);
          const stepsB = all.filter((m) => m.runId === b).map((m) => m.step);
          expect(stepsA.length).toBeLessThanOrEqual(10);
          expect(stepsA[0]).toBe(0);
          expect(stepsA.at(-1)).toBe(99);
          expect(stepsA).toEqual([...stepsA].sort((x, y) => x - y));
          expect(stepsB[0]).toBe(3);
          expect(stepsB.at(-1)).toBe(48);
          const windowed = await store.getMetricHistoryBulkInterval({
            runIds: [a],
            metricKey: 'loss',
            startStep: 10,
            endStep: 20,
            maxResults: 100,
          });
          expect(windowed.map((m) => m.step)).toEqual(Array.from({ length: 11 }, (_, i) => i + 10));
          expect(windowed[0]).toMatchObject({ key: 'loss', value: 90, runId: a });
          await expect(
            store.getMetricHistoryBulkInterval({
              runIds: [a],
              metricKey: 'loss',
              startStep: 5,
              maxResults: 10,
            }),
          ).rejects.toBeInstanceOf(InvalidParameterError);
        });
      });

      // ------------------------------------------------------------ search runs
      describe('searching runs', () => {
        let experimentId: string;
        let runIds: string[];

        beforeEach(async () => {
          experimentId = await store.createExperiment({ name: 'search' });
          runIds = [];
          // r0..r4: start times 100..500; metrics/params vary; r4 has no 'acc', r3 has NaN acc.
          const specs = [
            { acc: 0.7, model: 'cnn', team: 'Vision', status: 'FINISHED' },
            { acc: 0.9, model: 'rnn', team: 'vision', status: 'FINISHED' },
            { acc: 0.8, model: 'cnn', team: 'nlp', status: 'FAILED' },
            { acc: NaN, model: 'mlp', team: 'nlp', status: 'RUNNING' },
            { acc: undefined, model: 'cnn', team: 'audio', status: 'RUNNING' },
          ];
          for (const [i, spec] of specs.entries()) {
            const run = await store.createRun({
              ...runInput(experimentId),
              runName: `run-${i}`,
              startTime: (i + 1) * 100,
            });
            runIds.push(run.info.runId);
            await store.logBatch(run.info.runId, {
              metrics: spec.acc === undefined ? [] : [point('acc', spec.acc, 0)],
              params: [{ key: 'model', value: spec.model }],
              tags: [{ key: 'team', value: spec.team }],
            });
            if (spec.status !== 'RUNNING') {
              await store.updateRun(run.info.runId, {
                status: spec.status as 'FINISHED',
                endTime: 9_000,
              });
            }
          }
        });

        const names = async (filter: Filter, orderBy: OrderBy[] = []) =>
          (await searchRuns([experimentId], filter, orderBy)).items.map((r) => r.info.runName);

        it('orders by start time, newest first, by default', async () => {
          expect(await names([])).toEqual(['run-4', 'run-3', 'run-2', 'run-1', 'run-0']);
        });

        it('filters on metrics, params, tags and attributes', async () => {
          expect(await names([metric('acc', '>', 0.75)])).toEqual(['run-2', 'run-1']);
          expect(await names([metric('acc', '<=', 0.8), param('model', '=', 'cnn')])).toEqual([
            'run-2',
            'run-0',
          ]);
          expect(await names([param('model', '!=', 'cnn')])).toEqual(['run-3', 'run-1']);
          expect(await names([param('model', 'IN', ['mlp', 'rnn'])])).toEqual(['run-3', 'run-1']);
          expect(await names([param('model', 'NOT IN', ['cnn'])])).toEqual(['run-3', 'run-1']);
          expect(await names([tag('team', 'LIKE', 'vis%')])).toEqual(['run-1']);
          expect(await names([tag('team', 'ILIKE', 'VIS%')])).toEqual(['run-1', 'run-0']);
          expect(
            await names([tag('missing', 'IS NULL', null), metric('acc', 'IS NULL', null)]),
          ).toEqual(['run-4']);
          expect(await names([attr('status', '=', 'FINISHED')])).toEqual(['run-1', 'run-0']);
          expect(await names([attr('start_time', '>=', 300)])).toEqual(['run-4', 'run-3', 'run-2']);
          expect(await names([attr('run_name', 'LIKE', 'run-1')])).toEqual(['run-1']);
          expect(await names([attr('run_id', 'IN', [runIds[0]!, runIds[3]!])])).toEqual([
            'run-3',
            'run-0',
          ]);
          expect(await names([attr('end_time', 'IS NULL', null)])).toEqual(['run-4', 'run-3']);
          await expect(names([attr('no_such_attribute', '=', 'x')])).rejects.toBeInstanceOf(
            InvalidParameterError,
          );
        });

        it('sorts by a metric with NaN after numbers and missing values last', async () => {
          expect(await names([], [order('metric', 'acc', true)])).toEqual([
            'run-0',
            'run-2',
            'run-1',
            'run-3',
            'run-4',
          ]);
          expect(await names([], [order('metric', 'acc', false)])).toEqual([
            'run-1',
            'run-2',
            'run-0',
            'run-3',
            'run-4',
          ]);
        });

        it('sorts by params, tags and attributes with ties broken by start time', async () => {
          expect(await names([], [order('param', 'model')])).toEqual([
            'run-4',
            'run-2',
            'run-0',
            'run-3',
            'run-1',
          ]);
          expect(await names([], [order('tag', 'team', false)])).toEqual([
            'run-1',
            'run-3',
            'run-2',
            'run-4',
            'run-0',
          ]);
          expect(await names([], [order('attribute', 'start_time', true)])).toEqual([
            'run-0',
            'run-1',
            'run-2',
            'run-3',
            'run-4',
          ]);
        });

        it('pages through results with nextOffset and honours the view type', async () => {
          const p1 = await searchRuns([experimentId], [], [], 2, 0);
          expect(p1.items.map((r) => r.info.runName)).toEqual(['run-4', 'run-3']);
          expect(p1.nextOffset).toBe(2);
          const p3 = await searchRuns([experimentId], [], [], 2, 4);
          expect(p3.items.map((r) => r.info.runName)).toEqual(['run-0']);
          expect(p3.nextOffset).toBeNull();
          await store.deleteRun(runIds[0]!);
          expect(await names([])).not.toContain('run-0');
          const deleted = await store.searchRuns({
            experimentIds: [experimentId],
            filter: [],
            orderBy: [],
            maxResults: 10,
            offset: 0,
            viewType: 'DELETED_ONLY',
          });
          expect(deleted.items.map((r) => r.info.runName)).toEqual(['run-0']);
          expect((await searchRuns(['0'])).items).toEqual([]);
        });

        it('returns a page of more than 1,000 runs with their data', async () => {
          const big = await store.createExperiment({ name: 'big' });
          const total = 1_100;
          // Created in bulk through concurrent calls; the store serialises writes itself.
          await Promise.all(
            Array.from({ length: total }, async (_, i) => {
              const run = await store.createRun({
                ...runInput(big),
                runName: `b${i}`,
                startTime: i,
              });
              await store.logBatch(run.info.runId, {
                metrics: [point('score', i, 0)],
                params: [{ key: 'i', value: String(i) }],
                tags: [],
              });
            }),
          );
          const page = await searchRuns(
            [big],
            [metric('score', '>=', 10)],
            [order('metric', 'score', false)],
            1_500,
          );
          expect(page.items).toHaveLength(total - 10);
          expect(page.nextOffset).toBeNull();
          expect(page.items[0]!.data.params).toEqual([{ key: 'i', value: String(total - 1) }]);
          expect(page.items.at(-1)!.data.metrics[0]!.value).toBe(10);
          expect(page.items.every((r) => r.data.tags.length === 1)).toBe(true);
        });
      });

      // ------------------------------------------------------------ logged models
      describe('logged models', () => {
        let experimentId: string;
        beforeEach(async () => {
          experimentId = await store.createExperiment({ name: 'models' });
        });

        it('creates, finalizes, tags and deletes a logged model', async () => {
          const model = await store.createLoggedModel({
            experimentId,
            name: 'clf',
            modelType: 'sklearn',
            params: [{ key: 'alpha', value: '0.5' }],
            tags: [{ key: 'owner', value: 'bob' }],
          });
          expect(model.modelId).toMatch(/^m-[0-9a-f]{32}$/);
          expect(model).toMatchObject({
            experimentId,
            name: 'clf',
            status: 'LOGGED_MODEL_PENDING',
            modelType: 'sklearn',
            artifactUri: `${CONTRACT_ARTIFACT_ROOT}/${experimentId}/models/${model.modelId}/artifacts`,
            params: [{ key: 'alpha', value: '0.5' }],
            tags: [{ key: 'owner', value: 'bob' }],
            metrics: [],
          });
          const ready = await store.finalizeLoggedModel(model.modelId, 'LOGGED_MODEL_READY');
          expect(ready.status).toBe('LOGGED_MODEL_READY');
          await store.setLoggedModelTags(model.modelId, [
            { key: 'owner', value: 'carol' },
            { key: 'stage', value: 'dev' },
          ]);
          await store.deleteLoggedModelTag(model.modelId, 'stage');
          await expect(store.deleteLoggedModelTag(model.modelId, 'stage')).rejects.toBeInstanceOf(
            NotFoundError,
          );
          await store.logLoggedModelParams(model.modelId, [
            { key: 'alpha', value: '0.5' },
            { key: 'beta', value: '1' },
          ]);
          await expect(
            store.logLoggedModelParams(model.modelId, [{ key: 'alpha', value: '0.7' }]),
          ).rejects.toBeInstanceOf(InvalidParameterError);
          const got = await store.getLoggedModel(model.modelId);
          expect(got.tags).toEqual([{ key: 'owner', value: 'carol' }]);
          expect(byKey(got.params)).toEqual([
            { key: 'alpha', value: '0.5' },
            { key: 'beta', value: '1' },
          ]);
          await store.deleteLoggedModel(model.modelId);
          await expect(store.getLoggedModel(model.modelId)).rejects.toBeInstanceOf(NotFoundError);
          await expect(
            store.createLoggedModel({ experimentId: '99999', name: 'x' }),
          ).rejects.toBeInstanceOf(NotFoundError);
        });

        it('shows metrics logged with a model id on the model, latest per key', async () => {
          const model = await store.createLoggedModel({ experimentId, name: 'm' });
          const { runId } = (await store.createRun(runInput(experimentId))).info;
          await store.logBatch(runId, {
            metrics: [
              { ...point('f1', 0.5, 1), modelId: model.modelId },
              { ...point('f1', 0.6, 2), modelId: model.modelId },
              point('f1', 0.99, 3),
            ],
            params: [],
            tags: [],
          });
          const got = await store.getLoggedModel(model.modelId);
          expect(got.metrics).toEqual([
            expect.objectContaining({ key: 'f1', value: 0.6, step: 2, modelId: model.modelId }),
          ]);
        });

        it('searches logged models by attributes, metrics and tags', async () => {
          const a = await store.createLoggedModel({
            experimentId,
            name: 'a',
            tags: [{ key: 'k', value: 'x' }],
          });
          await new Promise((resolve) => setTimeout(resolve, 2));
          const b = await store.createLoggedModel({ experimentId, name: 'b' });
          const { runId } = (await store.createRun(runInput(experimentId))).info;
          await store.logBatch(runId, {
            metrics: [
              { ...point('acc', 0.3, 0), modelId: a.modelId },
              { ...point('acc', 0.8, 0), modelId: b.modelId },
            ],
            params: [],
            tags: [],
          });
          const search = async (filter: Filter, orderBy: OrderBy[] = []) =>
            (
              await store.searchLoggedModels({
                experimentIds: [experimentId],
                filter,
                orderBy,
                maxResults: 10,
                offset: 0,
              })
            ).items.map((m) => m.name);
          expect(await search([])).toEqual(['b', 'a']);
          expect(await search([metric('acc', '>', 0.5)])).toEqual(['b']);
          expect(await search([tag('k', '=', 'x')])).toEqual(['a']);
          expect(await search([attr('name', '=', 'a')])).toEqual(['a']);
          expect(await search([], [order('metric', 'acc', true)])).toEqual(['a', 'b']);
        });
      });

      // ------------------------------------------------------------ registry
      describe('registry', () => {
        it('creates, reads, updates and rejects duplicate registered models', async () => {
          const model = await store.createRegisteredModel({
            name: 'fraud',
            description: 'detects fraud',
            tags: [{ key: 'team', value: 'risk' }],
          });
          expect(model).toMatchObject({
            name: 'fraud',
            description: 'detects fraud',
            latestVersions: [],
            tags: [{ key: 'team', value: 'risk' }],
            aliases: [],
          });
          await expect(store.createRegisteredModel({ name: 'fraud' })).rejects.toBeInstanceOf(
            AlreadyExistsError,
          );
          await expect(store.getRegisteredModel('nope')).rejects.toBeInstanceOf(NotFoundError);
          expect((await store.updateRegisteredModel('fraud', 'v2')).description).toBe('v2');
          await store.setRegisteredModelTag('fraud', { key: 'team', value: 'ml' });
          await store.deleteRegisteredModelTag('fraud', 'missing');
          expect((await store.getRegisteredModel('fraud')).tags).toEqual([
            { key: 'team', value: 'ml' },
          ]);
          await store.deleteRegisteredModelTag('fraud', 'team');
          expect((await store.getRegisteredModel('fraud')).tags).toEqual([]);
        });

        it('numbers versions safely under concurrent creation and never reuses numbers', async () => {
          await store.createRegisteredModel({ name: 'm' });
          const second = await another();
          const created = await Promise.all(
            Array.from({ length: 12 }, (_, i) =>
              (i % 2 === 0 ? store : second).createModelVersion({
                name: 'm',
                source: `s3://b/${i}`,
                runId: 'r'.repeat(32),
                userId: 'u',
              }),
            ),
          );
          expect(created.map((v) => Number(v.version)).sort((a, b) => a - b)).toEqual(
            Array.from({ length: 12 }, (_, i) => i + 1),
          );
          await store.deleteModelVersion('m', '12');
          const next = await store.createModelVersion({ name: 'm', source: 's3://b/next' });
          expect(next.version).toBe('13');
          expect(next).toMatchObject({
            currentStage: 'None',
            status: 'READY',
            source: 's3://b/next',
            aliases: [],
          });
          await expect(
            store.createModelVersion({ name: 'ghost', source: 'x' }),
          ).rejects.toBeInstanceOf(NotFoundError);
        });

        it('sets, moves and deletes aliases, and drops them with their version', async () => {
          await store.createRegisteredModel({ name: 'm' });
          await store.createModelVersion({ name: 'm', source: 'a' });
          await store.createModelVersion({ name: 'm', source: 'b' });
          await store.setRegisteredModelAlias('m', 'champion', '1');
          await store.setRegisteredModelAlias('m', 'challenger', '2');
          expect((await store.getModelVersionByAlias('m', 'champion')).source).toBe('a');
          await store.setRegisteredModelAlias('m', 'champion', '2');
          expect((await store.getModelVersion('m', '2')).aliases).toEqual([
            'challenger',
            'champion',
          ]);
          expect((await store.getRegisteredModel('m')).aliases).toEqual([
            { alias: 'challenger', version: '2' },
            { alias: 'champion', version: '2' },
          ]);
          await store.deleteRegisteredModelAlias('m', 'challenger');
          await expect(store.getModelVersionByAlias('m', 'challenger')).rejects.toBeInstanceOf(
            NotFoundError,
          );
          await expect(store.setRegisteredModelAlias('m', 'x', '9')).rejects.toBeInstanceOf(
            NotFoundError,
          );
          await store.deleteModelVersion('m', '2');
          await expect(store.getModelVersionByAlias('m', 'champion')).rejects.toBeInstanceOf(
            NotFoundError,
          );
          expect((await store.getRegisteredModel('m')).aliases).toEqual([]);
          await expect(store.getModelVersion('m', '2')).rejects.toBeInstanceOf(NotFoundError);
        });

        it('transitions stages, archives existing versions and reports the latest per stage', async () => {
          await store.createRegisteredModel({ name: 'm' });
          for (let i = 0; i < 4; i++) await store.createModelVersion({ name: 'm', source: `${i}` });
          await store.transitionModelVersionStage('m', '1', 'Production', false);
          await store.transitionModelVersionStage('m', '2', 'Production', false);
          await store.transitionModelVersionStage('m', '3', 'Staging', false);
          const moved = await store.transitionModelVersionStage('m', '4', 'Production', true);
          expect(moved.currentStage).toBe('Production');
          expect((await store.getModelVersion('m', '1')).currentStage).toBe('Archived');
          expect((await store.getModelVersion('m', '2')).currentStage).toBe('Archived');
          expect((await store.getModelVersion('m', '3')).currentStage).toBe('Staging');
          const latest = await store.getLatestVersions('m', []);
          expect(latest.map((v) => [v.currentStage, v.version])).toEqual([
            ['Staging', '3'],
            ['Production', '4'],
            ['Archived', '2'],
          ]);
          expect(
            (await store.getLatestVersions('m', ['Production'])).map((v) => v.version),
          ).toEqual(['4']);
          const model = await store.getRegisteredModel('m');
          expect(model.latestVersions.map((v) => v.version).sort()).toEqual(['2', '3', '4']);
          await expect(
            store.transitionModelVersionStage('m', '1', 'Archived', true),
          ).rejects.toBeInstanceOf(InvalidParameterError);
          await expect(store.getLatestVersions('nope', [])).rejects.toBeInstanceOf(NotFoundError);
        });

        it('updates and tags model versions', async () => {
          await store.createRegisteredModel({ name: 'm' });
          await store.createModelVersion({
            name: 'm',
            source: 's',
            tags: [{ key: 'a', value: '1' }],
            digest: 'ab'.repeat(32),
            modelId: 'm-1',
          });
          const updated = await store.updateModelVersion('m', '1', 'better');
          expect(updated).toMatchObject({
            description: 'better',
            digest: 'ab'.repeat(32),
            modelId: 'm-1',
            tags: [{ key: 'a', value: '1' }],
          });
          await store.setModelVersionTag('m', '1', { key: 'a', value: '2' });
          await store.setModelVersionTag('m', '1', { key: 'b', value: '3' });
          await store.deleteModelVersionTag('m', '1', 'b');
          expect((await store.getModelVersion('m', '1')).tags).toEqual([{ key: 'a', value: '2' }]);
          await expect(
            store.setModelVersionTag('m', '7', { key: 'a', value: '1' }),
          ).rejects.toBeInstanceOf(NotFoundError);
        });

        it('renames a model with its versions, tags and aliases, and deletes it with them', async () => {
          await store.createRegisteredModel({ name: 'old', tags: [{ key: 't', value: 'v' }] });
          await store.createModelVersion({
            name: 'old',
            source: 's',
            tags: [{ key: 'x', value: 'y' }],
          });
          await store.setRegisteredModelAlias('old', 'prod', '1');
          await store.createRegisteredModel({ name: 'taken' });
          await expect(store.renameRegisteredModel('old', 'taken')).rejects.toBeInstanceOf(
            AlreadyExistsError,
          );
          const renamed = await store.renameRegisteredModel('old', 'new');
          expect(renamed).toMatchObject({
            name: 'new',
            tags: [{ key: 't', value: 'v' }],
            aliases: [{ alias: 'prod', version: '1' }],
          });
          expect(renamed.latestVersions.map((v) => v.name)).toEqual(['new']);
          expect((await store.getModelVersionByAlias('new', 'prod')).tags).toEqual([
            { key: 'x', value: 'y' },
          ]);
          await expect(store.getRegisteredModel('old')).rejects.toBeInstanceOf(NotFoundError);
          await store.deleteRegisteredModel('new');
          await expect(store.getModelVersion('new', '1')).rejects.toBeInstanceOf(NotFoundError);
          await store.createRegisteredModel({ name: 'new' });
          expect((await store.getRegisteredModel('new')).aliases).toEqual([]);
          await expect(store.deleteRegisteredModel('ghost')).rejects.toBeInstanceOf(NotFoundError);
        });

        it('searches registered models and versions with MLflow default orders', async () => {
          for (const name of ['b-model', 'a-model', 'c-other']) {
            await store.createRegisteredModel({ name, tags: [{ key: 'kind', value: name[0]! }] });
            await store.createModelVersion({ name, source: `${name}/1`, runId: 'r1' });
            await store.createModelVersion({ name, source: `${name}/2`, runId: 'r2' });
          }
          const models = async (filter: Filter, orderBy: OrderBy[] = [], maxResults = 10) =>
            store.searchRegisteredModels({ filter, orderBy, maxResults, offset: 0 });
          expect((await models([])).items.map((m) => m.name)).toEqual([
            'a-model',
            'b-model',
            'c-other',
          ]);
          expect((await models([attr('name', 'LIKE', '%model')])).items).toHaveLength(2);
          expect((await models([tag('kind', '=', 'c')])).items.map((m) => m.name)).toEqual([
            'c-other',
          ]);
          // Registry `!=` on a tag also matches models without the tag (MLflow's client adds
          // tags.`mlflow.prompt.is_prompt` != 'true' to every search).
          await store.createRegisteredModel({ name: 'd-untagged' });
          expect((await models([tag('kind', '!=', 'c')])).items.map((m) => m.name)).toEqual([
            'a-model',
            'b-model',
            'd-untagged',
          ]);
          await store.deleteRegisteredModel('d-untagged');
          const paged = await models([], [order('attribute', 'name', false)], 2);
          expect(paged.items.map((m) => m.name)).toEqual(['c-other', 'b-model']);
          expect(paged.nextOffset).toBe(2);
          const versions = await store.searchModelVersions({
            filter: [],
            orderBy: [],
            maxResults: 10,
            offset: 0,
          });
          expect(versions.items.map((v) => `${v.name}/${v.version}`)).toEqual([
            'a-model/2',
            'a-model/1',
            'b-model/2',
            'b-model/1',
            'c-other/2',
            'c-other/1',
          ]);
          const byRun = await store.searchModelVersions({
            filter: [attr('run_id', '=', 'r1'), attr('name', '!=', 'a-model')],
            orderBy: [],
            maxResults: 10,
            offset: 0,
          });
          expect(byRun.items.map((v) => `${v.name}/${v.version}`)).toEqual([
            'b-model/1',
            'c-other/1',
          ]);
        });
      });

      // ------------------------------------------------------------ deployments
      describe('deployments', () => {
        const events = async (name: string, maxResults = 1000, offset = 0) =>
          store.listDeploymentEvents(name, { maxResults, offset });

        it('records and reads back a version digest, refusing a missing version', async () => {
          await store.createRegisteredModel({ name: 'm' });
          const created = await store.createModelVersion({ name: 'm', source: 's3://b/1' });
          expect(created.digest).toBeNull();
          const digest = `sha256:${'ab'.repeat(32)}`;
          await store.setModelVersionDigest('m', '1', digest);
          const got = await store.getModelVersion('m', '1');
          expect(got.digest).toBe(digest);
          expect(got.lastUpdatedTimestamp).toBe(created.lastUpdatedTimestamp);
          await store.setModelVersionDigest('m', '1', 'sha256:other');
          expect((await store.getModelVersion('m', '1')).digest).toBe('sha256:other');
          await expect(store.setModelVersionDigest('m', '2', digest)).rejects.toBeInstanceOf(
            NotFoundError,
          );
          await expect(store.setModelVersionDigest('ghost', '1', digest)).rejects.toBeInstanceOf(
            NotFoundError,
          );
        });

        it('creates a loading deployment with its created event and reads it back', async () => {
          const before = Date.now();
          const created = await store.createDeployment({
            name: 'churn',
            description: 'churn scoring',
            variants: [primary, { ...candidate, batching: null }],
            actor: 'alice',
            reason: 'first release',
          });
          expect(created).toEqual({
            name: 'churn',
            description: 'churn scoring',
            variants: [primary, { ...candidate, batching: null }],
            status: 'loading',
            statusReason: '',
            rollout: null,
            createdAt: created.createdAt,
            updatedAt: created.createdAt,
          });
          expect(created.createdAt).toBeGreaterThanOrEqual(before);
          expect(await store.getDeployment('churn')).toEqual(created);
          const page = await events('churn');
          expect(page).toEqual({
            items: [
              {
                deploymentName: 'churn',
                sequence: 1,
                at: created.createdAt,
                actor: 'alice',
                action: 'created',
                reason: 'first release',
                details: { variants: [primary, { ...candidate, batching: null }] },
              },
            ],
            nextOffset: null,
          });
          const bare = await store.createDeployment({
            name: 'bare',
            variants: [primary],
            actor: 'bob',
          });
          expect(bare.description).toBe('');
          expect((await events('bare')).items[0]?.reason).toBe('');
        });

        it('stores only the variant fields of the domain type', async () => {
          const extra = { ...primary, secret: 'not stored' } as DeploymentVariant;
          const created = await store.createDeployment({
            name: 'd',
            variants: [extra],
            actor: 'a',
          });
          expect(created.variants).toEqual([primary]);
          expect(Object.keys((await store.getDeployment('d')).variants[0] ?? {})).not.toContain(
            'secret',
          );
        });

        it('refuses a taken name, naming it, and leaves the first deployment alone', async () => {
          await store.createDeployment({ name: 'churn', variants: [primary], actor: 'a' });
          const attempt = store.createDeployment({
            name: 'churn',
            variants: [candidate],
            actor: 'b',
          });
          await expect(attempt).rejects.toBeInstanceOf(AlreadyExistsError);
          await expect(attempt).rejects.toThrow(/'churn'/);
          expect((await store.getDeployment('churn')).variants).toEqual([primary]);
          expect((await events('churn')).items).toHaveLength(1);
        });

        it('refuses empty and duplicate-named variants on create and update', async () => {
          await expect(
            store.createDeployment({ name: 'd', variants: [], actor: 'a' }),
          ).rejects.toBeInstanceOf(InvalidParameterError);
          const dup = store.createDeployment({
            name: 'd',
            variants: [primary, { ...candidate, name: 'primary' }],
            actor: 'a',
          });
          await expect(dup).rejects.toBeInstanceOf(InvalidParameterError);
          await expect(dup).rejects.toThrow(/'primary'/);
          await expect(store.getDeployment('d')).rejects.toBeInstanceOf(NotFoundError);
          await expect(events('d')).rejects.toBeInstanceOf(NotFoundError);

          await store.createDeployment({ name: 'd', variants: [primary], actor: 'a' });
          await expect(
            store.updateDeployment('d', { variants: [], event: { actor: 'a', action: 'x' } }),
          ).rejects.toBeInstanceOf(InvalidParameterError);
          await expect(
            store.updateDeployment('d', {
              variants: [candidate, candidate],
              event: { actor: 'a', action: 'x' },
            }),
          ).rejects.toBeInstanceOf(InvalidParameterError);
          expect((await store.getDeployment('d')).variants).toEqual([primary]);
          expect((await events('d')).items.map((e) => e.action)).toEqual(['created']);
        });

        it('says how to list deployments when one is missing', async () => {
          const missing = store.getDeployment('nope');
          await expect(missing).rejects.toBeInstanceOf(NotFoundError);
          await expect(missing).rejects.toThrow(/'nope'.*yard deployments list/);
          await expect(
            store.updateDeployment('nope', { status: 'ready', event: { actor: 'a', action: 's' } }),
          ).rejects.toBeInstanceOf(NotFoundError);
          await expect(store.deleteDeployment('nope', 'a')).rejects.toBeInstanceOf(NotFoundError);
          await expect(events('nope')).rejects.toBeInstanceOf(NotFoundError);
        });

        it('lists every deployment by name', async () => {
          expect(await store.listDeployments()).toEqual([]);
          for (const name of ['b', 'a', 'C']) {
            await store.createDeployment({ name, variants: [primary], actor: 'x' });
          }
          const listed = await store.listDeployments();
          expect(listed.map((d) => d.name)).toEqual(['C', 'a', 'b']);
          expect(listed[1]).toEqual(await store.getDeployment('a'));
        });

        it('applies only the given fields and appends the change as the next event', async () => {
          const created = await store.createDeployment({
            name: 'd',
            description: 'first',
            variants: [primary],
            actor: 'alice',
          });
          const failed = await store.updateDeployment('d', {
            status: 'failed',
            statusReason: 'digest mismatch',
            event: {
              actor: 'server',
              action: 'status',
              reason: 'load failed',
              details: { variant: 'primary', attempt: 1 },
            },
          });
          expect(failed).toEqual({
            ...created,
            status: 'failed',
            statusReason: 'digest mismatch',
            updatedAt: failed.updatedAt,
          });
          expect(failed.updatedAt).toBeGreaterThanOrEqual(created.updatedAt);
          const ready = await store.updateDeployment('d', {
            status: 'ready',
            event: { actor: 'server', action: 'status' },
          });
          expect(ready.statusReason).toBe('digest mismatch');
          const scaled = await store.updateDeployment('d', {
            description: 'second',
            variants: [{ ...primary, replicas: 4 }, candidate],
            event: { actor: 'bob', action: 'scaled', details: { replicas: 4 } },
          });
          expect(scaled).toMatchObject({
            description: 'second',
            status: 'ready',
            statusReason: 'digest mismatch',
            variants: [{ ...primary, replicas: 4 }, candidate],
          });
          expect(await store.getDeployment('d')).toEqual(scaled);
          const page = await events('d');
          expect(page.items.map((e) => [e.sequence, e.action, e.actor, e.reason])).toEqual([
            [1, 'created', 'alice', ''],
            [2, 'status', 'server', 'load failed'],
            [3, 'status', 'server', ''],
            [4, 'scaled', 'bob', ''],
          ]);
          expect(page.items[1]?.details).toEqual({ variant: 'primary', attempt: 1 });
          expect(page.items[2]?.details).toEqual({});
          expect(page.items[3]?.at).toBe(scaled.updatedAt);
        });

        it('leaves neither the change nor an event behind when an update fails', async () => {
          await store.createDeployment({ name: 'd', variants: [primary], actor: 'a' });
          const cyclic: Record<string, unknown> = {};
          cyclic.self = cyclic;
          // The row is updated first; writing the event then fails in the same transaction.
          await expect(
            store.updateDeployment('d', {
              status: 'ready',
              variants: [candidate],
              event: { actor: 'a', action: 'status', details: cyclic },
            }),
          ).rejects.toBeInstanceOf(InvalidParameterError);
          const after = await store.getDeployment('d');
          expect(after).toMatchObject({ status: 'loading', variants: [primary] });
          expect((await events('d')).items.map((e) => e.action)).toEqual(['created']);
          // The store still works after the rolled-back write.
          await store.updateDeployment('d', {
            status: 'ready',
            event: { actor: 'a', action: 'status' },
          });
          expect((await events('d')).items.map((e) => e.sequence)).toEqual([1, 2]);
        });

        it('stores a rollout, and writes no event for an update without one', async () => {
          await store.createDeployment({ name: 'd', variants: [primary], actor: 'a' });
          const rollout = startRollout({
            strategy: 'ab',
            options: { weight: 20, metric: { name: 'converted', kind: 'proportion' } },
            candidate: 'candidate',
            primary: 'primary',
            actor: 'alice',
            reason: 'try v4',
            now: 1_000,
          });
          const started = await store.updateDeployment('d', {
            variants: [primary, candidate],
            rollout,
            event: { actor: 'alice', action: 'rollout-started' },
          });
          expect(started.rollout).toEqual(rollout);
          const counted = {
            ...rollout,
            outcomes: { candidate: { count: 2, sum: 1, mean: 0.5, m2: 0.5 } },
          };
          await store.updateDeployment('d', { rollout: counted });
          const got = await store.getDeployment('d');
          expect(got.rollout).toEqual(counted);
          expect(got.variants).toEqual([primary, candidate]);
          expect((await events('d')).items.map((e) => e.action)).toEqual([
            'created',
            'rollout-started',
          ]);
          await store.updateDeployment('d', { rollout: null });
          expect((await store.getDeployment('d')).rollout).toBeNull();
        });

        it('numbers events without gaps or duplicates under 10 concurrent updates', async () => {
          await store.createDeployment({ name: 'd', variants: [primary], actor: 'a' });
          await store.createDeployment({ name: 'other', variants: [primary], actor: 'a' });
          const second = await another();
          await Promise.all(
            Array.from({ length: 10 }, (_, i) =>
              (i % 2 === 0 ? store : second).updateDeployment(i % 3 === 0 ? 'other' : 'd', {
                variants: [{ ...primary, replicas: i + 1 }],
                event: { actor: `writer-${i}`, action: 'scaled', details: { i } },
              }),
            ),
          );
          const onD = (await events('d')).items;
          const onOther = (await events('other')).items;
          expect(onD.map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7]);
          expect(onOther.map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5]);
          const writers = [...onD, ...onOther]
            .filter((e) => e.action === 'scaled')
            .map((e) => e.details.i as number)
            .sort((a, b) => a - b);
          expect(writers).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
          // The stored variants are those of the last event appended.
          const lastOnD = onD.at(-1)?.details.i as number;
          expect((await store.getDeployment('d')).variants[0]?.replicas).toBe(lastOnD + 1);
        });

        it('keeps the events of a deleted deployment and continues them on re-creation', async () => {
          await store.createDeployment({ name: 'd', variants: [primary], actor: 'alice' });
          await store.updateDeployment('d', {
            status: 'ready',
            event: { actor: 'server', action: 'status' },
          });
          await store.deleteDeployment('d', 'bob', 'retired');
          await expect(store.getDeployment('d')).rejects.toBeInstanceOf(NotFoundError);
          expect(await store.listDeployments()).toEqual([]);
          const history = (await events('d')).items;
          expect(history.map((e) => [e.sequence, e.action])).toEqual([
            [1, 'created'],
            [2, 'status'],
            [3, 'deleted'],
          ]);
          expect(history[2]).toMatchObject({
            actor: 'bob',
            reason: 'retired',
            details: { variants: [primary] },
          });
          await expect(store.deleteDeployment('d', 'bob')).rejects.toBeInstanceOf(NotFoundError);

          const again = await store.createDeployment({
            name: 'd',
            variants: [candidate],
            actor: 'carol',
          });
          expect(again).toMatchObject({ status: 'loading', variants: [candidate] });
          const after = (await events('d')).items;
          expect(after.map((e) => [e.sequence, e.action])).toEqual([
            [1, 'created'],
            [2, 'status'],
            [3, 'deleted'],
            [4, 'created'],
          ]);
        });

        /** Deployment `d`: its `created` event, then notes `r0`..`r3` (sequences 1..5). */
        const deploymentWithFiveEvents = async () => {
          await store.createDeployment({ name: 'd', variants: [primary], actor: 'a' });
          for (let i = 0; i < 4; i++) {
            await store.updateDeployment('d', {
              statusReason: `r${i}`,
              event: { actor: 'a', action: 'note', reason: `r${i}` },
            });
          }
        };

        it('pages events oldest first', async () => {
          await deploymentWithFiveEvents();
          const first = await events('d', 2);
          expect(first.items.map((e) => e.sequence)).toEqual([1, 2]);
          expect(first.nextOffset).toBe(2);
          const second = await events('d', 2, first.nextOffset ?? 0);
          expect(second.items.map((e) => e.sequence)).toEqual([3, 4]);
          expect(second.nextOffset).toBe(4);
          const last = await events('d', 2, second.nextOffset ?? 0);
          expect(last).toMatchObject({ nextOffset: null });
          expect(last.items.map((e) => e.reason)).toEqual(['r3']);
          expect(await events('d', 2, 50)).toEqual({ items: [], nextOffset: null });
          await expect(events('d', 0)).rejects.toBeInstanceOf(InvalidParameterError);
        });

        it('pages events newest first on request', async () => {
          await deploymentWithFiveEvents();
          const newest = (offset: number) =>
            store.listDeploymentEvents('d', { maxResults: 2, offset }, 'desc');
          const first = await newest(0);
          expect(first.items.map((e) => e.sequence)).toEqual([5, 4]);
          const second = await newest(first.nextOffset ?? 0);
          expect(second.items.map((e) => e.sequence)).toEqual([3, 2]);
          const last = await newest(second.nextOffset ?? 0);
          expect(last).toMatchObject({ nextOffset: null });
          expect(last.items.map((e) => e.action)).toEqual(['created']);
          await expect(
            store.listDeploymentEvents('d', { maxResults: 2, offset: 0 }, 'sideways' as 'asc'),
          ).rejects.toBeInstanceOf(InvalidParameterError);
          await expect(
            store.listDeploymentEvents('nope', { maxResults: 2, offset: 0 }, 'desc'),
          ).rejects.toBeInstanceOf(NotFoundError);
        });
      });

      // ------------------------------------------------------------ pipeline cache
      describe('pipeline cache', () => {
        const key = (n: number) => n.toString(16).padStart(64, '0');
        const digest = (n: number) => `sha256:${n.toString(16).padStart(64, 'f')}`;
        const entry = (n: number, patch: Partial<PutPipelineCacheEntryInput> = {}) => ({
          key: key(n),
          outputDigest: digest(n),
          metadata: { serializer: 'json', shape: [2, 3], nested: { ok: true } },
          pipelineRunId: `run-${n}`,
          stepName: 'train',
          ...patch,
        });

        it('writes an entry and reads it back with its time', async () => {
          const before = Date.now();
          const put = await store.putPipelineCacheEntry(entry(1));
          expect(put).toEqual({ ...entry(1), scope: null, createdAt: put.createdAt });
          expect(put.createdAt).toBeGreaterThanOrEqual(before);
          expect(put.createdAt).toBeLessThanOrEqual(Date.now());
          expect(await store.getPipelineCacheEntry(key(1))).toEqual(put);
        });

        it('throws NotFoundError naming the key when there is no entry', async () => {
          const missing = store.getPipelineCacheEntry(key(404));
          await expect(missing).rejects.toBeInstanceOf(NotFoundError);
          await expect(missing).rejects.toThrow(key(404));
        });

        it('replaces an entry written again, keeping the others', async () => {
          const first = await store.putPipelineCacheEntry(entry(1));
          await store.putPipelineCacheEntry(entry(2));
          const second = await store.putPipelineCacheEntry(
            entry(1, { outputDigest: digest(9), metadata: {}, pipelineRunId: 'run-9' }),
          );
          expect(second).toMatchObject({ outputDigest: digest(9), metadata: {} });
          expect(second.createdAt).toBeGreaterThanOrEqual(first.createdAt);
          expect(await store.getPipelineCacheEntry(key(1))).toEqual(second);
          expect((await store.getPipelineCacheEntry(key(2))).outputDigest).toBe(digest(2));
        });

        it('deletes an entry, and deleting a missing one is not an error', async () => {
          await store.putPipelineCacheEntry(entry(1));
          await store.deletePipelineCacheEntry(key(1));
          await expect(store.getPipelineCacheEntry(key(1))).rejects.toBeInstanceOf(NotFoundError);
          await store.deletePipelineCacheEntry(key(1));
        });

        it('keeps metadata that needs escaping and step names in any script', async () => {
          const metadata = { quote: `it's "x"`, unicode: 'münchen 東京 🚀', empty: '', n: -1.5 };
          await store.putPipelineCacheEntry(entry(3, { metadata, stepName: 'étape/1' }));
          expect(await store.getPipelineCacheEntry(key(3))).toMatchObject({
            metadata,
            stepName: 'étape/1',
          });
        });

        it('refuses bad keys, digests and metadata with InvalidParameterError', async () => {
          for (const bad of [
            '',
            'abc',
            key(0xabc).toUpperCase(),
            `${key(1)}0`,
            `sha256:${key(1)}`,
          ]) {
            await expect(store.getPipelineCacheEntry(bad)).rejects.toBeInstanceOf(
              InvalidParameterError,
            );
            await expect(store.putPipelineCacheEntry(entry(1, { key: bad }))).rejects.toThrow(
              /64 lower-case hex digits/,
            );
            await expect(store.deletePipelineCacheEntry(bad)).rejects.toBeInstanceOf(
              InvalidParameterError,
            );
          }
          await expect(
            store.putPipelineCacheEntry(entry(1, { outputDigest: key(1) })),
          ).rejects.toThrow(/outputDigest/);
          await expect(
            store.putPipelineCacheEntry(
              entry(1, { metadata: [] as unknown as Record<string, never> }),
            ),
          ).rejects.toThrow(/JSON object/);
          await expect(store.putPipelineCacheEntry(entry(1, { stepName: '' }))).rejects.toThrow(
            /stepName/,
          );
          await expect(store.getPipelineCacheEntry(key(1))).rejects.toBeInstanceOf(NotFoundError);
        });

        it('finds the entries of some scopes at once, newest first, up to a limit', async () => {
          const scope = (n: number) => n.toString(16).padStart(64, 'a');
          await store.putPipelineCacheEntry(entry(1, { scope: scope(1) }));
          await store.putPipelineCacheEntry(entry(2, { scope: scope(2) }));
          await store.putPipelineCacheEntry(entry(3, { scope: scope(1) }));
          await store.putPipelineCacheEntry(entry(4, { scope: scope(3) }));
          await store.putPipelineCacheEntry(entry(5));
          // Same millisecond or not, the order is by time and then by key.
          const both = await store.lookupPipelineCacheEntries([scope(1), scope(2), scope(1)], 10);
          expect(both.complete).toBe(true);
          expect(both.entries.map((e) => e.key).sort()).toEqual([key(1), key(2), key(3)]);
          const times = both.entries.map((e) => e.createdAt);
          expect(times).toEqual([...times].sort((a, b) => b - a));
          expect(both.entries.find((e) => e.key === key(3))).toMatchObject({
            ...entry(3),
            scope: scope(1),
          });
          const limited = await store.lookupPipelineCacheEntries([scope(1), scope(2)], 2);
          expect(limited.complete).toBe(false);
          expect(limited.entries).toHaveLength(2);
          expect(await store.lookupPipelineCacheEntries([scope(9)], 10)).toEqual({
            entries: [],
            complete: true,
          });
          // Moving an entry to another scope moves it in lookups too.
          await store.putPipelineCacheEntry(entry(1, { scope: scope(9) }));
          const moved = await store.lookupPipelineCacheEntries([scope(9)], 10);
          expect(moved.entries.map((e) => e.key)).toEqual([key(1)]);
        });

        it('refuses malformed scopes and limits with InvalidParameterError', async () => {
          await expect(store.lookupPipelineCacheEntries([], 10)).rejects.toThrow(/1 to 1000/);
          await expect(store.lookupPipelineCacheEntries([key(1), 'abc'], 10)).rejects.toThrow(
            /'scopes\[1\]'/,
          );
          await expect(store.lookupPipelineCacheEntries([key(1)], 0)).rejects.toBeInstanceOf(
            InvalidParameterError,
          );
          await expect(store.putPipelineCacheEntry(entry(1, { scope: 'x' }))).rejects.toThrow(
            /'scope'/,
          );
          await expect(store.getPipelineCacheEntry(key(1))).rejects.toBeInstanceOf(NotFoundError);
        });

        it('lets two stores write one key at once: one complete entry wins', async () => {
          const second = await another();
          await Promise.all(
            Array.from({ length: 12 }, (_, i) =>
              (i % 2 === 0 ? store : second).putPipelineCacheEntry(
                entry(5, { outputDigest: digest(100 + i), pipelineRunId: `run-${i}` }),
              ),
            ),
          );
          const winner = await second.getPipelineCacheEntry(key(5));
          const i = Number(winner.pipelineRunId.slice('run-'.length));
          expect(winner.outputDigest).toBe(digest(100 + i));
        });
      });

      // ------------------------------------------------------------ pipeline step runs
      describe('pipeline step runs', () => {
        let experimentId: string;
        const runId = (n: number) => n.toString(16).padStart(32, '0');
        const cacheKey = (n: number) => n.toString(16).padStart(64, 'c');
        const step = (n: number, patch: Partial<StepRunRecord> = {}): StepRunRecord => ({
          runId: runId(n),
          experimentId,
          runName: `step-${n}`,
          startTime: 1_000 + n,
          status: 'RUNNING',
          tags: [
            { key: 'mlflow.parentRunId', value: 'parent' },
            { key: 'step', value: `s${n}` },
          ],
          ...patch,
        });
        const tagsOf = async (id: string) =>
          Object.fromEntries((await store.getRun(id)).data.tags.map((t) => [t.key, t.value]));

        beforeEach(async () => {
          experimentId = await store.createExperiment({ name: 'pipeline' });
        });

        it('creates runs with their status, times, tags and name, searchable by tag', async () => {
          await store.recordStepRuns([
            step(1),
            step(2, {
              tags: [
                { key: 'mlflow.parentRunId', value: 'parent' },
                { key: 'step', value: 's2' },
                { key: 'mlflow.user', value: 'bob' },
              ],
            }),
          ]);
          const run = await store.getRun(runId(1));
          expect(run.info).toMatchObject({
            runId: runId(1),
            runName: 'step-1',
            experimentId,
            status: 'RUNNING',
            startTime: 1_001,
            endTime: null,
            lifecycleStage: 'active',
            userId: '',
          });
          expect(run.info.artifactUri).toBe(
            `${(await store.getExperiment(experimentId)).artifactLocation.replace(/\/+$/, '')}/${runId(1)}/artifacts`,
          );
          expect(await tagsOf(runId(1))).toEqual({
            'mlflow.runName': 'step-1',
            'mlflow.parentRunId': 'parent',
            step: 's1',
          });
          expect((await store.getRun(runId(2))).info.userId).toBe('bob');
          const found = await searchRuns(
            [experimentId],
            [tag('mlflow.parentRunId', '=', 'parent')],
          );
          expect(found.items.map((r) => r.info.runId).sort()).toEqual([runId(1), runId(2)]);
          const one = await searchRuns([experimentId], [tag('step', '=', 's2')]);
          expect(one.items.map((r) => r.info.runId)).toEqual([runId(2)]);
        });

        it('finishes runs and adds tags in a second batch, keeping name and start', async () => {
          await store.recordStepRuns([step(1), step(2)]);
          await store.recordStepRuns([
            step(1, {
              status: 'FINISHED',
              endTime: 5_000,
              tags: [{ key: 'outcome', value: 'ok' }],
            }),
            step(2, {
              runName: 'ignored',
              startTime: 7,
              status: 'FAILED',
              endTime: 6_000,
              tags: [{ key: 'step', value: 'changed' }],
            }),
          ]);
          expect((await store.getRun(runId(1))).info).toMatchObject({
            status: 'FINISHED',
            endTime: 5_000,
            startTime: 1_001,
            runName: 'step-1',
          });
          expect(await tagsOf(runId(1))).toMatchObject({ outcome: 'ok', step: 's1' });
          expect((await store.getRun(runId(2))).info).toMatchObject({
            status: 'FAILED',
            endTime: 6_000,
            startTime: 1_002,
            runName: 'step-2',
          });
          expect(await tagsOf(runId(2))).toMatchObject({
            'mlflow.runName': 'step-2',
            step: 'changed',
          });
        });

        it('keeps an end time a later record leaves out', async () => {
          await store.recordStepRuns([step(1, { status: 'FINISHED', endTime: 5_000 })]);
          await store.recordStepRuns([step(1, { status: 'KILLED', endTime: null })]);
          expect((await store.getRun(runId(1))).info).toMatchObject({
            status: 'KILLED',
            endTime: 5_000,
          });
        });

        it('applies records of one run id in one batch in order: later status wins, tags accumulate', async () => {
          await store.recordStepRuns([
            step(1, {
              tags: [
                { key: 'a', value: '1' },
                { key: 'b', value: 'first' },
              ],
            }),
            step(1, {
              status: 'FINISHED',
              endTime: 9_000,
              tags: [
                { key: 'b', value: 'second' },
                { key: 'c', value: '3' },
              ],
            }),
          ]);
          expect((await store.getRun(runId(1))).info).toMatchObject({
            status: 'FINISHED',
            endTime: 9_000,
            startTime: 1_001,
          });
          expect(await tagsOf(runId(1))).toEqual({
            'mlflow.runName': 'step-1',
            a: '1',
            b: 'second',
            c: '3',
          });
        });

        it('updates runs created by createRun too', async () => {
          const run = await store.createRun({ ...runInput(experimentId), tags: [] });
          const id = run.info.runId;
          await store.recordStepRuns([
            step(1, {
              runId: id,
              status: 'FINISHED',
              endTime: 2_000,
              tags: [{ key: 'k', value: 'v' }],
            }),
          ]);
          expect((await store.getRun(id)).info).toMatchObject({
            status: 'FINISHED',
            endTime: 2_000,
            runName: 'test-run',
            userId: 'alice',
          });
          expect(await tagsOf(id)).toMatchObject({ k: 'v' });
        });

        it("writes the records' cache entries, the last one per key winning", async () => {
          const cache = (n: number, digest: number) => ({
            key: cacheKey(n),
            outputDigest: `sha256:${digest.toString(16).padStart(64, '0')}`,
            metadata: { serializer: 'json' },
            pipelineRunId: 'parent',
            stepName: `step-${n}`,
          });
          await store.putPipelineCacheEntry(cache(3, 30));
          await store.recordStepRuns([
            step(1, { cache: cache(1, 10) }),
            step(2, { cache: cache(2, 20) }),
            step(3, { cache: cache(2, 21) }),
            step(4, { cache: cache(3, 31) }),
          ]);
          expect(await store.getPipelineCacheEntry(cacheKey(1))).toMatchObject(cache(1, 10));
          expect(await store.getPipelineCacheEntry(cacheKey(2))).toMatchObject(cache(2, 21));
          expect(await store.getPipelineCacheEntry(cacheKey(3))).toMatchObject(cache(3, 31));
        });

        it("writes the cache entries' scopes, found by a lookup", async () => {
          const scope = 'b'.repeat(64);
          await store.recordStepRuns([
            step(1, {
              cache: {
                key: cacheKey(1),
                outputDigest: `sha256:${'1'.repeat(64)}`,
                pipelineRunId: 'parent',
                stepName: 'step-1',
                scope,
              },
            }),
          ]);
          const found = await store.lookupPipelineCacheEntries([scope], 10);
          expect(found.entries.map((e) => [e.key, e.scope])).toEqual([[cacheKey(1), scope]]);
        });

        it('records more runs than one statement binds (chunked inserts)', async () => {
          const records = Array.from({ length: 1000 }, (_, i) =>
            step(i + 1, {
              tags: Array.from({ length: 5 }, (__, k) => ({ key: `t${k}`, value: `${i}` })),
              cache: {
                key: cacheKey(i + 1),
                outputDigest: `sha256:${(i + 1).toString(16).padStart(64, '0')}`,
                pipelineRunId: 'parent',
                stepName: `step-${i + 1}`,
              },
            }),
          );
          await store.recordStepRuns(records);
          const all = await searchRuns([experimentId], [], [], 2000);
          expect(all.items).toHaveLength(1000);
          expect(await tagsOf(runId(1000))).toMatchObject({
            t4: '999',
            'mlflow.runName': 'step-1000',
          });
          expect((await store.getPipelineCacheEntry(cacheKey(1000))).stepName).toBe('step-1000');
        });

        const expectNothingWritten = async () => {
          await expect(store.getRun(runId(1))).rejects.toBeInstanceOf(NotFoundError);
          await expect(store.getPipelineCacheEntry(cacheKey(1))).rejects.toBeInstanceOf(
            NotFoundError,
          );
        };
        const withCache = (n: number) =>
          step(n, {
            cache: {
              key: cacheKey(n),
              outputDigest: `sha256:${'0'.repeat(64)}`,
              pipelineRunId: 'parent',
              stepName: `step-${n}`,
            },
          });

        it('fails the whole batch for a missing experiment, naming the record', async () => {
          const batch = store.recordStepRuns([withCache(1), step(2, { experimentId: '98765' })]);
          await expect(batch).rejects.toBeInstanceOf(NotFoundError);
          await expect(batch).rejects.toThrow(/records\[1\].*98765|98765.*records\[1\]/);
          await expectNothingWritten();
        });

        it('fails the whole batch for a deleted experiment', async () => {
          const deleted = await store.createExperiment({ name: 'gone' });
          await store.deleteExperiment(deleted);
          const batch = store.recordStepRuns([withCache(1), step(2, { experimentId: deleted })]);
          await expect(batch).rejects.toBeInstanceOf(InvalidStateError);
          await expect(batch).rejects.toThrow(/records\[1\]/);
          await expectNothingWritten();
        });

        it('fails the whole batch for a deleted run, changing nothing', async () => {
          await store.recordStepRuns([step(2)]);
          await store.deleteRun(runId(2));
          const batch = store.recordStepRuns([
            withCache(1),
            step(2, { status: 'FINISHED', endTime: 3_000 }),
          ]);
          await expect(batch).rejects.toBeInstanceOf(InvalidStateError);
          await expect(batch).rejects.toThrow(/records\[1\].*0+2|0+2.*records\[1\]/);
          await expectNothingWritten();
          expect((await store.getRun(runId(2))).info.status).toBe('RUNNING');
        });

        it('fails the whole batch for a run of another experiment, naming both', async () => {
          const other = await store.createExperiment({ name: 'other' });
          await store.recordStepRuns([step(2, { experimentId: other })]);
          const batch = store.recordStepRuns([withCache(1), step(2, { status: 'FINISHED' })]);
          await expect(batch).rejects.toBeInstanceOf(InvalidParameterError);
          await expect(batch).rejects.toThrow(runId(2));
          await expect(batch).rejects.toThrow(`experiment ${other}`);
          await expect(batch).rejects.toThrow(`experiment ${experimentId}`);
          await expectNothingWritten();
          expect((await store.getRun(runId(2))).info.status).toBe('RUNNING');
        });

        it('refuses malformed records and batches before writing', async () => {
          await expect(
            store.recordStepRuns([withCache(1), step(2, { runId: 'NOT-HEX' })]),
          ).rejects.toThrow(/records\[1\]\.runId/);
          await expect(store.recordStepRuns([])).rejects.toBeInstanceOf(InvalidParameterError);
          await expectNothingWritten();
        });
      });

      // ------------------------------------------------------------ concurrency
      describe('concurrency', () => {
        it('lets 16 writers on two stores log batches to one database without failing', async () => {
          const second = await another();
          const experimentId = await store.createExperiment({ name: 'concurrent' });
          const runs = await Promise.all(
            Array.from({ length: 16 }, (_, i) =>
              (i % 2 === 0 ? store : second).createRun(runInput(experimentId)),
            ),
          );
          const rounds = 10;
          await Promise.all(
            runs.map(async (run, i) => {
              const writer = i % 2 === 0 ? store : second;
              for (let round = 0; round < rounds; round++) {
                await writer.logBatch(run.info.runId, {
                  metrics: Array.from({ length: 20 }, (_, k) => point(`m${k}`, round, round)),
                  params: [{ key: `p${round}`, value: String(round) }],
                  tags: [{ key: 'round', value: String(round) }],
                });
              }
            }),
          );
          for (const run of runs) {
            const got = await second.getRun(run.info.runId);
            expect(got.data.params).toHaveLength(rounds);
            expect(got.data.metrics).toHaveLength(20);
            expect(got.data.metrics.every((m) => m.step === rounds - 1)).toBe(true);
            expect(got.data.tags).toContainEqual({ key: 'round', value: String(rounds - 1) });
            const history = await store.getMetricHistory(run.info.runId, 'm0', {
              maxResults: 100,
              offset: 0,
            });
            expect(history.items).toHaveLength(rounds);
          }
        });
      });
    });
  });
}

const primary: DeploymentVariant = {
  name: 'primary',
  modelUri: 'models:/churn@champion',
  modelName: 'churn',
  modelVersion: '3',
  role: 'primary',
  weight: 100,
  replicas: 2,
  maxConcurrency: 4,
  batching: { maxBatchSize: 32, maxLatencyMs: 5 },
  status: 'ready',
  statusReason: 'Serving churn version 3.',
};

const candidate: DeploymentVariant = {
  name: 'candidate',
  modelUri: 'models:/churn/4',
  modelName: 'churn',
  modelVersion: '4',
  role: 'candidate',
  weight: 0,
  replicas: 1,
  maxConcurrency: 1,
  batching: null,
  status: 'loading',
  statusReason: '',
};

function runInput(experimentId: string) {
  return { experimentId, userId: 'alice', runName: 'test-run', startTime: 1_000, tags: [] };
}

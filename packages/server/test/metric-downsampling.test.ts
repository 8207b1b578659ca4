import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { YardClientError, createClient } from '@modelyard/client';
import type { YardClient } from '@modelyard/client';
import { startTestServer } from './support/test-server.js';
import type { TestServer } from './support/test-server.js';

async function failure(promise: Promise<unknown>): Promise<YardClientError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof YardClientError) return error;
    throw error;
  }
  throw new Error('expected the request to fail');
}

describe('GET /api/v1/runs/{runId}/metrics/{key}/history (downsampled)', () => {
  let server: TestServer;
  let yard: YardClient;
  let runId: string;
  const POINTS = 20_000;
  // A slow wave with one spike that a plain stride would step over.
  const SPIKE = 12_345;
  const value = (step: number): number => (step === SPIKE ? 50 : Math.sin(step / 1000));

  beforeAll(async () => {
    server = await startTestServer();
    yard = createClient({ baseUrl: server.url });
    const experiment = await yard.experiments.create({ name: 'downsampling' });
    const run = await yard.runs.create({ experimentId: experiment.experimentId });
    runId = run.info.runId;
    for (let from = 0; from < POINTS; from += 1000) {
      await yard.runs.logBatch(runId, {
        metrics: Array.from({ length: 1000 }, (_, i) => ({
          key: 'train/loss',
          value: value(from + i),
          step: from + i,
          timestamp: 1_700_000_000_000 + from + i,
        })),
      });
    }
    await yard.runs.logBatch(runId, {
      metrics: [
        { key: 'short', value: 1, step: 0, timestamp: 1 },
        { key: 'short', value: Number.NaN, step: 1, timestamp: 2 },
        { key: 'short', value: 3, step: 2, timestamp: 3 },
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await server.close();
  });

  it('answers exactly maxPoints points with the first and last kept and the spike found', async () => {
    const page = await yard.runs.downsampledHistory(runId, 'train/loss', { maxPoints: 500 });
    expect(page.totalPoints).toBe(POINTS);
    expect(page.downsampled).toBe(true);
    expect(page.metrics).toHaveLength(500);
    expect(page.metrics[0]).toMatchObject({ key: 'train/loss', step: 0, value: 0 });
    expect(page.metrics.at(-1)?.step).toBe(POINTS - 1);
    expect(page.metrics.at(-1)?.timestamp).toBe(1_700_000_000_000 + POINTS - 1);
    expect(page.metrics.find((m) => m.step === SPIKE)?.value).toBe(50);
    const steps = page.metrics.map((m) => m.step);
    expect(steps).toEqual([...steps].sort((a, b) => a - b));
    for (const m of page.metrics) expect(m.value).toBe(value(m.step));
  });

  it('answers 2,000 points when maxPoints is not given', async () => {
    const page = await yard.runs.downsampledHistory(runId, 'train/loss');
    expect(page.metrics).toHaveLength(2000);
  });

  it('keeps to a step range, inclusive, and answers every point of a range that fits', async () => {
    const zoomed = await yard.runs.downsampledHistory(runId, 'train/loss', {
      maxPoints: 100,
      minStep: 5000,
      maxStep: 5999,
    });
    expect(zoomed.totalPoints).toBe(1000);
    expect(zoomed.metrics).toHaveLength(100);
    expect(zoomed.metrics[0]?.step).toBe(5000);
    expect(zoomed.metrics.at(-1)?.step).toBe(5999);
    const full = await yard.runs.downsampledHistory(runId, 'train/loss', {
      maxPoints: 1000,
      minStep: 100,
      maxStep: 149,
    });
    expect(full.downsampled).toBe(false);
    expect(full.metrics.map((m) => m.step)).toEqual(Array.from({ length: 50 }, (_, i) => 100 + i));
    const open = await yard.runs.downsampledHistory(runId, 'train/loss', {
      maxPoints: 10,
      minStep: POINTS - 5,
    });
    expect(open.metrics.map((m) => m.step)).toEqual([19_995, 19_996, 19_997, 19_998, 19_999]);
  });

  it('carries non-finite values and answers an empty history for an unknown key', async () => {
    const short = await yard.runs.downsampledHistory(runId, 'short', { maxPoints: 10 });
    expect(short.metrics.map((m) => m.value)).toEqual([1, Number.NaN, 3]);
    expect(short.downsampled).toBe(false);
    const none = await yard.runs.downsampledHistory(runId, 'never-logged');
    expect(none).toEqual({ metrics: [], totalPoints: 0, downsampled: false });
  });

  it('refuses a maxPoints out of range or not a number, naming the value', async () => {
    for (const maxPoints of ['9', '10001', 'abc', '2.5']) {
      const res = await server.call('GET', `/api/v1/runs/${runId}/metrics/short/history`, {
        maxPoints,
      });
      expect(res.status).toBe(400);
      expect(res.body.error_code).toBe('INVALID_PARAMETER_VALUE');
      const message = String(res.body.message);
      expect(message).toContain('maxPoints');
      expect(message).toContain(maxPoints);
      expect(message).toContain('10 to 10000');
    }
  });

  it('refuses a bad step range with a message naming both ends', async () => {
    const reversed = await failure(
      yard.runs.downsampledHistory(runId, 'short', { minStep: 10, maxStep: 2 }),
    );
    expect(reversed.status).toBe(400);
    expect(reversed.code).toBe('INVALID_PARAMETER_VALUE');
    expect(reversed.message).toContain("'minStep' (10) is greater than 'maxStep' (2)");
    const res = await server.call('GET', `/api/v1/runs/${runId}/metrics/short/history`, {
      maxStep: 'last',
    });
    expect(res.status).toBe(400);
    expect(String(res.body.message)).toContain(`Invalid value "last" for 'maxStep'`);
  });

  it('answers RESOURCE_DOES_NOT_EXIST for an unknown run', async () => {
    const error = await failure(yard.runs.downsampledHistory('f'.repeat(32), 'loss'));
    expect(error.status).toBe(404);
    expect(error.code).toBe('RESOURCE_DOES_NOT_EXIST');
  });
});

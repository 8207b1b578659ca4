import { describe, expect, it } from 'vitest';
import type { Run, RunStatus } from '@modelyard/core';
import { TAGS, serializeOutput } from '@modelyard/pipelines';
import type { RunSummary as SdkRunSummary } from '@modelyard/pipelines';
import {
  PIPELINE_TAGS,
  decodeJsonOutput,
  decodeSummary,
  formatMs,
  layoutDag,
  openEnvelope,
  stepsFromRuns,
  stepsFromSummary,
} from '../src/pipeline-graph.js';
import type { RunSummary } from '../src/pipeline-graph.js';

const unit = {
  cached: false,
  attempts: 1,
  durationMs: 120,
  key: 'k',
  outputDigest: 'sha256:' + 'a'.repeat(64),
  runId: 'r'.repeat(32),
  cachedFrom: null,
  error: null,
};

/** A summary as the SDK types it; assigning it to the UI's mirror checks the shapes agree. */
const sdkSummary: SdkRunSummary = {
  pipeline: 'numbers',
  pipelineRunId: 'p-1',
  trackingRunId: 't-1',
  experimentId: '1',
  status: 'failed',
  startedAt: 1_000,
  endedAt: 5_000,
  params: { n: 3 },
  seed: 0,
  codeDigest: 'c'.repeat(64),
  resumedFrom: null,
  steps: [
    {
      name: 'load',
      kind: 'task',
      inputs: [],
      status: 'cached',
      ...unit,
      cached: true,
      cachedFrom: 'p-0',
    },
    {
      name: 'square',
      kind: 'map',
      inputs: ['load'],
      status: 'failed',
      ...unit,
      attempts: 4,
      items: [
        { index: 0, status: 'succeeded', ...unit },
        { index: 1, status: 'failed', ...unit, attempts: 3, error: 'boom' },
      ],
    },
    { name: 'total', kind: 'task', inputs: ['square', 'load'], status: 'skipped', ...unit },
  ],
};
const mirrored: RunSummary = sdkSummary;

describe('pipeline summaries in the browser', () => {
  it('decodes a summary stored by the SDK', async () => {
    const stored = await serializeOutput('(summary)', sdkSummary);
    expect(decodeSummary(stored.bytes, stored.digest)).toEqual(mirrored);
  });

  it('reads a JSON output and names the kind of one that is not JSON', async () => {
    const json = await serializeOutput('s', { a: [1, 2] });
    expect(decodeJsonOutput(json.bytes, json.digest)).toEqual({ a: [1, 2] });
    const typed = await serializeOutput('s', new Float32Array([1, 2, 3]));
    expect(openEnvelope(typed.bytes, typed.digest)).toMatchObject({
      kind: 'typed',
      header: { type: 'Float32Array' },
    });
    expect(openEnvelope(typed.bytes, typed.digest).payload.length).toBe(12);
    expect(() => decodeJsonOutput(typed.bytes, typed.digest)).toThrow(/holds a 'typed' value/);
  });

  it('refuses bytes that are not an envelope, naming the digest', () => {
    expect(() => openEnvelope(new TextEncoder().encode('{"a":1}'), 'sha256:x')).toThrow(
      'Stored output sha256:x is not readable: it has no YARD envelope.',
    );
    const cut = new Uint8Array([0x59, 0x41, 0x52, 0x44, 1, 0, 0, 0, 50, 0x7b]);
    expect(() => openEnvelope(cut, 'sha256:y')).toThrow(/header is cut short/);
  });

  it('refuses a summary whose step has an unknown status', async () => {
    const broken = {
      ...sdkSummary,
      steps: [{ ...sdkSummary.steps[0], status: 'exploded' }],
    };
    const stored = await serializeOutput('(summary)', broken);
    expect(() => decodeSummary(stored.bytes, stored.digest)).toThrow(
      /step 0 has an unknown status "exploded"/,
    );
  });

  it('turns the summary into graph steps with their items and inputs', () => {
    const steps = stepsFromSummary(mirrored);
    expect(steps.map((s) => [s.name, s.status, s.cached, s.inputs])).toEqual([
      ['load', 'cached', true, []],
      ['square', 'failed', false, ['load']],
      ['total', 'skipped', false, ['square', 'load']],
    ]);
    expect(steps[1]?.items.map((i) => [i.index, i.status, i.attempts, i.error])).toEqual([
      [0, 'succeeded', 1, null],
      [1, 'failed', 3, 'boom'],
    ]);
    expect(steps[0]?.cachedFrom).toBe('p-0');
  });
});

describe('the pipeline graph layout', () => {
  it('puts producers before consumers and draws one edge per input', () => {
    const layout = layoutDag(stepsFromSummary(mirrored), { nodeWidth: 100, nodeHeight: 40 });
    const x = Object.fromEntries(layout.nodes.map((n) => [n.step.name, n.x]));
    expect(x['load']).toBeLessThan(x['square'] ?? 0);
    expect(x['square']).toBeLessThan(x['total'] ?? 0);
    expect(layout.edges.map((e) => `${e.from}->${e.to}`).sort()).toEqual([
      'load->square',
      'load->total',
      'square->total',
    ]);
    for (const e of layout.edges) expect(e.path).toMatch(/^M[\d.-]+,[\d.-]+( L[\d.-]+,[\d.-]+)+$/);
    for (const n of layout.nodes) {
      expect(n.x - n.width / 2).toBeGreaterThanOrEqual(0);
      expect(n.x + n.width / 2).toBeLessThanOrEqual(layout.width);
      expect(n.y + n.height / 2).toBeLessThanOrEqual(layout.height);
    }
  });

  it('leaves out inputs naming steps it does not have', () => {
    const [load] = stepsFromSummary(mirrored);
    const layout = layoutDag([{ ...load!, inputs: ['ghost', 'load'] }], {
      nodeWidth: 100,
      nodeHeight: 40,
    });
    expect(layout.edges).toEqual([]);
    expect(layout.nodes).toHaveLength(1);
  });
});

function stepRun(
  id: string,
  status: RunStatus,
  start: number,
  end: number | null,
  tags: Record<string, string>,
): Run {
  return {
    info: {
      runId: id,
      runName: id,
      experimentId: '1',
      userId: '',
      status,
      startTime: start,
      endTime: end,
      artifactUri: '',
      lifecycleStage: 'active',
    },
    data: {
      metrics: [],
      params: [],
      tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
    },
    inputs: { datasetInputs: [], modelInputs: [] },
    outputs: { modelOutputs: [] },
  };
}

describe('a running pipeline from its step runs', () => {
  it('mirrors the SDK tag names', () => {
    for (const [key, value] of Object.entries(PIPELINE_TAGS)) {
      expect(TAGS[key as keyof typeof TAGS]).toBe(value);
    }
  });

  it('groups step runs by step, items into map steps, and orders steps by start', () => {
    const now = 10_000;
    const steps = stepsFromRuns(
      [
        stepRun('b0', 'FINISHED', 2_000, 2_500, {
          [TAGS.step]: 'square',
          [TAGS.stepItem]: '0',
          [TAGS.stepAttempts]: '1',
        }),
        stepRun('b1', 'RUNNING', 2_100, null, { [TAGS.step]: 'square', [TAGS.stepItem]: '1' }),
        stepRun('a', 'FINISHED', 1_000, 1_400, {
          [TAGS.step]: 'load',
          [TAGS.stepAttempts]: '2',
          [TAGS.stepDigest]: 'sha256:d',
        }),
        stepRun('c', 'FAILED', 3_000, 3_100, {
          [TAGS.step]: 'total',
          [TAGS.stepLost]: 'worker w1 stopped during the step',
        }),
        stepRun('x', 'FINISHED', 500, 600, { other: 'not a step' }),
      ],
      now,
    );
    expect(steps.map((s) => [s.name, s.kind, s.status])).toEqual([
      ['load', 'task', 'succeeded'],
      ['square', 'map', 'running'],
      ['total', 'task', 'failed'],
    ]);
    const [load, square, total] = steps;
    expect(load).toMatchObject({
      attempts: 2,
      durationMs: 400,
      outputDigest: 'sha256:d',
      runId: 'a',
    });
    expect(square?.items.map((i) => [i.index, i.status, i.attempts])).toEqual([
      [0, 'succeeded', 1],
      [1, 'running', 1],
    ]);
    expect(square?.durationMs).toBe(now - 2_000);
    expect(total?.error).toBe('worker w1 stopped during the step');
    expect(steps.every((s) => s.inputs.length === 0)).toBe(true);
  });
});

describe('formatMs', () => {
  it('writes durations at a readable precision', () => {
    expect(formatMs(340)).toBe('340 ms');
    expect(formatMs(5_600)).toBe('5.6 s');
    expect(formatMs(184_000)).toBe('3m 4s');
    expect(formatMs(3_720_000)).toBe('1h 2m');
    expect(formatMs(-1)).toBe('—');
  });
});

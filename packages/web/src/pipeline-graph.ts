/**
 * Pipeline runs as the browser sees them. A pipeline run is a tracking run tagged
 * `modelyard.pipeline.*`; once it ends, its summary (steps, their inputs, statuses, durations,
 * cache hits, attempts and output digests) is a stored blob named by the tag
 * `modelyard.pipeline.summary`. While it runs there is no summary yet: each call of a step is a
 * nested tracking run tagged `modelyard.step.*`, from which a partial view is built.
 *
 * The tag names and the summary's types come from `@modelyard/core`, which the SDK writes them
 * with (the web UI may not import `@modelyard/pipelines`: it runs in Node); the stored envelope
 * is read here, and the unit tests decode summaries written by the SDK itself.
 */
import dagre from '@dagrejs/dagre';
import { PIPELINE_TAGS } from '@modelyard/core';
import type { Run, RunSummary, StepStatus, StepSummary, UnitSummary } from '@modelyard/core';

export { PIPELINE_TAGS };
export type { RunSummary, StepStatus, StepSummary, UnitSummary };

const STEP_STATUSES: readonly StepStatus[] = [
  'pending',
  'running',
  'succeeded',
  'cached',
  'failed',
  'skipped',
];

/** A stored output's envelope, opened: its kind, its header and the bytes after it. */
export interface Envelope {
  kind: string;
  header: Record<string, unknown>;
  payload: Uint8Array;
}

const MAGIC = [0x59, 0x41, 0x52, 0x44]; // 'YARD'
const FORMAT = 1;

/**
 * Opens a stored output as the SDK's `serializeOutput` writes it: `YARD`, a format byte (1), the
 * header's length (u32, big-endian), the header (JSON, with `kind`), then the payload.
 * @throws Error naming the digest when the bytes are not such an envelope.
 */
export function openEnvelope(bytes: Uint8Array, digest: string): Envelope {
  const bad = (what: string) => new Error(`Stored output ${digest} is not readable: ${what}.`);
  if (bytes.length < MAGIC.length + 5 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw bad('it has no YARD envelope');
  }
  if (bytes[MAGIC.length] !== FORMAT) {
    throw bad(`unknown envelope format ${String(bytes[MAGIC.length])}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(MAGIC.length + 1, false);
  const start = MAGIC.length + 5;
  if (start + length > bytes.length) throw bad('its header is cut short');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(start, start + length)));
  } catch {
    throw bad('its header is not JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw bad('its header is not an object');
  }
  const kind = (header as Record<string, unknown>)['kind'];
  if (typeof kind !== 'string') throw bad('its header names no kind');
  return {
    kind,
    header: header as Record<string, unknown>,
    payload: bytes.subarray(start + length),
  };
}

/**
 * The JSON value of a `json` envelope.
 * @throws Error naming the digest for another kind or damaged JSON.
 */
export function decodeJsonOutput(bytes: Uint8Array, digest: string): unknown {
  const envelope = openEnvelope(bytes, digest);
  if (envelope.kind !== 'json') {
    throw new Error(
      `Stored output ${digest} holds a '${envelope.kind}' value, not JSON; it cannot be shown as text.`,
    );
  }
  try {
    return JSON.parse(new TextDecoder().decode(envelope.payload)) as unknown;
  } catch {
    throw new Error(`Stored output ${digest} is not readable: its JSON is damaged.`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkUnit(value: unknown, where: string, digest: string): void {
  const bad = (what: string) =>
    new Error(`Pipeline summary ${digest} is not readable: ${where} ${what}.`);
  if (!isRecord(value)) throw bad('is not an object');
  if (!STEP_STATUSES.includes(value['status'] as StepStatus)) {
    throw bad(`has an unknown status ${JSON.stringify(value['status'])}`);
  }
  if (typeof value['durationMs'] !== 'number' || typeof value['attempts'] !== 'number') {
    throw bad('has no durationMs or attempts');
  }
}

/**
 * Decodes a pipeline run's summary blob (the SDK stores it with `serializeOutput`, kind `json`)
 * and checks the fields the graph needs.
 * @throws Error naming the digest and what is wrong.
 */
export function decodeSummary(bytes: Uint8Array, digest: string): RunSummary {
  const value = decodeJsonOutput(bytes, digest);
  const bad = (what: string) => new Error(`Pipeline summary ${digest} is not readable: ${what}.`);
  if (!isRecord(value)) throw bad('it is not an object');
  if (typeof value['pipeline'] !== 'string') throw bad("it names no 'pipeline'");
  const steps = value['steps'];
  if (!Array.isArray(steps)) throw bad("it has no 'steps' list");
  steps.forEach((s: unknown, i) => {
    checkUnit(s, `step ${String(i)}`, digest);
    const step = s as Record<string, unknown>;
    if (typeof step['name'] !== 'string') throw bad(`step ${String(i)} has no name`);
    if (!Array.isArray(step['inputs'])) throw bad(`step '${step['name']}' has no inputs list`);
    const items = step['items'];
    if (items !== undefined) {
      if (!Array.isArray(items)) throw bad(`step '${step['name']}' has items that are no list`);
      items.forEach((item: unknown, j) => {
        checkUnit(item, `item ${String(j)} of step '${String(step['name'])}'`, digest);
      });
    }
  });
  return value as unknown as RunSummary;
}

/** A step as the graph draws it, from a summary or from step runs. */
export interface GraphStep {
  name: string;
  /** `unknown` while the run has no summary and the step runs do not say. */
  kind: 'task' | 'map' | 'unknown';
  status: StepStatus;
  cached: boolean;
  attempts: number;
  durationMs: number;
  outputDigest: string | null;
  /** The tracking run of the call (for a cached one, the run that produced the output). */
  runId: string | null;
  cachedFrom: string | null;
  error: string | null;
  worker: string | null;
  /** The steps it consumes (unknown, so empty, until the summary is stored). */
  inputs: string[];
  /** A map step's calls, by item index. */
  items: (Omit<GraphStep, 'items' | 'inputs' | 'kind' | 'name'> & { index: number })[];
}

function fromUnit(unit: UnitSummary) {
  return {
    status: unit.status,
    cached: unit.cached,
    attempts: unit.attempts,
    durationMs: unit.durationMs,
    outputDigest: unit.outputDigest,
    runId: unit.runId,
    cachedFrom: unit.cachedFrom,
    error: unit.error,
    worker: unit.worker ?? null,
  };
}

/** The graph's steps from a stored summary, in the pipeline's order. */
export function stepsFromSummary(summary: RunSummary): GraphStep[] {
  return summary.steps.map((s) => ({
    name: s.name,
    kind: s.kind,
    ...fromUnit(s),
    inputs: [...s.inputs],
    items: (s.items ?? []).map((item) => ({ index: item.index, ...fromUnit(item) })),
  }));
}

function tag(run: Run, key: string): string | undefined {
  return run.data.tags.find((t) => t.key === key)?.value;
}

function unitFromRun(run: Run, now: number) {
  const lost = tag(run, PIPELINE_TAGS.stepLost);
  const status: StepStatus =
    lost !== undefined || run.info.status === 'FAILED' || run.info.status === 'KILLED'
      ? 'failed'
      : run.info.status === 'FINISHED'
        ? 'succeeded'
        : run.info.status === 'SCHEDULED'
          ? 'pending'
          : 'running';
  const attemptsTag = tag(run, PIPELINE_TAGS.stepAttempts);
  const attempts = attemptsTag === undefined ? Number.NaN : Number(attemptsTag);
  return {
    status,
    cached: false,
    // The attempt count is written when the call ends; a running call is on at least its first.
    attempts: Number.isInteger(attempts) && attempts >= 0 ? attempts : status === 'running' ? 1 : 0,
    durationMs: Math.max(0, (run.info.endTime ?? now) - run.info.startTime),
    outputDigest: tag(run, PIPELINE_TAGS.stepDigest) ?? null,
    runId: run.info.runId,
    cachedFrom: null,
    error: lost ?? null,
    worker: tag(run, PIPELINE_TAGS.stepWorker) ?? null,
  };
}

/** A map step's status from its calls': failed wins, then running, then done. */
function combined(statuses: StepStatus[]): StepStatus {
  if (statuses.includes('failed')) return 'failed';
  if (statuses.some((s) => s === 'running' || s === 'pending')) return 'running';
  if (statuses.length > 0 && statuses.every((s) => s === 'cached')) return 'cached';
  return 'succeeded';
}

/**
 * The graph's steps of a run that has no summary yet, from its step runs (tracking runs tagged
 * `modelyard.step.name`), ordered by when each step started. Edges are unknown until the summary
 * is stored; cached calls and steps not started yet have no step run, so they are not shown.
 */
export function stepsFromRuns(runs: readonly Run[], now: number): GraphStep[] {
  const byStep = new Map<string, Run[]>();
  for (const run of runs) {
    const name = tag(run, PIPELINE_TAGS.step);
    if (name === undefined) continue;
    const list = byStep.get(name);
    if (list === undefined) byStep.set(name, [run]);
    else list.push(run);
  }
  const steps: (GraphStep & { startedAt: number })[] = [];
  for (const [name, list] of byStep) {
    const startedAt = Math.min(...list.map((r) => r.info.startTime));
    const itemRuns = list.filter((r) => tag(r, PIPELINE_TAGS.stepItem) !== undefined);
    if (itemRuns.length === 0) {
      // Several runs of one task step: retried by a worker after a loss; the newest tells.
      const newest = [...list].sort((a, b) => b.info.startTime - a.info.startTime)[0];
      if (newest === undefined) continue;
      steps.push({
        name,
        kind: 'task',
        ...unitFromRun(newest, now),
        inputs: [],
        items: [],
        startedAt,
      });
      continue;
    }
    const items = itemRuns
      .map((r) => ({ index: Number(tag(r, PIPELINE_TAGS.stepItem)), ...unitFromRun(r, now) }))
      .sort((a, b) => a.index - b.index);
    const ended = itemRuns.every((r) => r.info.endTime !== null);
    const lastEnd = Math.max(...itemRuns.map((r) => r.info.endTime ?? now));
    const status = combined(items.map((i) => i.status));
    steps.push({
      name,
      kind: 'map',
      status,
      cached: false,
      attempts: items.reduce((n, i) => n + i.attempts, 0),
      durationMs: Math.max(0, (ended ? lastEnd : now) - startedAt),
      outputDigest: null,
      runId: null,
      cachedFrom: null,
      error: items.find((i) => i.status === 'failed')?.error ?? null,
      worker: null,
      inputs: [],
      items,
      startedAt,
    });
  }
  return steps
    .sort((a, b) => a.startedAt - b.startedAt || a.name.localeCompare(b.name))
    .map(({ startedAt: _startedAt, ...step }) => step);
}

/** A node of the laid-out graph: its step and its box (centre `x`, `y`). */
export interface DagNode {
  step: GraphStep;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** An edge of the laid-out graph, producer to consumer, as an SVG path. */
export interface DagEdge {
  from: string;
  to: string;
  path: string;
}

/** A laid-out graph, in SVG user units. */
export interface DagLayout {
  width: number;
  height: number;
  nodes: DagNode[];
  edges: DagEdge[];
}

/** Box sizes and spacing for {@link layoutDag}. */
export interface DagLayoutOptions {
  nodeWidth: number;
  nodeHeight: number;
  /** Left to right (default) or top to bottom. */
  direction?: 'LR' | 'TB';
}

/**
 * Lays the steps out with dagre, producers before consumers. Inputs naming a step that is not
 * in `steps` are left out (no edge to nowhere).
 */
export function layoutDag(steps: readonly GraphStep[], options: DagLayoutOptions): DagLayout {
  const g = new dagre.graphlib.Graph<
    { rankdir: string; nodesep: number; ranksep: number; marginx: number; marginy: number },
    { width: number; height: number; x?: number; y?: number },
    { points?: { x: number; y: number }[] }
  >();
  g.setGraph({
    rankdir: options.direction ?? 'LR',
    nodesep: 24,
    ranksep: 56,
    marginx: 12,
    marginy: 12,
  });
  g.setDefaultEdgeLabel(() => ({}));
  const names = new Set(steps.map((s) => s.name));
  for (const s of steps)
    g.setNode(s.name, { width: options.nodeWidth, height: options.nodeHeight });
  const edges: { from: string; to: string }[] = [];
  for (const s of steps) {
    for (const input of new Set(s.inputs)) {
      if (!names.has(input) || input === s.name) continue;
      g.setEdge(input, s.name);
      edges.push({ from: input, to: s.name });
    }
  }
  dagre.layout(g);
  const nodes = steps.map((step) => {
    const n = g.node(step.name);
    return {
      step,
      x: n.x ?? 0,
      y: n.y ?? 0,
      width: options.nodeWidth,
      height: options.nodeHeight,
    };
  });
  const graph = g.graph() as { width?: number; height?: number };
  return {
    width: Math.max(graph.width ?? 0, options.nodeWidth + 24),
    height: Math.max(graph.height ?? 0, options.nodeHeight + 24),
    nodes,
    edges: edges.map(({ from, to }) => {
      // Annotated: under Node's resolution dagre's extensionless type imports read as `any`.
      const edge: { points?: { x: number; y: number }[] } = g.edge(from, to);
      const path = (edge.points ?? [])
        .map(
          (p: { x: number; y: number }, i: number) =>
            `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`,
        )
        .join(' ');
      return { from, to, path };
    }),
  };
}

/** A step's duration as `340 ms`, `5.6 s`, `3m 4s` or `1h 2m`. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${String(Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${String(h)}h ${String(m)}m` : `${String(m)}m ${String(s % 60)}s`;
}

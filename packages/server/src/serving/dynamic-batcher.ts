import { InvalidParameterError, YardError, formatShape } from '@modelyard/core';
import type { TensorSpec } from '@modelyard/core';
import type { InferReply } from './replica-pool.js';
import type { WireTensor } from './worker-protocol.js';

/** Dynamic batching settings of a loaded model (see {@link DynamicBatcher}). */
export interface DynamicBatchingOptions {
  /** Rows (summed first dimensions) at which a batch is sent at once; a positive integer. */
  maxBatchSize: number;
  /** The longest the oldest request of a batch waits for others, in milliseconds (>= 0). */
  maxLatencyMs: number;
}

/** Counters of a model's dynamic batching, for status pages and tests. */
export interface BatchingStatus {
  /** False when the model cannot be batched; `reason` says why. */
  enabled: boolean;
  /** Why batching is off (a model output that is not batch-major, …); absent when enabled. */
  reason?: string;
  maxBatchSize: number;
  maxLatencyMs: number;
  /** Runs the batcher has sent to the replicas, each of one or more requests. */
  batchesRun: number;
  /** Requests answered (or failed) through those runs. */
  requestsBatched: number;
  /** Requests waiting in a batch that has not been sent yet. */
  pending: number;
}

/** Runs one (possibly batched) inference; the replica pool's `run`. */
export type BatchRunner = (
  inputs: WireTensor[],
  outputs: string[],
  transfer: boolean,
) => Promise<InferReply>;

/**
 * Whether a model with these specs can be batched along the first dimension: every input and
 * every output must have a variable first dimension (`-1`). An output with a fixed or unknown
 * first dimension cannot be split back by rows, so such a model is served unbatched.
 *
 * @returns `undefined` when the model can be batched, else the reason it cannot.
 */
export function unbatchableReason(
  inputs: readonly TensorSpec[],
  outputs: readonly TensorSpec[],
): string | undefined {
  for (const [kind, specs] of [
    ['input', inputs],
    ['output', outputs],
  ] as const) {
    for (const spec of specs) {
      if (spec.shape[0] !== -1) {
        return (
          `its ${kind} '${spec.name}' has shape ${formatShape(spec.shape)}, whose first ` +
          'dimension is not variable (-1), so requests cannot be stacked along it'
        );
      }
    }
  }
  if (inputs.length === 0) return 'it has no inputs';
  return undefined;
}

/**
 * The rows of one request: the first dimension its inputs share, or `undefined` when the
 * request cannot join a batch (no inputs, a scalar input, or inputs of different row counts).
 */
export function rowsOf(inputs: readonly WireTensor[]): number | undefined {
  const first = inputs[0]?.dims[0];
  if (first === undefined) return undefined;
  return inputs.every((tensor) => tensor.dims.length > 0 && tensor.dims[0] === first)
    ? first
    : undefined;
}

/**
 * The key of the batches a request may join: the same inputs (names, types, trailing
 * dimensions) and the same requested outputs. Requests with different keys never share a run.
 */
export function batchKey(inputs: readonly WireTensor[], outputs: readonly string[]): string {
  const parts = inputs
    .map((tensor) => `${tensor.name}\u0000${tensor.type}\u0000${tensor.dims.slice(1).join(',')}`)
    .sort();
  return `${parts.join('\u0001')}\u0002${outputs.join('\u0001')}`;
}

/** The element storage of a non-string tensor, seen through what concatenation needs. */
interface TypedArray extends ArrayBufferView {
  readonly length: number;
  set(array: TypedArray, offset?: number): void;
  slice(start?: number, end?: number): TypedArray;
}
type TypedArrayConstructor = new (length: number) => TypedArray;

/**
 * Concatenates same-named tensors along the first dimension: one allocation of the whole
 * size for typed arrays (`set` per part), one array for strings.
 *
 * @param parts tensors of one input, each of the same type and trailing dimensions.
 * @throws InvalidParameterError when the parts disagree in type, trailing dimensions or
 *   storage (the batcher only groups requests that agree, so this marks a bug).
 */
export function concatRows(parts: readonly WireTensor[]): WireTensor {
  const first = parts[0];
  if (first === undefined) throw new InvalidParameterError('Nothing to concatenate.', {});
  const trailing = first.dims.slice(1).join(',');
  let rows = 0;
  let length = 0;
  for (const part of parts) {
    if (
      part.name !== first.name ||
      part.type !== first.type ||
      part.dims.slice(1).join(',') !== trailing ||
      Array.isArray(part.data) !== Array.isArray(first.data) ||
      (!Array.isArray(part.data) && part.data.constructor !== first.data.constructor)
    ) {
      throw new InvalidParameterError(
        `Tensors '${first.name}' ${first.type} ${formatShape(first.dims)} and '${part.name}' ` +
          `${part.type} ${formatShape(part.dims)} cannot be stacked: they need the same name, ` +
          'type and trailing dimensions.',
        { first: first.name, other: part.name },
      );
    }
    rows += part.dims[0] ?? 0;
    length += Array.isArray(part.data) ? part.data.length : (part.data as TypedArray).length;
  }
  const dims = [rows, ...first.dims.slice(1)];
  if (Array.isArray(first.data)) {
    const data: string[] = [];
    for (const part of parts) for (const item of part.data as string[]) data.push(item);
    return { name: first.name, type: first.type, dims, data };
  }
  const Ctor = first.data.constructor as TypedArrayConstructor;
  const data = new Ctor(length);
  let offset = 0;
  for (const part of parts) {
    const view = part.data as TypedArray;
    data.set(view, offset);
    offset += view.length;
  }
  return { name: first.name, type: first.type, dims, data };
}

/**
 * Splits a batched output back into one tensor per request, by each request's row count.
 * The pieces are copies, so each answer owns its buffer.
 *
 * @returns `undefined` when the tensor is not batch-major: its first dimension is not the
 *   batch's total rows.
 */
export function splitRows(tensor: WireTensor, rows: readonly number[]): WireTensor[] | undefined {
  const total = rows.reduce((sum, n) => sum + n, 0);
  if (tensor.dims.length === 0 || tensor.dims[0] !== total) return undefined;
  const length = Array.isArray(tensor.data)
    ? tensor.data.length
    : (tensor.data as TypedArray).length;
  const perRow = total === 0 ? 0 : length / total;
  if (!Number.isInteger(perRow)) return undefined;
  const pieces: WireTensor[] = [];
  let start = 0;
  for (const n of rows) {
    const end = start + n * perRow;
    const data = Array.isArray(tensor.data)
      ? tensor.data.slice(start, end)
      : (tensor.data as TypedArray).slice(start, end);
    pieces.push({ name: tensor.name, type: tensor.type, dims: [n, ...tensor.dims.slice(1)], data });
    start = end;
  }
  return pieces;
}

interface Member {
  inputs: WireTensor[];
  outputs: string[];
  transfer: boolean;
  rows: number;
  resolve: (reply: InferReply) => void;
  reject: (error: unknown) => void;
}

interface PendingBatch {
  key: string;
  members: Member[];
  rows: number;
  timer: ReturnType<typeof setTimeout>;
}

/** Options of a {@link DynamicBatcher}. */
export interface DynamicBatcherOptions extends DynamicBatchingOptions {
  /** Model name for messages. */
  name: string;
  /** Runs one inference (the replica pool's `run`). */
  run: BatchRunner;
  /**
   * Set when the model cannot be batched (see {@link unbatchableReason}): every request is
   * then passed straight to `run`, and {@link DynamicBatcher.status} reports the reason.
   */
  disabledReason?: string | undefined;
}

/**
 * Dynamic batching in front of a model's replicas, in the manner of Triton's dynamic batcher.
 *
 * Requests are grouped by {@link batchKey} (same inputs with the same trailing dimensions, same
 * requested outputs). A group's batch is sent when its rows (summed first dimensions) reach
 * `maxBatchSize`, or when its oldest request has waited `maxLatencyMs`; a request that would
 * overflow the batch sends the batch first and starts the next one. The inputs are
 * concatenated along the first dimension, run once, and every output is split back by each
 * request's rows.
 *
 * - A request with more rows than `maxBatchSize`, or whose inputs do not share a first
 *   dimension, runs alone at once.
 * - Validation belongs before {@link submit}: a request that reaches the batcher is assumed
 *   well-formed, so one bad request cannot fail a batch.
 * - When a batched run fails (the runtime's failure reply, or a rejection such as a full queue
 *   or a stopped replica), every request of the batch gets that same failure.
 * - Should a batched run return an output whose first dimension is not the batch's rows (the
 *   specs promised `-1`, the graph did otherwise), batching is switched off for the model and
 *   each request of that batch is run again alone; {@link status} says why.
 */
export class DynamicBatcher {
  readonly #options: DynamicBatcherOptions;
  readonly #pending = new Map<string, PendingBatch>();
  #batchesRun = 0;
  #requestsBatched = 0;
  #pendingRequests = 0;
  #disabledReason: string | undefined;
  #closed = false;

  /**
   * @throws InvalidParameterError when `maxBatchSize` is not a positive integer or
   *   `maxLatencyMs` is not a finite number >= 0.
   */
  constructor(options: DynamicBatcherOptions) {
    const { maxBatchSize, maxLatencyMs } = options;
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
      throw new InvalidParameterError(
        `batching.maxBatchSize must be a positive integer, got ${maxBatchSize}.`,
        { maxBatchSize },
      );
    }
    if (!Number.isFinite(maxLatencyMs) || maxLatencyMs < 0) {
      throw new InvalidParameterError(
        `batching.maxLatencyMs must be a number of milliseconds >= 0, got ${maxLatencyMs}.`,
        { maxLatencyMs },
      );
    }
    this.#options = options;
    this.#disabledReason = options.disabledReason;
  }

  /**
   * Queues one validated request and resolves with its own share of the batch's reply.
   *
   * @param transfer whether the request's buffers may be moved to the worker (honoured when it
   *   runs alone; a batch always moves its own concatenated buffers).
   * @throws YardError `TEMPORARILY_UNAVAILABLE` after {@link close}, and whatever the runner
   *   throws for the run the request is part of.
   */
  submit(inputs: WireTensor[], outputs: string[], transfer: boolean): Promise<InferReply> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.#disabledReason !== undefined) return this.#options.run(inputs, outputs, transfer);
    const rows = rowsOf(inputs);
    if (rows === undefined || rows === 0 || rows >= this.#options.maxBatchSize) {
      // Alone: a full (or over-full) batch by itself, or nothing to stack.
      return this.#runAlone(inputs, outputs, transfer);
    }
    return new Promise<InferReply>((resolve, reject) => {
      const key = batchKey(inputs, outputs);
      const member: Member = { inputs, outputs, transfer, rows, resolve, reject };
      let batch = this.#pending.get(key);
      if (batch !== undefined && batch.rows + rows > this.#options.maxBatchSize) {
        this.#flush(batch);
        batch = undefined;
      }
      if (batch === undefined) {
        const created: PendingBatch = {
          key,
          members: [],
          rows: 0,
          timer: setTimeout(() => {
            this.#flush(created);
          }, this.#options.maxLatencyMs),
        };
        batch = created;
        this.#pending.set(key, batch);
      }
      batch.members.push(member);
      batch.rows += rows;
      this.#pendingRequests += 1;
      if (batch.rows >= this.#options.maxBatchSize) this.#flush(batch);
    });
  }

  #runAlone(inputs: WireTensor[], outputs: string[], transfer: boolean): Promise<InferReply> {
    this.#batchesRun += 1;
    this.#requestsBatched += 1;
    return this.#options.run(inputs, outputs, transfer);
  }

  #runMemberAlone(member: Member): void {
    this.#runAlone(member.inputs, member.outputs, member.transfer).then(
      member.resolve,
      member.reject,
    );
  }

  #flush(batch: PendingBatch): void {
    clearTimeout(batch.timer);
    if (this.#pending.get(batch.key) !== batch) return;
    this.#pending.delete(batch.key);
    this.#pendingRequests -= batch.members.length;
    const members = batch.members;
    if (members.length === 1 || this.#disabledReason !== undefined) {
      for (const member of members) this.#runMemberAlone(member);
      return;
    }
    void this.#runBatch(members);
  }

  async #runBatch(members: Member[]): Promise<void> {
    this.#batchesRun += 1;
    this.#requestsBatched += members.length;
    const first = members[0];
    if (first === undefined) return;
    let reply: InferReply;
    try {
      const inputs = first.inputs.map((tensor) =>
        concatRows(members.map((m) => m.inputs.find((t) => t.name === tensor.name) ?? tensor)),
      );
      // The concatenated buffers are the batcher's own, so they can always move.
      reply = await this.#options.run(inputs, first.outputs, true);
    } catch (error) {
      for (const member of members) member.reject(error);
      return;
    }
    if (!reply.ok) {
      for (const member of members) member.resolve(reply);
      return;
    }
    const rows = members.map((member) => member.rows);
    const pieces: WireTensor[][] = members.map(() => []);
    for (const output of reply.outputs) {
      const split = splitRows(output, rows);
      if (split === undefined) {
        this.#disable(
          `its output '${output.name}' came back with shape ${formatShape(output.dims)} for a ` +
            `batch of ${rows.reduce((a, b) => a + b, 0)} rows, so it cannot be split by request`,
        );
        for (const member of members) this.#runMemberAlone(member);
        return;
      }
      split.forEach((piece, i) => pieces[i]?.push(piece));
    }
    members.forEach((member, i) => {
      member.resolve({ ok: true, outputs: pieces[i] ?? [] });
    });
  }

  #disable(reason: string): void {
    this.#disabledReason ??= reason;
    for (const batch of [...this.#pending.values()]) this.#flush(batch);
  }

  #closedError(): YardError {
    return new YardError(
      'TEMPORARILY_UNAVAILABLE',
      `Model '${this.#options.name}' was closed before this request finished.`,
      { model: this.#options.name },
    );
  }

  /** Batching counters; `enabled` turns false if a run showed the model cannot be batched. */
  status(): BatchingStatus {
    return {
      enabled: this.#disabledReason === undefined,
      ...(this.#disabledReason !== undefined && { reason: this.#disabledReason }),
      maxBatchSize: this.#options.maxBatchSize,
      maxLatencyMs: this.#options.maxLatencyMs,
      batchesRun: this.#batchesRun,
      requestsBatched: this.#requestsBatched,
      pending: this.#pendingRequests,
    };
  }

  /** Fails the requests still waiting for their batch with `TEMPORARILY_UNAVAILABLE`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const batch of this.#pending.values()) {
      clearTimeout(batch.timer);
      for (const member of batch.members) member.reject(this.#closedError());
    }
    this.#pending.clear();
    this.#pendingRequests = 0;
  }
}

import { hostname } from 'node:os';
import { join } from 'node:path';
// BullMQ and ioredis are loaded when a Redis feature is used, so that local runs (and every other
// `yard` command) do not pay for loading them.
import type { Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { CronExpressionParser } from 'cron-parser';
import { InvalidParameterError } from '@modelyard/core';
import type { YardClient } from '@modelyard/client';
import type { UnitEvent, UnitExecutor, UnitHooks, UnitResult, UnitTask } from './execute.js';
import { TAGS, blobLoader, executeUnit, messageOf } from './execute.js';
import type { PipelineBundle } from './load.js';
import { importBundle } from './load.js';
import type { Pipeline } from './pipeline.js';
import type { RunSummary } from './runner.js';
import { runPipeline } from './runner.js';
import { StepThreadPool } from './threads.js';

/** Where the queues live: a Redis URL and the name their keys start with. */
export interface QueueTarget {
  /** `redis://[user:password@]host:port[/db]`. */
  redisUrl: string;
  /** Queue name prefix (default `modelyard`): runs and workers on other names do not meet. */
  queue?: string;
}

export const DEFAULT_QUEUE = 'modelyard';

/** A step call as a job. */
interface StepJobData {
  /** The pipeline bundle's blob digest. */
  bundle: string;
  source: string;
  task: UnitTask;
}

/** A whole pipeline run as a job (what schedules enqueue). */
interface RunJobData {
  bundle: string;
  source: string;
  params: Record<string, unknown>;
  experiment: string | null;
  schedule: string | null;
}

/** What a step job's progress carries: the last event, and the step run it belongs to. */
interface StepProgress {
  event: UnitEvent;
  runId: string | null;
  worker: string;
}

const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function queueNames(target: QueueTarget): { steps: string; runs: string } {
  const base = target.queue ?? DEFAULT_QUEUE;
  if (!QUEUE_NAME.test(base)) {
    throw new InvalidParameterError(
      `Invalid queue name ${JSON.stringify(base)}: use 1 to 64 letters, digits, '_', '.' or '-'.`,
      { queue: base },
    );
  }
  return { steps: `${base}.steps`, runs: `${base}.runs` };
}

/**
 * A Redis connection as BullMQ wants it (no per-command retry limit, so blocking reads wait).
 * @throws InvalidParameterError for a URL that is not redis:// or rediss://.
 */
async function connect(redisUrl: string): Promise<Redis> {
  if (!/^rediss?:\/\/[^/]/.test(redisUrl)) {
    throw new InvalidParameterError(
      `The Redis URL must look like redis://host:6379, got ${JSON.stringify(redisUrl)}.`,
      { redisUrl },
    );
  }
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
  // ioredis reconnects by itself; failed commands reject where they are awaited. Without a
  // listener each reconnect attempt would print an "unhandled error event".
  redis.on('error', () => undefined);
  return redis;
}

/** Connects, turning "nothing there" into a message that names the URL. */
async function ready(redis: Redis, redisUrl: string): Promise<void> {
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw new InvalidParameterError(
      `Cannot reach Redis at ${redisUrl} (${messageOf(error)}). Start one (redis-server) or ` +
        'point --redis / MODELYARD_REDIS_URL at a running one.',
      { redisUrl },
    );
  }
}

/** Stores a bundle on the server as a blob, so workers can fetch the same code. */
export async function uploadBundle(client: YardClient, bundle: PipelineBundle): Promise<void> {
  if (!(await client.blobs.has(bundle.digest))) {
    await client.blobs.put(bundle.digest, Buffer.from(bundle.code, 'utf8'));
  }
}

/** Options of {@link redisExecutor}. */
export interface RedisExecutorOptions extends QueueTarget {
  client: YardClient;
  bundle: PipelineBundle;
  /** Told once when no worker listens on the queue (the run waits for one). */
  onNoWorkers?: (message: string) => void;
}

/**
 * Runs step calls as BullMQ jobs that `yard worker` processes take. The pipeline's bundle is
 * stored on the server first, so every worker runs the same code. A call's result comes back
 * when its job finishes; a worker that dies mid-call has its job taken over by another one.
 */
export async function redisExecutor(options: RedisExecutorOptions): Promise<UnitExecutor> {
  const names = queueNames(options);
  const redis = await connect(options.redisUrl);
  await ready(redis, options.redisUrl);
  const { Queue, QueueEvents } = await import('bullmq');
  const queue = new Queue<StepJobData, UnitResult>(names.steps, { connection: redis });
  const events = new QueueEvents(names.steps, { connection: redis.duplicate() });
  const listeners = new Map<string, (event: UnitEvent) => void>();
  events.on('progress', ({ jobId, data }) => {
    const progress = data as unknown as Partial<StepProgress>;
    if (progress.event !== undefined) listeners.get(jobId)?.(progress.event);
  });
  try {
    await uploadBundle(options.client, options.bundle);
    await events.waitUntilReady();
    if ((await queue.getWorkersCount()) === 0) {
      options.onNoWorkers?.(
        `No worker is listening on queue '${names.steps}' at ${options.redisUrl}; the run waits ` +
          `until one starts: yard worker --redis ${options.redisUrl}` +
          (options.queue === undefined ? '' : ` --queue ${options.queue}`),
      );
    }
  } catch (error) {
    await Promise.allSettled([events.close(), queue.close()]);
    redis.disconnect();
    throw error;
  }
  return {
    name: 'redis',
    // Jobs waiting in Redis cost little; enough keeps every worker busy during a fan-out.
    concurrency: 1000,
    async execute(task, hooks) {
      const job = await queue.add(
        `${task.step}${task.item === null ? '' : `[${String(task.item.index)}]`}`,
        { bundle: options.bundle.digest, source: options.bundle.source, task },
        // Step retries happen inside the worker (the step's policy); the job is retried only
        // when its worker is lost (stalled-job detection).
        { attempts: 1, removeOnComplete: { age: 3600 }, removeOnFail: { age: 7 * 86_400 } },
      );
      const id = job.id ?? '';
      listeners.set(id, hooks.onEvent);
      const onCancel = () => {
        // A job nobody took yet is removed; one that runs finishes on its worker.
        void job.remove().catch(() => undefined);
      };
      hooks.cancel.addEventListener('abort', onCancel, { once: true });
      try {
        return await job.waitUntilFinished(events);
      } finally {
        hooks.cancel.removeEventListener('abort', onCancel);
        listeners.delete(id);
      }
    },
    async close() {
      await Promise.allSettled([events.close(), queue.close()]);
      await redis.quit().catch(() => undefined);
    },
  };
}

/** What a running worker reports. */
export type WorkerEvent =
  | { type: 'ready'; worker: string; queues: string[] }
  | { type: 'step-started'; job: string; step: string; item: number | null; pipeline: string }
  | {
      type: 'step-finished';
      job: string;
      step: string;
      item: number | null;
      result: UnitResult;
    }
  | { type: 'step-lost'; job: string; step: string; runId: string }
  | { type: 'run-started'; job: string; pipeline: string; schedule: string | null }
  | { type: 'run-finished'; job: string; summary: RunSummary }
  | { type: 'error'; message: string };

/** Options of {@link startWorker}. */
export interface WorkerOptions extends QueueTarget {
  client: YardClient;
  /** Step calls run at once (default 4). */
  concurrency?: number;
  /** Whole pipeline runs (from schedules) coordinated at once; 0 takes none (default 1). */
  runConcurrency?: number;
  /**
   * How long a job's lock lasts without renewal (default 30 s). A worker that dies is noticed
   * after about this long, and its job goes to another worker. A step that blocks the event
   * loop longer than this looks dead: run CPU-heavy steps with `worker: true`.
   */
  lockDurationMs?: number;
  /** Where bundles are written and imported from (default `.modelyard/pipelines` in the cwd). */
  bundleDir?: string;
  onEvent?: (event: WorkerEvent) => void;
}

/** A started worker. */
export interface PipelineWorker {
  /** `host:pid`. */
  readonly name: string;
  /** Stops taking jobs, waits for the running ones, and disconnects. */
  close(): Promise<void>;
}

/**
 * Takes step jobs (and scheduled pipeline runs) from the queues until closed. Runs every step
 * call with the same code as the run that planned it: the bundle is fetched from the server by
 * digest and imported once.
 */
export async function startWorker(options: WorkerOptions): Promise<PipelineWorker> {
  const names = queueNames(options);
  const { client } = options;
  const emit = options.onEvent ?? (() => undefined);
  const name = `${hostname()}:${String(process.pid)}`;
  const lockDuration = options.lockDurationMs ?? 30_000;
  const bundleDir = options.bundleDir ?? join(process.cwd(), '.modelyard', 'pipelines');
  const redis = await connect(options.redisUrl);
  await ready(redis, options.redisUrl);
  const { Worker } = await import('bullmq');
  /** Pipelines by bundle digest, each with the thread pool for its `worker: true` steps. */
  const pipelines = new Map<
    string,
    Promise<{ pipeline: Pipeline<unknown>; threads: StepThreadPool }>
  >();
  const load = blobLoader(client);

  const loaded = (digest: string, source: string) => {
    let found = pipelines.get(digest);
    if (found === undefined) {
      found = client.blobs.get(digest).then(async (bytes) => {
        const bundle = { code: Buffer.from(bytes).toString('utf8'), digest, source };
        const pipeline = await importBundle(bundle, bundleDir);
        return {
          pipeline,
          threads: new StepThreadPool({ client, bundle, worker: name, bundleDir }),
        };
      });
      found.catch(() => pipelines.delete(digest));
      pipelines.set(digest, found);
    }
    return found;
  };
  const pipelineOf = async (digest: string, source: string) =>
    (await loaded(digest, source)).pipeline;

  const processStep = async (job: Job<StepJobData, UnitResult>): Promise<UnitResult> => {
    const { task } = job.data;
    const jobId = job.id ?? '';
    const item = task.item?.index ?? null;
    // A job whose worker died comes back with the step run that worker had started.
    const earlier = job.progress as Partial<StepProgress> | number;
    if (typeof earlier === 'object' && typeof earlier.runId === 'string') {
      await markLost(client, earlier.runId, earlier.worker ?? 'unknown');
      emit({ type: 'step-lost', job: jobId, step: task.step, runId: earlier.runId });
    }
    const { pipeline, threads } = await loaded(job.data.bundle, job.data.source);
    emit({ type: 'step-started', job: jobId, step: task.step, item, pipeline: pipeline.name });
    let runId: string | null = null;
    const inThread = pipeline.steps.find((s) => s.name === task.step)?.config.worker === true;
    const run = inThread
      ? threads.run.bind(threads)
      : (t: UnitTask, hooks: UnitHooks) => executeUnit(client, pipeline, t, hooks);
    const result = await run(task, {
      load,
      worker: name,
      cancel: new AbortController().signal,
      onEvent: (event) => {
        if (event.type === 'started') runId = event.runId;
        const progress: StepProgress = { event, runId, worker: name };
        job.updateProgress(progress as unknown as object).catch((error: unknown) => {
          emit({ type: 'error', message: `could not report progress: ${messageOf(error)}` });
        });
      },
    });
    emit({ type: 'step-finished', job: jobId, step: task.step, item, result });
    return result;
  };

  const processRun = async (job: Job<RunJobData, RunSummary>): Promise<RunSummary> => {
    const data = job.data;
    const pipeline = await pipelineOf(data.bundle, data.source);
    emit({
      type: 'run-started',
      job: job.id ?? '',
      pipeline: pipeline.name,
      schedule: data.schedule,
    });
    const executor = await redisExecutor({
      redisUrl: options.redisUrl,
      ...(options.queue !== undefined && { queue: options.queue }),
      client,
      bundle: { code: '', digest: data.bundle, source: data.source },
    });
    try {
      const summary = await runPipeline(pipeline, {
        client,
        params: data.params,
        executor,
        ...(data.experiment !== null && { experiment: data.experiment }),
        tags: {
          'mlflow.source.name': data.source,
          'mlflow.source.type': 'JOB',
          [TAGS.bundleDigest]: data.bundle,
          ...(data.schedule !== null && { 'modelyard.pipeline.schedule': data.schedule }),
        },
      });
      emit({ type: 'run-finished', job: job.id ?? '', summary });
      return summary;
    } finally {
      await executor.close();
    }
  };

  const common = {
    connection: redis,
    lockDuration,
    stalledInterval: lockDuration,
    // A job survives a few lost workers before it is failed.
    maxStalledCount: 3,
    name,
  };
  const workers: Worker[] = [
    new Worker<StepJobData, UnitResult>(names.steps, processStep, {
      ...common,
      concurrency: options.concurrency ?? 4,
    }),
  ];
  const runConcurrency = options.runConcurrency ?? 1;
  if (runConcurrency > 0) {
    workers.push(
      new Worker<RunJobData, RunSummary>(names.runs, processRun, {
        ...common,
        concurrency: runConcurrency,
      }),
    );
  }
  for (const w of workers) {
    w.on('error', (error) => {
      emit({ type: 'error', message: messageOf(error) });
    });
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  emit({
    type: 'ready',
    worker: name,
    queues: runConcurrency > 0 ? [names.steps, names.runs] : [names.steps],
  });
  return {
    name,
    async close() {
      await Promise.allSettled(workers.map((w) => w.close()));
      const pools = await Promise.allSettled(pipelines.values());
      await Promise.all(
        pools.flatMap((p) => (p.status === 'fulfilled' ? [p.value.threads.close()] : [])),
      );
      await redis.quit().catch(() => undefined);
    },
  };
}

/** Marks the step run a lost worker had started as failed, saying so. */
async function markLost(client: YardClient, runId: string, worker: string): Promise<void> {
  try {
    await client.runs.logBatch(runId, {
      tags: [{ key: TAGS.stepLost, value: `worker ${worker} stopped during the step` }],
    });
    await client.runs.update(runId, { status: 'KILLED', endTime: Date.now() });
  } catch {
    // The run may not exist (the worker died before creating it); nothing to mark.
  }
}

/** A pipeline schedule as stored. */
export interface ScheduleInfo {
  id: string;
  cron: string;
  timezone: string | null;
  /** Next run, ms since the epoch. */
  next: number | null;
  source: string;
  params: Record<string, unknown>;
}

/** Options of {@link schedulePipeline}. */
export interface ScheduleOptions extends QueueTarget {
  client: YardClient;
  bundle: PipelineBundle;
  pipelineName: string;
  /** A cron expression (5 fields, or 6 with seconds first). */
  cron: string;
  /** IANA time zone for the cron expression (default: the worker's). */
  timezone?: string;
  /** Default: the pipeline's name; scheduling the same id again replaces it. */
  id?: string;
  params?: Record<string, unknown>;
  experiment?: string;
}

/** Checks a cron expression and time zone, giving the next time it fires. */
export function nextCronTime(cron: string, timezone?: string): number {
  try {
    return CronExpressionParser.parse(cron, {
      strict: false,
      ...(timezone !== undefined && { tz: timezone }),
    })
      .next()
      .getTime();
  } catch (error) {
    throw new InvalidParameterError(
      `Invalid cron expression ${JSON.stringify(cron)}${timezone === undefined ? '' : ` in time zone ${JSON.stringify(timezone)}`}: ` +
        `${messageOf(error)}. Use 5 fields (minute hour day-of-month month day-of-week), e.g. "0 3 * * *".`,
      { cron, timezone },
    );
  }
}

async function withQueue<T>(
  target: QueueTarget,
  work: (queue: Queue<RunJobData>) => Promise<T>,
): Promise<T> {
  const redis = await connect(target.redisUrl);
  await ready(redis, target.redisUrl);
  const { Queue } = await import('bullmq');
  const queue = new Queue<RunJobData>(queueNames(target).runs, { connection: redis });
  try {
    return await work(queue);
  } finally {
    await queue.close();
    await redis.quit().catch(() => undefined);
  }
}

/**
 * Schedules a pipeline (BullMQ job scheduler): at each cron time a `yard worker` runs it with
 * the bundled code and the given params. Scheduling an existing id replaces it.
 */
export async function schedulePipeline(options: ScheduleOptions): Promise<ScheduleInfo> {
  const id = options.id ?? options.pipelineName;
  if (!QUEUE_NAME.test(id)) {
    throw new InvalidParameterError(
      `Invalid schedule id ${JSON.stringify(id)}: use 1 to 64 letters, digits, '_', '.' or '-'.`,
      { id },
    );
  }
  const next = nextCronTime(options.cron, options.timezone);
  await uploadBundle(options.client, options.bundle);
  const data: RunJobData = {
    bundle: options.bundle.digest,
    source: options.bundle.source,
    params: options.params ?? {},
    experiment: options.experiment ?? null,
    schedule: id,
  };
  await withQueue(options, (queue) =>
    queue.upsertJobScheduler(
      id,
      { pattern: options.cron, ...(options.timezone !== undefined && { tz: options.timezone }) },
      { name: options.pipelineName, data, opts: { removeOnComplete: 100, removeOnFail: 100 } },
    ),
  );
  return {
    id,
    cron: options.cron,
    timezone: options.timezone ?? null,
    next,
    source: data.source,
    params: data.params,
  };
}

/** The schedules on a queue. */
export async function listSchedules(target: QueueTarget): Promise<ScheduleInfo[]> {
  return withQueue(target, async (queue) => {
    const found = await queue.getJobSchedulers(0, -1, true);
    return found.map((s) => ({
      id: s.key,
      cron: s.pattern ?? '',
      timezone: s.tz ?? null,
      next: s.next ?? null,
      source: s.template?.data?.source ?? '',
      params: s.template?.data?.params ?? {},
    }));
  });
}

/** Removes a schedule; false when there was none with that id. */
export async function removeSchedule(target: QueueTarget, id: string): Promise<boolean> {
  return withQueue(target, (queue) => queue.removeJobScheduler(id));
}

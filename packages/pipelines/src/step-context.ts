import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { InvalidParameterError } from '@modelyard/core';
import type { YardClient } from '@modelyard/client';
import { YardClientError } from '@modelyard/client';
import type { StepContext } from './step.js';

/** What {@link createStepContext} needs. */
export interface StepContextInput {
  client: YardClient;
  step: string;
  item: number | undefined;
  runId: string;
  pipelineRunId: string;
  params: Record<string, unknown>;
  onLog: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Resolves once the step's run exists on the server (it is recorded in batches). */
  ready: () => Promise<void>;
}

/** Metrics buffered before a batch is sent (the server takes up to 1000 per call). */
const METRIC_BATCH = 500;

/**
 * A step's context for one call: logs go to `onLog` and into the step run's `logs.txt`, metrics
 * and params into its tracking run (batched), artifacts and registered models into the registry
 * with the pipeline run as their lineage. `flush` sends what is buffered; call it when the call
 * ends, whatever its outcome.
 */
export function createStepContext(input: StepContextInput): {
  ctx: StepContext<unknown>;
  flush: () => Promise<void>;
} {
  const { client, runId } = input;
  const metrics: { key: string; value: number; step: number; timestamp: number }[] = [];
  const params = new Map<string, string>();
  const lines: string[] = [];
  let sending: Promise<void> = Promise.resolve();

  const sendMetrics = (): void => {
    if (metrics.length === 0) return;
    const batch = metrics.splice(0, metrics.length);
    sending = sending.then(async () => {
      await input.ready();
      for (let i = 0; i < batch.length; i += 1000) {
        await client.runs.logBatch(runId, { metrics: batch.slice(i, i + 1000) });
      }
    });
  };
  const log =
    (level: 'info' | 'warn' | 'error') => (message: string, fields?: Record<string, unknown>) => {
      const text = fields === undefined ? message : `${message} ${JSON.stringify(fields)}`;
      lines.push(`${new Date().toISOString()} ${level.toUpperCase()} ${text}`);
      input.onLog(level, text);
    };

  const ctx: StepContext<unknown> = {
    params: input.params,
    signal: new AbortController().signal,
    step: input.step,
    item: input.item,
    attempt: 1,
    runId,
    pipelineRunId: input.pipelineRunId,
    client,
    log: {
      info: log('info'),
      warn: log('warn'),
      error: log('error'),
      metric(key, value, step = 0) {
        if (typeof value !== 'number') {
          throw new InvalidParameterError(
            `ctx.log.metric('${key}') needs a number, got ${typeof value}.`,
            { key },
          );
        }
        metrics.push({ key, value, step, timestamp: Date.now() });
        if (metrics.length >= METRIC_BATCH) sendMetrics();
      },
      param(key, value) {
        params.set(key, String(value));
      },
    },
    artifacts: {
      async put(path, data) {
        await input.ready();
        await client.runs.artifacts.upload(
          runId,
          path,
          typeof data === 'string' ? Buffer.from(data, 'utf8') : data,
        );
      },
    },
    models: {
      async register(name, dir, options = {}) {
        const files = await listFiles(dir);
        if (!files.some((f) => relative(dir, f) === 'MLmodel')) {
          throw new InvalidParameterError(
            `ctx.models.register('${name}') needs an MLflow model folder with an MLmodel file; ` +
              `'${dir}' has none.`,
            { name, dir },
          );
        }
        await input.ready();
        for (const f of files) {
          const rel = relative(dir, f).split(sep).join('/');
          await client.runs.artifacts.upload(runId, `model/${rel}`, await readFile(f));
        }
        try {
          await client.registeredModels.create({ name });
        } catch (error) {
          if (!(error instanceof YardClientError && error.code === 'RESOURCE_ALREADY_EXISTS'))
            throw error;
        }
        const version = await client.modelVersions.create(name, {
          source: `runs:/${runId}/model`,
          runId,
          ...(options.description !== undefined && { description: options.description }),
          tags: [
            { key: 'modelyard.pipeline.run_id', value: input.pipelineRunId },
            { key: 'modelyard.step.name', value: input.step },
          ],
        });
        return version.version;
      },
      async versionByAlias(name, alias) {
        try {
          return (await client.registeredModels.getByAlias(name, alias)).version;
        } catch (error) {
          if (error instanceof YardClientError && error.status === 404) return undefined;
          throw error;
        }
      },
      async setAlias(name, alias, version) {
        await client.registeredModels.setAlias(name, alias, version);
      },
    },
  };

  const flush = async (): Promise<void> => {
    sendMetrics();
    if (params.size > 0) {
      const entries = [...params.entries()].map(([key, value]) => ({ key, value }));
      params.clear();
      sending = sending.then(async () => {
        await input.ready();
        for (let i = 0; i < entries.length; i += 100) {
          await client.runs.logBatch(runId, { params: entries.slice(i, i + 100) });
        }
      });
    }
    if (lines.length > 0) {
      const text = `${lines.splice(0, lines.length).join('\n')}\n`;
      sending = sending.then(async () => {
        await input.ready();
        await client.runs.artifacts.upload(runId, 'logs.txt', Buffer.from(text, 'utf8'));
      });
    }
    await sending;
  };
  return { ctx, flush };
}

async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

import { execFile } from 'node:child_process';
import { dirname, relative } from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { Option } from 'commander';
import {
  TAGS,
  loadPipeline,
  parseParamArgs,
  readSummary,
  redisExecutor,
  runPipeline,
} from '@modelyard/pipelines';
import type { RunEvent, RunSummary, StepSummary, UnitExecutor } from '@modelyard/pipelines';
import { CliError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { clientFor, withServer } from './server-connection.js';
import { positiveInt, toJson } from './table-format.js';
import { addQueueOptions, queueTarget } from './worker-command.js';

interface RunFlags {
  param: string[];
  executor: 'local' | 'redis';
  cache: boolean;
  json?: boolean;
  experiment?: string;
  seed?: string;
  concurrency?: number;
  resume?: string;
  redis: string;
  queue: string;
}

const SYMBOL: Record<StepSummary['status'], string> = {
  pending: '·',
  running: '▸',
  succeeded: '✓',
  cached: '✓',
  failed: '✗',
  skipped: '-',
};

function seconds(ms: number): string {
  return ms < 1000 ? `${String(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** One line per step: status, name, duration, cache, attempts, inputs. */
export function dagLines(summary: RunSummary): string[] {
  const width = Math.max(...summary.steps.map((s) => s.name.length), 4);
  return summary.steps.map((s) => {
    const parts: string[] = [`${SYMBOL[s.status]} ${s.name.padEnd(width)}`];
    parts.push(s.status.padEnd(9));
    if (s.status === 'succeeded' || s.status === 'failed')
      parts.push(seconds(s.durationMs).padStart(8));
    else parts.push(''.padStart(8));
    if (s.cached) {
      parts.push(
        s.cachedFrom === null
          ? 'cache hit'
          : `cache hit (from pipeline run ${s.cachedFrom.slice(0, 8)})`,
      );
    }
    if (s.attempts > 1) parts.push(`${String(s.attempts)} attempts`);
    else if (s.attempts === 1) parts.push('1 attempt');
    if (s.items !== undefined && s.items.length > 0) {
      const hits = s.items.filter((i) => i.cached).length;
      parts.push(`${String(s.items.length)} items (${String(hits)} cached)`);
    }
    if (s.inputs.length > 0) parts.push(`<- ${s.inputs.join(', ')}`);
    if (s.error !== null) parts.push(`: ${s.error}`);
    return parts.join('  ').trimEnd();
  });
}

function headline(summary: RunSummary): string {
  const took =
    summary.endedAt === null ? '' : ` in ${seconds(summary.endedAt - summary.startedAt)}`;
  return (
    `Pipeline ${summary.pipeline}: ${summary.status}${took} ` +
    `(pipeline run ${summary.pipelineRunId}, tracking run ${summary.trackingRunId})`
  );
}

async function gitCommit(file: string): Promise<string | undefined> {
  try {
    const { stdout } = await promisify(execFile)('git', ['rev-parse', 'HEAD'], {
      cwd: dirname(file),
    });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Progress on stderr: a line per step state change and per failed attempt. */
function progress(io: CliIo): (event: RunEvent) => void {
  return (event) => {
    switch (event.type) {
      case 'run-started':
        io.err(
          `Running pipeline ${event.summary.pipeline} (${String(event.summary.steps.length)} steps; ` +
            `tracking run ${event.summary.trackingRunId})\n`,
        );
        break;
      case 'step': {
        const s = event.step;
        if (event.item !== undefined) {
          // Map items: failures, and a line at each tenth done, not a line per item.
          const unit = s.items?.[event.item];
          const total = s.items?.length ?? 0;
          if (unit?.status === 'failed') {
            io.err(
              `  ${SYMBOL.failed} ${s.name}[${String(event.item)}] failed: ${unit.error ?? ''}\n`,
            );
          }
          const done = s.items?.filter((i) => i.status !== 'pending' && i.status !== 'running');
          const n = done?.length ?? 0;
          const tenth = Math.max(1, Math.floor(total / 10));
          if (unit?.status !== 'running' && n < total && n % tenth === 0) {
            io.err(`    ${s.name}: ${String(n)}/${String(total)} items done\n`);
          }
          break;
        }
        if (s.status === 'pending') break;
        const extra =
          s.status === 'cached'
            ? ' (cache hit)'
            : s.status === 'succeeded' || s.status === 'failed'
              ? ` in ${seconds(s.durationMs)}${s.attempts > 1 ? `, ${String(s.attempts)} attempts` : ''}`
              : '';
        const where = s.worker === undefined || s.status === 'cached' ? '' : ` on ${s.worker}`;
        io.err(
          `  ${SYMBOL[s.status]} ${s.name} ${s.status}${extra}${where}${s.error === null ? '' : `: ${s.error}`}\n`,
        );
        break;
      }
      case 'attempt-failed':
        io.err(
          `    ${event.step}${event.item === undefined ? '' : `[${String(event.item)}]`} attempt ` +
            `${String(event.attempt)} failed: ${event.error}` +
            (event.retryInMs === undefined ? '\n' : `; retrying in ${seconds(event.retryInMs)}\n`),
        );
        break;
      case 'log':
        io.err(
          `    ${event.step}${event.item === undefined ? '' : `[${String(event.item)}]`} ${event.level}: ${event.message}\n`,
        );
        break;
      case 'run-finished':
        io.err(`${headline(event.summary)}\n`);
        break;
    }
  };
}

/** `yard run <file>`. */
export function addRunCommand(program: Command, io: CliIo): void {
  const run = program
    .command('run')
    .description(
      'Run a pipeline file (TypeScript or JavaScript that exports a pipeline by default).',
    )
    .argument('<file>', 'the pipeline file, e.g. pipeline.ts')
    .option(
      '--param <key=value>',
      'a pipeline parameter (repeatable); converted to its declared type',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .addOption(
      new Option(
        '--executor <kind>',
        'where steps run: this process, or `yard worker` processes through Redis',
      )
        .choices(['local', 'redis'])
        .default('local'),
    )
    .option('--no-cache', 'run every step, ignoring cached outputs (the cache is refreshed)')
    .option(
      '--experiment <name>',
      "the experiment to record the run in (default: the pipeline's name)",
    )
    .option('--seed <n>', 'recorded with the run and part of every cache key (default 0)')
    .option(
      '--concurrency <n>',
      'step calls in flight at once (default 8; 1000 with --executor redis)',
      positiveInt,
    )
    .option('--resume <runId>', "a failed run's tracking run id: reuse its finished steps")
    .option('--json', 'print the run summary as JSON instead of the step table')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ yard run pipeline.ts\n' +
        '  $ yard run pipeline.ts --param epochs=50 --param data=data/churn.csv --no-cache\n' +
        '  $ yard run pipeline.ts --resume 5f0c8e0d1a2b4c3d --json\n' +
        '  $ yard run pipeline.ts --executor redis --redis redis://queue-host:6379\n',
    );
  addQueueOptions(run).action(async (file: string, flags: RunFlags, command: Command) => {
    const seed = flags.seed === undefined ? 0 : Number(flags.seed);
    if (!Number.isSafeInteger(seed)) {
      throw new CliError(`--seed takes a whole number, got '${String(flags.seed)}'.`);
    }
    const params = parseParamArgs(flags.param);
    const client = clientFor(command);
    const { pipeline, bundle } = await loadPipeline(file);
    const commit = await gitCommit(bundle.source);
    let executor: UnitExecutor | undefined;
    if (flags.executor === 'redis') {
      executor = await withServer(() =>
        redisExecutor({
          ...queueTarget(flags),
          client,
          bundle,
          onNoWorkers: (message) => {
            io.err(`${message}\n`);
          },
        }),
      );
    }
    const summary = await withServer(() =>
      runPipeline(pipeline, {
        ...(executor !== undefined && { executor }),
        client,
        params,
        cache: flags.cache,
        seed,
        ...(flags.experiment !== undefined && { experiment: flags.experiment }),
        ...(flags.concurrency !== undefined && { concurrency: flags.concurrency }),
        ...(flags.resume !== undefined && { resume: flags.resume }),
        tags: {
          'mlflow.source.name': relative(process.cwd(), bundle.source) || bundle.source,
          'mlflow.source.type': 'LOCAL',
          [TAGS.bundleDigest]: bundle.digest,
          ...(commit !== undefined && { 'mlflow.source.git.commit': commit }),
        },
        onEvent: flags.json === true ? undefined : progress(io),
      }),
    ).finally(() => executor?.close());
    if (flags.json === true) io.out(toJson(summary));
    else io.out(`${dagLines(summary).join('\n')}\n`);
    if (summary.status === 'failed') {
      throw new CliError(
        `Pipeline ${summary.pipeline} failed. Fix the failed step and rerun with ` +
          `--resume ${summary.trackingRunId} to reuse the finished steps.`,
      );
    }
  });
}

/** `yard runs show <runId>`: a run, and for a pipeline run its steps. */
export function addRunShowCommand(runs: Command, io: CliIo): void {
  runs
    .command('show')
    .description(
      'Show a run; for a pipeline run, its steps with status, duration, cache hits and attempts.',
    )
    .argument('<runId>', 'the tracking run id')
    .option('--json', 'print the pipeline summary (or the run) as JSON')
    .addHelpText('after', '\nExamples:\n  $ yard runs show 5f0c8e0d1a2b4c3d\n')
    .action(async (runId: string, flags: { json?: boolean }, command: Command) => {
      const client = clientFor(command);
      const run = await withServer(() => client.runs.get(runId));
      const isPipelineRun = run.data.tags.some((t) => t.key === 'modelyard.pipeline.summary');
      if (!isPipelineRun) {
        if (flags.json === true) {
          io.out(toJson(run));
          return;
        }
        const info = run.info;
        io.out(
          `Run ${info.runId} (${info.runName}) in experiment ${info.experimentId}: ${info.status}\n` +
            run.data.params.map((p) => `  param  ${p.key} = ${p.value}\n`).join('') +
            run.data.metrics.map((m) => `  metric ${m.key} = ${String(m.value)}\n`).join(''),
        );
        return;
      }
      const summary = await withServer(() => readSummary(client, runId));
      if (flags.json === true) {
        io.out(toJson(summary));
        return;
      }
      io.out(
        `${headline(summary)}\n${dagLines(summary)
          .map((l) => `  ${l}`)
          .join('\n')}\n`,
      );
    });
}

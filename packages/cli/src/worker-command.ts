import type { Command } from 'commander';
import { Option } from 'commander';
import {
  DEFAULT_QUEUE,
  listSchedules,
  loadPipeline,
  parseParamArgs,
  removeSchedule,
  resolveParams,
  schedulePipeline,
  startWorker,
} from '@modelyard/pipelines';
import type { QueueTarget, WorkerEvent } from '@modelyard/pipelines';
import { CliError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { clientFor, withServer } from './server-connection.js';
import { positiveInt, toJson } from './table-format.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** `--redis` and `--queue`, shared by `yard run`, `yard worker` and the schedule commands. */
export function addQueueOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--redis <url>', 'the Redis the queues live in')
        .env('MODELYARD_REDIS_URL')
        .default(DEFAULT_REDIS_URL),
    )
    .option(
      '--queue <name>',
      'queue name prefix; runs and workers on other names do not meet',
      DEFAULT_QUEUE,
    );
}

export function queueTarget(flags: { redis: string; queue: string }): QueueTarget {
  return { redisUrl: flags.redis, queue: flags.queue };
}

function nonNegativeInt(raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n)) {
    throw new CliError(`expected a whole number ≥ 0, got '${raw}'.`);
  }
  return n;
}

function describe(event: WorkerEvent): string {
  const at = (step: string, item: number | null) =>
    item === null ? step : `${step}[${String(item)}]`;
  switch (event.type) {
    case 'ready':
      return `worker ${event.worker} ready on ${event.queues.join(', ')}`;
    case 'step-started':
      return `job ${event.job}: ${event.pipeline} ${at(event.step, event.item)} started`;
    case 'step-finished': {
      const r = event.result;
      const took = `${String(r.durationMs)} ms`;
      return (
        `job ${event.job}: ${at(event.step, event.item)} ${r.status}` +
        (r.status === 'skipped' ? '' : ` in ${took}`) +
        (r.attempts > 1 ? `, ${String(r.attempts)} attempts` : '') +
        (r.error === null ? '' : `: ${r.error}`)
      );
    }
    case 'step-lost':
      return (
        `job ${event.job}: ${event.step} was running on a worker that stopped; its step run ` +
        `${event.runId} is marked KILLED and the step runs again here`
      );
    case 'run-started':
      return (
        `job ${event.job}: pipeline ${event.pipeline} started` +
        (event.schedule === null ? '' : ` (schedule ${event.schedule})`)
      );
    case 'run-finished':
      return (
        `job ${event.job}: pipeline ${event.summary.pipeline} ${event.summary.status} ` +
        `(tracking run ${event.summary.trackingRunId})`
      );
    case 'error':
      return `error: ${event.message}`;
  }
}

interface WorkerFlags {
  redis: string;
  queue: string;
  concurrency: number;
  runConcurrency: number;
  lockDuration: number;
  quiet?: boolean;
}

/** `yard worker`. */
export function addWorkerCommand(program: Command, io: CliIo): void {
  const command = program
    .command('worker')
    .description(
      'Take pipeline step jobs (and scheduled runs) from Redis and run them, until stopped. ' +
        'Start it in the pipeline project (its node_modules resolve the steps’ imports).',
    );
  addQueueOptions(command)
    .option('--concurrency <n>', 'step calls run at once', positiveInt, 4)
    .option(
      '--run-concurrency <n>',
      'scheduled pipeline runs coordinated at once (0: none)',
      nonNegativeInt,
      1,
    )
    .option(
      '--lock-duration <ms>',
      'a job lock lasts this long without renewal; a dead worker’s job moves on after about this long',
      positiveInt,
      30_000,
    )
    .option('--quiet', 'print only errors')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ yard worker --redis redis://queue-host:6379 --server http://yard-host:5000\n' +
        '  $ yard worker --concurrency 8 --queue team-a\n' +
        '\nStop it with Ctrl-C (SIGINT) or SIGTERM: it finishes the step calls it has, then exits.\n' +
        'A worker that dies mid-step loses nothing: after --lock-duration its job goes to another worker.\n',
    )
    .action(async (flags: WorkerFlags, cmd: Command) => {
      const client = clientFor(cmd);
      const worker = await withServer(() =>
        startWorker({
          ...queueTarget(flags),
          client,
          concurrency: flags.concurrency,
          runConcurrency: flags.runConcurrency,
          lockDurationMs: flags.lockDuration,
          onEvent: (event) => {
            if (flags.quiet === true && event.type !== 'error') return;
            io.err(`${new Date().toISOString()} ${describe(event)}\n`);
          },
        }),
      );
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          io.err(`${signal}: finishing the running step calls, then stopping\n`);
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await worker.close();
      io.err(`worker ${worker.name} stopped\n`);
    });
}

interface ScheduleFlags {
  redis: string;
  queue: string;
  cron: string;
  tz?: string;
  id?: string;
  param: string[];
  experiment?: string;
  json?: boolean;
}

function when(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString();
}

/** `yard schedule <file> --cron ...` and `yard schedules list|remove`. */
export function addScheduleCommands(program: Command, io: CliIo): void {
  const schedule = program
    .command('schedule')
    .description(
      'Run a pipeline file on a cron schedule: `yard worker` processes run it at each time.',
    )
    .argument('<file>', 'the pipeline file, e.g. pipeline.ts')
    .requiredOption('--cron <expression>', 'when, e.g. "0 3 * * *" (03:00 every day)')
    .option('--tz <zone>', 'IANA time zone of the cron expression, e.g. Europe/Paris')
    .option(
      '--id <id>',
      "the schedule's id (default: the pipeline's name); reusing one replaces it",
    )
    .option(
      '--param <key=value>',
      'a pipeline parameter for every run (repeatable)',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--experiment <name>', "the experiment runs go in (default: the pipeline's name)")
    .option('--json', 'print the schedule as JSON');
  addQueueOptions(schedule)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ yard schedule pipeline.ts --cron "0 3 * * *"\n' +
        '  $ yard schedule pipeline.ts --cron "*/15 * * * *" --tz Europe/Paris --param epochs=5\n' +
        '\nThe code is bundled now and stored on the server: later edits need another `yard schedule`.\n',
    )
    .action(async (file: string, flags: ScheduleFlags, cmd: Command) => {
      const client = clientFor(cmd);
      const { pipeline, bundle } = await loadPipeline(file);
      // Checked now, not at 3 a.m.
      const params = resolveParams(pipeline.params, parseParamArgs(flags.param));
      const info = await withServer(() =>
        schedulePipeline({
          ...queueTarget(flags),
          client,
          bundle,
          pipelineName: pipeline.name,
          cron: flags.cron,
          params,
          ...(flags.tz !== undefined && { timezone: flags.tz }),
          ...(flags.id !== undefined && { id: flags.id }),
          ...(flags.experiment !== undefined && { experiment: flags.experiment }),
        }),
      );
      if (flags.json === true) io.out(toJson(info));
      else {
        io.out(
          `Scheduled ${pipeline.name} as '${info.id}' (${info.cron}${info.timezone === null ? '' : ` ${info.timezone}`}); ` +
            `next run ${when(info.next)}. Runs happen on \`yard worker\` processes.\n`,
        );
      }
    });

  const schedules = program.command('schedules').description('List and remove pipeline schedules.');
  addQueueOptions(
    schedules
      .command('list', { isDefault: true })
      .description('List the schedules')
      .option('--json', 'print JSON'),
  ).action(async (flags: { redis: string; queue: string; json?: boolean }) => {
    const found = await listSchedules(queueTarget(flags));
    if (flags.json === true) {
      io.out(toJson(found));
      return;
    }
    if (found.length === 0) {
      io.out('No schedules. Add one with: yard schedule pipeline.ts --cron "0 3 * * *"\n');
      return;
    }
    for (const s of found) {
      io.out(
        `${s.id}  ${s.cron}${s.timezone === null ? '' : ` (${s.timezone})`}  next ${when(s.next)}  ${s.source}\n`,
      );
    }
  });
  addQueueOptions(
    schedules.command('remove').description('Remove a schedule').argument('<id>', 'its id'),
  ).action(async (id: string, flags: { redis: string; queue: string }) => {
    if (!(await removeSchedule(queueTarget(flags), id))) {
      throw new CliError(`No schedule '${id}' on queue '${flags.queue}'. See: yard schedules list`);
    }
    io.out(`Removed schedule '${id}'.\n`);
  });
}

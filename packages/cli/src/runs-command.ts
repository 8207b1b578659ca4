import type { Command } from 'commander';
import { isYardClientError } from '@modelyard/client';
import type { YardClient } from '@modelyard/client';
import { parseFilter, parseOrderBy } from '@modelyard/core';
import type { Run } from '@modelyard/core';
import { CliError } from './cli-io.js';
import { addRunShowCommand } from './pipeline-command.js';
import type { CliIo } from './cli-io.js';
import { clientFor, withServer } from './server-connection.js';
import { formatNumber, formatTime, positiveInt, renderTable, toJson } from './table-format.js';

interface SearchFlags {
  experiment: string[];
  filter?: string;
  orderBy?: string[];
  max: number;
  json?: boolean;
}

/** How many params and metrics the table shows when the filter and order-by name none. */
const DEFAULT_COLUMNS = 3;

/** A params/metrics column of the runs table. */
interface KeyColumn {
  kind: 'param' | 'metric';
  key: string;
}

/**
 * Resolves experiment names to ids. Every unknown name is reported at once, with the command
 * that lists the existing ones.
 */
async function experimentIds(client: YardClient, names: string[]): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  const missing: string[] = [];
  for (const name of names) {
    try {
      const experiment = await client.experiments.getByName(name);
      ids.set(experiment.experimentId, experiment.name);
    } catch (error) {
      if (!isYardClientError(error, 'RESOURCE_DOES_NOT_EXIST')) throw error;
      missing.push(name);
    }
  }
  if (missing.length > 0) {
    const list = missing.map((n) => `'${n}'`).join(', ');
    throw new CliError(
      `No experiment named ${list} on ${client.baseUrl}. See the existing ones with \`yard experiments list\` (add --view all to include deleted ones).`,
    );
  }
  return ids;
}

/** The params and metrics the user asked about in the filter and order-by, in that order. */
function mentionedColumns(filter: string | undefined, orderBy: string[] | undefined): KeyColumn[] {
  const columns: KeyColumn[] = [];
  const add = (kind: string, key: string): void => {
    if (kind !== 'param' && kind !== 'metric') return;
    if (!columns.some((c) => c.kind === kind && c.key === key)) columns.push({ kind, key });
  };
  try {
    for (const clause of parseFilter('runs', filter)) add(clause.kind, clause.key);
    for (const clause of parseOrderBy('runs', orderBy)) add(clause.kind, clause.key);
  } catch {
    // The server has accepted them, so this parser disagreeing only costs the extra columns.
  }
  return columns;
}

/** The first few param and metric keys of the runs, when none were named. */
function firstColumns(runs: Run[]): KeyColumn[] {
  const params = new Set<string>();
  const metrics = new Set<string>();
  for (const run of runs) {
    for (const p of run.data.params) params.add(p.key);
    for (const m of run.data.metrics) metrics.add(m.key);
  }
  return [
    ...[...params]
      .sort()
      .slice(0, DEFAULT_COLUMNS)
      .map((key) => ({ kind: 'param' as const, key })),
    ...[...metrics]
      .sort()
      .slice(0, DEFAULT_COLUMNS)
      .map((key) => ({ kind: 'metric' as const, key })),
  ];
}

function cell(run: Run, column: KeyColumn): string {
  if (column.kind === 'param') {
    return run.data.params.find((p) => p.key === column.key)?.value ?? '';
  }
  const metric = run.data.metrics.find((m) => m.key === column.key);
  return metric === undefined ? '' : formatNumber(metric.value);
}

/** Adds `yard runs search`. */
export function addRunsCommand(program: Command, io: CliIo): void {
  const runs = program
    .command('runs')
    .description('Work with runs.')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ yard runs search --experiment churn\n' +
        '  $ yard runs search --experiment churn,churn-v2 --filter "metrics.rmse < 0.5" --order-by "metrics.rmse ASC"\n' +
        '  $ yard runs show 5f0c8e0d1a2b4c3d\n',
    );
  addRunShowCommand(runs, io);

  runs
    .command('search')
    .description('Search the runs of one or more experiments (by name).')
    .requiredOption(
      '-e, --experiment <names...>',
      'experiment name(s); separate several with commas or repeat the option',
    )
    .option(
      '--filter <filter>',
      'MLflow search filter, e.g. "metrics.rmse < 0.5 and params.model = \'tree\'"',
    )
    .option(
      '--order-by <clause...>',
      'order-by clauses, e.g. "metrics.rmse DESC" (default: newest first)',
    )
    .option('--max <n>', 'show at most n runs', positiveInt, 100)
    .option('--json', 'print the runs as a JSON array')
    .addHelpText(
      'after',
      '\nThe table shows the params and metrics named in --filter and --order-by, or the first\n' +
        'few of each when none are named.\n' +
        '\nExamples:\n' +
        '  $ yard runs search --experiment churn\n' +
        '  $ yard runs search --experiment churn --filter "metrics.rmse < 0.5" --order-by "metrics.rmse DESC" --max 10\n' +
        "  $ yard runs search --experiment churn,churn-v2 --filter \"params.model = 'tree' and attributes.status = 'FINISHED'\"\n" +
        '  $ yard runs search --experiment churn --json > runs.json\n',
    )
    .action(async (flags: SearchFlags, command: Command) => {
      const client = clientFor(command);
      const names = flags.experiment
        .flatMap((n) => n.split(','))
        .map((n) => n.trim())
        .filter((n) => n !== '');
      if (names.length === 0)
        throw new CliError('--experiment needs at least one experiment name.');
      const { found, more, experimentNames } = await withServer(async () => {
        const ids = await experimentIds(client, names);
        const out: Run[] = [];
        let hasMore = false;
        const all = client.runs.searchAll({
          experimentIds: [...ids.keys()],
          ...(flags.filter !== undefined && { filter: flags.filter }),
          ...(flags.orderBy !== undefined && { orderBy: flags.orderBy }),
          maxResults: Math.min(flags.max + 1, 1000),
        });
        for await (const run of all) {
          if (out.length >= flags.max) {
            hasMore = true;
            break;
          }
          out.push(run);
        }
        return { found: out, more: hasMore, experimentNames: ids };
      });

      if (flags.json === true) {
        io.out(toJson(found));
        return;
      }
      if (found.length === 0) {
        io.out(`No runs found in ${names.join(', ')}.\n`);
        return;
      }
      const named = mentionedColumns(flags.filter, flags.orderBy);
      const columns = named.length > 0 ? named : firstColumns(found);
      const several = experimentNames.size > 1;
      const head = [
        'Run ID',
        'Name',
        ...(several ? ['Experiment'] : []),
        'Status',
        'Start',
        ...columns.map((c) => `${c.kind}s.${c.key}`),
      ];
      const rows = found.map((run) => [
        run.info.runId.slice(0, 8),
        run.info.runName,
        ...(several ? [experimentNames.get(run.info.experimentId) ?? run.info.experimentId] : []),
        run.info.status,
        formatTime(run.info.startTime),
        ...columns.map((c) => cell(run, c)),
      ]);
      io.out(renderTable(head, rows));
      if (more) io.err(`Showing the first ${flags.max} runs; raise --max to see more.\n`);
    });
}

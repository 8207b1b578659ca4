import { Option } from 'commander';
import type { Command } from 'commander';
import type { Experiment, ViewType } from '@modelyard/core';
import type { CliIo } from './cli-io.js';
import { clientFor, withServer } from './server-connection.js';
import { formatTime, positiveInt, renderTable, toJson } from './table-format.js';

const VIEWS: Record<string, ViewType> = {
  active: 'ACTIVE_ONLY',
  deleted: 'DELETED_ONLY',
  all: 'ALL',
};

interface ListFlags {
  filter?: string;
  view: string;
  orderBy?: string[];
  max?: number;
  json?: boolean;
}

/** Adds `yard experiments list`. */
export function addExperimentsCommand(program: Command, io: CliIo): void {
  const experiments = program
    .command('experiments')
    .description('Work with experiments.')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ yard experiments list\n' +
        '  $ yard experiments list --filter "name LIKE \'churn%\'" --view all --json\n',
    );

  experiments
    .command('list')
    .description('List experiments as a table (or JSON with --json).')
    .option('--filter <filter>', 'MLflow search filter, e.g. "name LIKE \'churn%\'"')
    .addOption(
      new Option('--view <view>', 'which experiments to show')
        .choices(Object.keys(VIEWS))
        .default('active'),
    )
    .option('--order-by <clause...>', 'order-by clauses, e.g. "name ASC" (default: newest first)')
    .option('--max <n>', 'show at most n experiments', positiveInt)
    .option('--json', 'print the experiments as a JSON array')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ yard experiments list\n' +
        '  $ yard experiments list --view deleted\n' +
        '  $ yard experiments list --filter "tags.team = \'ml\'" --order-by "name ASC"\n' +
        '  $ yard --server http://yard.internal:5000 experiments list --json\n',
    )
    .action(async (flags: ListFlags, command: Command) => {
      const client = clientFor(command);
      const found: Experiment[] = await withServer(async () => {
        const out: Experiment[] = [];
        const all = client.experiments.searchAll({
          ...(flags.filter !== undefined && { filter: flags.filter }),
          ...(flags.orderBy !== undefined && { orderBy: flags.orderBy }),
          viewType: VIEWS[flags.view] ?? 'ACTIVE_ONLY',
          ...(flags.max !== undefined && { maxResults: Math.min(flags.max, 1000) }),
        });
        for await (const experiment of all) {
          if (flags.max !== undefined && out.length >= flags.max) break;
          out.push(experiment);
        }
        return out;
      });
      if (flags.json === true) {
        io.out(toJson(found));
        return;
      }
      if (found.length === 0) {
        io.out('No experiments found.\n');
        return;
      }
      io.out(
        renderTable(
          ['ID', 'Name', 'Stage', 'Created', 'Artifact location'],
          found.map((e) => [
            e.experimentId,
            e.name,
            e.lifecycleStage,
            formatTime(e.creationTime),
            e.artifactLocation,
          ]),
        ),
      );
    });
}

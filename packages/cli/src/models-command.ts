import type { Command } from 'commander';
import type { RegisteredModel } from '@modelyard/core';
import type { CliIo } from './cli-io.js';
import { clientFor, withServer } from './server-connection.js';
import { formatTime, positiveInt, renderTable, toJson } from './table-format.js';

interface ListFlags {
  filter?: string;
  orderBy?: string[];
  max?: number;
  json?: boolean;
}

/** `v3 (Production), v4 (None)`: the latest version per stage. */
function latestVersions(model: RegisteredModel): string {
  return model.latestVersions.map((v) => `v${v.version} (${v.currentStage})`).join(', ');
}

/** Adds `yard models list`. */
export function addModelsCommand(program: Command, io: CliIo): void {
  const models = program
    .command('models')
    .description('Work with registered models.')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ yard models list\n' +
        '  $ yard models list --filter "name LIKE \'churn%\'" --json\n',
    );

  models
    .command('list')
    .description('List registered models as a table (or JSON with --json).')
    .option('--filter <filter>', 'MLflow search filter, e.g. "name LIKE \'churn%\'"')
    .option(
      '--order-by <clause...>',
      'order-by clauses, e.g. "last_updated_timestamp DESC" (default: by name)',
    )
    .option('--max <n>', 'show at most n models', positiveInt)
    .option('--json', 'print the registered models as a JSON array')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ yard models list\n' +
        '  $ yard models list --filter "tags.team = \'ml\'"\n' +
        '  $ yard models list --filter "name LIKE \'churn%\'" --json\n',
    )
    .action(async (flags: ListFlags, command: Command) => {
      const client = clientFor(command);
      const found = await withServer(async () => {
        const out: RegisteredModel[] = [];
        const all = client.registeredModels.searchAll({
          ...(flags.filter !== undefined && { filter: flags.filter }),
          ...(flags.orderBy !== undefined && { orderBy: flags.orderBy }),
          ...(flags.max !== undefined && { maxResults: Math.min(flags.max, 1000) }),
        });
        for await (const model of all) {
          if (flags.max !== undefined && out.length >= flags.max) break;
          out.push(model);
        }
        return out;
      });
      if (flags.json === true) {
        io.out(toJson(found));
        return;
      }
      if (found.length === 0) {
        io.out('No registered models found.\n');
        return;
      }
      io.out(
        renderTable(
          ['Name', 'Latest versions', 'Aliases', 'Updated', 'Description'],
          found.map((m) => [
            m.name,
            latestVersions(m),
            m.aliases.map((a) => `${a.alias} -> v${a.version}`).join(', '),
            formatTime(m.lastUpdatedTimestamp),
            m.description,
          ]),
        ),
      );
    });
}

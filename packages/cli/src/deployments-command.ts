import type { Command } from 'commander';
import { CliError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { batchingFrom } from './deployment-flags.js';
import type { BatchingFlags } from './deployment-flags.js';
import {
  deploymentDetails,
  deploymentsTable as table,
  eventsTable,
  modelsOf,
} from './deployment-view.js';
import { addManifestCommand } from './k8s/manifest-command.js';
import { addRolloutCommands } from './rollout-command.js';
import { clientFor, withServer } from './server-connection.js';
import { positiveInt, toJson } from './table-format.js';

interface CreateFlags {
  model: string;
  replicas?: number;
  maxConcurrency?: number;
  maxBatchSize?: number;
  maxLatencyMs?: number;
  description?: string;
  reason?: string;
  wait?: boolean;
  json?: boolean;
}

interface UpdateFlags extends BatchingFlags {
  description?: string;
  replicas?: number;
  maxConcurrency?: number;
  reason?: string;
  json?: boolean;
}

/**
 * Adds `yard deployments create|list|get|update|scale|events|delete|manifest` and the rollout commands
 * (`rollout|promote|rollback|metrics|outcomes`).
 */
export function addDeploymentsCommand(program: Command, io: CliIo): void {
  const deployments = program
    .command('deployments')
    .description('Serve registered model versions behind named endpoints.')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ yard deployments create churn --model models:/churn@champion --wait\n' +
        '  $ yard deployments list\n' +
        '  $ yard deployments get churn --json\n' +
        '  $ yard deployments update churn --replicas 4 --max-batch-size 32\n' +
        '  $ yard deployments rollout churn --model models:/churn/4 --strategy canary --wait\n' +
        '  $ yard deployments metrics churn\n' +
        '  $ yard deployments rollback churn --reason "p95 too high"\n' +
        '  $ yard deployments events churn --max-results 50\n' +
        '  $ yard deployments delete churn\n' +
        '  $ yard deployments manifest churn --env-secret yard-stores > churn.yaml\n',
    );

  deployments
    .command('create <name>')
    .description(
      'Deploy a model version; it then answers at /v2/models/<name>/infer (Open Inference ' +
        'Protocol) and /endpoints/<name>/invocations (MLflow scoring).',
    )
    .requiredOption('--model <uri>', 'models:/<model>@<alias> or models:/<model>/<version>')
    .option('--replicas <n>', 'worker replicas holding the model (default 1)', positiveInt)
    .option('--max-concurrency <n>', 'requests one replica runs at once (default 4)', positiveInt)
    .option(
      '--max-batch-size <n>',
      'dynamic batching: rows per batch (off unless given)',
      positiveInt,
    )
    .option(
      '--max-latency-ms <n>',
      'dynamic batching: longest wait for a batch (default 5)',
      positiveInt,
    )
    .option('--description <text>', 'what the endpoint is for')
    .option('--reason <text>', 'why (recorded on the deployment event)')
    .option('--wait', 'wait until the model is loaded (ready) or has failed')
    .option('--json', 'print the deployment as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ yard deployments create churn --model models:/churn@champion\n' +
        '  $ yard deployments create churn --model models:/churn/3 --replicas 2 --wait\n' +
        '  $ yard deployments create churn --model models:/churn/3 --max-batch-size 32 --max-latency-ms 2\n',
    )
    .action(async (name: string, flags: CreateFlags, command: Command) => {
      const batching = batchingFrom(flags);
      const client = clientFor(command);
      let deployment = await withServer(() =>
        client.deployments.create({
          name,
          modelUri: flags.model,
          ...(flags.replicas !== undefined && { replicas: flags.replicas }),
          ...(flags.maxConcurrency !== undefined && { maxConcurrency: flags.maxConcurrency }),
          ...(batching !== undefined && batching !== null && { batching }),
          ...(flags.description !== undefined && { description: flags.description }),
          ...(flags.reason !== undefined && { reason: flags.reason }),
        }),
      );
      if (flags.wait === true) {
        io.err(`Loading ${modelsOf(deployment)} into '${name}'`);
        const started = Date.now();
        deployment = await withServer(() =>
          client.deployments.waitUntilSettled(name, {
            intervalMs: 200,
            onPoll: () => {
              io.err('.');
            },
          }),
        );
        io.err(` ${deployment.status} after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      }
      if (flags.json === true) io.out(toJson(deployment));
      else io.out(table([deployment]));
      if (flags.wait === true && deployment.status === 'failed') {
        throw new CliError(`Deployment '${name}' failed: ${deployment.statusReason}`);
      }
    });

  deployments
    .command('list')
    .description('List deployments as a table (or JSON with --json).')
    .option('--json', 'print the deployments as a JSON array')
    .addHelpText(
      'after',
      '\nExamples:\n  $ yard deployments list\n  $ yard deployments list --json\n',
    )
    .action(async (flags: { json?: boolean }, command: Command) => {
      const client = clientFor(command);
      const found = await withServer(() => client.deployments.list());
      if (flags.json === true) io.out(toJson(found));
      else if (found.length === 0) io.out('No deployments found.\n');
      else io.out(table(found));
    });

  deployments
    .command('get <name>')
    .description(
      'Show one deployment: its status, its variants (role, weight, status, model, sizing) and ' +
        'its rollout (strategy, phase, last decision).',
    )
    .option('--json', 'print the deployment as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ yard deployments get churn\n  $ yard deployments get churn --json\n',
    )
    .action(async (name: string, flags: { json?: boolean }, command: Command) => {
      const client = clientFor(command);
      const deployment = await withServer(() => client.deployments.get(name));
      if (flags.json === true) io.out(toJson(deployment));
      else io.out(deploymentDetails(deployment));
    });

  deployments
    .command('update <name>')
    .description(
      "Change the description or the primary's sizing (replicas, concurrency, batching); the " +
        'primary loads again beside the serving copy and replaces it when ready. To serve ' +
        'another model version, use `yard deployments rollout`.',
    )
    .option('--description <text>', 'what the endpoint is for')
    .option('--replicas <n>', 'worker replicas holding the model', positiveInt)
    .option('--max-concurrency <n>', 'requests one replica runs at once', positiveInt)
    .option('--max-batch-size <n>', 'dynamic batching: rows per batch', positiveInt)
    .option(
      '--max-latency-ms <n>',
      'dynamic batching: longest wait for a batch (default 5)',
      positiveInt,
    )
    .option('--no-batching', 'turn dynamic batching off')
    .option('--reason <text>', 'why (recorded on the deployment event)')
    .option('--json', 'print the deployment as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ yard deployments update churn --description "churn scores for the CRM"\n' +
        '  $ yard deployments update churn --replicas 4 --max-concurrency 8 --reason "Monday peak"\n' +
        '  $ yard deployments update churn --max-batch-size 32 --max-latency-ms 2\n' +
        '  $ yard deployments update churn --no-batching\n',
    )
    .action(async (name: string, flags: UpdateFlags, command: Command) => {
      const batching = batchingFrom(flags);
      if (
        flags.description === undefined &&
        flags.replicas === undefined &&
        flags.maxConcurrency === undefined &&
        batching === undefined
      ) {
        throw new CliError(
          'Nothing to update: give --description, --replicas, --max-concurrency, ' +
            '--max-batch-size or --no-batching. To serve another model version, use ' +
            '`yard deployments rollout`.',
        );
      }
      const client = clientFor(command);
      const deployment = await withServer(() =>
        client.deployments.update(name, {
          ...(flags.description !== undefined && { description: flags.description }),
          ...(flags.replicas !== undefined && { replicas: flags.replicas }),
          ...(flags.maxConcurrency !== undefined && { maxConcurrency: flags.maxConcurrency }),
          ...(batching !== undefined && { batching }),
          ...(flags.reason !== undefined && { reason: flags.reason }),
        }),
      );
      if (flags.json === true) io.out(toJson(deployment));
      else io.out(deploymentDetails(deployment));
    });

  deployments
    .command('scale <name>')
    .description('Change the replica count; the new replicas replace the old ones once loaded.')
    .requiredOption('--replicas <n>', 'worker replicas holding the model', positiveInt)
    .option('--reason <text>', 'why (recorded on the deployment event)')
    .option('--json', 'print the deployment as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  $ yard deployments scale churn --replicas 4 --reason "Monday peak"\n',
    )
    .action(
      async (
        name: string,
        flags: { replicas: number; reason?: string; json?: boolean },
        command: Command,
      ) => {
        const client = clientFor(command);
        const deployment = await withServer(() =>
          client.deployments.scale(name, flags.replicas, {
            ...(flags.reason !== undefined && { reason: flags.reason }),
          }),
        );
        if (flags.json === true) io.out(toJson(deployment));
        else io.out(table([deployment]));
      },
    );

  deployments
    .command('events <name>')
    .description(
      'Show what happened to a deployment (who, when, what, why), newest first; also after it ' +
        'was deleted.',
    )
    .option('--max-results <n>', 'events per page, 1 to 1000', positiveInt, 20)
    .option('--oldest-first', 'from the first event on instead')
    .option('--page-token <token>', 'the next page, as printed after the previous one')
    .option('--json', 'print the page as JSON ({events, nextPageToken})')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ yard deployments events churn\n' +
        '  $ yard deployments events churn --oldest-first --max-results 100 --json\n',
    )
    .action(
      async (
        name: string,
        flags: { maxResults: number; oldestFirst?: boolean; pageToken?: string; json?: boolean },
        command: Command,
      ) => {
        const client = clientFor(command);
        const page = await withServer(() =>
          client.deployments.events(name, {
            maxResults: flags.maxResults,
            order: flags.oldestFirst === true ? 'asc' : 'desc',
            ...(flags.pageToken !== undefined && { pageToken: flags.pageToken }),
          }),
        );
        if (flags.json === true) {
          io.out(toJson(page));
          return;
        }
        io.out(eventsTable(page.events));
        if (page.nextPageToken !== undefined) {
          io.out(
            `More events: yard deployments events ${name}` +
              `${flags.oldestFirst === true ? ' --oldest-first' : ''} ` +
              `--max-results ${String(flags.maxResults)} --page-token ${page.nextPageToken}\n`,
          );
        }
      },
    );

  deployments
    .command('delete <name>')
    .description('Stop serving and delete a deployment (its events are kept).')
    .option('--reason <text>', 'why (recorded on the deployment event)')
    .addHelpText(
      'after',
      '\nExample:\n  $ yard deployments delete churn --reason "replaced by churn-v2"\n',
    )
    .action(async (name: string, flags: { reason?: string }, command: Command) => {
      const client = clientFor(command);
      await withServer(() =>
        client.deployments.delete(name, {
          ...(flags.reason !== undefined && { reason: flags.reason }),
        }),
      );
      io.out(`Deleted deployment '${name}'.\n`);
    });

  addRolloutCommands(deployments, io);
  addManifestCommand(deployments, io);
}

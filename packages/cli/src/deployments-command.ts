import type { Command } from 'commander';
import type { Deployment } from '@modelyard/core';
import { CliError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { addManifestCommand } from './k8s/manifest-command.js';
import { clientFor, withServer } from './server-connection.js';
import { formatTime, positiveInt, renderTable, toJson } from './table-format.js';

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

/** `churn@champion -> churn/3`: the model URI as given and the version it resolved to. */
function modelOf(deployment: Deployment): string {
  return deployment.variants
    .map((v) => `${v.modelUri} -> ${v.modelName}/${v.modelVersion}`)
    .join(', ');
}

function replicasOf(deployment: Deployment): string {
  return deployment.variants.map((v) => String(v.replicas)).join(', ');
}

function table(deployments: Deployment[]): string {
  return renderTable(
    ['Name', 'Status', 'Model', 'Replicas', 'Updated', 'Reason'],
    deployments.map((d) => [
      d.name,
      d.status,
      modelOf(d),
      replicasOf(d),
      formatTime(d.updatedAt),
      d.statusReason,
    ]),
  );
}

/** Adds `yard deployments create|list|get|scale|delete|manifest`. */
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
      if (flags.maxLatencyMs !== undefined && flags.maxBatchSize === undefined) {
        throw new CliError('--max-latency-ms needs --max-batch-size: batching is off without it.');
      }
      const client = clientFor(command);
      let deployment = await withServer(() =>
        client.deployments.create({
          name,
          modelUri: flags.model,
          ...(flags.replicas !== undefined && { replicas: flags.replicas }),
          ...(flags.maxConcurrency !== undefined && { maxConcurrency: flags.maxConcurrency }),
          ...(flags.maxBatchSize !== undefined && {
            batching: { maxBatchSize: flags.maxBatchSize, maxLatencyMs: flags.maxLatencyMs ?? 5 },
          }),
          ...(flags.description !== undefined && { description: flags.description }),
          ...(flags.reason !== undefined && { reason: flags.reason }),
        }),
      );
      if (flags.wait === true) {
        io.err(`Loading ${modelOf(deployment)} into '${name}'`);
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
    .action(async (flags: { json?: boolean }, command: Command) => {
      const client = clientFor(command);
      const found = await withServer(() => client.deployments.list());
      if (flags.json === true) io.out(toJson(found));
      else if (found.length === 0) io.out('No deployments found.\n');
      else io.out(table(found));
    });

  deployments
    .command('get <name>')
    .description('Show one deployment: status, model, replicas and the reason for its status.')
    .option('--json', 'print the deployment as JSON')
    .action(async (name: string, flags: { json?: boolean }, command: Command) => {
      const client = clientFor(command);
      const deployment = await withServer(() => client.deployments.get(name));
      if (flags.json === true) io.out(toJson(deployment));
      else io.out(table([deployment]));
    });

  deployments
    .command('scale <name>')
    .description('Change the replica count; the new replicas replace the old ones once loaded.')
    .requiredOption('--replicas <n>', 'worker replicas holding the model', positiveInt)
    .option('--reason <text>', 'why (recorded on the deployment event)')
    .option('--json', 'print the deployment as JSON')
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
    .command('delete <name>')
    .description('Stop serving and delete a deployment (its events are kept).')
    .option('--reason <text>', 'why (recorded on the deployment event)')
    .action(async (name: string, flags: { reason?: string }, command: Command) => {
      const client = clientFor(command);
      await withServer(() =>
        client.deployments.delete(name, {
          ...(flags.reason !== undefined && { reason: flags.reason }),
        }),
      );
      io.out(`Deleted deployment '${name}'.\n`);
    });

  addManifestCommand(deployments, io);
}

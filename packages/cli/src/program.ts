import { Command } from 'commander';
import { VERSION } from '@modelyard/core';
import { processIo, routeOutput } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { addDeploymentsCommand } from './deployments-command.js';
import { addExperimentsCommand } from './experiments-command.js';
import { addModelsCommand } from './models-command.js';
import { addRunCommand } from './pipeline-command.js';
import { addRunsCommand } from './runs-command.js';
import { addServerOption } from './server-connection.js';
import { addServerCommand } from './server-command.js';
import { addScheduleCommands, addWorkerCommand } from './worker-command.js';

/**
 * Builds the `yard` command line. `io` receives everything the commands print (the process's
 * streams by default; tests pass their own).
 */
export function buildProgram(io: CliIo = processIo): Command {
  const program = new Command();
  program
    .name('yard')
    .description('Modelyard: experiment tracking, model registry and more, MLflow-compatible.')
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError('(add --help for usage)');
  addServerOption(program);
  program.addHelpText(
    'after',
    '\nExamples:\n' +
      '  $ yard server                                   start a server on http://127.0.0.1:5000\n' +
      '  $ yard experiments list\n' +
      '  $ yard runs search --experiment churn --order-by "metrics.rmse ASC"\n' +
      '  $ yard models list --json\n' +
      '  $ yard run pipeline.ts --param epochs=20\n' +
      '  $ yard --server http://yard.internal:5000 experiments list\n',
  );
  addServerCommand(program);
  program.commands
    .find((c) => c.name() === 'server')
    ?.addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ yard server\n' +
        '  $ yard server --port 8080 --backend-store-uri postgresql://yard@db/yard --artifacts-destination s3://ml/artifacts\n',
    );
  addExperimentsCommand(program, io);
  addRunsCommand(program, io);
  addModelsCommand(program, io);
  addDeploymentsCommand(program, io);
  addRunCommand(program, io);
  addWorkerCommand(program, io);
  addScheduleCommands(program, io);
  routeOutput(program, io);
  return program;
}

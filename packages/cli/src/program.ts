import { Command } from 'commander';
import { VERSION } from '@modelyard/server';
import { addServerCommand } from './server-command.js';

/** Builds the `yard` command line. */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('yard')
    .description('Modelyard: experiment tracking, model registry and more, MLflow-compatible.')
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError('(add --help for usage)');
  addServerCommand(program);
  return program;
}

import type { Command } from 'commander';

/** Where the CLI writes: standard output for results, standard error for notes and help on errors. */
export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** The process's own streams. */
export const processIo: CliIo = {
  out: (text) => {
    process.stdout.write(text);
  },
  err: (text) => {
    process.stderr.write(text);
  },
};

/** Routes commander's own output (help, usage errors) of `command` and its subcommands to `io`. */
export function routeOutput(command: Command, io: CliIo): void {
  command.configureOutput({ writeOut: io.out, writeErr: io.err });
  for (const sub of command.commands) routeOutput(sub, io);
}

/** A command line the user got wrong, or a server answer to explain; printed as `yard: message`. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

import type { Command } from 'commander';
import { buildProgram } from '../program.js';

/** What one in-process `yard` invocation printed, and the error it ended with, if any. */
export interface YardResult {
  out: string;
  err: string;
  error?: Error;
}

/** Runs `yard <args>` in-process (commander's process.exit turned into errors). */
export async function runYard(args: string[]): Promise<YardResult> {
  let out = '';
  let err = '';
  const program = buildProgram({
    out: (text) => {
      out += text;
    },
    err: (text) => {
      err += text;
    },
  });
  const noExit = (command: Command): void => {
    command.exitOverride();
    command.commands.forEach(noExit);
  };
  noExit(program);
  try {
    await program.parseAsync(args, { from: 'user' });
    return { out, err };
  } catch (error) {
    return { out, err, error: error as Error };
  }
}

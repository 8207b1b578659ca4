import { YardError } from '@modelyard/core';
import { buildProgram } from './program.js';

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    if (err instanceof YardError) {
      process.stderr.write(`yard: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`yard: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });

export { buildProgram } from './program.js';
export type { CliIo } from './cli-io.js';

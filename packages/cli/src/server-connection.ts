import { Option } from 'commander';
import type { Command } from 'commander';
import { YardConnectionError, createClient } from '@modelyard/client';
import type { YardClient } from '@modelyard/client';
import { CliError } from './cli-io.js';

/** Where the CLI looks for a server when neither --server nor MODELYARD_SERVER_URL says. */
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:5000';

/** Adds the global `--server <url>` option (MODELYARD_SERVER_URL, else the default). */
export function addServerOption(program: Command): void {
  program.addOption(
    new Option('--server <url>', 'Modelyard server to talk to')
      .env('MODELYARD_SERVER_URL')
      .default(DEFAULT_SERVER_URL),
  );
}

/** The client for the server named by the global `--server` option of `command`. */
export function clientFor(command: Command): YardClient {
  const { server } = command.optsWithGlobals<{ server?: string }>();
  const baseUrl = server ?? DEFAULT_SERVER_URL;
  if (!/^https?:\/\/[^/]/.test(baseUrl)) {
    throw new CliError(
      `--server must be an http(s) URL such as ${DEFAULT_SERVER_URL}, got '${baseUrl}'.`,
    );
  }
  return createClient({ baseUrl });
}

/**
 * Runs `work`, turning "no server there" into one line that says which URL failed and how to
 * start a server.
 */
export async function withServer<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof YardConnectionError) {
      throw new CliError(
        `Cannot reach a Modelyard server at ${error.url} (${error.reason}). Start one with ` +
          '`yard server` (or `npm start` in a checkout), or point --server / MODELYARD_SERVER_URL at a running one.',
      );
    }
    throw error;
  }
}

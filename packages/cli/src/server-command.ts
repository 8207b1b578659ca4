import type { Command } from 'commander';
import type { ServerConfigInput } from '@modelyard/server';

interface ServerFlags {
  host?: string;
  port?: string;
  backendStoreUri?: string;
  artifactsDestination?: string;
  config?: string;
  logLevel?: string;
}

/** Adds `yard server`: starts the tracking server and registry. */
export function addServerCommand(program: Command): void {
  program
    .command('server')
    .description(
      'Start the Modelyard server (MLflow-compatible tracking, registry and artifact proxy).',
    )
    .option('--host <host>', 'address to listen on (MODELYARD_HOST)', undefined)
    .option('-p, --port <port>', 'port to listen on (MODELYARD_PORT)', undefined)
    .option(
      '--backend-store-uri <uri>',
      'metadata store: sqlite:///path.db or postgresql://user:pass@host/db (MODELYARD_BACKEND_STORE_URI)',
    )
    .option(
      '--artifacts-destination <dest>',
      'artifact store: a folder or s3://bucket/prefix (MODELYARD_ARTIFACTS_DESTINATION)',
    )
    .option(
      '--config <file>',
      'JSON config file (MODELYARD_CONFIG; default ./modelyard.config.json)',
    )
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (MODELYARD_LOG_LEVEL)')
    .addHelpText(
      'after',
      '\nPrecedence: flags > MODELYARD_* environment > config file > defaults.\n' +
        'Defaults: 127.0.0.1:5000, sqlite:///.modelyard/modelyard.db, ./.modelyard/artifacts.\n' +
        'Point MLflow at it with: export MLFLOW_TRACKING_URI=http://127.0.0.1:5000',
    )
    .action(async (flags: ServerFlags) => {
      const input: ServerConfigInput = {
        host: flags.host,
        port: flags.port === undefined ? undefined : Number(flags.port),
        backendStoreUri: flags.backendStoreUri,
        artifactsDestination: flags.artifactsDestination,
        configFile: flags.config,
        logLevel: flags.logLevel,
      };
      if (flags.port !== undefined && !/^\d+$/.test(flags.port)) {
        throw new Error(`--port must be a number from 0 to 65535, got '${flags.port}'.`);
      }
      // Loaded here, so that the other commands do not pay for loading the server.
      const { resolveConfig, startServer } = await import('@modelyard/server');
      const config = resolveConfig(input);
      const server = await startServer(config);
      process.stderr.write(
        `Modelyard listening on ${server.url} (metadata: ${redact(config.backendStoreUri)}, artifacts: ${config.artifactsDestination})\n`,
      );
      let closing = false;
      const shutdown = (signal: string): void => {
        if (closing) return;
        closing = true;
        process.stderr.write(`${signal} received, shutting down\n`);
        server.close().then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`error while shutting down: ${String(err)}\n`);
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => {
        shutdown('SIGINT');
      });
      process.on('SIGTERM', () => {
        shutdown('SIGTERM');
      });
    });
}

/** Hides the password of a database URI before printing it. */
function redact(uri: string): string {
  return uri.replace(/\/\/([^:/@]+):([^@]+)@/, '//$1:***@');
}

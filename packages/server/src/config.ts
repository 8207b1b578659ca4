import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidParameterError } from '@modelyard/core';

/** The server's settings after flags, environment, config file and defaults are merged. */
export interface ServerConfig {
  host: string;
  port: number;
  /** `sqlite:///path.db` or `postgresql://…`. */
  backendStoreUri: string;
  /** Where proxied artifacts live: a folder or `s3://bucket/prefix`. */
  artifactsDestination: string;
  /** `fatal | error | warn | info | debug | trace | silent`. */
  logLevel: string;
  /** Largest accepted request body, in bytes (artifact uploads stream and are not limited). */
  bodyLimit: number;
  /** How often running rollouts are judged, in milliseconds. */
  rolloutIntervalMs: number;
  /** The built web UI's folder; default `dist/` of the `@modelyard/web` package. */
  webRoot?: string;
}

/** Settings as given by one source; every field optional. */
export type ServerConfigInput = Partial<ServerConfig> & { configFile?: string | undefined };

/** Built-in defaults: the embedded setup (SQLite file and artifact folder under `./.modelyard`). */
export const DEFAULT_CONFIG: ServerConfig = {
  host: '127.0.0.1',
  port: 5000,
  backendStoreUri: 'sqlite:///.modelyard/modelyard.db',
  artifactsDestination: './.modelyard/artifacts',
  logLevel: 'info',
  bodyLimit: 64 * 1024 * 1024,
  rolloutIntervalMs: 1000,
};

const ENV_KEYS: Record<keyof ServerConfig, string> = {
  host: 'MODELYARD_HOST',
  port: 'MODELYARD_PORT',
  backendStoreUri: 'MODELYARD_BACKEND_STORE_URI',
  artifactsDestination: 'MODELYARD_ARTIFACTS_DESTINATION',
  logLevel: 'MODELYARD_LOG_LEVEL',
  bodyLimit: 'MODELYARD_BODY_LIMIT',
  rolloutIntervalMs: 'MODELYARD_ROLLOUT_INTERVAL_MS',
  webRoot: 'MODELYARD_WEB_ROOT',
};

/** The default config file, looked for in the working directory. */
export const CONFIG_FILE_NAME = 'modelyard.config.json';

function parsePort(value: string | number, source: string): number {
  const port = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidParameterError(
      `Invalid port ${JSON.stringify(value)} from ${source}: expected an integer from 0 to 65535.`,
      { value, source },
    );
  }
  return port;
}

function parsePositiveInt(value: string | number, name: string, source: string): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidParameterError(
      `Invalid ${name} ${JSON.stringify(value)} from ${source}: expected a positive integer.`,
      { value, source },
    );
  }
  return n;
}

function fromEnv(env: NodeJS.ProcessEnv): ServerConfigInput {
  const out: ServerConfigInput = {};
  for (const [field, key] of Object.entries(ENV_KEYS) as [keyof ServerConfig, string][]) {
    const raw = env[key];
    if (raw === undefined || raw === '') continue;
    if (field === 'port') out.port = parsePort(raw, key);
    else if (field === 'bodyLimit') out.bodyLimit = parsePositiveInt(raw, 'body limit', key);
    else if (field === 'rolloutIntervalMs') {
      out.rolloutIntervalMs = parsePositiveInt(raw, 'rollout interval', key);
    } else out[field] = raw;
  }
  if (env.MODELYARD_CONFIG) out.configFile = env.MODELYARD_CONFIG;
  return out;
}

function fromFile(path: string, required: boolean): ServerConfigInput {
  if (!existsSync(path)) {
    if (required) {
      throw new InvalidParameterError(`Config file ${path} does not exist.`, { path });
    }
    return {};
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new InvalidParameterError(
      `Config file ${path} is not valid JSON: ${(err as Error).message}`,
      { path },
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidParameterError(`Config file ${path} must hold a JSON object.`, { path });
  }
  const out: ServerConfigInput = {};
  const known = new Set(Object.keys(ENV_KEYS));
  for (const [key, value] of Object.entries(parsed)) {
    if (!known.has(key)) {
      throw new InvalidParameterError(
        `Unknown setting '${key}' in ${path}. Known settings: ${[...known].join(', ')}.`,
        { path, key },
      );
    }
    if (key === 'port') out.port = parsePort(value as number, path);
    else if (key === 'bodyLimit') out.bodyLimit = parsePositiveInt(value as number, key, path);
    else if (key === 'rolloutIntervalMs') {
      out.rolloutIntervalMs = parsePositiveInt(value as number, key, path);
    } else if (typeof value === 'string') (out as Record<string, string>)[key] = value;
    else {
      throw new InvalidParameterError(`Setting '${key}' in ${path} must be a string.`, {
        path,
        key,
      });
    }
  }
  return out;
}

function defined(input: ServerConfigInput): Partial<ServerConfig> {
  const out: Partial<ServerConfig> = {};
  for (const key of Object.keys(ENV_KEYS) as (keyof ServerConfig)[]) {
    const value = input[key];
    if (value !== undefined) (out as Record<string, unknown>)[key] = value;
  }
  return out;
}

/**
 * Merges configuration with the precedence flags > environment (`MODELYARD_*`) > config file
 * (`--config`, `MODELYARD_CONFIG`, or `./modelyard.config.json`) > defaults.
 * @throws InvalidParameterError naming the source and the bad value.
 */
export function resolveConfig(
  flags: ServerConfigInput = {},
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): ServerConfig {
  const envInput = fromEnv(env);
  const explicitFile = flags.configFile ?? envInput.configFile;
  const fileInput = fromFile(
    resolve(cwd, explicitFile ?? CONFIG_FILE_NAME),
    explicitFile !== undefined,
  );
  const merged: ServerConfig = {
    ...DEFAULT_CONFIG,
    ...defined(fileInput),
    ...defined(envInput),
    ...defined(flags),
  };
  if (flags.port !== undefined) merged.port = parsePort(flags.port, '--port');
  return merged;
}

export { buildApp } from './app.js';
export type { AppOptions, AppServices } from './app.js';
export { startServer, startTemporaryServer } from './start-server.js';
export type { RunningServer, TemporaryServer } from './start-server.js';
export { resolveConfig, DEFAULT_CONFIG, CONFIG_FILE_NAME } from './config.js';
export type { ServerConfig, ServerConfigInput } from './config.js';
export { VERSION } from '@modelyard/core';

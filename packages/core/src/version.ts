/**
 * Modelyard's version, the same in every package's `package.json` (a test keeps them in step).
 * A constant rather than a read of `package.json`, so that `yard` commands that never start a
 * server need not load the server to print it.
 */
export const VERSION = '0.1.0';

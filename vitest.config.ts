import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Import sibling packages from their TypeScript sources, not their build output.
    conditions: ['@modelyard/source'],
  },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'interop/**/*.test.ts',
    ],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});

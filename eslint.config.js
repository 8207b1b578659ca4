// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import globals from 'globals';
import pluginVue from 'eslint-plugin-vue';
import vueParser from 'vue-eslint-parser';

/**
 * Layering from DESIGN.md: which packages each package may import.
 * `core` imports nothing of ours; `store` imports `core`; `server` imports `core` and `store`;
 * `client` imports `core` types only; `pipelines` imports `client` and `core`; `cli` imports
 * `client`, `core`, `pipelines` and the server's public entry (to run `yard server`); `web` (the
 * browser UI) imports `client` and `core` only: the server finds its built files by path.
 */
const layers = {
  core: [],
  store: ['core'],
  server: ['core', 'store'],
  client: ['core'],
  pipelines: ['core', 'client'],
  cli: ['core', 'client', 'pipelines', 'server'],
  web: ['core', 'client'],
};
const all = Object.keys(layers);

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      'coverage/**',
      '.modelyard/**',
      'interop/**/*.py',
      'bench/.work/**',
      'bench/results/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: {
        projectService: {
          allowDefaultProject: [
            'eslint.config.js',
            'packages/cli/bin/*.js',
            'bench/*.mjs',
            'scripts/*.mjs',
          ],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true, allowNullish: true },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'import-x/no-cycle': 'error',
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@modelyard/*/src', '@modelyard/*/src/*', '@modelyard/*/dist/*'],
              message: 'Import another package through its public entry point only.',
            },
          ],
        },
      ],
    },
  },
  ...Object.entries(layers).map(([pkg, allowed]) => ({
    files: [`packages/${pkg}/src/**/*.ts`, `packages/${pkg}/src/**/*.vue`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@modelyard/*/src', '@modelyard/*/src/*', '@modelyard/*/dist/*'],
              message: 'Import another package through its public entry point only.',
            },
            ...all
              .filter((other) => other !== pkg && !allowed.includes(other))
              .map((other) => ({
                group: [`@modelyard/${other}`],
                message: `DESIGN.md layering: ${pkg} may import only ${allowed.join(', ') || 'nothing of ours'}.`,
              })),
            {
              group: ['../../*/src/*', '../../../*/src/*'],
              message: 'Relative imports may not cross package boundaries.',
            },
          ],
        },
      ],
    },
  })),
  {
    // Examples use the platform as its users do: through the client, core and the pipelines SDK.
    files: ['examples/**/*.ts', 'examples/**/*.mjs'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@modelyard/*/src', '@modelyard/*/src/*', '@modelyard/*/dist/*'],
              message: 'Import another package through its public entry point only.',
            },
            {
              group: [
                '@modelyard/*',
                '!@modelyard/client',
                '!@modelyard/core',
                '!@modelyard/pipelines',
              ],
              message:
                'DESIGN.md layering: examples may import only @modelyard/client, @modelyard/core ' +
                'and @modelyard/pipelines.',
            },
            {
              group: ['**/packages/*/src/*', '**/packages/*/dist/*'],
              message: 'Relative imports may not reach into packages; import their public entry.',
            },
          ],
        },
      ],
    },
  },
  // Vue single-file components: Vue's own checks (no formatting rules: Prettier formats them),
  // then the same type-aware TypeScript rules as everywhere, through vue-eslint-parser.
  ...pluginVue.configs['flat/essential'].map((config) => ({
    ...config,
    files: ['packages/web/src/**/*.vue'],
  })),
  {
    files: ['packages/web/src/**/*.vue'],
    languageOptions: {
      parser: vueParser,
      parserOptions: {
        parser: tseslint.parser,
        extraFileExtensions: ['.vue'],
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
        sourceType: 'module',
      },
    },
  },
  {
    // uPlot types its scale distribution as an ambient `const enum`, which isolatedModules
    // forbids naming: the chart has to write the number (3 = logarithmic).
    files: ['packages/web/src/components/MetricChart.vue'],
    rules: { '@typescript-eslint/no-unsafe-enum-assignment': 'off' },
  },
  {
    // The web UI runs in the browser, not in Node.
    files: ['packages/web/src/**/*.ts', 'packages/web/src/**/*.vue'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    // A leaf that nothing imports, so it cannot be in a cycle; and import-x's legacy resolver
    // lookup mistakes Vite's own `dist/node/` folder for a resolver named `node` and throws.
    files: ['packages/web/vite.config.ts'],
    rules: { 'import-x/no-cycle': 'off' },
  },
  {
    files: ['**/*.test.ts', '**/*.contract.ts', '**/test-support/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);

import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** An import of the runtime: its sources, its builds, or its package name. */
const RUNTIME = String.raw`(^|/)runtime/(src|dist)(/|$)|(^|/)dist/runtime(/|$)|^sprig-queue(/|$)`;
const ONE_WAY =
  'The extension reaches the runtime one way: values through runtime() in extension/src/runtime.ts (loaded on first use, from the bundle it ships); elsewhere `import type` only.';

export default tseslint.config(
  // dist/ anywhere is build output (extension/ts-plugin/dist/types holds the runtime's emitted .d.ts).
  { ignores: ['**/dist/**', 'node_modules/**', 'test/.tmp/**', '**/*.mjs', '**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    files: ['extension/src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [{ regex: RUNTIME, allowTypeImports: true, message: ONE_WAY }] }],
      // import() and require() of a literal path, which no-restricted-imports does not see.
      // (esquery regexes cannot hold a `/`: `.` stands for it.)
      'no-restricted-syntax': [
        'error',
        { selector: 'ImportExpression[source.value=/(^|.)runtime.(src|dist)|dist.runtime|^sprig-queue/]', message: ONE_WAY },
        { selector: "CallExpression[callee.name='require'][arguments.0.value=/(^|.)runtime.(src|dist)|dist.runtime|^sprig-queue/]", message: ONE_WAY },
      ],
    },
  },
  {
    files: ['extension/src/runtime.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': 'off', 'no-restricted-syntax': 'off' },
  },
  {
    // The webview is a separate browser bundle: it keeps its own static import of the events state
    // (pure TypeScript, no Node APIs), and nothing else of the runtime.
    files: ['webview-ui/src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: String.raw`(^|/)runtime/src/(?!events/(state|types|query)\.js$)|(^|/)runtime/dist(/|$)|(^|/)dist/runtime(/|$)|^sprig-queue(/|$)`,
              allowTypeImports: true,
              message: 'The webview runs in a browser: of the runtime it bundles only events/state, events/types and events/query (no Node APIs).',
            },
          ],
        },
      ],
    },
  },
);

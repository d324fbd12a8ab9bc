// ESLint runs type-aware rules over every package; the formatter (Prettier) owns layout,
// so no stylistic rule appears here. One invocation lints the whole tree: the project
// service gives each file the program of its nearest tsconfig that includes it, so the
// dashboard's browser code is checked against packages/dashboard/tsconfig.json (DOM lib)
// and everything else against the root tsconfig.json.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', '**/dist/**', '**/.flotilla/**', 'coverage/**', 'test/screenshots/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Implementations of Promise-returning ports (state stores, drivers, token sources,
      // in-memory doubles) are `async` without awaiting so that a throw becomes a rejection,
      // as callers expect; dropping `async` to please this rule would change that contract.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Tests read JSON answers and Kubernetes objects as loosely typed data and assert on
    // them; typing each answer would add casts, not checks. Promise rules stay on.
    files: ['**/test/**'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // Plain JavaScript (bins, a worker thread, this file) is outside the TypeScript programs.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: globals.node },
  },
);

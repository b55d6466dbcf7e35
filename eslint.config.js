// Lint for the whole monorepo: `npm run lint`. Type-aware rules (typescript-eslint) read the root
// tsconfig.json through the project service, so every TypeScript file is checked with the types
// `tsc -p .` sees.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import checkFile from 'eslint-plugin-check-file';
import globals from 'globals';

const root = path.dirname(fileURLToPath(import.meta.url));

// Each workspace may import what its own package.json declares, plus the root's (the root holds
// the shared tooling: typescript, vitest, tsx, @types/*).
const workspaces = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).workspaces;
// Files that never ship in the image (.dockerignore keeps them out): they may use devDependencies.
const devOnly = ['**/test/**', 'bench/**', '*.config.ts', '*.config.js'];

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', '**/dist/**', 'coverage/**', 'test-output/**', 'data/**', '**/data/**', '.tools/**'],
  },
  // A disable comment that no longer suppresses anything is an error, so none outlives its reason.
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: root },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Passing on a caught `unknown` is forwarding, not inventing a non-Error reason.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // rate-limiter-flexible's contract: a used-up limit rejects with RateLimiterRes, and callers
      // tell it from a store failure by that class.
      '@typescript-eslint/only-throw-error': ['error', { allow: [{ from: 'package', package: 'rate-limiter-flexible', name: 'RateLimiterRes' }] }],
      // Off: an async function without await is how this code base implements an async interface
      // synchronously (the SQLite store behind the Promise-returning Store, Fastify plugins, hooks
      // and handlers): `async` turns a throw into the rejection the caller handles.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Tests assert on untyped JSON (`response.json()`, `JSON.parse`, SDK results): the expect() is
    // the check, so typing every body first adds nothing. The promise rules stay on.
    files: ['**/test/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowAny: true, allowNumber: true }],
    },
  },
  {
    // Plain JavaScript (config, the container health check, a browser helper): no type information.
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: path.join(root, 'tsconfig.json') })],
    },
    rules: {
      'import-x/no-extraneous-dependencies': ['error', { devDependencies: devOnly, packageDir: [root] }],
    },
  },
  ...workspaces.flatMap((pattern) => workspaceDirs(pattern)).map((dir) => ({
    files: [`${dir}/**`],
    rules: {
      'import-x/no-extraneous-dependencies': ['error', { devDependencies: devOnly, packageDir: [root, path.join(root, dir)] }],
    },
  })),
  {
    plugins: { 'check-file': checkFile },
    rules: {
      // Small kebab-case files: `token-endpoint.test.ts`, `drizzle.auth-pg.config.ts` (the part
      // before the first dot is checked).
      'check-file/filename-naming-convention': ['error', { '**/*.{ts,js,mjs}': 'KEBAB_CASE' }, { ignoreMiddleExtensions: true }],
      'check-file/folder-naming-convention': ['error', { '**/': 'KEBAB_CASE' }],
    },
  },
);

function workspaceDirs(pattern) {
  if (!pattern.endsWith('/*')) return [pattern];
  const parent = pattern.slice(0, -2);
  return fs.readdirSync(path.join(root, parent), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => `${parent}/${entry.name}`);
}

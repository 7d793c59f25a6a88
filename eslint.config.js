// @ts-check
import js from '@eslint/js'
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript'
import importX from 'eslint-plugin-import-x'
import rxjsX from 'eslint-plugin-rxjs-x'
import simpleImportSort from 'eslint-plugin-simple-import-sort'
import tseslint from 'typescript-eslint'

/** fp-ts / io-ts have no exports map: under ESM only `lib/…js` subpaths load. */
const fpTsPaths = {
  group: ['fp-ts/*', '!fp-ts/lib', '!fp-ts/lib/*', 'io-ts/*', '!io-ts/lib', '!io-ts/lib/*'],
  message: 'Import fp-ts / io-ts subpaths through lib/…js (e.g. fp-ts/lib/Either.js).',
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.cano/**', '.bench-dist/**', '.scratch/**'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { 'import-x': importX, 'simple-import-sort': simpleImportSort, 'rxjs-x': rxjsX },
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver({ alwaysTryTypes: true })] },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-confusing-void-expression': 'off',
      // task functions are often written `async () => 'Next'`: an async function without await is idiomatic here
      '@typescript-eslint/require-await': 'off',
      'import-x/no-cycle': 'error',
      'simple-import-sort/imports': 'error',
      'simple-import-sort/exports': 'error',
      'rxjs-x/no-internal': 'error',
      'rxjs-x/no-ignored-subscription': 'error',
      'rxjs-x/no-nested-subscribe': 'error',
      'rxjs-x/no-unsafe-takeuntil': 'error',
      'rxjs-x/no-async-subscribe': 'error',
      'rxjs-x/no-ignored-takewhile-value': 'error',
      'no-restricted-imports': ['error', { patterns: [fpTsPaths] }],
    },
  },
  // The layers, bottom to top: codecs/ -> src/ (the pure core) -> streams/ (RxJS) -> roots/ (composition roots:
  // workflow, scheduler, stores, the barrel). Every import points down; the barrel is never imported from inside.
  {
    files: ['codecs/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            fpTsPaths,
            { group: ['**/src/*', '**/streams/*', '**/roots/*'], message: 'codecs/ imports io-ts and fp-ts only.' },
            { group: ['rxjs', 'rxjs/*'], message: 'codecs/ imports io-ts and fp-ts only.' },
          ],
        },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            fpTsPaths,
            {
              group: ['**/streams/*', '**/roots/*'],
              message: 'src/ is the pure core: it imports codecs/ and src/ only (codecs -> src -> streams -> roots).',
            },
            {
              group: ['rxjs', 'rxjs/*'],
              allowTypeImports: true,
              message: 'src/ core is pure: rxjs belongs in streams/ or a composition root in roots/.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['streams/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            fpTsPaths,
            {
              group: ['**/roots/*'],
              message: 'streams/ must not depend on roots/ (codecs -> src -> streams -> roots).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['roots/**/*.ts'],
    ignores: ['roots/index.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            fpTsPaths,
            { group: ['**/index.js', '**/roots/index.js'], message: 'the barrel is never imported from inside.' },
            {
              group: ['./sqlite.js', './postgres.js', '**/roots/sqlite.js', '**/roots/postgres.js'],
              message: 'the package entries (cano-rx/sqlite, cano-rx/postgres) are never imported from inside.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    rules: {
      ...tseslint.configs.disableTypeChecked.rules,
      'rxjs-x/no-ignored-subscription': 'off',
      'rxjs-x/no-ignored-takewhile-value': 'off',
      'rxjs-x/no-unsafe-takeuntil': 'off',
      'rxjs-x/no-async-subscribe': 'off',
      'rxjs-x/no-nested-subscribe': 'off',
      'rxjs-x/no-internal': 'off',
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'examples/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-expressions': 'off',
      // tests reject with CanoError values on purpose: the engine must accept any rejection reason
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
    },
  },
)

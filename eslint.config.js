// Type-aware lint: typescript-eslint's strict type-checked rules over the sources, the tools,
// the benchmark and the tests (npm run lint). Each rule turned off or tuned says why.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'bench-results/', '**/*.mjs', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['vitest.config.ts'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Dense arrays, typed-array columns and maps whose bounds and keys the code maintains
      // (swarms, queues, the cache reader) are read with `!`: a check on every access of the
      // announce path would cost, and a `?? fallback` would hide a broken invariant.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Numbers and booleans print as expected in messages and SQL text.
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true, allowAny: false, allowNullish: false, allowRegExp: false, allowNever: false },
      ],
      // `(x) => void list.push(x)` and `() => resolve()` callbacks read plainly.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // prom-client calls a metric's collect() with the metric as `this`: the owner is reached as `self`.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['self'] }],
      // A `let` a closure reads before its one assignment (an ordering that matters) stays a `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // A leading underscore marks a name kept for a signature or left out of a rest.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests read JSON answers, database rows and tool output in the shape they expect and check it with expect():
      // a wrong shape fails the test there, so typing every parse would add nothing; their messages print what they got.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true, allowAny: true, allowNullish: true, allowRegExp: true, allowNever: false },
      ],
      '@typescript-eslint/restrict-plus-operands': [
        'error',
        { allowAny: true, allowBoolean: false, allowNullish: false, allowNumberAndString: false, allowRegExp: false },
      ],
      // afterAll guards what beforeAll may not have set (`t?.close()` after a failed set-up), and tests poll flags
      // that other tasks set across awaits: the types say neither.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // The client drivers' methods are async to fit their interface; some clients answer at once.
      '@typescript-eslint/require-await': 'off',
    },
  },
);

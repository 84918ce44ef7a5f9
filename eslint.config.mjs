// @ts-check
// Lint: typescript-eslint's strict type-checked rules, plus the arrows between
// the rooms of the code (docs/architecture.md). A wrong import is an error, so
// `npm test` (which runs `npm run lint`) fails on it.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** A package or a path pattern no file of a room may import, and why. */
const vscode = { name: 'vscode', message: 'Only extension/vscode/ talks to VS Code; the engine runs headless from the CLI too.' };
// @bufbuild/cel is allowed: it only parses and evaluates expressions (the router's `when`), no I/O.
const packagesOutsideCore = {
  regex: '^(?!\\.|zod$|yaml$|picomatch$|@bufbuild/cel$)',
  message: 'The core is pure: it imports only the core, zod, yaml, picomatch and @bufbuild/cel (no fs, child_process, network or vscode).',
};
const upFromCore = (depth) => ({
  regex: `^(\\.\\./){${depth}}`,
  message: 'The core imports only the core: the shell depends on it, never the other way.',
});
const store = {
  regex: '(^|/)store/',
  message: 'Forges and workers return facts; the controller records them through the Store port (ports.ts).',
};
const workers = { regex: '(^|/)workers/', message: 'Forges and workers never import each other: the controller wires them.' };
const forges = { regex: '(^|/)forge/', message: 'Forges and workers never import each other: the controller wires them.' };
const otherForge = (other) => ({
  regex: `^\\.\\./${other}/`,
  message: 'One forge never imports another: shared rules live in core/, shared plumbing in process/ or git/.',
});
const controller = { regex: '(^|/)controller/', message: 'Adapters are driven by the controller, never the reverse.' };
const notProtocol = {
  regex: '(^|/)extension/(?!protocol/)',
  message: 'Webviews see the extension only through extension/protocol/ (the messages and the view model).',
};
const bench = { regex: '(^|/)bench/', message: 'Tests and benchmarks share fixtures through fixtures/, not each other.' };
const test = { regex: '(^|/)test/', message: 'Tests and benchmarks share fixtures through fixtures/, not each other.' };
const fixtureOf = (user) => ({ regex: user.regex, message: 'Fixtures serve tests and benchmarks; they import neither.' });

/** One room: its files, the packages it may not import, the patterns it may not import. */
function room(files, paths, patterns) {
  return { files, rules: { 'no-restricted-imports': ['error', { paths, patterns }] } };
}

export default tseslint.config(
  { ignores: ['dist/**', 'dist-test/**', 'node_modules/**', '.vscode-test/**', '**/*.js', '**/*.cjs', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Numbers and booleans read fine in a message; objects and undefined do not.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // Destructuring a key out to drop it (`const { key: _dropped, ...rest } = value`) is how a copy without it is written.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // Strings are split by code point on purpose (middleEllipsis counts code points, the fake server hashes them); spreads of promises, functions and class instances stay errors.
      '@typescript-eslint/no-misused-spread': ['error', { allow: [{ from: 'lib', name: 'string' }] }],
    },
  },
  {
    // The arrows are checked on import declarations: an `import()` expression or an
    // `import('…')` type would walk past them, so the product's code has neither.
    files: ['extension/**/*.ts', 'webview/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'ImportExpression', message: "Import statically (an import declaration), so the rooms' arrows are checked." },
        { selector: 'TSImportType', message: "Import the type with `import type`, so the rooms' arrows are checked." },
      ],
    },
  },
  {
    // The core stays readable in one sitting: small files, functions that fit on a screen.
    files: ['extension/core/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 400, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 50, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    files: ['**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly' },
    },
  },
  // The rooms. Each file falls in exactly one block below (the last match wins in a flat config).
  room(['**/*.ts', '**/*.mjs'], [vscode], []),
  room(['extension/core/*.ts'], [vscode], [packagesOutsideCore, upFromCore(1)]),
  room(['extension/core/*/**/*.ts'], [vscode], [packagesOutsideCore, upFromCore(2)]),
  room(['extension/forge/github/**/*.ts'], [vscode], [store, workers, controller, otherForge('local')]),
  room(['extension/forge/local/**/*.ts'], [vscode], [store, workers, controller, otherForge('github')]),
  room(['extension/workers/**/*.ts'], [vscode], [store, forges, controller]),
  // Plumbing both forges and workers use: it knows neither of them, nor the store or the controller.
  room(
    ['extension/github/**/*.ts', 'extension/process/**/*.ts', 'extension/git/**/*.ts', 'extension/reports/**/*.ts'],
    [vscode],
    [store, forges, workers, controller],
  ),
  room(['extension/vscode/**/*.ts', 'test/vscode/**/*.ts', 'bench/vscode/**/*.ts'], [], []),
  room(['webview/**/*.ts'], [vscode], [notProtocol]),
  room(['bench/*.ts', 'bench/sim/**/*.ts'], [vscode], [test]),
  room(['test/unit/**/*.ts', 'test/integration/**/*.ts', 'test/e2e/**/*.ts', 'test/support/**/*.ts'], [vscode], [bench]),
  room(['fixtures/**/*.ts'], [vscode], [fixtureOf(test), fixtureOf(bench)]),
);

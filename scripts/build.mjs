// The one build script: every bundle Build Master ships comes from here —
// the CLI, the extension host bundle, the policy language server, and one
// browser bundle per webview (plus the codicons they load).
import * as esbuild from 'esbuild';
import { chmodSync, cpSync, mkdirSync, readdirSync } from 'node:fs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  external: ['vscode'],
};

const browser = {
  bundle: true,
  platform: 'browser',
  target: 'chrome120',
  format: 'iife',
  sourcemap: !production,
  minify: true,
  logLevel: 'warning',
  tsconfig: 'webview/tsconfig.json',
};

/** @type {esbuild.BuildOptions[]} */
const bundles = [
  { ...node, entryPoints: ['extension/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  { ...node, entryPoints: ['extension/vscode/extension.ts'], outfile: 'dist/extension.js' },
  { ...node, entryPoints: ['extension/server/main.ts'], outfile: 'dist/server.js' },
  // The GitHub Action (action.yml): one cycle per workflow run, state on the buildmaster/state branch.
  { ...node, entryPoints: ['extension/action/main.ts'], outfile: 'dist/action.js' },
  { ...browser, entryPoints: ['webview/dashboard/main.ts'], outfile: 'dist/webview/dashboard.js' },
  { ...browser, entryPoints: ['webview/review/main.ts'], outfile: 'dist/webview/review.js' },
  { ...browser, entryPoints: ['webview/run/main.ts'], outfile: 'dist/webview/run.js' },
];

// The vscode test tier: the in-host mocha runner and one bundle per suite.
// Not shipped (.vscodeignore); mocha is resolved from node_modules at run time.
const suites = readdirSync('test/vscode').filter((f) => f.endsWith('.test.ts'));
bundles.push(
  ...['index.ts', ...suites].map((file) => ({
    ...node,
    entryPoints: [`test/vscode/${file}`],
    outfile: `dist-test/vscode/${file.replace(/\.ts$/, '.js')}`,
    external: ['vscode', 'mocha'],
  })),
);

// The cockpit benchmark's in-host part (bench/vscode.bench.ts).
bundles.push({ ...node, entryPoints: ['bench/vscode/inHost.ts'], outfile: 'dist-test/bench/inHost.js' });

mkdirSync('dist/media/codicons', { recursive: true });
for (const file of ['codicon.css', 'codicon.ttf']) cpSync(`node_modules/@vscode/codicons/dist/${file}`, `dist/media/codicons/${file}`);

if (watch) {
  for (const options of bundles) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(bundles.map((options) => esbuild.build(options)));
  chmodSync('dist/cli.js', 0o755);
}

// @vscode/test-cli configuration (`npx vscode-test`) for contributors whose
// machines can download VS Code. It runs the same bundled suites as
// `npm run test:vscode` (code-server); build first with `npm run build`, and
// point BUILDMASTER_TEST_WORKSPACE at a fresh demo repository (npm run
// test:vscode:electron creates one itself and is the simpler way).
import { defineConfig } from '@vscode/test-cli';

export default defineConfig({
  files: 'dist-test/vscode/*.test.js',
  workspaceFolder: process.env.BUILDMASTER_TEST_WORKSPACE ?? '/tmp/shop',
  launchArgs: ['--disable-workspace-trust', '--disable-extensions'],
  mocha: { timeout: 120000 },
});

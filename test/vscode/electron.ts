// npm run test:vscode:electron — the same in-host suites under @vscode/test-electron,
// for machines that can download VS Code (this one cannot: use npm run test:vscode).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runTests } from '@vscode/test-electron';
import { createDemoRepository } from '../../extension/cli/demo';

async function main(): Promise<void> {
  const root = resolve(__dirname, '..', '..');
  const workspace = join(mkdtempSync(join(tmpdir(), 'bm-electron-')), 'shop');
  await createDemoRepository(workspace, { withApproval: true });
  await runTests({
    extensionDevelopmentPath: root,
    extensionTestsPath: join(root, 'dist-test', 'vscode', 'index.js'),
    launchArgs: [workspace, '--disable-workspace-trust', '--disable-extensions'],
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`test:vscode:electron: ${(error as Error).message}\n`);
  process.exit(1);
});

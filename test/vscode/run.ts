// npm run test:vscode — the vscode tier (TESTING.md step 5): creates the demo
// repository, starts code-server on 127.0.0.1, opens it in headless Chromium
// with this extension in development mode and the bundled suites as its tests,
// and exits with their result.
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDemoRepository } from '../../extension/cli/demo';
import { ROOT, launchBrowser, openWorkbench, startCodeServer, testUrl } from '../support/codeServer';

async function main(): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'bm-vscode-'));
  const workspace = join(work, 'shop');
  await createDemoRepository(workspace, { withApproval: true });
  const report = join(work, 'report.json');
  process.env.BUILDMASTER_TEST_REPORT = report;
  const server = await startCodeServer({ workspace });
  const browser = await launchBrowser();
  const started = Date.now();
  try {
    const page = await browser.newPage();
    const lines: string[] = [];
    page.on('console', (message) => {
      const text = message.text();
      if (/^\[Extension Host\]/.test(text) || process.env.BUILDMASTER_TEST_VERBOSE) lines.push(text);
    });
    const exit = new Promise<number>((resolve) => void page.exposeFunction('codeAutomationExit', (code: number) => resolve(code)));
    await openWorkbench(page, testUrl(server, workspace, ROOT, join(ROOT, 'dist-test', 'vscode', 'index.js')));
    const timeout = new Promise<number>((resolve) => setTimeout(() => resolve(-1), 10 * 60_000));
    const code = await Promise.race([exit, timeout]);
    if (existsSync(report)) {
      const { results } = JSON.parse(readFileSync(report, 'utf8')) as { results: { title: string; state: string; error?: string; ms?: number }[] };
      for (const r of results) process.stdout.write(`${r.state === 'passed' ? '  ✔' : '  ✖'} ${r.title}${r.ms && r.ms > 75 ? ` (${r.ms}ms)` : ''}\n${r.error ? `${r.error.split('\n').slice(0, 8).map((l) => `      ${l}`).join('\n')}\n` : ''}`);
      const passed = results.filter((r) => r.state === 'passed').length;
      process.stdout.write(`\n  vscode tier: ${passed} passing, ${results.length - passed} failing (${((Date.now() - started) / 1000).toFixed(1)} s in code-server)\n`);
    } else {
      process.stdout.write(`no test report was written (exit ${code}); extension host console:\n${lines.join('\n')}\n--- code-server output ---\n${server.output()}\n`);
    }
    if (code === -1) process.stdout.write('timed out after 10 minutes\n');
    return code === 0 ? 0 : 1;
  } finally {
    await browser.close();
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`test:vscode: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);

// Runs inside the VS Code extension host (code-server or @vscode/test-electron):
// loads the bundled suites next to this file and runs them with mocha. The
// results also go to BUILDMASTER_TEST_REPORT (JSON) so the runner outside the
// editor can print them whatever happens to the console.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Mocha from 'mocha';

export async function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', timeout: 60_000, color: false, reporter: 'spec' });
  for (const file of readdirSync(__dirname)
    .filter((f) => f.endsWith('.test.js'))
    .sort())
    mocha.addFile(join(__dirname, file));
  const grep = process.env.BUILDMASTER_TEST_GREP;
  if (grep) mocha.grep(grep);
  if (grep && process.env.BUILDMASTER_TEST_INVERT) mocha.invert();
  const results: { title: string; state: string; error?: string; ms?: number }[] = [];
  await new Promise<void>((resolve, reject) => {
    const runner = mocha.run((failures) => {
      const report = process.env.BUILDMASTER_TEST_REPORT;
      if (report) writeFileSync(report, JSON.stringify({ failures, results }, null, 2));
      if (failures > 0) reject(new Error(`${failures} test(s) failed`));
      else resolve();
    });
    runner.on('pass', (test) => results.push({ title: test.fullTitle(), state: 'passed', ms: test.duration ?? 0 }));
    runner.on('fail', (test, error: Error) =>
      results.push({ title: test.fullTitle(), state: 'failed', error: `${error.message}\n${error.stack ?? ''}` }),
    );
  });
}

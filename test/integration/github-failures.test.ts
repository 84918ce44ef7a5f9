// GitHub mode reads a failed check down to its failing tests: annotations
// (path, line, message), else the check run's output text; and it sees every
// run of a check on a commit (`filter=all`), so a failed-then-passed re-run is
// a flaky signal and not a green check.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CheckRun } from '../../extension/core/model';
import { GitHubForge } from '../../extension/forge/github/forge';
import type { CiAnnotation } from '../../fixtures/github/server';
import { GitHubWorld } from '../../fixtures/github/world';

/**
 * Real output of mocha (spec reporter, --full-trace: absolute paths) for a test file with one failing test,
 * run in a folder named as a GitHub-hosted runner's workspace is
 * (`/home/runner/work/<repo>/<repo>`): its stack names files by that path.
 */
function mochaOutput(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bm-mocha-'));
  try {
    mkdirSync(join(dir, 'web'));
    writeFileSync(
      join(dir, 'web', 'nav.spec.js'),
      "const assert = require('node:assert');\ndescribe('nav', () => {\n  it('has a home link', () => assert.equal(1, 1));\n  it('lists three links', () => {\n    assert.equal(2, 3);\n  });\n});\n",
    );
    try {
      execFileSync(process.execPath, [require.resolve('mocha/bin/mocha.js'), '--no-config', '--full-trace', 'web/nav.spec.js'], {
        cwd: dir,
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (error) {
      return (error as { stdout: string }).stdout.split(`${dir}/`).join('/home/runner/work/app/app/');
    }
    throw new Error('the failing test passed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('GitHub mode: failures at test level and re-runs', function () {
  this.timeout(120_000);
  let world: GitHubWorld;

  afterEach(async () => {
    assert.deepEqual(world.server.violations, [], 'every response conforms to GitHub’s OpenAPI description');
    await world.stop();
  });

  const forge = () => {
    const { forge } = world.session.deps;
    if (!(forge instanceof GitHubForge)) throw new Error('the GitHub world runs the GitHub forge');
    return forge;
  };
  const checkOf = (runs: CheckRun[], name: string) => {
    const run = runs.find((r) => r.name === name);
    assert.ok(run, `no check ${name} in ${runs.map((r) => r.name).join(', ')}`);
    return run;
  };
  const changeChecks = (report: Awaited<ReturnType<GitHubWorld['cycle']>>, number: number) =>
    report.snapshotChanges.find((c) => c.id === `#${number}`)?.checks ?? [];

  it('a check that failed and then passed on a re-run of the same commit is flaky, and the target is not red', async () => {
    world = await GitHubWorld.start();
    const sha = world.server.push('main', { 'web/page.js': 'export const page = 2;\n' }, 'web: page two');
    world.server.setChecks(sha, [
      { name: 'test-web', conclusion: 'failure', output: 'FAIL web/spec.test.js\n  expected 200, got 500' },
      { name: 'test-api', conclusion: 'success' },
      { name: 'lint', conclusion: 'success', type: 'status' },
    ]);
    world.server.addCheckRun(sha, { name: 'test-web', conclusion: 'success' });

    const report = await world.cycle();
    const web = checkOf(await forge().checksOf(sha), 'test-web');
    assert.equal(web.conclusion, 'success', 'the newest run wins');
    assert.equal(web.passedOnRerun, true, 'the failed run before it is seen (filter=all)');
    assert.deepEqual(Object.values(world.state()?.incidents ?? {}), [], 'a flaky check opens no incident');
    assert.equal(world.state()?.lanes.web?.state, 'healthy');
    assert.ok(!report.result.decisions.some((d) => d.kind === 'open-incident'));
    assert.deepEqual(
      Object.values(world.state()?.flakes ?? {}).map((f) => [f.check, f.test]),
      [['test-web', undefined]],
      'the flaky check is counted',
    );
  });

  it('a re-run that failed again is red, with the newest run’s failures', async () => {
    world = await GitHubWorld.start();
    const sha = world.server.push('main', { 'web/page.js': 'export const page = 2;\n' }, 'web: page two');
    world.server.setChecks(sha, [
      {
        name: 'test-web',
        conclusion: 'failure',
        annotations: [{ path: 'web/old.test.js', line: 3, title: 'old failure', message: 'expected 1, got 2' }],
      },
      { name: 'test-api', conclusion: 'success' },
    ]);
    world.server.addCheckRun(sha, {
      name: 'test-web',
      conclusion: 'failure',
      annotations: [{ path: 'web/page.test.js', line: 9, title: 'page renders', message: 'expected 200, got 500' }],
    });

    const web = checkOf(await forge().checksOf(sha), 'test-web');
    assert.equal(web.conclusion, 'failure');
    assert.notEqual(web.passedOnRerun, true);
    assert.deepEqual(
      web.failures?.map((f) => f.id),
      ['web/page.test.js > page renders'],
    );
  });

  it('reads a failed check run’s failure annotations as failures with path and line, and only for failed runs', async () => {
    world = await GitHubWorld.start();
    const annotations: CiAnnotation[] = [
      { path: '.github', line: 1, level: 'failure', message: 'Process completed with exit code 1.' },
      {
        path: 'web/app.test.js',
        line: 12,
        level: 'failure',
        title: 'app > header renders',
        message: 'AssertionError: expected "Home" to equal "Start"\n    at web/app.test.js:12:5',
      },
      { path: './web/nav.test.js', line: 4, level: 'failure', title: 'nav > links', message: 'expected 3 links, got 2' },
      { path: 'web/style.css', line: 2, level: 'warning', title: 'stylelint', message: 'unexpected unit' },
    ];
    const number = world.pull('agent/web-red', { 'web/app.js': 'export const title = "Home";\n' });
    const head = world.server.pullHead(number);
    world.server.setChecks(head, [
      { name: 'test-web', conclusion: 'failure', output: 'FAIL', annotations },
      {
        name: 'test-api',
        conclusion: 'success',
        annotations: [{ path: 'api/server.js', line: 1, level: 'warning', message: 'deprecated call' }],
      },
    ]);
    const from = world.server.requests.length;

    const report = await world.cycle();
    const web = checkOf(changeChecks(report, number), 'test-web');
    assert.deepEqual(web.failures, [
      {
        id: 'web/app.test.js > app > header renders',
        file: 'web/app.test.js',
        line: 12,
        message: 'AssertionError: expected "Home" to equal "Start"\n    at web/app.test.js:12:5',
      },
      { id: 'web/nav.test.js > nav > links', file: 'web/nav.test.js', line: 4, message: 'expected 3 links, got 2' },
    ]);
    assert.equal(web.failuresComplete, true);
    assert.match(web.failuresNote ?? '', /failure annotations/);
    assert.equal(checkOf(changeChecks(report, number), 'test-api').failures, undefined, 'a passing check has no failures');
    const read = world.server.requests.slice(from).filter((r) => /\/annotations/.test(r.path));
    assert.equal(read.length, 1, `annotations are read for the failed run only: ${read.map((r) => r.path).join(', ')}`);
  });

  it('an incident on the target holds the annotated failing tests, mapped to the lane of their files', async () => {
    world = await GitHubWorld.start();
    const sha = world.server.push('main', { 'api/handler.js': 'export const handler = 2;\n' }, 'api: handler');
    world.server.setChecks(sha, [
      { name: 'test-web', conclusion: 'success' },
      {
        name: 'test-api',
        conclusion: 'failure',
        output: 'FAIL',
        annotations: [{ path: 'api/handler.test.js', line: 7, title: 'handler > answers 200', message: 'expected 200, got 500' }],
      },
    ]);
    await world.cycle();
    const incidents = Object.values(world.state()?.incidents ?? {});
    assert.equal(incidents.length, 1, JSON.stringify(incidents));
    assert.deepEqual(
      incidents[0]?.failures?.map((f) => [f.check, f.test, f.file, f.line, f.lane]),
      [['test-api', 'api/handler.test.js > handler > answers 200', 'api/handler.test.js', 7, 'api']],
    );
  });

  it('reads warning annotations when a failed run has no failure annotation', async () => {
    world = await GitHubWorld.start();
    const number = world.pull('agent/web-lint', { 'web/app.js': 'export const title = "Home";\n' });
    const head = world.server.pullHead(number);
    world.server.setChecks(head, [
      {
        name: 'test-web',
        conclusion: 'failure',
        annotations: [
          { path: 'web/app.js', line: 1, level: 'warning', title: 'no-var', message: 'Unexpected var' },
          { path: 'web/app.js', line: 1, level: 'notice', message: 'fyi' },
        ],
      },
      { name: 'test-api', conclusion: 'success' },
    ]);
    const web = checkOf(changeChecks(await world.cycle(), number), 'test-web');
    assert.deepEqual(web.failures, [{ id: 'web/app.js > no-var', file: 'web/app.js', line: 1, message: 'Unexpected var' }]);
    assert.match(web.failuresNote ?? '', /warning annotations/);
  });

  it('parses the check run’s output text when it has no annotations', async () => {
    world = await GitHubWorld.start();
    const number = world.pull('agent/web-text', { 'web/app.js': 'export const title = "Home";\n' });
    const head = world.server.pullHead(number);
    const output = mochaOutput();
    assert.match(output, /\(\/home\/runner\/work\/app\/app\/web\/nav\.spec\.js:5:\d+\)/, 'the stack names the runner’s path');
    world.server.setChecks(head, [
      { name: 'test-web', conclusion: 'failure', output },
      { name: 'test-api', conclusion: 'failure', output: 'Error: the runner lost its network' },
    ]);
    const checks = changeChecks(await world.cycle(), number);
    const web = checkOf(checks, 'test-web');
    assert.deepEqual(
      web.failures?.map((f) => [f.id, f.file, f.line]),
      [['web/nav.spec.js > nav > lists three links', 'web/nav.spec.js', 5]],
      'files relative to the repository, not the runner',
    );
    assert.equal(web.failuresComplete, true);
    assert.match(web.failuresNote ?? '', /output text \(it has no annotations\) by the mocha parser/);
    const api = checkOf(checks, 'test-api');
    assert.equal(api.failures, undefined, 'nothing recognised: the check stands as a whole');
    assert.equal(api.failuresComplete, false);
    assert.match(api.failuresNote ?? '', /attributed as a whole/);
  });

  it('says the failures are incomplete when GitHub holds more annotations than are read, and reads a bounded number', async () => {
    world = await GitHubWorld.start();
    const many: CiAnnotation[] = Array.from({ length: 640 }, (_, i) => ({
      path: `web/t${i}.test.js`,
      line: i + 1,
      level: 'failure',
      title: `case ${i}`,
      message: 'failed',
    }));
    const number = world.pull('agent/web-many', { 'web/app.js': 'export const title = "Home";\n' });
    const head = world.server.pullHead(number);
    world.server.setChecks(head, [
      { name: 'test-web', conclusion: 'failure', annotations: many },
      { name: 'test-api', conclusion: 'success' },
    ]);
    const from = world.server.requests.length;
    const web = checkOf(changeChecks(await world.cycle(), number), 'test-web');
    assert.equal(web.failures?.length, 500);
    assert.equal(web.failuresComplete, false);
    assert.match(web.failuresNote ?? '', /GitHub holds 640, 500 were read/);
    assert.equal(world.server.requests.slice(from).filter((r) => /\/annotations/.test(r.path)).length, 5, 'five pages of 100, not seven');
  });
});

// Local mode reads a failed check down to its failing tests, with real runners
// in real repositories and the built CLI: a JUnit report the check writes
// (node's own junit reporter), the plain output of tsc and mocha, a report path
// that leads out of the checkout (refused), output longer than the tail kept,
// and `local.rerun_failed` telling flaky checks and flaky tests apart.
// `explain` does not show check failures yet: they are read from the check
// results Build Master records in its store (.git/buildmaster/state.json).
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CheckRun } from '../../extension/core/model';
import { runCli, type CliResult } from '../support/cli';
import { Sandbox } from '../support/sandbox';

const NODE = JSON.stringify(process.execPath);
const TSC = JSON.stringify(require.resolve('typescript/bin/tsc'));
const MOCHA = JSON.stringify(require.resolve('mocha/bin/mocha.js'));
/** node's test runner writing a real JUnit report, and its spec output on stdout. */
const NODE_TEST_JUNIT = `mkdir -p reports && ${NODE} --test --test-reporter=junit --test-reporter-destination=reports/junit.xml --test-reporter=spec --test-reporter-destination=stdout web/`;

function policy(checks: string, extra = ''): string {
  return `target: main
lanes:
  - name: web
    paths: ["web/**"]
    checks: ["test-web"]
  - name: api
    paths: ["api/**"]
local:
  checks:
${checks}
  check_timeout: 2m
${extra}`;
}

/** A check as a policy entry (quoted with JSON, which YAML reads as a double-quoted string). */
function check(name: string, run: string, junit?: string): string {
  return `    - name: ${name}\n      run: ${JSON.stringify(run)}\n${junit === undefined ? '' : `      junit: ${JSON.stringify(junit)}\n`}`;
}

const WEB_TEST = `const test = require('node:test');
const assert = require('node:assert');

test('header renders', () => {
  assert.equal('Home', 'Start');
});
test('footer renders', () => {
  assert.equal(1, 1);
});
`;

async function sync(sb: Sandbox, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const result = await runCli(['sync', '--repo', sb.dir, '--json'], { env, timeoutMs: 170_000 });
  assert.ok(result.stdout.trim().startsWith('{'), `sync printed no JSON (exit ${result.code}): ${result.stderr}`);
  return result;
}

/** The check runs Build Master recorded for a target commit (the store keeps them as the user's `status` and incidents read them). */
function recorded(sb: Sandbox, sha: string): CheckRun[] {
  const state = JSON.parse(readFileSync(join(sb.stateDir, 'state.json'), 'utf8')) as { checks: Record<string, { runs: CheckRun[] }> };
  const runs = state.checks[`commit:${sha}`]?.runs;
  assert.ok(runs, `no check results recorded for ${sha}: ${Object.keys(state.checks).join(', ')}`);
  return runs;
}

function run(runs: CheckRun[], name: string): CheckRun {
  const found = runs.find((r) => r.name === name);
  assert.ok(found, `no run of ${name}`);
  return found;
}

describe('local mode: failures at test level', function () {
  this.timeout(300_000);
  let sb: Sandbox | undefined;
  let outside: string | undefined;
  afterEach(() => {
    sb?.remove();
    if (outside) rmSync(outside, { recursive: true, force: true });
    outside = undefined;
  });

  it('reads the JUnit report the check writes, and runs the check again when `junit` is added to it', async () => {
    sb = new Sandbox({
      '.buildmaster.yml': policy(check('test-web', NODE_TEST_JUNIT)),
      'web/app.test.js': WEB_TEST,
      'api/server.js': 'x\n',
    });
    const head = sb.head();
    await sync(sb);
    const fromOutput = run(recorded(sb, head), 'test-web');
    assert.equal(fromOutput.conclusion, 'failure');
    assert.deepEqual(
      fromOutput.failures?.map((f) => [f.id, f.file, f.line]),
      [['web/app.test.js > header renders', 'web/app.test.js', 4]],
    );
    assert.match(fromOutput.failuresNote ?? '', /read from the output by the node-test parser/);

    // The same commit, the check now naming its report: a new definition, run again.
    sb.write({ '.buildmaster.yml': policy(check('test-web', NODE_TEST_JUNIT, 'reports/junit.xml')) });
    await sync(sb);
    const fromReport = run(recorded(sb, head), 'test-web');
    assert.equal(fromReport.conclusion, 'failure');
    // The report's stack names the failing assertion's line; the spec output, the test's.
    assert.deepEqual(
      fromReport.failures?.map((f) => [f.id, f.file, f.line]),
      [['web/app.test.js > header renders', 'web/app.test.js', 5]],
    );
    assert.equal(fromReport.failuresComplete, true);
    assert.equal(fromReport.failuresNote, 'read from the JUnit report reports/junit.xml by the junit parser');
    assert.match(fromReport.failures[0]?.message ?? '', /Home/);

    // Read back by a new process, the recorded failures are the same.
    await sync(sb);
    assert.deepEqual(run(recorded(sb, head), 'test-web').failures, fromReport.failures);
  });

  it('reads the plain output of real tsc and mocha, with paths relative to the repository', async () => {
    sb = new Sandbox({
      '.buildmaster.yml': policy(
        check('test-web', `${NODE} ${TSC} --noEmit --pretty false web/types.ts`) +
          check('mocha-web', `${NODE} ${MOCHA} --no-config web/nav.spec.js`) +
          // A report cut short (a runner killed mid-write): the output is read instead, and the note says why.
          check(
            'mocha-cut-report',
            `mkdir -p reports && printf '<testsuites><testsuite name="nav" failures="1"><testcase name="x"' > reports/cut.xml; ${NODE} ${MOCHA} --no-config web/nav.spec.js`,
            'reports/cut.xml',
          ),
      ),
      'web/types.ts': 'export const count: number = "one";\n',
      'web/nav.spec.js':
        "const assert = require('node:assert');\ndescribe('nav', () => {\n  it('lists three links', () => {\n    assert.equal(2, 3);\n  });\n});\n",
      'api/server.js': 'x\n',
    });
    const head = sb.head();
    await sync(sb);
    const runs = recorded(sb, head);
    const tsc = run(runs, 'test-web');
    assert.deepEqual(
      tsc.failures?.map((f) => [f.file, f.line]),
      [['web/types.ts', 1]],
    );
    assert.match(tsc.failures[0]?.id ?? '', /^tsc web\/types\.ts: TS2322/);
    assert.match(tsc.failuresNote ?? '', /by the tsc parser/);
    const mocha = run(runs, 'mocha-web');
    assert.deepEqual(
      mocha.failures?.map((f) => [f.id, f.file, f.line]),
      [['web/nav.spec.js > nav > lists three links', 'web/nav.spec.js', 4]],
    );
    assert.equal(mocha.failuresComplete, true);
    const cut = run(runs, 'mocha-cut-report');
    assert.deepEqual(cut.failures, mocha.failures);
    assert.match(
      cut.failuresNote ?? '',
      /^read from the output \(reports\/cut\.xml: the JUnit report is not valid XML \(.*\)\) by the mocha parser$/,
    );
  });

  it('never reads a report outside the checkout (.., absolute, symbolic links), nor deletes one there, and the check still fails', async () => {
    outside = mkdtempSync(join(tmpdir(), 'bm-outside-'));
    const planted = join(outside, 'planted.xml');
    const plantedXml =
      '<testsuites><testsuite name="s" failures="1"><testcase name="planted" classname="x" file="api/planted.test.js"><failure message="planted"/></testcase></testsuite></testsuites>';
    writeFileSync(planted, plantedXml);
    sb = new Sandbox({
      '.buildmaster.yml': policy(
        check('test-web', 'exit 1', '../planted.xml') +
          check('absolute', 'exit 1', planted) +
          check('file-link', `mkdir -p reports && ln -sf ${JSON.stringify(planted)} reports/junit.xml; exit 1`, 'reports/junit.xml') +
          check('dir-link', 'exit 1', 'out/planted.xml') +
          check('stale', 'echo "1 failing"; exit 1', 'reports/stale.xml'),
      ),
      'api/server.js': 'x\n',
      // A report committed in the repository is not this run's: the check wrote none.
      'reports/stale.xml': plantedXml,
    });
    // A link to the outside committed in the repository: the stale report "out/planted.xml" is not deleted through it.
    symlinkSync(outside, join(sb.dir, 'out'));
    const head = sb.commitAll('a link out');
    await sync(sb);
    const runs = recorded(sb, head);
    const expected: [string, RegExp][] = [
      ['test-web', /"\.\.\/planted\.xml" leads out of the checkout with "\.\." and is not read \(a check is untrusted code/],
      ['absolute', /is absolute and not read \(a check is untrusted code/],
      ['file-link', /reports\/junit\.xml resolves to .*planted\.xml, outside the checkout, through a symbolic link, and is not read/],
      ['dir-link', /out\/planted\.xml resolves to .*planted\.xml, outside the checkout, through a symbolic link, and is not read/],
    ];
    for (const [name, note] of expected) {
      const refused = run(runs, name);
      assert.equal(refused.conclusion, 'failure', `${name} still fails as a check`);
      assert.equal(refused.failures, undefined, `${name}: nothing is read from the planted report`);
      assert.equal(refused.failuresComplete, false, `${name}: attributed as a whole`);
      assert.match(refused.failuresNote ?? '', note, name);
    }
    assert.equal(readFileSync(planted, 'utf8'), plantedXml, 'the file outside the checkout is neither deleted nor changed');
    const stale = run(runs, 'stale');
    assert.equal(stale.failures, undefined, 'an old report is never read for a new run');
    assert.match(stale.failuresNote ?? '', /read from the output \(the check wrote no JUnit report at reports\/stale\.xml\)/);
  });

  it('says the failures are incomplete when the output was longer than the tail kept', async () => {
    sb = new Sandbox({
      '.buildmaster.yml': policy(
        check('test-web', `${NODE} -e "console.log('noise '.repeat(1500))"; ${NODE} --test --test-reporter=spec web/`),
      ),
      'web/app.test.js': WEB_TEST,
      'api/server.js': 'x\n',
    });
    const head = sb.head();
    await sync(sb);
    const web = run(recorded(sb, head), 'test-web');
    assert.deepEqual(
      web.failures?.map((f) => f.id),
      ['web/app.test.js > header renders'],
      'the tail is still read',
    );
    assert.equal(web.failuresComplete, false);
    assert.match(web.failuresNote ?? '', /the output was longer than the 4000 characters kept, and only its end was read/);
  });

  it('keeps a bounded number of failures of a bounded size from a report of thousands, and says the list is incomplete', async () => {
    const gen = `const fs = require('node:fs');
const cases = Array.from({ length: 2000 }, (_, i) => '<testcase classname="web" name="case ' + i + (i === 0 ? ' ' + 'x'.repeat(5000) : '') + '" file="web/many.test.js"><failure message="' + 'm'.repeat(i === 0 ? 5000 : 3) + '"/></testcase>');
fs.mkdirSync('reports', { recursive: true });
fs.writeFileSync('reports/many.xml', '<testsuites><testsuite name="many" failures="2000">' + cases.join('') + '</testsuite></testsuites>');
process.exit(1);
`;
    sb = new Sandbox({
      '.buildmaster.yml': policy(check('test-web', `${NODE} web/gen.js`, 'reports/many.xml')),
      'web/gen.js': gen,
      'api/server.js': 'x\n',
    });
    const head = sb.head();
    await sync(sb);
    const web = run(recorded(sb, head), 'test-web');
    assert.equal(web.failures?.length, 500);
    assert.equal(web.failuresComplete, false);
    assert.match(web.failuresNote ?? '', /2000 failures, the first 500 are kept/);
    assert.ok((web.failures[0]?.id.length ?? 0) <= 500 && (web.failures[0]?.message?.length ?? 0) <= 1000, 'a huge name or message is cut');
    assert.ok(readFileSync(join(sb.stateDir, 'state.json')).length < 1_000_000, 'the store stays small');
  });

  it('local.rerun_failed: a check that fails once and then passes is flaky: the target is not red, no incident, no lane paused', async () => {
    outside = mkdtempSync(join(tmpdir(), 'bm-flake-'));
    const flaky = 'if [ -f "$FLAKE_DIR/ran" ]; then echo ok; else touch "$FLAKE_DIR/ran"; echo "Error: connection reset"; exit 1; fi';
    sb = new Sandbox({
      '.buildmaster.yml': policy(check('test-web', flaky), '  rerun_failed: true\n  env: [FLAKE_DIR]\n'),
      'api/server.js': 'x\n',
    });
    const head = sb.head();
    const result = await sync(sb, { FLAKE_DIR: outside });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(existsSync(join(outside, 'ran')), 'the check ran');
    const web = run(recorded(sb, head), 'test-web');
    assert.equal(web.conclusion, 'failure');
    assert.equal(web.passedOnRerun, true);
    assert.match(web.failuresNote ?? '', /passed when run again on the same commit \(local\.rerun_failed\): flaky/);
    assert.match(web.output ?? '', /first run \(failed\):\nError: connection reset[\s\S]*run again \(local\.rerun_failed\), passed:\nok/);
    const doc = JSON.parse(result.stdout) as { lanes: { name: string; state: string; incident: unknown }[]; decisions: { kind: string }[] };
    assert.ok(!doc.decisions.some((d) => d.kind === 'open-incident'), JSON.stringify(doc.decisions));
    assert.deepEqual(
      doc.lanes.map((l) => [l.name, l.state, l.incident]).filter(([name]) => name === 'web' || name === 'api'),
      [
        ['web', 'healthy', null],
        ['api', 'healthy', null],
      ],
    );
    assert.ok(
      doc.lanes.every((l) => l.state === 'healthy'),
      JSON.stringify(doc.lanes),
    );
  });

  it('local.rerun_failed: a test that fails once and passes when run again is flaky; the one failing both times is real', async () => {
    outside = mkdtempSync(join(tmpdir(), 'bm-flake-'));
    const tests = `const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');

test('always fails', () => {
  assert.equal('Home', 'Start');
});
test('fails once', () => {
  const marker = path.join(process.env.FLAKE_DIR, 'once');
  if (!fs.existsSync(marker)) {
    fs.writeFileSync(marker, '');
    assert.fail('first time only');
  }
});
`;
    sb = new Sandbox({
      '.buildmaster.yml': policy(check('test-web', NODE_TEST_JUNIT, 'reports/junit.xml'), '  rerun_failed: true\n  env: [FLAKE_DIR]\n'),
      'web/app.test.js': tests,
      'api/server.js': 'x\n',
    });
    const head = sb.head();
    await sync(sb, { FLAKE_DIR: outside });
    const web = run(recorded(sb, head), 'test-web');
    assert.equal(web.conclusion, 'failure');
    assert.notEqual(web.passedOnRerun, true);
    assert.deepEqual(
      web.failures?.map((f) => [f.id, f.file, f.line, f.flaky ?? false]),
      [
        ['web/app.test.js > always fails', 'web/app.test.js', 7, false],
        ['web/app.test.js > fails once', 'web/app.test.js', 13, true],
      ],
    );
    assert.equal(web.failuresComplete, true);
    assert.match(web.failuresNote ?? '', /1 failure\(s\) of the first run passed when run again \(local\.rerun_failed\): flaky/);
    // What the controller made of it: the flaky test is counted, and only the real failure is an incident's.
    const state = JSON.parse(readFileSync(join(sb.stateDir, 'state.json'), 'utf8')) as {
      state: { incidents: Record<string, { failures?: { test?: string }[] }>; flakes?: Record<string, { test?: string }> };
    };
    assert.deepEqual(
      Object.values(state.state.flakes ?? {}).map((f) => f.test),
      ['web/app.test.js > fails once'],
    );
    const held = Object.values(state.state.incidents).flatMap((incident) => (incident.failures ?? []).map((f) => f.test));
    assert.deepEqual(held, ['web/app.test.js > always fails']);
  });

  it('local.rerun_failed: a change whose pre-merge check fails once and then passes merges', async () => {
    outside = mkdtempSync(join(tmpdir(), 'bm-flake-'));
    const flaky =
      'if [ -f web/flaky ] && [ ! -f "$FLAKE_DIR/ran" ]; then touch "$FLAKE_DIR/ran"; echo "Error: connection reset"; exit 1; fi; echo ok';
    sb = new Sandbox({
      '.buildmaster.yml': policy(
        check('test-web', flaky),
        '  rerun_failed: true\n  env: [FLAKE_DIR]\n  branches: ["agent/*"]\nautonomy:\n  merge: A4\n',
      ),
      'web/index.js': 'x\n',
      'api/server.js': 'x\n',
    });
    // A green target on record first.
    await sync(sb, { FLAKE_DIR: outside });
    sb.branch('agent/web-flaky', { 'web/flaky': 'yes\n' });
    const result = await sync(sb, { FLAKE_DIR: outside });
    assert.ok(existsSync(join(outside, 'ran')), 'the pre-merge check failed once');
    const doc = JSON.parse(result.stdout) as { actions: { kind: string; key: string; status: string }[] };
    assert.ok(
      doc.actions.some((a) => a.kind === 'merge' && a.status === 'done' && a.key.includes('agent/web-flaky')),
      JSON.stringify(doc.actions),
    );
    assert.ok(
      sb.log().some((subject) => subject.startsWith('Merge agent/web-flaky into main')),
      sb.log().join('\n'),
    );
  });
});

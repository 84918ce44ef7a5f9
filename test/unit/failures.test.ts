// Failures read from real runners' output: tsc, mocha and node's test runner
// are run here on small fixtures; eslint and pytest output was captured (see
// test/fixtures/failures/README.md).
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { failuresFromOutput, outputTails, type FailureReport } from '../../extension/core/failures';
import { failuresFromJUnit } from '../../extension/reports/junit';

const FIXTURES = join(__dirname, '../fixtures/failures');

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'bm-runner-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** Runs a real runner and returns everything it printed (stdout then stderr). */
function runReal(dir: string, args: string[]): string {
  const result = spawnSync(process.execPath, args, {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: dir, NO_COLOR: '1' },
  });
  return `${result.stdout}${result.stderr}`;
}

const ids = (report: FailureReport) => report.failures.map((f) => f.id).sort();
const files = (report: FailureReport) => [...new Set(report.failures.map((f) => f.file))].sort();

describe('failures from real runner output', function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it('tsc: each error with its file and line, in both output styles', () => {
    const dir = project({ 'web/app.ts': 'export const x: number = "s";\n', 'api/server.ts': 'undefinedCall();\n' });
    dirs.push(dir);
    const tsc = require.resolve('typescript/bin/tsc');
    for (const pretty of ['--pretty', 'false'] as const) {
      const output = runReal(dir, [tsc, '--noEmit', '--pretty', pretty === '--pretty' ? 'true' : 'false', 'web/app.ts', 'api/server.ts']);
      const report = failuresFromOutput(output, { root: dir });
      assert.equal(report.parser, 'tsc', output);
      assert.deepEqual(files(report), ['api/server.ts', 'web/app.ts']);
      assert.ok(report.failures.some((f) => f.file === 'web/app.ts' && f.line === 1 && /TS2322/.test(f.message ?? '')));
      assert.ok(report.complete);
    }
  });

  it('mocha (spec reporter): the title path of each failing test and the file its stack points at', () => {
    const dir = project({
      'web/header.test.js':
        "const assert = require('assert');\ndescribe('header', () => { it('renders', () => assert.equal(1, 2)); it('passes', () => {}); });\n",
      'api/routes.test.js':
        "describe('routes', () => { describe('GET /', () => { it('answers', () => { throw new TypeError('no route'); }); }); });\n",
    });
    dirs.push(dir);
    const output = runReal(dir, [require.resolve('mocha/bin/mocha.js'), '--reporter', 'spec', 'web/header.test.js', 'api/routes.test.js']);
    const report = failuresFromOutput(output, { root: dir });
    assert.equal(report.parser, 'mocha', output);
    assert.deepEqual(ids(report), ['api/routes.test.js > routes > GET / > answers', 'web/header.test.js > header > renders']);
    assert.deepEqual(files(report), ['api/routes.test.js', 'web/header.test.js']);
    assert.ok(report.complete);
  });

  it('node --test (TAP and spec reporters): failing tests, not the suites around them', () => {
    const dir = project({
      'web/a.test.mjs':
        "import test from 'node:test';\nimport assert from 'node:assert';\ntest('adds', () => assert.equal(1 + 1, 3));\ntest('ok', () => {});\ntest.describe('suite', () => { test('inner fails', () => { throw new Error('boom'); }); });\n",
    });
    dirs.push(dir);
    for (const reporter of ['tap', 'spec']) {
      const output = runReal(dir, ['--test', `--test-reporter=${reporter}`, 'web/a.test.mjs']);
      const report = failuresFromOutput(output, { root: dir });
      assert.equal(report.parser, 'node-test', `${reporter}: ${output}`);
      assert.deepEqual(ids(report), ['web/a.test.mjs > adds', 'web/a.test.mjs > inner fails'], reporter);
    }
  });

  it('node --test-reporter=junit: JUnit XML read into the same failures', () => {
    const dir = project({
      'api/b.test.mjs':
        "import test from 'node:test';\nimport assert from 'node:assert';\ntest('status is ok', () => assert.equal('bad', 'ok'));\ntest('fine', () => {});\n",
    });
    dirs.push(dir);
    const xml = spawnSync(process.execPath, ['--test', '--test-reporter=junit', 'api/b.test.mjs'], { cwd: dir, encoding: 'utf8' }).stdout;
    const report = failuresFromJUnit(xml, { root: dir });
    assert.deepEqual(ids(report), ['api/b.test.mjs > status is ok']);
    assert.equal(report.failures[0]?.line, 3);
  });

  it('mocha --reporter xunit: its JUnit-style XML read into the failing tests and their files', () => {
    const dir = project({
      'web/header.test.js':
        "const assert = require('assert');\ndescribe('header', () => { it('renders', () => assert.equal(1, 2)); it('passes', () => {}); });\n",
      'api/routes.test.js': "describe('routes', () => { it('answers', () => { throw new TypeError('no route'); }); });\n",
    });
    dirs.push(dir);
    const out = join(dir, 'reports', 'junit.xml');
    spawnSync(
      process.execPath,
      [
        require.resolve('mocha/bin/mocha.js'),
        '--reporter',
        'xunit',
        '--reporter-option',
        `output=${out}`,
        'web/header.test.js',
        'api/routes.test.js',
      ],
      {
        cwd: dir,
        encoding: 'utf8',
      },
    );
    const report = failuresFromJUnit(readFileSync(out, 'utf8'), { root: dir });
    assert.equal(report.failures.length, 2, JSON.stringify(report));
    assert.ok(report.complete);
    assert.deepEqual(files(report), ['api/routes.test.js', 'web/header.test.js']);
    assert.ok(
      report.failures.some((f) => /renders/.test(f.id) && f.file === 'web/header.test.js' && f.line === 2),
      JSON.stringify(report.failures),
    );
  });

  it('eslint, run for real (stylish): each error with its rule, file and line', () => {
    const dir = project({
      'eslint.config.mjs': "export default [{ files: ['**/*.js'], rules: { eqeqeq: 'error', 'no-unused-vars': 'error' } }];\n",
      'web/app.js': 'const unused = 1;\nexport function f(a) {\n  return a == 1;\n}\n',
      'api/ok.js': 'export const ok = 1;\n',
    });
    dirs.push(dir);
    const output = runReal(dir, [join(dirname(require.resolve('eslint')), '..', 'bin', 'eslint.js'), '--format', 'stylish', '.']);
    const report = failuresFromOutput(output, { root: dir });
    assert.equal(report.parser, 'eslint', output);
    assert.deepEqual(files(report), ['web/app.js']);
    assert.ok(
      report.failures.some((f) => f.line === 3 && /eqeqeq/.test(f.id)),
      JSON.stringify(report.failures),
    );
    assert.ok(report.failures.some((f) => f.line === 1 && /no-unused-vars/.test(f.id)));
    assert.ok(report.complete);
  });

  it('eslint (stylish, captured output): each error with its rule, file and line', () => {
    const report = failuresFromOutput(readFileSync(join(FIXTURES, 'eslint-stylish.txt'), 'utf8'), { root: '/tmp/eslintcap' });
    assert.equal(report.parser, 'eslint');
    assert.equal(report.failures.length, 4);
    assert.deepEqual(files(report), ['web/app.js']);
    assert.ok(report.failures.some((f) => f.line === 3 && /eqeqeq/.test(f.id)));
    assert.ok(report.complete);
  });

  it('pytest: the short summary and the JUnit report name the same tests', () => {
    for (const name of ['pytest-q.txt', 'pytest-rA.txt']) {
      const report = failuresFromOutput(readFileSync(join(FIXTURES, name), 'utf8'));
      assert.equal(report.parser, 'pytest', name);
      assert.deepEqual(ids(report), ['tests/test_api.py::TestX::test_y', 'tests/test_api.py::test_bad'], name);
    }
    const junit = failuresFromJUnit(readFileSync(join(FIXTURES, 'pytest-junit.xml'), 'utf8'));
    assert.deepEqual(files(junit), ['tests/test_api.py']);
    assert.equal(junit.failures.length, 2);
    assert.ok(junit.complete);
  });

  it('truncated output is read as far as it goes and says it is incomplete', () => {
    const dir = project({
      'web/many.test.js': `describe('many', () => {\n${Array.from({ length: 12 }, (_, i) => `  it('case ${i}', () => { throw new Error('e${i}'); });`).join('\n')}\n});\n`,
    });
    dirs.push(dir);
    const output = runReal(dir, [require.resolve('mocha/bin/mocha.js'), '--reporter', 'spec', 'web/many.test.js']);
    const cut = output.slice(0, output.indexOf('7) many'));
    const report = failuresFromOutput(cut, { root: dir });
    assert.equal(report.parser, 'mocha');
    assert.equal(report.complete, false);
    assert.match(report.note ?? '', /12 failing/);
    assert.ok(report.failures.length >= 5 && report.failures.length < 12);
  });

  it('malformed JUnit and unknown output never throw and fall back to the check', () => {
    for (const xml of ['<testsuite><testcase name="x"><failure>', 'not xml at all', '<?xml version="1.0"?><other/>']) {
      const report = failuresFromJUnit(xml);
      assert.equal(report.complete, false, xml);
      assert.match(report.note ?? '', /attributed as a whole/);
    }
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => {
        const report = failuresFromOutput(text);
        assert.ok(Array.isArray(report.failures));
        for (const failure of report.failures) assert.ok(failure.id.length > 0);
      }),
    );
    assert.match(failuresFromOutput('Error: something odd\n').note ?? '', /attributed as a whole/);
  });
});

describe("an incident's output tail", () => {
  it('keeps the last 15 non-blank lines of each failing check, cuts long lines, and leaves out checks without output', () => {
    const lines = Array.from({ length: 40 }, (_, i) => `line ${i}`);
    const long = 'x'.repeat(1000);
    const tails = outputTails([
      { name: 'test-web', conclusion: 'failure', output: `${lines.join('\n\n')}\n${long}\n\n` },
      { name: 'lint', conclusion: 'failure' },
      { name: 'test-api', conclusion: 'failure', output: '   \n' },
    ]);
    assert.equal(tails.length, 1, 'only the check with output');
    const web = tails[0];
    assert.ok(web);
    assert.equal(web.check, 'test-web');
    assert.equal(web.lines.length, 15);
    assert.equal(web.lines[0], 'line 26', 'the end of the output, blank lines skipped');
    const last = web.lines[14] ?? '';
    assert.equal(last.length, 300, 'a long line is cut');
    assert.ok(last.endsWith('…'));
  });

  it('keeps at most five checks, however many failed', () => {
    const runs = Array.from({ length: 9 }, (_, i) => ({ name: `c${i}`, conclusion: 'failure' as const, output: 'boom' }));
    assert.deepEqual(
      outputTails(runs).map((t) => t.check),
      ['c0', 'c1', 'c2', 'c3', 'c4'],
    );
  });
});

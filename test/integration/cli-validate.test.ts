import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli';
import { Sandbox } from '../support/sandbox';

describe('build-master validate (the built CLI)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bm-validate-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('prints file:line:column: message plus a hint for each problem and exits 2', async () => {
    writeFileSync(join(dir, '.buildmaster.yml'), 'merge:\n  method: sqash\nlanes:\n  - name: web\n');
    const result = await runCli(['validate', '--repo', dir], { cwd: dir });
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.match(
      result.stderr,
      /^\.buildmaster\.yml:2:11: merge\.method is "sqash", expected one of merge, squash, rebase\n {4}hint: did you mean "squash"\?$/m,
    );
    assert.match(result.stderr, /^\.buildmaster\.yml:4:5: lane "web" has no "paths"$/m);
    assert.match(result.stderr, /2 problem\(s\)/);
  });

  it('exits 0 for a valid file, and for a repository with no policy (defaults)', async () => {
    writeFileSync(join(dir, 'ok.yml'), 'lanes:\n  - name: web\n    paths: ["web/**"]\n');
    const valid = await runCli(['validate', join(dir, 'ok.yml')], { cwd: dir });
    assert.equal(valid.code, 0);
    assert.match(valid.stdout, /ok\.yml: valid/);
    const none = await runCli(['validate', '--repo', dir], { cwd: dir });
    assert.equal(none.code, 0);
    assert.match(none.stdout, /no policy file .* every key takes its default/);
  });

  it('finds .github/buildmaster.yml when there is no root policy', async () => {
    mkdirSync(join(dir, '.github'));
    writeFileSync(join(dir, '.github', 'buildmaster.yml'), 'target: 5\nbogus: true\n');
    const result = await runCli(['validate', '--repo', dir], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /\.github\/buildmaster\.yml:2:1: unknown key "bogus"/);
  });

  it('--json prints one JSON document with the problems', async () => {
    writeFileSync(join(dir, '.buildmaster.yml'), 'incidents:\n  fix_retries: -1\n');
    const result = await runCli(['validate', '--repo', dir, '--json'], { cwd: dir });
    assert.equal(result.code, 2);
    const doc = JSON.parse(result.stdout) as { valid: boolean; problems: { line: number; column: number; code: string }[] };
    assert.equal(doc.valid, false);
    assert.deepEqual(
      doc.problems.map((p) => [p.line, p.column, p.code]),
      [[2, 16, 'negative-count']],
    );
  });

  it('names a missing file and an unknown command with exit 2', async () => {
    const missing = await runCli(['validate', join(dir, 'nope.yml')], { cwd: dir });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no such policy file/);
    const unknown = await runCli(['frobnicate'], { cwd: dir });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
  });
});

describe('build-master watch refuses an interval that would spin', () => {
  it('exits 2 naming the minimum for --interval 0s, before opening anything', async () => {
    const result = await runCli(['watch', '--interval', '0s', '--repo', tmpdir()]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /--interval 0s is too short: at least 1s/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });
});

describe('build-master names a mistyped option and shows its command’s usage', () => {
  it('suggests the closest option and prints the usage line of the command typed', async () => {
    const typo = await runCli(['sync', '--dryrun']);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /unknown option --dryrun; did you mean --dry-run\?/);
    assert.match(typo.stderr, /usage: build-master sync \[--dry-run\]/);
    assert.doesNotMatch(typo.stderr, /positional argument|'-- "/, 'none of the argument parser’s own wording');
    const value = await runCli(['watch', '--cycles', '-1']);
    assert.equal(value.code, 2);
    assert.match(value.stderr, /--cycles needs a value, and "-1" looks like an option/);
  });
});

describe('build-master validate inside a repository: names that match nothing there', function () {
  this.timeout(60_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('warns, at its place in the file and with the real name as did-you-mean, of a lane glob, a branch pattern and a target that match nothing; exit 0', async () => {
    sb = new Sandbox({
      '.buildmaster.yml':
        'target: mian\nlanes:\n  - name: docs\n    paths: ["doc/**"]\n  - name: web\n    paths: ["web/**"]\nlocal:\n  branches: ["agents/*"]\n',
      'docs/guide.md': '# guide\n',
      'web/app.js': '1\n',
    });
    sb.branch('agent/one', { 'web/two.js': '2\n' });
    const result = await runCli(['validate'], { cwd: sb.dir });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /\.buildmaster\.yml: valid/);
    assert.match(
      result.stderr,
      /^\.buildmaster\.yml:1:9: warning: target branch "mian" does not exist in the repository.*\n {4}hint: did you mean "main"\?$/m,
    );
    assert.match(
      result.stderr,
      /^\.buildmaster\.yml:4:13: warning: the path "doc\/\*\*" of lane docs matches no file in the repository.*\n {4}hint: did you mean "docs\/\*\*"\?$/m,
    );
    assert.match(
      result.stderr,
      /^\.buildmaster\.yml:8:14: warning: local\.branches pattern "agents\/\*" matches no branch in the repository.*\n {4}hint: did you mean "agent\/\*"\?/m,
    );
    assert.doesNotMatch(result.stderr, /web\/\*\*/, 'a glob that matches files is not warned about');
  });

  it('says nothing of the kind when every name matches, nor of defaults the file does not write', async () => {
    sb = new Sandbox({
      '.buildmaster.yml': 'lanes:\n  - name: web\n    paths: ["web/**"]\nlocal:\n  branches: ["agent/*", "buildmaster/fix/*"]\n',
      'web/app.js': '1\n',
    });
    sb.branch('agent/one', { 'web/two.js': '2\n' });
    const result = await runCli(['validate', '--repo', sb.dir]);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /warning/, result.stderr);
  });
});

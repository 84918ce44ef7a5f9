// What a new user reads in their first hour (issue 12): reasons that describe
// the state, tables that show what the cycle left. The built CLI on real git repositories.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli';
import { Sandbox, threeLaneFiles } from '../support/sandbox';

const REPO_ROOT = join(__dirname, '../..');

describe('first hour: reasons describe the state, not a default', function () {
  this.timeout(180_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('a conflicting change says its check was not run because it conflicts, not that it is running', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/clash', { 'web/status': 'clash\n' });
    sb.write({ 'web/status': 'ok\nmoved on main\n' });
    sb.commitAll('main moves web/status');
    for (const run of [['explain', 'agent/clash'], ['sync']]) {
      const result = await runCli([...run, '--repo', sb.dir]);
      assert.equal(result.code, 0, result.stderr);
      assert.doesNotMatch(result.stdout, /still running/, `${run[0]} says a check runs when none does:\n${result.stdout}`);
      // The reason is the table's last column: printed whole, never cut ("has not run: it conf…").
      assert.match(result.stdout, /required check "test-web" has not run: it conflicts with main, and a conflicting change is not tested/);
    }
    const explained = await runCli(['explain', 'agent/clash', '--repo', sb.dir]);
    assert.match(explained.stdout, /required check "test-web" has not run: it conflicts with main/);
    assert.match(explained.stdout, /conflict\s+it conflicts with main/);
    assert.doesNotMatch(explained.stdout, /the next sync runs them/, 'no sync tests a conflicting change');
  });

  it("a paused lane's change, looked at before any sync, says its check has not run yet (and that the next sync runs it)", async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    assert.equal((await runCli(['pause', 'api', '--reason', 'release freeze', '--repo', sb.dir])).code, 0);
    const explained = await runCli(['explain', 'agent/api-1', '--repo', sb.dir]);
    assert.equal(explained.code, 0, explained.stderr);
    assert.doesNotMatch(explained.stdout, /still running/);
    assert.match(explained.stdout, /required check "test-api" has not run on this head yet: the next sync runs it/);
    assert.match(explained.stdout, /lane api was paused by an operator: release freeze/);
  });

  it('after sync --dry-run, explain does not speak of a merge that never happened as awaiting its target checks', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/web-1', { 'web/one.txt': '1\n' });
    sb.branch('agent/web-2', { 'web/two.txt': '2\n' });
    const dry = await runCli(['sync', '--dry-run', '--repo', sb.dir]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(sb.log(), ['initial'], 'the dry run merged nothing');
    const explained = await runCli(['explain', 'agent/web-2', '--repo', sb.dir]);
    assert.equal(explained.code, 0, explained.stderr);
    assert.doesNotMatch(explained.stdout, /is still awaiting its target checks/, explained.stdout);
    assert.match(
      explained.stdout,
      /awaiting-target-checks\s+lane web merges agent\/web-1 first; this change then waits until main's checks pass with that merge/,
    );
  });
});

describe('first hour: explain of a branch that is not a change says why', function () {
  this.timeout(180_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('names the local.branches patterns and how to add it, for a branch outside them; says so for the target and a merged branch', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('feature/login', { 'web/login.js': '1\n' });
    sb.branch('agent/done', { 'web/done.js': '1\n' });
    sb.git('merge', '--quiet', '--no-ff', '-m', 'merge agent/done', 'agent/done');
    const outside = await runCli(['explain', 'feature/login', '--repo', sb.dir]);
    assert.equal(outside.code, 2);
    assert.doesNotMatch(outside.stderr, /there are no open changes/);
    assert.match(
      outside.stderr,
      /branch "feature\/login" is not a change: no local\.branches pattern matches it \("agent\/\*"\); add one that does to local\.branches in the policy, e\.g\. "feature\/\*"/,
    );
    const target = await runCli(['explain', 'main', '--repo', sb.dir]);
    assert.match(target.stderr, /"main" is the target branch/);
    const merged = await runCli(['explain', 'agent/done', '--repo', sb.dir]);
    assert.match(merged.stderr, /branch "agent\/done" has nothing to merge: its head \w+ is already in main/);
    const none = await runCli(['explain', 'no-such-branch', '--repo', sb.dir]);
    assert.match(none.stderr, /no open change "no-such-branch"/);
  });
});

describe('first hour: local mode with no dispatch configured', function () {
  this.timeout(180_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('escalates naming the keys to set, and once they are set the next sync dispatches the fix', async () => {
    const files = threeLaneFiles();
    const withDispatch = files['.buildmaster.yml'];
    const without = withDispatch.replace(/dispatch:\n(?: {2}.*\n)+/, '');
    assert.notEqual(without, withDispatch);
    sb = new Sandbox({ ...files, '.buildmaster.yml': without });
    sb.branch('agent/web-bad', { 'web/status': 'bad\n' });
    sb.git('merge', '--quiet', '--no-ff', '-m', "Merge branch 'agent/web-bad'", 'agent/web-bad');
    const first = await runCli(['sync', '--repo', sb.dir]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(
      first.stdout,
      /escalate .*no github-issue worker is configured here \(set dispatch\.worker: command and dispatch\.command/,
    );
    assert.match(first.stdout, /^web\s+■ paused/m);
    assert.match(first.stdout, /open-incident .*suspect\(s\): agent\/web-bad \(\w+\)/, 'the incident names its suspect change');
    const escalations = readFileSync(join(sb.stateDir, 'escalations.md'), 'utf8');
    assert.match(escalations, /^suspects: agent\/web-bad \(\w+\)$/m, escalations);
    assert.match(
      escalations,
      /^output of test-web at \w+ \(last \d+ line\(s\)\):\n(?: {4}.*\n)* {4}AssertionError: web\/status is not ok$/m,
      escalations,
    );

    // The failing output's end is on the incident: status, explain and log show it without opening state.json.
    const incident = /open-incident\s+web\s+(inc-\w+)/.exec(first.stdout)?.[1];
    assert.ok(incident, first.stdout);
    const tail = /output of test-web at \w+ \(last \d+ lines?\):\n(?: {4,}.*\n)*? {4,}AssertionError: web\/status is not ok$/m;
    const status = await runCli(['status', '--repo', sb.dir]);
    assert.match(status.stdout, tail, status.stdout);
    const explained = await runCli(['explain', incident, '--repo', sb.dir]);
    assert.match(explained.stdout, tail, explained.stdout);
    const log = await runCli(['log', '--repo', sb.dir]);
    assert.match(log.stdout, new RegExp(`open-incident web ${incident}: .*\\n {4}${tail.source}`, 'm'), log.stdout);

    sb.write({ '.buildmaster.yml': withDispatch });
    sb.commitAll('policy: dispatch fixes to the local fixer');
    const second = await runCli(['sync', '--repo', sb.dir]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /dispatch-fix\s+web\s+inc-\w+ .*\[done\]/, second.stdout);
    assert.match(sb.git('branch', '--list', 'buildmaster/fix/*'), /buildmaster\/fix\/inc-/);
  });
});

describe('first hour: small untruths', function () {
  this.timeout(180_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('a red first commit is not said to follow a clean one, nor bisected over zero commits', async () => {
    sb = new Sandbox({ ...threeLaneFiles(), 'web/status': 'bad\n' });
    const result = await runCli(['sync', '--repo', sb.dir]);
    assert.equal(result.code, 3, 'the first commit touches every lane: a global hold');
    assert.match(result.stdout, /open-incident .*1 commit\(s\) in view, none of them clean/, result.stdout);
    assert.doesNotMatch(result.stdout, /since the last clean commit/);
    assert.doesNotMatch(result.stderr, /bisecting 0 earlier commit/, result.stderr);
  });

  it('a break committed straight onto main names the commit and its files as the suspect', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.write({ 'web/status': 'bad\n', 'web/notes.txt': 'n\n' });
    const sha = sb.commitAll('straight onto main');
    const result = await runCli(['sync', '--repo', sb.dir]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      new RegExp(`open-incident .*suspect\\(s\\): commit ${sha.slice(0, 7)} \\(an unknown merge; files web/notes\\.txt, web/status\\)`),
      result.stdout,
    );
  });

  it('pausing a lane an operator already paused says the earlier reason is replaced', async () => {
    sb = new Sandbox(threeLaneFiles());
    const first = await runCli(['pause', 'web', '--reason', 'release freeze', '--repo', sb.dir]);
    assert.equal(first.code, 0, first.stderr);
    assert.doesNotMatch(first.stdout, /already paused/);
    const again = await runCli(['pause', 'web', '--reason', 'flaky runner', '--repo', sb.dir]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      again.stdout,
      /paused by \S+: flaky runner; it was already paused by an operator \(release freeze\): that reason is replaced by this one/,
    );
  });

  it('watch prints the table once, then one line per cycle that changed nothing', async () => {
    sb = new Sandbox(threeLaneFiles());
    const result = await runCli(['watch', '--cycles', '3', '--interval', '1s', '--repo', sb.dir]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.match(/^LANE\s+STATE/gm)?.length, 1, result.stdout);
    assert.equal(result.stdout.match(/^cycle \d+ at \S+: nothing changed$/gm)?.length, 2, result.stdout);
  });

  it('watch prints the table again when a cycle acts', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/web-1', { 'web/one.txt': '1\n' });
    sb.branch('agent/web-2', { 'web/two.txt': '2\n' });
    const result = await runCli(['watch', '--cycles', '2', '--interval', '1s', '--repo', sb.dir]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.match(/^LANE\s+STATE/gm)?.length, 2, result.stdout);
  });
});

describe('first hour: what sync and status print is the state after the cycle acted', function () {
  this.timeout(180_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('a change the cycle merged is not shown as "ready to merge", by sync nor by status afterwards', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/web-1', { 'web/one.txt': '1\n' });
    const synced = await runCli(['sync', '--repo', sb.dir]);
    assert.equal(synced.code, 0, synced.stderr);
    assert.match(synced.stdout, /merge\s+web\s+agent\/web-1 .*\[done\]/, 'the cycle merged it');
    assert.match(sb.log()[0] ?? '', /agent\/web-1/);
    const table = synced.stdout.slice(synced.stdout.indexOf('LANE'));
    assert.doesNotMatch(table, /agent\/web-1: ready to merge/, table);
    assert.match(table, /^web\s+● healthy \S+\s+0\s+—\s+—$/m, table);
    const status = await runCli(['status', '--repo', sb.dir]);
    assert.doesNotMatch(status.stdout, /agent\/web-1/, status.stdout);
  });

  it('the demo prints each cycle’s work under its heading, and closes with commands that work as typed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bm-demo-'));
    try {
      const demo = await runCli(['demo', '--dir', join(dir, 'repo')], { cwd: REPO_ROOT, timeoutMs: 170_000 });
      assert.equal(demo.code, 0, demo.stderr);
      const lines = demo.stdout.split('\n');
      const firstMerge = lines.findIndex((line) => /· merged agent\/web-footer/.test(line));
      const firstHeading = lines.findIndex((line) => /^cycle 1 — /.test(line));
      assert.ok(firstHeading >= 0 && firstMerge > firstHeading, `cycle 1's merge lines come after its heading:\n${demo.stdout}`);
      const hint = /inspect it: (.+?) {3}\| {3}(.+)$/m.exec(demo.stdout);
      assert.ok(hint?.[1] && hint[2], demo.stdout);
      assert.match(demo.stdout, /lane shared/);
      for (const command of [hint[1], hint[2]]) {
        const [program, ...args] = command.split(' ');
        const ran = spawnSync(program as string, args, { cwd: REPO_ROOT, encoding: 'utf8' });
        assert.equal(ran.status, 0, `"${command}" fails as typed: ${ran.error?.message ?? ran.stderr}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

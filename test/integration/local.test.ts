// Local mode end to end: real git repositories in temp folders, the built CLI.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, runCli, type CliResult } from '../support/cli';
import { Sandbox, threeLaneFiles } from '../support/sandbox';

interface SyncDoc {
  global: { state: string; reason: string };
  lanes: {
    name: string;
    state: string;
    queue: { change: string; reasons: { code: string; message: string }[] }[];
    incident: { id: string } | null;
  }[];
  decisions: {
    kind: string;
    lane?: string;
    change?: string;
    incident?: string;
    from?: string;
    to?: string;
    approval?: string;
    rationale: string;
  }[];
  approvals: { id: string; change?: string }[];
  actions: { key: string; kind: string; status: string; message: string }[];
}

async function sync(sb: Sandbox, ...extra: string[]): Promise<{ result: CliResult; doc: SyncDoc }> {
  const result = await runCli(['sync', '--repo', sb.dir, '--json', ...extra]);
  assert.ok(result.stdout.trim().startsWith('{'), `sync printed no JSON (exit ${result.code}): ${result.stderr}`);
  return { result, doc: JSON.parse(result.stdout) as SyncDoc };
}

const lane = (doc: SyncDoc, name: string) => doc.lanes.find((l) => l.name === name);
const merged = (doc: SyncDoc) => doc.actions.filter((a) => a.kind === 'merge' && a.status === 'done').map((a) => a.key.split(':')[1]);

/** An agent merges its branch by hand, around the queue, and web's check goes red. */
function breakWeb(sb: Sandbox, files: Record<string, string> = { 'web/status': 'bad\n' }): string {
  sb.branch('agent/web-bad', files);
  sb.git('merge', '--quiet', '--no-ff', '-m', "Merge branch 'agent/web-bad'", 'agent/web-bad');
  return sb.head();
}

describe('local mode: the lane lifecycle for real', function () {
  this.timeout(180_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('healthy → degraded → recovering → healthy, while a healthy lane keeps merging', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    sb.branch('agent/api-2', { 'api/two.txt': '2\n' });
    sb.branch('agent/web-2', { 'web/two.txt': '2\n' });
    const bad = breakWeb(sb);

    const first = await sync(sb);
    assert.equal(first.result.code, 0, first.result.stderr);
    assert.match(first.result.stderr, /bisecting/, 'no green commit on record: it bisects');
    const incident = first.doc.decisions.find((d) => d.kind === 'open-incident');
    assert.equal(incident?.incident, `inc-${bad.slice(0, 7)}`);
    assert.equal(lane(first.doc, 'web')?.state, 'degraded');
    assert.equal(first.doc.global.state, 'incident-contained');
    assert.deepEqual(merged(first.doc), ['agent/api-1'], 'api merges while web is broken');
    assert.equal(first.doc.actions.find((a) => a.kind === 'dispatch-fix')?.status, 'done');
    assert.ok(sb.git('branch', '--list', 'buildmaster/fix/*').includes(`buildmaster/fix/inc-${bad.slice(0, 7)}`));
    const web2 = lane(first.doc, 'web')?.queue.find((q) => q.change === 'agent/web-2');
    assert.ok(
      web2?.reasons.some((r) => r.code === 'lane-not-admitting'),
      JSON.stringify(web2?.reasons),
    );

    const second = await sync(sb);
    assert.deepEqual(
      merged(second.doc).sort(),
      ['agent/api-2', `buildmaster/fix/inc-${bad.slice(0, 7)}`],
      'the fix merges first in web; api keeps going',
    );

    const third = await sync(sb);
    const transitions = third.doc.decisions.filter((d) => d.kind === 'lane-transition' && d.lane === 'web').map((d) => `${d.from}→${d.to}`);
    assert.deepEqual(transitions, ['degraded→recovering', 'recovering→healthy']);
    assert.ok(third.doc.decisions.some((d) => d.kind === 'resolve-incident'));
    assert.deepEqual(merged(third.doc), ['agent/web-2'], 'web merges again once verified');
    assert.equal(third.doc.global.state, 'normal');
    assert.equal(sb.read('web/status'), 'ok\n', 'the user checkout of main was fast-forwarded');
    assert.equal(sb.git('status', '--porcelain', '--untracked-files=no'), '', 'and left clean');
  });

  it('degraded → paused when fixes keep failing; a revert is proposed, merges, and the lane recovers', async () => {
    sb = new Sandbox({ ...threeLaneFiles(), 'scripts/fixer.sh': 'cat > /dev/null\necho "attempt $BUILDMASTER_ATTEMPT" > web/note.txt\n' });
    const bad = breakWeb(sb);
    const id = `inc-${bad.slice(0, 7)}`;
    await sync(sb); // incident, attempt 1
    const second = await sync(sb); // attempt 1's fix fails its checks: retry 1, attempt 2
    assert.ok(second.doc.decisions.some((d) => d.kind === 'dispatch-fix' && /attempt 2/.test(d.rationale)));
    const third = await sync(sb); // attempt 2 fails: retries exhausted
    assert.equal(lane(third.doc, 'web')?.state, 'paused');
    assert.ok(third.doc.decisions.some((d) => d.kind === 'escalate'));
    const revert = third.doc.actions.find((a) => a.kind === 'propose-revert');
    assert.equal(revert?.status, 'done', JSON.stringify(third.doc.actions));
    assert.ok(sb.git('branch', '--list', `buildmaster/revert/${id}`));
    const escalations = readFileSync(join(sb.stateDir, 'escalations.md'), 'utf8');
    assert.match(escalations, new RegExp(`${id}.*test`));
    assert.match(escalations, /action required/);

    const fourth = await sync(sb);
    assert.deepEqual(merged(fourth.doc), [`buildmaster/revert/${id}`], 'a paused lane admits its linked revert');
    const fifth = await sync(sb);
    const transitions = fifth.doc.decisions.filter((d) => d.kind === 'lane-transition').map((d) => `${d.from}→${d.to}`);
    assert.deepEqual(transitions, ['paused→recovering', 'recovering→healthy']);
    assert.equal(sb.read('web/status'), 'ok\n');
  });

  it('recovering → paused when the target is still red after the fix merged (a retry counts)', async () => {
    sb = new Sandbox({
      ...threeLaneFiles(),
      // Passes pre-merge, fails once merged: the kind of break only post-merge checks catch.
      'web/test.sh':
        'grep -qx ok web/status || exit 1\nif [ -f web/after-merge ] && git log -1 --format=%s | grep -q "^Merge buildmaster/fix"; then echo "fails after merge"; exit 1; fi\n',
      'scripts/fixer.sh': 'cat > /dev/null\nprintf "ok\\n" > web/status\ntouch web/after-merge\n',
    });
    breakWeb(sb);
    await sync(sb);
    const second = await sync(sb);
    assert.equal(merged(second.doc).length, 1, 'the fix passed pre-merge and merged');
    const third = await sync(sb);
    const transitions = third.doc.decisions.filter((d) => d.kind === 'lane-transition').map((d) => `${d.from}→${d.to}`);
    assert.deepEqual(transitions.slice(0, 2), ['degraded→recovering', 'recovering→paused']);
    assert.equal(Object.values(sb.state().state?.incidents ?? {})[0]?.retries, 1);
  });

  it('a check that hangs is killed at the timeout, classified infra, and the lane is paused and escalated', async () => {
    sb = new Sandbox({
      ...threeLaneFiles(),
      '.buildmaster.yml': threeLaneFiles()['.buildmaster.yml'].replace('check_timeout: 30s', 'check_timeout: 2s'),
      'web/test.sh': 'if [ -f web/hang ]; then sleep 60; fi\n',
    });
    breakWeb(sb, { 'web/hang': 'x\n' });
    const started = Date.now();
    const { doc } = await sync(sb);
    assert.ok(Date.now() - started < 50_000, 'the hanging check did not run for its full minute');
    const incident = Object.values(sb.state().state?.incidents ?? {})[0] as unknown as { failureClass: string; remedy: string };
    assert.equal(incident.failureClass, 'infra');
    assert.equal(lane(doc, 'web')?.state, 'paused');
    assert.ok(doc.decisions.some((d) => d.kind === 'escalate'));
    const checks = sb.state() as unknown as { checks: Record<string, { runs: { name: string; conclusion: string; output: string }[] }> };
    const run = Object.values(checks.checks)
      .flatMap((c) => c.runs)
      .find((r) => r.conclusion === 'timed_out');
    assert.match(run?.output ?? '', /timed out after 2s/);
  });
});

describe('local mode: crash and resume', function () {
  this.timeout(180_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  /** Every merge Build Master recorded as done matches exactly one merge commit in git, and vice versa. */
  function assertLogMatchesGit(s: Sandbox) {
    const keys = s.mergeKeys();
    assert.equal(new Set(keys).size, keys.length, `a change was merged twice: ${keys.join(', ')}`);
    const done = s
      .events()
      .filter((e) => e.type === 'action' && e.kind === 'merge' && e.status === 'done')
      .map((e) => e.key);
    assert.deepEqual([...new Set(done)].sort(), [...keys].sort());
    const seqs = s.events().map((e) => e.seq);
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => i + 1),
      'the event log is contiguous',
    );
  }

  for (const point of ['before:merge', 'after:update-ref', 'after:record-merge', 'after:merge']) {
    it(`SIGKILL at ${point}: nothing merged twice, no decision lost`, async () => {
      sb = new Sandbox(threeLaneFiles());
      sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
      const killed = await runCli(['sync', '--repo', sb.dir], { env: { BUILDMASTER_TEST_CRASH_AT: point } });
      assert.equal(killed.signal, 'SIGKILL');
      assert.equal(existsSync(join(sb.stateDir, 'lock')), true, 'the dead process left its lock');
      const after = await runCli(['sync', '--repo', sb.dir, '--json']);
      assert.equal(after.code, 0, after.stderr);
      assert.match(after.stderr, /recovered a stale lock/);
      if (point !== 'before:merge') assert.match(after.stderr + after.stdout, /recovered: agent\/api-1 was merged/);
      assert.equal(sb.mergeKeys().length, 1, 'merged exactly once');
      assert.equal(
        sb.git('status', '--porcelain', '--untracked-files=no'),
        '',
        'the user’s checkout caught up with the target: HEAD and the index agree',
      );
      assert.equal(sb.read('api/one.txt'), '1\n');
      const again = await sync(sb);
      assert.deepEqual(lane(again.doc, 'api')?.queue, [], 'nothing left to merge');
      assert.equal(merged(again.doc).length, 0);
      assertLogMatchesGit(sb);
      const decided = sb.events().filter((e) => e.type === 'decision' && e.kind === 'merge');
      assert.ok(decided.length >= 1, 'the decision made before the crash is in the log');
    });
  }

  it('SIGKILL during a fix: the interrupted build is cancelled and run again, the lane recovers', async () => {
    sb = new Sandbox(threeLaneFiles());
    breakWeb(sb);
    const killed = await runCli(['sync', '--repo', sb.dir], { env: { BUILDMASTER_TEST_CRASH_AT: 'during:dispatch-fix' } });
    assert.equal(killed.signal, 'SIGKILL');
    for (let i = 0; i < 4; i++) await runCli(['sync', '--repo', sb.dir]);
    const data = sb.state();
    const build = data.builds[0];
    assert.deepEqual(
      build?.history.map((h) => h.status),
      ['pending', 'running', 'cancelled', 'pending', 'running', 'completed'],
    );
    assert.equal(data.builds.length, 1, 'one attempt, not a second');
    assert.equal(data.state?.lanes.web?.state, 'healthy');
    assert.equal(sb.read('web/status'), 'ok\n');
    assertLogMatchesGit(sb);
  });
});

describe('local mode: locking, input errors, operators', function () {
  this.timeout(180_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('two syncs at once: one acts, the other exits non-zero saying it is locked', async () => {
    sb = new Sandbox({ ...threeLaneFiles(), 'api/test.sh': 'sleep 2\ngrep -qx ok api/status\n' });
    sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    const dir = sb.dir;
    const [a, b] = await Promise.all([
      runCli(['sync', '--repo', dir]),
      new Promise<CliResult>((done) => setTimeout(() => void runCli(['sync', '--repo', dir]).then(done), 500)),
    ]);
    const outcomes = [a, b].sort((x, y) => (x.code ?? 0) - (y.code ?? 0));
    assert.equal(outcomes[0]?.code, 0);
    assert.equal(outcomes[1]?.code, 1);
    assert.match(outcomes[1].stderr, /locked: another Build Master \(pid \d+, "sync"/);
    assert.equal(sb.mergeKeys().length, 1);
  });

  it('an invalid policy exits 2 with line and column and changes nothing', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    writeFileSync(join(sb.dir, '.buildmaster.yml'), 'lanes:\n  - name: web\n    paths: ["web/**"]\nmerge:\n  method: fast\n');
    const before = sb.head();
    const result = await runCli(['sync', '--repo', sb.dir]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /\.buildmaster\.yml:5:11: merge\.method is "fast"/);
    assert.match(result.stderr, /refuses to act/);
    assert.equal(sb.head(), before);
    assert.equal(existsSync(join(sb.stateDir, 'state.json')), false, 'no state written');
  });

  it('unknown changes and approvals exit 2 with a message', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    const explain = await runCli(['explain', 'agent/nope', '--repo', sb.dir]);
    assert.equal(explain.code, 2);
    assert.match(explain.stderr, /no open change "agent\/nope"; open changes: agent\/api-1/);
    const approve = await runCli(['approve', 'ap-nothing', '--repo', sb.dir]);
    assert.equal(approve.code, 2);
    assert.match(approve.stderr, /no approval "ap-nothing"/);
    const bad = await runCli(['sync', '--repo', join(sb.dir, 'missing')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /no such directory/);
  });

  it('explain names every gate reason of a waiting change', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/web-red', { 'web/status': 'nope\n' });
    // explain runs no checks (it must never hold up a sync): the sync runs them, explain reports them.
    await sync(sb);
    const result = await runCli(['explain', 'agent/web-red', '--repo', sb.dir]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /lane web \(healthy; its files match lane web\), tier2/);
    assert.match(result.stdout, /check-failing\s+required check "test-web" is failure/);
  });

  it('merging waits while the target is checked out with uncommitted changes, and never touches them', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    writeFileSync(join(sb.dir, 'docs/index.md'), '# my unsaved edit\n');
    const before = sb.head();
    const { doc } = await sync(sb);
    // The forge reports the block (snapshot.mergeBlocked) and refuses the merge; either way the user reads why.
    assert.equal(merged(doc).length, 0);
    assert.match(JSON.stringify(doc), /checked out with uncommitted changes in .*; merging waits/);
    assert.equal(sb.head(), before);
    assert.equal(sb.read('docs/index.md'), '# my unsaved edit\n');
    sb.git('checkout', '--', 'docs/index.md');
    const retry = await sync(sb);
    assert.deepEqual(merged(retry.doc), ['agent/api-1']);
  });

  it('merges in a linked worktree setup without touching another worktree’s branch', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    sb.git('checkout', '--quiet', '-b', 'scratch');
    sb.write({ 'api/status': 'user edit in progress\n' });
    const { doc } = await sync(sb);
    assert.deepEqual(merged(doc), ['agent/api-1'], 'main is not checked out anywhere: merging goes ahead');
    assert.equal(sb.read('api/status'), 'user edit in progress\n');
    assert.equal(sb.git('rev-parse', '--abbrev-ref', 'HEAD'), 'scratch');
  });

  it('hold stops everything with exit 3; release needs --ack; approvals gate merges below the autonomy level', async () => {
    sb = new Sandbox({ ...threeLaneFiles(), '.buildmaster.yml': threeLaneFiles()['.buildmaster.yml'].replace('merge: A4', 'merge: A3') });
    sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    assert.equal((await runCli(['hold', '--repo', sb.dir, '--reason', 'release freeze'])).code, 0);
    const held = await sync(sb);
    assert.equal(held.result.code, 3);
    assert.equal(merged(held.doc).length, 0);
    const status = await runCli(['status', '--repo', sb.dir]);
    assert.equal(status.code, 3);
    assert.match(status.stdout, /global: global-hold — operator .*release freeze/);
    const noAck = await runCli(['release', '--repo', sb.dir]);
    assert.equal(noAck.code, 2);
    assert.match(noAck.stderr, /release --ack/);
    assert.equal((await runCli(['release', '--ack', '--repo', sb.dir])).code, 0);

    const asks = await sync(sb);
    assert.equal(asks.result.code, 0);
    const approval = asks.doc.approvals.find((a) => a.change === 'agent/api-1');
    assert.ok(approval, 'a tier 2 merge at A3 asks for approval');
    assert.equal(merged(asks.doc).length, 0);
    assert.equal((await runCli(['approve', approval.id, '--repo', sb.dir])).code, 0);
    const approved = await sync(sb);
    assert.deepEqual(merged(approved.doc), ['agent/api-1']);
    const log = await runCli(['log', '--repo', sb.dir, '--since', '1h']);
    // Operator events are logged under the operator's command.
    assert.match(log.stdout, /#\d+ {2}approve api agent\/api-1: \S+ approved ap-/);
    assert.match(log.stdout, /#\d+ {2}release: \w+ acknowledged and released the hold/);
  });

  it('pause stops a lane; resume verifies green target checks', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    await runCli(['pause', 'api', '--reason', 'db migration', '--repo', sb.dir]);
    const paused = await sync(sb);
    assert.equal(merged(paused.doc).length, 0);
    assert.match(lane(paused.doc, 'api')?.queue[0]?.reasons[0]?.message ?? '', /paused by an operator: db migration/);
    const unknown = await runCli(['pause', 'apii', '--repo', sb.dir]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no lane "apii"; lanes: web, api, docs, shared/);
    await runCli(['resume', 'api', '--repo', sb.dir]);
    const resumed = await sync(sb);
    assert.equal(lane(resumed.doc, 'api')?.state, 'healthy');
  });

  it('watch cycles until SIGTERM, finishes the cycle in flight and exits 0', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    const child = spawn(process.execPath, [CLI, 'watch', '--interval', '1s', '--repo', sb.dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((done) => setTimeout(done, 2500));
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((done) => child.on('close', done));
    assert.equal(code, 0, out);
    assert.match(out, /stopping after the cycle in flight/);
    assert.equal(sb.mergeKeys().length, 1);
    assert.equal(existsSync(join(sb.stateDir, 'lock')), false, 'the lock is released');
  });
});

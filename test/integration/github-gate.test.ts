// The conductor's merge criteria one by one in GitHub mode, and the hygiene
// protocol (SPEC §3.1, §7), against the GitHub-compatible test server.
import { strict as assert } from 'node:assert';
import type { CycleReport } from '../../extension/controller/cycle';
import { GitHubWorld } from '../../fixtures/github/world';
import { present } from '../support/builders';

function codes(report: CycleReport, number: number): string[] {
  for (const queue of Object.values(report.result.queues)) {
    const entry = queue.find((e) => e.change === `#${number}`);
    if (entry) return entry.reasons.map((r) => r.code);
  }
  return ['(not queued)'];
}

function messages(report: CycleReport, number: number): string[] {
  for (const queue of Object.values(report.result.queues)) {
    const entry = queue.find((e) => e.change === `#${number}`);
    if (entry) return entry.reasons.map((r) => r.message);
  }
  return ['(not queued)'];
}

describe('GitHub mode: the merge gate and hygiene', function () {
  this.timeout(120_000);
  let world: GitHubWorld;

  afterEach(async () => {
    assert.deepEqual(world.server.violations, [], 'every response conforms to GitHub’s OpenAPI description');
    await world.stop();
  });

  it('checks each merge criterion by the latest review, checks, conflicts, stacks and labels', async () => {
    world = await GitHubWorld.start({ extraPolicy: 'hygiene:\n  nudge_review_after: 1d\n' });
    const draft = world.pull('docs/draft', { 'docs/a.md': 'a\n' }, { draft: true });
    const blocked = world.pull('docs/blocked', { 'docs/b.md': 'b\n' }, { labels: ['do-not-merge'] });
    const unreviewed = world.pull('docs/unreviewed', { 'docs/c.md': 'c\n' }, { approve: false });
    const requested = world.pull('docs/requested', { 'docs/d.md': 'd\n' });
    world.server.review(requested, 'bob', 'CHANGES_REQUESTED');
    const relented = world.pull('docs/relented', { 'docs/e.md': 'e\n' }, { approve: false });
    world.server.review(relented, 'carol', 'CHANGES_REQUESTED');
    world.server.review(relented, 'carol', 'APPROVED');
    const red = world.pull('agent/web-red', { 'web/BROKEN': 'x\n' });
    const pending = world.pull('agent/api-pending', { 'api/p.js': 'p\n' });
    world.server.setChecks(world.server.pullHead(pending), [{ name: 'test-api', conclusion: 'pending' }]);
    const conflicting = world.pull('docs/conflict', { 'README.md': '# app, changed on the branch\n' });
    world.server.push('main', { 'README.md': '# app, changed on main\n' }, 'main moves');
    const parent = world.pull('agent/web-parent', { 'web/parent.js': 'p\n' });
    const child = world.pull('agent/web-child', { 'web/child.js': 'c\n' }, { base: 'agent/web-parent' });

    const first = await world.cycle();
    assert.deepEqual(codes(first, draft), ['draft']);
    assert.deepEqual(codes(first, blocked), ['blocking-label']);
    assert.deepEqual(codes(first, unreviewed), ['approvals-missing']);
    assert.deepEqual(codes(first, requested), ['changes-requested']);
    assert.deepEqual(codes(first, red), ['check-failing']);
    assert.deepEqual(codes(first, pending), ['check-pending']);
    assert.ok(codes(first, conflicting).includes('conflict'));
    assert.ok(codes(first, child).includes('stack-parent-open'), codes(first, child).join());
    // carol's latest review approves: only one docs change merges per cycle, and it is the longest-ready eligible one.
    assert.deepEqual(codes(first, relented), []);
    assert.ok(world.merged(relented));
    assert.ok(world.merged(parent), 'the bottom of the stack merges first');
    assert.equal(world.merged(child), false);
    // The conflict gets needs-restack and one comment.
    assert.ok(world.server.item(conflicting)?.labels.includes('needs-restack'));

    world.advance(60_000);
    await world.cycle();
    assert.ok(world.merged(child), 'the stacked change merges once its parent is merged (GitHub retargets it to main)');
    for (const n of [draft, blocked, unreviewed, requested, red, pending, conflicting])
      assert.equal(world.merged(n), false, `#${n} is not merged`);

    // Fix the conflict with a new push: the label goes, the change merges.
    world.server.push('docs/conflict', { 'README.md': '# app, changed on main\n', 'docs/ok.md': 'ok\n' }, 'restack');
    world.advance(60_000);
    await world.cycle();
    world.advance(60_000);
    await world.cycle();
    assert.equal(world.server.item(conflicting)?.labels.includes('needs-restack'), false, 'needs-restack removed once it merges cleanly');
    assert.ok(world.merged(conflicting));
    assert.equal(
      world.server.item(conflicting)?.comments.filter((c) => c.body.includes('conflicts with')).length,
      1,
      'one restack comment',
    );
    for (const n of [relented, parent, child, conflicting]) assert.equal(world.mergesOf(n), 1);
  });

  it('says a queued check has not started, a running one is running, and a pending commit status what it reports', async () => {
    world = await GitHubWorld.start();
    const queued = world.pull('agent/api-queued', { 'api/q.js': 'q\n' });
    world.server.setChecks(world.server.pullHead(queued), [{ name: 'test-api', conclusion: 'pending', status: 'queued' }]);
    const held = world.pull('agent/api-held', { 'api/h.js': 'h\n' });
    world.server.setChecks(world.server.pullHead(held), [{ name: 'test-api', conclusion: 'pending', status: 'waiting' }]);
    const running = world.pull('agent/web-running', { 'web/r.js': 'r\n' });
    world.server.setChecks(world.server.pullHead(running), [{ name: 'test-web', conclusion: 'pending' }]);
    const status = world.pull('agent/web-status', { 'web/s.js': 's\n' });
    world.server.setChecks(world.server.pullHead(status), [
      { name: 'test-web', conclusion: 'pending', type: 'status', output: 'Build #12 started' },
    ]);

    const report = await world.cycle();
    assert.deepEqual(messages(report, queued), ['required check "test-api" is queued on GitHub and has not started yet']);
    assert.match(messages(report, held).join(), /^required check "test-api" is waiting on GitHub \(a deployment protection rule/);
    assert.deepEqual(messages(report, running), ['required check "test-web" is still running']);
    assert.deepEqual(messages(report, status), ['required check "test-web" reports pending (Build #12 started)']);
    for (const n of [queued, held, running, status]) assert.equal(world.merged(n), false, `#${n} is not merged`);
  });

  it('waits a cycle while GitHub computes mergeability, and merges with the policy method guarded by the head sha', async () => {
    world = await GitHubWorld.start({ mergeabilityUnknownFirst: true });
    const pr = world.pull('agent/web-a', { 'web/a.js': 'a\n' });
    const first = await world.cycle();
    assert.deepEqual(codes(first, pr), ['mergeability-unknown']);
    assert.equal(world.merged(pr), false);
    // The head moves between the read and the merge: GitHub answers 409 and nothing merges.
    world.server.faults.push({ kind: 'conflict', method: 'PUT', path: /\/merge$/ });
    world.advance(60_000);
    const second = await world.cycle();
    const refused = second.actions.find((a) => a.kind === 'merge');
    assert.equal(refused?.status, 'failed');
    assert.match(refused.message, /moved after its checks ran/);
    world.advance(60_000);
    await world.cycle();
    assert.ok(world.merged(pr));
    const sha = world.server.item(pr)?.pull?.mergeCommit as string;
    assert.equal(world.origin.git(['show', '-s', '--format=%P', sha]).trim().split(' ').length, 1, 'squash: one parent');
    assert.match(world.origin.git(['show', '-s', '--format=%B', sha]), /Build-Master-Key: merge:#1:[0-9a-f]{40}/);
  });

  it('tends the repository: triage, review nudges, merge-ready on and off, rework re-dispatch, stale notes and a digest, each once per window', async () => {
    world = await GitHubWorld.start({
      extraPolicy: 'hygiene:\n  nudge_review_after: 30m\n  redispatch_rework_after: 15m\n  stale_after: 3d\n',
    });
    const issue = world.server.openIssue({ title: 'the docs are wrong' });
    const waiting = world.pull('docs/waiting', { 'docs/w.md': 'w\n' }, { approve: false });
    const rework = world.pull('agent/web-rework', { 'web/r.js': 'r\n' }, { approve: false, labels: ['needs-rework'] });
    await world.cycle();
    assert.ok(world.server.item(issue)?.labels.includes('needs-triage'));
    const status = world.server.issues().find((i) => i.title === 'Build Master status');
    assert.ok(status, 'a status issue carries the digest');
    assert.equal(status.comments.length, 1);
    assert.match(present(status.comments[0], 'the status comment').body, /\| web \| healthy \|/);

    world.advance(31 * 60_000);
    await world.cycle();
    await world.cycle();
    const nudges = () => world.server.existing(waiting).comments.filter((c) => c.body.includes('waited')).length;
    assert.equal(nudges(), 1, 'one nudge per window');
    const redispatched = () => world.server.existing(rework).comments.filter((c) => c.body.includes('re-dispatched')).length;
    assert.equal(redispatched(), 1);
    assert.ok(world.server.item(rework)?.labels.includes('agent'), 'the coding agent is summoned again');
    world.advance(31 * 60_000);
    await world.cycle();
    assert.equal(nudges(), 2, 'a second nudge in the next window');
    assert.equal(status.comments.length, 1, 'no digest while nothing changed');

    // Approved and green but waiting for an operator (autonomy.merge A2): merge-ready; then red: removed with a comment.
    world.server.review(waiting, 'alice', 'APPROVED');
    world.session.policy.autonomy.merge = 'A2';
    world.advance(60_000);
    await world.cycle();
    assert.ok(world.server.item(waiting)?.labels.includes('merge-ready'));
    world.server.setChecks(world.server.pullHead(waiting), [
      { name: 'lint', conclusion: 'failure', type: 'status', output: 'eslint failed' },
    ]);
    world.advance(60_000);
    await world.cycle();
    await world.cycle();
    assert.equal(world.server.item(waiting)?.labels.includes('merge-ready'), false);
    assert.equal(world.server.existing(waiting).comments.filter((c) => c.body.includes('Removed `merge-ready`')).length, 1);

    world.advance(4 * 24 * 3600_000);
    await world.cycle();
    await world.cycle();
    assert.ok(world.server.item(issue)?.labels.includes('stale'));
    assert.equal(world.server.existing(issue).comments.filter((c) => c.body.includes('No activity')).length, 1, 'one stale note');
  });
});

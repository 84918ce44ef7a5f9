// GitHub's real semantics against the test server: what GitHub says of merging
// a pull request (mergeable_state under branch protection) becomes the gate's
// reasons and, for a branch behind its base, one update of that branch; merge
// answers are refusals that wait or escalate once, never a lost answer and an
// extra read; check runs and statuses are listed as GitHub lists them; and a
// fork's pull request names its fork.
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GitHubForge } from '../../extension/forge/github/forge';
import { ForgeRefusal } from '../../extension/ports';
import type { CycleReport } from '../../extension/controller/cycle';
import { GitHubWorld } from '../../fixtures/github/world';
import { present } from '../support/builders';

/** A REST request to the test server as a client would send it. */
async function rest(world: GitHubWorld, method: string, path: string, body?: unknown): Promise<{ status: number; data: unknown }> {
  const response = await fetch(`${world.server.url}/repos/acme/app${path}`, {
    method,
    headers: { authorization: `token ${world.server.token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, data: await response.json() };
}

function forgeOf(world: GitHubWorld): GitHubForge {
  const forge = world.session.deps.forge;
  assert.ok(forge instanceof GitHubForge, 'a GitHub-mode session has the GitHub forge');
  return forge;
}

function reasonsOf(report: CycleReport, change: number): string[] {
  const entry = Object.values(report.result.queues)
    .flat()
    .find((e) => e.change === `#${change}`);
  return present(entry, `#${change} in a queue`).reasons.map((r) => r.code);
}

const since = (world: GitHubWorld, from: number) => world.server.requests.slice(from);

/** GitHub's `mergeable_state` of a pull request, read as a client reads it (GitHub computes mergeability when asked). */
async function mergeState(world: GitHubWorld, pr: number): Promise<string> {
  return ((await rest(world, 'GET', `/pulls/${pr}`)).data as { mergeable_state: string }).mergeable_state;
}

describe("GitHub mode: GitHub's merge state is the gate's", function () {
  this.timeout(180_000);
  let world: GitHubWorld;

  afterEach(async () => {
    const { violations } = world.server;
    await world.stop();
    assert.deepEqual(violations, [], 'every response conforms to GitHub’s OpenAPI description');
  });

  it('blocked by branch protection: a reason that names what to check, and no merge is sent until protection is satisfied', async () => {
    world = await GitHubWorld.start();
    world.server.protect('main', { requiredReviews: 2 });
    const pr = world.pull('docs/a', { 'docs/a.md': 'a\n' });
    assert.equal(await mergeState(world, pr), 'blocked');
    assert.equal(world.server.mergeStateOf(pr), 'blocked', 'REST and GraphQL answers share it');
    const from = world.server.requests.length;
    const report = await world.cycle();
    assert.deepEqual(reasonsOf(report, pr), ['blocked']);
    assert.match(report.result.queues.docs?.[0]?.reasons[0]?.message ?? '', /branch protection of main is not satisfied/);
    assert.ok(!since(world, from).some((r) => r.method === 'PUT'), 'no merge is sent while GitHub says blocked');
    // The merge endpoint itself refuses like GitHub does.
    const refused = await rest(world, 'PUT', `/pulls/${pr}/merge`, { merge_method: 'squash' });
    assert.equal(refused.status, 405);
    assert.match((refused.data as { message: string }).message, /At least 2 approving reviews are required by reviewers with write access/);
    world.server.review(pr, 'bob', 'APPROVED');
    world.advance(60_000);
    await world.cycle();
    assert.ok(world.merged(pr), 'merged once protection is satisfied');
  });

  it('required checks of branch protection: expected, in progress or failing is blocked; a failing check nobody requires is unstable', async () => {
    world = await GitHubWorld.start();
    world.server.protect('main', { requiredChecks: ['deploy-preview'] });
    const pr = world.pull('docs/a', { 'docs/a.md': 'a\n' });
    const head = world.server.pullHead(pr);
    const detail = () => mergeState(world, pr);
    assert.equal(await detail(), 'blocked');
    const refused = await rest(world, 'PUT', `/pulls/${pr}/merge`, { merge_method: 'squash' });
    assert.equal(refused.status, 405);
    assert.match((refused.data as { message: string }).message, /Required status check "deploy-preview" is expected\./);
    world.server.addCheckRun(head, { name: 'deploy-preview', conclusion: 'success' });
    assert.equal(await detail(), 'clean');
    world.server.addCheckRun(head, { name: 'spellcheck', conclusion: 'failure' });
    assert.equal(await detail(), 'unstable');
    const report = await world.cycle();
    const change = present(
      report.snapshotChanges.find((c) => c.id === `#${pr}`),
      'the change',
    );
    assert.equal(change.mergeState, 'unstable', 'the REST reader carries GitHub’s mergeable_state');
    // Unstable is a note, not a reason: what holds the change is the policy's own judgement of the failing check.
    const entry = present(report.result.queues.docs?.[0], 'the queue entry');
    assert.deepEqual(
      entry.reasons.map((r) => r.code),
      ['check-failing'],
    );
    assert.ok(
      entry.notes.some((note) => /GitHub would merge it/.test(note)),
      entry.notes.join('\n'),
    );
  });

  it('behind a strict base with when_behind: update: GitHub updates the branch once, its checks run, then it merges', async () => {
    world = await GitHubWorld.start();
    world.server.protect('main', { strict: true });
    const pr = world.pull('docs/a', { 'docs/a.md': 'a\n' });
    world.server.push('main', { 'docs/other.md': 'other\n' }, 'main moves');
    const oldHead = world.server.pullHead(pr);
    assert.equal(await mergeState(world, pr), 'behind');
    const refused = await rest(world, 'PUT', `/pulls/${pr}/merge`, { merge_method: 'squash' });
    assert.equal(refused.status, 405);
    assert.match((refused.data as { message: string }).message, /Head branch is not up to date with the base branch/);
    // The answer to the update is lost: the next process must not update the branch a second time for the same base.
    world.server.faults = [{ kind: 'drop-after', method: 'PUT', path: /\/update-branch$/ }];
    const first = await world.cycle();
    assert.deepEqual(reasonsOf(first, pr), ['behind']);
    assert.ok(first.result.decisions.some((d) => d.kind === 'update-branch' && d.change === `#${pr}`));
    assert.ok(!first.result.decisions.some((d) => d.kind === 'merge'));
    const newHead = world.server.pullHead(pr);
    assert.notEqual(newHead, oldHead, 'GitHub merged main into the branch');
    const parents = world.origin.git(['rev-list', '--parents', '-n', '1', newHead]).trim().split(' ');
    assert.deepEqual(parents.slice(1), [oldHead, world.origin.git(['rev-parse', 'main']).trim()], 'a real merge of the base into the head');
    await world.open();
    world.advance(60_000);
    const from = world.server.requests.length;
    await world.cycle();
    assert.ok(!since(world, from).some((r) => r.path.endsWith('/update-branch')), 'the updated branch is not updated again');
    assert.equal(world.server.requests.filter((r) => r.path.endsWith('/update-branch')).length, 1, 'one update request in all');
    assert.equal(world.origin.git(['rev-list', '--merges', '--count', `main..${newHead}`]).trim(), '1', 'one update of the branch');
    for (let i = 0; i < 2 && !world.merged(pr); i += 1) {
      world.advance(60_000);
      await world.cycle();
    }
    assert.ok(world.merged(pr), 'merged once up to date and green');
    assert.equal(world.mergesOf(pr), 1);
  });

  it('behind with when_behind: wait is a reason that asks a person to update; no update is sent', async () => {
    world = await GitHubWorld.start();
    // `merge:` is in the world's policy already: add to its block.
    const file = join(world.workspace, '.buildmaster.yml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('merge:\n  method: squash\n', 'merge:\n  method: squash\n  when_behind: wait\n'),
    );
    await world.open();
    world.server.protect('main', { strict: true });
    const pr = world.pull('docs/a', { 'docs/a.md': 'a\n' });
    world.server.push('main', { 'docs/other.md': 'other\n' }, 'main moves');
    const from = world.server.requests.length;
    const report = await world.cycle();
    assert.deepEqual(reasonsOf(report, pr), ['behind']);
    assert.match(report.result.queues.docs?.[0]?.reasons[0]?.message ?? '', /update its branch/);
    assert.ok(!since(world, from).some((r) => r.method === 'PUT'), 'neither an update nor a merge is sent');
  });

  it("updateBranch is guarded by the head: a head that moved is GitHub's 422, a refusal", async () => {
    world = await GitHubWorld.start();
    const pr = world.pull('docs/a', { 'docs/a.md': 'a\n' }, { approve: false });
    world.server.push('main', { 'docs/other.md': 'other\n' }, 'main moves');
    const report = await world.cycle();
    const change = present(
      report.snapshotChanges.find((c) => c.id === `#${pr}`),
      'the change',
    );
    world.server.push('docs/a', { 'docs/a.md': 'a2\n' }, 'moved');
    const refused = await rest(world, 'PUT', `/pulls/${pr}/update-branch`, { expected_head_sha: change.headSha });
    assert.equal(refused.status, 422);
    assert.match((refused.data as { message: string }).message, /expected head sha didn't match current head ref/);
    await assert.rejects(
      forgeOf(world).updateBranch(change, { kind: 'update-branch', change: change.id, sha: change.headSha, rationale: 'test' }),
      (error: unknown) => error instanceof ForgeRefusal && error.code === 'update-refused',
    );
  });
});

describe('GitHub mode: merge answers', function () {
  this.timeout(180_000);
  let world: GitHubWorld;

  afterEach(async () => {
    const { violations } = world.server;
    await world.stop();
    assert.deepEqual(violations, [], 'every response conforms to GitHub’s OpenAPI description');
  });

  /** The requests of one cycle after its merge PUT: what a refusal cost. */
  const afterMerge = (world: GitHubWorld, from: number, pr: number) => {
    const requests = since(world, from);
    const put = requests.findIndex((r) => r.method === 'PUT' && r.path.endsWith(`/pulls/${pr}/merge`));
    assert.ok(put >= 0, 'the merge was sent');
    return requests.slice(put + 1);
  };

  it('405 "Base branch was modified" is a retry next cycle: no extra read, no stack trace, no escalation', async () => {
    world = await GitHubWorld.start();
    const pr = world.pull('docs/a', { 'docs/a.md': 'a\n' });
    world.server.faults = [{ kind: 'base-modified', method: 'PUT', path: /\/merge$/ }];
    const from = world.server.requests.length;
    const report = await world.cycle();
    const merge = present(
      report.actions.find((a) => a.kind === 'merge'),
      'the merge action',
    );
    assert.equal(merge.status, 'failed');
    assert.match(merge.message, /main moved while #1 was merging .*tried again next cycle/);
    assert.ok(!afterMerge(world, from, pr).some((r) => r.path.endsWith(`/pulls/${pr}`)), 'no findMerge read after an answer');
    assert.ok(!report.actions.some((a) => a.kind === 'escalate'));
    assert.ok(!world.logs.some((l) => /\n\s+at /.test(l)), 'no stack trace');
    world.advance(60_000);
    await world.cycle();
    assert.ok(world.merged(pr));
  });

  for (const [kind, fix] of [
    ['forbidden', /contents: write.*pull_requests: write/],
    ['method-not-allowed', /merge\.method: squash.*does not allow/],
  ] as const) {
    it(`${kind}: a refusal escalated once per change and head, with the fix named; no extra read, no stack trace`, async () => {
      world = await GitHubWorld.start();
      const pr = world.pull('docs/a', { 'docs/a.md': 'a\n' });
      world.server.faults = [{ kind, method: 'PUT', path: /\/merge$/, times: 3 }];
      const from = world.server.requests.length;
      const first = await world.cycle();
      assert.equal(first.actions.find((a) => a.kind === 'merge')?.status, 'failed');
      assert.ok(!afterMerge(world, from, pr).some((r) => r.method === 'GET' && r.path.endsWith(`/pulls/${pr}`)), 'no findMerge read');
      const escalations = first.actions.filter((a) => a.kind === 'escalate');
      assert.equal(escalations.length, 1, 'escalated');
      assert.match(present(escalations[0], 'the escalation').decision.rationale, fix);
      const issue = present(
        world.server.issues().find((i) => i.labels.includes('escalation')),
        'the escalation issue',
      );
      assert.match(issue.body ?? '', fix);
      assert.ok(!world.logs.some((l) => /\n\s+at /.test(l)), 'no stack trace');
      // The next cycles try the merge again (the fix may land any time) but never escalate again for this head.
      for (let i = 0; i < 2; i += 1) {
        // The second time as a restarted process: what was escalated is on record.
        if (i === 1) await world.open();
        world.advance(60_000);
        const next = await world.cycle();
        assert.equal(next.actions.find((a) => a.kind === 'merge')?.status, 'failed');
        assert.ok(!next.actions.some((a) => a.kind === 'escalate'), 'no second escalation');
      }
      assert.equal(world.server.issues().filter((i) => i.labels.includes('escalation')).length, 1);
      assert.equal(world.server.issues().find((i) => i.labels.includes('escalation'))?.comments.length ?? 0, 0);
      world.advance(60_000);
      await world.cycle();
      assert.ok(world.merged(pr), 'merged once the permission or setting is fixed');
    });
  }

  it("a method the repository forbids (the server's own setting) is the same escalation", async () => {
    world = await GitHubWorld.start();
    world.server.allowMergeMethods(['merge']);
    world.pull('docs/a', { 'docs/a.md': 'a\n' });
    const report = await world.cycle();
    const escalation = present(
      report.actions.find((a) => a.kind === 'escalate'),
      'the escalation',
    );
    assert.match(escalation.decision.rationale, /Squash merges are not allowed on this repository.*merge\.method: squash/);
  });
});

describe('GitHub mode: check runs and statuses as GitHub lists them', function () {
  this.timeout(180_000);
  let world: GitHubWorld;

  afterEach(async () => {
    const { violations } = world.server;
    await world.stop();
    assert.deepEqual(violations, [], 'every response conforms to GitHub’s OpenAPI description');
  });

  it('check runs: filter=latest (the default) hides a fail-then-pass that filter=all shows, and Build Master reads it as flaky', async () => {
    world = await GitHubWorld.start();
    const pr = world.pull('web/a', { 'web/a.js': 'a\n' });
    const head = world.server.pullHead(pr);
    world.server.setChecks(head, [{ name: 'test-web', conclusion: 'failure', output: 'FAIL' }]);
    world.server.addCheckRun(head, { name: 'test-web', conclusion: 'success' });
    type Runs = { total_count: number; check_runs: { conclusion: string }[] };
    const latest = (await rest(world, 'GET', `/commits/${head}/check-runs`)).data as Runs;
    assert.deepEqual(
      latest.check_runs.map((r) => r.conclusion),
      ['success'],
      'a reader without filter=all never sees the failure',
    );
    const all = (await rest(world, 'GET', `/commits/${head}/check-runs?filter=all`)).data as Runs;
    assert.deepEqual(all.check_runs.map((r) => r.conclusion).sort(), ['failure', 'success']);
    const checks = await forgeOf(world).checksOf(head);
    const web = present(
      checks.find((c) => c.name === 'test-web'),
      'test-web',
    );
    assert.equal(web.conclusion, 'success');
    assert.equal(web.passedOnRerun, true, 'the fail-then-pass is a flaky signal');
  });

  it('statuses: the combined status has one status per context, the newest, and a state computed as GitHub does', async () => {
    world = await GitHubWorld.start();
    const pr = world.pull('docs/a', { 'docs/a.md': 'a\n' });
    const head = world.server.pullHead(pr);
    const t = world.now;
    world.server.setChecks(head, [
      { name: 'lint', conclusion: 'failure', type: 'status', at: t },
      { name: 'lint', conclusion: 'success', type: 'status', at: t + 60_000 },
      { name: 'deploy', conclusion: 'pending', type: 'status', at: t },
    ]);
    type Combined = { state: string; total_count: number; statuses: { context: string; state: string }[] };
    const combined = async () => (await rest(world, 'GET', `/commits/${head}/status`)).data as Combined;
    let status = await combined();
    assert.deepEqual(status.statuses.map((s) => `${s.context}:${s.state}`).sort(), ['deploy:pending', 'lint:success']);
    assert.equal(status.state, 'pending', 'a pending context makes the combined state pending');
    world.server.addCheckRun(head, { name: 'deploy', conclusion: 'success', type: 'status' });
    status = await combined();
    assert.equal(status.state, 'success');
    assert.equal(status.total_count, 2);
    world.server.addCheckRun(head, { name: 'deploy', conclusion: 'error', type: 'status' });
    assert.equal((await combined()).state, 'failure', 'an error makes the combined state failure');
    const every = (await rest(world, 'GET', `/commits/${head}/statuses`)).data as { context: string; state: string }[];
    assert.equal(every.length, 5, 'GET /statuses lists every status');
    assert.equal(every[0]?.state, 'error', 'newest first');
  });
});

describe('GitHub mode: a fork’s pull request in REST', function () {
  this.timeout(180_000);

  it('names the fork in head.repo, head.label and head.user, and listPulls filters by the fork’s owner:branch', async () => {
    const world = await GitHubWorld.start();
    try {
      world.server.pushFork('mallory/app', 'feature', { 'docs/evil.md': 'x\n' });
      const pr = world.server.openPull({ head: 'feature', fork: 'mallory/app', user: 'mallory' });
      world.server.push('feature', { 'docs/own.md': 'own\n' });
      const own = world.server.openPull({ head: 'feature' });
      type Pull = {
        number: number;
        head: { label: string; ref: string; user: { login: string }; repo: { full_name: string; fork: boolean; owner: { login: string } } };
      };
      const detail = (await rest(world, 'GET', `/pulls/${pr}`)).data as Pull;
      assert.equal(detail.head.repo.full_name, 'mallory/app');
      assert.equal(detail.head.repo.fork, true);
      assert.equal(detail.head.repo.owner.login, 'mallory');
      assert.equal(detail.head.label, 'mallory:feature');
      assert.equal(detail.head.user.login, 'mallory');
      const mine = (await rest(world, 'GET', `/pulls/${own}`)).data as Pull;
      assert.equal(mine.head.repo.full_name, 'acme/app');
      assert.equal(mine.head.repo.fork, false);
      const fromFork = (await rest(world, 'GET', '/pulls?head=mallory:feature')).data as Pull[];
      assert.deepEqual(
        fromFork.map((p) => p.number),
        [pr],
      );
      const fromHere = (await rest(world, 'GET', '/pulls?head=acme:feature')).data as Pull[];
      assert.deepEqual(
        fromHere.map((p) => p.number),
        [own],
      );
      assert.deepEqual(world.server.violations, []);
    } finally {
      await world.stop();
    }
  });
});

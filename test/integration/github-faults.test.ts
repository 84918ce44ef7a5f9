// Faults in GitHub mode: every fault the test server can inject, during every
// kind of call a cycle makes. Nothing is merged twice or lost, retries stay in
// their budget, giving up says why, and the cycle continues with what it read.
// Then restarts: a new process never repeats a comment, label, issue or merge.
import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import type { FaultKind } from '../../fixtures/github/server';
import { GitHubWorld } from '../../fixtures/github/world';
import { present } from '../support/builders';

// Pull requests, their mergeability and reviews are read by one GraphQL query (openPulls), the target's commits by another.
const CALLS: { name: string; method: string; path: RegExp; body?: RegExp }[] = [
  { name: 'list pull requests', method: 'POST', path: /\/graphql$/, body: /query openPulls/ },
  { name: 'read a pull request (mergeability)', method: 'POST', path: /\/graphql$/, body: /query openPulls/ },
  { name: 'read reviews', method: 'POST', path: /\/graphql$/, body: /query openPulls/ },
  { name: 'read check runs', method: 'GET', path: /\/check-runs$/ },
  // Commit statuses come with the check rollup (GraphQL): the pull request's files are the other REST read per change.
  { name: 'read the files of a pull request', method: 'GET', path: /\/pulls\/\d+\/files$/ },
  { name: 'read the target commits', method: 'POST', path: /\/graphql$/, body: /query targetHistory/ },
  { name: 'merge', method: 'PUT', path: /\/merge$/ },
  { name: 'comment', method: 'POST', path: /\/comments$/ },
  { name: 'label', method: 'POST', path: /\/labels$/ },
];

const KINDS: FaultKind[] = ['error500', 'rate-limit', 'rate-limit-429', 'secondary', 'slow', 'drop', 'drop-after'];

// Each fault gets a world of its own, copied from one prepared template: a case
// costs the same wherever it runs in the matrix (one shared world re-read a
// growing history every cycle, and the matrix outgrew its single timeout on a
// busy machine), and each case has its own generous timeout.
describe('GitHub mode: every fault during every kind of call', function () {
  this.timeout(180_000);
  const MOVED = 'refs/test/main-moved';
  let template: string;
  let world: GitHubWorld | undefined;

  before(() => {
    // A docs change to merge, a change that will conflict, and the commit that moves main under it.
    template = GitHubWorld.prepare((origin) => {
      origin.commit('docs/f', { 'docs/f.md': 'f\n' }, 'docs/f', 'main');
      origin.commit('docs/c', { 'README.md': 'clash\n' }, 'docs/c', 'main');
      const moved = origin.commit('main-moved', { 'README.md': 'main moved\n' }, 'main moves', 'main');
      origin.git(['update-ref', MOVED, moved]);
      origin.git(['update-ref', '-d', 'refs/heads/main-moved']);
    });
  });

  after(() => rmSync(template, { recursive: true, force: true }));

  afterEach(async () => {
    if (!world) return;
    const { violations } = world.server;
    await world.stop();
    world = undefined;
    assert.deepEqual(violations, [], 'every response conforms to GitHub’s OpenAPI description');
  });

  for (const kind of KINDS) {
    for (const call of CALLS) {
      it(`${kind} on ${call.name}: nothing merged twice, nothing lost`, async () => {
        world = await GitHubWorld.start({ from: template });
        const w = world;
        // A cycle before the fault, so that the faulted one reads with a warm cache (conditional requests), as a running controller does.
        await w.cycle();
        // The docs change to merge, and a conflicting one so that hygiene comments and labels.
        const pr = w.pullFrom('docs/f');
        const clash = w.pullFrom('docs/c', { approve: false });
        w.moveBranch('main', w.origin.git(['rev-parse', MOVED]).trim());
        w.advance(60_000);
        w.server.faults = [{ kind, method: call.method, path: call.path, ...(call.body ? { body: call.body } : {}), delayMs: 200 }];
        const before = w.server.requests.length;
        try {
          await w.cycle();
        } catch (error) {
          // Only a failed read of the pull request list stops a cycle, and it says what failed.
          assert.equal(call.name, 'list pull requests', `${kind} on ${call.name}: ${(error as Error).message}`);
        }
        assert.deepEqual(w.server.faults, [], `the fault was injected: the cycle made a ${call.method} matching ${call.path}`);
        const cycleRequests = w.server.requests.slice(before);
        const faulted = cycleRequests.find((r) => r.fault);
        const hits = faulted ? cycleRequests.filter((r) => r.method === faulted.method && r.path === faulted.path) : [];
        if (kind !== 'slow' && kind !== 'drop-after')
          assert.ok(hits.length >= 1 && hits.length <= 4, `${kind} on ${call.name}: ${hits.length} attempts, within the retry budget`);
        w.server.faults = [];
        // At least one clean cycle after the fault, as many as a merge needs (at most three).
        for (let i = 0; i === 0 || (i < 3 && !w.merged(pr)); i += 1) {
          w.advance(60_000);
          await w.cycle();
        }
        assert.ok(w.merged(pr), `#${pr} merges after ${kind} on ${call.name}`);
        assert.equal(w.mergesOf(pr), 1, `#${pr} merged exactly once`);
        assert.ok(w.server.item(clash)?.labels.includes('needs-restack'), `#${clash} labelled after ${kind} on ${call.name}`);
        assert.equal(w.server.item(clash)?.comments.length, 1, `one restack comment on #${clash} after ${kind} on ${call.name}`);
      });
    }
  }
});

describe('GitHub mode: retries exhausted, and restarts', function () {
  this.timeout(180_000);
  let world: GitHubWorld;

  afterEach(async () => {
    assert.deepEqual(world.server.violations, [], 'every response conforms to GitHub’s OpenAPI description');
    await world.stop();
  });

  it('gives up with a clear message when retries are exhausted, and the next cycle carries on', async () => {
    world = await GitHubWorld.start();
    const pr = world.pull('docs/a', { 'docs/a.md': 'a\n' });
    world.server.faults = [{ kind: 'error500', method: 'POST', path: /\/graphql$/, times: 10 }];
    await assert.rejects(world.cycle(), /reading the open pull requests of acme\/app: GitHub answered 500 after retries/);
    assert.equal(
      world.server.requests.filter((r) => r.path.endsWith('/graphql') && r.status === 500).length,
      4,
      'one try and three retries',
    );
    world.server.faults = [{ kind: 'rate-limit', method: 'POST', path: /\/graphql$/, times: 10 }];
    await assert.rejects(world.cycle(), /rate limit is exhausted/);
    // A per-change read that keeps failing leaves that change waiting; the cycle goes on.
    world.server.faults = [{ kind: 'error500', method: 'GET', path: /\/check-runs$/, times: 10 }];
    const report = await world.cycle();
    assert.equal(world.merged(pr), false);
    assert.ok(report.result.queues.docs?.[0]?.reasons.some((r) => r.code === 'mergeability-unknown'));
    assert.ok(world.logs.some((l) => /reading the checks of #1: GitHub answered 500 after retries/.test(l)));
    world.server.faults = [];
    await world.cycle();
    assert.ok(world.merged(pr));
    assert.ok(!world.logs.join('\n').includes(world.server.token), 'the token is never logged');
  });

  it('never repeats an issue, comment, label or merge across restarts, even when answers were lost', async () => {
    world = await GitHubWorld.start();
    const culprit = world.pull('agent/web-break', { 'web/break.js': 'b\n' });
    await world.cycle();
    world.server.setChecks(world.server.item(culprit)?.pull?.mergeCommit as string, [
      { name: 'test-web', conclusion: 'failure', output: 'FAIL' },
    ]);
    const clash = world.pull('docs/clash', { 'README.md': 'clash\n' }, { approve: false });
    const moved = world.server.push('main', { 'README.md': 'moved\n' }, 'main moves');
    // web is still broken after main moves on: its check is red at the new head too.
    world.server.setChecks(moved, [{ name: 'test-web', conclusion: 'failure', output: 'FAIL' }]);
    // GitHub creates the fix issue and the comment, but the answers never arrive.
    world.server.faults = [
      { kind: 'drop-after', method: 'POST', path: /\/issues$/ },
      { kind: 'drop-after', method: 'POST', path: /\/comments$/ },
    ];
    world.advance(60_000);
    await world.cycle();
    for (let restart = 0; restart < 3; restart += 1) {
      await world.open();
      world.advance(60_000);
      await world.cycle();
    }
    const fixIssues = world.server.issues().filter((i) => i.labels.includes('agent'));
    assert.equal(fixIssues.length, 1, 'one fix issue');
    const incident = present(Object.values(world.recorded().incidents)[0], 'the incident');
    assert.equal(incident.retries, 0, 'a lost answer is not a failed attempt');
    assert.equal(world.server.item(clash)?.comments.length, 1, 'one restack comment');
    assert.deepEqual(world.server.item(clash)?.labels, ['needs-restack']);
    const status = world.server.issues().filter((i) => i.title === 'Build Master status');
    assert.equal(status.length, 1, 'one status issue');
    const digests = present(status[0], 'the status issue').comments.map((c) => c.body);
    assert.equal(new Set(digests).size, digests.length, 'no digest posted twice');
    assert.equal(world.mergesOf(culprit), 1);
  });
});

describe('GitHub mode: the command line', function () {
  this.timeout(120_000);

  it('syncs with --forge github and GITHUB_TOKEN, explains a PR by number, and refuses without a token', async () => {
    const { runCli } = await import('../support/cli');
    const world = await GitHubWorld.start();
    try {
      const ok = world.pull('docs/a', { 'docs/a.md': 'a\n' });
      const waiting = world.pull('docs/b', { 'docs/b.md': 'b\n' }, { approve: false });
      const env = { ...process.env, GITHUB_TOKEN: world.server.token };
      const sync = await runCli(['sync', '--forge', 'github', '--json', '--repo', world.workspace], { env });
      assert.equal(sync.code, 0, sync.stderr);
      const doc = JSON.parse(sync.stdout) as { decisions: { kind: string; change?: string }[] };
      assert.ok(doc.decisions.some((d) => d.kind === 'merge' && d.change === `#${ok}`));
      assert.ok(world.merged(ok));
      const explain = await runCli(['explain', String(waiting), '--forge', 'github', '--repo', world.workspace], { env });
      assert.equal(explain.code, 0, explain.stderr);
      assert.match(explain.stdout, /0 of 1 required approvals/);
      assert.ok(
        !`${sync.stdout}${sync.stderr}${explain.stdout}${explain.stderr}`.includes(world.server.token),
        'the token is never printed',
      );
      const without = { ...env, GITHUB_TOKEN: '' };
      const refused = await runCli(['sync', '--forge', 'github', '--repo', world.workspace], { env: without });
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /GitHub mode needs a token/);
      assert.deepEqual(world.server.violations, []);
    } finally {
      await world.stop();
    }
  });
});

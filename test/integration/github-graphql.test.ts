// GitHub mode's GraphQL observe against the test server's GraphQL endpoint
// (executed against GitHub's real schema): pagination, forks never stacking,
// focused reads, the flaky signal the rollup cannot show, and what an idle
// cycle costs.
import { strict as assert } from 'node:assert';
import type { LoggedRequest } from '../../fixtures/github/server';
import { GitHubWorld } from '../../fixtures/github/world';
import type { Change } from '../../extension/core/model';
import type { Observation } from '../../extension/ports';
import { present } from '../support/builders';
import { GitHubForge } from '../../extension/forge/github/forge';
import { createClient, ResponseCache } from '../../extension/github/client';
import { OPEN_PULLS_QUERY, type OpenPullsData } from '../../extension/github/graphql';

/** Opens `count` pull requests in `lane`, from branches made straight in the origin (no approval: nothing merges). */
function openMany(world: GitHubWorld, lane: string, count: number): number[] {
  for (let i = 0; i < count; i += 1)
    world.origin.commit(`agent/${lane}-${i}`, { [`${lane}/change-${i}.txt`]: `${i}\n` }, `${lane} ${i}`, 'main');
  world.server.refsChanged();
  return Array.from({ length: count }, (_, i) => world.server.openPull({ head: `agent/${lane}-${i}`, title: `${lane} change ${i}` }));
}

const graphql = (requests: LoggedRequest[]) => requests.filter((r) => r.method === 'POST' && r.path === '/graphql');

function change(changes: readonly Change[], number: number): Change {
  return present(
    changes.find((c) => c.id === `#${number}`),
    `#${number} among the changes`,
  );
}

describe('GitHub mode: observe through GraphQL', function () {
  this.timeout(180_000);
  let world: GitHubWorld;

  afterEach(async () => {
    assert.deepEqual(world.server.violations, [], 'every REST response conforms to GitHub’s OpenAPI description');
    await world.stop();
  });

  it('the test server answers GraphQL like GitHub: 401 on a bad token, a field that does not exist refused, points from its own budget', async () => {
    world = await GitHubWorld.start();
    const post = async (query: string, token = world.server.token) => {
      const response = await fetch(`${world.server.url}/graphql`, {
        method: 'POST',
        headers: { authorization: `bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ query }),
      });
      return {
        status: response.status,
        headers: response.headers,
        body: (await response.json()) as { data?: unknown; errors?: { message: string }[] },
      };
    };
    assert.equal((await post('{ rateLimit { cost } }', 'ghs_wrong')).status, 401);
    const misspelt = await post('{ repository(owner: "acme", name: "app") { nameWithOwnr } }');
    assert.equal(misspelt.status, 200);
    assert.equal(misspelt.body.data, undefined);
    assert.match(misspelt.body.errors?.[0]?.message ?? '', /Cannot query field "nameWithOwnr" on type "Repository"/);
    const first = await post('{ repository(owner: "acme", name: "app") { nameWithOwner } rateLimit { cost remaining limit } }');
    assert.deepEqual(first.body.data, { repository: { nameWithOwner: 'acme/app' }, rateLimit: { cost: 1, remaining: 4999, limit: 5000 } });
    assert.equal(first.headers.get('x-ratelimit-resource'), 'graphql');
    assert.equal(first.headers.get('x-ratelimit-remaining'), '4999');
    assert.deepEqual(
      world.server.requests.map((r) => [r.status, r.cost]),
      [
        [401, undefined],
        [200, 0],
        [200, 1],
      ],
    );
  });

  it('reads 250 open pull requests in three pages of 100, and sees every one', async () => {
    world = await GitHubWorld.start();
    const numbers = openMany(world, 'docs', 250);
    const from = world.server.requests.length;
    const report = await world.cycle();
    const seen = new Set(report.snapshotChanges.map((c) => c.id));
    assert.equal(seen.size, 250);
    for (const number of numbers) assert.ok(seen.has(`#${number}`), `#${number} was read`);
    // Three pages of pull requests and one read of the target, each costing points by GitHub's formula.
    const reads = graphql(world.server.requests.slice(from));
    assert.equal(reads.length, 4);
    assert.deepEqual(
      reads.map((r) => r.cost),
      [4, 4, 4, 1],
    );
    // Every page carried what the gate needs: files, mergeability, the head's checks.
    const last = change(report.snapshotChanges, present(numbers.at(-1), 'the last number'));
    assert.deepEqual(last.files, ['docs/change-249.txt']);
    assert.equal(last.mergeable, 'mergeable');
    assert.equal(last.mergeState, 'clean');
    assert.deepEqual(last.checks.map((c) => `${c.name}:${c.conclusion}`).sort(), ['lint:success', 'test-api:success', 'test-web:success']);
  });

  it('the open pull requests query pages with @octokit/plugin-paginate-graphql as it is', async () => {
    world = await GitHubWorld.start();
    const numbers = openMany(world, 'docs', 101);
    const { api } = createClient({
      baseUrl: world.server.url,
      token: world.server.token,
      cache: new ResponseCache(),
      log: () => undefined,
    });
    const paged = await api.graphql.paginate<OpenPullsData>(OPEN_PULLS_QUERY, { owner: 'acme', name: 'app' });
    assert.deepEqual(
      paged.repository?.pullRequests.nodes.map((p) => p?.number),
      numbers,
    );
    assert.equal(graphql(world.server.requests).length, 2);
  });

  it('never takes a fork’s pull request for a stack parent, whatever its branch is named', async () => {
    world = await GitHubWorld.start();
    // Upstream: a branch agent/base (no pull request of its own) and a pull request stacked on it.
    world.server.push('agent/base', { 'docs/base.md': 'base\n' });
    const stacked = world.pull('agent/top', { 'docs/top.md': 'top\n' }, { base: 'agent/base' });
    // A fork names its branch agent/base too, and opens a pull request from it into main.
    world.server.pushFork('mallory/app', 'agent/base', { 'docs/evil.md': 'evil\n' });
    const fork = world.server.openPull({ head: 'agent/base', fork: 'mallory/app', title: 'from a fork' });
    let report = await world.cycle();
    const forked = change(report.snapshotChanges, fork);
    assert.equal(forked.headRepo, 'mallory/app');
    assert.equal(forked.stackParent, undefined);
    assert.ok(
      report.snapshotChanges.every((c) => c.stackParent !== `#${fork}`),
      'no change is stacked on the fork',
    );
    assert.equal(
      report.snapshotChanges.find((c) => c.id === `#${stacked}`),
      undefined,
      `#${stacked} is on a branch no pull request of this repository heads: not a candidate`,
    );
    // Once upstream opens its own pull request from agent/base, that one is the parent.
    const upstream = world.pullFrom('agent/base');
    world.advance(60_000);
    report = await world.cycle();
    assert.equal(change(report.snapshotChanges, stacked).stackParent, `#${upstream}`);
    assert.equal(change(report.snapshotChanges, fork).stackParent, undefined);
    assert.equal(change(report.snapshotChanges, upstream).headRepo, undefined);
  });

  it('a focused observe re-reads only the named pull requests and carries the rest over', async () => {
    world = await GitHubWorld.start();
    const [first, second, third] = openMany(world, 'docs', 3) as [number, number, number];
    await world.cycle();
    const { forge, policy } = world.session.deps;
    world.server.setLabels(second, ['blocked']);
    world.server.setLabels(first, ['not-read-yet']);
    world.server.closeItem(third);
    const from = world.server.requests.length;
    const focused: Observation = await forge.observe(policy, world.state(), [], {
      focus: { changes: [`#${second}`, `#${third}`], target: false, issues: false },
    });
    const requests = world.server.requests.slice(from);
    assert.equal(requests.length, 1, `one request: ${JSON.stringify(requests)}`);
    assert.equal(graphql(requests).length, 1);
    assert.deepEqual(change(focused.changes, second).labels, ['blocked'], 'the named pull request is read again');
    assert.deepEqual(change(focused.changes, first).labels, [], 'the others are carried over from the last full read');
    assert.equal(
      focused.changes.find((c) => c.id === `#${third}`),
      undefined,
      'a closed pull request drops out',
    );
    assert.ok(focused.targetCommits.length > 0, 'the target is carried over');
    // A full observe reads everything again.
    const full = await forge.observe(policy, world.state(), [], {});
    assert.deepEqual(change(full.changes, first).labels, ['not-read-yet']);
  });

  it('when the target moves, one slim read refreshes every carried-over mergeability and re-reads what changed without a delivery', async () => {
    world = await GitHubWorld.start();
    const [first, second, third] = openMany(world, 'docs', 3) as [number, number, number];
    await world.cycle();
    const { forge, policy } = world.session.deps;
    // A delivery about the target that did not move it (its checks): the target alone is read again.
    let from = world.server.requests.length;
    await forge.observe(policy, world.state(), [], { focus: { changes: [], target: true, issues: false } });
    assert.deepEqual(
      world.server.requests.slice(from).map((r) => `${r.method} ${r.path}`),
      ['POST /graphql'],
      'the target read alone, no merge states: they change only when the target moves',
    );
    // A person pushes onto main a file the first pull request also changes: GitHub finds it conflicting, and sends no delivery for that.
    world.advance(5000);
    world.server.push('main', { 'docs/change-0.txt': 'changed on main\n' }, 'a person edits docs', 'main');
    // A label put on the second whose delivery never came.
    world.server.setLabels(second, ['lost-delivery']);
    from = world.server.requests.length;
    const moved: Observation = await forge.observe(policy, world.state(), [], { focus: { changes: [], target: true, issues: false } });
    const requests = graphql(world.server.requests.slice(from));
    assert.equal(change(moved.changes, first).mergeable, 'conflicting', 'the carried-over mergeability is GitHub’s new one');
    assert.equal(change(moved.changes, third).mergeable, 'mergeable');
    assert.deepEqual(change(moved.changes, second).labels, ['lost-delivery'], 'a pull request updated without a delivery is read again');
    const cost = requests.reduce((n, r) => n + (r.cost ?? 0), 0);
    assert.ok(
      requests.length <= 3 && cost <= 3,
      `the states (1 point), the target and the one re-read: ${requests.length} requests, ${cost} points`,
    );
  });

  it('a focused observe in a new process, with no full read before it, reads everything', async () => {
    world = await GitHubWorld.start();
    const [first] = openMany(world, 'docs', 2) as [number, number];
    const { forge, policy } = world.session.deps;
    const observed = await forge.observe(policy, undefined, [], { focus: { changes: [`#${first}`], target: false, issues: false } });
    assert.equal(observed.changes.length, 2);
    assert.ok(observed.targetCommits.length > 0);
  });

  it('still sees a check that failed and then passed on a re-run, reading every run once its rollup settles', async () => {
    world = await GitHubWorld.start();
    // Not approved: it stays open, so its checks are what each cycle reads.
    const pr = world.pull('web/flaky', { 'web/flaky.js': 'f\n' }, { approve: false });
    const head = world.server.pullHead(pr);
    world.server.setChecks(head, [
      { name: 'test-web', conclusion: 'failure', output: 'FAIL web/flaky.test.js' },
      { name: 'test-api', conclusion: 'success' },
    ]);
    let report = await world.cycle();
    assert.equal(change(report.snapshotChanges, pr).checks.find((c) => c.name === 'test-web')?.conclusion, 'failure');
    // A re-run of the same sha passes: the rollup shows only the newest run, REST's filter=all shows both.
    world.server.addCheckRun(head, { name: 'test-web', conclusion: 'success' });
    world.advance(60_000);
    const from = world.server.requests.length;
    report = await world.cycle();
    const web = world.server.requests.slice(from).filter((r) => r.path.endsWith(`/commits/${head}/check-runs`));
    assert.equal(web.length, 1, 'the changed rollup is read through REST once');
    const check = present(
      change(report.snapshotChanges, pr).checks.find((c) => c.name === 'test-web'),
      'test-web',
    );
    assert.equal(check.conclusion, 'success');
    assert.equal(check.passedOnRerun, true);
    // Nothing changed since: no check is read again.
    world.advance(60_000);
    const idleFrom = world.server.requests.length;
    await world.cycle();
    assert.deepEqual(
      world.server.requests.slice(idleFrom).filter((r) => r.path.includes('/check-runs') || r.path.endsWith('/status')),
      [],
    );
  });

  it('a pull request GitHub could not answer in full waits, mergeability unknown; an answer without data fails the cycle saying so', async () => {
    world = await GitHubWorld.start();
    const pr = world.pull('docs/partial', { 'docs/partial.md': 'p\n' });
    const other = world.pull('docs/whole', { 'docs/whole.md': 'w\n' });
    world.server.graphqlFailing.add(pr);
    const report = await world.cycle();
    assert.equal(change(report.snapshotChanges, pr).mergeable, 'unknown');
    assert.ok(report.result.queues.docs?.some((q) => q.change === `#${pr}` && q.reasons.some((r) => r.code === 'mergeability-unknown')));
    assert.equal(world.merged(pr), false, 'not merged on a partial read');
    assert.ok(world.merged(other), 'the others are read and merged');
    assert.ok(
      world.logs.some((l) =>
        /GraphQL openPulls\): Resource not accessible by integration \(at repository\.pullRequests\.nodes\.\d+\./.test(l),
      ),
      world.logs.join('\n'),
    );
    // An answer with errors and no data: the cycle stops with a message naming the query and GitHub's words, no stack.
    world.server.graphqlFailing.clear();
    world.server.faults = [{ kind: 'graphql-error', method: 'POST', path: /\/graphql$/, body: /query openPulls/ }];
    world.advance(60_000);
    await assert.rejects(world.cycle(), (error: Error) => {
      assert.match(
        error.message,
        /^reading the open pull requests of acme\/app: GitHub's GraphQL API answered the openPulls query with errors: This query requests up to 501,000 possible nodes/,
      );
      assert.doesNotMatch(error.message, /\n\s+at /);
      return true;
    });
    world.advance(60_000);
    await world.cycle();
    assert.ok(world.merged(pr), 'merged once GitHub answers in full');
  });

  it('after a whole read of the issues, reads what changed since: new issues appear, closed ones leave', async () => {
    world = await GitHubWorld.start();
    const old = world.server.openIssue({ title: 'an old issue' });
    for (let i = 0; i < 3; i += 1) {
      await world.cycle();
      world.advance(60_000);
    }
    const forge = world.session.deps.forge;
    assert.ok(forge instanceof GitHubForge);
    const open = () => (forge.observed?.issues ?? []).filter((i) => !i.pull_request).map((i) => i.title);
    assert.ok(open().includes('an old issue'));
    const fresh = world.server.openIssue({ title: 'a new issue' });
    world.server.closeItem(old);
    const from = world.server.requests.length;
    await world.cycle();
    const reads = world.server.requests.slice(from).filter((r) => r.method === 'GET' && r.path.endsWith('/issues'));
    assert.equal(reads.length, 1, 'one read of what changed');
    assert.ok(open().includes('a new issue'));
    assert.ok(!open().includes('an old issue'), 'a closed issue leaves');
    world.server.setLabels(fresh, ['bug']);
    world.advance(60_000);
    await world.cycle();
    assert.deepEqual(
      forge.observed?.issues.find((i) => i.number === fresh)?.labels.map((l) => (typeof l === 'string' ? l : l.name)),
      ['bug'],
    );
  });

  it('an idle cycle sends no request per pull request: its GraphQL pages, the target and the issues', async () => {
    world = await GitHubWorld.start();
    openMany(world, 'docs', 120);
    openMany(world, 'web', 30);
    // Warm: the first cycle reads everything, the next ones settle the issue list to what changed since.
    for (let i = 0; i < 3; i += 1) {
      await world.cycle();
      world.advance(60_000);
    }
    const from = world.server.requests.length;
    await world.cycle();
    const requests = world.server.requests.slice(from);
    const shapes = requests.map((r) => `${r.method} ${r.path.replace(/\d+/g, 'N')}`);
    assert.deepEqual(
      [...new Set(shapes)].sort(),
      ['GET /repos/acme/app/issues', 'POST /graphql'],
      `an idle cycle's requests: ${shapes.join(', ')}`,
    );
    // Two pages of pull requests and the target; the issues changed since the last whole read: none (304).
    assert.equal(graphql(requests).length, 3);
    assert.ok(requests.filter((r) => r.path.endsWith('/issues')).every((r) => r.status === 304));
    const points =
      graphql(requests).reduce((n, r) => n + (r.cost ?? 0), 0) + world.server.rateLimited(requests.filter((r) => r.cost === undefined));
    assert.ok(points <= 10, `${points} points`);
  });
});

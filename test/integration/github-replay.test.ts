// Build Master's GitHub client against conversations recorded on the real
// GitHub (@octokit/fixtures), replayed in order by fixtures/github/replay.ts:
// pagination by link headers, commit statuses, and GitHub's own 4xx bodies
// turned into messages a person can act on. Every expectation is read from the
// recording, so the test says "what GitHub sent", not what we think it sends.
import assert from 'node:assert/strict';
import { createClient, describeGitHubError, ResponseCache, type GitHubClient } from '../../extension/github/client';
import { ReplayServer, type RecordedExchange } from '../../fixtures/github/replay';

const TOKEN = `ghp_${'Replay0Token1Never2Logged3'.padEnd(36, 'x')}`;
const OWNER = 'octokit-fixture-org';

function clientFor(replay: ReplayServer, logs: string[]): GitHubClient {
  return createClient({ baseUrl: replay.url, token: TOKEN, cache: new ResponseCache(), log: (m) => logs.push(m), retries: 0 });
}

/** The body GitHub answered with in the recording. */
function recordedBody(exchange: RecordedExchange | undefined): unknown {
  assert.ok(exchange, 'the scenario has this exchange');
  return exchange.response;
}

describe('recorded GitHub replay (@octokit/fixtures)', function () {
  this.timeout(60_000);
  let replay: ReplayServer;
  const logs: string[] = [];
  afterEach(async () => {
    await replay.stop();
    assert.ok(!logs.some((line) => line.includes(TOKEN)), 'no log line carries the token');
    logs.length = 0;
  });

  it('paginate-issues: follows the link headers through every recorded page and reads every issue', async () => {
    replay = await ReplayServer.start('paginate-issues');
    const { api, budget } = clientFor(replay, logs);
    const issues = await api.paginate(api.issues.listForRepo, { owner: OWNER, repo: 'paginate-issues', per_page: 3 });
    const recorded = replay.exchanges.flatMap((e) => recordedBody(e) as { number: number; title: string }[]);
    assert.ok(replay.exchanges.length > 1, 'the recording has several pages');
    assert.deepEqual(
      issues.map((i) => [i.number, i.title]),
      recorded.map((i) => [i.number, i.title]),
    );
    assert.deepEqual(replay.mismatches, []);
    assert.ok(replay.done, 'every recorded page was read, in order');
    assert.ok(
      replay.requests.every((r) => r.authorization === `token ${TOKEN}`),
      'every page was asked for with the token, as recorded',
    );
    // The budget is what GitHub's last answer said.
    const last = replay.exchanges.at(-1)?.headers ?? {};
    const rest = budget.snapshot().rest;
    assert.ok(rest, 'the budget has the REST answer');
    assert.equal(rest.limit, Number(last['x-ratelimit-limit']));
    assert.equal(rest.remaining, Number(last['x-ratelimit-remaining']));
    assert.equal(rest.used, Number(last['x-ratelimit-used']));
    assert.equal(budget.snapshot().lastMinute.rest, replay.exchanges.length, 'one point a page');
  });

  it("create-status: commit statuses are written as recorded and read back through the combined status Build Master's gate reads", async () => {
    replay = await ReplayServer.start('create-status');
    const { api } = clientFor(replay, logs);
    const [failure, success, listed, combined] = replay.exchanges;
    const ref = '0000000000000000000000000000000000000001';
    for (const write of [failure, success]) {
      const body = write?.body as { state: 'failure' | 'success'; target_url: string; description: string; context: string };
      const created = await api.repos.createCommitStatus({ owner: OWNER, repo: 'create-status', sha: ref, ...body });
      assert.equal(created.status, write?.status);
      assert.equal(created.data.state, body.state);
    }
    // What was sent is what was recorded.
    assert.deepEqual(
      replay.requests.slice(0, 2).map((r) => JSON.parse(r.body) as unknown),
      [failure?.body, success?.body],
    );
    const statuses = await api.repos.listCommitStatusesForRef({ owner: OWNER, repo: 'create-status', ref });
    assert.deepEqual(
      statuses.data.map((s) => [s.context, s.state]),
      (recordedBody(listed) as { context: string; state: string }[]).map((s) => [s.context, s.state]),
    );
    const status = await api.repos.getCombinedStatusForRef({ owner: OWNER, repo: 'create-status', ref });
    const recorded = recordedBody(combined) as {
      state: string;
      total_count: number;
      statuses: { context: string; state: string; description: string }[];
    };
    assert.equal(status.data.state, recorded.state);
    assert.equal(status.data.total_count, recorded.total_count);
    assert.deepEqual(
      status.data.statuses.map((s) => [s.context, s.state, s.description]),
      recorded.statuses.map((s) => [s.context, s.state, s.description]),
    );
    assert.ok(replay.done);
  });

  it('errors: a recorded 422 "Validation Failed" becomes a message naming the resource, the field and what is wrong with it', async () => {
    replay = await ReplayServer.start('errors');
    const { api } = clientFor(replay, logs);
    const [exchange] = replay.exchanges;
    const sent = exchange?.body as { name: string; color: string };
    const error = await api.issues.createLabel({ owner: OWNER, repo: 'errors', ...sent }).then(
      () => assert.fail('GitHub refused this label in the recording'),
      (e: unknown) => e,
    );
    const message = describeGitHubError(error, `creating the label ${sent.name}`);
    const recorded = recordedBody(exchange) as { message: string; errors: { resource: string; field: string; code: string }[] };
    assert.ok(message.startsWith(`creating the label ${sent.name}: `), message);
    assert.ok(message.includes(recorded.message), `names GitHub's answer "${recorded.message}": ${message}`);
    for (const problem of recorded.errors) {
      for (const word of [problem.resource, problem.field, problem.code]) assert.ok(message.includes(word), `names "${word}": ${message}`);
    }
    assert.ok(message.includes(String(exchange?.status)), `names the status: ${message}`);
    assert.ok(!message.includes('{"'), `no raw JSON for a person to decode: ${message}`);
    assert.ok(!message.includes(TOKEN));
    assert.ok(replay.done, 'a 422 is an answer: it is not retried');
  });

  it('branch-protection: a recorded 404 keeps GitHub\'s reason (not only "not found")', async () => {
    replay = await ReplayServer.start('branch-protection', { take: 1 });
    const { api } = clientFor(replay, logs);
    const error = await api.repos.getBranchProtection({ owner: OWNER, repo: 'branch-protection', branch: 'main' }).then(
      () => assert.fail('the recording answers 404'),
      (e: unknown) => e,
    );
    const recorded = recordedBody(replay.exchanges[0]) as { message: string };
    const message = describeGitHubError(error, 'reading the protection of main');
    assert.ok(message.includes(recorded.message), `names GitHub's reason "${recorded.message}": ${message}`);
    assert.ok(message.includes('404'), message);
    assert.ok(!message.includes(TOKEN));
    assert.ok(replay.done, 'a 404 is an answer: it is not retried');
  });
});

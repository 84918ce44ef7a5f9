// Pacing under GitHub's secondary limits, counted where GitHub counts them: at
// the server. A small HTTP server records when each request arrives and how
// many are in flight; the real client (createClient) sends bursts at it.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, ResponseCache, type PacingOptions } from '../../extension/github/client';
import { readBudget } from '../../extension/github/budget';
import { budgetLine } from '../../extension/protocol/budget';
import { runCli } from '../support/cli';
import { GitHubWorld } from '../../fixtures/github/world';

interface Arrival {
  method: string;
  path: string;
  at: number;
}

/** Answers every request after `delayMs`, like GitHub with its rate-limit headers; counts requests in flight. */
class CountingServer {
  readonly arrivals: Arrival[] = [];
  inFlight = 0;
  peak = 0;
  url = '';
  private server?: Server;
  remaining = 5000;

  constructor(private readonly delayMs: number) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.arrivals.push({ method: req.method ?? 'GET', path: req.url ?? '/', at: performance.now() });
      this.inFlight += 1;
      this.peak = Math.max(this.peak, this.inFlight);
      req.resume();
      setTimeout(() => {
        this.inFlight -= 1;
        this.remaining -= 1;
        const graphql = req.url === '/graphql';
        res.writeHead(req.method === 'GET' ? 200 : 201, {
          'content-type': 'application/json',
          'x-ratelimit-limit': '5000',
          'x-ratelimit-remaining': String(this.remaining),
          'x-ratelimit-used': String(5000 - this.remaining),
          'x-ratelimit-reset': '1800000000',
          'x-ratelimit-resource': graphql ? 'graphql' : 'core',
        });
        res.end(
          JSON.stringify(
            graphql
              ? {
                  data: {
                    viewer: { login: 'octocat' },
                    rateLimit: { limit: 5000, cost: 1, remaining: 4321, resetAt: '2027-01-15T08:00:00Z' },
                  },
                }
              : { id: this.arrivals.length },
          ),
        );
      }, this.delayMs);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** The most points that arrived in any `windowMs` (a read 1 point, a write 5). */
  busiestWindow(windowMs: number, points: (a: Arrival) => number = (a) => (a.method === 'GET' ? 1 : 5)): number {
    return Math.max(
      0,
      ...this.arrivals.map((first) =>
        this.arrivals.filter((a) => a.at >= first.at && a.at < first.at + windowMs).reduce((n, a) => n + points(a), 0),
      ),
    );
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

function client(url: string, pacing: PacingOptions, logs: string[] = [], stateDir?: string) {
  return createClient({
    baseUrl: url,
    // Each test its own token: pacing is shared per identity, as GitHub counts it.
    token: `ghp_pacing${Math.random().toString(36).slice(2)}`,
    cache: new ResponseCache(stateDir ? join(stateDir, 'github-cache.json') : undefined),
    log: (m) => logs.push(m),
    writeIntervalMs: 0,
    pacing,
    ...(stateDir ? { stateDir } : {}),
  });
}

describe('GitHub pacing (secondary limits)', function () {
  this.timeout(120_000);
  let server: CountingServer;
  afterEach(async () => server.stop());

  it('keeps at most maxConcurrent requests in flight, however many reads a cycle starts at once', async () => {
    server = await new CountingServer(40).start();
    const { api } = client(server.url, { maxConcurrent: 3, restPointsPerMinute: 100_000 });
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        api.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', { owner: 'acme', repo: 'app', pull_number: i + 1 }),
      ),
    );
    assert.equal(answers.length, 30);
    assert.equal(server.arrivals.length, 30, 'every read reached the server');
    assert.ok(server.peak <= 3, `at most 3 requests in flight at the server, saw ${server.peak}`);
  });

  it('spreads a burst over the window: no window ever holds more than the points budget, and the wait is logged once', async () => {
    server = await new CountingServer(1).start();
    const logs: string[] = [];
    // 20 points a second: a burst of 40 reads and 4 writes (5 points each) needs more than two seconds.
    const { api } = client(server.url, { restPointsPerMinute: 20, windowMs: 1000, logDelayOverMs: 300 }, logs);
    const started = performance.now();
    await Promise.all([
      ...Array.from({ length: 40 }, (_, i) =>
        api.request('GET /repos/{owner}/{repo}/issues/{issue_number}', { owner: 'acme', repo: 'app', issue_number: i }),
      ),
      ...Array.from({ length: 4 }, (_, i) =>
        api.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', {
          owner: 'acme',
          repo: 'app',
          issue_number: i,
          labels: ['x'],
        }),
      ),
    ]);
    const elapsed = performance.now() - started;
    assert.equal(server.arrivals.length, 44, 'nothing failed: every request waited its turn and was sent');
    const busiest = server.busiestWindow(1000);
    assert.ok(busiest <= 20, `at most 20 points in any second at the server, saw ${busiest}`);
    // 60 points at 20 a second: the last ones cannot have been sent before two seconds had passed.
    assert.ok(elapsed >= 2000, `the burst was spread (took ${Math.round(elapsed)} ms)`);
    const paced = logs.filter((m) => m.startsWith('GitHub pacing:'));
    assert.equal(paced.length, 1, `one line says the cycle is paced: ${JSON.stringify(logs)}`);
    assert.match(paced[0] ?? '', /20 REST points per 1000 ms/);
  });

  it('sends GraphQL queries one at a time, even when a caller asks for several at once', async () => {
    server = await new CountingServer(30).start();
    const { api } = client(server.url, { maxConcurrent: 8 });
    await Promise.all(
      Array.from({ length: 6 }, () => api.graphql('query { viewer { login } rateLimit { limit cost remaining resetAt } }')),
    );
    assert.equal(server.arrivals.length, 6);
    assert.equal(server.peak, 1, 'never two GraphQL requests in flight');
  });

  it("records every answer's rate-limit headers (REST and GraphQL) and saves the budget beside the store", async () => {
    server = await new CountingServer(1).start();
    const dir = mkdtempSync(join(tmpdir(), 'bm-budget-'));
    try {
      const github = client(server.url, {}, [], dir);
      for (let i = 0; i < 3; i += 1) await github.api.request('GET /repos/{owner}/{repo}', { owner: 'acme', repo: 'app' });
      await github.api.request('POST /repos/{owner}/{repo}/issues', { owner: 'acme', repo: 'app', title: 't' });
      await github.api.graphql('query { viewer { login } rateLimit { limit cost remaining resetAt } }');
      assert.equal(readBudget(dir), undefined, 'nothing is written per request');
      github.cache.save();
      const saved = readBudget(dir);
      assert.ok(saved, 'the budget was saved');
      // The server's last REST answer said 4,996 left: it counts its 4 REST answers.
      assert.deepEqual(saved.rest, { limit: 5000, remaining: 5000 - 4, used: 4, resetAt: 1_800_000_000_000 });
      // GraphQL: the query's own rateLimit field is newer than the headers of its answer.
      assert.deepEqual(saved.graphql, { limit: 5000, remaining: 4321, used: 5000 - 4321, resetAt: Date.parse('2027-01-15T08:00:00Z') });
      // 3 reads (1 point each) and 1 write (5 points) this minute; 1 GraphQL query.
      assert.equal(saved.lastMinute.rest, 8);
      assert.equal(saved.lastMinute.graphql, 1);
      assert.equal(
        budgetLine(saved, 'UTC'),
        'GitHub budget: REST 4,996/5,000 left (resets 08:00), GraphQL 4,321/5,000 left (resets 08:00); last minute 8 of 800 REST points, 1 of 1,800 GraphQL points',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('GitHub budget in status', function () {
  this.timeout(180_000);

  it('`status --json` shows github.budget and `status` prints its line, after a cycle against the GitHub-compatible server', async () => {
    const world = await GitHubWorld.start();
    try {
      world.pull('agent/web-1', { 'web/a.js': 'export const a = 1;\n' }, { approve: false });
      // The budget is saved at the end of a cycle's reads: by the third cycle nothing is written after them.
      for (let i = 0; i < 3; i += 1) {
        await world.cycle();
        world.advance(1000);
      }
      const env = { GITHUB_TOKEN: world.server.token };
      const json = await runCli(['status', '--json', '--forge', 'github', '--repo', world.workspace], { env });
      const doc = JSON.parse(json.stdout) as {
        github?: { budget?: { rest?: { limit: number; remaining: number; used: number; resetAt: number } } };
      };
      const rest = doc.github?.budget?.rest;
      assert.ok(rest, `status --json has github.budget.rest: ${json.stdout.slice(0, 400)} ${json.stderr}`);
      // The server counts every answer that was not a 304 against its 5,000: what it last said is what status shows.
      assert.equal(rest.limit, 5000);
      // GraphQL requests (those with a cost) count against GraphQL's own budget, not REST's.
      assert.equal(
        rest.remaining,
        5000 - world.server.rateLimited(world.server.requests.filter((r) => r.status > 0 && r.cost === undefined)),
      );
      assert.equal(rest.used, 5000 - rest.remaining);
      const text = await runCli(['status', '--forge', 'github', '--repo', world.workspace], { env });
      assert.match(
        text.stdout,
        new RegExp(`GitHub budget: REST ${rest.remaining.toLocaleString('en-US')}/5,000 left \\(resets \\d\\d:\\d\\d\\)`),
      );
      assert.ok(!text.stdout.includes(world.server.token) && !json.stdout.includes(world.server.token), 'the token is never shown');
      // A torn or foreign budget file hides the budget; status still answers.
      writeFileSync(join(world.session.repo.stateDir, 'github-budget.json'), '{"rest": {"limit": 50');
      const torn = await runCli(['status', '--json', '--forge', 'github', '--repo', world.workspace], { env });
      assert.equal(torn.code, 0, torn.stderr);
      assert.equal((JSON.parse(torn.stdout) as { github?: unknown }).github, undefined);
    } finally {
      await world.stop();
    }
  });
});

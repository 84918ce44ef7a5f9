// `build-master serve --webhooks`: the real CLI (dist/cli.js) as a child
// process against the GitHub test server, fed signed deliveries built from the
// payloads GitHub recorded (@octokit/webhooks-examples), adjusted to the test
// repository. What a delivery changes is read from the server and the log.
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GitHubWorld } from '../../fixtures/github/world';
import { adjust, deliver, example } from '../../fixtures/github/webhooks';
import { CLI, runCli } from '../support/cli';

const SECRET = 'webhook secret of acme/app';
const REPO = 'acme/app';

/** A running `serve --webhooks`: its URL, its log (stderr) and a clean stop. */
class Served {
  stdout = '';
  stderr = '';
  exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcessByStdio<null, Readable, Readable>) {
    child.stdout.on('data', (d: Buffer) => (this.stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  }

  static async start(world: GitHubWorld, extra: string[] = []): Promise<Served> {
    const child = spawn(
      process.execPath,
      [CLI, 'serve', '--webhooks', '--forge', 'github', '--repo', world.workspace, '--port', '0', '--quiet', '300ms', ...extra],
      {
        env: { ...process.env, GITHUB_TOKEN: world.server.token, BUILDMASTER_WEBHOOK_SECRET: SECRET },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const served = new Served(child);
    await served.until(() => /listening on /.test(served.stdout), 'the bound URL');
    await served.until(() => served.cycles().length >= 1, 'the first full cycle');
    return served;
  }

  get url(): string {
    const url = /listening on (\S+)/.exec(this.stdout)?.[1];
    if (!url) throw new Error(`no URL printed:\n${this.stdout}\n${this.stderr}`);
    return url;
  }

  /** The cycle lines: `cycle N read WHAT in T ms: …`. */
  cycles(): { cycle: number; read: string; line: string }[] {
    return [...this.stderr.matchAll(/^build-master: cycle (\d+) read (.*?) in \d+ ms: .*$/gm)].map((m) => ({
      cycle: Number(m[1]),
      read: m[2] ?? '',
      line: m[0],
    }));
  }

  async send(event: string, payload: unknown, options: { id?: string; signature?: string } = {}) {
    return deliver(this.url, SECRET, event, payload, options);
  }

  /** Waits for a state of the served process (not for time): fails with its log when it never comes. */
  async until(predicate: () => boolean, what: string, timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`);
      if (this.child.exitCode !== null) throw new Error(`serve exited (${this.child.exitCode}) before ${what}\n${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

describe('GitHub mode: serve --webhooks', function () {
  this.timeout(180_000);
  let world: GitHubWorld;
  let served: Served | undefined;

  beforeEach(async () => {
    world = await GitHubWorld.start();
  });

  afterEach(async () => {
    const code = await served?.stop();
    served = undefined;
    await world.stop();
    assert.equal(code ?? 0, 0, 'SIGTERM stops serve cleanly');
  });

  it('merges an approved, green pull request on its review delivery, without waiting for the resync', async () => {
    const pull = world.pull('web/feature', { 'web/feature.js': 'export const feature = 1;\n' }, { approve: false });
    served = await Served.start(world, ['--resync', '10m']);
    assert.equal(world.merged(pull), false, 'no approval yet: the first cycle waits');
    world.server.review(pull, 'alice', 'APPROVED');
    const review = adjust(example('pull_request_review', 'submitted'), { repository: REPO, pull });
    const answer = await served.send('pull_request_review', review, { id: 'delivery-review-1' });
    assert.equal(answer.status, 200, answer.text);
    const current = served;
    const mergedOnDelivery = () =>
      current.cycles().some((c) => c.cycle >= 2 && c.read === `#${pull}` && c.line.includes(`merged #${pull}`));
    await current.until(mergedOnDelivery, `the cycle of the review delivery merging #${pull}`);
    assert.ok(world.merged(pull));
    assert.match(current.stderr, new RegExp(`webhook pull_request_review\\.submitted delivery-review-1: 200 reads #${pull}`));
    assert.equal(world.mergesOf(pull), 1);
  });

  it('reads a change again shortly when GitHub had not computed its mergeability yet (GitHub sends no delivery when it has)', async () => {
    world.server.mergeabilityUnknownFirst = true;
    const pull = world.pull('docs/later', { 'docs/later.md': 'later\n' });
    world.server.review(pull, 'alice', 'APPROVED');
    served = await Served.start(world, ['--resync', '10m', '--recheck', '500ms']);
    const current = served;
    assert.equal(world.merged(pull), false, 'the first read finds its mergeability unknown: nothing merges');
    await current.until(
      () => current.cycles().some((c) => c.read === `#${pull}` && c.line.includes(`merged #${pull}`)),
      `a re-read of #${pull} alone that merges it, long before the 10-minute resync`,
    );
    assert.equal(world.mergesOf(pull), 1);
  });

  it('acts on no delivery while the policy file is invalid, and reads everything once it is fixed', async () => {
    const pull = world.pull('web/held', { 'web/held.js': 'export const held = 1;\n' }, { approve: false });
    served = await Served.start(world, ['--resync', '10m']);
    const current = served;
    writeFileSync(join(world.workspace, '.buildmaster.yml'), 'target: main\nlanes: 7\n');
    world.server.review(pull, 'alice', 'APPROVED');
    const review = adjust(example('pull_request_review', 'submitted'), { repository: REPO, pull });
    assert.equal((await current.send('pull_request_review', review)).status, 200);
    await current.until(() => /policy file is invalid.*no cycle until it is fixed/.test(current.stderr), 'the cycle refused');
    assert.equal(world.merged(pull), false, 'an invalid policy stops every action, a delivery’s too');
    const before = current.cycles().length;
    world.writePolicy('');
    const issue = adjust(example('issues', 'opened'), { repository: REPO, pull: 40 });
    assert.equal((await current.send('issues', issue)).status, 200);
    await current.until(() => current.cycles().length > before, 'the first cycle after the fix');
    const next = current.cycles()[before];
    assert.equal(next?.read, 'everything', 'the skipped delivery is not lost: everything is read');
    assert.ok(world.merged(pull), current.stderr);
  });

  it('rejects a bad signature (401, logged), a malformed body (400) and ignores an unknown event; none changes anything', async () => {
    const pull = world.pull('docs/held', { 'docs/held.md': 'held\n' });
    world.server.review(pull, 'alice', 'APPROVED');
    served = await Served.start(world, ['--resync', '10m']);
    // Merged by the first full cycle: a second ready change is what a forged delivery would try to move.
    await served.until(() => world.merged(pull), 'the first cycle merges the ready change');
    const before = served.cycles().length;
    const review = adjust(example('pull_request_review', 'submitted'), { repository: REPO, pull: 41 });

    const forged = await served.send('pull_request_review', review, { id: 'delivery-forged', signature: 'sha256=' + '0'.repeat(64) });
    assert.equal(forged.status, 401);
    const unsigned = await served.send('pull_request_review', review, { id: 'delivery-unsigned', signature: '' });
    assert.equal(unsigned.status, 401);
    assert.match(served.stderr, /webhook pull_request_review\.?\S* delivery-forged: 401/);
    assert.match(served.stderr, /webhook pull_request_review\S* delivery-unsigned: 401/);
    assert.ok(!served.stderr.includes(SECRET), 'the secret is never logged');

    const malformed = await served.send('pull_request', '{"action":"opened","pull_request":', { id: 'delivery-malformed' });
    assert.equal(malformed.status, 400);
    const missing = await served.send('pull_request', { action: 'opened', repository: { full_name: REPO } }, { id: 'delivery-missing' });
    assert.equal(missing.status, 400);
    assert.match(missing.text, /pull_request/);
    const star = await served.send('star', adjust(example('star'), { repository: REPO }), { id: 'delivery-star' });
    assert.ok(star.status === 202 || star.status === 200, String(star.status));
    assert.match(star.text, /ignored/);
    const elsewhere = await served.send('pull_request_review', adjust(review, { repository: 'someone/else' }), { id: 'delivery-other' });
    assert.match(elsewhere.text, /ignored/);
    const ping = await served.send('ping', adjust(example('ping'), { repository: REPO }));
    assert.equal(ping.status, 200);

    // One delivery that counts: the next cycle reads exactly what it named, nothing the rejected ones did.
    const issue = adjust(example('issues', 'opened'), { repository: REPO, pull: 40 });
    assert.equal((await served.send('issues', issue, { id: 'delivery-issue' })).status, 200);
    await served.until(() => served !== undefined && served.cycles().length > before, 'the cycle of the issues delivery');
    const after = served.cycles().slice(before);
    assert.deepEqual(
      after.map((c) => c.read),
      ['the issues'],
    );
  });

  it('coalesces a burst of 20 deliveries into fewer cycles, reading every change they named', async () => {
    const pulls = ['docs/b1', 'docs/b2', 'docs/b3', 'docs/b4'].map((branch) =>
      world.pull(branch, { [`${branch}.md`]: 'x\n' }, { approve: false }),
    );
    served = await Served.start(world, ['--resync', '10m']);
    const before = served.cycles().length;
    const burst = Array.from({ length: 20 }, (_, i) => {
      const pull = pulls[Math.floor(i / 4) % pulls.length] as number;
      const kinds = [
        ['pull_request', adjust(example('pull_request', 'labeled'), { repository: REPO, pull })],
        ['pull_request_review', adjust(example('pull_request_review', 'submitted'), { repository: REPO, pull })],
        [
          'check_run',
          adjust(example('check_run', 'completed'), { repository: REPO, pull, branch: `docs/b${(Math.floor(i / 4) % 4) + 1}` }),
        ],
        ['issue_comment', adjust(example('issue_comment', 'created'), { repository: REPO })],
      ] as const;
      return kinds[i % kinds.length] as (typeof kinds)[number];
    });
    const current = served;
    const answers = await Promise.all(burst.map(([event, payload], i) => current.send(event, payload, { id: `burst-${i}` })));
    assert.deepEqual(
      answers.map((a) => a.status),
      burst.map(() => 200),
    );
    const named = [...pulls.map((p) => `#${p}`), 'the issues'];
    const readSince = () =>
      new Set(
        current
          .cycles()
          .slice(before)
          .flatMap((c) => c.read.split(', ')),
      );
    await current.until(() => named.every((what) => readSince().has(what)), 'cycles reading every change the burst named');
    const cycles = current.cycles().length - before;
    assert.ok(cycles >= 1 && cycles < burst.length, `${cycles} cycle(s) for ${burst.length} deliveries`);
    assert.ok(!/cycle failed/.test(served.stderr), served.stderr);
  });

  it('measures the requests an idle webhook-mode server sends per hour (its safety resync only)', async () => {
    world.pull('docs/idle-1', { 'docs/idle-1.md': '1\n' }, { approve: false });
    world.pull('web/idle-2', { 'web/idle-2.js': '2\n' }, { approve: false });
    served = await Served.start(world, ['--resync', '1s']);
    // After the first (cold) cycle: count the requests of a few resyncs with nothing delivered.
    await served.until(() => (served?.cycles().length ?? 0) >= 2, 'a warm resync');
    const from = { cycles: served.cycles().length, requests: world.server.requests.length };
    await served.until(() => (served?.cycles().length ?? 0) >= from.cycles + 3, 'three more resyncs');
    const to = { cycles: served.cycles().length, requests: world.server.requests.length };
    const perResync = (to.requests - from.requests) / (to.cycles - from.cycles);
    const perHour = Math.round(perResync * 6); // the default resync: every 10 minutes, 6 an hour
    // Reported, not asserted (timing): the bench's webhook_idle_requests_per_hour.
    console.log(
      `      webhook_idle_requests_per_hour ≈ ${perHour} (${perResync.toFixed(1)} requests per idle resync × 6 at the 10m default)`,
    );
    assert.ok(
      served
        .cycles()
        .slice(1)
        .every((c) => c.read === 'everything'),
      'an idle server only resyncs',
    );
  });

  it('refuses to serve without the secret or outside GitHub mode (exit 2, a message naming the fix)', async () => {
    const env = { GITHUB_TOKEN: world.server.token, BUILDMASTER_WEBHOOK_SECRET: '' };
    const noSecret = await runCli(['serve', '--webhooks', '--forge', 'github', '--repo', world.workspace, '--port', '0'], { env });
    assert.equal(noSecret.code, 2);
    assert.match(noSecret.stderr, /BUILDMASTER_WEBHOOK_SECRET/);
    const local = await runCli(['serve', '--webhooks', '--repo', world.workspace], { env: { ...env, BUILDMASTER_WEBHOOK_SECRET: SECRET } });
    assert.equal(local.code, 2);
    assert.match(local.stderr, /--forge github/);
    const bare = await runCli(['serve', '--forge', 'github', '--repo', world.workspace], {
      env: { ...env, BUILDMASTER_WEBHOOK_SECRET: SECRET },
    });
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /--webhooks/);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = String((taken.address() as AddressInfo).port);
    const busy = await runCli(['serve', '--webhooks', '--forge', 'github', '--repo', world.workspace, '--port', port], {
      env: { ...env, BUILDMASTER_WEBHOOK_SECRET: SECRET },
    });
    await new Promise((resolve) => taken.close(resolve));
    assert.equal(busy.code, 2);
    assert.match(busy.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\): choose another --port`));
    for (const result of [noSecret, local, bare, busy]) assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });
});

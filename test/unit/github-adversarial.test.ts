// GitHub mode against a hostile or broken counterpart, pure parts: absurd
// rate-limit headers, hostile files in the state directory, oversized deliveries.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BudgetRecorder, BUDGET_FILE, readBudget } from '../../extension/github/budget';
import { describeGitHubError } from '../../extension/github/client';
import { focusOf, MAX_FOCUSED_CHANGES, unite, wantOf, type Wanted } from '../../extension/forge/github/events';
import { budgetLine } from '../../extension/protocol/budget';
import { onStateRef } from '../../extension/controller/on-ref';
import type { StateBackend } from '../../extension/github/state-ref';
import { InputError } from '../../extension/ports';
import { MAX_BODY_BYTES, webhookListener } from '../../extension/github/webhooks';

describe('GitHub mode, adversarial: absurd rate-limit headers', () => {
  const absurdResets = ['100000000000000000', '1e300', '-5', '0', 'soon'];

  for (const reset of absurdResets) {
    it(`status still answers when a server says x-ratelimit-reset: ${reset}`, () => {
      const recorder = new BudgetRecorder({ rest: 800, graphql: 1800 });
      recorder.recordHeaders({ 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '10', 'x-ratelimit-reset': reset }, 'rest');
      const line = budgetLine(recorder.snapshot(), 'UTC');
      assert.match(line ?? '', /^GitHub budget: REST 10\/5,000 left/);
      assert.doesNotMatch(line ?? '', /resets/, 'a reset time that is no time is not shown');
    });

    it(`a rate-limit refusal with x-ratelimit-reset: ${reset} is still described in words`, () => {
      const error = Object.assign(new Error('API rate limit exceeded'), {
        status: 403,
        response: { headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset } },
      });
      assert.match(describeGitHubError(error, 'reading #1'), /^reading #1: GitHub's rate limit is exhausted/);
    });
  }

  it('a budget file someone else wrote (a time beyond any date) does not break status', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bm-budget-'));
    writeFileSync(
      join(dir, BUDGET_FILE),
      JSON.stringify({
        rest: { limit: 5000, remaining: 4000, used: 1000, resetAt: 1e300 },
        lastMinute: { rest: 3, graphql: 0, restCap: 800, graphqlCap: 1800 },
        updatedAt: 1,
      }),
    );
    assert.equal(budgetLine(readBudget(dir), 'UTC'), 'GitHub budget: REST 4,000/5,000 left; last minute 3 of 800 REST points');
    writeFileSync(join(dir, BUDGET_FILE), JSON.stringify({ updatedAt: 1, lastMinute: null }));
    assert.equal(readBudget(dir), undefined, 'a budget without its minute is no budget');
  });
});

describe('GitHub mode, adversarial: a delivery naming thousands of pull requests', () => {
  const context = { repository: 'acme/app', target: 'main' };
  const checkRun = (numbers: number[]) => ({
    action: 'completed',
    repository: { full_name: 'acme/app' },
    check_run: { head_sha: 'a'.repeat(40), pull_requests: numbers.map((number) => ({ number })), check_suite: { head_branch: 'x' } },
  });

  it('a check run listing 10,000 pull requests is one full read, not 10,000 focused ones', () => {
    const numbers = Array.from({ length: 10_000 }, (_, i) => i + 1);
    assert.equal(wantOf(focusOf('check_run', checkRun(numbers), context)), 'everything');
  });

  it('a burst whose union names more pull requests than a full read costs becomes a full read', () => {
    let wanted: Wanted | undefined;
    for (let i = 1; i <= MAX_FOCUSED_CHANGES + 1; i++) wanted = unite(wanted, wantOf(focusOf('check_run', checkRun([i]), context)));
    assert.equal(wanted, 'everything');
  });

  it('a few pull requests stay a focused read', () => {
    assert.deepEqual(wantOf(focusOf('check_run', checkRun([3, 1, 2]), context)), {
      changes: ['#1', '#2', '#3'],
      target: false,
      issues: false,
    });
  });

  it('pull request numbers that are not whole, safe, positive numbers are malformed', () => {
    for (const number of ['7', 1.5, -1, 0, 1e300, null])
      assert.equal(focusOf('check_run', checkRun([number as number]), context).kind, 'malformed', String(number));
  });
});

describe('GitHub mode, adversarial: a token that may not write the state branch', () => {
  it('a run whose state save is refused (403) lists every event it could not save in the job log', async () => {
    const refused = new InputError('writing Build Master state to buildmaster/state: the token may not write to acme/app (HTTP 403)');
    const backend: StateBackend = {
      branch: 'buildmaster/state',
      load: () => Promise.resolve({ commit: undefined, tree: undefined, entries: new Map(), read: () => Promise.resolve('') }),
      save: () => Promise.reject(refused),
    };
    const lines: string[] = [];
    await assert.rejects(
      onStateRef({ backend, log: (line) => lines.push(line), tempRoot: mkdtempSync(join(tmpdir(), 'bm-ref-')) }, async (store) => {
        store.append([{ at: 1, type: 'info', kind: 'merged', message: 'merged #5 as abc1234' }]);
        await store.save();
      }),
      refused,
    );
    assert.ok(
      lines.some((line) => line.startsWith('unsaved event: ') && line.includes('merged #5 as abc1234')),
      `what the run did is in the job log:\n${lines.join('\n')}`,
    );
  });
});

describe('GitHub mode, adversarial: what an unsigned client can make the webhook listener hold', function () {
  this.timeout(20_000);
  /** Sends only headers (and a few bytes of body) and resolves with the status line, or 'no answer' after 5 s. */
  async function answerTo(headers: string): Promise<string> {
    const server = createServer(
      webhookListener(
        '/hook',
        { verify: () => Promise.resolve(false), route: () => ({ kind: 'ignored', why: 'test' }), log: () => undefined },
        () => undefined,
      ),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      return await new Promise<string>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => socket.write(`POST /hook HTTP/1.1\r\nHost: x\r\n${headers}\r\n{"a":`));
        const timer = setTimeout(() => {
          socket.destroy();
          resolve('no answer');
        }, 5000);
        socket.on('data', (data: Buffer) => {
          clearTimeout(timer);
          socket.destroy();
          resolve(data.toString().split('\r\n')[0] ?? '');
        });
        socket.on('error', () => undefined);
      });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }

  it('a delivery announcing more than GitHub ever sends is refused before its body is read', async () => {
    assert.equal(
      await answerTo(`X-Hub-Signature-256: sha256=${'0'.repeat(64)}\r\nContent-Length: ${MAX_BODY_BYTES + 1}\r\n`),
      'HTTP/1.1 413 Payload Too Large',
    );
  });

  it('an unsigned delivery is refused before its body is read', async () => {
    assert.equal(await answerTo('Content-Length: 1000000\r\n'), 'HTTP/1.1 401 Unauthorized');
  });
});

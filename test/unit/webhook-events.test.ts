// Webhook deliveries → observe focus, replayed from the payloads GitHub
// recorded (@octokit/webhooks-examples), and the coalescing of a burst.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import {
  focusOf,
  HANDLED_EVENTS,
  unite,
  wantOf,
  type EventFocus,
  type FocusContext,
  type Wanted,
} from '../../extension/forge/github/events';
import { handleDelivery, type Routed, type Verifier } from '../../extension/github/webhooks';
import { CycleQueue } from '../../extension/controller/cycle-queue';
import { adjust, example, examples, signed } from '../../fixtures/github/webhooks';

// The examples are recorded on Codertocat/Hello-World (default branch master, pull request #2 from `changes`).
const HELLO: FocusContext = { repository: 'Codertocat/Hello-World', target: 'master' };
const PR2 = { kind: 'focus', focus: { changes: ['#2'], target: false, issues: false } };

function focus(result: EventFocus): unknown {
  return result.kind === 'focus' ? { kind: result.kind, focus: result.focus } : { kind: result.kind };
}

describe('webhook events → observe focus (recorded GitHub payloads)', () => {
  it('pull_request: the pull request for every action that can change a decision, and the target once merged', () => {
    for (const action of ['opened', 'synchronize', 'labeled', 'unlabeled', 'ready_for_review', 'converted_to_draft', 'reopened']) {
      assert.ok(examples('pull_request', action).length > 0, action);
      for (const payload of examples('pull_request', action)) assert.deepEqual(focus(focusOf('pull_request', payload, HELLO)), PR2, action);
    }
    const closed = example('pull_request', 'closed');
    assert.deepEqual(focus(focusOf('pull_request', closed, HELLO)), PR2, 'closed without merging: the target did not move');
    (closed.pull_request as { merged: boolean }).merged = true;
    assert.deepEqual(focus(focusOf('pull_request', closed, HELLO)), {
      kind: 'focus',
      focus: { changes: ['#2'], target: true, issues: false },
    });
    const edited = adjust(example('pull_request', 'opened'), { repository: 'Codertocat/Hello-World', pull: 17 });
    edited.action = 'edited';
    assert.deepEqual(focus(focusOf('pull_request', edited, HELLO)), {
      kind: 'focus',
      focus: { changes: ['#17'], target: false, issues: false },
    });
  });

  it('pull_request: assignment, review requests and locking cannot change a decision and are dropped', () => {
    for (const action of ['assigned', 'unassigned', 'review_requested', 'review_request_removed', 'locked', 'unlocked'])
      for (const payload of examples('pull_request', action)) assert.equal(focusOf('pull_request', payload, HELLO).kind, 'ignored', action);
  });

  it('pull_request_review: submitted and dismissed reviews read their pull request', () => {
    for (const action of ['submitted', 'dismissed'])
      for (const payload of examples('pull_request_review', action))
        assert.deepEqual(focus(focusOf('pull_request_review', payload, HELLO)), PR2, action);
  });

  it('check_run: the pull requests GitHub lists, the target by branch or sha, and everything for a head nobody can place', () => {
    for (const action of ['created', 'completed'])
      for (const payload of examples('check_run', action)) assert.deepEqual(focus(focusOf('check_run', payload, HELLO)), PR2, action);
    // Requests for a run are not runs: the runs they start arrive as created/completed.
    for (const action of ['rerequested', 'requested_action'])
      for (const payload of examples('check_run', action)) {
        const repository = (payload.repository as { full_name: string }).full_name;
        assert.equal(focusOf('check_run', payload, { ...HELLO, repository }).kind, 'ignored', action);
      }
    const onTarget = adjust(example('check_run', 'completed'), { repository: 'Codertocat/Hello-World', branch: 'master' });
    (onTarget.check_run as { pull_requests: unknown[] }).pull_requests = [];
    assert.deepEqual(focus(focusOf('check_run', onTarget, HELLO)), { kind: 'focus', focus: { changes: [], target: true, issues: false } });
    // A fork's pull request is never listed: before any observation nothing places it, so everything is read.
    const fork = adjust(example('check_run', 'completed'), { repository: 'Codertocat/Hello-World', branch: 'main', sha: 'f'.repeat(40) });
    (fork.check_run as { pull_requests: unknown[] }).pull_requests = [];
    assert.equal(focusOf('check_run', fork, HELLO).kind, 'everything');
    // Once observed, its head names it, and the target's newest sha names the target.
    const seen: FocusContext = {
      ...HELLO,
      seen: {
        changes: [{ id: '#9', headSha: 'f'.repeat(40), branch: 'main', headRepo: 'mallory/Hello-World' }],
        targetSha: 'a'.repeat(40),
      },
    };
    assert.deepEqual(focus(focusOf('check_run', fork, seen)), { kind: 'focus', focus: { changes: ['#9'], target: false, issues: false } });
    const targetSha = adjust(example('check_run', 'completed'), { repository: 'Codertocat/Hello-World', sha: 'a'.repeat(40), branch: 'x' });
    (targetSha.check_run as { pull_requests: unknown[] }).pull_requests = [];
    assert.deepEqual(focus(focusOf('check_run', targetSha, seen)), { kind: 'focus', focus: { changes: [], target: true, issues: false } });
  });

  it('check_run: pull requests of another repository listed in the payload are not ours', () => {
    const payload = example('check_run', 'completed');
    const pulls = (payload.check_run as { pull_requests: { base: { repo: { url: string } } }[] }).pull_requests;
    for (const pull of pulls) pull.base.repo.url = 'https://api.github.com/repos/someone/else';
    // Not ours, and nothing else places the head: read everything rather than act on another repository's number.
    assert.equal(focusOf('check_run', payload, HELLO).kind, 'everything');
  });

  it('check_suite: completed suites read their pull requests or the target; requests are dropped', () => {
    const completed = examples('check_suite', 'completed');
    const byBranch = new Map(completed.map((p) => [(p.check_suite as { head_branch: string }).head_branch, p]));
    assert.deepEqual(focus(focusOf('check_suite', byBranch.get('changes'), HELLO)), PR2);
    assert.deepEqual(focus(focusOf('check_suite', byBranch.get('main'), { ...HELLO, target: 'main' })), {
      kind: 'focus',
      focus: { changes: [], target: true, issues: false },
    });
    for (const action of ['requested', 'rerequested'])
      for (const payload of examples('check_suite', action)) assert.equal(focusOf('check_suite', payload, HELLO).kind, 'ignored', action);
  });

  it('status: the target when it is on the target branch, the change whose head it is, else everything', () => {
    const statuses = examples('status');
    assert.ok(statuses.length > 0);
    for (const payload of statuses)
      assert.deepEqual(focus(focusOf('status', payload, HELLO)), { kind: 'focus', focus: { changes: [], target: true, issues: false } });
    const payload = example('status');
    payload.branches = [{ name: 'changes' }];
    assert.equal(focusOf('status', payload, HELLO).kind, 'everything', 'a head nobody has seen: read everything');
    const sha = payload.sha as string;
    const seen: FocusContext = { ...HELLO, seen: { changes: [{ id: '#2', headSha: sha, branch: 'changes' }] } };
    assert.deepEqual(focus(focusOf('status', payload, seen)), PR2);
  });

  it('push: the target, the changes whose head branch moved, nothing for tags or branches without a pull request', () => {
    const pushes = examples('push');
    const master = pushes.find((p) => p.ref === 'refs/heads/master');
    const tag = pushes.find((p) => p.ref === 'refs/tags/simple-tag');
    assert.deepEqual(focus(focusOf('push', master, HELLO)), { kind: 'focus', focus: { changes: [], target: true, issues: false } });
    assert.equal(focusOf('push', tag, HELLO).kind, 'ignored');
    const branch = example('push');
    branch.ref = 'refs/heads/changes';
    const seen: FocusContext = { ...HELLO, seen: { changes: [{ id: '#2', headSha: 'b'.repeat(40), branch: 'changes' }] } };
    assert.deepEqual(focus(focusOf('push', branch, seen)), PR2);
    // A fork's branch of the same name is another branch: a push here does not move it.
    const forked: FocusContext = {
      ...HELLO,
      seen: { changes: [{ id: '#3', headSha: 'b'.repeat(40), branch: 'changes', headRepo: 'm/x' }] },
    };
    assert.equal(focusOf('push', branch, forked).kind, 'ignored');
    assert.equal(focusOf('push', branch, HELLO).kind, 'everything', 'before the first observation nothing says which change it is');
  });

  it('issue_comment and issues: the pull request they are on, else the issues', () => {
    for (const action of ['created', 'edited', 'deleted'])
      for (const payload of examples('issue_comment', action))
        assert.deepEqual(focus(focusOf('issue_comment', payload, HELLO)), {
          kind: 'focus',
          focus: { changes: [], target: false, issues: true },
        });
    const onPull = example('issue_comment', 'created');
    (onPull.issue as { pull_request?: unknown }).pull_request = { url: 'https://api.github.com/repos/Codertocat/Hello-World/pulls/1' };
    assert.deepEqual(focus(focusOf('issue_comment', onPull, HELLO)), {
      kind: 'focus',
      focus: { changes: ['#1'], target: false, issues: false },
    });
    for (const action of ['opened', 'edited', 'labeled', 'reopened'])
      for (const payload of examples('issues', action))
        assert.deepEqual(focus(focusOf('issues', payload, HELLO)), { kind: 'focus', focus: { changes: [], target: false, issues: true } });
    assert.deepEqual(focus(focusOf('issues', example('issues', 'milestoned'), HELLO)), PR2, 'an issues event on a pull request');
  });

  it('deliveries for another repository are ignored, whatever the event; the name is compared as GitHub does (case-insensitively)', () => {
    for (const event of HANDLED_EVENTS) {
      for (const payload of examples(event)) {
        const mine = focusOf(event, payload, { ...HELLO, repository: 'codertocat/hello-world' });
        const elsewhere = focusOf(event, adjust(payload, { repository: 'acme/app' }), HELLO);
        assert.equal(elsewhere.kind, 'ignored', `${event}.${String(payload.action)}`);
        if (mine.kind === 'ignored' && (payload.repository as { full_name: string }).full_name === 'Codertocat/Hello-World')
          assert.doesNotMatch(mine.why, /not codertocat/i);
      }
    }
  });

  it('every recorded example of a handled event is understood (none is malformed); missing fields are', () => {
    for (const event of HANDLED_EVENTS)
      for (const payload of examples(event)) {
        const repository = (payload.repository as { full_name: string }).full_name;
        assert.notEqual(focusOf(event, payload, { ...HELLO, repository }).kind, 'malformed', `${event}.${String(payload.action)}`);
      }
    const noPull = example('pull_request', 'opened');
    delete noPull.pull_request;
    const result = focusOf('pull_request', noPull, HELLO);
    assert.equal(result.kind, 'malformed');
    assert.match(result.why, /pull_request/);
    const noSha = example('status');
    delete noSha.sha;
    assert.equal(focusOf('status', noSha, HELLO).kind, 'malformed');
    assert.equal(focusOf('push', [], HELLO).kind, 'malformed');
    assert.equal(focusOf('check_run', { ...example('check_run', 'completed'), check_run: { head_sha: 7 } }, HELLO).kind, 'malformed');
  });

  it('events Build Master does not act on are ignored', () => {
    for (const event of ['star', 'fork', 'release', 'workflow_job']) {
      const payload = examples(event)[0];
      assert.ok(payload, event);
      assert.equal(focusOf(event, payload, HELLO).kind, 'ignored', event);
    }
  });
});

const change = fc.integer({ min: 1, max: 60 }).map((n) => `#${n}`);
const wanted: fc.Arbitrary<Wanted> = fc.oneof(
  {
    weight: 9,
    arbitrary: fc
      .record({ changes: fc.uniqueArray(change, { maxLength: 6 }), target: fc.boolean(), issues: fc.boolean() })
      .map((f) => ({ ...f })),
  },
  { weight: 1, arbitrary: fc.constant('everything' as const) },
);

describe('coalescing a burst of deliveries', () => {
  it('is a union: every change, the target and the issues any delivery named are read, in any order', () => {
    fc.assert(
      fc.property(
        fc
          .array(wanted, { minLength: 1, maxLength: 20 })
          .chain((burst) => fc.tuple(fc.constant(burst), fc.shuffledSubarray(burst, { minLength: burst.length }))),
        ([burst, shuffled]) => {
          const united = burst.reduce<Wanted | undefined>(unite, undefined);
          assert.deepEqual(shuffled.reduce<Wanted | undefined>(unite, undefined), united, 'the order does not matter');
          if (burst.includes('everything')) {
            assert.equal(united, 'everything');
            return;
          }
          assert.ok(united !== undefined && united !== 'everything');
          const focuses = burst.filter((w): w is Exclude<Wanted, 'everything'> => w !== 'everything');
          for (const one of focuses) for (const id of one.changes) assert.ok(united.changes.includes(id), `${id} lost`);
          assert.deepEqual(new Set(united.changes), new Set(focuses.flatMap((f) => f.changes)), 'nothing is added');
          assert.equal(united.changes.length, new Set(united.changes).size, 'each change once');
          assert.equal(
            united.target,
            focuses.some((f) => f.target),
          );
          assert.equal(
            united.issues,
            focuses.some((f) => f.issues),
          );
          assert.deepEqual(unite(united, united), united, 'a redelivery changes nothing');
        },
      ),
    );
  });

  it('an ignored or malformed delivery adds nothing', () => {
    assert.equal(wantOf({ kind: 'ignored', why: 'star' }), undefined);
    assert.equal(wantOf({ kind: 'malformed', why: 'x' }), undefined);
    assert.equal(unite(undefined, undefined), undefined);
  });
});

describe('the delivery handler (signature, body, routing)', () => {
  const secret = 'It’s a Secret to Everybody';
  // The signature check the CLI uses (github/signature.ts), loaded as an ES module: @octokit/webhooks cannot be required.
  let verify: Verifier;
  before(async () => {
    const { Webhooks } = await import('@octokit/webhooks');
    const webhooks = new Webhooks({ secret });
    verify = (payload, signature) => webhooks.verify(payload, signature);
  });
  const route = (delivery: { event: string; payload: unknown }): Routed<Wanted> => {
    const mapped = focusOf(delivery.event, delivery.payload, HELLO);
    const adds = wantOf(mapped);
    if (adds !== undefined) return { kind: 'accepted', adds, why: mapped.why };
    return mapped.kind === 'malformed' ? { kind: 'malformed', why: mapped.why } : { kind: 'ignored', why: mapped.why };
  };

  it('accepts a delivery signed with the secret and answers what it adds', async () => {
    const lines: string[] = [];
    const { headers, body } = await signed(secret, 'pull_request_review', example('pull_request_review', 'submitted'), 'd-1');
    const answer = await handleDelivery(headers, Buffer.from(body), { verify, route, log: (l) => lines.push(l) });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.adds, { changes: ['#2'], target: false, issues: false });
    assert.match(lines.join('\n'), /pull_request_review\.submitted d-1: 200/);
  });

  it('rejects a wrong, a missing or a forged signature with 401, logs the delivery id and event, never the secret or payload', async () => {
    const payload = example('pull_request', 'opened');
    const { headers, body } = await signed(secret, 'pull_request', payload, 'd-2');
    const other = await signed('another secret', 'pull_request', payload, 'd-2');
    const tampered = body.replace('"number":2', '"number":3');
    assert.notEqual(tampered, body);
    const cases: [Record<string, string>, string][] = [
      [{ ...headers, 'x-hub-signature-256': other.headers['x-hub-signature-256'] ?? '' }, body],
      [Object.fromEntries(Object.entries(headers).filter(([k]) => k !== 'x-hub-signature-256')), body],
      [{ ...headers, 'x-hub-signature-256': 'sha256=00' }, body],
      [{ ...headers, 'x-hub-signature-256': 'garbage' }, body],
      [headers, tampered],
      [headers, ''],
    ];
    for (const [h, b] of cases) {
      const lines: string[] = [];
      const answer = await handleDelivery(h, b, { verify, route, log: (l) => lines.push(l) });
      assert.equal(answer.status, 401, JSON.stringify(h));
      assert.equal(answer.adds, undefined);
      assert.equal(lines.length, 1);
      assert.match(lines[0] ?? '', /pull_request d-2: 401/);
      assert.ok(!(lines[0] ?? '').includes(secret) && !(lines[0] ?? '').includes('Codertocat'), 'no secret, no payload');
    }
  });

  it('logs what an unsigned sender put in the event and delivery headers quoted, so it cannot pass for a line of its own', async () => {
    const lines: string[] = [];
    const spoof = 'pull_request_review.submitted d-9: 200 reads #1';
    const { body } = await signed(secret, 'pull_request', example('pull_request', 'opened'));
    const answer = await handleDelivery(
      { 'x-github-event': spoof, 'x-github-delivery': '\u001b[2K d-9', 'x-hub-signature-256': 'sha256=0' },
      body,
      {
        verify,
        route,
        log: (l) => lines.push(l),
      },
    );
    assert.equal(answer.status, 401);
    assert.equal(lines.length, 1);
    assert.ok(lines[0]?.startsWith(`webhook ${JSON.stringify(spoof)} `), lines[0]);
    assert.ok(!lines[0]?.includes('\u001b'), 'no terminal escape reaches the log');
  });

  it('answers 400 to a body that is not JSON or lacks what its event needs, 202 to an unknown event, 200 to ping', async () => {
    const send = async (event: string, payload: unknown) => {
      const { headers, body } = await signed(secret, event, payload);
      return handleDelivery(headers, body, { verify, route, log: () => undefined });
    };
    assert.equal((await send('pull_request', '{"action": "opened", ')).status, 400);
    assert.equal((await send('pull_request', '[1, 2]')).status, 400);
    const missing = await send('pull_request', { action: 'opened', repository: { full_name: 'Codertocat/Hello-World' } });
    assert.equal(missing.status, 400);
    assert.equal(missing.adds, undefined);
    const star = await send('star', example('star'));
    assert.equal(star.status, 202);
    assert.match(star.message, /ignored/);
    assert.equal(star.adds, undefined);
    assert.equal((await send('ping', example('ping'))).status, 200);
  });

  it('reads a form-encoded delivery (a webhook set to application/x-www-form-urlencoded)', async () => {
    const body = new URLSearchParams({ payload: JSON.stringify(example('pull_request_review', 'submitted')) }).toString();
    const { headers } = await signed(secret, 'pull_request_review', body);
    const answer = await handleDelivery({ ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body, {
      verify,
      route,
      log: () => undefined,
    });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.adds, { changes: ['#2'], target: false, issues: false });
  });
});

describe('the serve loop’s cycle queue', () => {
  /** A cycle that runs until the test lets it finish, recording what it read and how many ran at once. */
  function harness(answers: boolean[] = []) {
    const reads: (Wanted | undefined)[] = [];
    let running = 0;
    let most = 0;
    const gates: (() => void)[] = [];
    const queue = new CycleQueue(
      async (wanted) => {
        reads.push(wanted);
        running++;
        most = Math.max(most, running);
        await new Promise<void>((resolve) => gates.push(resolve));
        running--;
        return answers.shift() ?? true;
      },
      { quietMs: 1, maxDelayMs: 5, log: () => undefined },
    );
    const until = async (predicate: () => boolean) => {
      while (!predicate()) await new Promise((resolve) => setTimeout(resolve, 1));
    };
    const finish = async () => {
      await until(() => gates.length > 0);
      gates.shift()?.();
    };
    return { queue, reads, finish, until, most: () => most };
  }
  const pr = (...changes: string[]): Wanted => ({ changes, target: false, issues: false });

  it('runs one cycle at a time; what arrives during a cycle is read, united, by the next', async () => {
    const { queue, reads, finish, until, most } = harness();
    queue.add('everything', { now: true });
    await until(() => reads.length === 1);
    queue.add(pr('#1'));
    queue.add({ changes: ['#2'], target: true, issues: false });
    queue.add(pr('#1'));
    // The quiet window passes while the first cycle still runs: the correct queue waits for it anyway (passes however long this is).
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(reads.length, 1, 'no second cycle while one runs');
    await finish();
    await until(() => reads.length === 2);
    assert.deepEqual(reads[1], { changes: ['#1', '#2'], target: true, issues: false });
    await finish();
    await queue.close();
    assert.equal(most(), 1, 'never two cycles at once');
    assert.equal(reads.length, 2);
  });

  it('a cycle that could not run (the lock was held) loses nothing: its focus is read with the next', async () => {
    const { queue, reads, finish, until } = harness([false]);
    queue.add(pr('#3'));
    await until(() => reads.length === 1);
    queue.add(pr('#4'));
    await finish();
    await until(() => reads.length === 2);
    assert.deepEqual(reads[1], pr('#3', '#4'));
    await finish();
    await queue.close();
  });

  it('close lets the cycle in flight finish and starts no other', async () => {
    const { queue, reads, finish, until } = harness();
    queue.add(pr('#5'));
    await until(() => reads.length === 1);
    queue.add(pr('#6'));
    const closed = queue.close();
    await finish();
    await closed;
    queue.add(pr('#7'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(reads.length, 1);
  });
});

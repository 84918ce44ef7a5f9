// The run engine: gates, scheduling, chaining (results, repairs, reviews, hedges), the budget's hard
// stop, the kill switch, retries and a restart, driven through advance and the record functions.
import { strict as assert } from 'node:assert';
import {
  advance,
  applyKill,
  applyRetry,
  recordGate,
  recordMerged,
  recordPromoted,
  recordResult,
  recoverRun,
  type RunContext,
} from '../../extension/core/runs/engine';
import { usageOf, type Run } from '../../extension/core/runs/model';
import { context, kinds, policy, profile, result, run, task, taskOf, type Routed } from '../support/runs';

/** Advance, then return the run and the kinds of its commands. */
function step(of: Run, ctx: RunContext): { run: Run; did: string[] } {
  const next = advance(of, ctx);
  return { run: next.run, did: kinds(next.commands) };
}

/** Drives a task from start to merge: result, advance (promote), promoted, merged. */
function merge(of: Run, id: string, ctx: RunContext): Run {
  let next = recordResult(of, id, result(), true, ctx.now);
  next = advance(next, ctx).run;
  next = recordPromoted(next, id, `buildmaster/task/r1/${id}`, ctx.now);
  return recordMerged(next, id, `sha-${id}`, ctx.now);
}

describe('run engine: what advance leaves alone', () => {
  it('a plan-only run and an ended run get no commands and stay as they are', () => {
    const ctx = context();
    for (const of of [
      run([task('a')], { mode: 'plan' }),
      run([task('a')], { status: 'completed' }),
      run([task('a')], { status: 'killed' }),
    ]) {
      const next = advance(of, ctx);
      assert.deepEqual(next.commands, []);
      assert.equal(next.run, of);
    }
  });
});

describe('run engine: the apply gate', () => {
  const conservative = context({ profile: profile('prod-conservative') });

  it('asks once, waits for the answer, then starts; nothing starts before', () => {
    const first = advance(run([task('a')]), conservative);
    assert.deepEqual(first.commands, [
      {
        kind: 'gate',
        step: 'apply',
        key: 'run:r1:gate:apply',
        rationale: 'profile prod-conservative: generate A1 needs an approval to apply (A2 would not)',
      },
    ]);
    assert.equal(first.run.status, 'awaiting-approval');
    assert.deepEqual(advance(first.run, conservative).commands, [], 'asked once, not on every pass');
    const pending = recordGate(first.run, 'apply', undefined, 'ap-1', 'pending', 1_100);
    assert.deepEqual(advance(pending, conservative).commands, []);
    const approved = recordGate(pending, 'apply', undefined, 'ap-1', 'approved', 1_200);
    const started = step(approved, conservative);
    assert.deepEqual(started.did, ['start:a']);
    assert.equal(started.run.status, 'running');
  });

  it('a rejected apply ends the run failed, saying who decided', () => {
    const asked = advance(run([task('a')]), conservative).run;
    const rejected = recordGate(asked, 'apply', undefined, 'ap-1', 'rejected', 1_100);
    const next = advance(rejected, conservative);
    assert.equal(next.run.status, 'failed');
    const finish = next.commands.find((command) => command.kind === 'finish');
    assert.equal(finish?.rationale, 'a person rejected the apply step (approval ap-1)');
    assert.equal(taskOf(next.run, 'a').status, 'cancelled');
  });
});

describe('run engine: scheduling', () => {
  it('starts ready tasks in dependency order up to max_agents less the agents other runs use', () => {
    const ctx = context({ runs: policy({ max_agents: 3 }), busyElsewhere: 1 });
    const next = advance(run([task('c', { depends_on: ['a'] }), task('a'), task('b'), task('d')]), ctx);
    assert.deepEqual(kinds(next.commands), ['start:a', 'start:b']);
    const a = taskOf(next.run, 'a');
    assert.deepEqual(
      { status: a.status, stage: a.stage, attempts: a.attempts, worker_class: a.worker_class, started_at: a.started_at },
      { status: 'running', stage: 'work', attempts: 1, worker_class: 'premium', started_at: 1_000 },
    );
    const start = next.commands[0];
    assert.equal(start?.kind === 'start' ? start.key : undefined, 'run:r1:task:a:1');
    assert.equal(next.run.started_at, 1_000);
  });

  it('the per-class cap counts the class the router gives a ready task; a wait is recorded once while its reason holds', () => {
    const ctx = context({ runs: policy({ per_class: { fast: 1 } }) }, (each) => (each.id === 'c' ? 'premium' : 'fast'));
    const first = advance(run([task('a'), task('b'), task('c')]), ctx);
    assert.deepEqual(kinds(first.commands), ['start:a', 'start:c']);
    const waits = (of: Run): number => (of.decisions ?? []).filter((decision) => decision.kind === 'wait:class-full').length;
    assert.equal(waits(first.run), 1);
    let again = first.run;
    for (let i = 0; i < 3; i++) again = advance(again, { ...ctx, now: 2_000 + i }).run;
    assert.equal(waits(again), 1, 'the same reason is not recorded again');
  });

  it('two tasks whose write scopes overlap never run at once, and the waiting one starts when the first merged', () => {
    const ctx = context();
    const first = advance(run([task('a', {}, ['src/**']), task('b', {}, ['src/b.ts'])]), ctx);
    assert.deepEqual(kinds(first.commands), ['start:a']);
    const promoted = advance(recordResult(first.run, 'a', result(), true, 1_100), ctx);
    assert.deepEqual(kinds(promoted.commands), ['promote:a'], 'a queued result still holds its path lock');
    const merged = recordMerged(recordPromoted(promoted.run, 'a', 'buildmaster/task/r1/a', 1_200), 'a', 'abc', 1_300);
    assert.deepEqual(step(merged, ctx).did, ['start:b']);
  });

  it('a result waiting in its lane frees its agent for another task', () => {
    const ctx = context({ runs: policy({ max_agents: 1 }) });
    const first = advance(run([task('a'), task('b')]), ctx);
    const promoted = advance(recordResult(first.run, 'a', result(), true, 1_100), ctx);
    assert.deepEqual(kinds(promoted.commands), ['promote:a', 'start:b']);
  });
});

describe('run engine: results and the merge step', () => {
  it('a tier-1 result under staging-aggressive is promoted, then queued, then merged; its dependents start', () => {
    const ctx = context();
    const started = advance(run([task('a'), task('b', { depends_on: ['a'] })]), ctx).run;
    const decided = advance(recordResult(started, 'a', result(), true, 1_100), ctx);
    assert.deepEqual(decided.commands, [
      {
        kind: 'promote',
        task: 'a',
        key: 'run:r1:promote:a:1',
        rationale: 'tier1: profile staging-aggressive: merge A4 merges tier1 results by itself',
      },
    ]);
    assert.equal(taskOf(decided.run, 'a').stage, 'promote');
    assert.deepEqual(advance(decided.run, ctx).commands, [], 'promoted once');
    const queued = recordPromoted(decided.run, 'a', 'buildmaster/task/r1/a', 1_200);
    assert.deepEqual(advance(queued, ctx).commands, []);
    const merged = recordMerged(queued, 'a', 'abc123', 1_300);
    assert.deepEqual(
      { status: taskOf(merged, 'a').status, stage: taskOf(merged, 'a').stage, sha: taskOf(merged, 'a').merged_sha },
      { status: 'completed', stage: 'merged', sha: 'abc123' },
    );
    assert.deepEqual(step(merged, ctx).did, ['start:b']);
  });

  it('a tier-3 result needs a person: a merge gate per task and attempt; approved, it is promoted', () => {
    const ctx = context({ tierOf: () => 'tier3' });
    const started = advance(run([task('a')]), ctx).run;
    const gated = advance(recordResult(started, 'a', result(), true, 1_100), ctx);
    assert.deepEqual(kinds(gated.commands), ['gate:a']);
    const gate = gated.commands[0];
    assert.deepEqual(gate?.kind === 'gate' ? [gate.key, gate.tier] : [], ['run:r1:gate:merge:a:1', 'tier3'], 'the approval says its tier');
    assert.equal(taskOf(gated.run, 'a').stage, 'approval');
    assert.equal(gated.run.status, 'awaiting-approval', 'nothing works: the run waits for people');
    const approved = recordGate(recordGate(gated.run, 'merge', 'a', 'ap-9', 'pending', 1_200), 'merge', 'a', 'ap-9', 'approved', 1_300);
    assert.deepEqual(step(approved, ctx).did, ['promote:a']);
  });

  it('a rejected merge fails the task without a repair, cancels its dependents and ends the run failed with a hand-off', () => {
    const ctx = context({ tierOf: () => 'tier3' });
    const started = advance(run([task('a'), task('b', { depends_on: ['a'] })]), ctx).run;
    const gated = advance(recordResult(started, 'a', result(), true, 1_100), ctx).run;
    const rejected = recordGate(gated, 'merge', 'a', 'ap-9', 'rejected', 1_200);
    const next = advance(rejected, ctx);
    assert.equal(next.run.tasks.length, 2, 'no repair task for a change a person refused');
    assert.equal(taskOf(next.run, 'a').status, 'failed');
    assert.equal(taskOf(next.run, 'b').status, 'cancelled');
    assert.equal(next.run.status, 'failed');
    const finish = next.commands.find((command) => command.kind === 'finish');
    assert.equal(
      finish?.kind === 'finish' ? finish.handoff?.left.map((item) => `${item.task}: ${item.note}`).join(' | ') : '',
      ['a: a person rejected its merge (approval ap-9)', 'b: dependency a failed'].join(' | '),
    );
  });

  it('a result that changes no files completes at once; a run whose tasks all completed finishes completed', () => {
    const ctx = context();
    const started = advance(run([task('a')]), ctx).run;
    const done = recordResult(started, 'a', result({ files_changed: [] }), true, 1_100);
    assert.equal(taskOf(done, 'a').status, 'completed');
    const next = advance(done, ctx);
    assert.deepEqual(kinds(next.commands), ['finish:']);
    assert.equal(next.run.status, 'completed');
    assert.deepEqual(advance(next.run, ctx).commands, [], 'finished once');
  });

  it('a second report of the same result is ignored (a crash replaying it never counts its cost twice)', () => {
    const ctx = context();
    const started = advance(run([task('a')]), ctx).run;
    const once = recordResult(started, 'a', result(), true, 1_100);
    assert.equal(recordResult(once, 'a', result(), true, 1_200), once);
    assert.equal(usageOf(once.tasks).usd, 1);
  });
});

describe('run engine: reports that do not fit', () => {
  it('a promotion or a merge reported for a task that never sent a result to its lane changes nothing', () => {
    const ctx = context({ tierOf: () => 'tier3' });
    const started = advance(run([task('a'), task('b'), task('c')]), ctx).run;
    const gated = advance(recordResult(started, 'a', result(), true, 1_100), ctx).run;
    for (const id of ['a', 'b', 'c', 'zz']) {
      assert.equal(recordPromoted(gated, id, 'buildmaster/task/r1/x', 1_200), gated, `promoted ${id}`);
      assert.equal(recordMerged(gated, id, 'sha', 1_200), gated, `merged ${id}`);
    }
    const pending = run([task('p')]);
    assert.equal(recordMerged(pending, 'p', 'sha', 1), pending, 'a pending task never completes by a merge report');
  });

  it('a result for a task that is not running (pending, completed, unknown) is ignored', () => {
    const ctx = context();
    const started = advance(run([task('a'), task('b', { depends_on: ['a'] })]), ctx).run;
    assert.equal(recordResult(started, 'b', result(), true, 1_100), started);
    assert.equal(recordResult(started, 'nope', result(), true, 1_100), started);
  });
});

describe('run engine: failures and repairs', () => {
  const failed = result({ success: false, error: 'tests failed', output: 'line 1\n```\nAssertionError: 2 !== 3\n' });

  it('a failed task spawns one repair task with the error and the output’s end, fenced; its dependents wait for the repair', () => {
    const ctx = context();
    const started = advance(run([task('a', { lane: 'web', row: 'R-1' }), task('b', { depends_on: ['a'] })]), ctx).run;
    const next = advance(recordResult(started, 'a', failed, true, 1_100), ctx);
    const repair = taskOf(next.run, 'a-fix');
    assert.equal(repair.type, 'fix');
    assert.equal(repair.repair_of, 'a');
    assert.deepEqual([repair.lane, repair.row, repair.spec.write_scope, repair.spec.test_commands], ['web', 'R-1', ['a/**'], ['npm test']]);
    assert.ok(repair.spec.prompt.startsWith('do a\n'), repair.spec.prompt);
    assert.ok(repair.spec.prompt.includes('\n```\ntests failed\n```'), repair.spec.prompt);
    assert.ok(repair.spec.prompt.includes('\n````\nline 1\n```\nAssertionError: 2 !== 3\n````'), 'the output cannot close its fence');
    assert.deepEqual(taskOf(next.run, 'b').depends_on, ['a-fix']);
    assert.deepEqual(kinds(next.commands), ['start:a-fix']);
  });

  it('a repair that fails too is not repaired again: its dependents are cancelled and the run fails with what is done and left', () => {
    const ctx = context();
    let of = advance(run([task('a'), task('b', { depends_on: ['a'] }), task('c')]), ctx).run;
    of = advance(recordResult(of, 'a', failed, true, 1_100), ctx).run;
    of = merge(of, 'c', ctx);
    const next = advance(recordResult(of, 'a-fix', failed, true, 1_200), ctx);
    assert.equal(next.run.tasks.length, 4);
    assert.equal(taskOf(next.run, 'b').status, 'cancelled');
    assert.equal(next.run.status, 'failed');
    const handoff = next.run.handoff as { done: { task: string; note: string }[]; left: { task: string }[] };
    assert.deepEqual(handoff.done, [{ task: 'c', type: 'code', status: 'completed', note: 'sha-c' }]);
    assert.deepEqual(
      handoff.left.map((item) => item.task),
      ['b', 'a-fix'],
      'a is replaced by its repair',
    );
  });

  it('a result that fails its test_commands fails the task; with repair_tasks off its dependents are cancelled at once, transitively', () => {
    const ctx = context({ runs: policy({ repair_tasks: false }) });
    const started = advance(run([task('a'), task('b', { depends_on: ['a'] }), task('c', { depends_on: ['b'] })]), ctx).run;
    const unverified = recordResult(started, 'a', result(), false, 1_100);
    assert.equal(taskOf(unverified, 'a').result?.error, 'its result failed its test_commands');
    const next = advance(unverified, ctx);
    assert.deepEqual(
      (next.run.decisions ?? [])
        .filter((decision) => decision.kind === 'cancel')
        .map((decision) => `${decision.task}: ${decision.rationale}`),
      ['b: dependency a failed', 'c: dependency b was cancelled'],
    );
    assert.equal(next.run.status, 'failed');
  });

  it('a task over the per-task token cap fails and is not repaired (a repair would spend as much)', () => {
    const ctx = context();
    const started = advance(run([task('a')], { budgets: { task_tokens: 100 } }), ctx).run;
    const over = recordResult(started, 'a', result(), true, 1_100);
    assert.equal(taskOf(over, 'a').status, 'failed');
    assert.equal(taskOf(over, 'a').result?.error, 'a used 150 tokens, over the per-task cap of 100');
    const next = advance(over, ctx);
    assert.equal(next.run.tasks.length, 1);
    assert.equal(next.run.status, 'failed');
  });

  it('tasks on a dependency cycle are cancelled with the reason instead of waiting forever', () => {
    const next = advance(run([task('a', { depends_on: ['b'] }), task('b', { depends_on: ['a'] })]), context());
    assert.equal(next.run.status, 'failed');
    assert.match(taskOf(next.run, 'a').status, /cancelled/);
    assert.match(
      (next.run.decisions ?? []).find((decision) => decision.task === 'a')?.rationale ?? '',
      /dependencies b can never complete \(a cycle/,
    );
  });
});

describe('run engine: reviews', () => {
  it('a rejecting review cancels what follows it; an approving one lets it run; one without a verdict fails', () => {
    const ctx = context();
    const tasks = [task('rv', { type: 'review' }), task('b', { depends_on: ['rv'] })];
    const started = advance(run(tasks), ctx).run;
    const rejected = advance(recordResult(started, 'rv', result({ files_changed: [] }), true, 1_100, 'reject'), ctx);
    assert.equal(taskOf(rejected.run, 'rv').status, 'completed');
    assert.equal(taskOf(rejected.run, 'b').status, 'cancelled');
    assert.equal(
      (rejected.run.decisions ?? []).find((decision) => decision.task === 'b' && decision.kind === 'cancel')?.rationale,
      'review rv rejected',
    );
    const approved = advance(recordResult(started, 'rv', result({ files_changed: [] }), true, 1_100, 'approve'), ctx);
    assert.deepEqual(kinds(approved.commands), ['start:b']);
    const silent = recordResult(started, 'rv', result({ files_changed: [] }), true, 1_100);
    assert.equal(taskOf(silent, 'rv').result?.error, 'the review gave no verdict (approve or reject)');
  });
});

describe('run engine: hedging', () => {
  const ctx = context({ runs: policy({ hedge_after: '10m' }) });
  const later = { ...ctx, now: 1_000 + 11 * 60_000 };

  it('a straggler gets a duplicate on another class; the first success is adopted and the other cancelled', () => {
    const started = advance(run([task('a'), task('b', { depends_on: ['a'] })]), ctx).run;
    const hedged = advance(started, later);
    assert.deepEqual(kinds(hedged.commands), ['hedge:a']);
    const duplicate = taskOf(hedged.run, 'a~h1');
    assert.deepEqual([duplicate.hedge_of, duplicate.worker_class, duplicate.status], ['a', 'fast', 'running']);
    assert.deepEqual(advance(hedged.run, { ...later, now: later.now + 1 }).commands, [], 'one hedge per task');
    const won = advance(recordResult(hedged.run, 'a~h1', result(), true, later.now + 10), later);
    assert.deepEqual(kinds(won.commands), ['cancel:a', 'promote:a~h1']);
    assert.deepEqual(taskOf(won.run, 'b').depends_on, ['a~h1'], 'the adopted hedge takes its place');
    const late = recordResult(won.run, 'a', result({ usage: { tokens_in: 1, tokens_out: 1, usd: 2 } }), true, later.now + 20);
    assert.equal(usageOf(late.tasks).usd, 3, 'the loser’s late result still counts against the budget');
    let of = recordMerged(recordPromoted(late, 'a~h1', 'x', later.now + 30), 'a~h1', 'sha', later.now + 40);
    of = advance(of, later).run;
    of = merge(of, 'b', later);
    assert.equal(advance(of, later).run.status, 'completed');
  });

  it('when the original fails while its hedge runs, nothing is repaired or cancelled until the hedge fails too', () => {
    const hedged = advance(advance(run([task('a'), task('b', { depends_on: ['a'] })]), ctx).run, later).run;
    const failed = result({ success: false, error: 'boom' });
    const oneSide = advance(recordResult(hedged, 'a', failed, true, later.now + 1), later);
    assert.deepEqual(kinds(oneSide.commands), []);
    assert.equal(taskOf(oneSide.run, 'b').status, 'pending');
    const both = advance(recordResult(oneSide.run, 'a~h1', failed, true, later.now + 2), later);
    assert.equal(taskOf(both.run, 'a-fix').repair_of, 'a');
    assert.deepEqual(taskOf(both.run, 'b').depends_on, ['a-fix']);
  });

  it('a repair’s duplicate is a repair too: a review’s repair hedged still gates what follows by its verdict', () => {
    const tasks = [task('rv', { type: 'review' }), task('b', { depends_on: ['rv'] })];
    let of = advance(run(tasks), ctx).run;
    of = advance(recordResult(of, 'rv', result({ success: false, error: 'crashed' }), true, 1_100), ctx).run;
    const repairStarted = 1_000 + 20 * 60_000;
    of = advance(of, { ...ctx, now: repairStarted }).run;
    of = advance(of, { ...ctx, now: repairStarted + 11 * 60_000 }).run;
    assert.equal(taskOf(of, 'rv-fix~h1').repair_of, 'rv');
    const rejected = recordResult(of, 'rv-fix~h1', result({ files_changed: [] }), true, repairStarted + 12 * 60_000, 'reject');
    const next = advance(rejected, { ...ctx, now: repairStarted + 12 * 60_000 });
    assert.equal(taskOf(next.run, 'b').status, 'cancelled');
    assert.equal(next.run.status, 'failed');
  });

  it('after a restart a hedge whose worker is gone is dropped, not started again; its original goes on', () => {
    const hedged = advance(advance(run([task('a')]), ctx).run, later).run;
    const recovered = recoverRun(hedged, new Set(['a']), later.now + 5);
    assert.deepEqual(kinds(recovered.commands), ['cancel:a~h1']);
    assert.deepEqual([taskOf(recovered.run, 'a~h1').status, taskOf(recovered.run, 'a').status], ['cancelled', 'running']);
    assert.deepEqual(advance(recovered.run, { ...later, now: later.now + 6 }).commands, []);
  });

  it('past degrade_at the router is told so and no hedge doubles the spend', () => {
    const routed: Routed[] = [];
    const tight = context({ runs: policy({ hedge_after: '10m' }) }, undefined, routed);
    const started = advance(run([task('a'), task('b', { depends_on: ['a'] })], { budgets: { usd: 10 } }), tight).run;
    const spent = recordResult(started, 'a', result({ files_changed: [], usage: { tokens_in: 0, tokens_out: 0, usd: 9 } }), true, 1_100);
    const next = advance(spent, { ...tight, now: 1_000 + 11 * 60_000 });
    assert.deepEqual(
      routed.map((each) => `${each.task}:${each.budget}`),
      ['a:ok', 'b:degrade'],
    );
    assert.match(next.commands[0]?.rationale ?? '', /degraded by the budget/);
    assert.deepEqual(advance(next.run, { ...tight, now: 1_000 + 30 * 60_000 }).commands, []);
  });
});

describe('run engine: the budget’s hard stop', () => {
  it('reaching the USD cap stops every worker and ends the run failed with a hand-off, never a silent kill', () => {
    const ctx = context();
    const started = advance(run([task('a'), task('b'), task('c', { depends_on: ['a'] })], { budgets: { usd: 2 } }), ctx).run;
    const spent = recordResult(
      started,
      'a',
      result({ commit_sha: 'c0ffee', usage: { tokens_in: 0, tokens_out: 0, usd: 2.5 } }),
      true,
      1_100,
    );
    const next = advance(spent, ctx);
    assert.deepEqual(kinds(next.commands), ['cancel:a', 'cancel:b', 'finish:']);
    const finish = next.commands.at(-1);
    assert.ok(finish?.kind === 'finish');
    assert.equal(finish.status, 'failed');
    assert.equal(finish.rationale, 'budget exhausted: cap reached: 2.50 of 2.00 USD');
    assert.deepEqual(finish.handoff?.because, ['usd']);
    assert.deepEqual(
      finish.handoff.left.map((item) => `${item.task}: ${item.note}`),
      [
        'a: its verified result (commit c0ffee, on its worker branch) was not merged: the budget ran out',
        'b: stopped while running: the budget ran out',
        'c: not started: the budget ran out',
      ],
    );
    assert.deepEqual(finish.handoff.stop, ['a', 'b']);
    assert.equal(next.run.status, 'failed');
  });
});

describe('run engine: deploy', () => {
  it('a deploy task waits for its gate before it starts; approved it starts, rejected it fails', () => {
    const runs = policy({ profiles: { ship: { generate: 'A4', deploy: 'A2' } } });
    const ctx = context({ runs, profile: profile('ship', runs) });
    const gated = advance(run([task('d', { type: 'deploy' })]), ctx);
    assert.deepEqual(kinds(gated.commands), ['gate:d']);
    const gate = gated.commands[0];
    assert.equal(gate?.kind === 'gate' ? gate.key : '', 'run:r1:gate:deploy:d:1');
    assert.deepEqual(advance(gated.run, ctx).commands, []);
    const approved = recordGate(gated.run, 'deploy', 'd', 'ap-d', 'approved', 1_100);
    assert.deepEqual(step(approved, ctx).did, ['start:d']);
    const rejected = advance(recordGate(gated.run, 'deploy', 'd', 'ap-d', 'rejected', 1_100), ctx);
    assert.equal(taskOf(rejected.run, 'd').status, 'failed');
    assert.equal(rejected.run.status, 'failed');
  });
});

describe('run engine: kill, retry, restart', () => {
  it('kill stops every worker, withdraws pending approvals, ends the run killed; a killed run never restarts', () => {
    const ctx = context({ tierOf: () => 'tier3' });
    let of = advance(run([task('a'), task('b'), task('c', { depends_on: ['a'] })]), ctx).run;
    of = advance(recordResult(of, 'b', result(), true, 1_100), ctx).run;
    of = recordGate(of, 'merge', 'b', 'ap-b', 'pending', 1_150);
    const killed = applyKill(of, 'alice', 1_200);
    assert.ok(!('error' in killed));
    assert.deepEqual(kinds(killed.commands), ['cancel:a', 'cancel:b', 'finish:']);
    const finish = killed.commands.at(-1);
    assert.ok(finish?.kind === 'finish');
    assert.deepEqual([finish.status, finish.withdraw, finish.handoff?.status], ['killed', ['ap-b'], 'killed']);
    assert.deepEqual([killed.run.status, killed.run.killed_by], ['killed', 'alice']);
    assert.equal(taskOf(killed.run, 'c').status, 'cancelled');
    assert.deepEqual(applyKill(killed.run, 'bob', 1_300), { error: 'run r1 already ended (killed); there is nothing to kill' });
    assert.deepEqual(applyRetry(killed.run, 'a', 1_300), { error: 'run r1 was killed; a killed run never restarts (start a new run)' });
    assert.deepEqual(advance(killed.run, ctx).commands, []);
  });

  it('retry puts a failed task back with its dependents, keeps what it spent, and starts it as a new attempt', () => {
    const ctx = context({ runs: policy({ repair_tasks: false }) });
    let of = advance(run([task('a'), task('b', { depends_on: ['a'] })]), ctx).run;
    of = advance(recordResult(of, 'a', result({ success: false, error: 'boom' }), true, 1_100), ctx).run;
    assert.equal(of.status, 'failed');
    const retried = applyRetry(of, 'a', 1_200);
    assert.ok(!('error' in retried));
    assert.deepEqual([retried.status, taskOf(retried, 'a').status, taskOf(retried, 'b').status], ['running', 'pending', 'pending']);
    assert.equal(retried.handoff, undefined);
    assert.equal(usageOf(retried.tasks).usd, 1, 'the failed attempt’s cost still counts');
    const next = advance(retried, ctx);
    assert.deepEqual(
      next.commands.map((command) => (command.kind === 'start' ? command.key : command.kind)),
      ['run:r1:task:a:2'],
    );
  });

  it('retry refuses what cannot be retried, saying what to do instead', () => {
    const ctx = context();
    let of = advance(run([task('a'), task('b')]), ctx).run;
    of = advance(recordResult(of, 'a', result({ success: false, error: 'boom' }), true, 1_100), ctx).run;
    assert.deepEqual(applyRetry(of, 'a', 1), { error: 'a was replaced by a-fix; retry a-fix instead' });
    assert.deepEqual(applyRetry(of, 'b', 1), { error: 'b is running; only a failed or cancelled task is retried' });
    assert.deepEqual(applyRetry(of, 'zz', 1), { error: 'no task "zz" in run r1 (its tasks: a, b, a-fix)' });
  });

  it('retry refuses a run a person stopped or a run still at its budget, and goes on once the budget is raised', () => {
    const conservative = context({ profile: profile('prod-conservative') });
    const asked = advance(run([task('a')]), conservative).run;
    const stopped = advance(recordGate(asked, 'apply', undefined, 'ap-1', 'rejected', 1_100), conservative).run;
    assert.deepEqual(applyRetry(stopped, 'a', 1_200), {
      error: "a person rejected run r1's apply step (approval ap-1); start a new run",
    });
    const ctx = context();
    let of = advance(run([task('a'), task('b')], { budgets: { usd: 1 } }), ctx).run;
    of = advance(recordResult(of, 'a', result({ success: false, error: 'boom' }), true, 1_100), ctx).run;
    assert.equal(of.status, 'failed');
    assert.deepEqual(applyRetry(of, 'b', 1_200), {
      error: 'run r1 is at its budget (cap reached: 1.00 of 1.00 USD); raise the budget before retrying',
    });
    const raised = applyRetry({ ...of, budgets: { usd: 5 } }, 'b', 1_200);
    assert.ok(!('error' in raised));
    assert.deepEqual(kinds(advance(raised, ctx).commands), ['start:b', 'start:a-fix'], 'the repair the budget held back runs too');
  });

  it('after a restart a task whose worker is gone starts again as a new attempt; a gate and a promotion never recorded are asked again', () => {
    const ctx = context({ tierOf: (files) => (files.includes('risky') ? 'tier3' : 'tier1') });
    let of = advance(run([task('a'), task('b'), task('c')]), ctx).run;
    of = advance(
      recordResult(recordResult(of, 'a', result({ files_changed: ['risky'] }), true, 1_100), 'b', result(), true, 1_100),
      ctx,
    ).run;
    const recovered = recoverRun(of, new Set(), 2_000);
    assert.deepEqual(
      recovered.commands.map((command) => `${command.kind}:${'key' in command ? command.key : 'task' in command ? command.task : ''}`),
      ['cancel:c', 'gate:run:r1:gate:merge:a:1', 'promote:run:r1:promote:b:1'],
    );
    assert.equal(taskOf(recovered.run, 'c').status, 'pending');
    const restarted = advance(recovered.run, { ...ctx, now: 2_100 });
    assert.deepEqual(
      restarted.commands.map((command) => (command.kind === 'start' ? command.key : command.kind)),
      ['run:r1:task:c:2'],
    );
    assert.deepEqual(
      recoverRun(of, new Set(['c']), 2_000).commands.map((command) => command.kind),
      ['gate', 'promote'],
    );
  });

  it('keeps the last 500 decisions', () => {
    const many = Array.from({ length: 600 }, (_, i) => ({ at: i, kind: 'note', rationale: String(i) }));
    const next = advance(run([task('a')], { decisions: many }), context());
    assert.equal(next.run.decisions?.length, 500);
    assert.equal(next.run.decisions.at(-1)?.kind, 'start');
  });
});

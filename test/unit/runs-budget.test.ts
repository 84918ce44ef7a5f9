// The budgeter (issue 13): caps on USD, tokens and wall time, degrading to a cheaper class past
// degrade_at, a per-task token cap, and a hard stop that hands off what is done and what is left.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { classUnderBudget, handoff, judgeBudget, taskOverCap } from '../../extension/core/runs/budget';
import type { Run, Task } from '../../extension/core/runs/model';

const usage = (tokens: number, usd: number) => ({ tokens_in: tokens, tokens_out: 0, usd });

function task(id: string, status: Task['status'], extra: Partial<Task> = {}): Task {
  return {
    id,
    type: 'code',
    spec: { prompt: id, variables: {}, write_scope: [], test_commands: [], auto_commit: true },
    depends_on: [],
    attempts: 1,
    status,
    ...extra,
  };
}

describe('runs: the budgeter', () => {
  it('is ok within budget, degrades past degrade_at, stops at a cap, and names the dimension', () => {
    const budgets = { usd: 50, tokens: 200_000, wall_ms: 3_600_000 };
    assert.equal(judgeBudget(budgets, usage(1000, 10), 0, 1000).state, 'ok');
    const degrade = judgeBudget(budgets, usage(1000, 41), 0, 1000);
    assert.deepEqual([degrade.state, degrade.because], ['degrade', ['usd']]);
    const stop = judgeBudget(budgets, usage(1000, 12), 0, 3_600_000);
    assert.deepEqual([stop.state, stop.because], ['stop', ['wall_ms']]);
    assert.match(stop.rationale, /3600000 of 3600000 ms/);
    assert.equal(judgeBudget(budgets, usage(200_000, 0), 0, 0).state, 'stop');
    assert.equal(judgeBudget({}, usage(10 ** 9, 10 ** 6), 0, 10 ** 9).state, 'ok', 'no caps, no stop');
    assert.equal(judgeBudget({ usd: 10 }, usage(0, 6), 0, 0, 0.5).state, 'degrade', 'degrade_at is a parameter');
  });

  it('property: the verdict is stop exactly when some capped dimension is spent to its cap', () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.nat(1000), fc.nat(1000), fc.nat(1000), (usd, usdCap, tokens, tokenCap) => {
        const verdict = judgeBudget({ usd: usdCap, tokens: tokenCap }, usage(tokens, usd), 0, 0);
        assert.equal(verdict.state === 'stop', usd >= usdCap || tokens >= tokenCap);
      }),
    );
  });

  it('past degrade_at the router gets the next cheaper class; the cheapest stays', () => {
    const classes = ['premium', 'code-tuned', 'fast', 'local'];
    const degrade = judgeBudget({ usd: 10 }, usage(0, 9), 0, 0);
    assert.deepEqual(classUnderBudget('premium', classes, degrade), {
      worker_class: 'code-tuned',
      degraded: true,
      rationale: 'past 80% of a cap: 9.00 of 10.00 USD; cheaper classes from now on; code-tuned instead of premium',
    });
    assert.equal(classUnderBudget('local', classes, degrade).worker_class, 'local');
    assert.equal(classUnderBudget('premium', classes, judgeBudget({ usd: 10 }, usage(0, 1), 0, 0)).worker_class, 'premium');
  });

  it('a task over its own token cap is named, whatever the run has left', () => {
    const result = { success: true, output: '', files_changed: [], duration_ms: 1, artifacts: [], usage: usage(9000, 1) };
    assert.match(
      taskOverCap(task('t', 'completed', { result }), { task_tokens: 8000 }) ?? '',
      /t used 9000 tokens, over the per-task cap of 8000/,
    );
    assert.equal(taskOverCap(task('t', 'completed', { result }), { task_tokens: 9000 }), undefined);
  });

  it('the hard stop ends the run failed with a hand-off: done tasks with commits, left tasks with why, running ones to stop', () => {
    const result = {
      success: true,
      output: '',
      commit_sha: 'abc123',
      files_changed: ['a'],
      duration_ms: 1,
      artifacts: [],
      usage: usage(100, 30),
    };
    const run: Run = {
      id: 'r1',
      goal: { kind: 'ticket', text: 'x' },
      profile: 'exploration',
      mode: 'apply',
      budgets: { usd: 50 },
      status: 'running',
      created_at: 0,
      tasks: [
        task('spec', 'completed', { result }),
        task('code', 'running', { result: { ...result, success: false, commit_sha: undefined, usage: usage(50, 25) } }),
        task('docs', 'pending'),
        task('test', 'failed', { result: { ...result, success: false, error: 'tests failed', usage: usage(0, 0) } }),
      ],
    };
    const verdict = judgeBudget(run.budgets, { tokens_in: 150, tokens_out: 0, usd: 55 }, 0, 0);
    const summary = handoff(run, verdict);
    assert.equal(summary.status, 'failed');
    assert.match(summary.why, /budget exhausted: cap reached: 55.00 of 50.00 USD/);
    assert.deepEqual(summary.done, [{ task: 'spec', type: 'code', status: 'completed', note: 'abc123' }]);
    assert.deepEqual(
      summary.left.map((item) => [item.task, item.note]),
      [
        ['code', 'stopped by the budget while running'],
        ['docs', 'not started: the budget ran out'],
        ['test', 'tests failed'],
      ],
    );
    assert.deepEqual(summary.stop, ['code']);
    assert.deepEqual(summary.usage, { tokens_in: 150, tokens_out: 0, usd: 55 });
  });
});

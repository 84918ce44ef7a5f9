// The cockpit's run views (protocol/runView.ts, protocol/runs.ts): the DAG's layers, the budget
// bars a finished run shows, the words of a tree row, and the run panel's request check.
import { strict as assert } from 'node:assert';
import { bigRun, FAILED_TASK, GATED_TASK, liveRun, LIVE_RUN } from '../../fixtures/runs';
import { runKpisView, runView, runViews, taskDepths } from '../../extension/protocol/runView';
import { runKpis } from '../../extension/core/runs/kpi';
import { approvalSubject, isRunRequest, runDescription, taskDescription } from '../../extension/protocol/runs';

const NOW = Date.UTC(2026, 10, 24, 12);

describe('run views for the cockpit', () => {
  it('layers tasks by dependency depth, and cuts a cycle instead of looping', () => {
    const depths = taskDepths([
      { id: 'd', depends_on: ['b', 'c'] },
      { id: 'b', depends_on: ['a'] },
      { id: 'c', depends_on: ['b'] },
      { id: 'a', depends_on: [] },
      { id: 'x', depends_on: ['y'] },
      { id: 'y', depends_on: ['x'] },
    ]);
    assert.deepEqual(Object.fromEntries(depths), { a: 0, b: 1, c: 2, d: 3, x: 1, y: 0 });
    // A 5,000-task chain: no stack overflow.
    const chain = Array.from({ length: 5000 }, (_, i) => ({ id: `t${i}`, depends_on: i ? [`t${i - 1}`] : [] }));
    assert.equal(taskDepths(chain).get('t4999'), 4999);
  });

  it('stops a finished run’s wall-time bar at its end, and shows the spend of a dimension without a cap', () => {
    const big = runView(bigRun(NOW), NOW + 10 * 60 * 60_000);
    const wall = big.budget.bars.find((b) => b.dimension === 'wall_ms');
    assert.equal(wall?.spent, 4 * 60 * 60_000, 'four hours from start to finish, however long ago it ended');
    assert.equal(wall.fraction, 0.5);
    const live = liveRun(NOW).run;
    const uncapped = runView({ ...live, budgets: { usd: 5 } }, NOW);
    const tokens = uncapped.budget.bars.find((b) => b.dimension === 'tokens');
    assert.equal(tokens?.cap, undefined);
    assert.ok((tokens?.spent ?? 0) > 0);
  });

  it('words a run row status first, then tasks settled, spend and the tightest cap; a task row by status, class, cost', () => {
    const view = runView(liveRun(NOW).run, NOW);
    assert.equal(runDescription(view), 'running · 3/7 tasks · 1 failed · $3.02 · 70% of time cap');
    const byId = new Map(view.tasks.map((t) => [t.id, taskDescription(t)]));
    assert.equal(byId.get(FAILED_TASK), 'failed · coder-small · $0.62 · attempt 2');
    assert.equal(byId.get(GATED_TASK), 'awaiting merge approval · coder-large · $0.87');
    assert.equal(view.tasks.find((t) => t.id === FAILED_TASK)?.error?.startsWith('npm test: 3 failing'), true);
  });

  it('lists the newest run first', () => {
    const live = liveRun(NOW).run;
    const older = { ...bigRun(NOW), created_at: live.created_at - 1 };
    assert.deepEqual(
      runViews([older, live], NOW).map((r) => r.id),
      [LIVE_RUN, older.id],
    );
  });

  it('names a run gate by its step and run in the approval queue', () => {
    assert.equal(
      approvalSubject({ actionClass: 'run', kind: 'request-approval', run: LIVE_RUN, step: 'merge', task: GATED_TASK }),
      `merge step of run ${LIVE_RUN} (task ${GATED_TASK})`,
    );
    assert.equal(approvalSubject({ actionClass: 'merge', kind: 'merge', change: 'agent/x' }), 'merge agent/x');
  });

  it("accepts only the run panel's own requests, field by field", () => {
    for (const good of [
      { kind: 'kill' },
      { kind: 'retry', task: 't1' },
      { kind: 'approve', step: 'merge', task: 't1' },
      { kind: 'reject', step: 'apply', reason: 'too costly' },
    ])
      assert.equal(isRunRequest(good), true, JSON.stringify(good));
    for (const bad of [
      null,
      'kill',
      { kind: 'retry' },
      { kind: 'retry', task: '../../etc' },
      { kind: 'approve', step: 'launch' },
      { kind: 'reject', step: 'apply', reason: '  ' },
      { kind: 'openBranch', branch: '--upload-pack=evil' },
      { kind: 'exec', command: 'rm -rf /' },
    ])
      assert.equal(isRunRequest(bad), false, JSON.stringify(bad));
  });
});

describe('run KPIs on the dashboard', () => {
  it("shows core/runs/kpi.ts's numbers over every stored run, and no number where there is nothing to measure", () => {
    const runs = [liveRun(NOW).run, bigRun(NOW)];
    const core = runKpis(runs);
    const view = runKpisView(runs);
    assert.equal(view.costPerMergedChange, core.cost_per_merged_change_usd);
    assert.equal(view.tokensPerSuccessfulTask, core.tokens_per_successful_task);
    assert.equal(view.acceptanceWithoutRework, core.acceptance_without_rework);
    assert.equal(view.mergedChanges, core.merged_changes);
    assert.deepEqual(
      view.successRateByClass.map((c) => [c.workerClass, c.rate, c.tasks]).sort(),
      Object.entries(core.success_rate_by_class)
        .map(([name, c]) => [name, c.rate, c.tasks])
        .sort(),
    );
    const empty = runKpisView([]);
    assert.deepEqual(empty, { successRateByClass: [], mergedChanges: 0, runs: 0 }, 'no run: every KPI is absent (shown as —), none is 0');
  });
});

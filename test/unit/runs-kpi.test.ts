// The operator's KPIs over stored runs: cost per merged change (everything spent counts), tokens per
// successful task, success per worker class, acceptance without rework, lead time ticket → merge.
import { strict as assert } from 'node:assert';
import { percentile, runKpis } from '../../extension/core/runs/kpi';
import type { Task } from '../../extension/core/runs/model';
import { result, run, task } from '../support/runs';

const usage = (usd: number, tokens: number) => ({ tokens_in: tokens, tokens_out: 0, usd });

function merged(id: string, extra: Partial<Task> = {}): Task {
  return task(id, {
    status: 'completed',
    stage: 'merged',
    attempts: 1,
    worker_class: 'premium',
    finished_at: 5_000,
    result: result({ usage: usage(2, 1_000) }),
    ...extra,
  });
}

describe('runs: KPIs', () => {
  it('with nothing merged or run, the ratios are null rather than zero or NaN', () => {
    assert.deepEqual(runKpis([]), {
      cost_per_merged_change_usd: null,
      tokens_per_successful_task: null,
      success_rate_by_class: {},
      acceptance_without_rework: null,
      lead_time_ms: { p50: null, p95: null },
      merged_changes: 0,
      runs: 0,
    });
  });

  it('counts failures, hedges and earlier attempts in the cost; a repair or a retry is rework', () => {
    const ticket = run(
      [
        merged('a'),
        task('a~h1', { hedge_of: 'a', status: 'cancelled', worker_class: 'fast', result: result({ usage: usage(1, 500) }) }),
        task('b', {
          status: 'failed',
          stage: 'work',
          attempts: 1,
          worker_class: 'fast',
          result: result({ success: false, usage: usage(1, 500) }),
        }),
        merged('b-fix', { repair_of: 'b', worker_class: 'fast', finished_at: 9_000 }),
        merged('c', { attempts: 2, earlier_usage: usage(2, 1_000), finished_at: 7_000 }),
        task('d', { status: 'failed', stage: 'approval', attempts: 1, worker_class: 'premium', result: result({ usage: usage(0, 0) }) }),
      ],
      { status: 'completed', created_at: 1_000 },
    );
    const kpis = runKpis([ticket]);
    assert.equal(kpis.merged_changes, 3);
    assert.equal(kpis.cost_per_merged_change_usd, 10 / 3, '2 + 1 + 1 + 2 + 2 + 2 USD over 3 merged changes');
    assert.equal(kpis.tokens_per_successful_task, 5_000 / 3);
    assert.deepEqual(kpis.success_rate_by_class, {
      premium: { tasks: 3, succeeded: 2, rate: 2 / 3 },
      fast: { tasks: 3, succeeded: 2, rate: 2 / 3 },
    });
    assert.equal(kpis.acceptance_without_rework, 1 / 4, 'a merged at once; b-fix and c were reworked; d was refused');
    assert.deepEqual(kpis.lead_time_ms, { p50: 8_000, p95: 8_000 }, 'a ticket: created to its last merge');
  });

  it('a progress run’s rows each have their own lead time; a ticket run that did not complete has none', () => {
    const rows = run([merged('r1', { finished_at: 2_000 }), merged('r2', { finished_at: 4_000 }), merged('r3', { finished_at: 11_000 })], {
      goal: { kind: 'progress', text: 'PROGRESS.md' },
      created_at: 1_000,
    });
    const unfinished = run([merged('x', { finished_at: 50_000 })], { status: 'failed' });
    const kpis = runKpis([rows, unfinished]);
    assert.deepEqual(kpis.lead_time_ms, { p50: 3_000, p95: 10_000 });
    assert.equal(kpis.runs, 2);
  });

  it('percentiles are nearest-rank', () => {
    assert.equal(percentile([1, 2, 3, 4], 50), 2);
    assert.equal(percentile([1, 2, 3, 4], 95), 4);
    assert.equal(percentile([7], 5), 7);
  });
});

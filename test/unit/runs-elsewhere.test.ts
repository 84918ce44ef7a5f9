// Two runs on one repository (issue 13): path locks and max_agents span runs. A task of this run whose
// write scope overlaps a task another run has running waits, named by that run; max_agents counts
// the other run's agents; a task of another run is never started or hedged by this one.
import { strict as assert } from 'node:assert';
import { advance } from '../../extension/core/runs/engine';
import { context, kinds, policy, run, task } from '../support/runs';

describe('runs: path locks and agents across runs', () => {
  const other = { run: 'r2', task: task('b', { status: 'running', stage: 'work', attempts: 1, started_at: 0 }, ['web/**']) };

  it('waits while another run writes an overlapping scope, and says which run holds it', () => {
    const mine = run([task('a', {}, ['web/a/**']), task('c', {}, ['api/**'])]);
    const next = advance(mine, context({ elsewhere: [other] }));
    assert.deepEqual(kinds(next.commands), ['start:c'], 'only the task whose scope is free starts');
    const wait = next.run.decisions?.find((d) => d.task === 'a' && d.kind === 'wait:path-locked');
    assert.ok(wait, JSON.stringify(next.run.decisions));
    assert.match(wait.rationale, /run r2\/b/);
    assert.ok(!wait.rationale.includes('\u0000'), 'no internal marker in the rationale');
  });

  it('starts once the other run no longer holds the scope', () => {
    const mine = run([task('a', {}, ['web/a/**'])]);
    assert.deepEqual(kinds(advance(mine, context({ elsewhere: [] })).commands), ['start:a']);
  });

  it('counts the other run’s agents against max_agents, and never starts or hedges its tasks', () => {
    const mine = run([task('x', {}, ['x/**']), task('y', {}, ['y/**'])]);
    const next = advance(mine, context({ runs: policy({ max_agents: 2, hedge_after: '1s' }), now: 60_000, elsewhere: [other] }));
    assert.deepEqual(kinds(next.commands), ['start:x'], 'one agent is the other run’s');
    assert.ok(
      next.run.tasks.every((t) => !t.id.includes('b~h')),
      'no hedge of the other run’s straggler',
    );
  });
});

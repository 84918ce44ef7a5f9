// The simulated fleet (bench/sim/fleet.ts) drives the real scheduler: what it reports rests on these.
import { strict as assert } from 'node:assert';
import { scopesMayOverlap } from '../../extension/core/runs/scope';
import { schedulerPolicy, simulate, tickets, WORLD, type FleetPolicy, type Strategy } from './fleet';
import { seededRng } from '../../extension/core/runs/router-learn';

const OPERATOR: Strategy = {
  name: 'operator',
  max_agents: 6,
  per_lane: { web: 2 },
  hedge: true,
  hedge_after_min: 30,
  router: { default: 'premium', learn: true, rules: [{ when: 'task.attempts > 0', use: 'premium', fallback: ['code'] }] },
};

describe('bench: the simulated fleet', () => {
  it('the tickets have dependencies on earlier rows only, phases 1–3, lanes and overlapping scopes', () => {
    const rows = tickets(1);
    assert.equal(rows.length, WORLD.tickets);
    const index = new Map(rows.map((row, i) => [row.id, i]));
    for (const [i, row] of rows.entries()) for (const blocker of row.blocked_by) assert.ok((index.get(blocker) ?? i) < i);
    assert.deepEqual([...new Set(rows.map((row) => row.phase))].sort(), [1, 2, 3]);
    assert.ok(rows.filter((row) => row.blocked_by.length > 0).length > 30);
    const overlapping = rows.filter((row, i) =>
      rows.some((other, j) => j !== i && scopesMayOverlap(row.write_scope ?? [], other.write_scope ?? [])),
    );
    assert.ok(overlapping.length > 100, 'many tickets share a module, so path locks bite');
  });

  it('never runs more than max_agents, two overlapping scopes at once, or a lane past its cap; merges every ticket', () => {
    let passes = 0;
    const inner = schedulerPolicy(OPERATOR, seededRng(5));
    const checked: FleetPolicy = (view) => {
      passes++;
      const running = view.run.tasks.filter((task) => task.status === 'running');
      assert.ok(running.length <= OPERATOR.max_agents, `${running.length} running`);
      assert.ok(running.filter((task) => task.lane === 'web').length <= 2);
      for (const a of running)
        for (const b of running) {
          if (a.id >= b.id || a.hedge_of === b.id || b.hedge_of === a.id) continue;
          assert.ok(!scopesMayOverlap(a.spec.write_scope, b.spec.write_scope), `${a.id} and ${b.id} overlap`);
        }
      return inner(view);
    };
    const metrics = simulate(3, OPERATOR, checked);
    assert.ok(passes > WORLD.tickets);
    assert.equal(metrics.tickets_merged + metrics.tickets_abandoned, WORLD.tickets);
    assert.equal(metrics.merges, metrics.tickets_merged + metrics.fix_tickets, 'every fix ticket merged too');
  });

  it('is deterministic per seed, and one agent at a time takes far longer than six', () => {
    const baseline: Strategy = { name: 'baseline', max_agents: 1, hedge: false, hedge_after_min: 30, router: { default: 'premium' } };
    assert.deepEqual(simulate(2, baseline), simulate(2, baseline));
    const serial = simulate(2, baseline);
    const parallel = simulate(2, { ...baseline, name: 'fixed', max_agents: 6 });
    assert.deepEqual(serial.class_mix, { premium: serial.attempts });
    assert.ok(parallel.hours < serial.hours / 2, `${parallel.hours} h vs ${serial.hours} h`);
    assert.equal(parallel.usd, serial.usd, 'the same draws: the same work costs the same, however scheduled');
  });
});

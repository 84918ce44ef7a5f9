// The simulated fleet (bench/sim/fleet.ts) drives the real scheduler: what it reports rests on these.
import { strict as assert } from 'node:assert';
import { scopesMayOverlap } from '../../extension/core/runs/scope';
import { advanceFleetPolicy, schedulerPolicy, simulate, tickets, WORLD, type FleetPolicy, type Strategy } from './fleet';
import { seededRng } from '../../extension/core/runs/router-learn';
import { holdsAgent } from '../../extension/core/runs/schedule';

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

  it('driven by the run engine’s advance (the default): agents, lanes and path locks hold, every ticket merges, each start is a routed decision', function () {
    this.timeout(180_000); // whole simulated runs, on a shared machine
    let passes = 0;
    let routed = 0;
    const inner = advanceFleetPolicy(OPERATOR, seededRng(5));
    const checked: FleetPolicy = (view) => {
      passes++;
      // A result waiting in its lane's queue has no worker (it keeps its path lock): the engine's agents are the working tasks.
      const working = view.run.tasks.filter(holdsAgent);
      assert.ok(working.length <= OPERATOR.max_agents, `${working.length} working`);
      assert.ok(working.filter((task) => task.lane === 'web').length <= 2);
      const running = view.run.tasks.filter((task) => task.status === 'running');
      for (const a of running)
        for (const b of running) {
          if (a.id >= b.id || a.hedge_of === b.id || b.hedge_of === a.id) continue;
          assert.ok(!scopesMayOverlap(a.spec.write_scope, b.spec.write_scope), `${a.id} and ${b.id} overlap`);
        }
      const dispatches = inner(view);
      for (const dispatch of dispatches.filter((entry) => entry.hedge_of === undefined)) {
        assert.match(dispatch.rationale, /learned \(Thompson sampling on [a-z]+\)|rule 1 \(task\.attempts > 0\) matched/);
        routed++;
      }
      return dispatches;
    };
    const metrics = simulate(3, OPERATOR, checked);
    assert.ok(passes > WORLD.tickets);
    assert.ok(routed >= WORLD.tickets);
    assert.equal(metrics.tickets_merged + metrics.tickets_abandoned, WORLD.tickets);
    assert.equal(metrics.merges, metrics.tickets_merged + metrics.fix_tickets, 'every fix ticket merged too');
    assert.deepEqual(simulate(3, OPERATOR), simulate(3, OPERATOR, advanceFleetPolicy(OPERATOR, seededRng(3 * 7919 + 17))));
  });

  it('the learned router’s quality floor trades some USD for fewer escalations and broken merges, on the same tickets', function () {
    this.timeout(180_000);
    const cheapest = { ...OPERATOR, router: { ...OPERATOR.router, min_success: 0 } };
    for (const seed of [1, 4]) {
      const floored = simulate(seed, OPERATOR);
      const pure = simulate(seed, cheapest);
      const share = (m: typeof floored, name: string): number => (m.class_mix[name] ?? 0) / m.attempts;
      assert.ok(share(floored, 'local') < share(pure, 'local') / 3, `local ${share(floored, 'local')} vs ${share(pure, 'local')}`);
      assert.ok(floored.escalations < pure.escalations / 2, `escalations ${floored.escalations} vs ${pure.escalations}`);
      assert.ok(floored.change_failure_rate < pure.change_failure_rate, `${floored.change_failure_rate} vs ${pure.change_failure_rate}`);
      assert.ok(floored.tickets_per_hour > pure.tickets_per_hour, `${floored.tickets_per_hour} vs ${pure.tickets_per_hour} tickets/h`);
      assert.ok(floored.usd_per_merged_ticket > pure.usd_per_merged_ticket, 'the floor costs USD: it is a trade, not a free lunch');
    }
  });

  it('with an agent kept for hedges, stragglers are hedged within max_agents and the lead-time tail shrinks', function () {
    this.timeout(180_000);
    const heavy: Strategy = { ...OPERATOR, router: { default: 'premium' }, stragglers: { probability: 0.1, factor: 8 } };
    const reserved: Strategy = { ...heavy, hedge_reserve: 1 };
    const inner = advanceFleetPolicy(reserved, seededRng(2 * 7919 + 17));
    let hedgesSeen = 0;
    const checked: FleetPolicy = (view) => {
      const working = view.run.tasks.filter(holdsAgent);
      assert.ok(working.length <= reserved.max_agents, `${working.length} working`);
      const dispatches = inner(view);
      const starts = dispatches.filter((dispatch) => dispatch.hedge_of === undefined).length;
      assert.ok(working.length + starts <= reserved.max_agents - 1 || starts === 0, 'new work never takes the kept agent');
      hedgesSeen += dispatches.length - starts;
      return dispatches;
    };
    const withReserve = simulate(2, reserved, checked);
    const without = simulate(2, heavy);
    const unhedged = simulate(2, { ...heavy, hedge: false });
    assert.equal(withReserve.hedges, hedgesSeen);
    assert.ok(withReserve.hedges > 5 * Math.max(1, without.hedges), `${withReserve.hedges} hedges vs ${without.hedges}`);
    assert.ok(withReserve.hedges_won > 0);
    assert.equal(withReserve.tickets_merged + withReserve.tickets_abandoned, WORLD.tickets);
    assert.ok(
      withReserve.p95_lead_time_min < unhedged.p95_lead_time_min,
      `p95 ${withReserve.p95_lead_time_min} vs ${unhedged.p95_lead_time_min} min`,
    );
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

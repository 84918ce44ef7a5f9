// An incident escalated only because no automated repair could be dispatched is
// judged again once the policy gives it a worker (issue 12, "the first hour").
import { strict as assert } from 'node:assert';
import { green, policyFrom, red, change, THREE_LANES, present } from '../support/builders';
import { World } from '../support/world';

function brokenWebWithoutWorker(): { world: World; incident: string } {
  const world = new World(policyFrom(THREE_LANES));
  world.open(change('w1', ['web/a.ts'], { checks: [green('test-web')] }));
  world.cycle();
  const merged = world.merge('w1');
  world.settle([red('test-web', '2 failing\nAssertionError: expected 1 to equal 2')]);
  world.workers = [];
  world.cycle();
  return { world, incident: `inc-${merged.sha.slice(0, 7)}` };
}

describe('decide: an escalation for want of a worker', () => {
  it('names the keys to set in its rationale', () => {
    const { world } = brokenWebWithoutWorker();
    const escalation = world.kinds('escalate')[0]?.rationale ?? '';
    assert.match(escalation, /no command worker is configured here \(set dispatch\.worker: command and dispatch\.command .* in the policy/);
  });

  it('is re-evaluated once a worker is configured: the lane degrades and the fix is dispatched', () => {
    const { world, incident } = brokenWebWithoutWorker();
    assert.equal(world.lane('web').state, 'paused');
    assert.equal(world.state.incidents[incident]?.escalated, true);
    world.cycle();
    assert.equal(world.kinds('dispatch-fix').length, 0, 'still no worker: nothing changes');
    world.workers = ['command'];
    world.cycle();
    assert.equal(world.lane('web').state, 'degraded');
    assert.equal(world.state.incidents[incident].remedy, 'fix');
    assert.equal(world.state.incidents[incident].escalated, false);
    assert.deepEqual(
      world.kinds('dispatch-fix').map((d) => [d.incident, d.attempt]),
      [[incident, 1]],
    );
  });

  it('leaves an escalation the eligibility matrix chose, and a lane an operator paused', () => {
    const world = new World(policyFrom(THREE_LANES));
    world.open(change('w1', ['web/a.ts'], { checks: [green('test-web')] }));
    world.cycle();
    world.merge('w1');
    world.settle([red('test-web', 'CVE found: 3 vulnerabilities found')]);
    world.cycle();
    world.cycle();
    assert.equal(world.lane('web').state, 'paused', 'a security failure stays with a person');
    assert.equal(world.kinds('dispatch-fix').length, 0);

    const { world: other } = brokenWebWithoutWorker();
    present(other.state.lanes.web, 'lane web').operatorPaused = { reason: 'looking into it', since: other.now };
    other.workers = ['command'];
    other.cycle();
    assert.equal(other.lane('web').state, 'paused');
    assert.equal(other.kinds('dispatch-fix').length, 0);
  });
});

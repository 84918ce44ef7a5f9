import { strict as assert } from 'node:assert';
import { decide, initialState } from '../../extension/core/decide';
import { applyOperator } from '../../extension/core/operator';
import { approvalIdFor } from '../../extension/core/keys';
import { THREE_LANES, change, green, policyFrom, red, snapshot, present } from '../support/builders';
import { World } from '../support/world';

const incidentOf = (commit: { sha: string }) => `inc-${commit.sha.slice(0, 7)}`;
const fixFor = (incident: string, id = 'fix1', extra = {}) =>
  change(id, ['web/a.ts'], { branch: `buildmaster/fix/${incident}`, checks: [green('test-web')], ...extra });

/** A world where a web merge has broken test-web on the target. */
function brokenWeb(policyText = THREE_LANES) {
  const world = new World(policyFrom(policyText));
  world.open(change('w1', ['web/a.ts'], { checks: [green('test-web')] }));
  world.cycle();
  const merged = world.merge('w1');
  world.settle([red('test-web', '2 failing\nAssertionError: expected 1 to equal 2')]);
  return { world, incident: incidentOf(merged), merged };
}

describe('decide: lane lifecycle (SPEC §4)', () => {
  it('healthy → degraded on an eligible incident, dispatching a fix; other lanes keep merging', () => {
    const { world, incident } = brokenWeb();
    world.open(change('a1', ['api/x.ts'], { checks: [green('test-api')] }));
    world.open(change('w2', ['web/b.ts'], { checks: [green('test-web')] }));
    world.cycle();
    assert.equal(world.lane('web').state, 'degraded');
    assert.equal(world.lane('web').incident, incident);
    assert.equal(world.state.incidents[incident]?.failureClass, 'test');
    assert.deepEqual(
      world.kinds('dispatch-fix').map((d) => [d.incident, d.attempt, d.key]),
      [[incident, 1, `dispatch:${incident}:1`]],
    );
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      ['a1'],
      'api merges, web does not',
    );
    assert.equal(world.state.global.state, 'incident-contained');
    assert.equal(world.last.outcome.kind, 'pause-lane');
    const w2 = world.last.queues.web?.find((q) => q.change === 'w2');
    assert.equal(w2?.reasons[0]?.code, 'lane-not-admitting');
  });

  it('degraded → recovering when the fix merges, → healthy when target checks are green after it', () => {
    const { world, incident } = brokenWeb();
    world.cycle();
    world.open(fixFor(incident));
    world.open(change('w2', ['web/b.ts'], { checks: [green('test-web')], readySince: 0 }));
    world.cycle();
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      ['fix1'],
      'the fix merges first',
    );
    world.merge('fix1');
    world.cycle();
    assert.equal(world.lane('web').state, 'recovering');
    assert.equal(world.kinds('merge').length, 0, 'a recovering lane admits only further fixes');
    world.settle();
    world.cycle();
    assert.equal(world.lane('web').state, 'healthy');
    assert.equal(world.state.incidents[incident]?.status, 'resolved');
    assert.equal(world.state.global.state, 'normal');
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      ['w2'],
      'the lane merges again once healthy',
    );
  });

  it('recovering → paused when the target is still red after the fix, counting a retry, then re-dispatches', () => {
    const { world, incident } = brokenWeb();
    world.cycle();
    world.open(fixFor(incident));
    world.cycle();
    world.merge('fix1');
    world.settle([red('test-web')]);
    world.cycle();
    assert.equal(world.lane('web').state, 'paused');
    assert.equal(world.state.incidents[incident]?.retries, 1);
    assert.deepEqual(
      world.kinds('dispatch-fix').map((d) => d.attempt),
      [2],
    );
  });

  it('degraded → paused when fix retries are exhausted; escalates and proposes a revert', () => {
    const { world, incident } = brokenWeb();
    world.cycle();
    world.open(fixFor(incident, 'fix1', { headSha: 'f1', checks: [red('test-web')] }));
    world.cycle();
    assert.equal(world.state.incidents[incident]?.retries, 1);
    assert.equal(world.lane('web').state, 'degraded');
    assert.deepEqual(
      world.kinds('dispatch-fix').map((d) => d.attempt),
      [2],
    );
    world.changes[0] = { ...present(world.changes[0], 'the change'), headSha: 'f2' };
    world.cycle();
    assert.equal(world.state.incidents[incident].retries, 2);
    assert.equal(world.lane('web').state, 'paused');
    assert.equal(world.kinds('escalate').length, 1);
    assert.equal(world.kinds('propose-revert').length, 1, 'revert autonomy A2 proposes it automatically');
    assert.equal(world.kinds('propose-revert')[0]?.change, 'w1', 'the culprit merge');
    world.cycle();
    assert.equal(world.state.incidents[incident].retries, 2, 'one failure never counts twice');
    assert.equal(world.kinds('escalate').length + world.kinds('propose-revert').length, 0, 'escalations are not repeated');
  });

  it('paused → recovering when the linked revert merges', () => {
    const { world, incident } = brokenWeb(THREE_LANES + '\neligibility:\n  test: revert\n');
    world.cycle();
    assert.equal(world.lane('web').state, 'paused');
    assert.equal(world.kinds('propose-revert').length, 1);
    world.open(change('rv', ['web/a.ts'], { branch: `buildmaster/revert/${incident}`, checks: [green('test-web')] }));
    world.open(change('w3', ['web/c.ts'], { checks: [green('test-web')], labels: ['priority'] }));
    world.cycle();
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      ['rv'],
      'only the linked revert is admitted',
    );
    world.merge('rv');
    world.cycle();
    assert.equal(world.lane('web').state, 'recovering');
  });

  it('degraded → paused on a second incident in the lane', () => {
    const { world } = brokenWeb();
    world.cycle();
    world.open(change('t1', ['web/t.md'], { checks: [green('test-web')] }));
    const policy = world.policy;
    assert.equal(policy.lanes[0]?.name, 'web');
    world.cycle();
    world.merge('t1');
    world.settle([red('test-web'), red('lint', 'eslint: 3 problems (3 errors')]);
    world.cycle();
    assert.equal(world.lane('web').state, 'paused');
    assert.match(world.lane('web').reason, /second incident/);
  });

  it('degraded → paused when a dispatched fix never arrives within dispatch.timeout, after retries', () => {
    const { world, incident } = brokenWeb(THREE_LANES.replace('incidents:\n', 'incidents:\n  fix_retries: 1\n'));
    world.cycle();
    assert.equal(world.lane('web').state, 'degraded');
    world.cycle(29 * 60_000);
    assert.equal(world.lane('web').state, 'degraded', 'still within dispatch.timeout');
    world.cycle(2 * 60_000);
    assert.equal(world.state.incidents[incident]?.attempts[0]?.outcome, 'failed');
    assert.match(world.state.incidents[incident].attempts[0].reason ?? '', /dispatch.timeout/);
    assert.equal(world.lane('web').state, 'paused');
    assert.equal(world.kinds('escalate').length, 1);
  });

  it('a failed worker build counts a retry', () => {
    const { world, incident } = brokenWeb();
    world.cycle();
    world.builds.push({ incident, attempt: 1, status: 'failed', error: 'exit 1', updatedAt: world.now });
    world.cycle();
    assert.equal(world.state.incidents[incident]?.retries, 1);
    assert.deepEqual(
      world.kinds('dispatch-fix').map((d) => d.attempt),
      [2],
    );
  });

  it('healthy → paused with an escalation for an ineligible class', () => {
    const { world, incident } = brokenWeb();
    present(world.commits.at(-1), 'the newest commit').checks = [red('test-web', 'CVE found: 3 vulnerabilities found')];
    world.cycle();
    assert.equal(world.state.incidents[incident]?.failureClass, 'security');
    assert.equal(world.lane('web').state, 'paused');
    assert.equal(world.kinds('escalate').length, 1);
    assert.equal(world.kinds('dispatch-fix').length, 0);
  });

  it('no configured worker means no automated fix: paused and escalated', () => {
    const { world } = brokenWeb();
    world.workers = [];
    world.cycle();
    assert.equal(world.lane('web').state, 'paused');
    assert.match(world.kinds('escalate')[0]?.rationale ?? '', /no command worker/);
  });

  it('pages the owners once when a lane stays paused longer than page_owner_after', () => {
    const { world } = brokenWeb(THREE_LANES + 'owners: ["@octocat"]\n');
    world.workers = [];
    world.cycle();
    world.cycle(29 * 60_000);
    assert.equal(world.kinds('page-owner').length, 0);
    world.cycle(2 * 60_000);
    assert.equal(world.kinds('page-owner').length, 1);
    assert.match(world.kinds('page-owner')[0]?.rationale ?? '', /@octocat/);
    world.cycle(60 * 60_000);
    assert.equal(world.kinds('page-owner').length, 0, 'paged once');
  });

  it('the same unrepaired break on later commits opens no second incident', () => {
    const { world } = brokenWeb();
    world.open(change('a1', ['api/x.ts'], { checks: [green('test-api')] }));
    world.cycle();
    world.merge('a1');
    world.settle([red('test-web')]);
    world.cycle();
    assert.equal(Object.keys(world.state.incidents).length, 1);
    assert.equal(world.lane('api').state, 'healthy');
  });
});

describe('decide: global state', () => {
  it('a tier 3 incident holds everything; only release --ack ends it, and it does not re-trigger', () => {
    const world = new World(policyFrom(THREE_LANES + 'risk:\n  tier3: ["web/auth/**"]\n'));
    world.open(change('w1', ['web/auth/login.ts'], { checks: [green('test-web')] }));
    world.cycle();
    assert.equal(world.kinds('merge').length, 0, 'tier 3 never merges without approval');
    const approval = world.kinds('request-approval')[0]?.approval as string;
    world.operator({ kind: 'approve', id: approval, by: 'ann' });
    world.cycle();
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      ['w1'],
    );
    world.merge('w1');
    world.settle([red('test-web')]);
    world.open(change('a1', ['api/x.ts'], { checks: [green('test-api')] }));
    world.cycle();
    assert.equal(world.state.global.state, 'global-hold');
    assert.equal(world.last.outcome.kind, 'global-hold');
    assert.equal(world.kinds('merge').length, 0, 'nothing merges during a hold');
    const refused = applyOperator(world.state, { kind: 'release', ack: false, by: 'ann' }, world.now);
    assert.equal(refused.ok, false);
    assert.equal(refused.code, 'ack-required');
    world.operator({ kind: 'release', ack: true, by: 'ann' });
    world.cycle();
    assert.equal(world.state.global.state, 'incident-contained');
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      ['a1'],
    );
  });

  it('a cross-lane incident holds everything', () => {
    const world = new World(policyFrom(THREE_LANES));
    world.open(change('w1', ['web/a.ts'], { checks: [green('test-web')] }));
    world.open(change('a1', ['api/a.ts'], { checks: [green('test-api')] }));
    world.cycle();
    world.merge('w1');
    world.merge('a1');
    world.settle([red('build')]);
    world.cycle();
    const incident = Object.values(world.state.incidents)[0];
    assert.equal(incident?.crossLane, true);
    assert.equal(world.state.global.state, 'global-hold');
    assert.equal(world.lane('web').state, 'paused');
    assert.equal(world.lane('api').state, 'paused');
  });

  it('paused_lanes_at_least paused lanes hold everything', () => {
    const world = new World(policyFrom(THREE_LANES.replace('paused_lanes_at_least: 3', 'paused_lanes_at_least: 2')));
    world.operator({ kind: 'pause', lane: 'web', reason: 'flaky runner', by: 'ann' });
    world.cycle();
    assert.equal(world.state.global.state, 'incident-contained');
    world.operator({ kind: 'pause', lane: 'api', reason: 'migration', by: 'ann' });
    world.cycle();
    assert.equal(world.state.global.state, 'global-hold');
    assert.match(world.state.global.reason, /2 lanes paused/);
  });

  it('an operator hold stops every merge until released', () => {
    const world = new World(policyFrom(THREE_LANES));
    world.open(change('a1', ['api/a.ts'], { checks: [green('test-api')] }));
    world.operator({ kind: 'hold', reason: 'release freeze', by: 'ann' });
    world.cycle();
    assert.equal(world.kinds('merge').length, 0);
    assert.match(world.last.queues.api?.[0]?.reasons.map((r) => r.message).join() ?? '', /release freeze/);
    world.operator({ kind: 'release', ack: true, by: 'ann' });
    world.cycle();
    assert.equal(world.kinds('merge').length, 1);
    assert.equal(world.state.global.state, 'normal');
  });
});

describe('decide: merging', () => {
  it('merges at most one change per lane per cycle, in documented order', () => {
    const world = new World(policyFrom(THREE_LANES + 'merge:\n  wait_for_target_green: false\n'));
    world.open(change('old', ['web/1.ts'], { checks: [green('test-web')], readySince: 1 }));
    world.open(change('new', ['web/2.ts'], { checks: [green('test-web')], readySince: 5 }));
    world.open(change('prio', ['web/3.ts'], { checks: [green('test-web')], readySince: 9, labels: ['priority'] }));
    world.open(change('api', ['api/1.ts'], { checks: [green('test-api')] }));
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      const merges = world.cycle().decisions.filter((d) => d.kind === 'merge');
      assert.ok(merges.filter((m) => m.lane === 'web').length <= 1);
      for (const m of merges) {
        if (m.lane === 'web') order.push(m.change as string);
        world.merge(m.change as string);
        world.settle();
      }
    }
    assert.deepEqual(order, ['prio', 'old', 'new']);
  });

  it('merges a stack bottom first', () => {
    const world = new World(policyFrom(THREE_LANES));
    world.open(change('top', ['web/2.ts'], { checks: [green('test-web')], stackParent: 'bottom', base: 'agent/bottom', readySince: 0 }));
    world.open(change('bottom', ['web/1.ts'], { checks: [green('test-web')], readySince: 9 }));
    world.cycle();
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      ['bottom'],
    );
    assert.equal(world.last.queues.web?.find((q) => q.change === 'top')?.reasons[0]?.code, 'stack-parent-open');
  });

  it('waits for the last merge’s target checks before the next merge in the lane', () => {
    const world = new World(policyFrom(THREE_LANES));
    world.open(change('w1', ['web/1.ts'], { checks: [green('test-web')] }));
    world.open(change('w2', ['web/2.ts'], { checks: [green('test-web')] }));
    world.cycle();
    world.merge('w1');
    world.cycle();
    assert.equal(world.kinds('merge').length, 0);
    assert.equal(world.last.queues.web?.[0]?.reasons[0]?.code, 'awaiting-target-checks');
    world.settle();
    world.cycle();
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      ['w2'],
    );
  });

  it('retries a merge that did not happen (the change is still open next cycle)', () => {
    const world = new World(policyFrom(THREE_LANES));
    world.open(change('w1', ['web/1.ts'], { checks: [green('test-web')] }));
    world.cycle();
    world.cycle();
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      ['w1'],
    );
  });

  it('asks for approval once, merges when approved, and reports a rejection', () => {
    const world = new World(policyFrom(THREE_LANES.replace('merge: A4', 'merge: A3')));
    world.open(change('w1', ['web/1.ts'], { checks: [green('test-web')] }));
    world.open(change('w2', ['web/2.ts'], { checks: [green('test-web')] }));
    world.cycle();
    const requests = world.kinds('request-approval');
    assert.equal(requests.length, 2);
    world.cycle();
    assert.equal(world.kinds('request-approval').length, 0, 'not asked twice');
    const [first, second] = requests.map((r) => r.approval as string);
    world.operator({ kind: 'reject', id: second as string, reason: 'needs design review', by: 'ann' });
    world.operator({ kind: 'approve', id: first as string, by: 'ann' });
    world.cycle();
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      ['w1'],
    );
    const w2 = world.last.queues.web?.find((q) => q.change === 'w2');
    assert.deepEqual(
      w2?.reasons.map((r) => r.code),
      ['awaiting-target-checks', 'approval-rejected'],
    );
    assert.match(w2.reasons[1]?.message ?? '', /needs design review/);
  });

  it('withdraws a pending merge approval when the head moves', () => {
    const world = new World(policyFrom(THREE_LANES.replace('merge: A4', 'merge: A3')));
    world.open(change('w1', ['web/1.ts'], { checks: [green('test-web')] }));
    world.cycle();
    const id = world.kinds('request-approval')[0]?.approval as string;
    world.changes[0] = { ...present(world.changes[0], 'the change'), headSha: 'moved' };
    world.cycle();
    assert.equal(world.state.approvals[id], undefined);
    assert.ok(world.state.approvals[approvalIdFor('merge:w1:moved')]);
  });

  it('dispatches a fix through an approval when fix autonomy is below A2', () => {
    const { world, incident } = brokenWeb(THREE_LANES.replace('fix: A2', 'fix: A1'));
    world.cycle();
    assert.equal(world.kinds('dispatch-fix').length, 0);
    const request = world.kinds('request-approval')[0];
    assert.equal(request?.incident, incident);
    world.operator({ kind: 'approve', id: request.approval as string, by: 'ann' });
    world.cycle();
    assert.deepEqual(
      world.kinds('dispatch-fix').map((d) => d.attempt),
      [1],
    );
  });
});

describe('decide: operator lane control', () => {
  it('pause stops a lane; resume verifies green target checks before healthy', () => {
    const world = new World(policyFrom(THREE_LANES));
    world.open(change('w1', ['web/1.ts'], { checks: [green('test-web')] }));
    world.operator({ kind: 'pause', lane: 'web', reason: 'investigating', by: 'ann' });
    world.cycle();
    assert.equal(world.kinds('merge').length, 0);
    world.operator({ kind: 'resume', lane: 'web', by: 'ann' });
    assert.equal(world.lane('web').state, 'recovering');
    world.cycle();
    assert.equal(world.lane('web').state, 'healthy');
  });

  it('resume of a lane whose checks are red on the target keeps it paused', () => {
    const world = new World(policyFrom(THREE_LANES));
    world.operator({ kind: 'pause', lane: 'web', reason: 'x', by: 'ann' });
    present(world.commits[0], 'the first commit').checks = [red('test-web')];
    world.cycle();
    world.operator({ kind: 'resume', lane: 'web', by: 'ann' });
    world.cycle();
    assert.notEqual(world.lane('web').state, 'healthy');
  });

  it('names unknown lanes and approvals', () => {
    const state = initialState(policyFrom(THREE_LANES), 0);
    const lane = applyOperator(state, { kind: 'pause', lane: 'wbe', reason: '', by: 'a' }, 0);
    assert.equal(!lane.ok && lane.code, 'unknown-lane');
    assert.match(!lane.ok ? lane.message : '', /lanes: web, api, docs, shared/);
    const approval = applyOperator(state, { kind: 'approve', id: 'ap-nope', by: 'a' }, 0);
    assert.equal(!approval.ok && approval.code, 'unknown-approval');
  });
});

describe('decide: determinism and purity', () => {
  it('gives the same output for the same input and does not mutate its inputs', () => {
    const { world } = brokenWeb();
    const snap = snapshot({ changes: world.changes, targetCommits: world.commits });
    const before = JSON.stringify({ snap, state: world.state });
    const a = decide(snap, world.state, world.policy, 5);
    const b = decide(snap, world.state, world.policy, 5);
    assert.deepEqual(a, b);
    assert.equal(JSON.stringify({ snap, state: world.state }), before);
  });
});

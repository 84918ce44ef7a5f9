// Rules the simulation benchmark exposed: each is a scenario a real repository can reach.
import { strict as assert } from 'node:assert';
import { THREE_LANES, change, green, policyFrom, red, present } from '../support/builders';
import { World } from '../support/world';
import { applyOperator } from '../../extension/core/operator';
import { laneOrder } from '../../extension/core/merges';

describe('decide: attribution per lane, unresolvable incidents, cross-lane changes', () => {
  it('two lanes breaking in one window are two contained incidents, not one cross-lane hold', () => {
    const world = new World(policyFrom(THREE_LANES));
    world.open(change('w1', ['web/a.ts'], { checks: [green('test-web')] }));
    world.open(change('a1', ['api/a.ts'], { checks: [green('test-api')] }));
    world.cycle();
    world.merge('w1');
    world.merge('a1');
    world.settle([red('test-web', '1 failing'), red('test-api', '1 failing')]);
    world.cycle();
    const incidents = Object.values(world.state.incidents);
    assert.deepEqual(incidents.map((i) => i.lanes).sort(), [['api'], ['web']]);
    assert.deepEqual(incidents.map((i) => i.failingChecks).sort(), [['test-api'], ['test-web']]);
    assert.equal(world.state.global.state, 'incident-contained');
    assert.equal(world.kinds('dispatch-fix').length, 2);
  });

  it('a lane whose check fails with no suspect of its own: the failure belongs to the lane the suspect touched, and is never silently covered', () => {
    const world = new World(policyFrom(THREE_LANES));
    world.land(change('w1', ['web/a.ts'], { checks: [green('test-web')] }), [red('test-web'), red('test-docs')]);
    world.cycle();
    const incidents = Object.values(world.state.incidents);
    assert.equal(incidents.length, 1, 'one culprit, one incident');
    assert.deepEqual(incidents[0]?.lanes, ['web']);
    assert.deepEqual(incidents[0].failingChecks.sort(), ['test-docs', 'test-web']);
    assert.match(incidents[0].rationale, /no suspect touched lane docs/);
    assert.equal(world.lane('docs').state, 'healthy', 'the dependent lane keeps merging');
    assert.equal(world.lane('web').state, 'degraded');
    // test-web passes again but test-docs still fails: the incident holds on.
    world.commits.push({ sha: 'e'.repeat(40), checks: [green('test-web'), green('test-api'), red('test-docs')], time: 5 });
    world.cycle();
    assert.equal(world.state.incidents[incidents[0].id]?.status, 'open');
    world.commits.push({ sha: 'f'.repeat(40), checks: [green('test-web'), green('test-api'), green('test-docs')], time: 6 });
    world.cycle();
    assert.equal(world.state.incidents[incidents[0].id]?.status, 'resolved', 'its failures are gone from the target');
    assert.equal(world.lane('web').state, 'healthy');
  });

  it('a second incident in a lane already being repaired pauses it and escalates', () => {
    const world = new World(policyFrom(THREE_LANES));
    world.land(change('w1', ['web/a.ts'], { checks: [green('test-web')] }), [red('test-web')]);
    world.cycle();
    world.land(change('d1', ['web/x.md'], { checks: [green('test-web')] }), [red('test-web'), red('lint', 'eslint: 2 problems (2 errors')]);
    world.cycle();
    assert.equal(world.lane('web').state, 'paused');
    const escalation = world.kinds('escalate')[0];
    assert.match(escalation?.rationale ?? '', /second incident in lane web/);
  });

  it('an unattributed incident ends when its checks are green again on a later commit', () => {
    const world = new World(policyFrom(THREE_LANES));
    present(world.commits[0], 'the first commit').checks.push(green('build'));
    world.commits.push({ sha: 'b'.repeat(40), checks: [green('test-web'), green('test-api'), green('test-docs'), red('build')], time: 1 });
    world.cycle();
    const incident = Object.values(world.state.incidents)[0];
    assert.equal(incident?.unattributed, true);
    assert.equal(world.state.global.state, 'global-hold');
    world.commits.push({ sha: 'c'.repeat(40), checks: [green('test-web'), green('test-api'), green('test-docs'), red('build')], time: 2 });
    world.cycle();
    assert.equal(world.state.incidents[incident.id]?.status, 'open', 'still red: still open');
    world.commits.push({
      sha: 'd'.repeat(40),
      checks: [green('test-web'), green('test-api'), green('test-docs'), green('build')],
      time: 3,
    });
    world.cycle();
    assert.equal(world.state.incidents[incident.id]?.status, 'resolved');
    assert.equal(world.state.global.state, 'global-hold', 'the hold itself still needs an owner’s release');
    world.operator({ kind: 'release', ack: true, by: 'owner' });
    world.cycle();
    assert.equal(world.state.global.state, 'normal');
  });

  it('a cross-lane change waits while a lane it touches is degraded', () => {
    const world = new World(policyFrom(THREE_LANES));
    world.land(change('w1', ['web/a.ts'], { checks: [green('test-web')] }), [red('test-web')]);
    world.cycle();
    world.open(change('x1', ['web/b.ts', 'api/b.ts'], { checks: [green('test-web'), green('test-api')] }));
    world.cycle();
    const entry = world.last.queues.shared?.find((q) => q.change === 'x1');
    assert.ok(
      entry?.reasons.some((r) => r.code === 'lane-not-admitting' && /also touches lane web, which is degraded/.test(r.message)),
      JSON.stringify(entry?.reasons),
    );
    assert.equal(world.kinds('merge').length, 0);
  });

  it('a cross-lane change reserves the busy lanes it touches, lands, and they wait for its target checks', () => {
    const world = new World(policyFrom(THREE_LANES));
    for (let i = 0; i < 3; i++) world.open(change(`w${i}`, [`web/${i}.ts`], { checks: [green('test-web')], readySince: i }));
    world.cycle();
    world.merge('w0');
    // A cross-lane change needs every check the policy knows (SPEC §3.1), test-docs included.
    world.open(
      change('x1', ['web/b.ts', 'api/b.ts'], { checks: [green('test-web'), green('test-api'), green('test-docs')], readySince: 0 }),
    );
    world.cycle();
    const w1 = world.last.queues.web?.find((q) => q.change === 'w1');
    assert.ok(
      w1?.reasons.some((r) => r.code === 'lane-reserved'),
      'web holds its merges for x1',
    );
    world.settle();
    world.cycle();
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      ['x1'],
      'web does not merge in the same cycle as x1',
    );
    world.merge('x1');
    world.cycle();
    assert.equal(world.lane('web').awaiting?.change, 'x1');
    assert.equal(world.lane('api').awaiting?.change, 'x1');
    assert.equal(world.kinds('merge').length, 0);
    world.settle();
    world.cycle();
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      ['w1'],
    );
  });

  it('keeps only the most recent resolved incidents in the state', () => {
    const world = new World(policyFrom(THREE_LANES));
    for (let i = 0; i < 60; i++) {
      world.open(change(`w${i}`, [`web/${i}.ts`], { checks: [green('test-web')] }));
      world.cycle();
      world.merge(`w${i}`);
      world.settle([red('test-web')]);
      world.cycle();
      const incident = Object.values(world.state.incidents).find((x) => x.status === 'open');
      world.open(change(`f${i}`, ['web/fix.ts'], { branch: `buildmaster/fix/${incident?.id}`, checks: [green('test-web')] }));
      world.cycle();
      world.merge(`f${i}`);
      world.settle();
      world.cycle();
    }
    const incidents = Object.values(world.state.incidents);
    assert.equal(incidents.filter((i) => i.status === 'open').length, 0);
    assert.equal(incidents.length, 50);
  });
});

describe('decide: findings from replaying a real history', () => {
  /** A world whose web lane broke, with the fix for its incident dispatched. */
  function brokenWeb() {
    const world = new World(policyFrom(THREE_LANES));
    const merged = world.land(change('w1', ['web/a.ts'], { checks: [green('test-web')] }), [red('test-web', '1 failing')]);
    world.cycle();
    const incident = `inc-${merged.sha.slice(0, 7)}`;
    assert.deepEqual(
      world.kinds('dispatch-fix').map((d) => d.attempt),
      [1],
    );
    return { world, incident };
  }

  it('a fix that merges this cycle is never re-dispatched in the same cycle (a dispatch resets its branch)', () => {
    const { world, incident } = brokenWeb();
    // The worker reported its build failed, yet the fix branch it pushed passes its checks.
    world.builds.push({ incident, attempt: 1, status: 'failed', error: 'exit 1', updatedAt: world.now });
    world.open(change('fix1', ['web/a.ts'], { branch: `buildmaster/fix/${incident}`, checks: [green('test-web')] }));
    world.cycle();
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      ['fix1'],
    );
    assert.deepEqual(world.kinds('dispatch-fix'), [], 'no attempt 2 while attempt 1 merges');
  });

  it('a fix is judged by its own required checks, not by another lane’s check that is red on it', () => {
    const { world, incident } = brokenWeb();
    world.open(change('fix1', ['web/a.ts'], { branch: `buildmaster/fix/${incident}`, checks: [green('test-web'), red('test-api')] }));
    world.cycle();
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      ['fix1'],
    );
    assert.deepEqual(world.kinds('dispatch-fix'), []);
    assert.equal(world.state.incidents[incident]?.retries, 0, 'a check the fix does not need is no failed attempt');
  });

  it('an obsolete revert (its incident already repaired by the fix) is withdrawn, and the lane keeps merging', () => {
    const { world, incident } = brokenWeb();
    world.open(change('fix1', ['web/a.ts'], { branch: `buildmaster/fix/${incident}`, checks: [green('test-web')] }));
    world.cycle();
    world.merge('fix1');
    world.settle();
    world.cycle();
    assert.equal(world.state.incidents[incident]?.status, 'resolved');
    world.open(change('rev', ['web/a.ts'], { branch: `buildmaster/revert/${incident}`, checks: [green('test-web')], readySince: 0 }));
    world.open(change('w2', ['web/b.ts'], { checks: [green('test-web')] }));
    world.cycle();
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      ['w2'],
    );
    const revert = world.last.queues.web?.find((q) => q.change === 'rev');
    assert.deepEqual(
      revert?.reasons.map((r) => r.code),
      ['link-withdrawn'],
    );
  });

  it('a change whose diff is empty on the target, or any merge while the target checkout is dirty, never merges', () => {
    const world = new World(policyFrom(THREE_LANES));
    world.open(change('w1', ['web/a.ts'], { checks: [green('test-web')], emptyOnTarget: true }));
    world.open(change('a1', ['api/a.ts'], { checks: [green('test-api')] }));
    world.mergeBlocked = 'main is checked out with uncommitted changes in /repo';
    world.cycle();
    assert.deepEqual(world.kinds('merge'), []);
    assert.deepEqual(
      world.last.queues.api?.[0]?.reasons.map((r) => r.code),
      ['merge-blocked'],
    );
    delete world.mergeBlocked;
    world.cycle();
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      ['a1'],
    );
    assert.deepEqual(
      world.last.queues.web?.[0]?.reasons.map((r) => r.code),
      ['empty-change'],
    );
  });

  it('the local forge’s check order leaves out changes that can never merge, so they cannot stop the lane’s next change from being tested', () => {
    const { world, incident } = brokenWeb();
    present(world.state.incidents[incident], incident).status = 'resolved';
    const order = laneOrder(
      world.policy,
      [
        change('rev', ['web/a.ts'], { branch: `buildmaster/revert/${incident}`, readySince: 0 }),
        change('same', ['web/b.ts'], { emptyOnTarget: true, readySince: 1 }),
        change('w2', ['web/c.ts'], { readySince: 2 }),
      ],
      world.state,
    );
    assert.deepEqual(
      order.get('web')?.map((c) => c.id),
      ['w2'],
    );
  });

  it('a cross-lane change whose lanes’ checks are red on its merge result does not merge ("0 required checks green")', () => {
    const world = new World(policyFrom(THREE_LANES));
    world.open(change('x1', ['web/a.ts', 'api/a.ts'], { checks: [red('test-web'), red('test-api'), green('test-docs')] }));
    world.open(change('s1', ['Makefile'], { checks: [] }));
    world.cycle();
    assert.deepEqual(world.kinds('merge'), []);
    const codes = (id: string) => world.last.queues.shared?.find((q) => q.change === id)?.reasons.map((r) => r.code);
    assert.deepEqual(codes('x1'), ['check-failing', 'check-failing']);
    assert.deepEqual(codes('s1'), ['check-missing', 'check-missing', 'check-missing']);
  });
});

describe('decide: lanes and changes named like Object’s own properties', () => {
  it('an operator naming a lane or approval that does not exist gets "unknown", never Object’s own property', () => {
    const world = new World(policyFrom(THREE_LANES));
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const pause = applyOperator(world.state, { kind: 'pause', lane: name, reason: 'look', by: 'op' }, 1);
      assert.equal(pause.ok ? 'ok' : pause.code, 'unknown-lane', name);
      const approve = applyOperator(world.state, { kind: 'approve', id: name, by: 'op' }, 1);
      assert.equal(approve.ok ? 'ok' : approve.code, 'unknown-approval', name);
    }
    assert.equal(Object.hasOwn(Object, 'operatorPaused'), false);
  });

  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    it(`a lane named ${name} and a change with that id survive every cycle and a JSON round trip`, () => {
      const policy = policyFrom(
        `lanes:\n  - name: "${name}"\n    paths: ["web/**"]\n    checks: ["test-web"]\ndefault_lane: shared\nautonomy:\n  merge: A4\ndispatch:\n  worker: command\n  command: ./fix.sh\n`,
      );
      const world = new World(policy, ['test-web']);
      world.open(change(name, ['web/a.ts'], { checks: [green('test-web')] }));
      world.cycle();
      assert.equal(Object.hasOwn(world.state.lanes, name), true);
      assert.deepEqual(
        world.kinds('merge').map((d) => [d.lane, d.change]),
        [[name, name]],
      );
      assert.deepEqual(Object.keys(world.last.queues), [name, 'shared']);
      world.merge(name);
      world.settle([red('test-web')]);
      world.state = JSON.parse(JSON.stringify(world.state)) as typeof world.state;
      world.cycle();
      world.state = structuredClone(world.state);
      world.cycle();
      const lane = world.lane(name);
      assert.equal(lane.name, name);
      assert.equal(lane.state, 'degraded');
      assert.equal(world.state.incidents[lane.incident ?? '']?.lanes[0], name);
      assert.deepEqual(Object.keys(world.state.lanes), [name, 'shared']);
    });
  }
});

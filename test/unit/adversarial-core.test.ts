// Holes an adversarial tester found in the core: an approval reused through an
// id collision, a fix-named branch carried past a paused lane, and a policy
// edit that removes a lane with an open incident.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { THREE_LANES, change, green, policyFrom, red, snapshot } from '../support/builders';
import { World } from '../support/world';
import { approvalIdFor, mergeKey } from '../../extension/core/keys';
import { decide, initialState } from '../../extension/core/decide';
import { recordOf } from '../../extension/core/records';
import type { Approval, Change, ControllerState } from '../../extension/core/model';

const TIER3 = policyFrom(`${THREE_LANES}risk:\n  tier3: ["infra/**"]\n`);
const ALL_GREEN = [green('test-web'), green('test-api'), green('test-docs')];

/** The approval id earlier versions derived: FNV-1a over 32 bits. Stores they wrote still hold such ids. */
function legacyId(key: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `ap-${hash.toString(36).padStart(7, '0')}`;
}

/** Two branch names whose merge keys (head `head`) share a 32-bit id, found by a birthday search over `agent/x<n>`. */
const COLLIDING: [string, string] = ['agent/xd9dh', 'agent/x1an90'];

function approved(key: string, id: string): Approval {
  return {
    id,
    key,
    actionClass: 'merge',
    kind: 'merge',
    tier: 'tier3',
    rationale: 'approved earlier',
    status: 'approved',
    createdAt: 0,
    resolvedAt: 0,
    resolvedBy: 'ann',
  };
}

describe('adversarial core: an approval stands only for its own action key', () => {
  it('a branch whose approval id collides with an approved, merged change still needs its own approval', () => {
    const [first, second] = COLLIDING;
    assert.equal(legacyId(`merge:${first}:head`), legacyId(`merge:${second}:head`), 'a real 32-bit collision');
    const world = new World(TIER3);
    world.open(change(first, ['infra/deploy.sh'], { branch: first, headSha: 'head', checks: ALL_GREEN }));
    world.cycle();
    world.operator({ kind: 'approve', id: world.kinds('request-approval')[0]?.approval as string, by: 'ann' });
    world.cycle();
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      [first],
    );
    world.merge(first);
    world.settle();
    world.cycle();
    // The store as an earlier version wrote it: approvals under their 32-bit ids.
    world.state.approvals = recordOf(
      Object.values(world.state.approvals).map((a): [string, Approval] => [legacyId(a.key), { ...a, id: legacyId(a.key) }]),
    );
    world.open(change(second, ['infra/deploy.sh'], { branch: second, headSha: 'head', checks: ALL_GREEN }));
    world.cycle();
    assert.deepEqual(world.kinds('merge'), [], 'the colliding change does not merge on the other change’s approval');
    const request = world.kinds('request-approval').find((d) => d.change === second);
    assert.ok(request?.approval, 'it asks for an approval of its own');
    assert.equal(world.state.approvals[request.approval]?.key, mergeKey({ id: second, headSha: 'head' }));
  });

  it('an approval of another key stored under this action’s id is never taken for it; the new approval gets a distinct, stable id', () => {
    const world = new World(TIER3);
    const victim = change('agent/victim', ['infra/deploy.sh'], { checks: ALL_GREEN });
    const key = mergeKey(victim);
    const id = approvalIdFor(key);
    // Whatever the hash, another action's approval can sit under this id (a collision, an older store).
    world.state.approvals = recordOf([[id, approved('merge:agent/other:other-head', id)]]);
    world.open(victim);
    world.cycle();
    assert.deepEqual(world.kinds('merge'), []);
    const queued = world.last.queues.shared?.find((q) => q.change === victim.id);
    assert.ok(
      queued?.reasons.some((r) => r.code === 'needs-approval' || r.code === 'approval-pending'),
      JSON.stringify(queued?.reasons),
    );
    const own = world.kinds('request-approval')[0]?.approval as string;
    assert.notEqual(own, id, 'the id another key holds is not reused');
    assert.equal(world.state.approvals[id]?.key, 'merge:agent/other:other-head', 'the other approval is left as it was');
    assert.equal(world.state.approvals[own]?.key, key);
    assert.equal(queued?.approval, own, 'the queue names the approval it waits on');
    world.cycle();
    assert.deepEqual(world.kinds('request-approval'), [], 'the next cycle finds the same approval: no second request');
    assert.deepEqual(Object.keys(world.state.approvals).sort(), [id, own].sort());
    world.operator({ kind: 'approve', id: own, by: 'ann' });
    world.cycle();
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      [victim.id],
    );
  });

  it('property: no tier 3 change merges unless an approval with exactly its key is approved', () => {
    const heads = ['h1', 'h2'];
    const ids = ['agent/a', 'agent/b', 'agent/c'];
    const keys = ids.flatMap((id) => heads.map((head) => `merge:${id}:${head}`));
    const approvalArb = fc.record({
      key: fc.oneof(fc.constantFrom(...keys), fc.string()),
      idOf: fc.oneof(fc.constantFrom(...keys), fc.string()),
      status: fc.constantFrom<Approval['status']>('pending', 'approved', 'rejected'),
    });
    const changeArb = fc.record({ id: fc.constantFrom(...ids), headSha: fc.constantFrom(...heads) });
    fc.assert(
      fc.property(
        fc.array(approvalArb, { maxLength: 6 }),
        fc.uniqueArray(changeArb, { maxLength: 3, selector: (c) => c.id }),
        (approvals, changes) => {
          const state: ControllerState = initialState(TIER3, 0);
          for (const a of approvals) {
            const id = approvalIdFor(a.idOf);
            state.approvals[id] = { ...approved(a.key, id), status: a.status };
          }
          const open: Change[] = changes.map((c) => change(c.id, ['infra/x.sh'], { branch: c.id, headSha: c.headSha, checks: ALL_GREEN }));
          const result = decide(
            snapshot({ changes: open, targetCommits: [{ sha: 'r'.repeat(40), checks: ALL_GREEN, time: 0 }] }),
            state,
            TIER3,
            1000,
          );
          for (const merge of result.decisions.filter((d) => d.kind === 'merge')) {
            const merged = open.find((c) => c.id === merge.change) as Change;
            const ok = Object.values(state.approvals).some((a) => a.key === mergeKey(merged) && a.status === 'approved');
            assert.ok(ok, `${merged.id} merged without an approved approval of ${mergeKey(merged)}`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

/** A world whose web lane broke (its fix never comes) and whose api lane an operator froze. */
function brokenWebFrozenApi(): { world: World; incident: string } {
  const world = new World(policyFrom(THREE_LANES));
  world.land(change('w1', ['web/status'], { checks: [green('test-web')] }), [red('test-web', '1 failing')]);
  world.cycle();
  const incident = Object.values(world.state.incidents).find((i) => i.status === 'open');
  assert.deepEqual(incident?.lanes, ['web']);
  world.operator({ kind: 'pause', lane: 'api', reason: 'code freeze', by: 'ann' });
  world.cycle();
  return { world, incident: incident.id };
}

describe('adversarial core: a fix-named branch never passes a lane that does not admit it', () => {
  it('a branch named after web’s incident that also writes api does not merge while api is frozen', () => {
    const { world, incident } = brokenWebFrozenApi();
    world.open(change('sneaky', ['web/status', 'api/status2'], { branch: `buildmaster/fix/${incident}`, checks: ALL_GREEN }));
    world.cycle();
    assert.deepEqual(world.kinds('merge'), []);
    const entry = Object.values(world.last.queues)
      .flat()
      .find((q) => q.change === 'sneaky');
    assert.ok(
      entry?.reasons.some(
        (r) => r.code === 'lane-not-admitting' && /touches lane api, which was paused by an operator: code freeze/.test(r.message),
      ),
      JSON.stringify(entry?.reasons),
    );
  });

  it('the same fix without the api file merges: the lanes holding its incident still admit it', () => {
    const { world, incident } = brokenWebFrozenApi();
    world.open(change('fix', ['web/status'], { branch: `buildmaster/fix/${incident}`, checks: ALL_GREEN }));
    world.cycle();
    assert.deepEqual(
      world.kinds('merge').map((d) => d.change),
      ['fix'],
    );
  });

  it('a label that assigns a change to a healthy lane does not carry its files past a frozen lane', () => {
    const world = new World(policyFrom(THREE_LANES.replace('checks: ["test-docs"]', 'checks: ["test-docs"]\n    labels: ["docs"]')));
    world.operator({ kind: 'pause', lane: 'api', reason: 'code freeze', by: 'ann' });
    world.open(change('labelled', ['docs/x.md', 'api/status2'], { labels: ['docs'], checks: ALL_GREEN }));
    world.cycle();
    assert.deepEqual(world.kinds('merge'), []);
    assert.ok(
      world.last.queues.docs?.[0]?.reasons.some((r) => r.code === 'lane-not-admitting' && /lane api/.test(r.message)),
      JSON.stringify(world.last.queues.docs),
    );
  });
});

describe('adversarial core: a policy edit removes a lane that holds an open incident', () => {
  it('the cycle goes on: the incident is escalated once naming the lane, holds nothing, and resolves when its checks are green', () => {
    const { world, incident } = brokenWebFrozenApi();
    // web renamed to frontend, api removed.
    const edited = policyFrom(THREE_LANES.replace('name: web', 'name: frontend').replace(/ {2}- name: api\n.*\n.*\n/, ''));
    const run = () =>
      decide(snapshot({ changes: world.changes, targetCommits: world.commits }), world.state, edited, (world.now += 60_000));
    const first = run();
    world.state = first.state;
    const escalations = first.decisions.filter((d) => d.kind === 'escalate');
    const aboutIncident = escalations.find((d) => d.incident === incident);
    assert.match(aboutIncident?.rationale ?? '', /lane web is no longer in the policy/);
    assert.match(aboutIncident?.rationale ?? '', /repair test-web on main/);
    const aboutPause = escalations.find((d) => d.lane === 'api');
    assert.match(aboutPause?.rationale ?? '', /lane api was paused by an operator \(code freeze\) but the policy no longer names it/);
    const record = first.state.incidents[incident];
    assert.equal(record?.status, 'open', 'the incident keeps its record');
    assert.deepEqual(record.lanes, []);
    assert.deepEqual(record.droppedLanes, ['web']);
    assert.deepEqual(Object.keys(first.state.lanes).sort(), ['docs', 'frontend', 'shared']);

    const second = run();
    world.state = second.state;
    assert.deepEqual(
      second.decisions.filter((d) => d.kind === 'escalate'),
      [],
      'escalated once',
    );

    world.open(change('w2', ['web/status'], { checks: ALL_GREEN }));
    world.merge('w2');
    world.settle();
    const third = run();
    assert.equal(third.state.incidents[incident]?.status, 'resolved');
  });
});

describe('adversarial core: an incident id already on record is never overwritten', () => {
  it('a red commit whose short sha repeats an earlier incident’s opens an incident of its own', () => {
    const world = new World(policyFrom(THREE_LANES));
    const earlier = world.land(change('w1', ['web/status'], { checks: [green('test-web')] }), [red('test-web')]);
    world.cycle();
    const first = `inc-${earlier.sha.slice(0, 7)}`;
    world.open(change('f1', ['web/status'], { branch: `buildmaster/fix/${first}`, checks: ALL_GREEN }));
    world.cycle();
    world.merge('f1');
    world.settle();
    world.cycle();
    assert.equal(world.state.incidents[first]?.status, 'resolved');
    // A later break whose commit shares the first seven hex digits (crafted, or chance).
    world.open(change('w2', ['web/status'], { checks: [green('test-web')] }));
    world.cycle();
    const again = world.merge('w2');
    again.sha = `${earlier.sha.slice(0, 7)}${'f'.repeat(33)}`;
    world.settle([red('test-web')]);
    world.cycle();
    assert.equal(world.state.incidents[first].status, 'resolved', 'the earlier record is left as it was');
    assert.equal(world.state.incidents[first].redSha, earlier.sha);
    const opened = world.kinds('open-incident')[0]?.incident as string;
    assert.notEqual(opened, first);
    assert.equal(world.state.incidents[opened]?.status, 'open');
    assert.equal(world.state.incidents[opened].redSha, again.sha);
    assert.match(opened, /^inc-[0-9a-z]+$/, 'a fix branch can still name it');
  });
});

describe('adversarial core: an approval of a forgotten incident never stands for a later one', () => {
  it('an approved revert of an incident no longer on record does not revert a new incident under the same id', () => {
    const world = new World(policyFrom(THREE_LANES.replace('revert: A2', 'revert: A1') + '\neligibility:\n  test: revert\n'));
    const prefix = 'abcdef0';
    const forgotten = `inc-${prefix}`;
    world.state.approvals = recordOf([
      ['ap-old', { ...approved(`revert:${forgotten}`, 'ap-old'), actionClass: 'revert', kind: 'propose-revert', incident: forgotten }],
    ]);
    world.cycle();
    world.open(change('w1', ['web/status'], { checks: [green('test-web')] }));
    world.cycle();
    const broken = world.merge('w1');
    broken.sha = `${prefix}${'1'.repeat(33)}`;
    world.settle([red('test-web', '1 failing')]);
    world.cycle();
    assert.equal(world.kinds('open-incident')[0]?.incident, forgotten, 'the new incident has the forgotten one’s id');
    assert.deepEqual(world.kinds('propose-revert'), [], 'the old approval does not revert it');
    assert.ok(
      world.kinds('request-approval').some((d) => d.incident === forgotten),
      'it asks an operator',
    );
  });
});

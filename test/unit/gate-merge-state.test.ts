import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { gate, type GateResult } from '../../extension/core/gate';
import { decide, initialState, type QueueEntry } from '../../extension/core/decide';
import { planHygiene } from '../../extension/core/hygiene';
import { parseKey, updateBranchKey } from '../../extension/core/keys';
import { linkOf } from '../../extension/core/trailers';
import type { Change, LaneState, MergeState } from '../../extension/core/model';
import type { Policy } from '../../extension/core/policy/schema';
import { THREE_LANES, change, commit, green, policyFrom, present, snapshot } from '../support/builders';

const policyWhenBehind = (when: 'update' | 'merge' | 'wait'): Policy => policyFrom(`${THREE_LANES}merge:\n  when_behind: ${when}\n`);

function judged(c: Change, policy: Policy = policyFrom(THREE_LANES)): GateResult {
  const state = initialState(policy, 0);
  return gate(c, {
    policy,
    snapshot: snapshot({ forge: 'github', changes: [c] }),
    state,
    lane: state.lanes.web as LaneState,
    tier: 'tier2',
    link: linkOf(c),
    openChangeIds: new Set([c.id]),
    laneIncidents: new Set(),
  });
}

/** An approved change in lane web with its check green: only what GitHub says of merging it can hold it. */
const ready = (extra: Partial<Change> = {}) =>
  change('#7', ['web/a.ts'], {
    checks: [green('test-web'), green('lint')],
    reviews: [{ reviewer: 'alice', state: 'approved', submittedAt: 1 }],
    ...extra,
  });

const codes = (result: GateResult) => result.reasons.map((r) => r.code);

describe("the gate reads GitHub's merge state", () => {
  it('passes a clean change with no reason and no note', () => {
    const result = judged(ready({ mergeState: 'clean' }));
    assert.deepEqual(codes(result), []);
    assert.deepEqual(result.notes, []);
  });

  it("blocked: GitHub's branch protection is not satisfied, said with what to check", () => {
    const result = judged(ready({ mergeState: 'blocked' }));
    assert.deepEqual(codes(result), ['blocked']);
    const message = result.reasons[0]?.message ?? '';
    assert.match(message, /branch protection of main/);
    assert.match(message, /required reviews/);
    assert.match(message, /required status checks/);
  });

  it('draft: a reason only when the change does not already say it is a draft', () => {
    assert.deepEqual(codes(judged(ready({ mergeState: 'draft' }))), ['draft']);
    assert.match(judged(ready({ mergeState: 'draft' })).reasons[0]?.message ?? '', /ready for review/);
    assert.deepEqual(codes(judged(ready({ draft: true, mergeState: 'draft' }))), ['draft']);
  });

  it('dirty: a reason only when mergeability did not already say conflict', () => {
    assert.deepEqual(codes(judged(ready({ mergeState: 'dirty' }))), ['dirty']);
    assert.deepEqual(codes(judged(ready({ mergeable: 'conflicting', mergeState: 'dirty' }))), ['conflict']);
  });

  it('unstable and has_hooks do not block: each is a named note', () => {
    const unstable = judged(ready({ mergeState: 'unstable' }));
    assert.deepEqual(codes(unstable), []);
    assert.ok(
      unstable.notes.some((note) => /no branch protection of main requires is failing; GitHub would merge it/.test(note)),
      unstable.notes.join('\n'),
    );
    const hooks = judged(ready({ mergeState: 'has_hooks' }));
    assert.deepEqual(codes(hooks), []);
    assert.ok(
      hooks.notes.some((note) => /pre-receive hooks/.test(note)),
      hooks.notes.join('\n'),
    );
  });

  it('behind follows merge.when_behind: wait asks a person to update, merge only notes it, update says Build Master updates it', () => {
    const wait = judged(ready({ mergeState: 'behind' }), policyWhenBehind('wait'));
    assert.deepEqual(codes(wait), ['behind']);
    assert.match(wait.reasons[0]?.message ?? '', /update its branch/);
    const merge = judged(ready({ mergeState: 'behind' }), policyWhenBehind('merge'));
    assert.deepEqual(codes(merge), []);
    assert.ok(merge.notes.some((note) => /behind main/.test(note)));
    const update = judged(ready({ mergeState: 'behind' }), policyFrom(THREE_LANES));
    assert.deepEqual(codes(update), ['behind']);
    assert.match(update.reasons[0]?.message ?? '', /Build Master asks GitHub to update its branch/);
  });
});

describe('a change behind its base under merge.when_behind: update', () => {
  const target = [commit('base1', [green('test-web'), green('test-api'), green('test-docs'), green('lint')])];

  it('asks GitHub to update its branch once per (change, head, base), and merges nothing else in its lane meanwhile', () => {
    const policy = policyFrom(THREE_LANES);
    const behind = ready({ mergeState: 'behind', readySince: 1 });
    const other = change('#8', ['web/b.ts'], {
      checks: [green('test-web'), green('lint')],
      reviews: [{ reviewer: 'alice', state: 'approved', submittedAt: 1 }],
      mergeState: 'clean',
      readySince: 2,
    });
    const snap = snapshot({ forge: 'github', changes: [behind, other], targetCommits: target });
    const result = decide(snap, initialState(policy, 0), policy, 10);
    const updates = result.decisions.filter((d) => d.kind === 'update-branch');
    assert.equal(updates.length, 1);
    const update = present(updates[0], 'the update decision');
    assert.equal(update.change, '#7');
    assert.equal(update.key, updateBranchKey(behind, 'base1'));
    assert.deepEqual(parseKey(update.key ?? ''), { kind: 'update-branch', change: '#7', headSha: behind.headSha, baseSha: 'base1' });
    assert.ok(!result.decisions.some((d) => d.kind === 'merge'), 'the lane waits for the updated change');
    // The same head and base decide the same key: the shell never runs it twice.
    const again = decide(snap, result.state, policy, 20).decisions.find((d) => d.kind === 'update-branch');
    assert.equal(again?.key, update.key);
  });

  it('wait and merge never ask for an update', () => {
    for (const when of ['wait', 'merge'] as const) {
      const policy = policyWhenBehind(when);
      const snap = snapshot({ forge: 'github', changes: [ready({ mergeState: 'behind' })], targetCommits: target });
      const decisions = decide(snap, initialState(policy, 0), policy, 10).decisions;
      assert.ok(!decisions.some((d) => d.kind === 'update-branch'), when);
      assert.equal(
        decisions.some((d) => d.kind === 'merge'),
        when === 'merge',
        when,
      );
    }
  });

  it("a fork's branch is never updated by Build Master: the reason says its author updates it, and the lane goes on", () => {
    const policy = policyFrom(THREE_LANES);
    const fork = ready({ mergeState: 'behind', headRepo: 'mallory/app', readySince: 1 });
    const other = change('#8', ['web/b.ts'], {
      checks: [green('test-web'), green('lint')],
      reviews: [{ reviewer: 'alice', state: 'approved', submittedAt: 1 }],
      mergeState: 'clean',
      readySince: 2,
    });
    const result = decide(
      snapshot({ forge: 'github', changes: [fork, other], targetCommits: target }),
      initialState(policy, 0),
      policy,
      10,
    );
    assert.ok(!result.decisions.some((d) => d.kind === 'update-branch'));
    assert.ok(
      result.decisions.some((d) => d.kind === 'merge' && d.change === '#8'),
      'a fork it cannot update does not hold the lane',
    );
    assert.match(judged(fork).reasons[0]?.message ?? '', /its author updates it in mallory\/app/);
  });

  it('a change held by anything else is not updated (its checks would run again for nothing)', () => {
    const policy = policyFrom(THREE_LANES);
    const snap = snapshot({ forge: 'github', changes: [ready({ mergeState: 'behind', labels: ['do-not-merge'] })], targetCommits: target });
    assert.ok(!decide(snap, initialState(policy, 0), policy, 10).decisions.some((d) => d.kind === 'update-branch'));
  });
});

describe('property: GitHub merge states that stop a merge', () => {
  const STATES: MergeState[] = ['clean', 'behind', 'blocked', 'unstable', 'has_hooks', 'draft', 'dirty', 'unknown'];
  const BLOCKING = new Set<MergeState>(['behind', 'blocked', 'dirty', 'draft']);

  it('a change whose mergeState is behind, blocked, dirty or draft never gets a merge decision (when_behind update or wait)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            state: fc.constantFrom(...STATES),
            lane: fc.constantFrom('web', 'api', 'docs'),
            draft: fc.boolean(),
            conflicting: fc.boolean(),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        fc.constantFrom('update', 'wait'),
        (specs, when) => {
          const policy = policyWhenBehind(when);
          const changes = specs.map((spec, i) =>
            change(`#${i + 1}`, [`${spec.lane}/f${i}.ts`], {
              checks: [green(`test-${spec.lane}`), green('lint')],
              reviews: [{ reviewer: 'alice', state: 'approved', submittedAt: 1 }],
              mergeState: spec.state,
              draft: spec.draft && spec.state === 'draft',
              mergeable: spec.conflicting && spec.state === 'dirty' ? 'conflicting' : 'mergeable',
            }),
          );
          const snap = snapshot({
            forge: 'github',
            changes,
            targetCommits: [commit('base1', [green('test-web'), green('test-api'), green('test-docs'), green('lint')])],
          });
          const result = decide(snap, initialState(policy, 0), policy, 10);
          for (const decision of result.decisions.filter((d) => d.kind === 'merge')) {
            const merged = changes.find((c) => c.id === decision.change);
            assert.ok(merged && !BLOCKING.has(merged.mergeState ?? 'clean'), `${decision.change} (${merged?.mergeState}) got a merge`);
          }
          // Each update is of a change GitHub says is behind.
          for (const decision of result.decisions.filter((d) => d.kind === 'update-branch'))
            assert.equal(changes.find((c) => c.id === decision.change)?.mergeState, 'behind');
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("hygiene and GitHub's merge state", () => {
  it('never labels merge-ready a change GitHub says is behind, blocked or conflicting', () => {
    for (const code of ['behind', 'blocked', 'dirty'] as const) {
      const c = change('#3', ['docs/c.md'], { headSha: 'c'.repeat(40) });
      const entry: QueueEntry = {
        change: '#3',
        title: '#3',
        lane: 'docs',
        tier: 'tier1',
        crossLane: false,
        headSha: c.headSha,
        reasons: [{ code, message: code }],
        notes: [],
        requiredChecks: [],
        laneRationale: '',
      };
      const plan = planHygiene({
        policy: policyFrom('lanes: [{name: docs, paths: ["docs/**"]}]\n'),
        now: 0,
        issues: [],
        changes: [{ ...c, updatedAt: 0 }],
        queues: { docs: [entry] },
        memory: {},
        digest: '',
      });
      assert.deepEqual(
        plan.actions.filter((a) => a.kind === 'label'),
        [],
        code,
      );
    }
  });
});

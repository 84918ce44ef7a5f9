import { strict as assert } from 'node:assert';
import { gate, requiredChecksOf, type GateCode, type GateReason } from '../../extension/core/gate';
import { linkOf } from '../../extension/core/trailers';
import { initialState } from '../../extension/core/decide';
import type { Change, ControllerState, Incident, LaneState } from '../../extension/core/model';
import type { Policy } from '../../extension/core/policy/schema';
import { THREE_LANES, change, green, pending, policyFrom, red, snapshot } from '../support/builders';

function codes(
  c: Change,
  options: {
    policy?: Policy;
    forge?: 'local' | 'github';
    state?: ControllerState;
    lane?: Partial<LaneState>;
    tier?: 'tier1' | 'tier2' | 'tier3';
    open?: string[];
    mergeBlocked?: string;
  } = {},
): GateCode[] {
  return reasons(c, options).map((r) => r.code);
}

function reasons(c: Change, options: Parameters<typeof codes>[1] = {}): GateReason[] {
  const policy = options.policy ?? policyFrom(THREE_LANES);
  const state = options.state ?? initialState(policy, 0);
  const laneName = options.lane?.name ?? 'web';
  const lane = { ...(state.lanes[laneName] as LaneState), ...options.lane };
  const result = gate(c, {
    policy,
    snapshot: snapshot({
      forge: options.forge ?? 'local',
      changes: [c],
      ...(options.mergeBlocked ? { mergeBlocked: options.mergeBlocked } : {}),
    }),
    state,
    lane,
    tier: options.tier ?? 'tier2',
    link: linkOf(c),
    openChangeIds: new Set(options.open ?? [c.id]),
    laneIncidents: new Set(lane.incident ? [lane.incident] : []),
  });
  return result.reasons;
}

const ok = (extra: Partial<Change> = {}) => change('c1', ['web/a.ts'], { checks: [green('test-web')], ...extra });

describe('merge gate', () => {
  it('passes a clean change with no reasons', () => assert.deepEqual(codes(ok()), []));

  const table: [string, Partial<Change>, GateCode][] = [
    ['a draft', { draft: true }, 'draft'],
    ['a blocking label', { labels: ['do-not-merge'] }, 'blocking-label'],
    ['a failing required check', { checks: [red('test-web')] }, 'check-failing'],
    ['an errored check', { checks: [{ name: 'test-web', conclusion: 'error' }] }, 'check-failing'],
    ['a cancelled check', { checks: [{ name: 'test-web', conclusion: 'cancelled' }] }, 'check-failing'],
    ['a timed-out check', { checks: [{ name: 'test-web', conclusion: 'timed_out' }] }, 'check-failing'],
    ['a pending check', { checks: [pending('test-web')] }, 'check-pending'],
    ['a missing lane check', { checks: [] }, 'check-missing'],
    ['a failing shared check (listed by no lane)', { checks: [green('test-web'), red('lint')] }, 'check-failing'],
    ['a conflict', { mergeable: 'conflicting' }, 'conflict'],
    ['unknown mergeability', { mergeable: 'unknown' }, 'mergeability-unknown'],
    ['an open stack parent', { stackParent: 'c0', base: 'agent/c0' }, 'stack-parent-open'],
    ['a base that is not the target', { base: 'develop' }, 'base-not-target'],
  ];
  for (const [name, extra, code] of table) {
    it(`blocks ${name} with ${code}`, () => assert.deepEqual(codes(ok(extra), { open: ['c1', 'c0'] }), [code]));
  }

  it('passes skipped and neutral checks', () => {
    assert.deepEqual(
      codes(
        ok({
          checks: [
            { name: 'test-web', conclusion: 'skipped' },
            { name: 'x', conclusion: 'neutral' },
          ],
        }),
      ),
      [],
    );
  });

  it('does not require another lane’s check, even when it fails on the change', () => {
    assert.deepEqual(codes(ok({ checks: [green('test-web'), red('test-api')] })), []);
  });

  it('requires only the listed shared checks when required_checks is a list', () => {
    const policy = policyFrom(`${THREE_LANES}\nmerge:\n  required_checks: ["lint"]\n`);
    assert.deepEqual(requiredChecksOf(policy, { files: ['web/a.ts'], labels: [], checks: [green('build')] }, 'local').names, [
      'test-web',
      'lint',
    ]);
    assert.deepEqual(codes(ok({ checks: [green('test-web'), red('build')] }), { policy }), ['check-missing']);
  });

  it('does not block on a shared check that is red on the target because of another lane’s incident', () => {
    const policy = policyFrom(THREE_LANES);
    const state = initialState(policy, 0);
    state.incidents['inc-1'] = { id: 'inc-1', status: 'open', lanes: ['api'], failingChecks: ['lint'] } as Incident;
    const c = ok({ checks: [green('test-web'), red('lint')] });
    assert.deepEqual(codes(c, { state }), []);
    // The same failure owned by this lane's own incident does block.
    state.incidents['inc-1'] = { ...state.incidents['inc-1'], lanes: ['web'] };
    assert.deepEqual(codes(c, { state }), ['check-failing']);
  });

  describe('required checks (SPEC §3.1): nothing merges untested', () => {
    const all = ['test-web', 'test-api', 'test-docs'];
    const withIncident = (lanes: string[], failing: string[], status: 'open' | 'resolved' = 'open') => {
      const state = initialState(policyFrom(THREE_LANES), 0);
      state.incidents['inc-1'] = { id: 'inc-1', status, lanes, failingChecks: failing } as Incident;
      return state;
    };
    it('a cross-lane change needs the checks of every lane it touches, whatever its lane’s list says', () => {
      const cross = change('x', ['web/a.ts', 'api/b.ts'], { checks: [green('test-web'), red('test-api'), green('test-docs')] });
      assert.deepEqual(codes(cross, { lane: { name: 'shared' } }), ['check-failing']);
      assert.deepEqual(codes(change('x', ['web/a.ts', 'api/b.ts'], { checks: all.map(green) }), { lane: { name: 'shared' } }), []);
    });
    it('a change that touches no lane’s paths needs every check the policy knows, and a silent one is missing', () => {
      const stray = change('x', ['Makefile'], { checks: [green('test-web')] });
      assert.deepEqual(
        reasons(stray, { lane: { name: 'shared' } }).map((r) => `${r.code} ${r.message}`),
        [
          'check-missing required check "test-api" has not reported on x-head',
          'check-missing required check "test-docs" has not reported on x-head',
        ],
      );
    });
    it('a lane named like default_lane with its own checks is what a default-lane change needs', () => {
      const policy = policyFrom(
        THREE_LANES.replace('lanes:\n', 'lanes:\n  - name: shared\n    paths: ["shared/**"]\n    checks: ["test-shared"]\n'),
      );
      assert.deepEqual(requiredChecksOf(policy, { files: ['Makefile'], labels: [], checks: [] }, 'github').names, ['test-shared']);
      assert.deepEqual(requiredChecksOf(policy, { files: ['web/a.ts', 'api/b.ts'], labels: [], checks: [] }, 'github').names, [
        'test-shared',
        'test-web',
        'test-api',
      ]);
    });
    it('in local mode every `local.checks` name is known: a default-lane change needs them all', () => {
      const policy = policyFrom(`${THREE_LANES}local:\n  checks:\n    - { name: unit, run: "true" }\n    - { name: lint, run: "true" }\n`);
      assert.deepEqual(requiredChecksOf(policy, { files: ['Makefile'], labels: [], checks: [] }, 'local').names, [
        'test-web',
        'test-api',
        'test-docs',
        'unit',
        'lint',
      ]);
      assert.deepEqual(requiredChecksOf(policy, { files: ['web/a.ts'], labels: [], checks: [] }, 'local').names, [
        'test-web',
        'unit',
        'lint',
      ]);
    });
    it('a label puts a change in a lane but never routes it around the checks of the lanes its paths touch', () => {
      const policy = policyFrom(THREE_LANES.replace('checks: ["test-web"]', 'checks: ["test-web"]\n    labels: ["lane:web"]'));
      const labelled = change('x', ['api/b.ts'], { labels: ['lane:web'], checks: [green('test-web'), red('test-api')] });
      assert.deepEqual(codes(labelled, { policy }), ['check-failing']);
    });
    it('zero required checks block with a reason naming the key that allows it', () => {
      const policy = policyFrom('lanes:\n  - name: web\n    paths: ["web/**"]\nautonomy:\n  merge: A4\n');
      const [reason] = reasons(ok({ checks: [] }), { policy });
      assert.equal(reason?.code, 'no-required-checks');
      assert.match(reason.message, /merge\.required_checks: \[\]/);
      assert.match(reason.message, /local\.checks/);
      const explicit = policyFrom('lanes:\n  - name: web\n    paths: ["web/**"]\nautonomy:\n  merge: A4\nmerge:\n  required_checks: []\n');
      assert.deepEqual(codes(ok({ checks: [] }), { policy: explicit }), []);
    });
    it('excuses a red check only for the open incident of a lane the change does not touch', () => {
      const cross = change('x', ['web/a.ts', 'api/b.ts'], { checks: [red('test-web'), green('test-api'), green('test-docs')] });
      assert.deepEqual(codes(cross, { lane: { name: 'shared' }, state: withIncident(['web'], ['test-web']) }), ['check-failing']);
      const stray = change('x', ['Makefile'], { checks: [red('test-web'), green('test-api'), green('test-docs')] });
      assert.deepEqual(codes(stray, { lane: { name: 'shared' }, state: withIncident(['web'], ['test-web']) }), []);
      assert.deepEqual(codes(stray, { lane: { name: 'shared' }, state: withIncident(['web'], ['test-web'], 'resolved') }), [
        'check-failing',
      ]);
    });
  });

  describe('withdrawn changes and blocked merges', () => {
    const state = (status?: 'open' | 'resolved') => {
      const s = initialState(policyFrom(THREE_LANES), 0);
      if (status) s.incidents['inc-1'] = { id: 'inc-1', status, lanes: ['web'], failingChecks: ['test-web'] } as Incident;
      return s;
    };
    it('a fix or revert whose incident is resolved or unknown is withdrawn, never merged', () => {
      for (const branch of ['buildmaster/fix/inc-1', 'buildmaster/fix/inc-1-2', 'buildmaster/revert/inc-1']) {
        assert.deepEqual(codes(ok({ branch }), { state: state('resolved') }), ['link-withdrawn'], branch);
        assert.deepEqual(codes(ok({ branch }), { state: state() }), ['link-withdrawn'], branch);
      }
      assert.deepEqual(codes(ok({ body: 'Repairs it.\nbuildmaster:revert inc-1' }), { state: state('resolved') }), ['link-withdrawn']);
      assert.deepEqual(codes(ok({ branch: 'buildmaster/fix/inc-1' }), { state: state('open') }), []);
    });
    it('a change whose merge would change nothing on the target is withdrawn', () => {
      assert.deepEqual(codes(ok({ emptyOnTarget: true })), ['empty-change']);
      assert.deepEqual(codes(ok({ emptyOnTarget: false })), []);
    });
    it('a merge the forge cannot land now (a dirty checkout of the target) is a reason, so explain never says every gate passes', () => {
      const [reason] = reasons(ok(), { mergeBlocked: 'main is checked out with uncommitted changes in /repo' });
      assert.equal(reason?.code, 'merge-blocked');
      assert.match(reason.message, /uncommitted changes in \/repo/);
    });
  });

  describe('reviews (GitHub mode)', () => {
    const at = (reviewer: string, state: 'approved' | 'changes_requested' | 'commented', t: number) => ({
      reviewer,
      state,
      submittedAt: t,
    });
    it('needs the required approvals', () => assert.deepEqual(codes(ok(), { forge: 'github' }), ['approvals-missing']));
    it('counts the latest review of each reviewer', () => {
      assert.deepEqual(codes(ok({ reviews: [at('ann', 'changes_requested', 1), at('ann', 'approved', 2)] }), { forge: 'github' }), []);
      assert.deepEqual(codes(ok({ reviews: [at('ann', 'approved', 1), at('ann', 'changes_requested', 2)] }), { forge: 'github' }), [
        'approvals-missing',
        'changes-requested',
      ]);
    });
    it('ignores comments when finding the latest review', () => {
      assert.deepEqual(codes(ok({ reviews: [at('ann', 'approved', 1), at('ann', 'commented', 2)] }), { forge: 'github' }), []);
    });
    it('blocks on an outstanding change request even with enough approvals', () => {
      assert.deepEqual(codes(ok({ reviews: [at('ann', 'approved', 1), at('bob', 'changes_requested', 2)] }), { forge: 'github' }), [
        'changes-requested',
      ]);
    });
    it('does not apply in local mode', () => assert.deepEqual(codes(ok(), { forge: 'local' }), []));
  });

  describe('lane admission', () => {
    const fix = (incident: string) => ok({ branch: `buildmaster/fix/${incident}` });
    // The incidents the fixes and reverts below repair are open: a link to a closed one is withdrawn.
    const withIncidents = () => {
      const policy = policyFrom(THREE_LANES);
      const state = initialState(policy, 0);
      state.incidents['inc-1'] = { id: 'inc-1', status: 'open', lanes: ['web'], failingChecks: ['test-web'] } as Incident;
      state.incidents['inc-2'] = { id: 'inc-2', status: 'open', lanes: ['api'], failingChecks: ['test-api'] } as Incident;
      return state;
    };
    it('a degraded lane admits its fix and tier 1 changes only', () => {
      const lane = { state: 'degraded' as const, incident: 'inc-1' };
      const state = withIncidents();
      assert.deepEqual(codes(ok(), { lane, state }), ['lane-not-admitting']);
      assert.deepEqual(codes(ok(), { lane, state, tier: 'tier1' }), []);
      assert.deepEqual(codes(fix('inc-1'), { lane, state }), []);
    });
    it('a paused lane admits only its linked fix or revert', () => {
      const lane = { state: 'paused' as const, incident: 'inc-1' };
      const state = withIncidents();
      assert.deepEqual(codes(ok(), { lane, state, tier: 'tier1' }), ['lane-not-admitting']);
      assert.deepEqual(codes(fix('inc-1'), { lane, state }), []);
      assert.deepEqual(codes(ok({ branch: 'buildmaster/revert/inc-1' }), { lane, state }), []);
      assert.deepEqual(codes(fix('inc-2'), { lane, state }), ['lane-not-admitting']);
    });
    it('a recovering lane admits only further fixes', () => {
      const lane = { state: 'recovering' as const, incident: 'inc-1' };
      const state = withIncidents();
      assert.deepEqual(codes(ok(), { lane, state, tier: 'tier1' }), ['lane-not-admitting']);
      assert.deepEqual(codes(fix('inc-1'), { lane, state }), []);
      assert.deepEqual(codes(ok({ branch: 'buildmaster/revert/inc-1' }), { lane, state }), ['lane-not-admitting']);
    });
  });

  it('blocks everything during a global hold, fixes included', () => {
    const policy = policyFrom(THREE_LANES);
    const state = initialState(policy, 0);
    state.global = { ...state.global, state: 'global-hold', reason: 'operator' };
    state.incidents['inc-1'] = { id: 'inc-1', status: 'open', lanes: ['web'], failingChecks: ['test-web'] } as Incident;
    assert.deepEqual(codes(ok({ branch: 'buildmaster/fix/inc-1' }), { state, lane: { state: 'paused', incident: 'inc-1' } }), [
      'global-hold',
    ]);
  });

  it('waits while the lane’s last merge awaits its target checks', () => {
    assert.deepEqual(codes(ok(), { lane: { awaiting: { change: 'c0', since: 0 } } }), ['awaiting-target-checks']);
    const policy = policyFrom(`${THREE_LANES}\nmerge:\n  wait_for_target_green: false\n`);
    assert.deepEqual(codes(ok(), { policy, lane: { awaiting: { change: 'c0', since: 0 } } }), []);
  });

  it('asks for approval when autonomy does not merge the tier, and always for tier 3', () => {
    assert.deepEqual(codes(ok(), { tier: 'tier3' }), ['needs-approval']);
    const policy = policyFrom(THREE_LANES.replace('merge: A4', 'merge: A3'));
    assert.deepEqual(codes(ok(), { policy }), ['needs-approval']);
    assert.deepEqual(codes(ok(), { policy, tier: 'tier1' }), []);
  });

  it('reports every failing criterion, not just the first', () => {
    assert.deepEqual(
      codes(ok({ draft: true, labels: ['needs-rework'], checks: [red('test-web')], mergeable: 'conflicting' }), { tier: 'tier3' }),
      ['draft', 'blocking-label', 'check-failing', 'conflict', 'needs-approval'],
    );
  });

  it('links fix and revert changes by branch or body marker', () => {
    assert.deepEqual(linkOf({ branch: 'buildmaster/fix/inc-abc1234', body: '' }), { kind: 'fix', incident: 'inc-abc1234' });
    assert.deepEqual(linkOf({ branch: 'buildmaster/fix/inc-abc1234-2', body: '' }), { kind: 'fix', incident: 'inc-abc1234' });
    assert.deepEqual(linkOf({ branch: 'feature/x', body: 'Repairs it.\n<!-- buildmaster:revert inc-77 -->' }), {
      kind: 'revert',
      incident: 'inc-77',
    });
    assert.equal(linkOf({ branch: 'agent/fix-things', body: 'fixes inc-1' }), undefined);
  });
});

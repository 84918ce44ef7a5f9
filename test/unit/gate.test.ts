import { strict as assert } from 'node:assert';
import { gate, linkOf, requiredChecksFor, type GateCode } from '../../extension/core/gate';
import { initialState } from '../../extension/core/decide';
import type { Change, ControllerState, Incident, LaneState } from '../../extension/core/model';
import type { Policy } from '../../extension/core/policy/schema';
import { THREE_LANES, change, green, pending, policyFrom, red, snapshot } from '../support/builders';

function codes(c: Change, options: { policy?: Policy; forge?: 'local' | 'github'; state?: ControllerState; lane?: Partial<LaneState>; tier?: 'tier1' | 'tier2' | 'tier3'; open?: string[] } = {}): GateCode[] {
  const policy = options.policy ?? policyFrom(THREE_LANES);
  const state = options.state ?? initialState(policy, 0);
  const laneName = options.lane?.name ?? 'web';
  const lane = { ...(state.lanes[laneName] as LaneState), ...options.lane };
  const result = gate(c, {
    policy,
    snapshot: snapshot({ forge: options.forge ?? 'local', changes: [c] }),
    state,
    lane,
    tier: options.tier ?? 'tier2',
    link: linkOf(c),
    openChangeIds: new Set(options.open ?? [c.id]),
    laneIncidents: new Set(lane.incident ? [lane.incident] : []),
  });
  return result.reasons.map((r) => r.code);
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
    assert.deepEqual(codes(ok({ checks: [{ name: 'test-web', conclusion: 'skipped' }, { name: 'x', conclusion: 'neutral' }] })), []);
  });

  it('does not require another lane’s check, even when it fails on the change', () => {
    assert.deepEqual(codes(ok({ checks: [green('test-web'), red('test-api')] })), []);
  });

  it('requires only the listed shared checks when required_checks is a list', () => {
    const policy = policyFrom(`${THREE_LANES}\nmerge:\n  required_checks: ["lint"]\n`);
    assert.deepEqual(requiredChecksFor(policy, 'web', [green('build')]).names, ['test-web', 'lint']);
    assert.deepEqual(codes(ok({ checks: [green('test-web'), red('build')] }), { policy }), ['check-missing']);
  });

  it('does not block on a shared check that is red on the target because of another lane’s incident', () => {
    const policy = policyFrom(THREE_LANES);
    const state = initialState(policy, 0);
    state.incidents['inc-1'] = { id: 'inc-1', status: 'open', lanes: ['api'], failingChecks: ['lint'] } as Incident;
    const c = ok({ checks: [green('test-web'), red('lint')] });
    assert.deepEqual(codes(c, { state }), []);
    // The same failure owned by this lane's own incident does block.
    state.incidents['inc-1'] = { ...state.incidents['inc-1'], lanes: ['web'] } as Incident;
    assert.deepEqual(codes(c, { state }), ['check-failing']);
  });

  describe('reviews (GitHub mode)', () => {
    const at = (reviewer: string, state: 'approved' | 'changes_requested' | 'commented', t: number) => ({ reviewer, state, submittedAt: t });
    it('needs the required approvals', () => assert.deepEqual(codes(ok(), { forge: 'github' }), ['approvals-missing']));
    it('counts the latest review of each reviewer', () => {
      assert.deepEqual(codes(ok({ reviews: [at('ann', 'changes_requested', 1), at('ann', 'approved', 2)] }), { forge: 'github' }), []);
      assert.deepEqual(codes(ok({ reviews: [at('ann', 'approved', 1), at('ann', 'changes_requested', 2)] }), { forge: 'github' }), ['approvals-missing', 'changes-requested']);
    });
    it('ignores comments when finding the latest review', () => {
      assert.deepEqual(codes(ok({ reviews: [at('ann', 'approved', 1), at('ann', 'commented', 2)] }), { forge: 'github' }), []);
    });
    it('blocks on an outstanding change request even with enough approvals', () => {
      assert.deepEqual(codes(ok({ reviews: [at('ann', 'approved', 1), at('bob', 'changes_requested', 2)] }), { forge: 'github' }), ['changes-requested']);
    });
    it('does not apply in local mode', () => assert.deepEqual(codes(ok(), { forge: 'local' }), []));
  });

  describe('lane admission', () => {
    const fix = (incident: string) => ok({ branch: `buildmaster/fix/${incident}` });
    it('a degraded lane admits its fix and tier 1 changes only', () => {
      const lane = { state: 'degraded' as const, incident: 'inc-1' };
      assert.deepEqual(codes(ok(), { lane }), ['lane-not-admitting']);
      assert.deepEqual(codes(ok(), { lane, tier: 'tier1' }), []);
      assert.deepEqual(codes(fix('inc-1'), { lane }), []);
    });
    it('a paused lane admits only its linked fix or revert', () => {
      const lane = { state: 'paused' as const, incident: 'inc-1' };
      assert.deepEqual(codes(ok(), { lane, tier: 'tier1' }), ['lane-not-admitting']);
      assert.deepEqual(codes(fix('inc-1'), { lane }), []);
      assert.deepEqual(codes(ok({ branch: 'buildmaster/revert/inc-1' }), { lane }), []);
      assert.deepEqual(codes(fix('inc-2'), { lane }), ['lane-not-admitting']);
    });
    it('a recovering lane admits only further fixes', () => {
      const lane = { state: 'recovering' as const, incident: 'inc-1' };
      assert.deepEqual(codes(ok(), { lane, tier: 'tier1' }), ['lane-not-admitting']);
      assert.deepEqual(codes(fix('inc-1'), { lane }), []);
      assert.deepEqual(codes(ok({ branch: 'buildmaster/revert/inc-1' }), { lane }), ['lane-not-admitting']);
    });
  });

  it('blocks everything during a global hold, fixes included', () => {
    const policy = policyFrom(THREE_LANES);
    const state = initialState(policy, 0);
    state.global = { ...state.global, state: 'global-hold', reason: 'operator' };
    assert.deepEqual(codes(ok({ branch: 'buildmaster/fix/inc-1' }), { state, lane: { state: 'paused', incident: 'inc-1' } }), ['global-hold']);
  });

  it('waits while the lane’s last merge awaits its target checks', () => {
    assert.deepEqual(codes(ok(), { lane: { awaiting: { change: 'c0', since: 0 } } }), ['awaiting-target-checks']);
    const policy = policyFrom(`${THREE_LANES}\nmerge:\n  wait_for_target_green: false\n`);
    assert.deepEqual(codes(ok(), { policy, lane: { awaiting: { change: 'c0', since: 0 } } }), []);
  });

  it('asks for approval when autonomy does not merge the tier, and always for tier 3', () => {
    assert.deepEqual(codes(ok(), { tier: 'tier3' }), ['needs-approval']);
    const policy = policyFrom(`${THREE_LANES.replace('merge: A4', 'merge: A3')}`);
    assert.deepEqual(codes(ok(), { policy }), ['needs-approval']);
    assert.deepEqual(codes(ok(), { policy, tier: 'tier1' }), []);
  });

  it('reports every failing criterion, not just the first', () => {
    assert.deepEqual(codes(ok({ draft: true, labels: ['needs-rework'], checks: [red('test-web')], mergeable: 'conflicting' }), { tier: 'tier3' }), [
      'draft',
      'blocking-label',
      'check-failing',
      'conflict',
      'needs-approval',
    ]);
  });

  it('links fix and revert changes by branch or body marker', () => {
    assert.deepEqual(linkOf({ branch: 'buildmaster/fix/inc-abc1234', body: '' }), { kind: 'fix', incident: 'inc-abc1234' });
    assert.deepEqual(linkOf({ branch: 'buildmaster/fix/inc-abc1234-2', body: '' }), { kind: 'fix', incident: 'inc-abc1234' });
    assert.deepEqual(linkOf({ branch: 'feature/x', body: 'Repairs it.\n<!-- buildmaster:revert inc-77 -->' }), { kind: 'revert', incident: 'inc-77' });
    assert.equal(linkOf({ branch: 'agent/fix-things', body: 'fixes inc-1' }), undefined);
  });
});

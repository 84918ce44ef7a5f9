// The merge gate (SPEC §3.1): every criterion that fails is a reason with a
// stable code and a message a person can act on. `explain`, the tree tooltips
// and the review panel all render these same reasons.
import type { ChangeLink } from './trailers';
import { admissionReasons } from './admission';
import { autonomyAllows } from './autonomy';
import { assignLane, lanesByPath } from './classify';
import { FAILED, PASSED, covers, failedForReal, fingerprintOf, marksOf, type Mark } from './fingerprint';
import { approvalFor, mergeKey } from './keys';
import { own } from './records';
import { short } from './text';
import type { Approval, Change, CheckRun, ControllerState, Incident, LaneState, RiskTier, Snapshot } from './model';
import type { Policy } from './policy/schema';

export type GateCode =
  | 'draft'
  | 'blocking-label'
  | 'approvals-missing'
  | 'changes-requested'
  | 'check-failing'
  | 'check-pending'
  | 'check-missing'
  | 'conflict'
  | 'mergeability-unknown'
  | 'stack-parent-open'
  | 'base-not-target'
  | 'lane-not-admitting'
  | 'global-hold'
  | 'awaiting-target-checks'
  | 'lane-reserved'
  | 'needs-approval'
  | 'approval-pending'
  | 'approval-rejected'
  | 'no-required-checks'
  | 'link-withdrawn'
  | 'empty-change'
  | 'merge-blocked'
  | 'behind'
  | 'blocked'
  | 'dirty';

export interface GateReason {
  code: GateCode;
  message: string;
}

/** Reasons that only an operator's approval resolves; everything else must pass first. */
export const APPROVAL_CODES: ReadonlySet<GateCode> = new Set(['needs-approval', 'approval-pending', 'approval-rejected']);

export { FAILED, PASSED };

export interface GateContext {
  policy: Policy;
  snapshot: Snapshot;
  state: ControllerState;
  lane: LaneState;
  tier: RiskTier;
  link: ChangeLink;
  /** Ids of the changes still open (a stack parent among them is not merged). */
  openChangeIds: ReadonlySet<string>;
  /** Open incidents this change's lane is handling: their fix and revert changes are admitted. */
  laneIncidents: ReadonlySet<string>;
  /** Every lane the change's files touch (and its label's lane): the ones other than `lane` must admit it too. */
  touchedLanes?: readonly LaneState[];
  /** A cross-lane change this lane is holding its merges for, so that it can land. */
  reservedFor?: string;
}

export interface GateResult {
  reasons: GateReason[];
  /** Things worth knowing that do not block, e.g. a check ignored for another lane's incident. */
  notes: string[];
  requiredChecks: string[];
  approval?: Approval;
}

/** Every check name lanes list, and each lane's list. */
const laneChecks = new WeakMap<Policy, { owned: Set<string>; byLane: Map<string, string[]> }>();

function checkOwnership(policy: Policy) {
  let entry = laneChecks.get(policy);
  if (!entry) {
    entry = { owned: new Set(policy.lanes.flatMap((l) => l.checks)), byLane: new Map(policy.lanes.map((l) => [l.name, l.checks])) };
    laneChecks.set(policy, entry);
  }
  return entry;
}

export interface RequiredChecks {
  /** Every check that must pass, in a stable order. */
  names: string[];
  /** The lanes the change is judged in: every lane its paths touch, and a label's lane. */
  lanes: string[];
  /** A default-lane or cross-lane change: it needs every check the policy knows. */
  everything: boolean;
  /** The policy explicitly lets a change with no required check merge (`merge.required_checks: []`). */
  noneAllowed: boolean;
  /** Why these checks, for `explain`. */
  rationale: string;
}

/**
 * A change's required checks (SPEC §3.1): the `checks` of every lane its paths
 * touch (a label adds its lane, it never removes one), plus every check no lane
 * lists (all reported ones under `required_checks: all`, else the listed ones).
 * A change that touches no lane's paths, or several lanes, needs every check the
 * policy knows (every lane's, the listed ones, and in local mode every
 * `local.checks` name) unless the policy declares a lane named like
 * `default_lane` with checks of its own. The gate and the local forge's merge
 * guard both use this one rule.
 */
export function requiredChecksOf(
  policy: Policy,
  change: Pick<Change, 'files' | 'labels' | 'checks'>,
  forge: Snapshot['forge'],
): RequiredChecks {
  const { owned, byLane } = checkOwnership(policy);
  const byPath = lanesByPath(policy, change.files);
  const assigned = assignLane(policy, change.files, change.labels).lane;
  const judgedIn = new Set([assigned, ...byPath]);
  const lanes = [...new Set([...policy.lanes.map((lane) => lane.name), policy.default_lane])].filter((name) => judgedIn.has(name));
  const listed = policy.merge.required_checks;
  const localNames = forge === 'local' ? policy.local.checks.map((check) => check.name) : [];
  const shared =
    listed === 'all'
      ? [...localNames, ...change.checks.map((check) => check.name)].filter((name) => !owned.has(name))
      : listed.filter((name) => !owned.has(name));
  const own = lanes.flatMap((name) => byLane.get(name) ?? []);
  const defaultChecks = byLane.get(policy.default_lane) ?? [];
  const crossLane = byPath.length > 1;
  const outsideLanes = crossLane || byPath.includes(policy.default_lane);
  const everything = outsideLanes && defaultChecks.length === 0;
  const what = crossLane ? `a cross-lane change (${byPath.join(', ')})` : "a change that touches no lane's paths";
  let known: string[] = [];
  let why = `the checks of lane ${lanes.join(', ')}`;
  if (everything) {
    known = [...policy.lanes.flatMap((lane) => lane.checks), ...(listed === 'all' ? [] : listed), ...localNames];
    why = `${what}: every check the policy knows`;
  } else if (outsideLanes) {
    known = defaultChecks;
    why = `${what}: the checks of lane ${[...new Set([...lanes, policy.default_lane])].join(', ')}`;
  }
  const names = [...new Set([...own, ...known, ...shared])];
  return {
    names,
    lanes,
    everything,
    noneAllowed: Array.isArray(listed) && listed.length === 0,
    rationale: `${why}${shared.length ? `, and ${listed === 'all' ? 'every check no lane lists' : 'the listed shared checks'}` : ''}`,
  };
}

export type CheckVerdict =
  | { name: string; status: 'passed' }
  | { name: string; status: 'pending'; waiting?: string }
  | { name: string; status: 'missing' }
  /** `unknown`: its failures no other lane's open incident accounts for (the reason it blocks). */
  | { name: string; status: 'failing'; conclusion: string; unknown: Mark[] }
  /** Red only with failures other lanes' open incidents already hold (known failures): it does not block this change. */
  | { name: string; status: 'excused'; conclusion: string; incident: Incident; incidents: Incident[] };

export interface ChecksJudgement {
  required: RequiredChecks;
  verdicts: CheckVerdict[];
  /** Nothing is required and the policy does not say that is fine: nothing merges untested. */
  untested: boolean;
  /** True when every required check passed or is excused, and something was required (or explicitly nothing). */
  pass: boolean;
}

/**
 * Judges a change's checks: each required check passed, failing, pending,
 * missing, or excused. A red check is excused when every one of its failures
 * (each failing test, or the check as a whole when nothing finer is known) is
 * a known failure: one the open incident of a lane this change does not touch
 * already holds. That keeps healthy lanes merging while another is broken,
 * and a new failure in the same shared check still stops them. A check that
 * failed and then passed on a re-run of the same sha is flaky, not failing.
 */
export function judgeChecks(
  policy: Policy,
  change: Pick<Change, 'files' | 'labels' | 'checks'>,
  forge: Snapshot['forge'],
  incidents: Readonly<Record<string, Incident>>,
): ChecksJudgement {
  const required = requiredChecksOf(policy, change, forge);
  const others = otherLanesIncidents(incidents, required.lanes);
  const verdicts = required.names.map((name) => verdictOf(name, change.checks, others));
  const untested = required.names.length === 0 && !required.noneAllowed;
  return { required, verdicts, untested, pass: !untested && verdicts.every((v) => v.status === 'passed' || v.status === 'excused') };
}

/** One required check's verdict from its runs on the change; `others` are the incidents whose failures are known ones. */
function verdictOf(name: string, checks: readonly CheckRun[], others: readonly Incident[]): CheckVerdict {
  const runs = checks.filter((check) => check.name === name);
  if (runs.length === 0) return { name, status: 'missing' };
  const failed = runs.find(failedForReal);
  if (failed) {
    const holders = new Map<string, Incident>();
    const unknown = marksOf(failed).filter((mark) => {
      const holder = others.find((incident) => covers(fingerprintOf(incident), mark));
      if (holder) holders.set(holder.id, holder);
      return holder === undefined;
    });
    const first = [...holders.values()][0];
    if (unknown.length === 0 && first)
      return { name, status: 'excused', conclusion: failed.conclusion, incident: first, incidents: [...holders.values()] };
    return { name, status: 'failing', conclusion: failed.conclusion, unknown };
  }
  const pending = runs.filter((check) => check.conclusion === 'pending');
  if (pending.length > 0) {
    // Only when no run of it is under way is it "not running", and then say why.
    const waiting = pending.every((check) => check.waiting !== undefined) ? pending[0]?.waiting : undefined;
    return waiting === undefined ? { name, status: 'pending' } : { name, status: 'pending', waiting };
  }
  const odd = runs.find((check) => !PASSED.has(check.conclusion) && !(FAILED.has(check.conclusion) && check.passedOnRerun === true));
  if (odd) return { name, status: 'failing', conclusion: odd.conclusion, unknown: [{ check: name }] };
  return { name, status: 'passed' };
}

/** Open incidents of lanes the change does not touch: their failures are known ones for it. */
function otherLanesIncidents(incidents: Readonly<Record<string, Incident>>, lanes: readonly string[]): Incident[] {
  return Object.values(incidents)
    .filter((incident) => incident.status === 'open' && incident.lanes.length > 0 && !incident.lanes.some((lane) => lanes.includes(lane)))
    .sort((a, b) => a.openedAt - b.openedAt || a.id.localeCompare(b.id));
}

export interface MergeGuardVerdict {
  /** Every required check passed or is excused (and something was required, or explicitly nothing). */
  ok: boolean;
  /** The required checks that stop the merge (failing, pending or missing), and why nothing is required when nothing is. */
  failing: string[];
  judgement: ChecksJudgement;
}

/**
 * The merge rule a forge guards its merge with, right before it lands: the
 * same judgement as the gate's (`judgeChecks`), including the excuse for a
 * shared check red only with failures another lane's open incident already
 * holds on the target, as the controller's state records it.
 */
export function mergeGuard(
  policy: Policy,
  change: Pick<Change, 'files' | 'labels'>,
  checks: readonly CheckRun[],
  state: Pick<ControllerState, 'incidents'> | undefined,
  forge: Snapshot['forge'] = 'local',
): MergeGuardVerdict {
  const judgement = judgeChecks(policy, { files: change.files, labels: change.labels, checks: [...checks] }, forge, state?.incidents ?? {});
  const failing = judgement.verdicts.filter((v) => v.status !== 'passed' && v.status !== 'excused').map((v) => v.name);
  if (judgement.untested) failing.push('(no required check: set `merge.required_checks: []` to merge without checks)');
  return { ok: judgement.pass, failing, judgement };
}

/** Collects a gate's reasons in the order they are checked (the first is the one a queue shows). */
type Add = (code: GateCode, message: string) => void;

export function gate(change: Change, context: GateContext): GateResult {
  const reasons: GateReason[] = [];
  const notes: string[] = [];
  const add: Add = (code, message) => reasons.push({ code, message });
  changeReasons(change, context.policy, add);
  if (context.snapshot.forge !== 'local') reviewReasons(change, context.policy, add);
  const judged = judgeChecks(context.policy, change, context.snapshot.forge, context.state.incidents);
  checkReasons(change, context, judged, add, notes);
  withdrawnReasons(change, context, add);
  stackReasons(change, context, add);
  mergeStateReasons(change, context.policy, add, notes);
  admissionReasons(change, context, add);
  const approval = approvalReasons(change, context, add, notes);
  return { reasons, notes, requiredChecks: judged.required.names, ...(approval ? { approval } : {}) };
}

function changeReasons(change: Change, policy: Policy, add: Add): void {
  if (change.draft) add('draft', 'it is a draft');
  for (const label of change.labels.filter((l) => policy.merge.blocking_labels.includes(l))) {
    add('blocking-label', `it has the blocking label "${label}"`);
  }
}

/** Each reviewer's latest review counts (a comment is no review). */
function reviewReasons(change: Change, policy: Policy, add: Add): void {
  const latest = new Map<string, Change['reviews'][number]>();
  for (const review of [...change.reviews].sort((a, b) => a.submittedAt - b.submittedAt)) {
    if (review.state === 'commented') continue;
    latest.set(review.reviewer, review);
  }
  const approvals = [...latest.values()].filter((r) => r.state === 'approved').length;
  const requested = [...latest.values()].filter((r) => r.state === 'changes_requested').map((r) => r.reviewer);
  if (approvals < policy.merge.required_approvals) {
    add('approvals-missing', `it has ${approvals} of ${policy.merge.required_approvals} required approvals`);
  }
  if (requested.length) add('changes-requested', `changes requested by ${requested.join(', ')} (their latest review)`);
}

function checkReasons(change: Change, context: GateContext, judged: ChecksJudgement, add: Add, notes: string[]): void {
  const { policy, snapshot } = context;
  for (const verdict of judged.verdicts) {
    const name = verdict.name;
    if (verdict.status === 'missing') add('check-missing', `required check "${name}" has not reported on ${short(change.headSha)}`);
    else if (verdict.status === 'pending') add('check-pending', `required check "${name}" ${verdict.waiting ?? 'is still running'}`);
    else if (verdict.status === 'failing')
      add('check-failing', `required check "${name}" is ${verdict.conclusion}${unknownFailures(verdict.unknown)}`);
    else if (verdict.status === 'excused') {
      const held = verdict.incidents.map((incident) => `${incident.id} in lane ${incident.lanes.join(', ')}`).join(', ');
      notes.push(
        `check "${name}" is ${verdict.conclusion}, but only with failures ${held} already hold${verdict.incidents.length > 1 ? '' : 's'} on ${policy.target}; it does not block this change`,
      );
    }
  }
  if (judged.untested) {
    const declared = new Set(policy.lanes.map((l) => l.name));
    const where = judged.required.lanes.map((name) => (declared.has(name) ? `lane ${name}` : `a lane named ${name}`)).join(', ');
    add(
      'no-required-checks',
      `no check is required of it (${judged.required.rationale}) and nothing merges untested: give ${where} \`checks\`, list checks in \`merge.required_checks\`` +
        `${snapshot.forge === 'local' ? ' or add `local.checks`' : ''}; or set \`merge.required_checks: []\` to let changes with no required check merge`,
    );
  }
}

/** A change that can never merge: a fix or revert whose incident is over, one already on the target; or no merge can land now. */
function withdrawnReasons(change: Change, { policy, snapshot, state, link }: GateContext, add: Add): void {
  if (link) {
    const incident = own(state.incidents, link.incident);
    if (!incident || incident.status !== 'open') {
      add(
        'link-withdrawn',
        `it is the ${link.kind} for ${link.incident}, which is ${incident ? 'resolved' : 'not known (resolved and forgotten, or never opened here)'}: it is withdrawn and never merges; close it`,
      );
    }
  }
  if (change.emptyOnTarget === true)
    add('empty-change', `merging it would leave ${policy.target} as it is (its changes are already there): it is withdrawn; close it`);
  if (snapshot.mergeBlocked) add('merge-blocked', `no merge can land right now: ${snapshot.mergeBlocked}`);
}

function stackReasons(change: Change, { policy, snapshot, openChangeIds }: GateContext, add: Add): void {
  if (change.mergeable === 'conflicting') add('conflict', `it conflicts with ${policy.target}; it needs a restack`);
  if (change.mergeable === 'unknown') add('mergeability-unknown', 'mergeability is not known yet; it is checked again next cycle');
  if (change.stackParent && openChangeIds.has(change.stackParent)) {
    add('stack-parent-open', `it is stacked on ${change.stackParent}, which is not merged yet`);
  } else if (change.base !== snapshot.target && !change.stackParent) {
    add('base-not-target', `its base is ${change.base}, not ${snapshot.target}`);
  }
}

/**
 * What GitHub says of merging the change now (`mergeable_state`): each state that
 * stops GitHub's merge is its own reason, so a change waits with the cause named
 * instead of a merge refused every cycle. A state another reason already names
 * (a draft, a conflict) is not said twice.
 */
function mergeStateReasons(change: Change, policy: Policy, add: Add, notes: string[]): void {
  const base = change.base;
  switch (change.mergeState) {
    case 'draft':
      if (!change.draft) add('draft', 'GitHub says it is a draft; mark it ready for review on GitHub');
      return;
    case 'dirty':
      if (change.mergeable !== 'conflicting')
        add('dirty', `GitHub says it conflicts with ${base}; resolve the conflicts (merge or rebase ${base} into it)`);
      return;
    case 'blocked':
      add(
        'blocked',
        `GitHub's branch protection of ${base} is not satisfied: check its rules or rulesets (required reviews and code owners, required status checks, ` +
          `signed commits, resolved conversations) against this pull request's reviews and checks; Build Master's own gate may ask for less than GitHub does`,
      );
      return;
    case 'behind':
      behindReason(change, policy, add, notes);
      return;
    case 'unstable':
      // GitHub merges it: the failing check is not one branch protection requires, and the gate judged the checks the policy requires above.
      notes.push(`GitHub says a check no branch protection of ${base} requires is failing; GitHub would merge it`);
      return;
    case 'has_hooks':
      // Mergeable: the repository runs pre-receive hooks on the merge, which may still refuse it.
      notes.push(`GitHub says it is mergeable and ${base} runs pre-receive hooks on the merge`);
      return;
    default:
      return;
  }
}

/** Behind its base under strict branch protection: `merge.when_behind` says whether Build Master updates it, merges anyway, or waits. */
function behindReason(change: Change, policy: Policy, add: Add, notes: string[]): void {
  const { base } = change;
  const when = policy.merge.when_behind;
  if (when === 'merge') {
    notes.push(`GitHub says it is behind ${base}; \`merge.when_behind: merge\` tries the merge anyway`);
    return;
  }
  const stale = `it is behind ${base} and branch protection wants it up to date`;
  if (when === 'update' && updatesItself(change)) {
    add('behind', `${stale}: Build Master asks GitHub to update its branch, then waits for its checks`);
    return;
  }
  // A fork's branch is its author's: Build Master does not push to another repository.
  const who = change.headRepo ? `its author updates it in ${change.headRepo}` : `\`merge.when_behind: wait\` leaves this to a person`;
  add('behind', `${stale}: update its branch (GitHub's "Update branch", or merge ${base} into it); ${who}`);
}

/** Build Master updates a branch behind its base itself only under `when_behind: update`, and never a fork's branch. */
export function updatesItself(change: Pick<Change, 'headRepo'>): boolean {
  return change.headRepo === undefined;
}

/** Above what autonomy.merge allows, a merge needs an operator's approval of this very head. */
function approvalReasons(change: Change, { policy, state, tier }: GateContext, add: Add, notes: string[]): Approval | undefined {
  const approval = approvalFor(state.approvals, mergeKey(change));
  const autonomy = autonomyAllows(policy, 'merge', tier);
  if (!autonomy.allowed) {
    if (approval?.status === 'approved') notes.push(`approved by ${approval.resolvedBy ?? 'an operator'}`);
    else if (approval?.status === 'rejected')
      add('approval-rejected', `an operator rejected this merge: ${approval.reason ?? 'no reason given'}`);
    else if (approval?.status === 'pending')
      add('approval-pending', `waiting for an operator's approval (${approval.id}): ${autonomy.rationale}`);
    else add('needs-approval', `${autonomy.rationale}; it needs an operator's approval`);
  }
  return approval;
}

/** The failures of a red check no other lane's incident accounts for, briefly. */
function unknownFailures(unknown: readonly Mark[]): string {
  const tests = unknown.filter((mark) => mark.test !== undefined);
  if (tests.length === 0) return '';
  const shown = tests
    .slice(0, 3)
    .map((mark) => mark.test)
    .join(', ');
  return ` with failing test(s) no other lane's incident holds: ${shown}${tests.length > 3 ? ` and ${tests.length - 3} more` : ''}`;
}

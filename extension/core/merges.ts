// The merge phase of a cycle: each lane's candidates in merge order, judged by
// the gate, the first eligible one merged; lanes a cross-lane change needs are
// reserved for it; a merge that waits only on an operator asks for approval.
import { assignLane, lanesByPath, riskTier } from './classify';
import { autonomyAllows } from './autonomy';
import type { Cycle } from './decide';
import { APPROVAL_CODES, gate, updatesItself, type GateReason, type GateResult } from './gate';
import { linkOf, type ChangeLink } from './trailers';
import { approvalFor, mergeKey, updateBranchKey } from './keys';
import type { Change, ControllerState, LaneState, RiskTier } from './model';
import { own, put } from './records';
import { short } from './text';
import type { Policy } from './policy/schema';

export interface QueueEntry {
  change: string;
  title: string;
  lane: string;
  tier: RiskTier;
  crossLane: boolean;
  link?: { incident: string; kind: 'fix' | 'revert' };
  headSha: string;
  reasons: GateReason[];
  notes: string[];
  requiredChecks: string[];
  approval?: string;
  laneRationale: string;
}

export interface Classified {
  change: Change;
  lane: string;
  crossLane: boolean;
  /** Every lane the change's files touch. */
  touched: string[];
  laneRationale: string;
  tier: RiskTier;
  link: ChangeLink;
}

/** A change's lane, tier and link to an incident: everything the merge plan needs to know about it. */
export function classify(policy: Policy, change: Change): Classified {
  const assignment = assignLane(policy, change.files, change.labels);
  return {
    change,
    lane: assignment.lane,
    crossLane: assignment.crossLane,
    touched: assignment.touched,
    laneRationale: assignment.rationale,
    tier: riskTier(policy, change.files),
    link: linkOf(change),
  };
}

function stackDepth(change: Change, byId: ReadonlyMap<string, Change>): number {
  let depth = 0;
  let parent = change.stackParent;
  while (parent && byId.has(parent) && depth < 100) {
    depth += 1;
    parent = byId.get(parent)?.stackParent;
  }
  return depth;
}

/** Merge order in a lane: linked fixes and reverts, `priority`, stack bottom first, longest ready. */
export function mergeOrder(entries: readonly Classified[], byId: ReadonlyMap<string, Change>): Classified[] {
  const key = (entry: Classified) => [
    entry.link ? 0 : 1,
    entry.change.labels.includes('priority') ? 0 : 1,
    stackDepth(entry.change, byId),
    entry.change.readySince,
  ];
  return [...entries].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < ka.length; i++) {
      const d = (ka[i] as number) - (kb[i] as number);
      if (d !== 0) return d;
    }
    return a.change.id.localeCompare(b.change.id);
  });
}

/** What every lane's plan shares: the open changes by id, and the candidates by lane. */
interface Plan {
  open: ReadonlySet<string>;
  byId: ReadonlyMap<string, Change>;
  byLane: ReadonlyMap<string, Classified[]>;
}

function planOf(cycle: Cycle): Plan {
  const byLane = new Map<string, Classified[]>();
  for (const entry of cycle.classified) {
    const list = byLane.get(entry.lane);
    if (list) list.push(entry);
    else byLane.set(entry.lane, [entry]);
  }
  return {
    open: new Set(cycle.snapshot.changes.map((change) => change.id)),
    byId: new Map(cycle.snapshot.changes.map((change) => [change.id, change])),
    byLane,
  };
}

export function planMerges(cycle: Cycle): Record<string, QueueEntry[]> {
  const plan = planOf(cycle);
  const queues: Record<string, QueueEntry[]> = {};
  const reserved = reserveForCrossLane(cycle, plan);
  for (const name of cycle.laneNames) put(queues, name, planLane(cycle, plan, name, reserved.get(name)));
  return queues;
}

/** One lane's queue in merge order; the first change every gate passes merges, and the lane says why it waits otherwise. */
function planLane(cycle: Cycle, plan: Plan, name: string, reservedFor: string | undefined): QueueEntry[] {
  const lane = cycle.lane(name);
  const laneIncidents = new Set(cycle.incidentsOfLane(name).map((incident) => incident.id));
  const queue: QueueEntry[] = [];
  let merged = false;
  for (const entry of mergeOrder(plan.byLane.get(name) ?? [], plan.byId)) {
    const result = judge(cycle, plan, entry, lane, laneIncidents, reservedFor);
    const queued = queueEntry(entry, name, result);
    queue.push(queued);
    if (merged) continue;
    if (result.reasons.length === 0) {
      merge(cycle, entry, lane, result.requiredChecks.length);
      merged = true;
    } else if (onlyBehind(cycle.policy, result.reasons) && updatesItself(entry.change) && updateBranch(cycle, plan, entry, lane)) {
      // The lane waits for it: merging another change first would leave it behind again.
      merged = true;
    } else if (waitsOnlyForApproval(result.reasons)) {
      askToMerge(cycle, entry, lane, result.reasons, queued);
    }
  }
  const first = queue[0];
  if (!merged && first) {
    const reason = first.reasons[0];
    cycle.emit(
      'wait',
      `lane ${name}: ${queue.length} change(s) waiting; first in order ${first.change}: ${reason ? reason.message : 'no reason'}`,
      { lane: name, change: first.change },
    );
  }
  return queue;
}

function judge(
  cycle: Cycle,
  plan: Plan,
  entry: Classified,
  lane: LaneState,
  laneIncidents: ReadonlySet<string>,
  reservedFor?: string,
): GateResult {
  const { policy, snapshot, state } = cycle;
  return gate(entry.change, {
    policy,
    snapshot,
    state,
    lane,
    tier: entry.tier,
    link: entry.link,
    openChangeIds: plan.open,
    laneIncidents,
    touchedLanes: touchedLanesOf(state, policy, entry),
    ...(reservedFor ? { reservedFor } : {}),
  });
}

function queueEntry(entry: Classified, lane: string, result: GateResult): QueueEntry {
  return {
    change: entry.change.id,
    title: entry.change.title,
    lane,
    tier: entry.tier,
    crossLane: entry.crossLane,
    ...(entry.link ? { link: entry.link } : {}),
    headSha: entry.change.headSha,
    reasons: result.reasons,
    notes: result.notes,
    requiredChecks: result.requiredChecks,
    ...(result.approval ? { approval: result.approval.id } : {}),
    laneRationale: entry.laneRationale,
  };
}

/** Every other gate passes: only an operator's approval stands between the change and its merge. */
function waitsOnlyForApproval(reasons: readonly GateReason[]): boolean {
  return reasons.every((reason) => APPROVAL_CODES.has(reason.code)) && reasons.some((reason) => reason.code === 'needs-approval');
}

/** Every gate passes but GitHub's "behind", and `merge.when_behind: update` lets Build Master bring it up to date. */
function onlyBehind(policy: Policy, reasons: readonly GateReason[]): boolean {
  return policy.merge.when_behind === 'update' && reasons.length > 0 && reasons.every((reason) => reason.code === 'behind');
}

/**
 * Asks GitHub to update the branch of the first change that waits only for
 * that, once per (change, head, base): its key never repeats for the same base.
 * False when the base's commit is not known this cycle (nothing to key it by).
 */
function updateBranch(cycle: Cycle, plan: Plan, entry: Classified, lane: LaneState): boolean {
  const { change } = entry;
  const baseSha =
    change.base === cycle.snapshot.target ? cycle.snapshot.targetCommits.at(-1)?.sha : plan.byId.get(change.stackParent ?? '')?.headSha;
  if (baseSha === undefined) return false;
  cycle.emit(
    'update-branch',
    `${change.id} passes every gate but is behind ${change.base} (${short(baseSha)}), which branch protection wants it up to date with: ` +
      `GitHub updates its branch (\`merge.when_behind: update\`) and its checks run again`,
    { lane: lane.name, change: change.id, sha: change.headSha, baseSha, key: updateBranchKey(change, baseSha) },
  );
  return true;
}

function merge(cycle: Cycle, entry: Classified, lane: LaneState, required: number): void {
  const { policy, state } = cycle;
  const { change } = entry;
  const why = entry.link
    ? `linked ${entry.link.kind} for ${entry.link.incident}, merged first`
    : `first eligible change in lane ${lane.name}`;
  cycle.emit(
    'merge',
    `${change.id} passes every gate (${required} required check(s) green, ${entry.tier}); ${why}; ${policy.merge.method} guarded by ${short(change.headSha)}`,
    { lane: lane.name, change: change.id, sha: change.headSha, key: mergeKey(change) },
  );
  if (!policy.merge.wait_for_target_green) return;
  lane.awaiting = { change: change.id, since: cycle.now };
  // A cross-lane change lands in every lane it touches: each waits for its target checks.
  for (const name of entry.crossLane ? entry.touched : []) {
    const touched = own(state.lanes, name);
    if (touched) touched.awaiting = { change: change.id, since: cycle.now };
  }
}

function askToMerge(cycle: Cycle, entry: Classified, lane: LaneState, reasons: readonly GateReason[], queued: QueueEntry): void {
  const { change } = entry;
  const reason = reasons.find((r) => r.code === 'needs-approval')?.message ?? '';
  cycle.requestApproval(
    'merge',
    entry.tier,
    mergeKey(change),
    'merge',
    `merge ${change.id} into ${cycle.policy.target}: every other gate passes; ${reason}`,
    { lane: lane.name, change: change.id, sha: change.headSha },
  );
  // The entry was built before the request: name the approval it now waits on.
  const requested = approvalFor(cycle.state.approvals, mergeKey(change));
  if (requested) queued.approval = requested.id;
}

/**
 * Every lane a change lands in: the lanes its files touch by path, whatever a
 * label or its link says, so a label or a fix's branch name never carries a
 * change past a lane that does not admit it.
 */
function touchedLanesOf(state: ControllerState, policy: Policy, entry: Classified): LaneState[] {
  const names = new Set([...entry.touched, ...lanesByPath(policy, entry.change.files)]);
  return [...names].map((name) => own(state.lanes, name)).filter((lane): lane is LaneState => lane !== undefined);
}

/**
 * Busy lanes are almost never settled, so a cross-lane change waiting for all
 * of its lanes to settle would wait forever. The first cross-lane change that
 * is blocked by nothing but its lanes' pending target checks reserves those
 * lanes: they hold their own merges (fixes excepted) until it lands, which
 * takes at most one settle per lane.
 */
function reserveForCrossLane(cycle: Cycle, plan: Plan): Map<string, string> {
  const reserved = new Map<string, string>();
  const home = cycle.policy.default_lane;
  const lane = own(cycle.state.lanes, home);
  if (!lane) return reserved;
  const laneIncidents = new Set(cycle.incidentsOfLane(home).map((incident) => incident.id));
  for (const entry of mergeOrder(plan.byLane.get(home) ?? [], plan.byId)) {
    if (!entry.crossLane || entry.link) continue;
    const result = judge(cycle, plan, entry, lane, laneIncidents);
    if (result.reasons.every((reason) => reason.code === 'awaiting-target-checks' || APPROVAL_CODES.has(reason.code))) {
      for (const name of entry.touched) if (name !== home) reserved.set(name, entry.change.id);
      break;
    }
  }
  return reserved;
}

/**
 * The change cannot merge before an operator approves it (its tier is above
 * what autonomy.merge allows, and no approval of this head is approved yet).
 * The local forge tests the next change in the lane too, so a change waiting
 * on a person never leaves the rest of its lane untested.
 */
export function awaitsOperator(policy: Policy, change: Change, state?: Pick<ControllerState, 'approvals'>): boolean {
  if (autonomyAllows(policy, 'merge', riskTier(policy, change.files)).allowed) return false;
  return (state ? approvalFor(state.approvals, mergeKey(change)) : undefined)?.status !== 'approved';
}

/**
 * Changes per lane in merge order: what the local forge uses to decide whose
 * checks run first. Changes that can never merge (an empty diff on the target,
 * a fix or revert whose incident is not open in `state`) are left out: were
 * their checks to pass, the forge would stop there and never test the change
 * that can merge.
 */
export function laneOrder(policy: Policy, changes: readonly Change[], state?: Pick<ControllerState, 'incidents'>): Map<string, Change[]> {
  const byId = new Map(changes.map((change) => [change.id, change]));
  const byLane = new Map<string, Classified[]>();
  for (const change of changes) {
    const entry = classify(policy, change);
    if (change.emptyOnTarget === true) continue;
    if (state && entry.link && own(state.incidents, entry.link.incident)?.status !== 'open') continue;
    byLane.set(entry.lane, [...(byLane.get(entry.lane) ?? []), entry]);
  }
  return new Map([...byLane].map(([lane, entries]) => [lane, mergeOrder(entries, byId).map((entry) => entry.change)]));
}

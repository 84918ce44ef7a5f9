// decide(snapshot, state, policy, now): the whole controller's judgement as a
// pure function (SPEC §3). No I/O, no clock, no randomness: the same inputs give
// the same next state and decisions, which is what replay, simulation and the
// property tests rely on. This file holds the pipeline and `Cycle`, the working
// set every phase reads and writes; the phases live in their own modules.
import { autonomyAllows } from './autonomy';
import { updateGlobal } from './hold';
import { noteFlakes } from './incidents/flakes';
import { detachDroppedLanes, openBreaks } from './incidents/open';
import { progressRepairs, runDispatches } from './incidents/repair';
import { resolveGoneFailures } from './incidents/resolve';
import { noteRepairMerge, verifyRecoveries } from './incidents/verify';
import { commitHealth } from './incident';
import { approvalFor, laneGoneKey, mergeKey, newApprovalId } from './keys';
import { classify, planMerges, type Classified, type QueueEntry } from './merges';
import type {
  ActionClass,
  Approval,
  ControllerState,
  CycleOutcome,
  Decision,
  DecisionKind,
  Incident,
  LaneState,
  LaneStateName,
  RiskTier,
  Snapshot,
} from './model';
import { drop, own, put, recordOf } from './records';
import type { Policy } from './policy/schema';

export type { QueueEntry };

export interface DecideResult {
  state: ControllerState;
  decisions: Decision[];
  outcome: { kind: CycleOutcome; rationale: string };
  /** Every lane's candidates in merge order with their gate reasons. */
  queues: Record<string, QueueEntry[]>;
}

/** Red target commits remembered as examined. */
const EXAMINED_LIMIT = 500;
/** Resolved incidents and approvals kept in the state; the event log keeps the whole history. */
const RESOLVED_KEPT = 50;

export function decide(snapshot: Snapshot, previous: ControllerState, policy: Policy, now: number): DecideResult {
  const cycle = new Cycle(snapshot, previous, policy, now);
  reportDroppedPauses(cycle);
  detachDroppedLanes(cycle);
  settleAwaitedMerges(cycle);
  observeTarget(cycle);
  progressRepairs(cycle);
  updateGlobal(cycle);
  const queues = planMerges(cycle);
  runDispatches(cycle);
  pruneApprovals(cycle);
  pruneResolved(cycle.state);
  return { state: cycle.state, decisions: cycle.decisions, outcome: outcomeOf(cycle), queues };
}

export function initialState(policy: Policy, now: number): ControllerState {
  const state: ControllerState = {
    version: 1,
    global: { state: 'normal', reason: 'no lane has an incident', since: now, triggers: [], acknowledged: [] },
    lanes: {},
    incidents: {},
    approvals: {},
    examinedRed: [],
    cycle: 0,
  };
  syncLanes(state, policy, now);
  return state;
}

/** Every lane the policy names, in order, then the default lane. */
export function laneNames(policy: Policy): string[] {
  const names = policy.lanes.map((lane) => lane.name);
  if (!names.includes(policy.default_lane)) names.push(policy.default_lane);
  return names;
}

function syncLanes(state: ControllerState, policy: Policy, now: number): void {
  state.lanes = recordOf(
    laneNames(policy).map((name) => [name, own(state.lanes, name) ?? { name, state: 'healthy', since: now, reason: 'new lane' }]),
  );
}

/** The fields a decision or approval carries besides its kind, rationale and key. */
type DecisionFields = Omit<Decision, 'kind' | 'rationale' | 'key'>;

/** One cycle's working set: the next state, the decisions so far, and the snapshot read once. */
export class Cycle {
  readonly decisions: Decision[] = [];
  readonly state: ControllerState;
  readonly classified: Classified[];
  readonly commitIndex = new Map<string, number>();
  /** Every lane the policy names, in order, then the default lane. */
  readonly laneNames: readonly string[];
  /** Fix dispatches decided this cycle, run once the merge plan is known. */
  readonly dispatches: { incident: Incident; attempt: number }[] = [];
  /** Lanes the state held that the policy no longer names (renamed or removed). */
  readonly droppedLanes: LaneState[];

  constructor(
    readonly snapshot: Snapshot,
    previous: ControllerState,
    readonly policy: Policy,
    readonly now: number,
  ) {
    this.state = structuredClone(previous);
    this.state.cycle += 1;
    this.laneNames = laneNames(policy);
    const names = new Set(this.laneNames);
    this.droppedLanes = Object.values(this.state.lanes).filter((lane) => !names.has(lane.name));
    syncLanes(this.state, policy, now);
    this.classified = snapshot.changes.map((change) => classify(policy, change));
    snapshot.targetCommits.forEach((commit, index) => this.commitIndex.set(commit.sha, index));
  }

  emit(kind: DecisionKind, rationale: string, fields: Omit<Decision, 'kind' | 'rationale'> = {}): Decision {
    const decision: Decision = { kind, ...fields, rationale };
    this.decisions.push(decision);
    return decision;
  }

  lane(name: string): LaneState {
    const lane = own(this.state.lanes, name);
    if (!lane) throw new Error(`lane ${name} is not in the policy`);
    return lane;
  }

  move(name: string, to: LaneStateName, rationale: string, extra: Partial<LaneState> = {}): void {
    const lane = own(this.state.lanes, name);
    if (!lane) return;
    const from = lane.state;
    Object.assign(lane, extra, { state: to, reason: rationale });
    if (from !== to) {
      lane.since = this.now;
      this.emit('lane-transition', rationale, { lane: name, from, to, ...(lane.incident ? { incident: lane.incident } : {}) });
    }
  }

  openIncidents(): Incident[] {
    return Object.values(this.state.incidents)
      .filter((incident) => incident.status === 'open')
      .sort((a, b) => a.openedAt - b.openedAt || a.id.localeCompare(b.id));
  }

  incidentsOfLane(name: string): Incident[] {
    return this.openIncidents().filter((incident) => incident.lanes.includes(name));
  }

  /**
   * Runs an action now if autonomy allows it or an operator approved it;
   * otherwise asks for (or keeps waiting on) an approval.
   */
  gated(
    actionClass: ActionClass,
    tier: RiskTier,
    key: string,
    kind: DecisionKind,
    rationale: string,
    fields: DecisionFields,
  ): 'act' | 'waiting' | 'rejected' {
    const verdict = autonomyAllows(this.policy, actionClass, tier);
    const approval = approvalFor(this.state.approvals, key);
    if (verdict.allowed || approval?.status === 'approved') {
      const why = verdict.allowed ? verdict.rationale : `approved by ${approval?.resolvedBy ?? 'an operator'}`;
      this.emit(kind, `${rationale} (${why})`, { ...fields, key });
      return 'act';
    }
    if (approval?.status === 'rejected') return 'rejected';
    if (!approval) this.requestApproval(actionClass, tier, key, kind, `${rationale}; ${verdict.rationale}`, fields);
    return 'waiting';
  }

  requestApproval(
    actionClass: ActionClass,
    tier: RiskTier,
    key: string,
    kind: DecisionKind,
    rationale: string,
    fields: DecisionFields,
  ): void {
    // One approval per action key; an id another key already holds is never taken for this one.
    if (approvalFor(this.state.approvals, key)) return;
    const id = newApprovalId(this.state.approvals, key);
    const approval: Approval = {
      id,
      key,
      actionClass,
      kind,
      tier,
      rationale,
      status: 'pending',
      createdAt: this.now,
      ...(fields.lane ? { lane: fields.lane } : {}),
      ...(fields.change ? { change: fields.change } : {}),
      ...(fields.incident ? { incident: fields.incident } : {}),
    };
    put(this.state.approvals, id, approval);
    this.emit('request-approval', rationale, { ...fields, approval: id });
  }
}

/** An operator's pause of a lane the policy no longer names is reported, never dropped in silence. */
function reportDroppedPauses(cycle: Cycle): void {
  for (const lane of cycle.droppedLanes) {
    if (!lane.operatorPaused) continue;
    cycle.emit(
      'escalate',
      `lane ${lane.name} was paused by an operator (${lane.operatorPaused.reason}) but the policy no longer names it: its pause ended with it, ` +
        `and its paths now belong to the lanes the policy gives them; to keep them frozen, restore lane ${lane.name} in the policy and pause it again, or pause the lane that now holds them`,
      { lane: lane.name, key: laneGoneKey(lane.name, lane.operatorPaused.since) },
    );
  }
}

/** Reads the target branch: last green, flaky tests, failures gone (resolved), new breaks (incidents), repair merges, recoveries. */
function observeTarget(cycle: Cycle): void {
  const { state } = cycle;
  for (const commit of cycle.snapshot.targetCommits) {
    noteRepairMerge(cycle, commit);
    if (commitHealth(commit) === 'green') state.lastGreenSha = commit.sha;
  }
  noteFlakes(cycle);
  verifyRecoveries(cycle);
  resolveGoneFailures(cycle);
  openBreaks(cycle);
  if (state.examinedRed.length > EXAMINED_LIMIT) state.examinedRed = state.examinedRed.slice(-EXAMINED_LIMIT);
}

/** A merge awaited its target checks: clear it once they settle, or when the merge never happened. */
function settleAwaitedMerges(cycle: Cycle): void {
  const open = new Set(cycle.snapshot.changes.map((change) => change.id));
  for (const lane of Object.values(cycle.state.lanes)) {
    if (!lane.awaiting) continue;
    if (open.has(lane.awaiting.change)) {
      // Still open: the merge did not happen (conflict, moved head, crash before it). Try again.
      delete lane.awaiting;
      continue;
    }
    const commit = cycle.snapshot.targetCommits.find((c) => c.change?.id === lane.awaiting?.change);
    if (commit && commitHealth(commit) !== 'pending') delete lane.awaiting;
  }
}

/** Pending merge approvals for a head that moved or a change that is gone are withdrawn, as are those of resolved incidents. */
function pruneApprovals(cycle: Cycle): void {
  const heads = new Map(cycle.snapshot.changes.map((change) => [change.id, change.headSha]));
  for (const approval of Object.values(cycle.state.approvals)) {
    if (approval.status !== 'pending' || approval.actionClass !== 'merge' || !approval.change) continue;
    const head = heads.get(approval.change);
    if (head === undefined || approval.key !== mergeKey({ id: approval.change, headSha: head })) drop(cycle.state.approvals, approval.id);
  }
  for (const approval of Object.values(cycle.state.approvals)) {
    if (approval.incident && own(cycle.state.incidents, approval.incident)?.status === 'resolved' && approval.status === 'pending') {
      drop(cycle.state.approvals, approval.id);
    }
  }
}

/** Keeps every open incident and pending approval, and only the most recent resolved ones. */
function pruneResolved(state: ControllerState): void {
  const resolved = Object.values(state.incidents).filter((incident) => incident.status === 'resolved');
  if (resolved.length > RESOLVED_KEPT) {
    resolved.sort((a, b) => (b.resolvedAt ?? 0) - (a.resolvedAt ?? 0));
    for (const incident of resolved.slice(RESOLVED_KEPT)) drop(state.incidents, incident.id);
  }
  // An approval of an incident no longer on record could otherwise stand for a later incident that reuses its id.
  for (const approval of Object.values(state.approvals)) {
    if (approval.incident !== undefined && own(state.incidents, approval.incident) === undefined) drop(state.approvals, approval.id);
  }
  const done = Object.values(state.approvals).filter((approval) => approval.status !== 'pending');
  if (done.length > RESOLVED_KEPT) {
    done.sort((a, b) => (b.resolvedAt ?? 0) - (a.resolvedAt ?? 0));
    for (const approval of done.slice(RESOLVED_KEPT)) drop(state.approvals, approval.id);
  }
}

function outcomeOf(cycle: Cycle): DecideResult['outcome'] {
  const { state } = cycle;
  if (state.global.state === 'global-hold') return { kind: 'global-hold', rationale: state.global.reason };
  const troubled = Object.values(state.lanes).filter((lane) => lane.state !== 'healthy');
  if (troubled.length) {
    return {
      kind: 'pause-lane',
      rationale: `${troubled.map((l) => `${l.name} is ${l.state}: ${l.reason}`).join('; ')}; healthy lanes keep merging`,
    };
  }
  return { kind: 'continue', rationale: 'every lane is healthy' };
}

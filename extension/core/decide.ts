// decide(snapshot, state, policy, now): the whole controller's judgement as a
// pure function (SPEC §3). No I/O, no clock, no randomness: the same inputs give
// the same next state and decisions, which is what replay, simulation and the
// property tests rely on.
import { assignLane, lanesByPath, riskTier } from './classify';
import { autonomyAllows } from './autonomy';
import {
  APPROVAL_CODES,
  approvalFor,
  gate,
  judgeChecks,
  newApprovalId,
  linkOf,
  mergeKey,
  short,
  type ChangeLink,
  type GateReason,
} from './gate';
import {
  covers,
  describeMark,
  fingerprintOf,
  fingerprintVerdict,
  flakesOf,
  laneOfMark,
  markKey,
  marksOf,
  newestSettled,
  presentIn,
  type Mark,
} from './fingerprint';
import { attributeBreaks, classifyFailure, commitHealth, remedyFor, type Break } from './incident';
import type {
  ActionClass,
  Approval,
  Change,
  ControllerState,
  CycleOutcome,
  Decision,
  DecisionKind,
  FlakeRecord,
  HoldTrigger,
  Incident,
  LaneState,
  LaneStateName,
  RiskTier,
  Snapshot,
  TargetCommit,
} from './model';
import { formatDuration } from './policy/duration';
import { drop, own, put, recordOf } from './records';
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

export interface DecideResult {
  state: ControllerState;
  decisions: Decision[];
  outcome: { kind: CycleOutcome; rationale: string };
  /** Every lane's candidates in merge order with their gate reasons. */
  queues: Record<string, QueueEntry[]>;
}

const EXAMINED_LIMIT = 500;
/** Flaky sightings kept per test, and flaky tests kept in the state. */
const FLAKES_SEEN = 50;
const FLAKES_KEPT = 500;
/** Resolved incidents and approvals kept in the state; the event log keeps the whole history. */
const RESOLVED_KEPT = 50;

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

interface Classified {
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
function classify(policy: Policy, change: Change): Classified {
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

class Cycle {
  readonly decisions: Decision[] = [];
  readonly state: ControllerState;
  readonly classified: Classified[];
  readonly commitIndex = new Map<string, number>();
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
    const names = new Set(laneNames(policy));
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
    fields: Omit<Decision, 'kind' | 'rationale' | 'key'>,
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
    fields: Omit<Decision, 'kind' | 'rationale' | 'key'>,
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

export function decide(snapshot: Snapshot, previous: ControllerState, policy: Policy, now: number): DecideResult {
  const cycle = new Cycle(snapshot, previous, policy, now);
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

/**
 * A policy edit renamed or removed lanes. An open incident keeps its record but
 * holds only the lanes the policy still names (it can neither pause nor excuse
 * checks in a lane that is gone); one left holding no lane is escalated and ends
 * like an unattributed one, when its failing checks are green again. An
 * operator's pause of a vanished lane is reported, never dropped in silence.
 */
function detachDroppedLanes(cycle: Cycle): void {
  const { state } = cycle;
  for (const lane of cycle.droppedLanes) {
    if (!lane.operatorPaused) continue;
    cycle.emit(
      'escalate',
      `lane ${lane.name} was paused by an operator (${lane.operatorPaused.reason}) but the policy no longer names it: its pause ended with it, ` +
        `and its paths now belong to the lanes the policy gives them; to keep them frozen, restore lane ${lane.name} in the policy and pause it again, or pause the lane that now holds them`,
      { lane: lane.name, key: `escalate:lane-gone:${lane.name}:${lane.operatorPaused.since}` },
    );
  }
  for (const incident of cycle.openIncidents()) {
    const missing = incident.lanes.filter((name) => own(state.lanes, name) === undefined);
    if (missing.length === 0) continue;
    incident.lanes = incident.lanes.filter((name) => own(state.lanes, name) !== undefined);
    incident.droppedLanes = [...new Set([...(incident.droppedLanes ?? []), ...missing])];
    const lanes = missing.length > 1 ? `lanes ${missing.join(', ')} are` : `lane ${missing[0]} is`;
    const now =
      incident.lanes.length > 0
        ? `it now holds only lane ${incident.lanes.join(', ')}`
        : `it now holds no lane: no automated repair runs, and it resolves once ${incident.failingChecks.join(', ')} ${incident.failingChecks.length > 1 ? 'are' : 'is'} green again on ${cycle.policy.target}`;
    if (incident.lanes.length === 0) incident.escalated = true;
    cycle.emit(
      'escalate',
      `${incident.id}: ${lanes} no longer in the policy (renamed or removed); ${now}; action required: an owner must repair ${incident.failingChecks.join(', ')} on ${cycle.policy.target}, which resolves it`,
      {
        incident: incident.id,
        key: `escalate:${incident.id}:lane-gone:${missing.join(',')}`,
        ...(incident.lanes[0] ? { lane: incident.lanes[0] } : {}),
      },
    );
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

/** Reads the target branch: last green, flaky tests, failures gone (resolved), new breaks (incidents), repair merges, recoveries. */
function observeTarget(cycle: Cycle): void {
  const { snapshot, state } = cycle;
  const commits = snapshot.targetCommits;
  for (const commit of commits) {
    noteRepairMerge(cycle, commit);
    if (commitHealth(commit) === 'green') state.lastGreenSha = commit.sha;
  }
  noteFlakes(cycle);
  verifyRecoveries(cycle);
  resolveGoneFailures(cycle);
  openBreaks(cycle);
  if (state.examinedRed.length > EXAMINED_LIMIT) state.examinedRed = state.examinedRed.slice(-EXAMINED_LIMIT);
}

/**
 * Attribution starts from the target's actual failures: the newest settled
 * run of each check. A failure there that no open incident's fingerprint
 * covers is new; a failure seen only on older commits (fixed since, or red
 * under today's tools but green at the head) opens nothing.
 */
function openBreaks(cycle: Cycle): void {
  const { policy, state } = cycle;
  const commits = cycle.snapshot.targetCommits;
  const fingerprints = cycle.openIncidents().map((incident) => fingerprintOf(incident));
  const names = new Set(commits.flatMap((commit) => commit.checks.map((check) => check.name)));
  const fresh: Mark[] = [];
  for (const name of names) {
    const head = newestSettled(commits, name);
    if (!head) continue;
    for (const mark of marksOf(head.run)) {
      // An incomplete report's "and maybe more" is no new break while an open incident already holds failures of that check.
      const known = fingerprints.some(
        (fingerprint) =>
          covers(fingerprint, mark) ||
          (mark.test === undefined && head.run.failures?.length && fingerprint.some((entry) => entry.check === name)),
      );
      if (!known) fresh.push(mark);
    }
  }
  if (fresh.length === 0) return;
  const breaks = attributeBreaks(
    policy,
    commits,
    fresh,
    state.lastGreenSha !== undefined ? (cycle.commitIndex.get(state.lastGreenSha) ?? -1) : -1,
  );
  const bySha = new Map<string, number>();
  for (const found of breaks) {
    const n = bySha.get(found.red.sha) ?? 0;
    bySha.set(found.red.sha, n + 1);
    if (!state.examinedRed.includes(found.red.sha)) state.examinedRed.push(found.red.sha);
    openIncident(cycle, found, n === 0 ? '' : `x${n}`);
  }
}

/** Records flaky failures (failed, then passed on the same sha) per test, and reports a test flaky too often for quarantine. */
function noteFlakes(cycle: Cycle): void {
  const { policy, state, now } = cycle;
  const { quarantine_after: limit, window } = policy.incidents.flaky;
  const flakes = (state.flakes ??= recordOf<FlakeRecord>([]));
  for (const commit of cycle.snapshot.targetCommits) {
    for (const run of commit.checks) {
      for (const mark of flakesOf(run)) {
        const key = markKey(mark);
        let record = own(flakes, key);
        if (!record) {
          record = {
            check: mark.check,
            ...(mark.test !== undefined ? { test: mark.test } : {}),
            ...(mark.file ? { file: mark.file } : {}),
            seen: [],
          };
          put(flakes, key, record);
        }
        if (!record.seen.some((seen) => seen.sha === commit.sha)) record.seen.push({ sha: commit.sha, at: commit.time });
      }
    }
  }
  for (const [key, record] of Object.entries(flakes)) {
    record.seen = record.seen.filter((seen) => seen.at >= now - window).slice(-FLAKES_SEEN);
    if (record.seen.length === 0 && (record.reportedAt === undefined || record.reportedAt < now - window)) {
      drop(flakes, key);
      continue;
    }
    if (limit === 0 || record.seen.length < limit) continue;
    if (record.reportedAt !== undefined && record.reportedAt >= now - window) continue;
    const what =
      record.test === undefined
        ? `check ${record.check}`
        : `test ${record.test} of check ${record.check}${record.file ? ` (${record.file})` : ''}`;
    const result = cycle.gated(
      'hygiene',
      'tier1',
      `quarantine:${key}:${record.seen[0]?.sha ?? ''}`,
      'report-flaky',
      `${what} failed and then passed on the same commit ${record.seen.length} times within ${formatDuration(window)} (quarantine_after ${limit}): report it for quarantine; it never opens an incident`,
      {},
    );
    if (result === 'act') record.reportedAt = now;
  }
  const keys = Object.keys(flakes);
  if (keys.length > FLAKES_KEPT) {
    const byNewest = keys.sort((a, b) => (own(flakes, b)?.seen.at(-1)?.at ?? 0) - (own(flakes, a)?.seen.at(-1)?.at ?? 0));
    for (const key of byNewest.slice(FLAKES_KEPT)) drop(flakes, key);
  }
}

/**
 * An incident whose failures are gone from the target is over, whatever
 * repaired it (its fix, another lane's fix, a person): its lanes go back to
 * healthy unless another incident holds them. Without this an incident on a
 * lane that could not fix anything itself would stay open after the target
 * went green.
 */
function resolveGoneFailures(cycle: Cycle): void {
  const commits = cycle.snapshot.targetCommits;
  for (const incident of cycle.openIncidents()) {
    const red = cycle.commitIndex.get(incident.redSha);
    // At or after the red commit: a re-run that passes on the red commit itself counts too.
    const verdict = fingerprintVerdict(commits, fingerprintOf(incident), red ?? 0);
    if (verdict.verdict !== 'gone') continue;
    resolveIncident(
      cycle,
      incident,
      `${describeFingerprint(incident)} no longer ${fingerprintOf(incident).length > 1 ? 'fail' : 'fails'} on ${cycle.policy.target} at ${short(verdict.sha ?? '')}`,
    );
  }
}

function describeFingerprint(incident: Incident): string {
  const marks = fingerprintOf(incident);
  const shown = marks.slice(0, 3).map(describeMark).join(', ');
  return marks.length > 3 ? `${shown} and ${marks.length - 3} more` : shown;
}

/** Ends an incident; each lane it held is healthy again unless another incident (or an operator's pause) holds it. */
function resolveIncident(cycle: Cycle, incident: Incident, why: string): void {
  incident.status = 'resolved';
  incident.resolvedAt = cycle.now;
  cycle.emit('resolve-incident', `${incident.id}: ${why}`, {
    incident: incident.id,
    ...(incident.lanes.length === 1 ? { lane: incident.lanes[0] } : {}),
  });
  for (const name of incident.lanes) {
    const lane = own(cycle.state.lanes, name);
    if (!lane) continue;
    const remaining = cycle.incidentsOfLane(name);
    if (remaining.length) {
      const next = remaining[0] as Incident;
      if (lane.incident === incident.id) lane.incident = next.id;
      if (lane.state === 'recovering' && lane.incident === next.id) {
        cycle.move(name, 'paused', `${incident.id} is over, but ${next.id} is still open`, { incident: next.id });
        delete lane.recoveryFrom;
      }
      continue;
    }
    delete lane.recoveryFrom;
    if (lane.operatorPaused) {
      delete lane.incident;
      continue;
    }
    if (lane.state !== 'healthy') cycle.move(name, 'healthy', `${incident.id} resolved: ${why}`);
    delete lane.incident;
  }
}

/** A fix or revert change merged: its lanes start recovering from that commit. */
function noteRepairMerge(cycle: Cycle, commit: TargetCommit): void {
  if (!commit.change?.branch && !commit.change?.body) return;
  const link = linkOf({ branch: commit.change.branch ?? '', body: commit.change.body ?? '' });
  if (!link) return;
  const incident = own(cycle.state.incidents, link.incident);
  if (!incident || incident.status !== 'open' || incident.repairMerges.includes(commit.sha)) return;
  incident.repairMerges.push(commit.sha);
  const attempt = [...incident.attempts].reverse().find((a) => a.outcome === 'pending' || a.change === commit.change?.id);
  if (attempt) {
    attempt.outcome = 'merged';
    attempt.change = commit.change.id;
  }
  for (const name of incident.lanes) {
    const lane = own(cycle.state.lanes, name);
    if (!lane || lane.operatorPaused || (lane.state !== 'degraded' && lane.state !== 'paused' && lane.state !== 'recovering')) continue;
    cycle.move(
      name,
      'recovering',
      `${link.kind} ${commit.change.id} merged as ${short(commit.sha)}; waiting for the target checks to verify it`,
      {
        recoveryFrom: commit.sha,
        incident: incident.id,
      },
    );
  }
}

function openIncident(cycle: Cycle, found: Break, suffix = ''): void {
  const { policy, snapshot, state, now } = cycle;
  const { red, attribution, failing } = found;
  const lastGreenSha = found.clean?.sha;
  const classification = classifyFailure(policy, failing);
  const remedy = remedyFor(policy, snapshot, classification.failureClass, attribution.tier, attribution);
  // Seven hex digits can repeat (by chance or by a crafted commit): an id already on record is never overwritten.
  const base = `inc-${red.sha.slice(0, 7)}${suffix}`;
  let id = base;
  for (let n = 2; own(state.incidents, id) !== undefined; n++) id = `${base}r${n}`;
  const noGreen = lastGreenSha === undefined ? '; no commit in view without these failures, so every commit in view is a suspect' : '';
  const tests = found.marks.filter((mark) => mark.test !== undefined).length;
  const rationale =
    `${failing.map((c) => `${c.name} ${c.conclusion}`).join(', ')}${tests ? ` (${tests} failing test(s))` : ''} on ${policy.target} at ${short(red.sha)}: ` +
    `${attribution.rationale}${noGreen}; class ${classification.failureClass} (${classification.rule}); ${remedy.rationale}${blindShared(found)}`;
  const incident: Incident = {
    id,
    status: 'open',
    lanes: attribution.lanes,
    crossLane: attribution.crossLane,
    unattributed: attribution.unattributed,
    failureClass: classification.failureClass,
    classRule: classification.rule,
    tier: attribution.tier,
    failingChecks: [...new Set(found.marks.map((mark) => mark.check))],
    failures: found.marks,
    redSha: red.sha,
    ...(lastGreenSha ? { lastGreenSha } : {}),
    suspects: attribution.suspects,
    remedy: remedy.remedy,
    openedAt: now,
    attempts: [],
    retries: 0,
    countedFailures: [],
    repairMerges: [],
    escalated: false,
    revertProposed: false,
    rationale,
  };
  put(state.incidents, id, incident);
  cycle.emit('open-incident', rationale, { incident: id, ...(incident.lanes.length === 1 ? { lane: incident.lanes[0] } : {}) });

  let second = false;
  for (const name of incident.lanes) {
    const lane = cycle.lane(name);
    if (lane.state !== 'healthy') {
      second = true;
      cycle.move(
        name,
        'paused',
        `a second incident (${id}) while lane ${name} is ${lane.state}${lane.incident ? ` with ${lane.incident}` : ''}`,
        {
          incident: lane.incident ?? id,
        },
      );
      continue;
    }
    if (incident.remedy === 'fix' || incident.remedy === 'quarantine') {
      cycle.move(name, 'degraded', `${id} (${incident.failureClass}) is eligible for an automated ${incident.remedy}`, { incident: id });
    } else {
      cycle.move(
        name,
        'paused',
        `${id} (${incident.failureClass}) needs ${incident.remedy === 'revert' ? 'a revert' : 'a person'}: ${remedy.rationale}`,
        {
          incident: id,
        },
      );
    }
  }

  if (second) {
    // A lane already handling an incident cannot take a second automated repair: a person must look.
    escalate(cycle, incident, `a second incident in lane ${incident.lanes.join(', ')} while it was already being repaired`, 'second');
  } else if (incident.remedy === 'fix' || incident.remedy === 'quarantine') {
    dispatchAttempt(cycle, incident, 1);
  } else if (incident.remedy === 'revert') {
    proposeRevert(cycle, incident, 'eligibility says revert');
  } else {
    escalate(cycle, incident, remedy.rationale, 'incident');
  }
}

/**
 * A shared check (no lane lists it) that failed with no failing test named
 * cannot tell a second break from this one: say so where the incident is read,
 * with the fix.
 */
function blindShared(found: Break): string {
  const blind = [...new Set(found.marks.filter((mark) => mark.test === undefined && mark.lane === undefined).map((mark) => mark.check))];
  if (blind.length === 0) return '';
  const which = blind.join(', ');
  return `; ${which} names no failing test, so a later break in ${blind.length > 1 ? 'them' : 'it'} cannot be told apart from this one until ${blind.length > 1 ? 'they are' : 'it is'} green: give ${blind.length > 1 ? 'them' : 'it'} a JUnit report (local.checks[].junit) or output the built-in parsers read, or give each lane its own check`;
}

/**
 * A dispatch waits until the merge plan is known: a worker resets the fix
 * branch, so an incident whose fix or revert merges this cycle is never
 * dispatched again in the same cycle. An operator's rejection acts at once, as
 * it pauses the lanes the merge plan must see.
 */
function dispatchAttempt(cycle: Cycle, incident: Incident, attempt: number): void {
  if (cycle.dispatches.some((queued) => queued.incident.id === incident.id)) return;
  const key = `dispatch:${incident.id}:${attempt}`;
  const rejected =
    !autonomyAllows(cycle.policy, 'fix', incident.tier).allowed && approvalFor(cycle.state.approvals, key)?.status === 'rejected';
  if (rejected) dispatchNow(cycle, incident, attempt);
  else cycle.dispatches.push({ incident, attempt });
}

function runDispatches(cycle: Cycle): void {
  const merging = new Set(
    cycle.decisions
      .filter((decision) => decision.kind === 'merge')
      .flatMap((decision) =>
        cycle.classified.filter((entry) => entry.change.id === decision.change && entry.link).map((entry) => entry.link?.incident),
      ),
  );
  for (const { incident, attempt } of cycle.dispatches) {
    if (!merging.has(incident.id)) dispatchNow(cycle, incident, attempt);
  }
}

function dispatchNow(cycle: Cycle, incident: Incident, attempt: number): void {
  const key = `dispatch:${incident.id}:${attempt}`;
  const lane = incident.lanes[0];
  const what = incident.remedy === 'quarantine' ? 'quarantine the flaky check' : `fix the ${incident.failureClass} failure`;
  const result = cycle.gated(
    'fix',
    incident.tier,
    key,
    'dispatch-fix',
    `dispatch attempt ${attempt} of ${cycle.policy.incidents.fix_retries} to ${what} (${incident.failingChecks.join(', ')}) via ${cycle.policy.dispatch.worker}`,
    { incident: incident.id, attempt, ...(lane ? { lane } : {}) },
  );
  if (result === 'act') {
    incident.attempts.push({ attempt, dispatchedAt: cycle.now, outcome: 'pending' });
  } else if (result === 'rejected' && !incident.escalated) {
    for (const name of incident.lanes) {
      cycle.move(name, 'paused', `an operator rejected the automated fix for ${incident.id}`, { incident: incident.id });
    }
    escalate(cycle, incident, 'an operator rejected the automated fix', 'rejected');
  }
}

function proposeRevert(cycle: Cycle, incident: Incident, why: string): void {
  if (incident.revertProposed) return;
  const culprit = [...incident.suspects].reverse().find((s) => s.change);
  if (!culprit) {
    escalate(cycle, incident, `${why}, but no culprit merge is known to revert`, 'no-culprit');
    incident.revertProposed = true;
    return;
  }
  const result = cycle.gated(
    'revert',
    incident.tier === 'tier3' ? 'tier3' : 'tier2',
    `revert:${incident.id}`,
    'propose-revert',
    `${why}: open a change reverting ${culprit.change} (${short(culprit.sha)})`,
    {
      incident: incident.id,
      change: culprit.change as string,
      sha: culprit.sha,
      ...(incident.lanes[0] ? { lane: incident.lanes[0] } : {}),
    },
  );
  if (result !== 'waiting') incident.revertProposed = true;
}

/**
 * An incident escalated only because no automated repair could be made (no
 * worker configured, say) is judged again once the policy allows one: its
 * lanes go back to degraded and the fix is dispatched as for a new incident.
 * One a repair was ever tried for, or that a second incident escalated, stays.
 */
function reconsiderEscalation(cycle: Cycle, incident: Incident): void {
  if (incident.remedy !== 'escalate' || incident.attempts.length > 0 || incident.lanes.length === 0) return;
  const now = remedyFor(cycle.policy, cycle.snapshot, incident.failureClass, incident.tier, incident);
  if (now.remedy !== 'fix' && now.remedy !== 'quarantine') return;
  const lanes = incident.lanes.map((name) => cycle.lane(name));
  // A lane paused by an operator or holding another incident is not this incident's to move.
  if (lanes.some((lane) => lane.operatorPaused || lane.state !== 'paused' || lane.incident !== incident.id)) return;
  incident.remedy = now.remedy;
  incident.escalated = false;
  for (const lane of lanes)
    cycle.move(
      lane.name,
      'degraded',
      `${incident.id} (${incident.failureClass}) is eligible for an automated ${now.remedy} again: ${now.rationale}`,
      { incident: incident.id },
    );
}

function escalate(cycle: Cycle, incident: Incident, reason: string, why: string): void {
  incident.escalated = true;
  cycle.emit('escalate', `${incident.id}: ${reason}; action required: an owner must repair, revert or acknowledge it`, {
    incident: incident.id,
    key: `escalate:${incident.id}:${why}`,
    ...(incident.lanes[0] ? { lane: incident.lanes[0] } : {}),
  });
}

/**
 * Why a fix change failed, judged by its own incident: a failure the incident
 * holds, one in a lane the incident holds, or one the target does not have (the
 * fix brought it). Another lane's failure already red on the target, known or
 * not yet attributed, is not the fix's: it never counts as a failed attempt.
 */
function fixFailure(cycle: Cycle, incident: Incident, change: Change): string | undefined {
  const { policy, snapshot } = cycle;
  const fingerprint = fingerprintOf(incident);
  for (const verdict of judgeChecks(policy, change, snapshot.forge, cycle.state.incidents).verdicts) {
    if (verdict.status !== 'failing') continue;
    const head = newestSettled(snapshot.targetCommits, verdict.name)?.run;
    const mine = verdict.unknown.find((mark) => {
      if (covers(fingerprint, mark)) return true;
      const lane = laneOfMark(policy, mark).lane;
      if (lane !== undefined && incident.lanes.includes(lane)) return true;
      return !head || !presentIn(mark, head);
    });
    if (mine) return `${verdict.name}${mine.test !== undefined ? ` (${mine.test})` : ''}`;
  }
  return undefined;
}

/** Counts failed fix attempts, re-dispatches, proposes reverts, escalates and pages. */
function progressRepairs(cycle: Cycle): void {
  const { snapshot, policy, now } = cycle;
  for (const incident of cycle.openIncidents()) {
    reconsiderEscalation(cycle, incident);
    const count = (key: string, reason: string, attempt?: number) => {
      if (incident.countedFailures.includes(key)) return;
      incident.countedFailures.push(key);
      incident.retries += 1;
      const record =
        attempt !== undefined
          ? incident.attempts.find((a) => a.attempt === attempt)
          : [...incident.attempts].reverse().find((a) => a.outcome === 'pending');
      if (record && record.outcome === 'pending') {
        record.outcome = 'failed';
        record.reason = reason;
      }
      cycle.emit(
        'outcome',
        `${incident.id}: fix attempt failed (${reason}); ${incident.retries} of ${policy.incidents.fix_retries} retries used`,
        {
          incident: incident.id,
          ...(incident.lanes[0] ? { lane: incident.lanes[0] } : {}),
        },
      );
    };

    for (const entry of cycle.classified) {
      if (entry.link?.incident !== incident.id || entry.link.kind !== 'fix') continue;
      const failed = fixFailure(cycle, incident, entry.change);
      if (failed) count(`fix:${entry.change.id}@${entry.change.headSha}`, `fix change ${entry.change.id} failed check ${failed}`);
      else {
        const pending = incident.attempts.find((a) => a.outcome === 'pending' && !a.change);
        if (pending) pending.change = entry.change.id;
      }
    }
    for (const build of snapshot.builds) {
      if (build.incident !== incident.id || (build.status !== 'failed' && build.status !== 'cancelled')) continue;
      count(`build:${build.attempt}`, `the worker's build ${build.status}${build.error ? `: ${build.error}` : ''}`, build.attempt);
    }
    for (const attempt of incident.attempts) {
      const hasChange =
        attempt.change !== undefined || cycle.classified.some((c) => c.link?.incident === incident.id && c.link.kind === 'fix');
      if (attempt.outcome === 'pending' && !hasChange && now - attempt.dispatchedAt > policy.dispatch.timeout) {
        count(
          `timeout:${attempt.attempt}`,
          `no fix change within dispatch.timeout (${formatDuration(policy.dispatch.timeout)})`,
          attempt.attempt,
        );
      }
    }

    const lanes = incident.lanes.map((name) => cycle.lane(name));
    const repairing = incident.remedy === 'fix' || incident.remedy === 'quarantine';
    if (repairing && incident.retries >= policy.incidents.fix_retries && !incident.escalated) {
      for (const lane of lanes) {
        if (lane.state === 'degraded' || lane.state === 'recovering') {
          cycle.move(
            lane.name,
            'paused',
            `${incident.id}: ${incident.retries} failed fix attempt(s), fix_retries (${policy.incidents.fix_retries}) exhausted`,
          );
        }
      }
      escalate(cycle, incident, `automated fixes exhausted after ${incident.retries} failed attempt(s)`, 'retries');
    }
    if (repairing && incident.retries >= policy.incidents.failed_fixes_before_revert && !incident.revertProposed) {
      proposeRevert(
        cycle,
        incident,
        `${incident.retries} failed fix change(s) (failed_fixes_before_revert is ${policy.incidents.failed_fixes_before_revert})`,
      );
    }
    if (repairing && !incident.escalated && incident.retries < policy.incidents.fix_retries) {
      const last = incident.attempts[incident.attempts.length - 1];
      const awaitingFirst = incident.attempts.length === 0 && lanes.some((lane) => lane.state === 'degraded');
      const retry = last?.outcome === 'failed' && lanes.some((lane) => lane.state === 'degraded' || lane.state === 'paused');
      if (awaitingFirst || retry) dispatchAttempt(cycle, incident, (last?.attempt ?? 0) + 1);
    }

    const paused = lanes.filter((lane) => lane.state === 'paused' && !lane.operatorPaused);
    const longest = paused.reduce((min, lane) => Math.min(min, lane.since), Number.POSITIVE_INFINITY);
    if (paused.length && incident.pagedAt === undefined && now - longest >= policy.incidents.page_owner_after) {
      incident.pagedAt = now;
      const owners = policy.owners.length ? policy.owners.join(' ') : 'the repository owners (no `owners` in the policy)';
      cycle.emit(
        'page-owner',
        `lane ${paused.map((l) => l.name).join(', ')} paused for ${formatDuration(now - longest)} (page_owner_after ${formatDuration(policy.incidents.page_owner_after)}): paging ${owners}`,
        {
          incident: incident.id,
          key: `page:${incident.id}`,
          ...(paused[0] ? { lane: paused[0].name } : {}),
        },
      );
    }
  }
}

/**
 * A recovering lane is verified by its incident's own failures on the target
 * at or after the repair merge: gone, the incident resolves (and the lane is
 * healthy); still there, the lane pauses and the repair counts a retry. A
 * shared check red for another lane's failures does not hold it back.
 */
function verifyRecoveries(cycle: Cycle): void {
  const { snapshot, state, policy } = cycle;
  const commits = snapshot.targetCommits;
  for (const lane of Object.values(state.lanes)) {
    if (lane.state !== 'recovering') continue;
    const incident = lane.incident ? own(state.incidents, lane.incident) : undefined;
    const from = lane.recoveryFrom !== undefined ? (cycle.commitIndex.get(lane.recoveryFrom) ?? 0) : Math.max(0, commits.length - 1);
    if (incident && incident.status === 'open') {
      const verdict = fingerprintVerdict(commits, fingerprintOf(incident), from);
      if (verdict.verdict === 'pending') continue;
      if (verdict.verdict === 'gone') {
        resolveIncident(
          cycle,
          incident,
          `${describeFingerprint(incident)} pass${fingerprintOf(incident).length > 1 ? '' : 'es'} on ${policy.target} at ${short(verdict.sha ?? '')} after the repair: recovery verified`,
        );
        continue;
      }
      const sha = verdict.sha ?? '';
      const key = `red-after:${sha}`;
      if (!incident.countedFailures.includes(key)) {
        incident.countedFailures.push(key);
        incident.retries += 1;
      }
      const merged = [...incident.attempts].reverse().find((a) => a.outcome === 'merged');
      if (merged) {
        merged.outcome = 'failed';
        merged.reason = `${describeMark(verdict.present[0] as Mark)} still failing at ${short(sha)} after the merge`;
      }
      cycle.move(
        lane.name,
        'paused',
        `${describeMark(verdict.present[0] as Mark)} still failing at ${short(sha)} after the repair (counts a retry: ${incident.retries} of ${policy.incidents.fix_retries})`,
      );
      delete lane.recoveryFrom;
      continue;
    }
    // An operator resumed the lane (or its incident is over): its own checks decide.
    const relevant = new Set(policy.lanes.find((l) => l.name === lane.name)?.checks ?? []);
    let verdict: { health: 'green' | 'red'; commit: TargetCommit } | undefined;
    for (let i = commits.length - 1; i >= from; i--) {
      const commit = commits[i] as TargetCommit;
      const health = commitHealth(commit, relevant.size ? relevant : undefined);
      if (health !== 'pending') {
        verdict = { health, commit };
        break;
      }
    }
    if (!verdict) continue;
    if (verdict.health === 'green') {
      cycle.move(lane.name, 'healthy', `target checks green at ${short(verdict.commit.sha)}: recovery verified`);
      delete lane.incident;
      delete lane.recoveryFrom;
    } else {
      cycle.move(lane.name, 'paused', `resume not verified: target checks red at ${short(verdict.commit.sha)}`);
      delete lane.recoveryFrom;
    }
  }
}

function updateGlobal(cycle: Cycle): void {
  const { state, policy, now } = cycle;
  const hold = policy.incidents.global_hold;
  const triggers: HoldTrigger[] = [];
  for (const incident of cycle.openIncidents()) {
    if (incident.unattributed)
      triggers.push({ key: `unattributed:${incident.id}`, reason: `${incident.id} cannot be attributed to a lane` });
    else if (incident.crossLane && hold.on_cross_lane)
      triggers.push({ key: `cross-lane:${incident.id}`, reason: `${incident.id} spans lanes ${incident.lanes.join(', ')}` });
    if (incident.tier === 'tier3' && hold.on_tier3_incident)
      triggers.push({ key: `tier3:${incident.id}`, reason: `${incident.id} involves a tier 3 change` });
  }
  const paused = Object.values(state.lanes)
    .filter((lane) => lane.state === 'paused')
    .map((lane) => lane.name);
  if (hold.paused_lanes_at_least > 0 && paused.length >= hold.paused_lanes_at_least) {
    triggers.push({
      key: `paused-lanes:${paused.sort().join(',')}`,
      reason: `${paused.length} lanes paused (${paused.join(', ')}), at least ${hold.paused_lanes_at_least}`,
    });
  }
  const current = new Set(state.global.triggers.map((t) => t.key));
  const fresh = triggers.filter((t) => !state.global.acknowledged.includes(t.key) && !current.has(t.key));
  const wasHeld = state.global.state === 'global-hold';
  if (wasHeld || fresh.length) {
    const all = [...state.global.triggers, ...fresh];
    state.global = {
      ...state.global,
      state: 'global-hold',
      triggers: all,
      reason: all.map((t) => t.reason).join('; '),
      since: wasHeld ? state.global.since : now,
    };
    if (!wasHeld || fresh.length) {
      cycle.emit('global-hold', `global hold: ${fresh.map((t) => t.reason).join('; ')}; only an owner's release --ack ends it`, {
        key: `hold:${fresh.map((t) => t.key).join('+')}`,
      });
    }
    return;
  }
  const troubled = Object.values(state.lanes).filter((lane) => lane.state !== 'healthy');
  const next = troubled.length || cycle.openIncidents().length ? 'incident-contained' : 'normal';
  const reason =
    next === 'normal'
      ? 'no lane has an incident'
      : `lane(s) ${troubled.map((l) => `${l.name} ${l.state}`).join(', ')} contained; the other lanes keep merging`;
  state.global = { ...state.global, state: next, reason, since: state.global.state === next ? state.global.since : now };
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

function planMerges(cycle: Cycle): Record<string, QueueEntry[]> {
  const { snapshot, state, policy } = cycle;
  const open = new Set(snapshot.changes.map((change) => change.id));
  const byId = new Map(snapshot.changes.map((change) => [change.id, change]));
  const byLane = new Map<string, Classified[]>();
  for (const entry of cycle.classified) {
    const list = byLane.get(entry.lane);
    if (list) list.push(entry);
    else byLane.set(entry.lane, [entry]);
  }
  const queues: Record<string, QueueEntry[]> = {};
  const reserved = reserveForCrossLane(cycle, byLane, byId, open);
  for (const name of laneNames(policy)) {
    const lane = cycle.lane(name);
    const laneIncidents = new Set(cycle.incidentsOfLane(name).map((incident) => incident.id));
    const ordered = mergeOrder(byLane.get(name) ?? [], byId);
    const queue: QueueEntry[] = [];
    let merged: string | undefined;
    for (const entry of ordered) {
      const touchedLanes = touchedLanesOf(state, policy, entry);
      const reservedFor = reserved.get(name);
      const result = gate(entry.change, {
        policy,
        snapshot,
        state,
        lane,
        tier: entry.tier,
        link: entry.link,
        openChangeIds: open,
        laneIncidents,
        touchedLanes,
        ...(reservedFor ? { reservedFor } : {}),
      });
      queue.push({
        change: entry.change.id,
        title: entry.change.title,
        lane: name,
        tier: entry.tier,
        crossLane: entry.crossLane,
        ...(entry.link ? { link: entry.link } : {}),
        headSha: entry.change.headSha,
        reasons: result.reasons,
        notes: result.notes,
        requiredChecks: result.requiredChecks,
        ...(result.approval ? { approval: result.approval.id } : {}),
        laneRationale: entry.laneRationale,
      });
      if (merged) continue;
      const blocking = result.reasons.filter((reason) => !APPROVAL_CODES.has(reason.code));
      if (result.reasons.length === 0) {
        merged = entry.change.id;
        const why = entry.link
          ? `linked ${entry.link.kind} for ${entry.link.incident}, merged first`
          : `first eligible change in lane ${name}`;
        cycle.emit(
          'merge',
          `${entry.change.id} passes every gate (${result.requiredChecks.length} required check(s) green, ${entry.tier}); ${why}; ${policy.merge.method} guarded by ${short(entry.change.headSha)}`,
          {
            lane: name,
            change: entry.change.id,
            sha: entry.change.headSha,
            key: mergeKey(entry.change),
          },
        );
        if (policy.merge.wait_for_target_green) {
          lane.awaiting = { change: entry.change.id, since: cycle.now };
          // A cross-lane change lands in every lane it touches: each waits for its target checks.
          for (const name of entry.crossLane ? entry.touched : []) {
            const touched = own(state.lanes, name);
            if (touched) touched.awaiting = { change: entry.change.id, since: cycle.now };
          }
        }
      } else if (blocking.length === 0 && result.reasons.some((reason) => reason.code === 'needs-approval')) {
        const reason = result.reasons.find((r) => r.code === 'needs-approval')?.message ?? '';
        cycle.requestApproval(
          'merge',
          entry.tier,
          mergeKey(entry.change),
          'merge',
          `merge ${entry.change.id} into ${policy.target}: every other gate passes; ${reason}`,
          {
            lane: name,
            change: entry.change.id,
            sha: entry.change.headSha,
          },
        );
        // The entry was built before the request: name the approval it now waits on.
        const requested = approvalFor(state.approvals, mergeKey(entry.change));
        if (requested) (queue[queue.length - 1] as QueueEntry).approval = requested.id;
      }
    }
    if (!merged && queue.length) {
      const first = queue[0] as QueueEntry;
      const reason = first.reasons[0];
      cycle.emit(
        'wait',
        `lane ${name}: ${queue.length} change(s) waiting; first in order ${first.change}: ${reason ? reason.message : 'no reason'}`,
        { lane: name, change: first.change },
      );
    }
    put(queues, name, queue);
  }
  return queues;
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
function reserveForCrossLane(
  cycle: Cycle,
  byLane: ReadonlyMap<string, Classified[]>,
  byId: ReadonlyMap<string, Change>,
  open: ReadonlySet<string>,
): Map<string, string> {
  const { policy, snapshot, state } = cycle;
  const reserved = new Map<string, string>();
  const home = policy.default_lane;
  const lane = own(state.lanes, home);
  if (!lane) return reserved;
  const laneIncidents = new Set(cycle.incidentsOfLane(home).map((incident) => incident.id));
  for (const entry of mergeOrder(byLane.get(home) ?? [], byId)) {
    if (!entry.crossLane || entry.link) continue;
    const touchedLanes = touchedLanesOf(state, policy, entry);
    const result = gate(entry.change, {
      policy,
      snapshot,
      state,
      lane,
      tier: entry.tier,
      link: entry.link,
      openChangeIds: open,
      laneIncidents,
      touchedLanes,
    });
    if (result.reasons.every((reason) => reason.code === 'awaiting-target-checks' || APPROVAL_CODES.has(reason.code))) {
      for (const name of entry.touched) if (name !== home) reserved.set(name, entry.change.id);
      break;
    }
  }
  return reserved;
}

/** Pending merge approvals for a head that moved or a change that is gone are withdrawn. */
function pruneApprovals(cycle: Cycle): void {
  const heads = new Map(cycle.snapshot.changes.map((change) => [change.id, change.headSha]));
  for (const approval of Object.values(cycle.state.approvals)) {
    if (approval.status !== 'pending' || approval.actionClass !== 'merge' || !approval.change) continue;
    if (approval.key !== `merge:${approval.change}:${heads.get(approval.change)}`) drop(cycle.state.approvals, approval.id);
  }
  for (const approval of Object.values(cycle.state.approvals)) {
    if (approval.incident && own(cycle.state.incidents, approval.incident)?.status === 'resolved' && approval.status === 'pending') {
      drop(cycle.state.approvals, approval.id);
    }
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

/**
 * Changes per lane in merge order: what the local forge uses to decide whose
 * checks run first. Changes that can never merge (an empty diff on the target,
 * a fix or revert whose incident is not open in `state`) are left out: were
 * their checks to pass, the forge would stop there and never test the change
 * that can merge.
 */
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

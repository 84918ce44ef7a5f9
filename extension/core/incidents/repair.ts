// Repairing incidents: fix dispatches (gated by autonomy, run once the merge
// plan is known), failed attempts counted once each, retries, reverts proposed
// after too many failed fixes, escalations, and paging the owners of a lane
// paused too long.
import { autonomyAllows } from '../autonomy';
import type { Cycle } from '../decide';
import { covers, fingerprintOf, laneOfMark, newestSettled, presentIn } from '../fingerprint';
import { judgeChecks } from '../gate';
import { remedyFor } from '../incident';
import { approvalFor, countedFailure, dispatchKey, escalateKey, pageKey, revertKey } from '../keys';
import type { Change, Incident, LaneState } from '../model';
import { formatDuration } from '../policy/duration';
import { short } from '../text';

/** Counts failed fix attempts, re-dispatches, proposes reverts, escalates and pages. */
export function progressRepairs(cycle: Cycle): void {
  for (const incident of cycle.openIncidents()) {
    reconsiderEscalation(cycle, incident);
    countFailedAttempts(cycle, incident);
    const lanes = incident.lanes.map((name) => cycle.lane(name));
    retryOrGiveUp(cycle, incident, lanes);
    pageOwners(cycle, incident, lanes);
  }
}

/** One failed attempt counts once (by `key`) against the incident's retries, and marks the attempt failed. */
function countFailure(cycle: Cycle, incident: Incident, key: string, reason: string, attempt?: number): void {
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
    `${incident.id}: fix attempt failed (${reason}); ${incident.retries} of ${cycle.policy.incidents.fix_retries} retries used`,
    { incident: incident.id, ...(incident.lanes[0] ? { lane: incident.lanes[0] } : {}) },
  );
}

/** A fix change failing its own checks, a worker's failed build, or no fix change within dispatch.timeout. */
function countFailedAttempts(cycle: Cycle, incident: Incident): void {
  const { snapshot, policy, now } = cycle;
  for (const entry of cycle.classified) {
    if (entry.link?.incident !== incident.id || entry.link.kind !== 'fix') continue;
    const failed = fixFailure(cycle, incident, entry.change);
    if (failed)
      countFailure(cycle, incident, countedFailure.fixChange(entry.change), `fix change ${entry.change.id} failed check ${failed}`);
    else {
      const pending = incident.attempts.find((a) => a.outcome === 'pending' && !a.change);
      if (pending) pending.change = entry.change.id;
    }
  }
  for (const build of snapshot.builds) {
    if (build.incident !== incident.id || (build.status !== 'failed' && build.status !== 'cancelled')) continue;
    const reason = `the worker's build ${build.status}${build.error ? `: ${build.error}` : ''}`;
    countFailure(cycle, incident, countedFailure.build(build.attempt), reason, build.attempt);
  }
  for (const attempt of incident.attempts) {
    const hasChange =
      attempt.change !== undefined || cycle.classified.some((c) => c.link?.incident === incident.id && c.link.kind === 'fix');
    if (attempt.outcome === 'pending' && !hasChange && now - attempt.dispatchedAt > policy.dispatch.timeout) {
      const reason = `no fix change within dispatch.timeout (${formatDuration(policy.dispatch.timeout)})`;
      countFailure(cycle, incident, countedFailure.timeout(attempt.attempt), reason, attempt.attempt);
    }
  }
}

/** Retries exhausted escalate (and pause); enough failed fixes propose a revert; otherwise the next attempt goes out. */
function retryOrGiveUp(cycle: Cycle, incident: Incident, lanes: readonly LaneState[]): void {
  const { incidents } = cycle.policy;
  const repairing = incident.remedy === 'fix' || incident.remedy === 'quarantine';
  if (!repairing) return;
  if (incident.retries >= incidents.fix_retries && !incident.escalated) {
    for (const lane of lanes) {
      if (lane.state === 'degraded' || lane.state === 'recovering') {
        const why = `${incident.id}: ${incident.retries} failed fix attempt(s), fix_retries (${incidents.fix_retries}) exhausted`;
        cycle.move(lane.name, 'paused', why);
      }
    }
    escalate(cycle, incident, `automated fixes exhausted after ${incident.retries} failed attempt(s)`, 'retries');
  }
  if (incident.retries >= incidents.failed_fixes_before_revert && !incident.revertProposed) {
    const why = `${incident.retries} failed fix change(s) (failed_fixes_before_revert is ${incidents.failed_fixes_before_revert})`;
    proposeRevert(cycle, incident, why);
  }
  if (!incident.escalated && incident.retries < incidents.fix_retries) {
    const last = incident.attempts[incident.attempts.length - 1];
    const awaitingFirst = incident.attempts.length === 0 && lanes.some((lane) => lane.state === 'degraded');
    const retry = last?.outcome === 'failed' && lanes.some((lane) => lane.state === 'degraded' || lane.state === 'paused');
    if (awaitingFirst || retry) dispatchAttempt(cycle, incident, (last?.attempt ?? 0) + 1);
  }
}

/** A lane paused (not by an operator) for page_owner_after pages the owners, once per incident. */
function pageOwners(cycle: Cycle, incident: Incident, lanes: readonly LaneState[]): void {
  const { policy, now } = cycle;
  const paused = lanes.filter((lane) => lane.state === 'paused' && !lane.operatorPaused);
  const longest = paused.reduce((min, lane) => Math.min(min, lane.since), Number.POSITIVE_INFINITY);
  if (!paused.length || incident.pagedAt !== undefined || now - longest < policy.incidents.page_owner_after) return;
  incident.pagedAt = now;
  const owners = policy.owners.length ? policy.owners.join(' ') : 'the repository owners (no `owners` in the policy)';
  cycle.emit(
    'page-owner',
    `lane ${paused.map((l) => l.name).join(', ')} paused for ${formatDuration(now - longest)} (page_owner_after ${formatDuration(policy.incidents.page_owner_after)}): paging ${owners}`,
    {
      incident: incident.id,
      key: pageKey(incident.id),
      ...(paused[0] ? { lane: paused[0].name } : {}),
    },
  );
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

/**
 * A dispatch waits until the merge plan is known: a worker resets the fix
 * branch, so an incident whose fix or revert merges this cycle is never
 * dispatched again in the same cycle. An operator's rejection acts at once, as
 * it pauses the lanes the merge plan must see.
 */
export function dispatchAttempt(cycle: Cycle, incident: Incident, attempt: number): void {
  if (cycle.dispatches.some((queued) => queued.incident.id === incident.id)) return;
  const rejected =
    !autonomyAllows(cycle.policy, 'fix', incident.tier).allowed &&
    approvalFor(cycle.state.approvals, dispatchKey(incident.id, attempt))?.status === 'rejected';
  if (rejected) dispatchNow(cycle, incident, attempt);
  else cycle.dispatches.push({ incident, attempt });
}

/** The dispatches decided this cycle, but for incidents whose fix or revert merges in it. */
export function runDispatches(cycle: Cycle): void {
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
  const lane = incident.lanes[0];
  const what = incident.remedy === 'quarantine' ? 'quarantine the flaky check' : `fix the ${incident.failureClass} failure`;
  const result = cycle.gated(
    'fix',
    incident.tier,
    dispatchKey(incident.id, attempt),
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

export function proposeRevert(cycle: Cycle, incident: Incident, why: string): void {
  if (incident.revertProposed) return;
  const culprit = [...incident.suspects].reverse().find((s) => s.change);
  if (!culprit?.change) {
    escalate(cycle, incident, `${why}, but no culprit merge is known to revert`, 'no-culprit');
    incident.revertProposed = true;
    return;
  }
  const result = cycle.gated(
    'revert',
    incident.tier === 'tier3' ? 'tier3' : 'tier2',
    revertKey(incident.id),
    'propose-revert',
    `${why}: open a change reverting ${culprit.change} (${short(culprit.sha)})`,
    {
      incident: incident.id,
      change: culprit.change,
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
  const why = `${incident.id} (${incident.failureClass}) is eligible for an automated ${now.remedy} again: ${now.rationale}`;
  for (const lane of lanes) cycle.move(lane.name, 'degraded', why, { incident: incident.id });
}

export function escalate(cycle: Cycle, incident: Incident, reason: string, why: string): void {
  incident.escalated = true;
  cycle.emit('escalate', `${incident.id}: ${reason}; action required: an owner must repair, revert or acknowledge it`, {
    incident: incident.id,
    key: escalateKey(incident.id, why),
    ...(incident.lanes[0] ? { lane: incident.lanes[0] } : {}),
  });
}

// Verifying repairs: a fix or revert merged starts its lanes recovering from
// that commit; the target's checks after it then resolve the incident, or
// pause the lane again and count a retry.
import type { Cycle } from '../decide';
import { describeMark, fingerprintOf, fingerprintVerdict, type Mark } from '../fingerprint';
import { linkOf } from '../trailers';
import { commitHealth } from '../incident';
import { countedFailure } from '../keys';
import type { Incident, LaneState, TargetCommit } from '../model';
import { own } from '../records';
import { short } from '../text';
import { describeFingerprint, resolveIncident } from './resolve';

/** A fix or revert change merged: its lanes start recovering from that commit. */
export function noteRepairMerge(cycle: Cycle, commit: TargetCommit): void {
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
    const why = `${link.kind} ${commit.change.id} merged as ${short(commit.sha)}; waiting for the target checks to verify it`;
    cycle.move(name, 'recovering', why, { recoveryFrom: commit.sha, incident: incident.id });
  }
}

/**
 * A recovering lane is verified by its incident's own failures on the target
 * at or after the repair merge: gone, the incident resolves (and the lane is
 * healthy); still there, the lane pauses and the repair counts a retry. A
 * shared check red for another lane's failures does not hold it back.
 */
export function verifyRecoveries(cycle: Cycle): void {
  const { state } = cycle;
  const commits = cycle.snapshot.targetCommits;
  for (const lane of Object.values(state.lanes)) {
    if (lane.state !== 'recovering') continue;
    const incident = lane.incident ? own(state.incidents, lane.incident) : undefined;
    const from = lane.recoveryFrom !== undefined ? (cycle.commitIndex.get(lane.recoveryFrom) ?? 0) : Math.max(0, commits.length - 1);
    if (incident && incident.status === 'open') verifyRepair(cycle, lane, incident, from);
    else verifyResume(cycle, lane, from);
  }
}

function verifyRepair(cycle: Cycle, lane: LaneState, incident: Incident, from: number): void {
  const { policy } = cycle;
  const verdict = fingerprintVerdict(cycle.snapshot.targetCommits, fingerprintOf(incident), from);
  if (verdict.verdict === 'pending') return;
  if (verdict.verdict === 'gone') {
    const passes = fingerprintOf(incident).length > 1 ? '' : 'es';
    const why = `${describeFingerprint(incident)} pass${passes} on ${policy.target} at ${short(verdict.sha ?? '')} after the repair: recovery verified`;
    resolveIncident(cycle, incident, why);
    return;
  }
  const sha = verdict.sha ?? '';
  const key = countedFailure.redAfter(sha);
  if (!incident.countedFailures.includes(key)) {
    incident.countedFailures.push(key);
    incident.retries += 1;
  }
  const still = `${describeMark(verdict.present[0] as Mark)} still failing at ${short(sha)}`;
  const merged = [...incident.attempts].reverse().find((a) => a.outcome === 'merged');
  if (merged) {
    merged.outcome = 'failed';
    merged.reason = `${still} after the merge`;
  }
  cycle.move(lane.name, 'paused', `${still} after the repair (counts a retry: ${incident.retries} of ${policy.incidents.fix_retries})`);
  delete lane.recoveryFrom;
}

/** An operator resumed the lane (or its incident is over): its own checks decide. */
function verifyResume(cycle: Cycle, lane: LaneState, from: number): void {
  const commits = cycle.snapshot.targetCommits;
  const relevant = new Set(cycle.policy.lanes.find((l) => l.name === lane.name)?.checks ?? []);
  let verdict: { health: 'green' | 'red'; commit: TargetCommit } | undefined;
  for (let i = commits.length - 1; i >= from; i--) {
    const commit = commits[i] as TargetCommit;
    const health = commitHealth(commit, relevant.size ? relevant : undefined);
    if (health !== 'pending') {
      verdict = { health, commit };
      break;
    }
  }
  if (!verdict) return;
  if (verdict.health === 'green') {
    cycle.move(lane.name, 'healthy', `target checks green at ${short(verdict.commit.sha)}: recovery verified`);
    delete lane.incident;
    delete lane.recoveryFrom;
  } else {
    cycle.move(lane.name, 'paused', `resume not verified: target checks red at ${short(verdict.commit.sha)}`);
    delete lane.recoveryFrom;
  }
}

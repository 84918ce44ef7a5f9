// Resolving incidents: an incident whose failures are gone from the target is
// over, whatever repaired it, and its lanes are released.
import type { Cycle } from '../decide';
import { describeMark, fingerprintOf, fingerprintVerdict } from '../fingerprint';
import type { Incident } from '../model';
import { own } from '../records';
import { short } from '../text';

/**
 * An incident whose failures are gone from the target is over, whatever
 * repaired it (its fix, another lane's fix, a person): its lanes go back to
 * healthy unless another incident holds them. Without this an incident on a
 * lane that could not fix anything itself would stay open after the target
 * went green.
 */
export function resolveGoneFailures(cycle: Cycle): void {
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

export function describeFingerprint(incident: Incident): string {
  const marks = fingerprintOf(incident);
  const shown = marks.slice(0, 3).map(describeMark).join(', ');
  return marks.length > 3 ? `${shown} and ${marks.length - 3} more` : shown;
}

/** Ends an incident; each lane it held is healthy again unless another incident (or an operator's pause) holds it. */
export function resolveIncident(cycle: Cycle, incident: Incident, why: string): void {
  incident.status = 'resolved';
  incident.resolvedAt = cycle.now;
  cycle.emit('resolve-incident', `${incident.id}: ${why}`, {
    incident: incident.id,
    ...(incident.lanes.length === 1 ? { lane: incident.lanes[0] } : {}),
  });
  for (const name of incident.lanes) {
    const lane = own(cycle.state.lanes, name);
    if (!lane) continue;
    const next = cycle.incidentsOfLane(name)[0];
    if (next) {
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

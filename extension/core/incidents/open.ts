// Opening incidents: a failure on the target that no open incident covers is a
// new break, attributed to the lanes and merges that brought it; its lanes are
// degraded or paused and its repair starts. A policy edit that drops an
// incident's lanes detaches them here too.
import { outputTails } from '../failures';
import type { Cycle } from '../decide';
import { covers, fingerprintOf, marksOf, newestSettled, type Mark } from '../fingerprint';
import { attributeBreaks, classifyFailure, remedyFor, type Break } from '../incident';
import { escalateKey } from '../keys';
import type { Incident } from '../model';
import { own, put } from '../records';
import { short } from '../text';
import { dispatchAttempt, escalate, proposeRevert } from './repair';

/**
 * A policy edit renamed or removed lanes. An open incident keeps its record but
 * holds only the lanes the policy still names (it can neither pause nor excuse
 * checks in a lane that is gone); one left holding no lane is escalated and ends
 * like an unattributed one, when its failing checks are green again.
 */
export function detachDroppedLanes(cycle: Cycle): void {
  const { state, policy } = cycle;
  for (const incident of cycle.openIncidents()) {
    const missing = incident.lanes.filter((name) => own(state.lanes, name) === undefined);
    if (missing.length === 0) continue;
    incident.lanes = incident.lanes.filter((name) => own(state.lanes, name) !== undefined);
    incident.droppedLanes = [...new Set([...(incident.droppedLanes ?? []), ...missing])];
    const lanes = missing.length > 1 ? `lanes ${missing.join(', ')} are` : `lane ${missing[0]} is`;
    const now =
      incident.lanes.length > 0
        ? `it now holds only lane ${incident.lanes.join(', ')}`
        : `it now holds no lane: no automated repair runs, and it resolves once ${incident.failingChecks.join(', ')} ${incident.failingChecks.length > 1 ? 'are' : 'is'} green again on ${policy.target}`;
    if (incident.lanes.length === 0) incident.escalated = true;
    cycle.emit(
      'escalate',
      `${incident.id}: ${lanes} no longer in the policy (renamed or removed); ${now}; action required: an owner must repair ${incident.failingChecks.join(', ')} on ${policy.target}, which resolves it`,
      {
        incident: incident.id,
        key: escalateKey(incident.id, `lane-gone:${missing.join(',')}`),
        ...(incident.lanes[0] ? { lane: incident.lanes[0] } : {}),
      },
    );
  }
}

/**
 * Attribution starts from the target's actual failures: the newest settled
 * run of each check. A failure there that no open incident's fingerprint
 * covers is new; a failure seen only on older commits (fixed since, or red
 * under today's tools but green at the head) opens nothing.
 */
export function openBreaks(cycle: Cycle): void {
  const { policy, state } = cycle;
  const fresh = freshFailures(cycle);
  if (fresh.length === 0) return;
  const breaks = attributeBreaks(
    policy,
    cycle.snapshot.targetCommits,
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

/** The failures at the newest settled run of each check that no open incident covers. */
function freshFailures(cycle: Cycle): Mark[] {
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
  return fresh;
}

function openIncident(cycle: Cycle, found: Break, suffix = ''): void {
  const { incident, remedyRationale } = newIncident(cycle, found, suffix);
  put(cycle.state.incidents, incident.id, incident);
  cycle.emit('open-incident', incident.rationale, {
    incident: incident.id,
    ...(incident.lanes.length === 1 ? { lane: incident.lanes[0] } : {}),
  });
  const second = holdLanes(cycle, incident, remedyRationale);
  if (second) {
    // A lane already handling an incident cannot take a second automated repair: a person must look.
    escalate(cycle, incident, `a second incident in lane ${incident.lanes.join(', ')} while it was already being repaired`, 'second');
  } else if (incident.remedy === 'fix' || incident.remedy === 'quarantine') {
    dispatchAttempt(cycle, incident, 1);
  } else if (incident.remedy === 'revert') {
    proposeRevert(cycle, incident, 'eligibility says revert');
  } else {
    escalate(cycle, incident, remedyRationale, 'incident');
  }
}

/** Seven hex digits can repeat (by chance or by a crafted commit): an id already on record is never overwritten. */
function freeIncidentId(cycle: Cycle, redSha: string, suffix: string): string {
  const base = `inc-${redSha.slice(0, 7)}${suffix}`;
  let id = base;
  for (let n = 2; own(cycle.state.incidents, id) !== undefined; n++) id = `${base}r${n}`;
  return id;
}

/** The incident a break opens: its lanes, class, remedy and the rationale that says why. */
function newIncident(cycle: Cycle, found: Break, suffix: string): { incident: Incident; remedyRationale: string } {
  const { policy, snapshot, now } = cycle;
  const { red, attribution, failing } = found;
  const lastGreenSha = found.clean?.sha;
  const classification = classifyFailure(policy, failing);
  const remedy = remedyFor(policy, snapshot, classification.failureClass, attribution.tier, attribution);
  const noGreen = lastGreenSha === undefined ? '; no commit in view without these failures, so every commit in view is a suspect' : '';
  const tests = found.marks.filter((mark) => mark.test !== undefined).length;
  const output = outputTails(failing);
  const rationale =
    `${failing.map((c) => `${c.name} ${c.conclusion}`).join(', ')}${tests ? ` (${tests} failing test(s))` : ''} on ${policy.target} at ${short(red.sha)}: ` +
    `${attribution.rationale}${noGreen}; class ${classification.failureClass} (${classification.rule}); ${remedy.rationale}${blindShared(found)}`;
  const incident: Incident = {
    id: freeIncidentId(cycle, red.sha, suffix),
    status: 'open',
    lanes: attribution.lanes,
    crossLane: attribution.crossLane,
    unattributed: attribution.unattributed,
    failureClass: classification.failureClass,
    classRule: classification.rule,
    tier: attribution.tier,
    failingChecks: [...new Set(found.marks.map((mark) => mark.check))],
    failures: found.marks,
    ...(output.length ? { output } : {}),
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
  return { incident, remedyRationale: remedy.rationale };
}

/** Moves the incident's lanes to degraded or paused; true when one of them was already handling another incident. */
function holdLanes(cycle: Cycle, incident: Incident, remedyRationale: string): boolean {
  const { id } = incident;
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
    } else if (incident.remedy === 'fix' || incident.remedy === 'quarantine') {
      cycle.move(name, 'degraded', `${id} (${incident.failureClass}) is eligible for an automated ${incident.remedy}`, { incident: id });
    } else {
      const needs = incident.remedy === 'revert' ? 'a revert' : 'a person';
      cycle.move(name, 'paused', `${id} (${incident.failureClass}) needs ${needs}: ${remedyRationale}`, { incident: id });
    }
  }
  return second;
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

// Whether a change's lanes admit it now (SPEC §4): its own lane's state, every
// other lane its files touch, a lane reserved for a cross-lane change, the
// global hold, and a lane still awaiting the target checks of its last merge.
import { lanesByPath } from './classify';
import type { GateCode, GateContext } from './gate';
import type { ChangeLink } from './trailers';
import type { Change, LaneState, RiskTier } from './model';
import { own } from './records';

/** A change is admitted by its lane's state (SPEC §4 table). */
export function laneAdmits(
  lane: LaneState,
  tier: RiskTier,
  link: ChangeLink,
  laneIncidents: ReadonlySet<string>,
): { admitted: boolean; why: string } {
  const linked = link !== undefined && laneIncidents.has(link.incident);
  switch (lane.state) {
    case 'healthy':
      return { admitted: true, why: 'lane is healthy' };
    case 'degraded':
      if (linked && link.kind === 'fix') return { admitted: true, why: 'it is the lane’s fix change' };
      if (tier === 'tier1') return { admitted: true, why: 'a degraded lane admits tier 1 changes' };
      return {
        admitted: false,
        why: `lane ${lane.name} is degraded (incident ${lane.incident ?? '?'}): it admits only its fix change and tier 1 changes`,
      };
    case 'paused':
      if (linked) return { admitted: true, why: `it is the lane’s linked ${link.kind}` };
      return {
        admitted: false,
        why: lane.operatorPaused
          ? `lane ${lane.name} was paused by an operator: ${lane.operatorPaused.reason}`
          : `lane ${lane.name} is paused (incident ${lane.incident ?? '?'}): it admits only its linked fix or revert`,
      };
    case 'recovering':
      if (linked && link.kind === 'fix') return { admitted: true, why: 'a further fix for the recovering lane' };
      return {
        admitted: false,
        why: `lane ${lane.name} is recovering: it waits for the target checks after the fix before admitting other changes`,
      };
  }
}

/** The gate's lane reasons, in the order the gate gives them. */
export function admissionReasons(change: Change, context: GateContext, add: (code: GateCode, message: string) => void): void {
  const { policy, state, lane, tier, link } = context;
  const admits = laneAdmits(lane, tier, link, context.laneIncidents);
  if (!admits.admitted) add('lane-not-admitting', admits.why);
  const repairsHere = link !== undefined && context.laneIncidents.has(link.incident);
  if (context.reservedFor && context.reservedFor !== change.id && !repairsHere) {
    add('lane-reserved', `lane ${lane.name} is holding its merges until the cross-lane change ${context.reservedFor} lands`);
  }
  touchedLaneReasons(change, context, add);
  if (state.global.state === 'global-hold') add('global-hold', `a global hold is in force: ${state.global.reason}`);
  if (policy.merge.wait_for_target_green && lane.awaiting && lane.awaiting.change !== change.id) {
    add('awaiting-target-checks', awaitingMessage(lane.name, false, lane.awaiting.change, context));
  }
}

/**
 * A change lands in every lane its files touch: each of them must be healthy and settled. A linked fix
 * or revert is spared only by the lanes that hold its incident; any other lane (an operator's pause
 * above all) judges it like any change.
 */
function touchedLaneReasons(change: Change, context: GateContext, add: (code: GateCode, message: string) => void): void {
  const { policy, state, lane, link } = context;
  // A link counts only where its incident is: a branch named after another lane's incident is an ordinary change here.
  const incident = link ? own(state.incidents, link.incident) : undefined;
  const incidentLanes = new Set(incident?.status === 'open' ? incident.lanes : []);
  const crossLane = lanesByPath(policy, change.files).length > 1;
  for (const touched of context.touchedLanes ?? []) {
    if (touched.name === lane.name || incidentLanes.has(touched.name)) continue;
    if (touched.state !== 'healthy') {
      const why = touched.operatorPaused
        ? `was paused by an operator: ${touched.operatorPaused.reason}`
        : `is ${touched.state}${touched.incident ? ` (${touched.incident})` : ''}`;
      add('lane-not-admitting', `it also touches lane ${touched.name}, which ${why}`);
    } else if (crossLane && policy.merge.wait_for_target_green && touched.awaiting) {
      add('awaiting-target-checks', awaitingMessage(touched.name, true, touched.awaiting.change, context));
    }
  }
}

/**
 * Why a change waits behind its lane's last merge. A merge still open is one this
 * very cycle decided (not made yet: a dry run or explain never makes it), so it
 * is said as what comes next, not as a merge that happened.
 */
function awaitingMessage(lane: string, crossing: boolean, merge: string, context: GateContext): string {
  const target = context.policy.target;
  if (context.openChangeIds.has(merge)) {
    return `${crossing ? `it also touches lane ${lane}, which` : `lane ${lane}`} merges ${merge} first; this change then waits until ${target}'s checks pass with that merge`;
  }
  return crossing
    ? `it also touches lane ${lane}, whose last merge (${merge}) is still awaiting its target checks`
    : `the last merge in lane ${lane} (${merge}) is still awaiting its target checks`;
}

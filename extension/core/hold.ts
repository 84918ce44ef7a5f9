// The global hold (SPEC §4): incidents no lane can contain (unattributed,
// cross-lane, tier 3) or too many paused lanes stop every merge until an owner
// acknowledges each trigger; otherwise the global state says whether lanes are
// contained or all is normal.
import type { Cycle } from './decide';
import { holdKey, holdTrigger } from './keys';
import type { HoldTrigger } from './model';

export function updateGlobal(cycle: Cycle): void {
  const { state, now } = cycle;
  const current = new Set(state.global.triggers.map((t) => t.key));
  const fresh = holdTriggers(cycle).filter((t) => !state.global.acknowledged.includes(t.key) && !current.has(t.key));
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
        key: holdKey(fresh.map((t) => t.key)),
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

/** Every trigger of a hold the policy's `incidents.global_hold` asks for, acknowledged or not. */
function holdTriggers(cycle: Cycle): HoldTrigger[] {
  const hold = cycle.policy.incidents.global_hold;
  const triggers: HoldTrigger[] = [];
  for (const incident of cycle.openIncidents()) {
    if (incident.unattributed)
      triggers.push({ key: holdTrigger.unattributed(incident.id), reason: `${incident.id} cannot be attributed to a lane` });
    else if (incident.crossLane && hold.on_cross_lane)
      triggers.push({ key: holdTrigger.crossLane(incident.id), reason: `${incident.id} spans lanes ${incident.lanes.join(', ')}` });
    if (incident.tier === 'tier3' && hold.on_tier3_incident)
      triggers.push({ key: holdTrigger.tier3(incident.id), reason: `${incident.id} involves a tier 3 change` });
  }
  const paused = Object.values(cycle.state.lanes)
    .filter((lane) => lane.state === 'paused')
    .map((lane) => lane.name)
    .sort();
  if (hold.paused_lanes_at_least > 0 && paused.length >= hold.paused_lanes_at_least) {
    triggers.push({
      key: holdTrigger.pausedLanes(paused),
      reason: `${paused.length} lanes paused (${paused.join(', ')}), at least ${hold.paused_lanes_at_least}`,
    });
  }
  return triggers;
}

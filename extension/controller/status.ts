// The status document (SPEC §9 `status --json`): lanes with their queues and
// incidents, approvals, decisions. The CLI prints it; the cockpit renders it.
import type { QueueEntry } from '../core/decide';
import type { Approval, ControllerState, Decision, Incident } from '../core/model';
import type { ActionOutcome } from './cycle';

export interface StatusDocument {
  global: { state: string; reason: string };
  lanes: { name: string; state: string; reason: string; since: number; queue: QueueEntry[]; incident: Incident | null }[];
  decisions: Decision[];
  approvals: Approval[];
  incidents: Incident[];
  actions?: { key: string; kind: string; status: string; message: string }[];
  outcome?: { kind: string; rationale: string };
  cycle: number;
  at?: number;
}

export function statusDocument(
  state: ControllerState,
  queues: Record<string, QueueEntry[]>,
  decisions: Decision[],
  extra: { actions?: ActionOutcome[]; outcome?: { kind: string; rationale: string }; at?: number } = {},
): StatusDocument {
  return {
    global: { state: state.global.state, reason: state.global.reason },
    lanes: Object.values(state.lanes).map((lane) => ({
      name: lane.name,
      state: lane.state,
      reason: lane.reason,
      since: lane.since,
      queue: queues[lane.name] ?? [],
      incident: lane.incident ? (state.incidents[lane.incident] ?? null) : null,
    })),
    decisions,
    approvals: Object.values(state.approvals).filter((a) => a.status === 'pending'),
    incidents: Object.values(state.incidents).filter((i) => i.status === 'open'),
    ...(extra.actions ? { actions: extra.actions.map(({ key, kind, status, message }) => ({ key, kind, status, message })) } : {}),
    ...(extra.outcome ? { outcome: extra.outcome } : {}),
    cycle: state.cycle,
    ...(extra.at !== undefined ? { at: extra.at } : {}),
  };
}

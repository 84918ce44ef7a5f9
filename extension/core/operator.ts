// Operator commands as pure state changes: hold / release, pause / resume,
// approve / reject. Each returns the next state and a decision to log, or an
// error naming the problem and the fix.
import { holdTrigger } from './keys';
import type { ControllerState, Decision } from './model';
import { own } from './records';

export type OperatorCommand =
  | { kind: 'hold'; reason: string; by: string }
  | { kind: 'release'; ack: boolean; by: string }
  | { kind: 'pause'; lane: string; reason: string; by: string }
  | { kind: 'resume'; lane: string; by: string }
  | { kind: 'approve'; id: string; by: string }
  | { kind: 'reject'; id: string; reason: string; by: string };

export type OperatorResult =
  | { ok: true; state: ControllerState; decision: Decision }
  | {
      ok: false;
      code: 'unknown-lane' | 'unknown-approval' | 'already-resolved' | 'not-held' | 'ack-required' | 'reason-required' | 'not-paused';
      message: string;
    };

type Command<K extends OperatorCommand['kind']> = Extract<OperatorCommand, { kind: K }>;

export function applyOperator(previous: ControllerState, command: OperatorCommand, now: number): OperatorResult {
  const state = structuredClone(previous);
  switch (command.kind) {
    case 'hold':
      return hold(state, command, now);
    case 'release':
      return release(state, command, now);
    case 'pause':
      return pause(state, command, now);
    case 'resume':
      return resume(state, command, now);
    case 'approve':
    case 'reject':
      return resolveApproval(state, command, now);
  }
}

function hold(state: ControllerState, command: Command<'hold'>, now: number): OperatorResult {
  if (!command.reason.trim()) return { ok: false, code: 'reason-required', message: 'hold needs a reason: build-master hold --reason "…"' };
  const trigger = { key: holdTrigger.operator(now), reason: `operator ${command.by}: ${command.reason}` };
  const wasHeld = state.global.state === 'global-hold';
  state.global = {
    ...state.global,
    state: 'global-hold',
    triggers: [...state.global.triggers, trigger],
    reason: [...state.global.triggers, trigger].map((t) => t.reason).join('; '),
    since: wasHeld ? state.global.since : now,
  };
  return { ok: true, state, decision: { kind: 'global-hold', rationale: `global hold by ${command.by}: ${command.reason}` } };
}

function release(state: ControllerState, command: Command<'release'>, now: number): OperatorResult {
  if (state.global.state !== 'global-hold') return { ok: false, code: 'not-held', message: 'there is no global hold to release' };
  if (!command.ack) {
    return {
      ok: false,
      code: 'ack-required',
      message: `releasing the hold needs an owner's acknowledgment of: ${state.global.reason}. Run build-master release --ack`,
    };
  }
  const released = state.global.triggers.map((t) => t.key);
  const reason = state.global.reason;
  state.global = {
    state: 'incident-contained',
    reason: `hold released by ${command.by}`,
    since: now,
    triggers: [],
    acknowledged: [...new Set([...state.global.acknowledged, ...released])].slice(-200),
  };
  return {
    ok: true,
    state,
    decision: { kind: 'global-release', rationale: `${command.by} acknowledged and released the hold (${reason})` },
  };
}

function pause(state: ControllerState, command: Command<'pause'>, now: number): OperatorResult {
  const lane = own(state.lanes, command.lane);
  if (!lane) return unknownLane(state, command.lane);
  const from = lane.state;
  // Pausing a lane an operator already paused replaces the reason: said, so the earlier one is not lost unseen.
  const earlier = lane.operatorPaused;
  lane.operatorPaused = { reason: command.reason || 'no reason given', since: now };
  lane.state = 'paused';
  lane.since = now;
  lane.reason = `paused by ${command.by}: ${lane.operatorPaused.reason}`;
  const replaced = earlier ? `; it was already paused by an operator (${earlier.reason}): that reason is replaced by this one` : '';
  return {
    ok: true,
    state,
    decision: { kind: 'lane-transition', lane: lane.name, from, to: 'paused', rationale: `${lane.reason}${replaced}` },
  };
}

function resume(state: ControllerState, command: Command<'resume'>, now: number): OperatorResult {
  const lane = own(state.lanes, command.lane);
  if (!lane) return unknownLane(state, command.lane);
  if (lane.state !== 'paused') return { ok: false, code: 'not-paused', message: `lane ${lane.name} is ${lane.state}, not paused` };
  const from = lane.state;
  delete lane.operatorPaused;
  const incident = lane.incident ? own(state.incidents, lane.incident) : undefined;
  if (
    incident?.status === 'open' &&
    !incident.escalated &&
    (incident.remedy === 'fix' || incident.remedy === 'quarantine') &&
    incident.repairMerges.length === 0
  ) {
    lane.state = 'degraded';
    lane.reason = `resumed by ${command.by}; ${incident.id} is still being repaired`;
  } else {
    // Resume never trusts the operator blindly: the lane verifies green target checks first.
    lane.state = 'recovering';
    delete lane.recoveryFrom;
    lane.reason = `resumed by ${command.by}; waiting for green target checks to verify`;
  }
  lane.since = now;
  return { ok: true, state, decision: { kind: 'lane-transition', lane: lane.name, from, to: lane.state, rationale: lane.reason } };
}

function resolveApproval(state: ControllerState, command: Command<'approve' | 'reject'>, now: number): OperatorResult {
  const approval = own(state.approvals, command.id);
  if (!approval) {
    const pending = Object.values(state.approvals)
      .filter((a) => a.status === 'pending')
      .map((a) => a.id);
    return {
      ok: false,
      code: 'unknown-approval',
      message: `no approval "${command.id}"${pending.length ? `; pending: ${pending.join(', ')}` : '; nothing is pending'} (see build-master status)`,
    };
  }
  if (approval.status !== 'pending')
    return { ok: false, code: 'already-resolved', message: `approval ${approval.id} is already ${approval.status}` };
  if (command.kind === 'reject' && !command.reason.trim()) {
    return { ok: false, code: 'reason-required', message: `rejecting needs a reason: build-master reject ${approval.id} --reason "…"` };
  }
  approval.status = command.kind === 'approve' ? 'approved' : 'rejected';
  approval.resolvedAt = now;
  approval.resolvedBy = command.by;
  if (command.kind === 'reject') approval.reason = command.reason;
  return {
    ok: true,
    state,
    decision: {
      kind: 'request-approval',
      approval: approval.id,
      ...(approval.lane ? { lane: approval.lane } : {}),
      ...(approval.change ? { change: approval.change } : {}),
      rationale: `${command.by} ${approval.status} ${approval.id} (${approval.kind}${approval.change ? ` ${approval.change}` : ''})${command.kind === 'reject' ? `: ${command.reason}` : ''}`,
    },
  };
}

function unknownLane(state: ControllerState, name: string): OperatorResult {
  return { ok: false, code: 'unknown-lane', message: `no lane "${name}"; lanes: ${Object.keys(state.lanes).join(', ')}` };
}

// Operator commands (approve, reject, hold, release, pause, resume) applied to
// the stored state under the controller lock, and logged. The CLI and the
// cockpit both call this, so a command means the same from either.
import { initialState } from '../core/decide';
import type { Decision, GlobalState } from '../core/model';
import { applyOperator, type OperatorCommand } from '../core/operator';
import { InputError } from '../ports';
import type { Policy } from '../core/policy/schema';
import type { Store } from '../store/store';
import { onStateRef } from './on-ref';
import { lockSession, stateBackend, type Session } from './session';

export interface OperatorOutcome {
  decision: Decision;
  global: GlobalState;
}

export async function operate(
  session: Session,
  command: OperatorCommand,
  log: (message: string) => void,
  now = Date.now(),
): Promise<OperatorOutcome> {
  const lock = await lockSession(session, command.kind, log);
  try {
    return await applyToStore(session.store, session.policy, command, now);
  } finally {
    lock.release();
  }
}

/**
 * An operator command applied to the state the GitHub Action keeps on the state branch
 * (`--from-ref`): read, applied, saved with compare-and-swap; when a run saved first, the
 * command is applied again to what it saved, so neither the command nor the run is lost.
 */
export async function operateOnRef(
  session: Session,
  branch: string | undefined,
  command: OperatorCommand,
  log: (message: string) => void,
  now = Date.now(),
): Promise<OperatorOutcome> {
  const backend = await stateBackend(session, branch);
  const { value } = await onStateRef({ backend, log, message: () => `Build Master state: ${command.kind} by ${command.by}` }, (store) =>
    applyToStore(store, session.policy, command, now),
  );
  return value;
}

async function applyToStore(store: Store, policy: Policy, command: OperatorCommand, now: number): Promise<OperatorOutcome> {
  const state = store.data.state ?? initialState(policy, now);
  const result = applyOperator(state, command, now);
  if (!result.ok) throw new InputError(result.message);
  store.data.state = result.state;
  await store.save();
  const { decision } = result;
  store.append([
    {
      at: now,
      type: 'operator',
      // The operator's command (approve, pause, …) says more in the log than the decision kind.
      kind: command.kind,
      message: decision.rationale,
      ...(decision.lane ? { lane: decision.lane } : {}),
      ...(decision.approval ? { approval: decision.approval } : {}),
      ...(decision.change ? { change: decision.change } : {}),
    },
  ]);
  return { decision, global: result.state.global };
}

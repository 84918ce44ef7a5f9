// Operator commands (approve, reject, hold, release, pause, resume) applied to
// the stored state under the controller lock, and logged. The CLI and the
// cockpit both call this, so a command means the same from either.
import { initialState } from '../core/decide';
import type { Decision, GlobalState } from '../core/model';
import { applyOperator, type OperatorCommand } from '../core/operator';
import { InputError } from '../ports';
import { lockSession, type Session } from './session';

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
    const state = session.store.data.state ?? initialState(session.policy, now);
    const result = applyOperator(state, command, now);
    if (!result.ok) throw new InputError(result.message);
    session.store.data.state = result.state;
    await session.store.save();
    const { decision } = result;
    session.store.append([
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
  } finally {
    lock.release();
  }
}

// Operator commands on runs (SPEC §11): kill, retry, approve a gated step. Applied to the stored run
// under the controller lock and logged, from the CLI or the cockpit alike. A run being driven by
// another process sees the change on its next tick (it re-reads the store) and acts on it; the kill
// also stops the recorded workers itself, so a kill works when the driving process is gone.
import type { RunStep } from '../core/model';
import type { Run, Task } from '../core/runs/model';
import { applyKill, applyRetry } from '../core/runs/engine';
import { applyOperator } from '../core/operator';
import { initialState } from '../core/decide';
import { InputError } from '../ports';
import { lockSession, type Session } from './session';
import { withoutWorker } from './drive';

export interface RunOpOutcome {
  run: Run;
  message: string;
}

function findRun(session: Session, id: string): Run {
  const run = session.store.run(id);
  if (!run) {
    const known = session.store.runs().map((r) => r.id);
    throw new InputError(
      `no run "${id}"${known.length ? `: build-master runs lists them (${known.slice(-5).join(', ')})` : ': no run has been started here'}`,
    );
  }
  return structuredClone(run);
}

/** Stops a worker's process group and removes its worktree; a process already gone is not an error. */
export async function stopWorker(session: Session, task: Pick<Task, 'pid' | 'worktree'>): Promise<string[]> {
  const done: string[] = [];
  if (task.pid !== undefined) {
    for (const target of [-task.pid, task.pid]) {
      try {
        process.kill(target, 'SIGKILL');
        done.push(`stopped process ${task.pid}`);
        break;
      } catch {
        // ESRCH: already gone; EPERM: not ours to stop (never ours then: pids are recorded by us).
      }
    }
  }
  if (task.worktree) {
    await session.repo.removeWorktree(task.worktree);
    done.push(`removed ${task.worktree}`);
  }
  return done;
}

/** The kill switch: the run ends `killed` with a hand-off, running workers are stopped and their worktrees removed. */
export async function killRun(
  session: Session,
  id: string,
  by: string,
  log: (message: string) => void,
  now = Date.now(),
): Promise<RunOpOutcome> {
  const lock = await lockSession(session, 'kill', log);
  try {
    const run = findRun(session, id);
    const killed = applyKill(run, by, now);
    if ('error' in killed) throw new InputError(killed.error);
    const stopped: string[] = [];
    for (const command of killed.commands) {
      if (command.kind !== 'cancel') continue;
      // The pid and worktree as the run recorded them before the kill.
      const task = run.tasks.find((t) => t.id === command.task);
      if (task) stopped.push(...(await stopWorker(session, task)));
    }
    const next: Run = { ...killed.run, tasks: killed.run.tasks.map(withoutWorker) };
    const withdrawn = killed.commands.flatMap((command) => (command.kind === 'finish' ? (command.withdraw ?? []) : []));
    const approvals = session.store.data.state?.approvals ?? {};
    for (const approvalId of withdrawn) {
      const approval = Object.hasOwn(approvals, approvalId) ? approvals[approvalId] : undefined;
      if (approval?.status === 'pending')
        Object.assign(approval, { status: 'rejected', resolvedAt: now, resolvedBy: by, reason: `withdrawn: run ${id} was killed` });
    }
    const message = `run ${id} killed by ${by}${stopped.length ? `: ${stopped.join(', ')}` : ''}`;
    session.store.putRun(next);
    await session.store.save();
    session.store.append([{ at: now, type: 'operator', kind: 'kill', run: id, message }]);
    return { run: next, message };
  } finally {
    lock.release();
  }
}

/** A failed or cancelled task goes back to pending; its run runs again from where it stopped (`run --resume`). */
export async function retryTask(
  session: Session,
  id: string,
  taskId: string,
  by: string,
  log: (message: string) => void,
  now = Date.now(),
): Promise<RunOpOutcome> {
  const lock = await lockSession(session, 'retry', log);
  try {
    const run = findRun(session, id);
    const retried = applyRetry(run, taskId, now);
    if ('error' in retried) throw new InputError(retried.error);
    const message = `${by} retried task ${taskId} of run ${id}`;
    session.store.putRun(retried);
    await session.store.save();
    session.store.append([{ at: now, type: 'operator', kind: 'retry', run: id, task: taskId, message }]);
    return { run: retried, message };
  } finally {
    lock.release();
  }
}

/** Approves (or rejects) a run's pending gated step through the approval queue. */
export async function decideRunStep(
  session: Session,
  id: string,
  step: RunStep,
  verdict: { approve: true } | { approve: false; reason: string },
  by: string,
  log: (message: string) => void,
  taskId?: string,
  now = Date.now(),
): Promise<RunOpOutcome> {
  const lock = await lockSession(session, verdict.approve ? 'approve' : 'reject', log);
  try {
    const run = findRun(session, id);
    const pending = (run.gates ?? []).filter(
      (g) => g.step === step && g.status === 'pending' && (taskId === undefined || g.task === taskId),
    );
    const gate = pending[0];
    if (!gate) {
      const open = (run.gates ?? []).filter((g) => g.status === 'pending').map((g) => `${g.step}${g.task ? ` (task ${g.task})` : ''}`);
      throw new InputError(
        `run ${id} has no pending ${step} step${taskId ? ` for task ${taskId}` : ''}${open.length ? `; pending: ${open.join(', ')}` : '; nothing waits for approval'}`,
      );
    }
    if (pending.length > 1 && taskId === undefined)
      throw new InputError(
        `run ${id} has ${pending.length} pending ${step} steps (tasks ${pending.map((g) => g.task).join(', ')}); name one with --task`,
      );
    const state = session.store.data.state ?? initialState(session.policy, now);
    const result = applyOperator(
      state,
      verdict.approve ? { kind: 'approve', id: gate.approval, by } : { kind: 'reject', id: gate.approval, reason: verdict.reason, by },
      now,
    );
    if (!result.ok) throw new InputError(result.message);
    session.store.data.state = result.state;
    gate.status = verdict.approve ? 'approved' : 'rejected';
    const message = `${by} ${verdict.approve ? 'approved' : 'rejected'} the ${step} step of run ${id}${gate.task ? ` (task ${gate.task})` : ''}`;
    run.decisions = [
      ...(run.decisions ?? []),
      { at: now, kind: verdict.approve ? 'approve' : 'reject', ...(gate.task ? { task: gate.task } : {}), rationale: message },
    ].slice(-500);
    session.store.putRun(run);
    await session.store.save();
    session.store.append([
      { at: now, type: 'operator', kind: verdict.approve ? 'approve' : 'reject', run: id, approval: gate.approval, message },
    ]);
    return { run, message };
  } finally {
    lock.release();
  }
}

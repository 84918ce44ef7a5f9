// Operator commands on runs (SPEC §11): kill, retry, approve a gated step. Applied to the stored run
// under the controller lock and logged, from the CLI or the cockpit alike. A run being driven by
// another process sees the change on its next tick (it re-reads the store) and acts on it; the kill
// also stops the recorded workers itself, so a kill works when the driving process is gone.
import type { RunStep } from '../core/model';
import type { Run, Task } from '../core/runs/model';
import { applyOperator } from '../core/operator';
import { initialState } from '../core/decide';
import { InputError } from '../ports';
import { lockSession, type Session } from './session';

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

/** The kill switch: the run ends `killed`, running workers are stopped and their worktrees removed. */
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
    if (run.status === 'completed' || run.status === 'failed' || run.status === 'killed')
      throw new InputError(`run ${id} is already ${run.status}; nothing to kill`);
    const stopped: string[] = [];
    for (const task of run.tasks) {
      if (task.status !== 'running' && task.status !== 'pending') continue;
      if (task.status === 'running') stopped.push(...(await stopWorker(session, task)));
      task.status = 'cancelled';
      task.finished_at = now;
      delete task.pid;
      delete task.worktree;
    }
    run.status = 'killed';
    run.killed_by = by;
    run.finished_at = now;
    const message = `run ${id} killed by ${by}${stopped.length ? `: ${stopped.join(', ')}` : ''}`;
    run.decisions = [...(run.decisions ?? []), { at: now, kind: 'kill', rationale: message }].slice(-500);
    session.store.putRun(run);
    await session.store.save();
    session.store.append([{ at: now, type: 'operator', kind: 'kill', run: id, message }]);
    return { run, message };
  } finally {
    lock.release();
  }
}

/** A failed or cancelled task goes back to pending; its run runs again from where it stopped. */
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
    if (run.status === 'killed') throw new InputError(`run ${id} was killed; start a new run instead`);
    const task = run.tasks.find((t) => t.id === taskId);
    if (!task) throw new InputError(`run ${id} has no task "${taskId}" (its tasks: ${run.tasks.map((t) => t.id).join(', ')})`);
    if (task.status !== 'failed' && task.status !== 'cancelled')
      throw new InputError(`task ${taskId} is ${task.status}; only a failed or cancelled task can be retried`);
    task.status = 'pending';
    delete task.stage;
    delete task.finished_at;
    run.status = 'running';
    delete run.finished_at;
    const message = `${by} retried task ${taskId} of run ${id}`;
    run.decisions = [...(run.decisions ?? []), { at: now, kind: 'retry', task: taskId, rationale: message }].slice(-500);
    session.store.putRun(run);
    await session.store.save();
    session.store.append([{ at: now, type: 'operator', kind: 'retry', run: id, task: taskId, message }]);
    return { run, message };
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

// What happens to a run from outside: a worker's result, a person's answer to a gate, a promotion, a
// merge, the kill switch, a retry, a restart after a crash. Each returns a new run with a decision;
// the next `advance` draws the consequences (repairs, cancellations, promotions, the next starts).
import type { RunStep } from '../model';
import { runGateKey, runPromoteKey } from '../keys';
import { judgeBudget, taskOverCap } from './budget';
import { rejectedReview } from './chain';
import {
  cancelTask,
  decide,
  draftOf,
  finishDraft,
  finishRun,
  patchTask,
  replacementsOf,
  summary,
  taskIn,
  type Draft,
  type RunCommand,
} from './ledger';
import { addUsage, NO_USAGE, usageOf, type BuildResult, type Run, type Task } from './model';
import { holdsAgent } from './schedule';

/** A review, or the repair of one: its verdict decides what follows it. */
function isReview(task: Task, tasks: readonly Task[]): boolean {
  return task.type === 'review' || tasks.find((other) => other.id === task.repair_of)?.type === 'review';
}

/** Why a finished worker's result fails its task, or undefined when it stands. */
function failureOf(task: Task, tasks: readonly Task[], run: Run, verified: boolean): string | undefined {
  const result = task.result;
  if (!result) return 'no result';
  const overCap = taskOverCap(task, run.budgets);
  if (overCap) return overCap;
  if (!result.success) return result.error ?? 'the worker reported a failure';
  if (!verified) return result.error ?? 'its result failed its test_commands';
  if (isReview(task, tasks) && task.verdict === undefined) return 'the review gave no verdict (approve or reject)';
  return undefined;
}

/**
 * A worker finished (`verified`: its result passed its test_commands). A failure keeps the result
 * (error and output, for the ledger). A result that changed files waits for its merge decision in
 * the next advance; one that changed none (a review) completes. A result for a task cancelled
 * meanwhile (a hedge's loser) is kept for its cost and changes nothing else. Set a review's verdict
 * on the task before, or pass it here.
 */
export function recordResult(
  run: Run,
  taskId: string,
  result: BuildResult,
  verified: boolean,
  now: number,
  verdict?: 'approve' | 'reject',
): Run {
  const draft = draftOf(run, now);
  const found = taskIn(draft, taskId);
  if (!found || found.result !== undefined) return run;
  if (found.status !== 'running') {
    if (found.status !== 'cancelled') return run;
    patchTask(draft, taskId, { result });
    decide(draft, 'late-result', `${taskId} reported after it was cancelled; its cost is kept`, found);
    return finishDraft(draft).run;
  }
  const task = patchTask(draft, taskId, verdict === undefined ? { result } : { result, verdict }) ?? found;
  const failure = failureOf(task, draft.tasks, run, verified);
  if (failure !== undefined) {
    patchTask(draft, taskId, { status: 'failed', finished_at: now, result: { ...result, error: failure } });
    decide(draft, 'fail', `${taskId} failed: ${failure}`, task);
  } else if (result.files_changed.length === 0 || rejectedReview(task, draft.tasks)) {
    patchTask(draft, taskId, { status: 'completed', finished_at: now, stage: undefined });
    decide(draft, 'complete', completion(task, draft.tasks), task);
  } else {
    patchTask(draft, taskId, { stage: 'verify' });
    decide(
      draft,
      'result',
      `${taskId} changed ${result.files_changed.length} file(s) and passed its test_commands: its merge step is next`,
      task,
    );
  }
  return finishDraft(draft).run;
}

function completion(task: Task, tasks: readonly Task[]): string {
  if (isReview(task, tasks)) {
    return task.verdict === 'reject' ? `review ${task.id} rejected: what depends on it is cancelled` : `review ${task.id} approved`;
  }
  return `${task.id} succeeded and changed no files: nothing to merge`;
}

/** A person's answer (or the shell's new approval) for a gated step; `task` names the task of a merge or deploy gate. */
export function recordGate(
  run: Run,
  step: RunStep,
  task: string | undefined,
  approval: string,
  status: 'pending' | 'approved' | 'rejected',
  now: number,
): Run {
  const draft = draftOf(run, now);
  const index = draft.gates.findIndex((gate) => gate.step === step && gate.task === task);
  const current = draft.gates[index];
  if (current?.approval === approval && current.status === status) return run;
  const gate = task === undefined ? { step, approval, status } : { step, task, approval, status };
  if (current) draft.gates[index] = gate;
  else draft.gates.push(gate);
  const what = `${step}${task === undefined ? '' : ` of ${task}`}`;
  decide(draft, `gate-${status}`, `${what}: approval ${approval} ${status}`, task === undefined ? undefined : taskIn(draft, task));
  return finishDraft(draft).run;
}

/** The shell put the task's result on its branch in its lane's queue. */
export function recordPromoted(run: Run, taskId: string, branch: string, now: number): Run {
  const draft = draftOf(run, now);
  const task = taskIn(draft, taskId);
  // Only a result the engine sent to its lane is promoted: a stray report never skips a task's work or its gate.
  if (task?.status !== 'running' || task.result?.success !== true || (task.stage !== 'promote' && task.stage !== 'queued')) return run;
  if (task.stage === 'queued' && task.branch === branch) return run;
  patchTask(draft, taskId, { stage: 'queued', branch });
  decide(draft, 'queued', `${taskId}'s result is ${branch}, in its lane's queue; it merges through the lane's gate`, task);
  return finishDraft(draft).run;
}

/** The task's change merged: the task is completed (even one the run stopped waiting for: the change did merge). */
export function recordMerged(run: Run, taskId: string, sha: string, now: number): Run {
  const draft = draftOf(run, now);
  const task = taskIn(draft, taskId);
  // A change merges from a promoted result; a stray report for a task that never produced one changes nothing.
  if (!task || task.result?.success !== true || task.status === 'failed' || (task.stage !== 'promote' && task.stage !== 'queued'))
    return run;
  patchTask(draft, taskId, { status: 'completed', stage: 'merged', merged_sha: sha, finished_at: now });
  const late = task.status === 'running' ? '' : ` (after it was ${task.status})`;
  decide(draft, 'merged', `${taskId}'s change merged as ${sha}${late}`, task);
  return finishDraft(draft).run;
}

/** The kill switch: every worker stopped, its worktree removed, the run `killed` with a hand-off. A killed run never restarts. */
export function applyKill(run: Run, by: string, now: number): { run: Run; commands: RunCommand[] } | { error: string } {
  if (run.status === 'completed' || run.status === 'failed' || run.status === 'killed') {
    return { error: `run ${run.id} already ended (${run.status}); there is nothing to kill` };
  }
  const draft = draftOf(run, now);
  const why = `killed by ${by}`;
  return finishRun(draft, 'killed', why, summary(draft, 'killed', why, why), { killed_by: by });
}

/** Why a task may not be retried, or undefined. */
function retryRefused(run: Run, task: Task | undefined, taskId: string, now: number): string | undefined {
  if (run.status === 'killed') return `run ${run.id} was killed; a killed run never restarts (start a new run)`;
  if (run.mode === 'plan') return `run ${run.id} only plans (mode plan): none of its tasks runs`;
  if (!task) return `no task "${taskId}" in run ${run.id} (its tasks: ${run.tasks.map((other) => other.id).join(', ')})`;
  if (task.status !== 'failed' && task.status !== 'cancelled')
    return `${taskId} is ${task.status}; only a failed or cancelled task is retried`;
  if (task.hedge_of !== undefined) return `${taskId} is a hedge of ${task.hedge_of}; retry ${task.hedge_of}`;
  const replacement = replacementsOf(run.tasks, task.id)[0];
  if (replacement) return `${taskId} was replaced by ${replacement.id}; retry ${replacement.id} instead`;
  return runRefused(run, now);
}

/** A run that cannot go on whatever its tasks do: a person rejected a run-wide step, or its budget is spent. */
function runRefused(run: Run, now: number): string | undefined {
  const rejected = (run.gates ?? []).find((gate) => gate.task === undefined && gate.status === 'rejected');
  if (rejected) return `a person rejected run ${run.id}'s ${rejected.step} step (approval ${rejected.approval}); start a new run`;
  const verdict = judgeBudget(run.budgets, usageOf(run.tasks), run.started_at ?? run.created_at, now);
  if (verdict.state === 'stop') return `run ${run.id} is at its budget (${verdict.rationale}); raise the budget before retrying`;
  return undefined;
}

/** A failed or cancelled task back to pending (a new attempt, its earlier cost kept), with what it cancelled; the run runs again. */
export function applyRetry(run: Run, taskId: string, now: number): Run | { error: string } {
  const draft = draftOf(run, now);
  const task = taskIn(draft, taskId);
  const refused = retryRefused(run, task, taskId, now);
  if (refused !== undefined || !task) return { error: refused ?? `no task "${taskId}"` };
  reopen(draft, task);
  const reopened = reopenDependents(draft, task.id);
  const also = reopened.length > 0 ? `; ${reopened.join(', ')} wait for it again` : '';
  decide(draft, 'retry', `${taskId} retried by request (attempt ${task.attempts + 1} next)${also}`, task);
  const next = finishDraft(draft, { status: 'running' }).run;
  delete next.finished_at;
  delete next.handoff;
  return next;
}

function reopen(draft: Draft, task: Task): void {
  const spent = task.result ? addUsage(task.earlier_usage ?? NO_USAGE, task.result.usage) : task.earlier_usage;
  patchTask(draft, task.id, {
    status: 'pending',
    earlier_usage: spent,
    result: undefined,
    stage: undefined,
    branch: undefined,
    started_at: undefined,
    finished_at: undefined,
    pid: undefined,
    worktree: undefined,
    verdict: undefined,
    merged_sha: undefined,
  });
  // A new result is a new thing to approve: the earlier answers stand for the earlier attempt.
  draft.gates = draft.gates.filter((gate) => gate.task !== task.id);
}

/** Tasks cancelled before they ever ran, downstream of the retried one, wait again (a rejected review cancels them anew). */
function reopenDependents(draft: Draft, id: string): string[] {
  const reopened: string[] = [];
  const frontier = [id];
  for (let at = frontier.shift(); at !== undefined; at = frontier.shift()) {
    for (const task of draft.tasks) {
      if (!task.depends_on.includes(at) || task.status !== 'cancelled' || task.result || task.hedge_of !== undefined) continue;
      patchTask(draft, task.id, { status: 'pending', finished_at: undefined, stage: undefined });
      reopened.push(task.id);
      frontier.push(task.id);
    }
  }
  return reopened;
}

/**
 * After a restart: a task whose worker is gone (not in `alive`, and no result recorded) is started
 * again as a new attempt (its worktree cleaned first); a gate or a promotion asked for but never
 * recorded is asked again (the shell finds the earlier approval or promotion by its key).
 */
export function recoverRun(run: Run, alive: ReadonlySet<string>, now: number): { run: Run; commands: RunCommand[] } {
  if (run.mode === 'plan' || run.status === 'completed' || run.status === 'failed' || run.status === 'killed') return { run, commands: [] };
  const draft = draftOf(run, now);
  for (const task of draft.tasks) {
    if (!holdsAgent(task) || task.result !== undefined || alive.has(task.id)) continue;
    if (task.hedge_of !== undefined) {
      // A hedge is a bet on speed, not work the run needs: a lost one is not started again.
      cancelTask(draft, task, `${task.id}'s worker is gone (a restart): the hedge is dropped, ${task.hedge_of} goes on`);
      continue;
    }
    const rationale = `${task.id}'s worker is gone (a restart): its worktree is cleaned and it starts again as a new attempt`;
    draft.commands.push({ kind: 'cancel', task: task.id, rationale });
    patchTask(draft, task.id, { status: 'pending', stage: undefined, started_at: undefined, pid: undefined, worktree: undefined });
    decide(draft, 'lost', rationale, task);
  }
  askAgain(draft);
  return finishDraft(draft);
}

function askAgain(draft: Draft): void {
  for (const gate of draft.gates.filter((each) => each.approval === '')) {
    const task = gate.task === undefined ? undefined : taskIn(draft, gate.task);
    const attempt = task && (gate.step === 'deploy' ? task.attempts + 1 : task.attempts);
    const key = runGateKey(draft.run.id, gate.step, task && attempt !== undefined ? { id: task.id, attempt } : undefined);
    const rationale = `asked again after a restart: ${gate.step}${task ? ` of ${task.id}` : ''} has no approval recorded`;
    draft.commands.push(
      task ? { kind: 'gate', step: gate.step, task: task.id, key, rationale } : { kind: 'gate', step: gate.step, key, rationale },
    );
  }
  for (const task of draft.tasks.filter((each) => each.status === 'running' && each.stage === 'promote')) {
    const key = runPromoteKey(draft.run.id, task.id, task.attempts);
    draft.commands.push({
      kind: 'promote',
      task: task.id,
      key,
      rationale: `promoted again after a restart: ${task.id} has no branch recorded`,
    });
  }
}

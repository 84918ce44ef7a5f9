// The run engine (issue 13, items 2, 5, 6, 7): one pure step of a run. The shell calls `advance`
// after every event (a worker finished, a gate was answered, a change merged, a timer) and carries
// out the commands it returns; each command with a key is done at most once, so a crash between
// storing the run and acting on it neither loses nor repeats work. Every step is a decision with a
// rationale in the run's record.
//
// The shell's side, in order: store the run `advance` returns, then act on its commands (start and
// hedge: a worker in a fresh worktree, then set the task's pid and worktree; cancel: stop task.pid,
// remove task.worktree; gate: an approval keyed by `key`, then recordGate; promote: the result's
// branch into its lane, then recordPromoted; finish: withdraw the listed approvals, report). Report
// back with recordResult (after running the task's test_commands: `verified`), recordGate,
// recordPromoted, recordMerged, then advance again. On a restart: collect results workers left,
// then recoverRun with the tasks whose workers still live, act on its commands, then advance.
import type { RiskTier } from '../model';
import { judgeBudget, type BudgetVerdict } from './budget';
import { cancelUnreachable, repairFailures, settleHedges } from './chain';
import { dispatch, readyTasks, type RouteChoice } from './dispatch';
import { decideMerges, deployHeld, runWideGates } from './gates';
import { agentsBusy, draftOf, finishDraft, finishRun, outcomeTasks, summary, type Draft, type RunCommand } from './ledger';
import { isSettled, usageOf, type Run, type Task } from './model';
import type { RunsPolicy } from './policy';
import type { Profile } from './profiles';

export type { RouteChoice } from './dispatch';
export type { RunCommand } from './ledger';
export { DECISION_LIMIT } from './ledger';
export { applyKill, applyRetry, recordGate, recordMerged, recordPromoted, recordResult, recoverRun } from './events';

export interface RunContext {
  runs: RunsPolicy;
  profile: Profile;
  now: number;
  /** Chooses a task's worker class (the router); given the budget's verdict, it degrades to a cheaper class. */
  route: (task: Task, run: Run, budget: BudgetVerdict) => RouteChoice;
  /** The risk tier of a result's changed files (the gate's tiering). */
  tierOf: (files: readonly string[]) => RiskTier;
  /** Agents other runs use now: max_agents is global. */
  busyElsewhere: number;
  /** Other runs' tasks holding an agent or a path lock now (dispatch.ts): path locks and caps span runs. */
  elsewhere?: readonly { run: string; task: Task }[];
  /** Each worker class's observed p90 run time (ms): a task past it is hedged. */
  classP90?: Readonly<Record<string, number>>;
}

function active(run: Run): boolean {
  return run.mode === 'apply' && (run.status === 'running' || run.status === 'awaiting-approval');
}

/**
 * One step of a run: gates, chaining, the budget, then scheduling; a run whose tasks are all settled
 * finishes. Returns a new run; a plan-only or finished run is returned as it is.
 */
export function advance(run: Run, ctx: RunContext): { run: Run; commands: RunCommand[] } {
  if (!active(run)) return { run, commands: [] };
  const draft = draftOf(run, ctx.now);
  const gates = runWideGates(draft, ctx.profile);
  if (gates.state === 'rejected')
    return finishRun(draft, 'failed', gates.rationale, summary(draft, 'failed', gates.rationale, gates.rationale));
  if (gates.state === 'wait') return finishDraft(draft, { status: 'awaiting-approval' });
  // The wall clock runs from the first step past the run-wide gates: a person's time to approve is not the run's.
  const startedAt = run.started_at ?? ctx.now;
  const verdict = judgeBudget(run.budgets, usageOf(draft.tasks), startedAt, ctx.now, ctx.runs.degrade_at);
  if (verdict.state === 'stop') return budgetStop(draft, verdict, startedAt);
  settleHedges(draft);
  const held = deployHeld(draft, ctx.profile, readyTasks(draft.tasks));
  repairFailures(draft, ctx.runs, run.budgets);
  decideMerges(draft, ctx.profile, ctx.tierOf);
  cancelUnreachable(draft);
  const outcome = outcomeOf(draft);
  if (outcome) return finishRun(draft, outcome.status, outcome.rationale, outcome.handoff, { started_at: startedAt });
  dispatch(draft, ctx, verdict, held);
  return finishDraft(draft, { status: waitsForPeople(draft) ? 'awaiting-approval' : 'running', started_at: startedAt });
}

/** The hard stop: running workers stopped, what is left handed to a person with the reason; never a silent kill. */
function budgetStop(draft: Draft, verdict: BudgetVerdict, startedAt: number): { run: Run; commands: RunCommand[] } {
  const why = `budget exhausted: ${verdict.rationale}`;
  const handoff = { ...summary(draft, 'failed', why, 'the budget ran out'), because: verdict.because };
  return finishRun(draft, 'failed', why, handoff, { started_at: startedAt });
}

interface Outcome {
  status: 'completed' | 'failed';
  rationale: string;
  handoff?: ReturnType<typeof summary>;
}

/** Once every task is settled: completed when every task that counts completed, else failed with the hand-off. */
function outcomeOf(draft: Draft): Outcome | undefined {
  if (draft.tasks.some((task) => !isSettled(task.status))) return undefined;
  const counted = outcomeTasks(draft.tasks);
  const left = counted.filter((task) => task.status !== 'completed');
  const merged = counted.filter((task) => task.stage === 'merged').length;
  if (left.length === 0) {
    const rationale = counted.length === 0 ? 'the run has no tasks' : `all ${counted.length} task(s) completed, ${merged} change(s) merged`;
    return { status: 'completed', rationale };
  }
  const rationale = `${left.length} of ${counted.length} task(s) did not complete: ${left.map((task) => `${task.id} ${task.status}`).join(', ')}`;
  return { status: 'failed', rationale, handoff: summary(draft, 'failed', rationale) };
}

/** Nothing works and something waits for an approval: the run waits for people. */
function waitsForPeople(draft: Draft): boolean {
  return agentsBusy(draft.tasks).length === 0 && draft.gates.some((gate) => gate.status === 'pending');
}

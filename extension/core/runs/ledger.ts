// The run engine's working copy: one advance (or one recorded event) edits a draft of the run, appends
// decisions with rationales and collects the commands for the shell; the caller's run is never touched.
import type { RiskTier, RunStep } from '../model';
import type { Handoff } from './budget';
import { isSettled, usageOf, type Run, type RunDecision, type RunGate, type Task } from './model';
import { holdsAgent } from './schedule';

/** Decisions a run keeps, newest last: enough for the timeline, bounded so a long run's record stays small. */
export const DECISION_LIMIT = 500;

/** What the shell does for the engine; each command with a key is done at most once (the key is recorded as done). */
export type RunCommand =
  | { kind: 'start'; task: string; worker_class: string; attempt: number; key: string; rationale: string }
  /** The duplicate is already a task of the returned run (status running, `hedge_of` the original). */
  | { kind: 'hedge'; task: string; duplicate: string; worker_class: string; key: string; rationale: string }
  /** Stop the task's worker (task.pid) if it runs and remove its worktree (task.worktree). */
  | { kind: 'cancel'; task: string; rationale: string }
  /** Create an approval for the step (keyed by `key`; a merge gate says its result's tier), then call recordGate with its id. */
  | { kind: 'gate'; step: RunStep; task?: string; tier?: RiskTier; key: string; rationale: string }
  /** Put the task's result on its branch in its lane's queue, then call recordPromoted. */
  | { kind: 'promote'; task: string; key: string; rationale: string }
  /** The run ended; `withdraw` names approvals still pending for it, which no longer stand for anything. */
  | { kind: 'finish'; status: 'completed' | 'failed' | 'killed'; rationale: string; handoff?: Handoff; withdraw?: string[] };

export interface Draft {
  run: Run;
  tasks: Task[];
  /** Where each task sits in `tasks` (a run may hold a thousand tasks: a lookup is not a scan). */
  at: Map<string, number>;
  gates: RunGate[];
  decisions: RunDecision[];
  commands: RunCommand[];
  now: number;
}

export function draftOf(run: Run, now: number): Draft {
  const at = new Map(run.tasks.map((task, index) => [task.id, index]));
  return { run, tasks: [...run.tasks], at, gates: [...(run.gates ?? [])], decisions: [...(run.decisions ?? [])], commands: [], now };
}

/** The draft as a new run (decisions bounded), and its commands. */
export function finishDraft(draft: Draft, patch: Partial<Run> = {}): { run: Run; commands: RunCommand[] } {
  const decisions = draft.decisions.length > DECISION_LIMIT ? draft.decisions.slice(-DECISION_LIMIT) : draft.decisions;
  const run: Run = { ...draft.run, ...patch, tasks: draft.tasks, gates: draft.gates, decisions };
  return { run, commands: draft.commands };
}

export function decide(draft: Draft, kind: string, rationale: string, task?: Task, workerClass?: string): void {
  const decision: RunDecision = { at: draft.now, kind, rationale };
  if (task) decision.task = task.id;
  const chosen = workerClass ?? (kind === 'start' || kind === 'hedge' ? task?.worker_class : undefined);
  if (chosen !== undefined) decision.worker_class = chosen;
  draft.decisions.push(decision);
}

export function taskIn(draft: Draft, id: string): Task | undefined {
  const index = draft.at.get(id);
  return index === undefined ? undefined : draft.tasks[index];
}

/** A new task of the run (a repair, a hedge). */
export function addTask(draft: Draft, task: Task): void {
  draft.at.set(task.id, draft.tasks.length);
  draft.tasks.push(task);
}

/** Replaces a task by an edited copy; `undefined` in the patch removes a field. */
export function patchTask(draft: Draft, id: string, patch: Partial<Task>): Task | undefined {
  const index = draft.at.get(id);
  const current = index === undefined ? undefined : draft.tasks[index];
  if (index === undefined || !current) return undefined;
  // Fields patched to undefined are dropped, so the stored JSON has no `undefined` holes.
  const entries: [string, unknown][] = Object.entries({ ...current, ...patch });
  const next = Object.fromEntries(entries.filter(([, value]) => value !== undefined)) as Task;
  draft.tasks[index] = next;
  return next;
}

/** Cancels a task that is not settled yet; a task with a worker or a worktree gets a `cancel` command. */
export function cancelTask(draft: Draft, task: Task, rationale: string): void {
  if (isSettled(task.status)) return;
  const hadWorker = task.status === 'running' || task.pid !== undefined || task.worktree !== undefined;
  patchTask(draft, task.id, { status: 'cancelled', finished_at: draft.now });
  decide(draft, 'cancel', rationale, task);
  if (hadWorker) draft.commands.push({ kind: 'cancel', task: task.id, rationale });
}

export function gateOf(draft: Draft, step: RunStep, task?: string): RunGate | undefined {
  return draft.gates.find((gate) => gate.step === step && gate.task === task);
}

/** The last decision about each task, to record a waiting task's reason once, not on every pass. */
export function lastDecisionByTask(decisions: readonly RunDecision[]): Map<string, RunDecision> {
  const last = new Map<string, RunDecision>();
  for (const decision of decisions) if (decision.task !== undefined) last.set(decision.task, decision);
  return last;
}

/** The tasks that stand in for another: its repair, or its hedge once the hedge is adopted. */
export function replacementsOf(tasks: readonly Task[], id: string): Task[] {
  return tasks.filter((task) => task.repair_of === id || (task.hedge_of === id && adopted(task)));
}

/** A hedge whose result won: it carries its original's place in the DAG. */
export function adopted(task: Task): boolean {
  return task.hedge_of !== undefined && task.result?.success === true && task.status !== 'failed' && task.status !== 'cancelled';
}

/** Tasks that count for the run's outcome: not a hedge that lost, not a task replaced by its repair or its adopted hedge. */
export function outcomeTasks(tasks: readonly Task[]): Task[] {
  const replaced = new Set<string>();
  for (const task of tasks) {
    if (task.repair_of !== undefined && task.hedge_of === undefined) replaced.add(task.repair_of);
    if (task.hedge_of !== undefined && adopted(task)) replaced.add(task.hedge_of);
  }
  return tasks.filter((task) => (task.hedge_of === undefined ? !replaced.has(task.id) : adopted(task)));
}

/**
 * The hand-off of a run that stops short: what is done, what is left and why. `cause` names what stops
 * the tasks still open (a budget, a kill); a task that ended earlier keeps its own reason.
 */
export function summary(draft: Draft, status: 'failed' | 'killed', why: string, cause?: string): Handoff {
  const last = lastDecisionByTask(draft.decisions);
  const counted = outcomeTasks(draft.tasks);
  const note = (task: Task): string => {
    if (task.stage === 'queued' && task.branch !== undefined) return `its change waits in its lane's queue as ${task.branch}`;
    if (cause !== undefined && task.status === 'running' && task.result?.success === true) {
      const commit = task.result.commit_sha === undefined ? '' : ` (commit ${task.result.commit_sha}, on its worker branch)`;
      return `its verified result${commit} was not merged: ${cause}`;
    }
    if (cause !== undefined && task.status === 'running') return `stopped while running: ${cause}`;
    if (cause !== undefined && task.status === 'pending') return `not started: ${cause}`;
    return task.result?.error ?? last.get(task.id)?.rationale ?? task.status;
  };
  const commit = (task: Task): string => task.merged_sha ?? task.result?.commit_sha ?? 'no commit';
  return {
    run: draft.run.id,
    status,
    why,
    because: [],
    usage: usageOf(draft.tasks),
    done: counted
      .filter((task) => task.status === 'completed')
      .map((task) => ({ task: task.id, type: task.type, status: task.status, note: commit(task) })),
    left: counted
      .filter((task) => task.status !== 'completed')
      .map((task) => ({ task: task.id, type: task.type, status: task.status, note: note(task) })),
    stop: draft.tasks.filter((task) => task.status === 'running').map((task) => task.id),
  };
}

/** Ends the run: every unsettled task cancelled (workers stopped), pending approvals withdrawn, a finish command. */
export function finishRun(
  draft: Draft,
  status: 'completed' | 'failed' | 'killed',
  rationale: string,
  handoff?: Handoff,
  extra: Partial<Run> = {},
): { run: Run; commands: RunCommand[] } {
  for (const task of draft.tasks) cancelTask(draft, task, `the run ended (${status}): ${rationale}`);
  const withdraw = draft.gates.filter((gate) => gate.status === 'pending' && gate.approval !== '').map((gate) => gate.approval);
  const finish: RunCommand = { kind: 'finish', status, rationale };
  if (handoff) finish.handoff = handoff;
  if (withdraw.length > 0) finish.withdraw = withdraw;
  draft.commands.push(finish);
  decide(draft, 'finish', rationale);
  const patch: Partial<Run> = { ...extra, status, finished_at: draft.now };
  if (handoff) patch.handoff = handoff;
  return finishDraft(draft, patch);
}

/** Tasks that hold an agent now (a worker writes or verifies). */
export function agentsBusy(tasks: readonly Task[]): Task[] {
  return tasks.filter(holdsAgent);
}

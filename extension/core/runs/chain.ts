// Chaining (issue 13, item 6): a hedge pair adopts its first success, a failed task spawns one repair
// task that takes its place in the DAG, and a task that can no longer run (a dependency failed for
// good, a review rejected it, a cycle) is cancelled with the reason instead of waiting forever.
import { outputTails } from '../failures';
import { fence } from '../trailers';
import { taskOverCap } from './budget';
import { addTask, adopted, cancelTask, decide, gateOf, patchTask, replacementsOf, taskIn, type Draft } from './ledger';
import { isSettled, type Budgets, type Task } from './model';
import type { RunsPolicy } from './policy';
import { dependencyOrder, settleHedge } from './schedule';

/** A task whose result succeeded and passed its test_commands is as good as completed for its hedge twin. */
function asWon(task: Task): Task {
  return task.status === 'running' && task.result?.success === true ? { ...task, status: 'completed' } : task;
}

/** Dependents of `from` depend on `to` from now on (a repair or an adopted hedge takes its place). */
function rewire(draft: Draft, from: string, to: string, why: string): void {
  const moved: string[] = [];
  for (const task of draft.tasks) {
    if (isSettled(task.status) || !task.depends_on.includes(from)) continue;
    patchTask(draft, task.id, { depends_on: task.depends_on.map((dep) => (dep === from ? to : dep)) });
    moved.push(task.id);
  }
  if (moved.length > 0) decide(draft, 'rewire', `${why}: ${moved.join(', ')} now depend on ${to} instead of ${from}`);
}

/** Every hedge pair with a success: the first success is adopted and the other side cancelled (its worker stopped). */
export function settleHedges(draft: Draft): void {
  for (const duplicate of draft.tasks.filter((task) => task.hedge_of !== undefined)) {
    const original = taskIn(draft, duplicate.hedge_of ?? '');
    const twin = taskIn(draft, duplicate.id);
    if (!original || !twin) continue;
    const settlement = settleHedge(asWon(original), asWon(twin));
    if (settlement.adopt === undefined) continue;
    for (const id of settlement.cancel) {
      const loser = taskIn(draft, id);
      if (loser) cancelTask(draft, loser, `hedge pair ${original.id}/${twin.id}: ${settlement.rationale}, its result is adopted`);
    }
    if (settlement.adopt === twin.id) rewire(draft, original.id, twin.id, `hedge ${twin.id} succeeded first`);
  }
}

/** The other side of a hedge pair, while it still runs (a failure waits for it). */
function runningTwin(tasks: readonly Task[], task: Task): Task | undefined {
  return tasks.find(
    (other) => other.id !== task.id && !isSettled(other.status) && (other.hedge_of === task.id || other.id === task.hedge_of),
  );
}

/** Why a failed task gets no repair task, or undefined when it gets one. */
function noRepair(draft: Draft, task: Task, runs: RunsPolicy, budgets: Budgets): string | undefined {
  if (!runs.repair_tasks) return 'runs.repair_tasks is off';
  if (task.repair_of !== undefined) return `${task.id} is itself the repair of ${task.repair_of}`;
  if (task.type === 'deploy') return 'a failed deploy is not retried by an agent';
  if (taskOverCap(task, budgets)) return 'it ran over the per-task token cap: a repair would too';
  const refused = (['merge', 'deploy'] as const).find((step) => gateOf(draft, step, task.id)?.status === 'rejected');
  if (refused) return `a person rejected its ${refused}`;
  if (!task.result) return 'it left no result to repair from';
  return undefined;
}

/** A repair id of the allowed shape and free in the run. */
function repairId(tasks: readonly Task[], id: string): string {
  const stem = id.slice(0, 120);
  const taken = new Set(tasks.map((task) => task.id));
  let candidate = `${stem}-fix`;
  for (let n = 2; taken.has(candidate); n++) candidate = `${stem}-fix${n}`;
  return candidate;
}

/** The original instruction, then the failure's error and the end of its output, fenced (untrusted text). */
export function repairPrompt(task: Task): string {
  const error = task.result?.error ?? 'its test_commands failed';
  const lines = outputTails([{ name: task.id, conclusion: 'failure', output: task.result?.output ?? '' }])[0]?.lines ?? [];
  const tail = lines.length > 0 ? `\n\nThe end of its output:\n${fence(lines.join('\n'))}` : '';
  return `${task.spec.prompt}\n\nAn earlier attempt at this task (${task.id}) failed. The error:\n${fence(error)}${tail}\n\nFix the cause; stay inside the same write scope.`;
}

function spawnRepair(draft: Draft, task: Task): void {
  const id = repairId(draft.tasks, task.id);
  const repair: Task = {
    id,
    // A review's repair is a review again: its worker must give a verdict, and may change no file.
    type: task.type === 'review' ? 'review' : 'fix',
    spec: { ...task.spec, prompt: repairPrompt(task) },
    depends_on: [...task.depends_on],
    attempts: 0,
    status: 'pending',
    repair_of: task.id,
  };
  if (task.lane !== undefined) repair.lane = task.lane;
  if (task.row !== undefined) repair.row = task.row;
  addTask(draft, repair);
  decide(draft, 'repair', `${task.id} failed (${task.result?.error ?? 'its test_commands failed'}): ${id} repairs it once`, repair);
  rewire(draft, task.id, id, `${id} repairs ${task.id}`);
}

/** Failed tasks whose hedge twin is done too: one repair task each, when the policy and the failure allow. */
export function repairFailures(draft: Draft, runs: RunsPolicy, budgets: Budgets): void {
  for (const task of [...draft.tasks]) {
    if (task.status !== 'failed' || task.hedge_of !== undefined || runningTwin(draft.tasks, task)) continue;
    if (replacementsOf(draft.tasks, task.id).length > 0) continue;
    if (noRepair(draft, task, runs, budgets) === undefined) spawnRepair(draft, task);
  }
}

/** The run's hedge pairs indexed once per pass, so asking about a task's twin is one lookup. */
class Twins {
  private readonly byId: ReadonlyMap<string, Task>;
  private readonly hedges = new Map<string, Task[]>();

  constructor(tasks: readonly Task[]) {
    this.byId = new Map(tasks.map((task) => [task.id, task]));
    for (const task of tasks) {
      if (task.hedge_of === undefined) continue;
      const list = this.hedges.get(task.hedge_of);
      if (list) list.push(task);
      else this.hedges.set(task.hedge_of, [task]);
    }
  }

  /** The other side of the task's hedge pair while it still runs (a failure waits for it). */
  running(task: Task): boolean {
    if (task.hedge_of !== undefined) {
      const original = this.byId.get(task.hedge_of);
      return original !== undefined && !isSettled(original.status);
    }
    return (this.hedges.get(task.id) ?? []).some((hedge) => !isSettled(hedge.status));
  }

  adopted(task: Task): boolean {
    return (this.hedges.get(task.id) ?? []).some(adopted);
  }
}

/** Why a dependency will never complete, or undefined while it still may (it runs, or its hedge may still succeed). */
function deadBecause(dep: Task, tasks: readonly Task[], twins: Twins): string | undefined {
  if (dep.status === 'completed') return rejectedReview(dep, tasks) ? `review ${dep.id} rejected` : undefined;
  if (dep.status === 'failed' && !twins.running(dep)) return `dependency ${dep.id} failed`;
  if (dep.status === 'cancelled' && !twins.adopted(dep)) return `dependency ${dep.id} was cancelled`;
  return undefined;
}

/** A review (or the repair of one) that returned `reject`: what follows it does not run. */
export function rejectedReview(task: Task, tasks: readonly Task[]): boolean {
  if (task.verdict !== 'reject') return false;
  const repaired = task.repair_of === undefined ? undefined : tasks.find((other) => other.id === task.repair_of);
  return task.type === 'review' || repaired?.type === 'review';
}

/**
 * Pending tasks that can never start: a dependency dead for good, a rejected review before them, or
 * a cycle. One pass in dependency order (tasks on a cycle come last, their dependencies unresolved).
 */
export function cancelUnreachable(draft: Draft): void {
  const order = dependencyOrder(draft.tasks);
  const twins = new Twins(draft.tasks);
  const byId = new Map(draft.tasks.map((task) => [task.id, task]));
  const possible = new Set<string>();
  for (const task of order) {
    const may =
      task.status === 'pending'
        ? task.depends_on.every((id) => {
            const dep = byId.get(id);
            return dep !== undefined && possible.has(id) && deadBecause(dep, draft.tasks, twins) === undefined;
          })
        : task.status === 'completed' || deadBecause(task, draft.tasks, twins) === undefined;
    if (may) possible.add(task.id);
  }
  // In dependency order, so a chain reads "dependency b was cancelled" after b's own reason.
  for (const { id } of order) {
    const task = taskIn(draft, id);
    if (task?.status !== 'pending' || possible.has(id)) continue;
    cancelTask(draft, task, whyUnreachable(draft, task, possible, twins));
  }
}

function whyUnreachable(draft: Draft, task: Task, possible: ReadonlySet<string>, twins: Twins): string {
  for (const id of task.depends_on) {
    const dep = taskIn(draft, id);
    if (!dep) return `dependency ${id} is no task of the run`;
    const dead = deadBecause(dep, draft.tasks, twins);
    if (dead) return dead;
  }
  const blocked = task.depends_on.filter((id) => !possible.has(id));
  return `its dependencies ${blocked.join(', ')} can never complete (a cycle, or a dependency cancelled before them)`;
}

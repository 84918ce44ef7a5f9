// The scheduling step of an advance: route the ready tasks (the per-class cap needs their class), run
// the scheduler pass, start what may start, hedge stragglers, and record each wait's reason once.
import { runTaskKey } from '../keys';
import type { BudgetVerdict } from './budget';
import { addTask, decide, finishDraft, lastDecisionByTask, patchTask, taskIn, type Draft } from './ledger';
import { addUsage, NO_USAGE, type Run, type Task } from './model';
import type { Profile } from './profiles';
import type { RunsPolicy } from './policy';
import { holdsAgent, schedulePass, type HedgeDecision, type ScheduleCaps, type StartDecision, type WaitDecision } from './schedule';

export interface RouteChoice {
  worker_class: string;
  rationale: string;
  degraded: boolean;
}

export interface DispatchContext {
  runs: RunsPolicy;
  profile: Profile;
  now: number;
  route: (task: Task, run: Run, budget: BudgetVerdict) => RouteChoice;
  busyElsewhere: number;
  classP90?: Readonly<Record<string, number>>;
  /**
   * Tasks of other runs holding an agent or a path lock now: two runs on one repository never write
   * overlapping paths at once, and max_agents and the lane caps count them. Given, busyElsewhere is not
   * subtracted again (these tasks are the agents busy elsewhere).
   */
  elsewhere?: readonly { run: string; task: Task }[];
}

/** Another run's task as the scheduler sees it: held, never started or hedged by this run. */
const FOREIGN = '\u0000';

function foreign(elsewhere: DispatchContext['elsewhere']): Task[] {
  return (elsewhere ?? []).map(({ run, task }) => ({ ...task, id: `${FOREIGN}${run}/${task.id}`, depends_on: [], hedge_of: undefined }));
}

/** Pending tasks whose dependencies all completed. */
export function readyTasks(tasks: readonly Task[]): Task[] {
  const completed = new Set(tasks.filter((task) => task.status === 'completed').map((task) => task.id));
  return tasks.filter((task) => task.status === 'pending' && task.depends_on.every((dep) => completed.has(dep)));
}

function capsOf(ctx: DispatchContext): ScheduleCaps {
  const caps: ScheduleCaps = {
    max_agents: ctx.elsewhere ? ctx.runs.max_agents : Math.max(0, ctx.runs.max_agents - Math.max(0, ctx.busyElsewhere)),
    per_lane: ctx.runs.per_lane,
    per_class: ctx.runs.per_class,
    hedge_classes: ctx.runs.workers.map((worker) => worker.name),
    holds_agent: holdsAgent,
  };
  if (ctx.runs.hedge_after !== undefined) caps.hedge_after_ms = ctx.runs.hedge_after;
  if (ctx.classP90) caps.class_p90_ms = ctx.classP90;
  return caps;
}

/** One scheduling step on the draft (`held`: deploy tasks waiting for their gate): starts, hedges and waits, each a decision. */
export function dispatch(draft: Draft, ctx: DispatchContext, verdict: BudgetVerdict, held: ReadonlySet<string>): void {
  const ready = readyTasks(draft.tasks);
  const snapshot = finishDraft(draft).run;
  const routes = new Map<string, RouteChoice>();
  for (const task of ready) if (!held.has(task.id)) routes.set(task.id, ctx.route(task, snapshot, verdict));
  const view = draft.tasks
    .filter((task) => !held.has(task.id))
    .map((task) => {
      const route = routes.get(task.id);
      return route ? { ...task, worker_class: route.worker_class } : task;
    });
  const pass = schedulePass([...view, ...foreign(ctx.elsewhere)], capsOf(ctx), ctx.now);
  const own = (id: string) => !id.startsWith(FOREIGN);
  for (const start of pass.start) if (own(start.task)) startTask(draft, start, routes.get(start.task));
  noteWaits(
    draft,
    pass.wait
      .filter((wait) => own(wait.task))
      .map((wait) =>
        wait.holder && !own(wait.holder)
          ? { ...wait, rationale: wait.rationale.split(wait.holder).join(`run ${wait.holder.slice(1)}`) }
          : wait,
      ),
  );
  // Past degrade_at a duplicate would double the spend the budget is short of: no hedges then.
  if (verdict.state === 'ok') for (const hedge of pass.hedge) if (own(hedge.task)) startHedge(draft, hedge);
}

function startTask(draft: Draft, start: StartDecision, route: RouteChoice | undefined): void {
  const task = taskIn(draft, start.task);
  if (!task || !route) return;
  const attempt = task.attempts + 1;
  // A result still on the task (only after an odd restart) was paid for: its cost moves to the earlier attempts.
  const spent = task.result ? addUsage(task.earlier_usage ?? NO_USAGE, task.result.usage) : task.earlier_usage;
  const started = patchTask(draft, task.id, {
    earlier_usage: spent,
    status: 'running',
    stage: 'work',
    attempts: attempt,
    worker_class: route.worker_class,
    started_at: draft.now,
    result: undefined,
    finished_at: undefined,
    pid: undefined,
    worktree: undefined,
    branch: undefined,
    verdict: undefined,
  });
  const rationale = `${start.rationale}; ${route.worker_class}: ${route.rationale}${route.degraded ? ' (degraded by the budget)' : ''}`;
  const key = runTaskKey(draft.run.id, task.id, attempt);
  draft.commands.push({ kind: 'start', task: task.id, worker_class: route.worker_class, attempt, key, rationale });
  decide(draft, 'start', rationale, started, route.worker_class);
}

/** A wait is recorded when its reason differs from the task's last decision: a task waiting on is not news. */
function noteWaits(draft: Draft, waits: readonly WaitDecision[]): void {
  const last = lastDecisionByTask(draft.decisions);
  for (const wait of waits) {
    const kind = `wait:${wait.reason}`;
    if (last.get(wait.task)?.kind === kind) continue;
    decide(draft, kind, wait.rationale, taskIn(draft, wait.task));
  }
}

function hedgeId(tasks: readonly Task[], original: string): string {
  const taken = new Set(tasks.map((task) => task.id));
  const stem = original.slice(0, 120);
  let n = tasks.filter((task) => task.hedge_of === original).length + 1;
  while (taken.has(`${stem}~h${n}`)) n++;
  return `${stem}~h${n}`;
}

/** A straggler's duplicate: a task of its own (same spec, scope and lane) on another class; a deploy is never duplicated. */
function startHedge(draft: Draft, hedge: HedgeDecision): void {
  const original = taskIn(draft, hedge.task);
  if (!original || original.type === 'deploy') return;
  const id = hedgeId(draft.tasks, original.id);
  const duplicate: Task = {
    id,
    type: original.type,
    spec: original.spec,
    depends_on: [...original.depends_on],
    attempts: 1,
    status: 'running',
    stage: 'work',
    worker_class: hedge.worker_class,
    started_at: draft.now,
    hedge_of: original.id,
  };
  if (original.lane !== undefined) duplicate.lane = original.lane;
  if (original.row !== undefined) duplicate.row = original.row;
  // A repair's duplicate is a repair too: the same role (a review's repair still gives a verdict), no repair of its own.
  if (original.repair_of !== undefined) duplicate.repair_of = original.repair_of;
  addTask(draft, duplicate);
  const key = runTaskKey(draft.run.id, id, 1);
  draft.commands.push({
    kind: 'hedge',
    task: original.id,
    duplicate: id,
    worker_class: hedge.worker_class,
    key,
    rationale: hedge.rationale,
  });
  decide(draft, 'hedge', `${id}: ${hedge.rationale}`, original, hedge.worker_class);
}

// The scheduler pass (issue 13): which ready tasks start now, which wait and why, which stragglers
// get a hedge. Pure: the tasks, the caps and `now` in; decisions with rationales out.
import { isSettled, type Task } from './model';
import { scopesMayOverlap } from './scope';

export interface ScheduleCaps {
  max_agents: number;
  /** Tasks running at once per lane; a lane not named is capped only by max_agents. */
  per_lane?: Readonly<Record<string, number>>;
  /** Tasks running at once per worker class. */
  per_class?: Readonly<Record<string, number>>;
  /** A running task older than this (ms) gets a duplicate on another class; absent (and no p90): no hedging. */
  hedge_after_ms?: number;
  /** A class's observed p90 run time (ms): a task of that class past it is a straggler too. */
  class_p90_ms?: Readonly<Record<string, number>>;
  /** Worker classes a hedge may use, in order of preference. */
  hedge_classes?: readonly string[];
  /**
   * Whether a running task occupies an agent (and may be hedged); absent: every running task does.
   * The run engine passes `holdsAgent`: a result waiting for an approval or in its lane's queue has
   * no worker any more, but keeps its path lock.
   */
  holds_agent?: (task: Task) => boolean;
}

export type WaitReason = 'dependencies' | 'dependency-failed' | 'agents-full' | 'lane-full' | 'class-full' | 'path-locked';

export interface StartDecision {
  task: string;
  rationale: string;
}
export interface WaitDecision {
  task: string;
  reason: WaitReason;
  rationale: string;
  /** For path-locked: the task holding the overlapping scope. */
  holder?: string;
}
export interface HedgeDecision {
  task: string;
  duplicate: string;
  worker_class: string;
  rationale: string;
}

export interface SchedulePass {
  start: StartDecision[];
  wait: WaitDecision[];
  hedge: HedgeDecision[];
}

/** The tasks in dependency order (Kahn's algorithm, ties in input order); tasks on a cycle come last. */
export function dependencyOrder(tasks: readonly Task[]): Task[] {
  const byId = new Map(tasks.map((task) => [task.id, task]));
  const dependents = new Map<string, string[]>();
  const missing = new Map<string, number>();
  for (const task of tasks) {
    const known = task.depends_on.filter((dep) => byId.has(dep));
    missing.set(task.id, known.length);
    for (const dep of known) {
      const list = dependents.get(dep);
      if (list) list.push(task.id);
      else dependents.set(dep, [task.id]);
    }
  }
  const order: Task[] = [];
  const queue = tasks.filter((task) => missing.get(task.id) === 0);
  for (let index = 0; index < queue.length; index++) {
    const task = queue[index];
    if (!task) break;
    order.push(task);
    for (const next of dependents.get(task.id) ?? []) {
      const left = (missing.get(next) ?? 0) - 1;
      missing.set(next, left);
      const dependent = byId.get(next);
      if (left === 0 && dependent) queue.push(dependent);
    }
  }
  const placed = new Set(order.map((task) => task.id));
  return [...order, ...tasks.filter((task) => !placed.has(task.id))];
}

/**
 * Whether a running task occupies an agent in the run engine: one whose result waits for an approval
 * or sits in its lane's queue (stage approval, promote, queued) has no worker any more.
 */
export function holdsAgent(task: Task): boolean {
  return task.status === 'running' && (task.stage === undefined || task.stage === 'work' || task.stage === 'verify');
}

/** Counts of what runs, so each cap is one lookup. */
class Occupancy {
  total = 0;
  readonly lanes = new Map<string, number>();
  readonly classes = new Map<string, number>();
  readonly holders: Task[] = [];

  constructor(private readonly holds?: (task: Task) => boolean) {}

  take(task: Task): void {
    this.holders.push(task);
    // A task taken as it starts is pending still: it will hold an agent.
    if (task.status === 'running' && this.holds && !this.holds(task)) return;
    this.total++;
    if (task.lane !== undefined) this.lanes.set(task.lane, (this.lanes.get(task.lane) ?? 0) + 1);
    if (task.worker_class !== undefined) this.classes.set(task.worker_class, (this.classes.get(task.worker_class) ?? 0) + 1);
  }
}

/** Why a task whose dependencies are met may not start now, or undefined when it may. */
function capOf(task: Task, caps: ScheduleCaps, busy: Occupancy): Omit<WaitDecision, 'task'> | undefined {
  if (busy.total >= caps.max_agents) return { reason: 'agents-full', rationale: `all ${caps.max_agents} agents are busy` };
  const laneCap = task.lane === undefined ? undefined : caps.per_lane?.[task.lane];
  if (task.lane !== undefined && laneCap !== undefined && (busy.lanes.get(task.lane) ?? 0) >= laneCap) {
    return { reason: 'lane-full', rationale: `lane ${task.lane} already runs ${laneCap} task(s), its cap` };
  }
  const classCap = task.worker_class === undefined ? undefined : caps.per_class?.[task.worker_class];
  if (task.worker_class !== undefined && classCap !== undefined && (busy.classes.get(task.worker_class) ?? 0) >= classCap) {
    return { reason: 'class-full', rationale: `worker class ${task.worker_class} already runs ${classCap} task(s), its cap` };
  }
  // A hedge shares its original's scope on purpose (only one result is adopted).
  const holder = busy.holders.find(
    (other) => other.id !== task.hedge_of && scopesMayOverlap(task.spec.write_scope, other.spec.write_scope),
  );
  if (holder) {
    return {
      reason: 'path-locked',
      holder: holder.id,
      rationale: `its write scope may overlap ${holder.id}'s (${holder.spec.write_scope.join(', ')})`,
    };
  }
  return undefined;
}

/** Whether a pending task's dependencies are met; a failed or cancelled dependency blocks it for good. */
function dependencyWait(task: Task, byId: ReadonlyMap<string, Task>): Omit<WaitDecision, 'task'> | undefined {
  const deps = task.depends_on.map((id) => ({ id, dep: byId.get(id) }));
  const dead = deps.filter(({ dep }) => dep?.status === 'failed' || dep?.status === 'cancelled');
  if (dead.length > 0)
    return { reason: 'dependency-failed', rationale: `depends on ${dead.map(({ id }) => id).join(', ')}, which did not complete` };
  const open = deps.filter(({ dep }) => dep?.status !== 'completed');
  if (open.length > 0) return { reason: 'dependencies', rationale: `waits for ${open.map(({ id }) => id).join(', ')} to complete` };
  return undefined;
}

/** One pass: start what may start (dependency order, caps, path locks), then hedge stragglers with what is left. */
export function schedulePass(tasks: readonly Task[], caps: ScheduleCaps, now: number): SchedulePass {
  const byId = new Map(tasks.map((task) => [task.id, task]));
  const busy = new Occupancy(caps.holds_agent);
  for (const task of tasks) if (task.status === 'running') busy.take(task);
  const pass: SchedulePass = { start: [], wait: [], hedge: [] };
  for (const task of dependencyOrder(tasks)) {
    if (task.status !== 'pending') continue;
    const wait = dependencyWait(task, byId) ?? capOf(task, caps, busy);
    if (wait) {
      pass.wait.push({ task: task.id, ...wait });
      continue;
    }
    busy.take(task);
    const deps = task.depends_on.length > 0 ? `its dependencies ${task.depends_on.join(', ')} completed` : 'no dependencies';
    pass.start.push({ task: task.id, rationale: `ready (${deps}), an agent is free and its write scope is unlocked` });
  }
  pass.hedge = hedges(tasks, caps, now, busy);
  return pass;
}

/** How long a task may run before it is a straggler: its class's p90 when known, else hedge_after. */
function hedgeThreshold(task: Task, caps: ScheduleCaps): { ms: number; source: string } | undefined {
  const p90 = task.worker_class === undefined ? undefined : caps.class_p90_ms?.[task.worker_class];
  if (p90 !== undefined) return { ms: p90, source: `${task.worker_class ?? ''}'s p90` };
  return caps.hedge_after_ms === undefined ? undefined : { ms: caps.hedge_after_ms, source: 'hedge_after' };
}

function hedges(tasks: readonly Task[], caps: ScheduleCaps, now: number, busy: Occupancy): HedgeDecision[] {
  // One hedge per task, ever: a second would reuse the first's id, and a failed hedge says the class is no faster.
  const hedged = new Set(tasks.flatMap((task) => (task.hedge_of === undefined ? [] : [task.hedge_of])));
  const ids = new Set(tasks.map((task) => task.id));
  const decisions: HedgeDecision[] = [];
  for (const task of tasks) {
    const working = task.status === 'running' && (caps.holds_agent?.(task) ?? true);
    if (!working || task.hedge_of !== undefined || hedged.has(task.id) || task.started_at === undefined) continue;
    const threshold = hedgeThreshold(task, caps);
    const duplicateId = `${task.id}~hedge`;
    if (!threshold || now - task.started_at < threshold.ms || busy.total >= caps.max_agents || ids.has(duplicateId)) continue;
    const workerClass = (caps.hedge_classes ?? []).find(
      (name) => name !== task.worker_class && (caps.per_class?.[name] ?? Infinity) > (busy.classes.get(name) ?? 0),
    );
    if (workerClass === undefined) continue;
    busy.take({ ...task, id: duplicateId, worker_class: workerClass, hedge_of: task.id });
    const late = `running ${now - task.started_at} ms, past ${threshold.source} (${threshold.ms} ms)`;
    decisions.push({
      task: task.id,
      duplicate: duplicateId,
      worker_class: workerClass,
      rationale: `${late}: a duplicate on ${workerClass}, the first success is adopted`,
    });
  }
  return decisions;
}

export interface HedgeSettlement {
  /** The task whose result is adopted, once one succeeded. */
  adopt?: string;
  cancel: string[];
  /** The hedge pair failed on both sides. */
  failed: boolean;
  rationale: string;
}

function finishedAt(task: Task): number {
  return (task.started_at ?? 0) + (task.result?.duration_ms ?? 0);
}

/** A hedge pair: the first success is adopted and the other cancelled; a failure waits for the other side. */
export function settleHedge(original: Task, duplicate: Task): HedgeSettlement {
  const won = [original, duplicate].filter((task) => task.status === 'completed' && task.result?.success === true);
  const first = won.sort((a, b) => finishedAt(a) - finishedAt(b))[0];
  if (first) {
    const other = first === original ? duplicate : original;
    const cancel = isSettled(other.status) ? [] : [other.id];
    return { adopt: first.id, cancel, failed: false, rationale: `${first.id} succeeded first (at ${finishedAt(first)})` };
  }
  const lost = (task: Task): boolean => isSettled(task.status);
  if (lost(original) && lost(duplicate))
    return { cancel: [], failed: true, rationale: `neither ${original.id} nor ${duplicate.id} succeeded` };
  return { cancel: [], failed: false, rationale: 'no success yet: waiting for the other side' };
}

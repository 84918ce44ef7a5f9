// Builds the cockpit's run views from the stored runs (host side only: it reads the core's
// budgeter, which a webview bundle must not pull in).
import { judgeBudget } from '../core/runs/budget';
import { runKpis } from '../core/runs/kpi';
import { TASK_STATUSES, usageOf, type Run, type Task, type TaskStatus } from '../core/runs/model';
import type { BudgetBarView, RunKpisView, RunTaskView, RunView } from './runs';

/** Runs the tree and the dashboard show: the newest; older ones stay in the store and the CLI. */
export const RUNS_SHOWN = 50;

/**
 * Each task's layer: 0 without dependencies, else one more than its deepest dependency. A cycle
 * (the schema does not forbid one) is cut where it closes, so a bad plan still draws.
 */
export function taskDepths(tasks: readonly Pick<Task, 'id' | 'depends_on'>[]): Map<string, number> {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  for (const root of tasks) {
    // Iterative depth-first walk: a 1,000-task chain must not overflow the stack.
    const stack: { id: string; next: number }[] = [{ id: root.id, next: 0 }];
    while (stack.length) {
      const frame = stack[stack.length - 1] as { id: string; next: number };
      if (depth.has(frame.id)) {
        stack.pop();
        continue;
      }
      visiting.add(frame.id);
      const deps = byId.get(frame.id)?.depends_on ?? [];
      const dep = deps[frame.next];
      if (dep !== undefined) {
        frame.next++;
        if (byId.has(dep) && !depth.has(dep) && !visiting.has(dep)) stack.push({ id: dep, next: 0 });
        continue;
      }
      const below = deps.map((d) => depth.get(d)).filter((d): d is number => d !== undefined);
      depth.set(frame.id, below.length ? Math.max(...below) + 1 : 0);
      visiting.delete(frame.id);
      stack.pop();
    }
  }
  return depth;
}

function taskView(task: Task, depth: number, gate: RunTaskView['gate']): RunTaskView {
  const usage = task.result?.usage;
  return {
    id: task.id,
    type: task.type,
    status: task.status,
    ...(task.stage ? { stage: task.stage } : {}),
    ...(task.worker_class ? { workerClass: task.worker_class } : {}),
    usd: usage?.usd ?? 0,
    tokens: usage ? usage.tokens_in + usage.tokens_out : 0,
    attempts: task.attempts,
    ...(task.branch ? { branch: task.branch } : {}),
    ...(task.result?.error
      ? { error: task.result.error }
      : task.status === 'failed' && task.result && !task.result.success
        ? { error: tail(task.result.output) }
        : {}),
    dependsOn: task.depends_on,
    ...(task.hedge_of ? { hedgeOf: task.hedge_of } : {}),
    ...(task.repair_of ? { repairOf: task.repair_of } : {}),
    ...(task.row ? { row: task.row } : {}),
    depth,
    ...(task.started_at !== undefined ? { startedAt: task.started_at } : {}),
    ...(task.finished_at !== undefined ? { finishedAt: task.finished_at } : {}),
    ...(gate ? { gate } : {}),
  };
}

/** The last lines of a worker's output, when a failure carries no error of its own. */
function tail(output: string): string | undefined {
  const text = output.trim();
  if (!text) return undefined;
  return text.split('\n').slice(-3).join('\n').slice(-400);
}

function handoffText(handoff: unknown): string | undefined {
  if (handoff === undefined || handoff === null) return undefined;
  if (typeof handoff === 'string') return handoff;
  if (typeof handoff === 'object' && 'summary' in handoff && typeof handoff.summary === 'string') return handoff.summary;
  return JSON.stringify(handoff, null, 1);
}

export function runView(run: Run, now: number): RunView {
  // A hedge or a repair is drawn after the task it duplicates or repairs, not beside it.
  const depths = taskDepths(
    run.tasks.map((t) => ({
      id: t.id,
      depends_on: [...t.depends_on, ...(t.hedge_of ? [t.hedge_of] : []), ...(t.repair_of ? [t.repair_of] : [])],
    })),
  );
  const gates = run.gates ?? [];
  const pendingGate = new Map(gates.filter((g) => g.status === 'pending' && g.task).map((g) => [g.task as string, g.step]));
  const usage = usageOf(run.tasks);
  // A finished run's wall time stops at its end; one never started has spent none.
  const start = run.started_at ?? run.created_at;
  const end = run.finished_at ?? (run.status === 'planning' && run.started_at === undefined ? start : now);
  const verdict = judgeBudget(run.budgets, usage, start, end);
  const spent: Record<BudgetBarView['dimension'], number> = {
    usd: usage.usd,
    tokens: usage.tokens_in + usage.tokens_out,
    wall_ms: Math.max(0, end - start),
  };
  const bars: BudgetBarView[] = (['usd', 'tokens', 'wall_ms'] as const).map((dimension) => {
    const line = verdict.lines.find((l) => l.dimension === dimension);
    return line
      ? { dimension, spent: line.spent, cap: line.cap, ...(Number.isFinite(line.fraction) ? { fraction: line.fraction } : { fraction: 1 }) }
      : { dimension, spent: spent[dimension] };
  });
  const counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
  for (const task of run.tasks) counts[task.status]++;
  const handoff = handoffText(run.handoff);
  return {
    id: run.id,
    goal: run.goal,
    profile: run.profile,
    mode: run.mode,
    status: run.status,
    createdAt: run.created_at,
    ...(run.started_at !== undefined ? { startedAt: run.started_at } : {}),
    ...(run.finished_at !== undefined ? { finishedAt: run.finished_at } : {}),
    ...(run.by ? { by: run.by } : {}),
    ...(run.killed_by ? { killedBy: run.killed_by } : {}),
    usd: usage.usd,
    tokens: usage.tokens_in + usage.tokens_out,
    budget: { state: verdict.state, rationale: verdict.rationale, bars },
    counts,
    tasks: run.tasks.map((t) => taskView(t, depths.get(t.id) ?? 0, pendingGate.get(t.id))),
    decisions: run.decisions ?? [],
    gates,
    ...(handoff ? { handoff } : {}),
  };
}

/** The runs the cockpit shows, newest first. */
export function runViews(runs: readonly Run[], now: number): RunView[] {
  return [...runs]
    .sort((a, b) => b.created_at - a.created_at || a.id.localeCompare(b.id))
    .slice(0, RUNS_SHOWN)
    .map((run) => runView(run, now));
}

/** The run KPIs (core/runs/kpi.ts) over every stored run, in the dashboard's words; "no value yet" is undefined. */
export function runKpisView(runs: readonly Run[]): RunKpisView {
  const kpis = runKpis(runs);
  const { p50, p95 } = kpis.lead_time_ms;
  return {
    ...(kpis.cost_per_merged_change_usd !== null ? { costPerMergedChange: kpis.cost_per_merged_change_usd } : {}),
    ...(kpis.tokens_per_successful_task !== null ? { tokensPerSuccessfulTask: kpis.tokens_per_successful_task } : {}),
    ...(kpis.acceptance_without_rework !== null ? { acceptanceWithoutRework: kpis.acceptance_without_rework } : {}),
    ...(p50 !== null ? { leadTimeP50: p50 } : {}),
    ...(p95 !== null ? { leadTimeP95: p95 } : {}),
    successRateByClass: Object.entries(kpis.success_rate_by_class)
      .map(([workerClass, rate]) => ({ workerClass, rate: rate.rate, tasks: rate.tasks }))
      .sort((a, b) => b.tasks - a.tasks || a.workerClass.localeCompare(b.workerClass)),
    mergedChanges: kpis.merged_changes,
    runs: kpis.runs,
  };
}

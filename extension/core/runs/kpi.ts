// The operator's KPIs (issue 13, item 10), over stored runs: what a merged change costs, what a
// successful task costs in tokens, how often each worker class succeeds, how often a change merges
// without rework, and the lead time from a ticket to its merge.
import { usageOf, type Run, type Task } from './model';

export interface ClassRate {
  tasks: number;
  succeeded: number;
  rate: number;
}

export interface RunKpis {
  /** Everything the runs spent (failures, hedges and earlier attempts included) per merged change. */
  cost_per_merged_change_usd: number | null;
  /** Every token spent per task that completed. */
  tokens_per_successful_task: number | null;
  /** Per worker class: tasks that finished on it (a result came back), and those whose result stood. */
  success_rate_by_class: Record<string, ClassRate>;
  /** Changes merged at their first attempt, without a repair task, of all changes that reached the merge step. */
  acceptance_without_rework: number | null;
  /** Ticket → merge: per ticket run that completed (created to last merge), per merged progress row. */
  lead_time_ms: { p50: number | null; p95: number | null };
  merged_changes: number;
  runs: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? null;
}

function merged(task: Task): boolean {
  return task.stage === 'merged' && task.status === 'completed';
}

/** A result stood when its task completed, or it succeeded and was cancelled only because its hedge twin came first. */
function stood(task: Task): boolean {
  if (task.status === 'completed') return true;
  return task.status === 'cancelled' && task.result?.success === true;
}

function classRates(tasks: readonly Task[]): Record<string, ClassRate> {
  const rates: Record<string, ClassRate> = {};
  for (const task of tasks) {
    if (task.worker_class === undefined || !task.result) continue;
    const entry = (rates[task.worker_class] ??= { tasks: 0, succeeded: 0, rate: 0 });
    entry.tasks++;
    if (stood(task)) entry.succeeded++;
  }
  for (const entry of Object.values(rates)) entry.rate = entry.succeeded / entry.tasks;
  return rates;
}

/** A change reached the merge step when its result was promoted or put to a person. */
function reachedMerge(task: Task): boolean {
  return task.stage === 'approval' || task.stage === 'promote' || task.stage === 'queued' || task.stage === 'merged';
}

function withoutRework(task: Task): boolean {
  return merged(task) && task.repair_of === undefined && task.attempts <= 1;
}

function leadTimes(runs: readonly Run[]): number[] {
  const times: number[] = [];
  for (const run of runs) {
    const mergedAt = run.tasks.filter(merged).map((task) => task.finished_at ?? run.created_at);
    if (run.goal.kind === 'progress') times.push(...mergedAt.map((at) => at - run.created_at));
    else if (run.status === 'completed' && mergedAt.length > 0) times.push(Math.max(...mergedAt) - run.created_at);
  }
  return times.filter((ms) => ms >= 0).sort((a, b) => a - b);
}

export function runKpis(runs: readonly Run[]): RunKpis {
  const tasks = runs.flatMap((run) => run.tasks);
  const usage = usageOf(tasks);
  const mergedCount = tasks.filter(merged).length;
  const succeeded = tasks.filter((task) => task.status === 'completed').length;
  const proposed = tasks.filter(reachedMerge);
  const times = leadTimes(runs);
  return {
    cost_per_merged_change_usd: mergedCount > 0 ? usage.usd / mergedCount : null,
    tokens_per_successful_task: succeeded > 0 ? (usage.tokens_in + usage.tokens_out) / succeeded : null,
    success_rate_by_class: classRates(tasks),
    acceptance_without_rework: proposed.length > 0 ? proposed.filter(withoutRework).length / proposed.length : null,
    lead_time_ms: { p50: percentile(times, 50), p95: percentile(times, 95) },
    merged_changes: mergedCount,
    runs: runs.length,
  };
}

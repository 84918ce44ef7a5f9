// The budgeter (issue 13): per-run caps on USD, tokens and wall time, a per-task token cap, a cheaper
// worker class past `degrade_at`, and a hard stop that ends the run with a hand-off summary, as data.
import { usageOf, type Budgets, type Run, type Task, type Usage } from './model';

export type BudgetDimension = 'usd' | 'tokens' | 'wall_ms';
export type BudgetState = 'ok' | 'degrade' | 'stop';

export interface BudgetLine {
  dimension: BudgetDimension;
  spent: number;
  cap: number;
  /** spent / cap. */
  fraction: number;
}

export interface BudgetVerdict {
  state: BudgetState;
  lines: BudgetLine[];
  /** The lines that drove the state (at or past the cap for stop, past degrade_at for degrade). */
  because: BudgetDimension[];
  rationale: string;
}

/** Default fraction of a cap past which the router picks a cheaper class. */
export const DEFAULT_DEGRADE_AT = 0.8;

/** Where the run stands against its caps at `now`; a cap of 0 is spent from the start. */
export function judgeBudget(budgets: Budgets, usage: Usage, startedAt: number, now: number, degradeAt = DEFAULT_DEGRADE_AT): BudgetVerdict {
  const spent: Record<BudgetDimension, number> = {
    usd: usage.usd,
    tokens: usage.tokens_in + usage.tokens_out,
    wall_ms: Math.max(0, now - startedAt),
  };
  const lines: BudgetLine[] = [];
  for (const dimension of ['usd', 'tokens', 'wall_ms'] as const) {
    const cap = budgets[dimension];
    if (cap === undefined) continue;
    lines.push({ dimension, spent: spent[dimension], cap, fraction: cap === 0 ? Infinity : spent[dimension] / cap });
  }
  const over = lines.filter((line) => line.spent >= line.cap);
  if (over.length > 0) {
    return {
      state: 'stop',
      lines,
      because: over.map((line) => line.dimension),
      rationale: `cap reached: ${over.map(describe).join('; ')}`,
    };
  }
  const near = lines.filter((line) => line.fraction >= degradeAt);
  if (near.length > 0) {
    const why = `past ${Math.round(degradeAt * 100)}% of a cap: ${near.map(describe).join('; ')}`;
    return { state: 'degrade', lines, because: near.map((line) => line.dimension), rationale: `${why}; cheaper classes from now on` };
  }
  return {
    state: 'ok',
    lines,
    because: [],
    rationale: lines.length > 0 ? `within budget: ${lines.map(describe).join('; ')}` : 'no caps set',
  };
}

function describe(line: BudgetLine): string {
  const unit = line.dimension === 'usd' ? ' USD' : line.dimension === 'tokens' ? ' tokens' : ' ms';
  const amount = (value: number): string => (line.dimension === 'usd' ? value.toFixed(2) : String(Math.round(value)));
  return `${amount(line.spent)} of ${amount(line.cap)}${unit}`;
}

export interface ClassChoice {
  worker_class: string;
  degraded: boolean;
  rationale: string;
}

/**
 * The class a task runs on given the verdict: the preferred class while within budget, else the next
 * cheaper one in `byCost` (classes from dearest to cheapest). No cheaper class: the preferred one, said so.
 */
export function classUnderBudget(preferred: string, byCost: readonly string[], verdict: BudgetVerdict): ClassChoice {
  if (verdict.state === 'ok') return { worker_class: preferred, degraded: false, rationale: 'within budget: the routed class' };
  const at = byCost.indexOf(preferred);
  const cheaper = at >= 0 ? byCost[at + 1] : byCost[byCost.length - 1];
  if (cheaper === undefined || cheaper === preferred) {
    return { worker_class: preferred, degraded: false, rationale: `${verdict.rationale}; no class is cheaper than ${preferred}` };
  }
  return { worker_class: cheaper, degraded: true, rationale: `${verdict.rationale}; ${cheaper} instead of ${preferred}` };
}

/** A task over its own token cap (the run's `task_tokens`) is stopped, whatever the run has left. */
export function taskOverCap(task: Task, budgets: Budgets): string | undefined {
  const cap = budgets.task_tokens;
  const usage = task.result?.usage;
  if (cap === undefined || !usage) return undefined;
  const used = usage.tokens_in + usage.tokens_out;
  return used > cap ? `${task.id} used ${used} tokens, over the per-task cap of ${cap}` : undefined;
}

export interface HandoffItem {
  task: string;
  type: string;
  status: Task['status'];
  /** For a done task: its commit; for a task left: why it did not finish. */
  note: string;
}

/** What a stopped run hands to a person: what is done, what is left and why it stopped. Never a silent kill. */
export interface Handoff {
  run: string;
  /** How the run ended: a budget stop or a failure (`failed`), or a person's kill switch (`killed`). */
  status: 'failed' | 'killed';
  why: string;
  because: BudgetDimension[];
  usage: Usage;
  done: HandoffItem[];
  left: HandoffItem[];
  /** Running tasks to stop (their workers and worktrees), as the hard stop's actions. */
  stop: string[];
}

/** The hard stop: the run ends `failed` with the summary; the verdict must be `stop`. */
export function handoff(run: Run, verdict: BudgetVerdict): Handoff {
  const done = run.tasks.filter((task) => task.status === 'completed');
  const left = run.tasks.filter((task) => task.status !== 'completed');
  const leftNote = (task: Task): string => {
    if (task.status === 'running') return 'stopped by the budget while running';
    if (task.status === 'pending') return 'not started: the budget ran out';
    return task.result?.error ?? task.status;
  };
  return {
    run: run.id,
    status: 'failed',
    why: `budget exhausted: ${verdict.rationale}`,
    because: verdict.because,
    usage: usageOf(run.tasks),
    done: done.map((task) => ({ task: task.id, type: task.type, status: task.status, note: task.result?.commit_sha ?? 'no commit' })),
    left: left.map((task) => ({ task: task.id, type: task.type, status: task.status, note: leftNote(task) })),
    stop: run.tasks.filter((task) => task.status === 'running').map((task) => task.id),
  };
}

// The cockpit's view of the operator's runs (issue 13): what the Runs tree, the run panel, the
// progress notifications and the dashboard's run KPIs render. Plain data built by the host
// (protocol/runView.ts); this file holds only types and pure wording, so a webview that imports it
// bundles no zod and no core code.
import type { RunDecision, RunGate, RunStatus, Task, TaskStatus } from '../core/runs/model';
import type { BudgetDimension, BudgetState } from '../core/runs/budget';

export type { RunDecision, RunGate, RunStatus, TaskStatus } from '../core/runs/model';
export type { BudgetDimension, BudgetState } from '../core/runs/budget';

/** One task as the tree row, the DAG node and the task table show it. */
export interface RunTaskView {
  id: string;
  type: string;
  status: TaskStatus;
  stage?: NonNullable<Task['stage']>;
  workerClass?: string;
  usd: number;
  tokens: number;
  attempts: number;
  branch?: string;
  error?: string;
  dependsOn: string[];
  hedgeOf?: string;
  repairOf?: string;
  row?: string;
  /** The task's layer in the DAG: 0 without dependencies, else one more than its deepest dependency. */
  depth: number;
  startedAt?: number;
  finishedAt?: number;
  /** A pending gate waits on this task (its step). */
  gate?: RunGate['step'];
}

/** One budget bar: spent against the run's cap (absent cap: no bar, the spend is still shown). */
export interface BudgetBarView {
  dimension: BudgetDimension;
  spent: number;
  cap?: number;
  /** spent / cap, when there is a cap. */
  fraction?: number;
}

export interface RunView {
  id: string;
  goal: { kind: 'ticket' | 'progress'; text: string };
  profile: string;
  mode: 'plan' | 'apply';
  status: RunStatus;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  by?: string;
  killedBy?: string;
  usd: number;
  tokens: number;
  /** The budgeter's verdict now, with one bar per dimension (USD, tokens, wall time). */
  budget: { state: BudgetState; rationale: string; bars: BudgetBarView[] };
  /** Tasks per status, for the run's label and the progress notification. */
  counts: Record<TaskStatus, number>;
  tasks: RunTaskView[];
  /** Newest last, as the store keeps them. */
  decisions: RunDecision[];
  gates: RunGate[];
  /** Why the run stopped early, as text (the hand-off summary). */
  handoff?: string;
}

/**
 * The run KPIs of issue 13 item 10. Each is undefined until there is something to measure (a rate
 * of no tasks is no rate): the dashboard then says so instead of showing 0.
 */
export interface RunKpisView {
  /** USD spent by runs per change of theirs that merged. */
  costPerMergedChange?: number;
  /** Tokens (in + out) per completed task. */
  tokensPerSuccessfulTask?: number;
  /** Per worker class: the share of its settled tasks that completed. */
  successRateByClass: { workerClass: string; rate: number; tasks: number }[];
  /** The share of merged changes that needed no repair task. */
  acceptanceWithoutRework?: number;
  /** Lead time ticket (task created) → merge, percentiles in ms. */
  leadTimeP50?: number;
  leadTimeP95?: number;
  /** What the numbers are over. */
  mergedChanges: number;
  runs: number;
}

/** What the run panel renders: the run (undefined once it is gone from the store) and the clock. */
export interface RunPanelState {
  run?: RunView;
  /** The run the panel was opened on, also when it is gone. */
  id: string;
  /** A task to select and scroll to; `seq` grows with each request, so asking twice selects twice. */
  focus?: { task: string; seq: number };
  trusted: boolean;
  now: number;
}

export type RunRequest =
  | { kind: 'kill' }
  | { kind: 'retry'; task: string }
  | { kind: 'approve'; step: RunGate['step']; task?: string }
  | { kind: 'reject'; step: RunGate['step']; task?: string; reason: string }
  | { kind: 'openBranch'; branch: string };

const STEPS: readonly string[] = ['plan', 'apply', 'execute', 'merge', 'deploy'];
const SHORT_NAME = /^[A-Za-z0-9][A-Za-z0-9._~/-]{0,255}$/;

/** A message from the run panel's page, checked field by field: the page is not trusted to send only what it should. */
export function isRunRequest(value: unknown): value is RunRequest {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  const optionalTask = r.task === undefined || (typeof r.task === 'string' && SHORT_NAME.test(r.task));
  switch (r.kind) {
    case 'kill':
      return true;
    case 'retry':
      return typeof r.task === 'string' && SHORT_NAME.test(r.task);
    case 'approve':
      return typeof r.step === 'string' && STEPS.includes(r.step) && optionalTask;
    case 'reject':
      return typeof r.step === 'string' && STEPS.includes(r.step) && optionalTask && typeof r.reason === 'string' && r.reason.trim() !== '';
    case 'openBranch':
      return typeof r.branch === 'string' && SHORT_NAME.test(r.branch);
    default:
      return false;
  }
}

/** A run is live while it may still spend: the Kill button and the progress notification follow this. */
export function isLive(status: RunStatus): boolean {
  return status === 'planning' || status === 'running' || status === 'awaiting-approval';
}

export function usd(value: number): string {
  return value >= 100 ? `$${value.toFixed(0)}` : `$${value.toFixed(2)}`;
}

export function tokens(value: number): string {
  if (value >= 1_000_000) return `${(value / 1_000_000).toFixed(1)}M`;
  if (value >= 10_000) return `${Math.round(value / 1000)}k`;
  if (value >= 1000) return `${(value / 1000).toFixed(1)}k`;
  return String(value);
}

/** The settled tasks of a run (completed, failed or cancelled) and its total. */
export function settled(run: Pick<RunView, 'counts' | 'tasks'>): { settled: number; total: number } {
  return { settled: run.counts.completed + run.counts.failed + run.counts.cancelled, total: run.tasks.length };
}

/**
 * A run row's description: its status first (a narrow sidebar cuts the end), then tasks settled,
 * then the budget used (the tightest cap's share, or the spend when there is no cap).
 */
export function runDescription(run: RunView): string {
  const { settled: done, total } = settled(run);
  const tightest = run.budget.bars
    .filter((b): b is BudgetBarView & { fraction: number } => b.fraction !== undefined)
    .sort((a, b) => b.fraction - a.fraction)[0];
  const budget = tightest ? `${Math.round(Math.min(tightest.fraction, 9.99) * 100)}% of ${budgetWord(tightest.dimension)} cap` : 'no cap';
  const failed = run.counts.failed ? ` · ${run.counts.failed} failed` : '';
  return `${run.status} · ${done}/${total} tasks${failed} · ${usd(run.usd)} · ${budget}`;
}

export function budgetWord(dimension: BudgetDimension): string {
  return dimension === 'usd' ? 'USD' : dimension === 'tokens' ? 'token' : 'time';
}

/** A task row's description: status (and stage), class, cost. */
export function taskDescription(task: RunTaskView): string {
  const status = task.gate
    ? `awaiting ${task.gate} approval`
    : task.stage && task.status === 'running'
      ? `${task.status} (${task.stage})`
      : task.status;
  return [status, task.workerClass ?? 'no class yet', usd(task.usd), task.attempts > 1 ? `attempt ${task.attempts}` : undefined]
    .filter(Boolean)
    .join(' · ');
}

/** A run approval's subject in the Approvals view and the dashboard: the step and the run, not a change. */
export function approvalSubject(approval: {
  actionClass: string;
  kind: string;
  run?: string;
  step?: string;
  task?: string;
  change?: string;
  incident?: string;
}): string {
  if (approval.actionClass === 'run' && approval.run)
    return `${approval.step ?? 'step'} step of run ${approval.run}${approval.task ? ` (task ${approval.task})` : ''}`;
  return `${approval.kind} ${approval.change ?? approval.incident ?? ''}`.trim();
}

// The operator's run and task model (SPEC §11, issue 13): plain JSON data, stated once as zod
// schemas so the store, the CLI and (later) the HTTP API validate what they read with the same rules.
import { z } from 'zod';
import type { BuildStatus } from '../model';

export const RUN_STATUSES = ['planning', 'running', 'awaiting-approval', 'completed', 'failed', 'killed'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const RUN_MODES = ['plan', 'apply'] as const;
export type RunMode = (typeof RUN_MODES)[number];
/** The audit statuses of the build-orchestration seed; the same words as a fix's BuildRecord. */
export const TASK_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const satisfies readonly BuildStatus[];
export type TaskStatus = BuildStatus;
/** Known task types; a planner may name others (e.g. `migration`), so the schema accepts any short word. */
export const TASK_TYPES = ['spec', 'code', 'test', 'docs', 'review', 'fix', 'change'] as const;

const count = z.number().int().nonnegative();
const name = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._~-]*$/, 'letters, digits, ".", "_", "~" and "-" only');

export const usageSchema = z.object({ tokens_in: count, tokens_out: count, usd: z.number().nonnegative() });
export type Usage = z.infer<typeof usageSchema>;

/** A run's caps; an absent cap is no cap. `task_tokens` caps each task's own tokens. */
export const budgetsSchema = z.object({
  tokens: count.optional(),
  usd: z.number().nonnegative().optional(),
  wall_ms: count.optional(),
  task_tokens: count.optional(),
});
export type Budgets = z.infer<typeof budgetsSchema>;

/** What a worker is asked to do (build-orchestration seed's BuildSpec, plus the builder loop's contract). */
export const buildSpecSchema = z.object({
  prompt: z.string().min(1),
  template: z.string().optional(),
  variables: z.record(z.string(), z.string()),
  /** Globs (picomatch) the task may write; promotion rejects anything else. */
  write_scope: z.array(z.string().min(1)),
  test_commands: z.array(z.string().min(1)),
  done_signal: z.string().optional(),
  auto_commit: z.boolean(),
});
export type BuildSpec = z.infer<typeof buildSpecSchema>;

export const buildResultSchema = z.object({
  success: z.boolean(),
  output: z.string(),
  error: z.string().optional(),
  commit_sha: z.string().optional(),
  files_changed: z.array(z.string()),
  duration_ms: count,
  artifacts: z.array(z.string()),
  usage: usageSchema,
});
export type BuildResult = z.infer<typeof buildResultSchema>;

export const taskSchema = z.object({
  id: name,
  type: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'a lowercase word such as spec, code, test, docs, review or fix'),
  spec: buildSpecSchema,
  depends_on: z.array(name),
  /** The lane whose queue the result enters (per-lane caps count it there). */
  lane: z.string().optional(),
  /** The worker class chosen by the router, once chosen. */
  worker_class: z.string().optional(),
  attempts: count,
  status: z.enum(TASK_STATUSES),
  /** `now` when it last started, as the clock port gives it (ms). */
  started_at: count.optional(),
  /** Set on a hedge: the task it duplicates. */
  hedge_of: name.optional(),
  result: buildResultSchema.optional(),
  /**
   * Where a task stands inside its audit status: `work` (a worker is writing), `verify` (its
   * test_commands run on the result), `approval` (a gated step waits for a person), `promote` (the
   * shell is putting its result on a branch in its lane's queue), `queued` (its branch is in its
   * lane's queue), `merged` (its change merged: the task is completed).
   */
  stage: z.enum(['work', 'verify', 'approval', 'promote', 'queued', 'merged']).optional(),
  /** The branch its result is promoted to (`buildmaster/task/<run>/<task>`), once promoted. */
  branch: z.string().optional(),
  /** The progress row the task came from. */
  row: z.string().optional(),
  /** Set on a repair task: the task whose failure it repairs. */
  repair_of: name.optional(),
  /** The worker's process id and worktree while it runs, so a kill or a restart can clean them up. */
  pid: z.number().int().positive().optional(),
  worktree: z.string().optional(),
  finished_at: count.optional(),
  /** The merge commit of its change, once merged. */
  merged_sha: z.string().optional(),
  /** What earlier attempts spent (a retry starts afresh, but their cost was spent and counts against the budget). */
  earlier_usage: usageSchema.optional(),
  /** A review task's verdict: `reject` cancels what depends on it. */
  verdict: z.enum(['approve', 'reject']).optional(),
});
export type Task = z.infer<typeof taskSchema>;

/** One decision of a run, with its rationale (the cockpit's timeline and `run show`). */
export const runDecisionSchema = z.object({
  at: count,
  kind: z.string(),
  task: z.string().optional(),
  worker_class: z.string().optional(),
  rationale: z.string(),
});
export type RunDecision = z.infer<typeof runDecisionSchema>;

/** A gated step: an approval in the controller's approval queue, named by the run and step. */
export const runGateSchema = z.object({
  step: z.enum(['plan', 'apply', 'execute', 'merge', 'deploy']),
  task: z.string().optional(),
  /** The approval's id in the approval queue. */
  approval: z.string(),
  status: z.enum(['pending', 'approved', 'rejected']),
});
export type RunGate = z.infer<typeof runGateSchema>;

/** A run's tasks name each other: ids are unique and every dependency and hedge names a task of the run. */
function checkGraph(tasks: readonly Task[], context: z.RefinementCtx): void {
  const ids = new Set<string>();
  tasks.forEach((task, index) => {
    if (ids.has(task.id)) context.addIssue({ code: 'custom', path: [index, 'id'], message: `duplicate task id "${task.id}"` });
    ids.add(task.id);
  });
  tasks.forEach((task, index) => {
    for (const dep of task.depends_on) {
      if (!ids.has(dep))
        context.addIssue({ code: 'custom', path: [index, 'depends_on'], message: `depends on "${dep}", which is no task of the run` });
    }
    if (task.hedge_of !== undefined && !ids.has(task.hedge_of)) {
      context.addIssue({ code: 'custom', path: [index, 'hedge_of'], message: `hedges "${task.hedge_of}", which is no task of the run` });
    }
  });
}

export const runSchema = z.object({
  id: name,
  goal: z.object({ kind: z.enum(['ticket', 'progress']), text: z.string() }),
  profile: z.string().min(1),
  mode: z.enum(RUN_MODES),
  budgets: budgetsSchema,
  status: z.enum(RUN_STATUSES),
  created_at: count,
  tasks: z.array(taskSchema).superRefine(checkGraph),
  started_at: count.optional(),
  finished_at: count.optional(),
  /** Decisions with rationales, newest last (bounded by the store). */
  decisions: z.array(runDecisionSchema).optional(),
  gates: z.array(runGateSchema).optional(),
  /** The progress file the run's rows came from, to report rows done. */
  progress: z.object({ file: z.string(), rows: z.array(z.string()) }).optional(),
  /** Why the run stopped early (budget, kill, failure): what is done, what is left. */
  handoff: z.unknown().optional(),
  /** Who started it (the operator name) and who killed it, if anyone. */
  by: z.string().optional(),
  killed_by: z.string().optional(),
});
export type Run = z.infer<typeof runSchema>;

export const NO_USAGE: Usage = { tokens_in: 0, tokens_out: 0, usd: 0 };

export function addUsage(a: Usage, b: Usage): Usage {
  return { tokens_in: a.tokens_in + b.tokens_in, tokens_out: a.tokens_out + b.tokens_out, usd: a.usd + b.usd };
}

/** The usage of every result the tasks have so far (a hedge's cost counts: it was spent), and of earlier attempts. */
export function usageOf(tasks: readonly Task[]): Usage {
  let total = NO_USAGE;
  for (const task of tasks) {
    for (const usage of [task.result?.usage, task.earlier_usage]) {
      if (usage) total = addUsage(total, usage);
    }
  }
  return total;
}

/** Statuses a task never leaves. */
export function isSettled(status: TaskStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

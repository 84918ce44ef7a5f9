// The `runs:` section of the policy file (SPEC §11, issue 13): worker classes, the router, caps,
// budgets, templates, the planner command and autonomy profiles. Every key has a default, so a policy
// without `runs:` plans progress files with one agent and no worker class (apply then says what to add).
import { z } from 'zod';
import { AUTONOMY_LEVELS, envNames, optionalDuration, strings, timeout } from '../policy/fields';
import { compileRouter } from './router';

/** The operator's action classes (autonomy roadmap): each run step is gated by the profile's level for it. */
export const RUN_ACTIONS = ['plan', 'generate', 'execute', 'merge', 'deploy'] as const;
export type RunAction = (typeof RUN_ACTIONS)[number];

const className = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'a worker class is a lowercase word such as premium, code, fast or local');

/** A worker class: any coding-agent CLI, the prompt on stdin, in a fresh worktree, with a scrubbed environment. */
export const workerClassSchema = z.strictObject({
  name: className,
  command: z.string().min(1),
  timeout: timeout('30m'),
  /** Environment variables passed through (an API key's name, never its value). */
  env: envNames,
  /** Prices for an agent that reports tokens but not USD (USD per million tokens). */
  usd_per_mtok_in: z.number().nonnegative().default(0),
  usd_per_mtok_out: z.number().nonnegative().default(0),
  /** Relative cost rank used to degrade: a lower number is cheaper. Defaults to the order in the list, dearest first. */
  cost_rank: z.number().int().nonnegative().optional(),
});
export type WorkerClass = z.output<typeof workerClassSchema>;

/** A routing rule: a CEL expression over the task and the budget; the first true rule's class is used. */
export const routeRuleSchema = z.strictObject({
  when: z.string().min(1),
  use: className,
  /** Classes to try, in order, when `use` is at its cap or unknown to this run. */
  fallback: z.array(className).default([]),
});
export type RouteRule = z.output<typeof routeRuleSchema>;

export const templateTaskSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'a template task id is a lowercase word such as spec, code or tests'),
  type: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/),
  /** The instruction; `{{ticket}}`, `{{title}}` and the ids of earlier tasks' `{{<id>.files}}` are filled in. */
  prompt: z.string().min(1),
  depends_on: z.array(z.string()).default([]),
  write_scope: strings(['**']),
  test_commands: strings([]),
  lane: z.string().min(1).optional(),
});
export type TemplateTask = z.output<typeof templateTaskSchema>;

const profileSchema = z.strictObject(
  Object.fromEntries(RUN_ACTIONS.map((action) => [action, z.enum(AUTONOMY_LEVELS).optional()])) as Record<
    RunAction,
    z.ZodOptional<z.ZodEnum<{ [K in (typeof AUTONOMY_LEVELS)[number]]: K }>>
  >,
);

export const runsPolicySchema = z
  .strictObject({
    /** Agents working at once, over every run. */
    max_agents: z.number().int().min(1).max(64).default(1),
    /** Progress rows past this phase are not selected. */
    max_phase: z.number().int().min(1).default(3),
    per_lane: z.record(z.string().min(1), z.number().int().min(1)).default({}),
    per_class: z.record(className, z.number().int().min(1)).default({}),
    /** A task running longer gets a duplicate on another class; absent: hedge only past the class's observed p90. */
    hedge_after: optionalDuration(),
    /** The profile a run uses when `--profile` is not given. */
    profile: z.string().min(1).default('prod-conservative'),
    /** Extra or overriding profiles: a level per action class; an unnamed class keeps prod-conservative's. */
    profiles: z.record(z.string().regex(/^[a-z][a-z0-9-]{0,31}$/), profileSchema).default({}),
    /** Default caps of a run; `--usd`, `--cap` and `--wall` override them. */
    budgets: z
      .strictObject({
        usd: z.number().nonnegative().optional(),
        tokens: z.number().int().nonnegative().optional(),
        wall: optionalDuration(),
        task_tokens: z.number().int().nonnegative().optional(),
      })
      .prefault({}),
    /** Past this fraction of any cap the router degrades to a cheaper class. */
    degrade_at: z.number().gt(0).max(1).default(0.8),
    workers: z.array(workerClassSchema).default([]),
    router: z
      .strictObject({
        rules: z.array(routeRuleSchema).default([]),
        /** The class when no rule matches; absent: the first worker class. */
        default: className.optional(),
        /** Learn per class and task type (cost, success, latency) and choose by Thompson sampling. */
        learn: z.boolean().default(false),
        /**
         * The learned choice's quality floor: only classes whose sampled success rate (tests passed and no
         * post-merge break) is at least this compete on cost; 0 turns it off (pure cost per success).
         */
        min_success: z.number().min(0).max(1).default(0.8),
      })
      .prefault({}),
    /** Ticket templates: a ticket becomes these tasks (spec → code → tests → docs by default). */
    templates: z.record(z.string().regex(/^[a-z][a-z0-9-]{0,31}$/), z.array(templateTaskSchema).min(1)).default({}),
    /** The template a ticket uses when no planner command is set. */
    template: z.string().default('feature'),
    /** An agent CLI that receives the ticket on stdin and prints the plan as JSON (see docs/runs.md). */
    planner: z.strictObject({ command: z.string().min(1).optional(), timeout: timeout('5m'), env: envNames }).prefault({}),
    /** A failed task spawns one repair task (type fix) with the failure's detail, once. */
    repair_tasks: z.boolean().default(true),
    /** Commands every task's result must pass before promotion when the task names none. */
    test_commands: strings([]),
  })
  // A router rule that does not compile, or names no worker class, is a policy problem at its line.
  .superRefine((runs, context) => {
    const compiled = compileRouter(runs);
    if (compiled.ok) return;
    for (const problem of compiled.problems) {
      context.addIssue({
        code: 'custom',
        path: problem.path.slice(1),
        message: problem.message,
        params: { kind: problem.code, hint: problem.hint },
      });
    }
  })
  .prefault({});
export type RunsPolicy = z.output<typeof runsPolicySchema>;

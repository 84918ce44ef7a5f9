// Builders for the run engine's unit tests: runs, tasks, results and a context with a fixed router.
import type { RiskTier } from '../../extension/core/model';
import type { BudgetVerdict } from '../../extension/core/runs/budget';
import type { RouteChoice, RunCommand, RunContext } from '../../extension/core/runs/engine';
import type { BuildResult, Run, Task } from '../../extension/core/runs/model';
import { runsPolicySchema, type RunsPolicy } from '../../extension/core/runs/policy';
import { resolveProfile, type Profile } from '../../extension/core/runs/profiles';

export function task(id: string, extra: Partial<Task> = {}, scope: string[] = [`${id}/**`]): Task {
  return {
    id,
    type: 'code',
    spec: { prompt: `do ${id}`, variables: {}, write_scope: scope, test_commands: ['npm test'], auto_commit: true },
    depends_on: [],
    attempts: 0,
    status: 'pending',
    ...extra,
  };
}

export function run(tasks: Task[], extra: Partial<Run> = {}): Run {
  return {
    id: 'r1',
    goal: { kind: 'ticket', text: 'a ticket' },
    profile: 'staging-aggressive',
    mode: 'apply',
    budgets: {},
    status: 'running',
    created_at: 0,
    tasks,
    ...extra,
  };
}

export function result(extra: Partial<BuildResult> = {}): BuildResult {
  return {
    success: true,
    output: 'done',
    files_changed: ['src/x.ts'],
    duration_ms: 10,
    artifacts: [],
    usage: { tokens_in: 100, tokens_out: 50, usd: 1 },
    ...extra,
  };
}

export function policy(extra: Record<string, unknown> = {}): RunsPolicy {
  return runsPolicySchema.parse({
    max_agents: 4,
    workers: [
      { name: 'premium', command: 'premium-agent' },
      { name: 'fast', command: 'fast-agent' },
    ],
    ...extra,
  });
}

export function profile(name = 'staging-aggressive', runs: RunsPolicy = policy()): Profile {
  const resolved = resolveProfile(runs, name);
  if (!resolved.ok) throw new Error(resolved.message);
  return resolved.profile;
}

export interface Routed {
  task: string;
  budget: BudgetVerdict['state'];
}

/** A context whose router picks `premium` (or `pick(task)`) and records what it was asked. */
export function context(extra: Partial<RunContext> = {}, pick?: (task: Task) => string, routed: Routed[] = []): RunContext {
  const runs = extra.runs ?? policy();
  return {
    runs,
    profile: profile('staging-aggressive', runs),
    now: 1_000,
    route: (each: Task, _run: Run, budget: BudgetVerdict): RouteChoice => {
      routed.push({ task: each.id, budget: budget.state });
      return { worker_class: pick ? pick(each) : 'premium', rationale: 'the test router', degraded: budget.state === 'degrade' };
    },
    tierOf: (): RiskTier => 'tier1',
    busyElsewhere: 0,
    ...extra,
  };
}

export function kinds(commands: readonly RunCommand[]): string[] {
  return commands.map((command) => `${command.kind}:${'task' in command && command.task !== undefined ? command.task : ''}`);
}

export function taskOf(of: Run, id: string): Task {
  const found = of.tasks.find((each) => each.id === id);
  if (!found) throw new Error(`no task ${id} in run ${of.id}`);
  return found;
}

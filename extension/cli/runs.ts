// `build-master run | runs | run show | kill --run | retry`: start a run from a ticket or a progress
// file and drive it in the foreground, list runs, show one, stop one, retry a task. Thin: reads the
// input, calls the planners and the driver (controller/drive.ts), prints.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { judgeBudget } from '../core/runs/budget';
import { parseTokens, parseUsd, parseWall } from '../core/runs/caps';
import { usageOf, type Budgets, type Run, type Task } from '../core/runs/model';
import { parseProgress, planRows } from '../core/runs/progress';
import { planFromTemplate, readTicket, type Ticket } from '../core/runs/template';
import { runKpis } from '../core/runs/kpi';
import { driveRun, nextRunId, profileOf, progressRows, saveNewRun } from '../controller/drive';
import type { Session } from '../controller/session';
import { runPlanner } from '../workers/planner/planner';
import { InputError } from '../ports';
import { headline } from '../core/text';
import { UsageError } from './validate';

export interface RunArgs {
  cwd: string;
  ticket?: string | undefined;
  progress?: string | undefined;
  profile?: string | undefined;
  cap?: string | undefined;
  usd?: string | undefined;
  wall?: string | undefined;
  template?: string | undefined;
  maxPhase?: string | undefined;
  resume?: string | undefined;
}

function readInput(cwd: string, given: string, what: string): { path: string; shown: string; text: string } {
  const path = resolve(cwd, given);
  const shown = relative(cwd, path) || path;
  try {
    if (statSync(path).isDirectory()) throw new InputError(`cannot read the ${what} ${shown}: it is a folder`);
    return { path, shown, text: readFileSync(path, 'utf8') };
  } catch (error) {
    if (error instanceof InputError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(
      `cannot read the ${what} ${shown}: ${code === 'ENOENT' ? 'it does not exist' : code === 'EACCES' ? 'permission denied' : (error as Error).message}`,
    );
  }
}

/** The run's caps: the policy's defaults, overridden by --usd, --cap and --wall. */
export function budgetsOf(session: Session, args: RunArgs): Budgets {
  const defaults = session.policy.runs.budgets;
  const budgets: Budgets = {
    ...(defaults.usd !== undefined ? { usd: defaults.usd } : {}),
    ...(defaults.tokens !== undefined ? { tokens: defaults.tokens } : {}),
    ...(defaults.wall !== undefined ? { wall_ms: defaults.wall } : {}),
    ...(defaults.task_tokens !== undefined ? { task_tokens: defaults.task_tokens } : {}),
  };
  const take = (value: number | { error: string }, option: string): number => {
    if (typeof value === 'number') return value;
    throw new UsageError(`--${option}: ${value.error}`);
  };
  if (args.usd !== undefined) budgets.usd = take(parseUsd(args.usd), 'usd');
  if (args.cap !== undefined) budgets.tokens = take(parseTokens(args.cap), 'cap');
  if (args.wall !== undefined) budgets.wall_ms = take(parseWall(args.wall), 'wall');
  return budgets;
}

/** The ticket: a file when the argument names one, otherwise the text itself. */
function ticketOf(cwd: string, input: string): Ticket {
  const path = resolve(cwd, input);
  if (input.length < 4096 && existsSync(path)) {
    const file = readInput(cwd, input, 'ticket');
    return readTicket(input, { path: file.shown, text: file.text });
  }
  if (!input.trim()) throw new UsageError('--ticket is empty: give the ticket text or a file holding it');
  return readTicket(input);
}

/** The tasks a ticket would become (template or planner command), without storing or running anything. */
export async function planTicket(session: Session, args: RunArgs): Promise<{ tasks: Task[]; how: string }> {
  const ticket = ticketOf(args.cwd, args.ticket ?? '');
  const planner = session.policy.runs.planner.command;
  const planned = planner
    ? await runPlanner(session.repo.root, session.policy.runs, ticket)
    : planFromTemplate(ticket, session.policy.runs, args.template);
  if (!planned.ok)
    throw new InputError(`the plan for this ticket was rejected: ${'reason' in planned ? planned.reason : planned.message}; nothing runs`);
  return { tasks: planned.tasks, how: planner ? 'the planner command' : `template ${args.template ?? session.policy.runs.template}` };
}

export function renderTicketPlan(plan: { tasks: Task[]; how: string }): string {
  return [
    `${plan.tasks.length} task(s), planned by ${plan.how} (nothing was started; drop --plan-only to run them):`,
    ...plan.tasks.map(
      (t) =>
        `  ${t.id} (${t.type})${t.depends_on.length ? ` after ${t.depends_on.join(', ')}` : ''} — writes ${t.spec.write_scope.join(', ')}`,
    ),
  ].join('\n');
}

/** Plans a new run from the ticket or the progress file, and stores it. */
export async function startRun(session: Session, args: RunArgs, by: string, log: (message: string) => void): Promise<Run> {
  if (!args.ticket && !args.progress) throw new UsageError('run needs a goal: --ticket FILE|TEXT or --progress FILE');
  if (args.ticket && args.progress) throw new UsageError('give a run one goal: --ticket or --progress, not both');
  const profile = profileOf(session, args.profile ?? session.policy.runs.profile);
  const budgets = budgetsOf(session, args);
  if (session.forge.kind !== 'local')
    throw new InputError('runs work in local mode only for now: their results are task branches of this repository (drop --forge github)');
  if (session.policy.runs.workers.length === 0)
    throw new InputError(
      'no worker class: add runs.workers to .buildmaster.yml (a coding-agent command per class; docs/runs.md shows some)',
    );
  const now = Date.now();
  const base = {
    id: nextRunId(session),
    profile: profile.name,
    mode: 'apply' as const,
    budgets,
    status: 'running' as const,
    created_at: now,
    started_at: now,
    by,
    decisions: [],
    gates: [],
  };
  if (args.progress) {
    const file = readInput(args.cwd, args.progress, 'progress file');
    const parsed = parseProgress(file.text);
    if (!parsed.ok)
      throw new InputError(
        `${parsed.problems.map((p) => `${file.shown}:${p.line}: ${p.row ? `row ${p.row}: ` : ''}${p.reason}`).join('\n')}\n${parsed.problems.length} problem(s) in ${file.shown}; nothing runs until they are fixed`,
      );
    const maxPhase = args.maxPhase === undefined ? session.policy.runs.max_phase : Number(args.maxPhase);
    // Rows an active run holds are in progress; rows an earlier run merged are done (the store remembers).
    const earlier = progressRows(session, file.shown);
    const rows = parsed.rows.map((row) =>
      row.status !== 'todo'
        ? row
        : earlier.done.has(row.id)
          ? { ...row, status: 'done' as const }
          : earlier.held.has(row.id)
            ? { ...row, status: 'in_progress' as const }
            : row,
    );
    const plan = planRows(rows, { max_phase: maxPhase });
    if (plan.tasks.length === 0)
      throw new InputError(
        `no row of ${file.shown} can run: ${plan.left.map((d) => `${d.row} (${d.rationale})`).join('; ') || 'every row is done'}`,
      );
    const decisions = plan.left.map((d) => ({ at: now, kind: 'leave-row', task: d.row, rationale: d.rationale }));
    return saveNewRun(
      session,
      {
        ...base,
        goal: { kind: 'progress', text: file.shown },
        tasks: plan.tasks,
        progress: { file: file.shown, rows: plan.tasks.map((t) => t.row ?? t.id) },
        decisions,
      },
      log,
    );
  }
  const ticket = ticketOf(args.cwd, args.ticket ?? '');
  const { tasks, how } = await planTicket(session, args);
  return saveNewRun(
    session,
    {
      ...base,
      goal: { kind: 'ticket', text: `${ticket.title}\n\n${ticket.text}` },
      tasks,
      decisions: [{ at: now, kind: 'plan', rationale: `planned by ${how}: ${tasks.map((t) => t.id).join(' → ')}` }],
    },
    log,
  );
}

export { driveRun };

function money(usd: number): string {
  return `$${usd.toFixed(2)}`;
}

function budgetLine(run: Run, now: number): string {
  const verdict = judgeBudget(run.budgets, usageOf(run.tasks), run.started_at ?? run.created_at, now);
  const usage = usageOf(run.tasks);
  const spent = `${money(usage.usd)}, ${usage.tokens_in + usage.tokens_out} tokens`;
  return verdict.lines.length ? `${spent} — ${verdict.rationale}` : `${spent} (no caps)`;
}

/** `runs`: one line per run. */
export function renderRuns(runs: readonly Run[]): string {
  if (runs.length === 0) return 'no runs yet: build-master run --ticket FILE|TEXT or --progress FILE';
  const rows = runs.map((run) => {
    const done = run.tasks.filter((t) => t.status === 'completed').length;
    return [
      run.id,
      run.status,
      `${done}/${run.tasks.length} tasks`,
      money(usageOf(run.tasks).usd),
      run.profile,
      headline(run.goal.text, 80),
    ];
  });
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

function taskLine(task: Task): string {
  const usage = task.result?.usage;
  const parts = [
    task.id.padEnd(14),
    task.status.padEnd(9),
    (task.stage ?? '').padEnd(8),
    (task.worker_class ?? '—').padEnd(8),
    usage ? money(usage.usd) : '—',
    task.attempts > 1 ? `${task.attempts} attempts` : '',
    task.branch ?? '',
    task.result?.error ? `— ${headline(task.result.error, 80)}` : '',
  ];
  return parts.filter(Boolean).join('  ');
}

/** `run show ID`: the run, its tasks, its gates, its last decisions, and the hand-off when it stopped. */
export function renderRun(run: Run, now: number): string {
  const lines = [
    `run ${run.id}: ${run.status} (profile ${run.profile}${run.by ? `, started by ${run.by}` : ''})`,
    `goal: ${headline(run.goal.text, 80)}`,
    `budget: ${budgetLine(run, now)}`,
    '',
    'tasks:',
    ...run.tasks.map((task) => `  ${taskLine(task)}`),
  ];
  const pending = (run.gates ?? []).filter((g) => g.status === 'pending');
  if (pending.length)
    lines.push(
      '',
      'waiting for approval:',
      ...pending.map(
        (g) =>
          `  ${g.step}${g.task ? ` (${g.task})` : ''}: build-master approve --run ${run.id} --step ${g.step}${g.task ? ` --task ${g.task}` : ''}`,
      ),
    );
  if (run.progress) {
    const done = run.tasks.filter((t) => t.status === 'completed' && t.row).map((t) => t.row);
    lines.push('', `progress rows done (${run.progress.file}): ${done.length ? done.join(', ') : 'none yet'}`);
    const left = (run.decisions ?? []).filter((d) => d.kind === 'leave-row');
    if (left.length) lines.push('rows this run leaves out:', ...left.map((d) => `  ${d.task ?? ''}: ${d.rationale}`));
  }
  const decisions = (run.decisions ?? []).slice(-12);
  if (decisions.length)
    lines.push(
      '',
      'last decisions:',
      ...decisions.map((d) => `  ${new Date(d.at).toISOString().slice(11, 19)} ${d.kind}${d.task ? ` ${d.task}` : ''}: ${d.rationale}`),
    );
  if (run.handoff) lines.push('', 'hand-off:', JSON.stringify(run.handoff, null, 2));
  return lines.join('\n');
}

export function runsDocument(runs: readonly Run[]): { runs: Run[]; kpis: ReturnType<typeof runKpis> } {
  return { runs: [...runs], kpis: runKpis(runs) };
}

/** `status --json`'s runs: the active ones (id, status, tasks done, cost) and the run KPIs. */
export function runsSummary(runs: readonly Run[]): {
  active: { id: string; status: string; done: number; tasks: number; usd: number }[];
  kpis: ReturnType<typeof runKpis>;
} {
  return {
    active: runs
      .filter((run) => run.status === 'running' || run.status === 'awaiting-approval' || run.status === 'planning')
      .map((run) => ({
        id: run.id,
        status: run.status,
        done: run.tasks.filter((t) => t.status === 'completed').length,
        tasks: run.tasks.length,
        usd: usageOf(run.tasks).usd,
      })),
    kpis: runKpis(runs),
  };
}

/** `status`'s line about runs (empty when there are none). */
export function renderRunsLine(runs: readonly Run[]): string {
  if (runs.length === 0) return '';
  const { active, kpis } = runsSummary(runs);
  const cost = kpis.cost_per_merged_change_usd === null ? '' : `, ${money(kpis.cost_per_merged_change_usd)} per merged change`;
  const activeText = active.length ? active.map((r) => `${r.id} ${r.status} ${r.done}/${r.tasks}`).join(', ') : 'none active';
  return `runs: ${activeText} (${runs.length} in all, ${kpis.merged_changes} change(s) merged${cost}): build-master runs`;
}

// The run driver (SPEC §11): plans a run, then ticks until it settles. Each tick re-reads the store
// under the controller lock, lets the core's engine decide (advance), records the run, and carries out
// the commands: start a worker, hedge, cancel, open a gate as an approval, promote a verified result to
// its task branch (a change in its lane's queue), and run a controller cycle so queued results merge
// through the same gate as every change. Workers run outside the lock; their results are recorded under it.
//
// Crash safety: every start is an action key (store.beginAction) and every worker's pid and worktree are
// recorded before it works. A driver that died leaves `running` tasks whose key never finished: on the
// next drive their leftovers are cleaned up and the task starts again as its next attempt. A task whose
// result was recorded never runs again; a promotion is idempotent (the branch is set only if absent).
import { riskTier } from '../core/classify';
import type { Approval } from '../core/model';
import { judgeBudget } from '../core/runs/budget';
import {
  advance,
  recordGate,
  recordMerged,
  recordPromoted,
  recordResult,
  recoverRun,
  type RunCommand,
  type RunContext,
} from '../core/runs/engine';
import { runSchema, usageOf, type Budgets, type BuildResult, type Run, type Task } from '../core/runs/model';
import { resolveProfile, type Profile } from '../core/runs/profiles';
import { compileRouter, learn, route, type CompiledRouter } from '../core/runs/router';
import { holdsAgent } from '../core/runs/schedule';
import { InputError } from '../ports';
import { headline } from '../core/text';
import { runTaskKey } from '../core/keys';
import {
  cleanupTaskLeftovers,
  collectTaskResults,
  forgetTaskResult,
  promoteTask,
  runTask,
  taskBranch,
  type TaskOutcome,
} from '../workers/task/worker';
import { runCycle } from './cycle';
import { lockSession, type Session } from './session';
import { LockedError } from './lock';
import { initialState } from '../core/decide';

export interface DriveOptions {
  by: string;
  log: (message: string) => void;
  /** Progress lines for a person watching (task started, settled, merged). */
  progress?: (message: string) => void;
  /** Resolves when the driver should stop (SIGINT): workers are left to the next drive, nothing is lost. */
  stop?: Promise<void>;
  /** How often the driver looks for approvals, merges and stragglers while workers run (ms). */
  tickMs?: number;
  /** Test hook: named points of the drive (see BUILDMASTER_TEST_CRASH_AT). */
  checkpoint?: (point: string) => void;
  clock?: () => number;
}

interface Live {
  abort: AbortController;
  done: Promise<void>;
}

/** The driver's lock holds per session: one holder at a time inside this process (workers settle concurrently). */
const chains = new WeakMap<Session, Promise<void>>();
/** How long the driver waits for another Build Master (a sync, the cockpit) to release the lock. */
const LOCK_WAIT_MS = 120_000;

/**
 * The controller lock for one step of the driver: serialised within this process, and waited for
 * (not failed) while another process holds it briefly, as a sync or the cockpit does.
 */
async function runLock(session: Session, command: string, log: (message: string) => void): Promise<{ release: () => void }> {
  const previous = chains.get(session) ?? Promise.resolve();
  let free: () => void = () => undefined;
  const mine = new Promise<void>((resolve) => (free = resolve));
  chains.set(
    session,
    previous.then(() => mine),
  );
  await previous;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
    try {
      const lock = await lockSession(session, command, log);
      return {
        release: () => {
          lock.release();
          free();
        },
      };
    } catch (error) {
      if (!(error instanceof LockedError) || Date.now() > deadline) {
        free();
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

/** The next free run id: `r<n>`, short enough to type in `run show`. */
export function nextRunId(session: Session): string {
  const taken = new Set(session.store.runs().map((run) => run.id));
  let n = taken.size + 1;
  while (taken.has(`r${n}`)) n++;
  return `r${n}`;
}

/**
 * What earlier runs did with a progress file's rows: `held` by an active run (row → run), `done`
 * (merged by any run). The file itself is the user's and is not rewritten; the store remembers.
 */
export function progressRows(session: Session, file: string): { held: Map<string, string>; done: Set<string> } {
  const held = new Map<string, string>();
  const done = new Set<string>();
  for (const run of session.store.runs()) {
    if (run.progress?.file !== file) continue;
    const active = run.status === 'running' || run.status === 'awaiting-approval' || run.status === 'planning';
    for (const task of run.tasks) {
      if (task.row === undefined || task.hedge_of !== undefined) continue;
      if (task.status === 'completed') done.add(task.row);
      else if (active && task.status !== 'failed' && task.status !== 'cancelled') held.set(task.row, run.id);
    }
  }
  return { held, done };
}

/** Stores a new run (status `running`, or `planning` for plan-only) under the lock. */
export async function saveNewRun(session: Session, run: Run, log: (message: string) => void): Promise<Run> {
  const lock = await runLock(session, 'run', log);
  try {
    const checked = runSchema.parse(run);
    if (session.store.run(checked.id)) checked.id = nextRunId(session);
    // Checked again under the lock: two `run --progress` started at once must not both take a row.
    if (checked.progress) {
      const held = progressRows(session, checked.progress.file).held;
      const taken = checked.tasks.flatMap((task) =>
        task.row !== undefined && held.has(task.row) ? [`${task.row} (run ${held.get(task.row) ?? ''})`] : [],
      );
      if (taken.length)
        throw new InputError(
          `rows of ${checked.progress.file} are being worked on by another run: ${taken.join(', ')}; nothing was started`,
        );
    }
    session.store.putRun(checked);
    await session.store.save();
    session.store.append([
      {
        at: checked.created_at,
        type: 'operator',
        kind: 'run',
        run: checked.id,
        message: `${run.by ?? 'someone'} started run ${checked.id} (${checked.mode}, profile ${checked.profile}, ${checked.tasks.length} task(s)): ${headline(checked.goal.text, 100)}`,
      },
    ]);
    return checked;
  } finally {
    lock.release();
  }
}

export function profileOf(session: Session, name: string): Profile {
  const resolved = resolveProfile(session.policy.runs, name);
  if (!resolved.ok) throw new InputError(resolved.message);
  return resolved.profile;
}

function routerOf(session: Session): CompiledRouter {
  const compiled = compileRouter(session.policy.runs);
  if (!compiled.ok) throw new InputError(`runs.router: ${compiled.problems.map((p) => p.message).join('; ')}`);
  return compiled.router;
}

/** Agents other runs have at work: max_agents counts every run. */
function busyElsewhere(session: Session, id: string): number {
  return tasksElsewhere(session, id).filter(({ task }) => holdsAgent(task)).length;
}

/** Other active runs' tasks holding an agent or a path lock: scopes and caps span runs on one repository. */
function tasksElsewhere(session: Session, id: string): { run: string; task: Task }[] {
  return session.store
    .runs()
    .filter((run) => run.id !== id && (run.status === 'running' || run.status === 'awaiting-approval'))
    .flatMap((run) => run.tasks.filter((task) => task.status === 'running').map((task) => ({ run: run.id, task })));
}

/**
 * Drives run `id` until it settles, is killed, needs a person (a pending gate and nothing else to do)
 * or `stop` resolves. Returns the run as stored last.
 */
export async function driveRun(session: Session, id: string, options: DriveOptions): Promise<Run> {
  const now = options.clock ?? Date.now;
  const say = options.progress ?? (() => undefined);
  const live = new Map<string, Live>();
  const router = routerOf(session);
  let stopping = false;
  let wake: () => void = () => undefined;
  void options.stop?.then(() => {
    stopping = true;
    wake();
  });
  const stopped = () => stopping;
  await recover(session, id, options, live);
  try {
    for (;;) {
      const tick = await step(session, id, router, options, live, say, now);
      if (tick.settled || stopped()) return tick.run;
      if (tick.waitingOnPerson && live.size === 0) {
        say(`run ${id} waits for a person: ${tick.waitingOnPerson}`);
        return tick.run;
      }
      await new Promise<void>((done) => {
        const timer = setTimeout(done, tick.busy ? 10 : (options.tickMs ?? 1000));
        wake = () => {
          clearTimeout(timer);
          done();
        };
        for (const worker of live.values()) void worker.done.then(() => wake());
      });
    }
  } finally {
    if (stopped()) for (const worker of live.values()) worker.abort.abort('stop');
    await Promise.all([...live.values()].map((worker) => worker.done));
  }
}

interface Tick {
  run: Run;
  settled: boolean;
  waitingOnPerson?: string;
  busy: boolean;
}

/** One tick: read, fold in approvals and merges, advance, record, act. */
async function step(
  session: Session,
  id: string,
  router: CompiledRouter,
  options: DriveOptions,
  live: Map<string, Live>,
  say: (message: string) => void,
  now: () => number,
): Promise<Tick> {
  let queued: boolean;
  const lock = await runLock(session, 'run', options.log);
  let commands: RunCommand[];
  let run: Run;
  try {
    const stored = session.store.run(id);
    if (!stored) throw new InputError(`no run "${id}"`);
    run = foldOutside(session, structuredClone(stored), now());
    if (run.status === 'killed') {
      for (const worker of live.values()) worker.abort.abort('cancel');
      session.store.putRun(run);
      await session.store.save();
      return { run, settled: true, busy: false };
    }
    const profile = profileOf(session, run.profile);
    const context = contextOf(session, run, profile, router, now());
    const next = advance(run, context);
    run = next.run;
    commands = next.commands;
    session.store.putRun(run);
    await session.store.save();
    logDecisions(session, stored, run);
    queued = run.tasks.some((task) => task.stage === 'queued');
  } finally {
    lock.release();
  }
  options.checkpoint?.('run:after-advance');
  let busy = false;
  for (const command of commands) busy = (await carryOut(session, run, command, options, live, say, now)) || busy;
  if (queued) await mergeCycle(session, options);
  const latest = session.store.run(id) ?? run;
  const pending = (latest.gates ?? []).find((gate) => gate.status === 'pending');
  return {
    run: latest,
    settled: latest.status === 'completed' || latest.status === 'failed' || latest.status === 'killed',
    busy,
    ...(pending
      ? { waitingOnPerson: `build-master approve --run ${id} --step ${pending.step}${pending.task ? ` --task ${pending.task}` : ''}` }
      : {}),
  };
}

function contextOf(session: Session, run: Run, profile: Profile, router: CompiledRouter, at: number): RunContext {
  const runs = session.policy.runs;
  const classLoad: Record<string, number> = {};
  for (const other of session.store.runs())
    for (const task of other.tasks)
      if (holdsAgent(task) && task.worker_class) classLoad[task.worker_class] = (classLoad[task.worker_class] ?? 0) + 1;
  const stats = session.store.routerStats();
  return {
    runs,
    profile,
    now: at,
    route: (task, current, budget) =>
      route(router, task, current, budget, { classLoad, perClass: runs.per_class, stats, rng: Math.random }),
    tierOf: (files) => riskTier(session.policy, files),
    busyElsewhere: busyElsewhere(session, run.id),
    elsewhere: tasksElsewhere(session, run.id),
  };
}

/** Approvals resolved in the queue and task branches merged by any cycle, folded into the run. */
function foldOutside(session: Session, run: Run, at: number): Run {
  let next = run;
  const approvals = session.store.data.state?.approvals ?? {};
  for (const gate of run.gates ?? []) {
    if (gate.status !== 'pending') continue;
    const approval = Object.hasOwn(approvals, gate.approval) ? approvals[gate.approval] : undefined;
    if (approval && approval.status !== 'pending') next = recordGate(next, gate.step, gate.task, gate.approval, approval.status, at);
  }
  const merged = session.store.recordedMerges();
  for (const task of next.tasks) {
    if (task.stage !== 'queued' || !task.branch) continue;
    const record = Object.hasOwn(merged, task.branch) ? merged[task.branch] : undefined;
    if (!record) continue;
    next = recordMerged(next, task.id, record.sha, at);
    const usage = task.result?.usage;
    if (session.policy.runs.router.learn && task.worker_class && usage)
      Object.assign(
        session.store.routerStats(),
        learn(session.store.routerStats(), task.worker_class, task.type, {
          success: true,
          usd: usage.usd,
          duration_ms: task.result?.duration_ms ?? 0,
        }),
      );
  }
  return next;
}

function logDecisions(session: Session, before: Run, after: Run): void {
  const seen = new Set((before.decisions ?? []).map((d) => `${d.at}\0${d.kind}\0${d.task ?? ''}\0${d.rationale}`));
  const added = (after.decisions ?? []).filter((d) => !seen.has(`${d.at}\0${d.kind}\0${d.task ?? ''}\0${d.rationale}`));
  session.store.append(
    added.map((decision) => ({
      at: decision.at,
      type: 'decision' as const,
      kind: `run-${decision.kind}`,
      run: after.id,
      ...(decision.task ? { task: decision.task } : {}),
      message: decision.rationale,
    })),
  );
}

/** Carries out one engine command; true when it started work (the next tick comes sooner). */
async function carryOut(
  session: Session,
  run: Run,
  command: RunCommand,
  options: DriveOptions,
  live: Map<string, Live>,
  say: (message: string) => void,
  now: () => number,
): Promise<boolean> {
  switch (command.kind) {
    case 'start':
    case 'hedge': {
      const taskId = command.kind === 'start' ? command.task : command.duplicate;
      startWorker(session, run.id, taskId, command.key, options, live, say, now);
      return true;
    }
    case 'cancel': {
      const worker = live.get(command.task);
      if (worker) worker.abort.abort('cancel');
      else {
        const task = run.tasks.find((t) => t.id === command.task);
        if (task)
          await cleanupTaskLeftovers(
            session.repo,
            [],
            [{ ...(task.pid ? { pid: task.pid } : {}), ...(task.worktree ? { worktree: task.worktree } : {}) }],
          );
      }
      say(`cancelled ${command.task}: ${command.rationale}`);
      return false;
    }
    case 'gate':
      await openGate(session, run.id, command, now());
      say(`run ${run.id} needs approval: ${command.rationale}`);
      return false;
    case 'promote':
      await promote(session, run.id, command.task, command.key, options, now);
      return true;
    case 'finish':
      if (command.withdraw?.length) await withdraw(session, command.withdraw, command.rationale, now());
      say(`run ${run.id} ${command.status}: ${command.rationale}`);
      return false;
  }
}

/** The approval's id, from the gate's key: `run:r1:gate:merge:code:2` is `run-r1-merge-code-2`. */
export function approvalIdOf(key: string): string {
  return key
    .replace(/^run:/, 'run-')
    .replace(/:gate:/, '-')
    .replace(/:/g, '-');
}

/** A gated step becomes an approval in the queue (found again by its key after a restart), and the run remembers its id. */
async function openGate(session: Session, id: string, command: Extract<RunCommand, { kind: 'gate' }>, at: number): Promise<void> {
  const lock = await runLock(session, 'run', () => undefined);
  try {
    const state = (session.store.data.state ??= initialState(session.policy, at));
    const approvalId = approvalIdOf(command.key);
    const { step, task } = command;
    if (!Object.hasOwn(state.approvals, approvalId)) {
      const approval: Approval = {
        id: approvalId,
        key: command.key,
        actionClass: 'run',
        kind: 'request-approval',
        run: id,
        step,
        ...(task ? { task } : {}),
        tier: command.tier ?? 'tier2',
        rationale: command.rationale,
        status: 'pending',
        createdAt: at,
      };
      state.approvals[approvalId] = approval;
      session.store.append([
        {
          at,
          type: 'decision',
          kind: 'request-approval',
          run: id,
          approval: approvalId,
          ...(task ? { task } : {}),
          message: command.rationale,
        },
      ]);
    }
    const run = session.store.run(id);
    const status = state.approvals[approvalId]?.status ?? 'pending';
    if (run) session.store.putRun(recordGate(run, step, task, approvalId, status, at));
    await session.store.save();
  } finally {
    lock.release();
  }
}

/** A finished run's approvals still pending no longer stand for anything: they leave the queue, said why. */
async function withdraw(session: Session, ids: readonly string[], why: string, at: number): Promise<void> {
  const lock = await runLock(session, 'run', () => undefined);
  try {
    const approvals = session.store.data.state?.approvals ?? {};
    for (const approvalId of ids) {
      const approval = Object.hasOwn(approvals, approvalId) ? approvals[approvalId] : undefined;
      if (!approval || approval.status !== 'pending') continue;
      Object.assign(approval, {
        status: 'rejected',
        resolvedAt: at,
        resolvedBy: 'build-master',
        reason: `withdrawn: the run ended (${why})`,
      });
    }
    await session.store.save();
  } finally {
    lock.release();
  }
}

function startWorker(
  session: Session,
  id: string,
  taskId: string,
  key: string,
  options: DriveOptions,
  live: Map<string, Live>,
  say: (message: string) => void,
  now: () => number,
): void {
  const abort = new AbortController();
  const done = (async () => {
    const stored = session.store.run(id);
    const task = stored?.tasks.find((t) => t.id === taskId);
    if (!stored || !task) return;
    const workerClass = session.policy.runs.workers.find((w) => w.name === task.worker_class);
    if (!workerClass) {
      await settle(session, id, taskId, key, failure(`no worker class "${task.worker_class ?? ''}" in runs.workers`), false, options, now);
      return;
    }
    await beginStart(session, key, id, taskId, now());
    say(`${taskId}: started on ${workerClass.name} (attempt ${task.attempts})`);
    const base = (await session.repo.revParse(`refs/heads/${session.policy.target}`)) ?? '';
    const outcome = await runTask(session.repo, {
      run: id,
      task,
      workerClass,
      attempt: task.attempts,
      base,
      target: session.policy.target,
      testCommands: task.spec.test_commands.length ? task.spec.test_commands : session.policy.runs.test_commands,
      testTimeoutMs: session.policy.local.check_timeout,
      signal: abort.signal,
      onStarted: (info) => void recordWorker(session, id, taskId, info),
    }).catch((error: unknown) => failure(`the worker could not run: ${(error as Error).message}`));
    options.checkpoint?.('run:after-worker');
    await settle(session, id, taskId, key, outcome, abort.signal.reason === 'stop', options, now);
    say(
      `${taskId}: ${outcome.cancelled ? 'cancelled' : outcome.success ? `done (${outcome.files_changed.length} file(s))` : `failed: ${outcome.error ?? 'unknown'}`}`,
    );
  })().finally(() => live.delete(taskId));
  live.set(taskId, { abort, done });
}

function failure(error: string): TaskOutcome {
  return {
    success: false,
    error,
    output: '',
    files_changed: [],
    duration_ms: 0,
    artifacts: [],
    usage: { tokens_in: 0, tokens_out: 0, usd: 0 },
    verified: false,
    repaired: false,
    stage: 'work',
  };
}

async function beginStart(session: Session, key: string, id: string, taskId: string, at: number): Promise<void> {
  const lock = await runLock(session, 'run', () => undefined);
  try {
    await session.store.beginAction({ kind: 'outcome', key, rationale: `run ${id}: start ${taskId}` }, at);
  } finally {
    lock.release();
  }
}

async function recordWorker(session: Session, id: string, taskId: string, info: { pid: number; worktree: string }): Promise<void> {
  const lock = await runLock(session, 'run', () => undefined);
  try {
    const run = session.store.run(id);
    const task = run?.tasks.find((t) => t.id === taskId);
    if (!run || !task) return;
    task.pid = info.pid;
    task.worktree = info.worktree;
    session.store.putRun(run);
    await session.store.save();
  } finally {
    lock.release();
  }
}

/** A worker finished: its result (and the router's lesson) recorded once, under the lock. */
async function settle(
  session: Session,
  id: string,
  taskId: string,
  key: string,
  outcome: TaskOutcome,
  stoppedWithDriver: boolean,
  options: DriveOptions,
  now: () => number,
): Promise<void> {
  const lock = await runLock(session, 'run', options.log);
  try {
    const run = session.store.run(id);
    const task = run?.tasks.find((t) => t.id === taskId);
    if (!run || !task) return;
    const at = now();
    const { verified, verdict, cancelled, usage } = outcome;
    const result = resultOf(outcome);
    // Stopped with the driver (Ctrl-C) while the task still ran: not a result; it starts again on resume.
    // Anything else, a result for a task cancelled meanwhile included, the engine records (its cost was spent).
    let next =
      cancelled && stoppedWithDriver && task.status === 'running'
        ? {
            ...run,
            tasks: run.tasks.map((t) =>
              t.id === taskId ? { ...t, status: 'pending' as const, stage: undefined, started_at: undefined } : t,
            ),
          }
        : recordResult(run, taskId, result, verified && !cancelled, at, verdict);
    next = { ...next, tasks: next.tasks.map((t) => (t.id === taskId ? withoutWorker(t) : t)) };
    session.store.putRun(next);
    // The router learns a failure now, a success only when the change merged (foldOutside): a result
    // that passes its tests but never merges is no success.
    if (session.policy.runs.router.learn && task.worker_class && !cancelled && !(outcome.success && verified))
      Object.assign(
        session.store.routerStats(),
        learn(session.store.routerStats(), task.worker_class, task.type, {
          success: false,
          usd: usage.usd,
          duration_ms: outcome.duration_ms,
        }),
      );
    await session.store.finishAction(
      key,
      at,
      outcome.success ? { ok: true, result: outcome.commit_sha ?? 'no commit' } : { ok: false, error: outcome.error ?? 'failed' },
    );
    await session.store.save();
    forgetTaskResult(session.repo, id, taskId, task.attempts);
  } finally {
    lock.release();
  }
}

/** The task's BuildResult from a worker's outcome; scope violations are named in its error. */
function resultOf(outcome: TaskOutcome): BuildResult {
  const violations = outcome.scope_violations ?? [];
  return {
    success: outcome.success,
    output: outcome.output,
    ...(outcome.error !== undefined ? { error: outcome.error } : {}),
    ...(violations.length ? { error: `${outcome.error ?? 'outside its write scope'} (${violations.join(', ')})` } : {}),
    ...(outcome.commit_sha !== undefined ? { commit_sha: outcome.commit_sha } : {}),
    files_changed: outcome.files_changed,
    duration_ms: outcome.duration_ms,
    artifacts: outcome.artifacts,
    usage: outcome.usage,
  };
}

/** The task without its worker's pid and worktree: the worker is gone. */
export function withoutWorker(task: Task): Task {
  const copy = { ...task };
  delete copy.pid;
  delete copy.worktree;
  return copy;
}

async function promote(session: Session, id: string, taskId: string, key: string, options: DriveOptions, now: () => number): Promise<void> {
  const run = session.store.run(id);
  const task = run?.tasks.find((t) => t.id === taskId);
  const sha = task?.result?.commit_sha;
  if (!run || !task || !sha) return;
  const branch = await promoteTask(session.repo, id, taskId, sha).catch((error: unknown) => {
    options.log(`could not promote ${taskId}: ${(error as Error).message}`);
    return undefined;
  });
  options.checkpoint?.('run:after-promote');
  const lock = await runLock(session, 'run', options.log);
  try {
    const fresh = session.store.run(id);
    if (!fresh || !branch) return;
    session.store.putRun(recordPromoted(fresh, taskId, branch, now()));
    await session.store.beginAction({ kind: 'outcome', key, rationale: `run ${id}: promote ${taskId}` }, now());
    await session.store.finishAction(key, now(), { ok: true, result: branch });
  } finally {
    lock.release();
  }
}

/** One controller cycle, so queued task branches merge through the gate (skipped if another cycle holds the lock). */
async function mergeCycle(session: Session, options: DriveOptions): Promise<void> {
  const lock = await runLock(session, 'sync', options.log);
  try {
    await runCycle(session.deps, {});
  } finally {
    lock.release();
  }
}

/**
 * After a crash (or a stop): tasks holding an agent with no worker in this process lost their worker.
 * What they left (process group, worktree) is cleaned up; the engine starts them again as their next
 * attempt, drops lost hedges, and asks again for gates and promotions that were asked for but never
 * recorded (found again by their keys). A start key left open is closed as interrupted.
 */
async function recover(session: Session, id: string, options: DriveOptions, live: Map<string, Live>): Promise<void> {
  const lock = await runLock(session, 'run', options.log);
  let commands: RunCommand[];
  let run: Run;
  try {
    const stored = session.store.run(id);
    if (!stored) throw new InputError(`no run "${id}": build-master runs lists them`);
    const alive = new Set([...live.keys()]);
    const collected = await collectTaskResults(session.repo, id, stored.tasks, session.policy.target);
    if (collected.dropped.length) options.log(`results left by the stopped driver not used: ${collected.dropped.join('; ')}`);
    let withResults = stored;
    for (const left of collected.results) {
      const task = withResults.tasks.find((t) => t.id === left.task);
      if (!task || task.attempts !== left.attempt || task.result !== undefined) continue;
      const { outcome } = left;
      const at = (options.clock ?? Date.now)();
      withResults = recordResult(withResults, left.task, resultOf(outcome), outcome.verified && !outcome.cancelled, at, outcome.verdict);
      withResults = { ...withResults, tasks: withResults.tasks.map((t) => (t.id === left.task ? withoutWorker(t) : t)) };
      const key = runTaskKey(id, left.task, left.attempt);
      if (session.store.action(key)?.status === 'started')
        await session.store.finishAction(key, at, { ok: true, result: 'recorded after a restart' });
      options.log(`${left.task}: its worker finished before the driver stopped; its result is recorded, it does not run again`);
    }
    const lost = withResults.tasks.filter((task) => holdsAgent(task) && task.result === undefined && !alive.has(task.id));
    if (lost.length) {
      const done = await cleanupTaskLeftovers(
        session.repo,
        [],
        lost.map((task) => ({ ...(task.pid ? { pid: task.pid } : {}), ...(task.worktree ? { worktree: task.worktree } : {}) })),
      );
      if (done.length) options.log(`cleaned up after the stopped driver: ${done.join(', ')}`);
    }
    const at = (options.clock ?? Date.now)();
    for (const task of lost) {
      const key = runTaskKey(id, task.id, task.attempts);
      if (session.store.action(key)?.status === 'started')
        await session.store.finishAction(key, at, { ok: false, error: 'interrupted: the driver stopped' });
    }
    const recovered = recoverRun(withResults, alive, at);
    run = recovered.run;
    commands = recovered.commands.filter((command) => command.kind !== 'cancel');
    session.store.putRun(run);
    await session.store.save();
    logDecisions(session, stored, run);
    for (const left of collected.results) forgetTaskResult(session.repo, id, left.task, left.attempt);
  } finally {
    lock.release();
  }
  for (const command of commands)
    await carryOut(session, run, command, options, live, options.progress ?? (() => undefined), options.clock ?? Date.now);
}

export { judgeBudget, usageOf, taskBranch };
export type { Budgets };

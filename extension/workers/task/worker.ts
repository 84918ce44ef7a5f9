// The task worker (issue 13, item 4): one task of a run, done by a worker
// class's agent CLI in a fresh worktree detached at the target, the prompt on
// stdin, an allowlisted environment, a timeout and nothing left running after
// it. Like the fix worker (../command/worker.ts, whose pieces it shares) Build
// Master commits what the agent left, checks every commit against the task's
// write scope and that the agent moved no ref and touched no git configuration
// or hooks. Then the pre-promotion verify: the task's test commands on the
// result, with one repair attempt given the real failure output. The branch
// (`promoteTask`) is set by the run driver only to a result that passed.
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { formatDuration } from '../../core/policy/duration';
import type { WorkerClass } from '../../core/runs/policy';
import { NO_USAGE, type Task, type Usage } from '../../core/runs/model';
import { fence, formatTrailers, parseTrailers } from '../../core/trailers';
import { isOwnRefUpdate, noteOwnRefUpdate, ownRefMark } from '../../git/own-refs';
import { quietGit, type GitRepo } from '../../git/repo';
import { examine, isFatal, snapshot, type Breach } from '../../process/containment';
import { allowlistedEnv } from '../../process/env';
import { killProcessesIn, runCommand, type CommandOutcome } from '../../process/run';
import { answerBreach, commitLeftovers } from '../command/worker';
import { checkRange, describeProblem, type ScopeProblem } from '../command/scope';
import { addUsage, readReport, type Verdict } from './report';
import { Lineage, reaped } from './lineage';
import { leaveResult } from './results';
import { scopeMatcher } from './scope';

export { collectTaskResults, forgetTaskResult, type LeftResult } from './results';
export { scopeGlob } from './scope';

const ZERO = '0000000000000000000000000000000000000000';
/** Build Master's own git calls on what an agent left behind: no hooks, no fsmonitor, exact paths. */
const SAFE = ['-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false', '-c', 'core.quotePath=false'];
/** Run and task ids as the run model allows them: they become a branch name, a worktree name and a trailer. */
const ID = /^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$/;
/** The heading of the repair prompt (the scripted agent and real agents key on it). */
export const REPAIR_HEADING = '## Your change failed its tests';
/** How much of a failing test's output the repair prompt quotes. */
const REPAIR_TAIL = 3000;
/** Bound on the result file an agent writes. */
const RESULT_LIMIT = 1_000_000;
/** Bound on the ledger's output for one task. */
const OUTPUT_LIMIT = 48_000;

/**
 * The branch a task's result is set as. Ids may hold "~" (a hedge is `<task>~h1`), which git refuses in a
 * ref name; "+" is valid there and never part of an id, so the mapping stays one to one.
 */
export function taskBranch(run: string, task: string): string {
  return `buildmaster/task/${run.replace(/~/g, '+')}/${task.replace(/~/g, '+')}`;
}

/** The worktree of one attempt of a task: `task-<run>-<task>-<attempt>`, recognisable as an orphan after a crash. */
export function taskWorktreeName(run: string, task: string, attempt: number): string {
  return `task-${run}-${task}-${attempt}`;
}

export interface TaskJob {
  run: string;
  task: Task;
  workerClass: WorkerClass;
  attempt: number;
  /** The target's sha the task starts from. */
  base: string;
  /**
   * The target branch (policy.target). Given, an agent that moves it has it put back (compare-and-swap,
   * like the fix worker); absent, such a move is only reported. Either way the task fails. Build
   * Master's own merges meanwhile are told apart through git/own-refs.ts (the local forge notes them).
   */
  target?: string;
  /** The task's test_commands, else the policy's runs.test_commands. */
  testCommands: readonly string[];
  testTimeoutMs: number;
  /** Kill switch or a hedge's loser: the agent (its whole process group) and the test command stop, the worktree goes. */
  signal?: AbortSignal;
  /** Each agent or test command started: recorded in the store so a restart can clean up. */
  onStarted?: (info: { pid: number; worktree: string }) => void;
}

export type TaskStage = 'work' | 'scope' | 'verify' | 'repair' | 'done';

export interface TaskOutcome {
  success: boolean;
  error?: string;
  /** The agent's output (each attempt's tail), the test commands' output, and warnings: the ledger. */
  output: string;
  commit_sha?: string;
  files_changed: string[];
  duration_ms: number;
  artifacts: string[];
  usage: Usage;
  /** Passed its test commands (true when there are none). */
  verified: boolean;
  /** Needed the one repair attempt. */
  repaired: boolean;
  /** Where it stopped. */
  stage: TaskStage;
  /** Paths outside write_scope (and other scope problems), when rejected for them. */
  scope_violations?: string[];
  /** A review task's verdict. */
  verdict?: Verdict;
  cancelled?: boolean;
}

export class TaskInputError extends Error {}

function checkIds(run: string, task: string): void {
  if (!ID.test(run))
    throw new TaskInputError(`run id ${JSON.stringify(run)} is not usable in a branch name: use letters, digits, ".", "_", "~" and "-"`);
  if (!ID.test(task))
    throw new TaskInputError(`task id ${JSON.stringify(task)} is not usable in a branch name: use letters, digits, ".", "_", "~" and "-"`);
}

/** The task's branch, once its ids are known to make a valid one. */
async function checkBranch(repo: GitRepo, run: string, task: string): Promise<string> {
  checkIds(run, task);
  const branch = taskBranch(run, task);
  await quietGit(repo.root, ['check-ref-format', `refs/heads/${branch}`]).catch(() => {
    throw new TaskInputError(`${branch} is not a valid branch name: a task or run id may not contain "..", end in ".lock" or in "."`);
  });
  return branch;
}

/** Thrown inside an attempt to stop it: the outcome's error and stage. */
class Stop extends Error {
  constructor(
    message: string,
    readonly stage: TaskStage,
    readonly extra: Partial<TaskOutcome> = {},
  ) {
    super(message);
  }
}

/** One task attempt in its worktree: the agent, the commit, the scope check, the verify, the repair. */
class TaskAttempt {
  private readonly ledger: string[] = [];
  private usage: Usage = NO_USAGE;
  private verdict: Verdict | undefined;
  private artifacts: string[] = [];
  /** Where the attempt is (for an unexpected failure's stage). */
  private stage: TaskStage = 'work';
  private readonly allows: (file: string) => boolean;
  private readonly resultPath: string;

  constructor(
    private readonly repo: GitRepo,
    private readonly job: TaskJob,
    private readonly dir: string,
    private readonly admin: string,
    scratch: string,
  ) {
    this.allows = scopeMatcher(job.task.spec.write_scope);
    this.resultPath = join(scratch, 'result.json');
  }

  async run(): Promise<Omit<TaskOutcome, 'duration_ms'>> {
    const { job } = this;
    let repaired = false;
    let files: string[] = [];
    try {
      let final = await this.work(job.task.spec.prompt, 'work');
      files = await this.checkScope(final);
      let failure = await this.verify(final);
      if (failure) {
        repaired = true;
        const prompt = [
          job.task.spec.prompt.trimEnd(),
          '',
          REPAIR_HEADING,
          '',
          `\`${failure.command}\` ${failure.outcome.timedOut ? 'timed out' : `exited with ${failure.outcome.exitCode ?? 'a signal'}`} on your change. The end of its output:`,
          '',
          fence(failure.outcome.output.slice(-REPAIR_TAIL).trim() || '(no output)'),
          '',
          'Fix the change so that the test commands pass. Change only files inside your write scope.',
          '',
        ].join('\n');
        final = await this.work(prompt, 'repair');
        files = await this.checkScope(final, 'repair');
        failure = await this.verify(final, 'repair');
        if (failure)
          throw new Stop(
            `its tests still fail after one repair attempt: \`${failure.command}\` ${failure.outcome.timedOut ? 'timed out' : `exited with ${failure.outcome.exitCode ?? 'a signal'}`}`,
            'repair',
            { commit_sha: final, files_changed: files },
          );
      }
      if (job.task.type === 'review' && !this.verdict)
        throw new Stop(
          'the review gave no verdict: print a JSON line {"verdict": "approve"} or {"verdict": "reject"}, or write {"verdict": …} to BUILDMASTER_RESULT',
          'done',
        );
      return {
        success: true,
        output: this.output(),
        ...(final !== job.base ? { commit_sha: final } : {}),
        files_changed: files,
        artifacts: this.artifacts,
        usage: this.usage,
        verified: true,
        repaired,
        stage: 'done',
        ...(this.verdict ? { verdict: this.verdict } : {}),
      };
    } catch (caught) {
      // What an agent left may make a git call fail (a worktree link or admin file it rewrote): a failed task, not a crash.
      const error = caught instanceof Stop ? caught : new Stop(`the task could not be finished: ${(caught as Error).message}`, this.stage);
      return {
        success: false,
        error: error.message,
        output: this.output(),
        files_changed: files,
        artifacts: this.artifacts,
        usage: this.usage,
        verified: false,
        repaired,
        stage: error.stage,
        ...(this.verdict ? { verdict: this.verdict } : {}),
        ...error.extra,
      };
    }
  }

  private output(): string {
    const text = this.ledger.join('\n');
    return text.length > OUTPUT_LIMIT ? `…${text.slice(-OUTPUT_LIMIT)}` : text;
  }

  private cancelled(stage: TaskStage): Stop {
    return new Stop('cancelled: the run was killed or another worker won the hedge; the agent was stopped', stage, { cancelled: true });
  }

  /** The agent once, contained; then what it left committed. Returns the result's head. */
  private async work(prompt: string, stage: 'work' | 'repair'): Promise<string> {
    this.stage = stage;
    const { job, dir } = this;
    const { task, workerClass } = job;
    if (job.signal?.aborted) throw this.cancelled(stage);
    rmSync(this.resultPath, { force: true });
    const env = allowlistedEnv(workerClass.env, {
      BUILDMASTER_RUN: job.run,
      BUILDMASTER_TASK: task.id,
      BUILDMASTER_TASK_TYPE: task.type,
      BUILDMASTER_ATTEMPT: String(job.attempt),
      BUILDMASTER_WRITE_SCOPE: task.spec.write_scope.join(','),
      BUILDMASTER_WORKTREE: dir,
      BUILDMASTER_RESULT: this.resultPath,
      CI: 'true',
    });
    const label = stage === 'repair' ? 'repair attempt' : 'agent';
    const outcome = await this.contained(label, stage, () =>
      watched(dir, (onStarted) =>
        runCommand(reaped(workerClass.command), {
          cwd: dir,
          env,
          timeoutMs: workerClass.timeout,
          input: prompt,
          contain: dir,
          ...(job.signal ? { signal: job.signal } : {}),
          onStarted: (pid) => {
            onStarted(pid);
            job.onStarted?.({ pid, worktree: dir });
          },
        }),
      ),
    );
    const unread: string[] = [];
    const resultFile = readResult(this.resultPath, unread);
    const report = readReport(outcome.output, resultFile, workerClass);
    report.warnings.unshift(...unread);
    this.usage = addUsage(this.usage, report.usage);
    if (report.verdict) this.verdict = report.verdict;
    if (report.artifacts.length) this.artifacts = report.artifacts;
    this.ledger.push(`== ${label} (${workerClass.name}, ${workerClass.command}) ==`, outcome.output.trimEnd(), ...report.warnings);
    if (outcome.aborted) throw this.cancelled(stage);
    if (outcome.timedOut)
      throw new Stop(
        `the agent timed out after ${formatDuration(workerClass.timeout)} (the ${workerClass.name} class's timeout) and was killed`,
        stage,
      );
    if (outcome.exitCode !== 0) throw new Stop(`the agent exited with ${outcome.exitCode ?? 'a signal'}`, stage);
    const head = (
      await quietGit(this.repo.root, [...SAFE, `--git-dir=${this.admin}`, 'rev-parse', '--verify', 'HEAD^{commit}']).catch(() => '')
    ).trim();
    if (!head) throw new Stop('the agent left its worktree without a commit checked out', stage);
    return this.commit(head, stage);
  }

  /** Commits the leftovers with the task's trailers; the result's tip always carries them once it differs from the base. */
  private async commit(head: string, stage: TaskStage): Promise<string> {
    const { job, dir } = this;
    const subject = job.task.spec.prompt
      .split('\n')
      .map((line) =>
        line
          .replace(/[\p{Cc}\p{Cf}]/gu, '')
          .replace(/^#+\s*/, '')
          .trim(),
      )
      .find(Boolean);
    const title = `Task ${job.task.id} (${job.task.type})${stage === 'repair' ? ', repaired' : ''}: ${clip(subject ?? job.task.type, 60)}`;
    const message = `${title}\n\n${formatTrailers({ Run: job.run, Task: job.task.id })}\n`;
    const tip = await commitLeftovers(this.repo, dir, head, message);
    if (tip !== head || head === job.base) return tip;
    // The agent committed everything itself: an empty commit on top names the run and task for crash recovery.
    const own = parseTrailers(await quietGit(this.repo.root, [...SAFE, 'log', '-1', '--format=%B', head]));
    if (own.get('Run') === job.run && own.get('Task') === job.task.id) return head;
    return commitLeftovers(this.repo, dir, head, message, true);
  }

  /** Every commit from the base to `head` inside the write scope; returns the files changed. */
  private async checkScope(head: string, stage: TaskStage = 'scope'): Promise<string[]> {
    this.stage = stage === 'repair' ? 'repair' : 'scope';
    const { job } = this;
    const files = (await quietGit(this.repo.root, [...SAFE, 'diff', '--name-only', '-z', '--no-renames', job.base, head]))
      .split('\0')
      .filter(Boolean);
    const problems = await checkRange(this.repo.root, job.base, head, this.allows);
    if (problems.length) {
      const globs = job.task.spec.write_scope.join(', ') || 'nothing';
      const message = `the result is outside its write scope (${globs}): ${problems.map(describeProblem).join('; ')}; it was rejected and no branch was set`;
      this.ledger.push(`rejected: ${message}`);
      throw new Stop(message, stage === 'repair' ? 'repair' : 'scope', { scope_violations: problems.map(violation), files_changed: files });
    }
    if (files.length === 0 && job.task.type !== 'review')
      throw new Stop('the agent changed no files', stage === 'repair' ? 'repair' : 'work');
    return files;
  }

  /** The test commands on the result, in order; the first failure, if any. */
  private async verify(head: string, stage: TaskStage = 'verify'): Promise<{ command: string; outcome: CommandOutcome } | undefined> {
    this.stage = stage;
    const { job, dir } = this;
    if (job.testCommands.length === 0) return undefined;
    // Exactly the result: the index and sparse patterns the agent may have set are dropped first.
    for (const stale of ['index', 'info', 'config.worktree']) rmSync(join(this.admin, stale), { recursive: true, force: true });
    const git = (args: string[]) => quietGit(this.repo.root, [...SAFE, `--git-dir=${this.admin}`, `--work-tree=${dir}`, ...args]);
    await git(['checkout', '--quiet', '--detach', '--force', head]);
    // Ignored files too: only what the result commits may make its tests pass (the worktree started empty of them).
    await git(['clean', '-qffdx']);
    const env = allowlistedEnv([], { BUILDMASTER_RUN: job.run, BUILDMASTER_TASK: job.task.id, BUILDMASTER_WORKTREE: dir, CI: 'true' });
    for (const command of job.testCommands) {
      if (job.signal?.aborted) throw this.cancelled(stage);
      const outcome = await this.contained(`test \`${command}\``, stage, () =>
        watched(dir, (onStarted) =>
          runCommand(reaped(command), {
            cwd: dir,
            env,
            timeoutMs: job.testTimeoutMs,
            contain: dir,
            ...(job.signal ? { signal: job.signal } : {}),
            onStarted: (pid) => {
              onStarted(pid);
              job.onStarted?.({ pid, worktree: dir });
            },
          }),
        ),
      );
      const how = outcome.timedOut ? `timed out after ${formatDuration(job.testTimeoutMs)}` : `exit ${outcome.exitCode ?? 'signal'}`;
      this.ledger.push(`== test \`${command}\` (${how}) ==`, outcome.output.trimEnd());
      if (outcome.aborted) throw this.cancelled(stage);
      if (outcome.exitCode !== 0 || outcome.timedOut) return { command, outcome };
    }
    return undefined;
  }

  /**
   * Runs `work` between two snapshots of the repository: a ref moved, the git
   * configuration or hooks changed, or the object store tampered with fails
   * the task, and what can be undone is. Refs Build Master itself set
   * meanwhile (a task promoted beside this one) are not the agent's; nor is
   * Build Master's state directory, which the run driver writes as it goes.
   */
  private async contained(what: string, stage: TaskStage, work: () => Promise<CommandOutcome>): Promise<CommandOutcome> {
    const { repo } = this;
    const mark = ownRefMark();
    const before = await snapshot(repo.root, repo.commonDir, repo.stateDir, { checkouts: false });
    const outcome = await work();
    const found = await examine(before, await snapshot(repo.root, repo.commonDir, repo.stateDir, { checkouts: false }));
    const breach: Breach = {
      ...found,
      refs: found.refs.filter(([name, , is]) => !isOwnRefUpdate(repo.commonDir, mark, name, is)),
      files: found.files.filter((file) => !file.startsWith(`buildmaster${sep}`)),
    };
    if (isFatal(breach)) {
      this.ledger.push(`== ${what} ==`, outcome.output.trimEnd());
      // The target only when named: a merge Build Master made meanwhile is noted (and so not in the breach).
      const message = `the ${what} reached outside its worktree: ${await answerBreach(repo, before, breach, this.job.target ?? '')}; nothing from this attempt is used`;
      this.ledger.push(message);
      throw new Stop(message, stage);
    }
    return outcome;
  }
}

/**
 * Runs a command with its lineage watched: whatever it started is killed when it ends, a daemon that
 * left its group, its variables and its folder included, before the snapshot after it is taken.
 */
async function watched(dir: string, run: (onStarted: (pid: number) => void) => Promise<CommandOutcome>): Promise<CommandOutcome> {
  const lineage = new Lineage(dir, `BUILDMASTER_WORKTREE=${dir}`);
  try {
    return await run((pid) => {
      lineage.watch(pid);
    });
  } finally {
    lineage.kill();
  }
}

/** At most `max` code points, an ellipsis marking a cut. */
function clip(text: string, max: number): string {
  const points = [...text];
  return points.length > max ? `${points.slice(0, max - 1).join('')}…` : text;
}

function violation(problem: ScopeProblem): string {
  return problem.kind === 'outside-scope' ? problem.path : describeProblem(problem);
}

/** The result file's text: a plain file of sane size only (a FIFO would hang the read, a link could point anywhere). */
function readResult(path: string, warnings: string[]): string | undefined {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return undefined;
  }
  if (!stat.isFile() || stat.size > RESULT_LIMIT) {
    warnings.push(`warning: BUILDMASTER_RESULT is ${stat.isFile() ? `larger than ${RESULT_LIMIT} bytes` : 'not a plain file'}: ignored`);
    return undefined;
  }
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Runs one attempt of a task. The worktree is removed at the end in every
 * case: the result lives in its commit (`commit_sha`), which `promoteTask`
 * names with the task's branch.
 */
export async function runTask(repo: GitRepo, job: TaskJob): Promise<TaskOutcome> {
  const started = Date.now();
  // Before any token is spent: a result that could never be promoted is not worth producing.
  await checkBranch(repo, job.run, job.task.id);
  if (!Number.isInteger(job.attempt) || job.attempt < 0) throw new TaskInputError(`attempt ${job.attempt} is not a whole number`);
  const base = await repo.revParse(job.base);
  if (!base) throw new TaskInputError(`the base ${JSON.stringify(job.base)} is no commit of ${repo.root}`);
  const settled = { ...job, base };
  if (job.signal?.aborted)
    return {
      success: false,
      error: 'cancelled before it started',
      cancelled: true,
      output: '',
      files_changed: [],
      duration_ms: 0,
      artifacts: [],
      usage: NO_USAGE,
      verified: false,
      repaired: false,
      stage: 'work',
    };
  const name = taskWorktreeName(job.run, job.task.id, job.attempt);
  // The same attempt's worktree left by a crash is replaced: whatever still runs in it goes first.
  await killProcessesIn(join(repo.stateDir, 'worktrees', name));
  const dir = await repo.addWorktree(name, ['--detach', base]);
  const scratch = mkdtempSync(join(tmpdir(), 'bm-task-'));
  try {
    const admin = (await quietGit(dir, [...SAFE, 'rev-parse', '--absolute-git-dir'])).trim();
    const attempt = await new TaskAttempt(repo, settled, dir, admin, scratch).run();
    const outcome = { ...attempt, duration_ms: Date.now() - started };
    // Durable before it is returned: a controller that dies now finds it on its restart instead of running the task again.
    if (!outcome.cancelled) leaveResult(repo, settled, outcome);
    return outcome;
  } finally {
    // Anything that escaped the group but still works in the worktree goes before it does.
    await killProcessesIn(dir);
    await repo.removeWorktree(dir);
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Names a checked result with the task's branch: created only when absent, or
 * left alone when it already names `sha` (a promotion repeated after a crash).
 * A branch someone moved is never overwritten.
 */
export async function promoteTask(repo: GitRepo, run: string, task: string, sha: string): Promise<string> {
  const branch = await checkBranch(repo, run, task);
  const ref = `refs/heads/${branch}`;
  const commit = await repo.revParse(sha);
  if (!commit || !commit.startsWith(sha.toLowerCase())) throw new TaskInputError(`${sha} is no commit of ${repo.root}: nothing to promote`);
  const taken = (current: string) =>
    new Error(
      `${branch} already exists at ${current.slice(0, 7)}, not at the task's result ${commit.slice(0, 7)}: someone moved it, so it is left as it is (delete it to promote again)`,
    );
  const current = await repo.revParse(ref);
  if (current === commit) return branch;
  if (current) throw taken(current);
  // Noted first: an agent running beside this must not be blamed for the new branch.
  noteOwnRefUpdate(repo.commonDir, ref, commit);
  try {
    await quietGit(repo.root, [...SAFE, 'update-ref', '-m', `build-master: task ${task} of run ${run}`, ref, commit, ZERO]);
  } catch (error) {
    const now = await repo.revParse(ref);
    if (now === commit) return branch;
    if (now) throw taken(now);
    throw error;
  }
  return branch;
}

function realOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** Whether `pid` runs: a zombie (killed, not yet reaped by its new parent) does not. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return process.platform !== 'linux';
  }
}

/** Whether process `pid` is a task's: it works inside `worktree` or carries it as BUILDMASTER_WORKTREE (Linux only: /proc). */
function belongsTo(pid: number, worktree: string): boolean {
  if (process.platform !== 'linux') return false;
  try {
    const cwd = readlinkSync(`/proc/${pid}/cwd`);
    const real = realOr(worktree);
    if (cwd === real || cwd.startsWith(real + sep)) return true;
  } catch {
    // gone, or not ours to read
  }
  try {
    const environ = `\0${readFileSync(`/proc/${pid}/environ`, 'utf8')}`;
    return environ.includes(`\0BUILDMASTER_WORKTREE=${worktree}\0`);
  } catch {
    return false;
  }
}

/** Kills, until none is left, the processes that carry `worktree` as BUILDMASTER_WORKTREE (one that left the directory). */
function killCarriers(worktree: string): number {
  if (process.platform !== 'linux') return 0;
  let killed = 0;
  for (let pass = 0; pass < 20; pass++) {
    const pids = readdirSync('/proc')
      .filter((name) => /^[0-9]+$/.test(name))
      .map(Number)
      .filter((pid) => pid !== process.pid && belongsTo(pid, worktree));
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        // gone meanwhile
      }
    }
  }
  return killed;
}

/**
 * After a crash: kills the process groups of orphaned agents that are still
 * alive (only a process that is verifiably the task's: a reused pid is left
 * alone), and removes orphaned task worktrees and any task worktree no live
 * task holds. Only Build Master's own worktree folder is touched, whatever
 * path the store names. Returns what it did, one sentence each.
 */
export async function cleanupTaskLeftovers(
  repo: GitRepo,
  live: { pid?: number; worktree?: string }[],
  orphans: { pid?: number; worktree?: string }[],
): Promise<string[]> {
  const done: string[] = [];
  const home = join(repo.stateDir, 'worktrees');
  const ownHome = realOr(home);
  const livePids = new Set(live.map((entry) => entry.pid).filter((pid): pid is number => pid !== undefined));
  const liveDirs = new Set(
    live
      .map((entry) => entry.worktree)
      .filter((dir): dir is string => dir !== undefined)
      .map(realOr),
  );
  const isTaskWorktree = (dir: string) => {
    const real = realOr(dir);
    return (
      real.startsWith(ownHome + sep) && !real.slice(ownHome.length + 1).includes(sep) && real.slice(ownHome.length + 1).startsWith('task-')
    );
  };
  for (const orphan of orphans) {
    const { pid, worktree } = orphan;
    if (pid === undefined || livePids.has(pid) || !alive(pid)) continue;
    if (worktree === undefined || !isTaskWorktree(worktree) || !belongsTo(pid, worktree)) {
      done.push(`left process ${pid} alone: it is not verifiably the orphaned task's (its pid may have been reused)`);
      continue;
    }
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // not a group leader any more: the pid alone
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
    done.push(`killed the orphaned agent process group ${pid}`);
  }
  const dirs = new Set<string>();
  for (const orphan of orphans) if (orphan.worktree !== undefined && isTaskWorktree(orphan.worktree)) dirs.add(realOr(orphan.worktree));
  if (existsSync(home)) for (const name of readdirSync(home)) if (name.startsWith('task-')) dirs.add(join(ownHome, name));
  for (const dir of dirs) {
    if (liveDirs.has(dir)) continue;
    const killed = (await killProcessesIn(dir)) + killCarriers(dir);
    if (killed) done.push(`killed ${killed} process(es) still working in ${dir}`);
    await repo.removeWorktree(dir);
    done.push(`removed the orphaned task worktree ${dir}`);
  }
  // A worktree whose folder went with a crash still has git's record of it: dropped too.
  await repo.git.raw(['worktree', 'prune']).catch(() => undefined);
  return done;
}

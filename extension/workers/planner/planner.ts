// The planner command (issue 13): an agent CLI reads the ticket on stdin and prints a plan as JSON.
// It runs in a throwaway checkout of HEAD (so an agent that writes by mistake loses nobody's work, and
// everything still working in there when it ends is its own and is killed), with an allowlisted
// environment and a timeout. A planner only reads: the repository (refs, configuration, hooks, the
// object store, the user's checkouts) and its own checkout are compared before and after, and any
// change fails the plan. Its stdout goes to a file, not a tail, so a long plan is read whole.
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Task, Usage } from '../../core/runs/model';
import { MAX_PLAN_CHARS, parsePlan, parseUsage, unlistedTestCommands } from '../../core/runs/plan';
import type { RunsPolicy } from '../../core/runs/policy';
import { MAX_TICKET_CHARS, plannerPrompt, type Ticket } from '../../core/runs/template';
import { formatDuration } from '../../core/policy/duration';
import { GitRepo, quietGit } from '../../git/repo';
import { describeBreach, examine, snapshot, type Breach, type RepoSnapshot } from '../../process/containment';
import { allowlistedEnv } from '../../process/env';
import { killProcessesIn, OUTPUT_TAIL, runCommand } from '../../process/run';
import { Lineage, reaped } from '../task/lineage';

export type PlannerOutcome =
  { ok: true; tasks: Task[]; output: string; rationale?: string; usage?: Usage } | { ok: false; reason: string; output: string };

/** Build Master's own git calls on what a command left behind: no hooks, no fsmonitor, exact paths. */
const SAFE = ['-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false', '-c', 'core.quotePath=false'];
/** Problems listed in a reason; the rest are counted. */
const LISTED = 10;

export async function runPlanner(repoRoot: string, runs: RunsPolicy, ticket: Ticket, signal?: AbortSignal): Promise<PlannerOutcome> {
  const fail = (reason: string, output = ''): PlannerOutcome => ({ ok: false, reason, output });
  const command = runs.planner.command;
  if (command === undefined)
    return fail('runs.planner.command is not set in .buildmaster.yml (without it a ticket is planned by runs.template)');
  if (ticket.text.trim() === '') return fail("the ticket is empty: give the ticket's text or a file that holds it");
  if (ticket.text.length > MAX_TICKET_CHARS) return fail(`the ticket is ${ticket.text.length} characters; at most ${MAX_TICKET_CHARS}`);
  if (signal?.aborted) return fail('the planner was not started: the run was stopped');
  let repo: GitRepo;
  try {
    repo = await GitRepo.open(repoRoot);
  } catch (error) {
    return fail((error as Error).message);
  }
  const head = await repo.revParse('HEAD');
  if (head === undefined) return fail('the repository has no commit yet: the planner reads a checkout of HEAD, so commit something first');
  let dir: string;
  try {
    dir = await repo.addWorktree(`planner-${randomBytes(6).toString('hex')}`, ['--detach', head]);
  } catch (error) {
    return fail(`the planner's checkout could not be made: ${(error as Error).message}`);
  }
  const scratch = mkdtempSync(join(tmpdir(), 'bm-planner-'));
  try {
    return await plan({ repo, dir, scratch, head, command }, runs, ticket, signal);
  } catch (error) {
    // git failing under the planner (a full disk, a repository removed meanwhile): a reason, not a stack trace.
    return fail(`the planner could not run: ${(error as Error).message}`);
  } finally {
    await repo.removeWorktree(dir);
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The planner's throwaway checkout of `head`, and a scratch folder outside the repository for its stdout. */
interface Place {
  repo: GitRepo;
  dir: string;
  scratch: string;
  head: string;
  command: string;
}

async function plan(place: Place, runs: RunsPolicy, ticket: Ticket, signal: AbortSignal | undefined): Promise<PlannerOutcome> {
  const fail = (reason: string, output = ''): PlannerOutcome => ({ ok: false, reason, output });
  const { repo, dir, scratch, head, command } = place;
  const admin = (await quietGit(dir, [...SAFE, 'rev-parse', '--absolute-git-dir'])).trim();
  const before = await snapshot(repo.root, repo.commonDir, repo.stateDir);
  const mark = randomBytes(8).toString('hex');
  const env = allowlistedEnv(runs.planner.env, {
    BUILDMASTER_PLANNER: mark,
    BUILDMASTER_TICKET_TITLE: ticket.title,
    ...(ticket.id === undefined ? {} : { BUILDMASTER_TICKET_ID: ticket.id }),
    BUILDMASTER_REPO: repo.root,
    CI: 'true',
  });
  const planFile = join(scratch, 'plan.out');
  // The command's stdout into a file (read whole, up to a bound); its stderr stays in the output's tail.
  const wrapped = `exec >${shellQuote(planFile)}\n${command}`;
  const stopper = stopOnAbort(dir, signal);
  // Finished however runCommand ends, so the stopper's loop never outlives it.
  // Watched like a worker's agent: a daemon it detaches dies with it, before the repository is compared.
  const lineage = new Lineage(dir, `BUILDMASTER_PLANNER=${mark}`);
  const outcome = await runCommand(reaped(wrapped), {
    cwd: dir,
    env,
    timeoutMs: runs.planner.timeout,
    input: plannerPrompt(ticket, runs),
    contain: dir,
    onStarted: (pid) => {
      lineage.watch(pid);
    },
  }).finally(() => {
    lineage.kill();
    stopper.finish();
  });
  const stopped = stopper.stopped();
  const stdout = readBounded(planFile, MAX_PLAN_CHARS + 1);
  const output = outputTail(stdout, outcome.output);
  const changes = await changesMade(repo, before, dir, admin, head);
  if (changes.length > 0) {
    return fail(`the planner changed the repository, and a planner only reads: ${listed(changes)}; its plan is not used`, output);
  }
  if (stopped) return fail('the planner was stopped: the run was stopped while it planned', output);
  if (outcome.timedOut) {
    return fail(`the planner timed out after ${formatDuration(runs.planner.timeout)} (runs.planner.timeout) and was killed`, output);
  }
  if (outcome.exitCode !== 0) {
    return fail(`the planner exited with ${outcome.exitCode === null ? 'no exit code (killed by a signal)' : outcome.exitCode}`, output);
  }
  const plan = parsePlan(stdout, runs);
  if (!plan.ok) {
    const problems = plan.problems.map((p) => `line ${p.line}${p.path === '' ? '' : ` (${p.path})`}: ${p.reason}`);
    return fail(`the planner's plan was rejected, so nothing runs: ${listed(problems)}`, output);
  }
  const unlisted = unlistedTestCommands(plan.tasks, runs);
  if (unlisted.length > 0) {
    const named = unlisted.map(({ task, command }) => `task "${task}" would run ${JSON.stringify(command)}`);
    return fail(
      `the planner's plan was rejected, so nothing runs: ${listed(named)}, which runs.test_commands does not list (a planner's test commands run on your machine, so only the policy's are taken: add the command to runs.test_commands in .buildmaster.yml, or plan again)`,
      output,
    );
  }
  const usage = parseUsage(`${stdout}\n${outcome.output}`);
  const variables = { title: ticket.title, ticket_source: ticket.source, ...(ticket.id === undefined ? {} : { ticket_id: ticket.id }) };
  const tasks = plan.tasks.map((task) => ({ ...task, spec: { ...task.spec, variables: { ...variables, ...task.spec.variables } } }));
  return {
    ok: true,
    tasks,
    output,
    ...(plan.rationale === undefined ? {} : { rationale: plan.rationale }),
    ...(usage === undefined ? {} : { usage }),
  };
}

/** What the planner changed: the repository as the fix command's containment sees it, and its own checkout. */
async function changesMade(repo: GitRepo, before: RepoSnapshot, dir: string, admin: string, head: string): Promise<string[]> {
  const breach: Breach = await examine(before, await snapshot(repo.root, repo.commonDir, repo.stateDir));
  const changes = describeBreach(breach);
  // Kept strict (a planner that writes Build Master's store could approve its own run), but said plainly:
  // another Build Master command that ran meanwhile (a sync, a kill) writes these too.
  const own =
    breach.refs.some(([name]) => /^refs\/(heads\/)?buildmaster\//.test(name)) || breach.files.some((f) => /^buildmaster[\\/]/.test(f));
  if (own) changes.push("Build Master's own state or branches changed: if another Build Master command ran meanwhile, plan again");
  // A fix command may leave a user checkout's files changed (the user may be editing); a planner changes none.
  for (const [path, files] of breach.checkouts) {
    changes.push(`${files.slice(0, LISTED).join(', ')} changed in the checkout ${path} (by the planner, or by you meanwhile)`);
  }
  const git = (args: string[]) => quietGit(dir, [...SAFE, `--git-dir=${admin}`, `--work-tree=${dir}`, ...args]);
  const now = (await git(['rev-parse', '--verify', 'HEAD^{commit}']).catch(() => '')).trim();
  if (now !== head) changes.push(`its checkout's HEAD moved from ${head.slice(0, 7)} to ${now === '' ? 'nothing' : now.slice(0, 7)}`);
  const status = await git(['status', '--porcelain=v1', '-z', '--untracked-files=all', '--no-renames']).catch(
    (error: unknown) => `?? (git status failed: ${(error as Error).message})\0`,
  );
  const files = status
    .split('\0')
    .filter(Boolean)
    .map((entry) => entry.slice(3));
  if (files.length > 0) changes.push(`it wrote ${files.slice(0, LISTED).join(', ')}${files.length > LISTED ? ', …' : ''} in its checkout`);
  return changes;
}

/** On abort, kills everything working in the planner's checkout until the command is gone. */
function stopOnAbort(dir: string, signal: AbortSignal | undefined): { finish: () => void; stopped: () => boolean } {
  let done = false;
  let stopped = false;
  const stop = async () => {
    stopped = true;
    // Repeated: the command may not have started when the signal came.
    while (!done) {
      await killProcessesIn(dir);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };
  const listener = () => void stop();
  signal?.addEventListener('abort', listener, { once: true });
  if (signal?.aborted) listener();
  return {
    finish: () => {
      done = true;
      signal?.removeEventListener('abort', listener);
    },
    stopped: () => stopped,
  };
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The first `limit` characters of a file (empty when it is missing): a planner printing without end is cut, not read whole. */
function readBounded(path: string, limit: number): string {
  let fd: number | undefined;
  try {
    const size = Math.min(statSync(path).size, limit * 4);
    fd = openSync(path, 'r');
    const buffer = Buffer.alloc(size);
    const read = readSync(fd, buffer, 0, size, 0);
    return buffer.subarray(0, read).toString('utf8').slice(0, limit);
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The end of what the planner printed (stdout) and of what it complained about (stderr). */
function outputTail(stdout: string, stderr: string): string {
  const out = stdout.slice(-OUTPUT_TAIL).trimEnd();
  const err = stderr.slice(-OUTPUT_TAIL).trimEnd();
  return [out, err === '' ? '' : `[stderr]\n${err}`].filter(Boolean).join('\n');
}

function listed(items: readonly string[]): string {
  return `${items.slice(0, LISTED).join('; ')}${items.length > LISTED ? `; and ${items.length - LISTED} more` : ''}`;
}

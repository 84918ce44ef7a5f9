// The outcome of a finished task attempt, left under Build Master's state
// directory before runTask returns it: a controller that dies before it
// records the outcome finds it on its restart, and the task is not run again.
// The folder is writable by anything running as the same user (an agent
// too), so a result read back is checked again against what git holds: its
// commit exists, descends from the base, names the run and task in its
// trailers, and stays inside the task's write scope.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { usageSchema, type Task } from '../../core/runs/model';
import { parseTrailers } from '../../core/trailers';
import { quietGit, type GitRepo } from '../../git/repo';
import { checkRange, describeProblem } from '../command/scope';
import { scopeMatcher } from './scope';
import type { TaskJob, TaskOutcome } from './worker';

const SAFE = ['-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false', '-c', 'core.quotePath=false'];

const outcomeSchema = z.object({
  success: z.boolean(),
  error: z.string().optional(),
  output: z.string(),
  commit_sha: z
    .string()
    .regex(/^[0-9a-f]{40,64}$/)
    .optional(),
  files_changed: z.array(z.string()),
  duration_ms: z.number().nonnegative(),
  artifacts: z.array(z.string()),
  usage: usageSchema,
  verified: z.boolean(),
  repaired: z.boolean(),
  stage: z.enum(['work', 'scope', 'verify', 'repair', 'done']),
  scope_violations: z.array(z.string()).optional(),
  verdict: z.enum(['approve', 'reject']).optional(),
  cancelled: z.boolean().optional(),
});

const leftSchema = z.object({
  run: z.string(),
  task: z.string(),
  attempt: z.number().int().nonnegative(),
  base: z.string(),
  outcome: outcomeSchema,
});

export interface LeftResult {
  task: string;
  attempt: number;
  outcome: TaskOutcome;
}

function dirOf(repo: GitRepo, run: string): string {
  return join(repo.stateDir, 'task-results', run);
}

/** `<task>@<attempt>.json`: `@` is in no id. */
function fileOf(repo: GitRepo, run: string, task: string, attempt: number): string {
  return join(dirOf(repo, run), `${task}@${attempt}.json`);
}

/** Writes the outcome atomically (a crash leaves the old file or the new one, never half of one). */
export function leaveResult(repo: GitRepo, job: TaskJob, outcome: TaskOutcome): void {
  const path = fileOf(repo, job.run, job.task.id, job.attempt);
  mkdirSync(dirOf(repo, job.run), { recursive: true });
  const temp = `${path}.tmp-${process.pid}`;
  writeFileSync(temp, JSON.stringify({ run: job.run, task: job.task.id, attempt: job.attempt, base: job.base, outcome }));
  renameSync(temp, path);
}

/** Drops a result once the run has recorded it. */
export function forgetTaskResult(repo: GitRepo, run: string, task: string, attempt: number): void {
  rmSync(fileOf(repo, run, task, attempt), { force: true });
}

/**
 * The results finished attempts of `run`'s tasks left, each checked again
 * against git (its base must be on `target`'s history: a base the file names
 * could otherwise hide commits from the scope check); `dropped` says which
 * were not taken and why (and they are removed). A task not in `tasks` is
 * left alone.
 */
export async function collectTaskResults(
  repo: GitRepo,
  run: string,
  tasks: readonly Task[],
  target: string,
): Promise<{ results: LeftResult[]; dropped: string[] }> {
  const results: LeftResult[] = [];
  const dropped: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dirOf(repo, run)).filter((name) => name.endsWith('.json'));
  } catch {
    return { results, dropped };
  }
  for (const name of names) {
    const path = join(dirOf(repo, run), name);
    const drop = (why: string) => {
      dropped.push(`${name}: ${why}`);
      rmSync(path, { force: true });
    };
    let left: z.infer<typeof leftSchema>;
    try {
      left = leftSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
    } catch {
      drop('not a result Build Master wrote');
      continue;
    }
    const task = tasks.find((candidate) => candidate.id === left.task);
    if (!task) continue;
    if (left.run !== run || name !== `${left.task}@${left.attempt}.json`) {
      drop('its run or task does not match its name');
      continue;
    }
    const why = await checkLeft(repo, run, task, left.base, left.outcome.commit_sha, target);
    if (why) drop(why);
    else results.push({ task: left.task, attempt: left.attempt, outcome: left.outcome });
  }
  return { results, dropped };
}

/** Why a left result's commit cannot be the task's, if it cannot. */
async function checkLeft(
  repo: GitRepo,
  run: string,
  task: Task,
  base: string,
  sha: string | undefined,
  target: string,
): Promise<string | undefined> {
  if (sha === undefined) return undefined;
  const onTarget = await quietGit(repo.root, [...SAFE, 'merge-base', '--is-ancestor', `${base}^{commit}`, target]).then(
    () => true,
    () => false,
  );
  if (!onTarget) return `its base ${base.slice(0, 7)} is not on ${target}'s history`;
  const message = await quietGit(repo.root, [...SAFE, 'log', '-1', '--format=%B', `${sha}^{commit}`]).catch(() => undefined);
  if (message === undefined) return `its commit ${sha.slice(0, 7)} is not in the repository`;
  const trailers = parseTrailers(message);
  if (trailers.get('Run') !== run || trailers.get('Task') !== task.id)
    return `its commit ${sha.slice(0, 7)} does not name run ${run} and task ${task.id}`;
  const problems = await checkRange(repo.root, base, sha, scopeMatcher(task.spec.write_scope));
  if (problems.length) return `its commit is outside the task's write scope: ${problems.map(describeProblem).join('; ')}`;
  return undefined;
}

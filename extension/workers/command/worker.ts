// The command worker (SPEC §5): runs `dispatch.command` in a fresh worktree
// detached at the target, the prompt on stdin, with an allowlisted
// environment, a timeout and nothing left running after it. Build Master
// commits what is left uncommitted itself (deterministic git, no hooks), then
// checks every commit from the target to the result against the lane's write
// scope, and that the command moved no ref and touched no git configuration or
// hooks, before the fix branch is set — so the branch only ever names a
// checked fix.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { failureLines } from '../../core/fingerprint';
import { short } from '../../core/text';
import type { Incident } from '../../core/model';
import { formatDuration } from '../../core/policy/duration';
import type { Policy } from '../../core/policy/schema';
import { writeScope } from '../../core/scope';
import { fence, formatTrailers, repairBranch, repairLine } from '../../core/trailers';
import type { BuildResult, BuildSpec, Worker } from '../../ports';
import { noteOwnRefUpdate } from '../../git/own-refs';
import { BUILD_MASTER_IDENTITY, quietGit, type GitRepo } from '../../git/repo';
import { allowlistedEnv } from '../../process/env';
import { runCommand } from '../../process/run';
import {
  describeBreach,
  examine,
  undoReplacements,
  isFatal,
  markTampered,
  restorePolicies,
  restoreRefs,
  snapshot,
  type Breach,
  type RepoSnapshot,
} from '../../process/containment';
import { checkRange, describeProblem } from './scope';

const DIFF_LIMIT = 20_000;
const ZERO = '0000000000000000000000000000000000000000';
/** Build Master's own git calls on what a command left behind: no hooks, no fsmonitor, exact paths. */
const SAFE = ['-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false', '-c', 'core.quotePath=false'];

export function fixBranch(incident: string): string {
  return repairBranch('fix', incident);
}

/** The prompt a coding agent receives: what broke, where, the suspect's diff, what it may touch. */
export async function buildPrompt(repo: GitRepo, incident: Incident, policy: Policy, failingOutput: string): Promise<string> {
  const suspect = [...incident.suspects].reverse().find((s) => s.change) ?? incident.suspects[incident.suspects.length - 1];
  const diff = suspect
    ? (await repo.git.raw(['show', '--stat', '--patch', '--format=commit %H%nAuthor: %an%n%n%B', suspect.sha]).catch(() => '')).slice(
        0,
        DIFF_LIMIT,
      )
    : '';
  const scope = writeScope(policy, incident);
  return [
    `# Build Master incident ${incident.id}`,
    '',
    `The ${policy.target} branch is red at ${short(incident.redSha)}: ${incident.failingChecks.join(', ')} failed (class ${incident.failureClass}).`,
    `Lane: ${incident.lanes.join(', ') || 'unattributed'}.`,
    '',
    '## Failing tests',
    // Test names come from the check's output: fenced like the output itself.
    fence(failureLines(incident).join('\n')),
    '',
    '## Failing check output (tail)',
    // Untrusted text: fenced so that no backticks in it can close the fence.
    fence(failingOutput.trim() || '(no output captured)'),
    '',
    suspect ? `## Suspect merge ${short(suspect.sha)}${suspect.change ? ` (${suspect.change})` : ''}` : '## No suspect merge is known',
    diff ? fence(diff, 'diff') : '',
    '',
    '## Allowed paths',
    ...scope.globs.map((glob) => `- ${glob}`),
    '',
    'Change only files under the allowed paths. Do not commit, switch branches or touch git configuration: Build Master commits your changes and opens them as a fix change.',
    '',
  ].join('\n');
}

export class CommandWorker implements Worker {
  readonly kind = 'command' as const;

  constructor(
    private readonly repo: GitRepo,
    private readonly targetSha: () => Promise<string>,
  ) {}

  async dispatch(spec: BuildSpec, incident: Incident, attempt: number, policy: Policy): Promise<BuildResult> {
    const started = Date.now();
    const command = policy.dispatch.command;
    let warnings: string[] = [];
    const fail = (error: string, output = '', files: string[] = [], breach?: string): BuildResult => ({
      success: false,
      output,
      error,
      files_changed: files,
      duration_ms: Date.now() - started,
      artifacts: [],
      ...(breach ? { breach } : {}),
      ...(warnings.length ? { warnings } : {}),
    });
    if (!command) return fail('dispatch.command is not set in .buildmaster.yml');
    const { root, commonDir } = this.repo;
    const git = (args: string[], env: Record<string, string> = {}) => quietGit(root, [...SAFE, ...args], env);
    const branch = fixBranch(incident.id);
    const base = await this.targetSha();
    // An earlier attempt's branch is superseded; the branch is set again only to a checked fix.
    const earlier = await this.repo.revParse(`refs/heads/${branch}`);
    if (earlier) {
      noteOwnRefUpdate(commonDir, `refs/heads/${branch}`, ZERO);
      await git(['update-ref', '-d', `refs/heads/${branch}`, earlier]);
    }
    // Detached: the command is given no branch at all; whatever it commits stays in this worktree's HEAD.
    const dir = await this.repo.addWorktree(`fix-${incident.id}-${attempt}`, ['--detach', base]);
    const admin = (await quietGit(dir, [...SAFE, 'rev-parse', '--absolute-git-dir'])).trim();
    try {
      const before = await snapshot(root, commonDir, this.repo.stateDir);
      const env = allowlistedEnv(policy.dispatch.env, {
        BUILDMASTER_INCIDENT: incident.id,
        BUILDMASTER_ATTEMPT: String(attempt),
        BUILDMASTER_FAILING_CHECKS: incident.failingChecks.join(','),
        BUILDMASTER_ALLOWED_PATHS: (spec.write_scope ?? []).join(','),
        BUILDMASTER_WORKTREE: dir,
        CI: 'true',
      });
      const outcome = await runCommand(command, { cwd: dir, env, timeoutMs: spec.timeout, input: spec.prompt, contain: dir });
      const breach = await examine(before, await snapshot(root, commonDir, this.repo.stateDir));
      warnings = breach.checkouts.map(
        ([path, files]) =>
          `warning: ${files.length} file(s) changed in the checkout ${path} while the fix command ran (by the command, or by you): ${files.slice(0, 10).join(', ')}${files.length > 10 ? ', …' : ''}`,
      );
      const output = outcome.output;
      if (isFatal(breach)) {
        const message = `the fix command reached outside its worktree: ${await answerBreach(this.repo, before, breach, policy.target)}; nothing from this attempt is used`;
        return fail(message, output, [], message);
      }
      if (outcome.timedOut)
        return fail(`the fix command timed out after ${formatDuration(spec.timeout)} (dispatch.timeout) and was killed`, output);
      if (outcome.exitCode !== 0) return fail(`the fix command exited with ${outcome.exitCode}`, output);
      const head = (await quietGit(root, [...SAFE, `--git-dir=${admin}`, 'rev-parse', '--verify', 'HEAD^{commit}']).catch(() => '')).trim();
      if (!head) return fail('the fix command left its worktree without a commit checked out', output);
      const message = `Fix ${incident.id} (attempt ${attempt}): ${incident.failingChecks.join(', ')}\n\n${repairLine('fix', incident.id)}\n${formatTrailers({ Incident: incident.id })}`;
      const final = await commitLeftovers(this.repo, dir, head, message);
      if (final === base) return fail('the fix command changed no files', output);
      const scope = writeScope(policy, incident);
      const problems = await checkRange(root, base, final, scope.allows);
      const files = (await git(['diff', '--name-only', '-z', '--no-renames', base, final]).catch(() => '')).split('\0').filter(Boolean);
      if (problems.length) {
        return fail(
          `the fix is outside its write scope (${scope.globs.join(', ')}): ${problems.map(describeProblem).join('; ')}; no fix branch was set`,
          output,
          files,
        );
      }
      if (files.length === 0) return fail('the fix command changed no files', output);
      // Must not exist: a branch someone set meanwhile is not overwritten.
      noteOwnRefUpdate(commonDir, `refs/heads/${branch}`, final);
      await git(['update-ref', '-m', `build-master: fix ${incident.id} attempt ${attempt}`, `refs/heads/${branch}`, final, ZERO]);
      return {
        success: true,
        output,
        commit_sha: final,
        files_changed: files,
        duration_ms: Date.now() - started,
        artifacts: [],
        change: branch,
        ...(warnings.length ? { warnings } : {}),
      };
    } finally {
      await this.repo.removeWorktree(dir);
    }
  }
}

/**
 * Undoes what a command did outside its worktree where that is safe (refs it
 * replaced or created, Build Master's own branches and the target, policy
 * files of the user's checkouts) and marks a tampered object store. Returns
 * one line: what it did, and what was undone or is left for a person.
 */
export async function answerBreach(repo: GitRepo, before: RepoSnapshot, breach: Breach, target: string): Promise<string> {
  const replaced = await undoReplacements(repo.root, breach);
  const { restored, reported } = await restoreRefs(repo.root, replaced.rest, target, { created: true });
  restored.push(...replaced.undone);
  reported.push(...replaced.left);
  const policies = await restorePolicies(before, breach, repo.stateDir);
  markTampered(repo.stateDir, breach);
  const what = describeBreach(breach).join('; ');
  const undo = [
    restored.length ? `restored ${restored.join(', ')}` : '',
    reported.length ? `left for a person to check: ${reported.join(', ')}` : '',
    ...policies,
  ]
    .filter(Boolean)
    .join('; ');
  return `${what}${undo ? ` (${undo})` : ''}`;
}

/**
 * Commits what a command left uncommitted in `dir` on top of its worktree's
 * HEAD, through a private index and commit-tree: no hooks, no index or `.git`
 * link the command could have rewritten. Returns the resulting head (`head`
 * itself when nothing was left, unless `always` asks for a commit anyway, so
 * the result carries the message's trailers).
 */
export async function commitLeftovers(repo: GitRepo, dir: string, head: string, message: string, always = false): Promise<string> {
  const scratch = mkdtempSync(join(tmpdir(), 'bm-fix-index-'));
  try {
    const env = { GIT_INDEX_FILE: join(scratch, 'index'), ...BUILD_MASTER_IDENTITY };
    const git = (args: string[]) => quietGit(repo.root, [...SAFE, `--git-dir=${repo.commonDir}`, `--work-tree=${dir}`, ...args], env);
    await git(['read-tree', head]);
    await git(['add', '-A', '--', '.']);
    const tree = (await git(['write-tree'])).trim();
    if (!always && tree === (await git(['rev-parse', `${head}^{tree}`])).trim()) return head;
    return (await git(['commit-tree', tree, '-p', head, '-m', message])).trim();
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

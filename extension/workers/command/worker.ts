// The command worker (SPEC §5): runs `dispatch.command` in a fresh worktree on
// buildmaster/fix/<incident>, the prompt on stdin, with a scrubbed environment
// and a timeout. Build Master commits the result itself (deterministic git,
// not the agent) and rejects any file outside the lane's write scope.
import picomatch from 'picomatch';
import { laneOfFile } from '../../core/classify';
import { short } from '../../core/gate';
import type { Incident } from '../../core/model';
import { formatDuration } from '../../core/policy/duration';
import type { Policy } from '../../core/policy/schema';
import type { BuildResult, BuildSpec, Worker } from '../../ports';
import type { GitRepo } from '../../git/repo';
import { runCommand, scrubbedEnv } from '../../forge/local/checks';

const DIFF_LIMIT = 20_000;

export function fixBranch(incident: string): string {
  return `buildmaster/fix/${incident}`;
}

/** The paths a fix for this incident may touch: its lane's globs (the default lane: files no lane owns). */
export function writeScope(policy: Policy, incident: Incident): { globs: string[]; allows: (file: string) => boolean } {
  const lanes = incident.lanes.length ? incident.lanes : [policy.default_lane];
  const globs = lanes.flatMap((name) => policy.lanes.find((lane) => lane.name === name)?.paths ?? []);
  const ownsDefault = lanes.includes(policy.default_lane) && !policy.lanes.some((lane) => lane.name === policy.default_lane);
  const match = globs.length ? picomatch(globs, { dot: true }) : () => false;
  return {
    globs: ownsDefault ? [...globs, '(any file no lane owns)'] : globs,
    allows: (file) => match(file) || (ownsDefault && laneOfFile(policy, file) === policy.default_lane),
  };
}

/** The prompt a coding agent receives: what broke, where, the suspect's diff, what it may touch. */
export async function buildPrompt(repo: GitRepo, incident: Incident, policy: Policy, failingOutput: string): Promise<string> {
  const suspect = [...incident.suspects].reverse().find((s) => s.change) ?? incident.suspects[incident.suspects.length - 1];
  const diff = suspect ? (await repo.git.raw(['show', '--stat', '--patch', '--format=commit %H%nAuthor: %an%n%n%B', suspect.sha]).catch(() => '')).slice(0, DIFF_LIMIT) : '';
  const scope = writeScope(policy, incident);
  return [
    `# Build Master incident ${incident.id}`,
    '',
    `The ${policy.target} branch is red at ${short(incident.redSha)}: ${incident.failingChecks.join(', ')} failed (class ${incident.failureClass}).`,
    `Lane: ${incident.lanes.join(', ') || 'unattributed'}.`,
    '',
    '## Failing check output (tail)',
    '```',
    failingOutput.trim() || '(no output captured)',
    '```',
    '',
    suspect ? `## Suspect merge ${short(suspect.sha)}${suspect.change ? ` (${suspect.change})` : ''}` : '## No suspect merge is known',
    diff ? `\`\`\`diff\n${diff}\n\`\`\`` : '',
    '',
    '## Allowed paths',
    ...scope.globs.map((glob) => `- ${glob}`),
    '',
    'Change only files under the allowed paths. Do not commit: Build Master commits your changes and opens them as a fix change.',
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
    const fail = (error: string, output = '', files: string[] = []): BuildResult => ({
      success: false,
      output,
      error,
      files_changed: files,
      duration_ms: Date.now() - started,
      artifacts: [],
    });
    if (!command) return fail('dispatch.command is not set in .buildmaster.yml');
    const branch = fixBranch(incident.id);
    const dir = await this.repo.addWorktree(`fix-${incident.id}-${attempt}`, ['-B', branch, await this.targetSha()]);
    try {
      const env = scrubbedEnv({
        BUILDMASTER_INCIDENT: incident.id,
        BUILDMASTER_ATTEMPT: String(attempt),
        BUILDMASTER_FAILING_CHECKS: incident.failingChecks.join(','),
        BUILDMASTER_ALLOWED_PATHS: (spec.write_scope ?? []).join(','),
        BUILDMASTER_WORKTREE: dir,
      });
      const outcome = await runCommand(command, { cwd: dir, env, timeoutMs: spec.timeout, input: spec.prompt });
      if (outcome.timedOut) return fail(`the fix command timed out after ${formatDuration(spec.timeout)} (dispatch.timeout) and was killed`, outcome.output);
      if (outcome.exitCode !== 0) return fail(`the fix command exited with ${outcome.exitCode}`, outcome.output);
      const git = this.repo.asBuildMaster(dir);
      await git.raw(['add', '-A']);
      const files = (await git.raw(['diff', '--cached', '--name-only'])).split('\n').filter(Boolean);
      if (files.length === 0) return fail('the fix command changed no files', outcome.output);
      const scope = writeScope(policy, incident);
      const outside = files.filter((file) => !scope.allows(file));
      if (outside.length) {
        await git.raw(['reset', '--hard', 'HEAD']);
        return fail(`the fix touched files outside its write scope (${scope.globs.join(', ')}): ${outside.join(', ')}`, outcome.output, files);
      }
      await git.raw([
        'commit',
        '--no-verify',
        '-m',
        `Fix ${incident.id} (attempt ${attempt}): ${incident.failingChecks.join(', ')}\n\nbuildmaster:fix ${incident.id}\nBuild-Master-Incident: ${incident.id}`,
      ]);
      const sha = (await git.raw(['rev-parse', 'HEAD'])).trim();
      return { success: true, output: outcome.output, commit_sha: sha, files_changed: files, duration_ms: Date.now() - started, artifacts: [], change: branch };
    } finally {
      await this.repo.removeWorktree(dir);
    }
  }
}

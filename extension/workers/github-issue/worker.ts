// The github-issue worker (SPEC §5): a dispatch is an issue describing the
// incident, labelled to summon the coding agent. The agent answers with a pull
// request, linked by its branch (`buildmaster/fix/<incident>`) or a marker in
// its body; decide() merges it first in its lane and counts its failure as a
// retry. The issue is written once per attempt, whatever restarts happen.
import { failureLines } from '../../core/fingerprint';
import { short } from '../../core/text';
import type { CheckRun, Incident } from '../../core/model';
import type { Policy } from '../../core/policy/schema';
import type { BuildResult, BuildSpec, Worker } from '../../ports';
import { describeGitHubError } from '../../github/client';
import { issueFor } from '../../github/issues';
import type { GitHubRepository } from '../../github/repository';
import { fence, inert, issueMarker, repairBranch, repairLine } from '../../core/trailers';

const EXCERPT = 3000;

export class GitHubIssueWorker implements Worker {
  readonly kind = 'github-issue' as const;

  /**
   * `github`: the repository the forge uses too (one memory of the issues created);
   * `checksOf`: a commit's check results, the failing output quoted in the issue.
   */
  constructor(
    private readonly github: GitHubRepository,
    private readonly checksOf: (sha: string) => Promise<CheckRun[]>,
  ) {}

  async dispatch(spec: BuildSpec, incident: Incident, attempt: number, policy: Policy): Promise<BuildResult> {
    const started = Date.now();
    try {
      const excerpt = await this.failingOutput(incident);
      const number = await issueFor(this.github, issueMarker.fix(incident.id, attempt), () => ({
        title: `Fix ${inert(incident.failingChecks.join(', ')) || 'the target'} on ${policy.target} (${incident.id}, attempt ${attempt})`,
        labels: [policy.dispatch.label, 'build-master'],
        body: issueBody(incident, attempt, policy, spec, excerpt),
      }));
      return {
        success: true,
        output: `opened issue #${number} for ${incident.id} attempt ${attempt}, labelled ${policy.dispatch.label}`,
        files_changed: [],
        duration_ms: Date.now() - started,
        artifacts: [`#${number}`],
      };
    } catch (error) {
      return {
        success: false,
        output: '',
        error: describeGitHubError(error, `opening the fix issue for ${incident.id}`),
        files_changed: [],
        duration_ms: Date.now() - started,
        artifacts: [],
      };
    }
  }

  private async failingOutput(incident: Incident): Promise<string> {
    const runs = await this.checksOf(incident.redSha).catch(() => []);
    return runs
      .filter((run) => incident.failingChecks.includes(run.name))
      .map((run) => `$ ${run.name} (${run.conclusion})\n${(run.output ?? '').slice(-EXCERPT)}`)
      .join('\n\n');
  }
}

/**
 * The fix issue. The check output is untrusted: it sits in a fence longer than
 * any run of backticks in it (it cannot close the fence and add sections or
 * mentions of its own); other quoted names are kept inert (one line, no pings).
 */
export function issueBody(incident: Incident, attempt: number, policy: Policy, spec: BuildSpec, excerpt: string): string {
  const suspects = incident.suspects.map(
    (s) => `- ${inert(s.change ?? short(s.sha))} (${short(s.sha)}${s.lane ? `, lane ${s.lane}` : ''})`,
  );
  return [
    `Build Master incident **${incident.id}**: \`${policy.target}\` is red at ${short(incident.redSha)}.`,
    '',
    `- Failing check(s): ${inert(incident.failingChecks.join(', ')) || 'none named'}`,
    `- Failure class: ${incident.failureClass} (${incident.classRule})`,
    `- Lane: ${incident.lanes.join(', ') || 'unattributed'}`,
    `- Attempt: ${attempt} of ${policy.incidents.fix_retries}`,
    '',
    '### Suspect merge(s)',
    ...(suspects.length ? suspects : ['- none known']),
    '',
    '### Failing tests',
    fence(failureLines(incident).join('\n')),
    '',
    '### Log excerpt',
    fence(excerpt.trim() || '(no output was reported by the check)'),
    '',
    '### Allowed paths',
    ...(spec.write_scope ?? []).map((glob) => `- \`${glob}\``),
    '',
    '### How to answer',
    `Open a pull request into \`${policy.target}\` from the branch \`${repairBranch('fix', incident.id)}\`, or put \`${repairLine('fix', incident.id)}\` in its body.`,
    'Change only files under the allowed paths. Build Master merges the fix first in its lane once its checks pass; a fix whose checks fail counts as a failed attempt.',
  ].join('\n');
}

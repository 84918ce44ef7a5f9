// The Build Master GitHub Action (action.yml, bundled as dist/action.js): one
// controller cycle in GitHub mode per workflow run. The runner is ephemeral, so
// the state that lives under `.git/buildmaster/` in a clone is loaded from the
// state branch (`buildmaster/state`) before the cycle and saved to it after,
// with compare-and-swap (extension/controller/on-ref.ts). No checkout is needed:
// everything, the policy included, is read through the API, and the policy is
// read from the default branch so a pull request cannot change the rules that
// merge it.
import { existsSync, readFileSync, appendFileSync } from 'node:fs';
import { isAbsolute, join, normalize } from 'node:path';
import { runCycle, type CycleReport } from '../controller/cycle';
import { githubCycleDeps } from '../controller/session';
import { statusDocument } from '../controller/status';
import { renderDecisions, renderStatus } from '../cli/render';
import { parsePolicy, POLICY_FILES } from '../core/policy/parse';
import type { Policy } from '../core/policy/schema';
import { createClient, describeGitHubError, ResponseCache, type GitHubClient } from '../github/client';
import { GitHubRepository, type RepositoryRef } from '../github/repository';
import { GitHubStateBackend, stateBranchOf } from '../github/state-ref';
import { InputError } from '../ports';
import { annotation, readBooleanInput, readInput, inputVariable, writeOutput, type Env } from './inputs';
import { onStateRef, StateRaceError } from '../controller/on-ref';

export const ACTION_EXIT = { ok: 0, failure: 1, badInput: 2 } as const;

export interface ActionIo {
  out: (line: string) => void;
}

/** Policy problems, each an annotation on its line of the policy file. */
class PolicyInvalid extends InputError {
  constructor(
    message: string,
    readonly annotations: string[],
  ) {
    super(message);
  }
}

export async function runAction(
  env: Env,
  io: ActionIo,
  hooks: { checkpoint?: (point: string, attempt: number) => Promise<void> } = {},
): Promise<number> {
  try {
    return await act(env, io, hooks);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // The job summary says it too: it is what people open first.
    if (env.GITHUB_STEP_SUMMARY)
      appendFileSync(env.GITHUB_STEP_SUMMARY, `## Build Master did not run its cycle\n\n${message.replace(/[<>]/g, '')}\n`);
    if (error instanceof PolicyInvalid) {
      for (const line of error.annotations) io.out(line);
      io.out(annotation('error', message));
      return ACTION_EXIT.badInput;
    }
    if (error instanceof InputError) {
      io.out(annotation('error', message));
      return ACTION_EXIT.badInput;
    }
    if (error instanceof StateRaceError) {
      io.out(annotation('error', message));
      return ACTION_EXIT.failure;
    }
    // A bug or an outage: the message as an annotation, the stack in the log for whoever debugs it.
    io.out(annotation('error', `Build Master failed: ${message}`));
    io.out(error instanceof Error ? (error.stack ?? message) : message);
    return ACTION_EXIT.failure;
  }
}

async function act(env: Env, io: ActionIo, hooks: { checkpoint?: (point: string, attempt: number) => Promise<void> }): Promise<number> {
  const log = (message: string) => io.out(`build-master: ${message}`);
  const repository = repositoryOf(env.GITHUB_REPOSITORY);
  const fork = forkPullRequest(env, repository);
  if (fork) {
    // Checked before the token: such a run gets no secrets, so a token input from one is empty.
    const message = `${env.GITHUB_EVENT_NAME ?? 'this event'} on a pull request from the fork ${fork}: GitHub gives this run a read-only token and no secrets, so it acts on nothing. The scheduled run picks the change up (or trigger Build Master with pull_request_target: it never checks out or runs pull request code)`;
    io.out(annotation('notice', message));
    if (env.GITHUB_OUTPUT) writeOutput(env.GITHUB_OUTPUT, 'summary', `skipped: ${message}`);
    return ACTION_EXIT.ok;
  }
  const token = readInput(env, 'token');
  if (!token)
    throw new InputError(
      'no token: the `token` input is empty. Leave it at its default (`${{ github.token }}`) or pass a token with contents, pull-requests and issues write access (`token: ${{ secrets.BUILD_MASTER_TOKEN }}`)',
    );
  const dryRun = readBooleanInput(env, 'dry-run', false);
  const policyPaths = policyPathsOf(readInput(env, 'policy'));
  const baseUrl = env.GITHUB_API_URL || 'https://api.github.com';
  const client = createClient({ baseUrl, token, cache: new ResponseCache(), log });
  const { policy, file } = await readPolicy(client, repository, policyPaths, env.GITHUB_WORKSPACE, io);
  if (policy.github.repository && policy.github.repository !== `${repository.owner}/${repository.repo}`)
    io.out(
      annotation(
        'warning',
        `${file} names github.repository ${policy.github.repository}; the Action acts on the repository it runs in, ${repository.owner}/${repository.repo}`,
      ),
    );
  const branch = stateBranchOf(readInput(env, 'state-ref'), policy.target);
  const trigger = describeTrigger(env);
  log(`${dryRun ? 'dry run' : 'cycle'} on ${repository.owner}/${repository.repo} (${trigger}); state on ${branch}`);

  const backend = new GitHubStateBackend(client.api, repository, branch, policy.target);
  const runId = env.GITHUB_RUN_ID ? ` run ${env.GITHUB_RUN_ID}${env.GITHUB_RUN_ATTEMPT ? `.${env.GITHUB_RUN_ATTEMPT}` : ''}` : '';
  const result = await onStateRef(
    {
      backend,
      log,
      readOnly: dryRun,
      ...(env.RUNNER_TEMP ? { tempRoot: env.RUNNER_TEMP } : {}),
      message: (attempt) => `Build Master state: GitHub Actions${runId} on ${trigger}${attempt > 1 ? ` (attempt ${attempt})` : ''}`,
      ...(hooks.checkpoint ? { checkpoint: hooks.checkpoint } : {}),
    },
    async (store, attempt) => {
      store.append([
        {
          at: Date.now(),
          type: 'info',
          kind: 'action-run',
          message: `GitHub Actions${runId} on ${trigger}${attempt > 1 ? `, attempt ${attempt}` : ''}`,
        },
      ]);
      const github = new GitHubRepository(client, repository, store, log);
      const { deps } = githubCycleDeps(github, { policy, store, clock: { now: Date.now }, log });
      return runCycle(deps, { dryRun });
    },
  );
  const report = result.value;
  const merged = report.actions
    .filter((a) => a.kind === 'merge' && a.status === 'done' && a.decision.change)
    .map((a) => a.decision.change as string);
  const summary = `${report.result.outcome.kind}: ${report.result.outcome.rationale}`;
  const saved =
    result.saved === 'read-only'
      ? 'dry run: nothing acted on or saved'
      : `state ${result.saved === 'written' ? 'saved' : 'unchanged'} on ${branch}${result.commit ? ` at ${result.commit.slice(0, 12)}` : ''}${result.attempts > 1 ? ` after ${result.attempts} attempts (lost ${result.attempts - 1} race(s) to another run)` : ''}`;
  io.out(`${renderDecisions(report.result.decisions, report.actions)}\n\n${summary}\n${saved}`);
  if (env.GITHUB_OUTPUT) {
    writeOutput(env.GITHUB_OUTPUT, 'summary', summary);
    writeOutput(env.GITHUB_OUTPUT, 'merged', JSON.stringify(merged));
    writeOutput(env.GITHUB_OUTPUT, 'cycle', String(report.result.state.cycle));
    writeOutput(env.GITHUB_OUTPUT, 'state-commit', result.commit ?? '');
    writeOutput(env.GITHUB_OUTPUT, 'attempts', String(result.attempts));
  }
  if (env.GITHUB_STEP_SUMMARY) appendFileSync(env.GITHUB_STEP_SUMMARY, jobSummary(report, merged, summary, saved, trigger));
  if (report.result.state.global.state === 'global-hold')
    io.out(annotation('warning', `global hold in force: nothing merges until an owner releases it (${report.result.state.global.reason})`));
  return ACTION_EXIT.ok;
}

function repositoryOf(slug: string | undefined): RepositoryRef {
  const parts = (slug ?? '').split('/');
  if (parts.length !== 2 || !parts[0] || !parts[1])
    throw new InputError(`GITHUB_REPOSITORY is "${slug ?? ''}", not owner/name: run Build Master as a step of a GitHub Actions job`);
  return { owner: parts[0], repo: parts[1] };
}

/** The policy input: a path inside the repository (no `..`, not absolute); unset, the CLI's two places in its order. */
function policyPathsOf(given: string): readonly string[] {
  if (!given) return POLICY_FILES;
  const clean = normalize(given).replace(/^\.\//, '');
  if (isAbsolute(given) || clean.startsWith('..') || clean === '.')
    throw new InputError(
      `input policy "${given}" must be a path inside the repository, such as .buildmaster.yml or .github/buildmaster.yml`,
    );
  return [clean];
}

/**
 * The policy as the default branch holds it, read through the contents API (no
 * checkout needed). A checked-out copy that differs is reported and not used:
 * on a pull_request run the workspace holds the pull request's version.
 */
async function readPolicy(
  client: GitHubClient,
  repository: RepositoryRef,
  paths: readonly string[],
  workspace: string | undefined,
  io: ActionIo,
): Promise<{ policy: Policy; file: string }> {
  let found: { path: string; text: string } | undefined;
  for (const path of paths) {
    const text = await readFile(client, repository, path);
    if (text !== undefined) {
      found = { path, text };
      break;
    }
  }
  if (!found)
    throw new InputError(
      `no policy file ${paths.join(' or ')} on the default branch of ${repository.owner}/${repository.repo}: commit one (build-master validate checks it), or set the \`policy\` input to its path`,
    );
  const { path, text } = found;
  const local = workspace ? join(workspace, path) : undefined;
  if (local && existsSync(local) && readFileSync(local, 'utf8') !== text)
    io.out(
      annotation(
        'notice',
        `the checked-out ${path} differs from the default branch's; Build Master uses the default branch's (a pull request cannot change the rules that merge it)`,
      ),
    );
  const result = parsePolicy(text, path);
  if (!result.ok)
    throw new PolicyInvalid(
      `the policy ${path} is invalid (${result.problems.length} problem(s)); Build Master refuses to act until it is fixed`,
      result.problems.map((p) => annotation('error', `${p.message} (hint: ${p.hint})`, { file: p.file, line: p.line, col: p.column })),
    );
  return { policy: result.policy, file: path };
}

const PULL_REQUEST_EVENTS = ['pull_request', 'pull_request_review', 'pull_request_review_comment'];

/** The fork (`owner/name`) a pull_request* event's pull request comes from, or undefined (same repository, or another event). */
function forkPullRequest(env: Env, repository: RepositoryRef): string | undefined {
  if (!PULL_REQUEST_EVENTS.includes(env.GITHUB_EVENT_NAME ?? '') || !env.GITHUB_EVENT_PATH || !existsSync(env.GITHUB_EVENT_PATH))
    return undefined;
  try {
    const payload = JSON.parse(readFileSync(env.GITHUB_EVENT_PATH, 'utf8')) as {
      pull_request?: { head?: { repo?: { full_name?: unknown } | null } };
    };
    const head = payload.pull_request?.head;
    if (!head) return undefined;
    // A head repository that is gone (a deleted fork) is a fork too.
    const name = typeof head.repo?.full_name === 'string' ? head.repo.full_name : 'a deleted repository';
    return name.toLowerCase() === `${repository.owner}/${repository.repo}`.toLowerCase() ? undefined : name;
  } catch {
    return undefined;
  }
}

/** A file of the default branch through the contents API, or undefined when there is none. */
async function readFile(client: GitHubClient, repository: RepositoryRef, path: string): Promise<string | undefined> {
  try {
    const { data } = await client.api.repos.getContent({ ...repository, path });
    if (Array.isArray(data) || data.type !== 'file' || !('content' in data))
      throw new InputError(
        `the policy ${path} in ${repository.owner}/${repository.repo} is not a file: set the \`policy\` input to the policy file's path`,
      );
    return Buffer.from(data.content, 'base64').toString('utf8');
  } catch (error) {
    if (error instanceof InputError) throw error;
    const status = (error as { status?: number }).status;
    if (status === 404) return undefined;
    if (status === 401) throw new InputError(describeGitHubError(error, `reading the policy ${path}`));
    throw new Error(describeGitHubError(error, `reading the policy ${path}`), { cause: error });
  }
}

/** What started this run, for the log and the state commit: `pull_request_review submitted on #12`. */
function describeTrigger(env: Env): string {
  const name = env.GITHUB_EVENT_NAME || 'an unnamed event';
  const path = env.GITHUB_EVENT_PATH;
  if (!path || !existsSync(path)) return name;
  try {
    const payload = JSON.parse(readFileSync(path, 'utf8')) as {
      action?: unknown;
      number?: unknown;
      pull_request?: { number?: unknown };
      issue?: { number?: unknown };
    };
    const action = typeof payload.action === 'string' ? ` ${payload.action}` : '';
    const number = [payload.pull_request?.number, payload.issue?.number, payload.number].find((n) => typeof n === 'number');
    return `${name}${action}${typeof number === 'number' ? ` on #${number}` : ''}`;
  } catch {
    // The cycle reads everything from GitHub: an unreadable payload only makes this line shorter.
    return name;
  }
}

function jobSummary(report: CycleReport, merged: string[], summary: string, saved: string, trigger: string): string {
  const { state, queues, decisions, outcome } = report.result;
  const doc = statusDocument(state, report.queuesAfter ?? queues, decisions, { actions: report.actions, outcome, at: Date.now() });
  const fence = (text: string) => `\`\`\`text\n${text.replace(/```/g, "'''")}\n\`\`\``;
  return [
    `## Build Master — cycle ${state.cycle}`,
    '',
    `Triggered by ${trigger}. ${merged.length ? `Merged ${merged.join(', ')}.` : 'Merged nothing.'}`,
    '',
    `**Outcome**: ${summary.replace(/[<>]/g, '')}`,
    '',
    fence(renderDecisions(decisions, report.actions)),
    '',
    fence(renderStatus(doc, Date.now())),
    '',
    `_${saved}._`,
    '',
  ].join('\n');
}

/**
 * Race testing: BUILDMASTER_TEST_STATE_BARRIER=<file> holds the first attempt just before
 * it saves its state (announced in <file>.arrived) until <file> exists.
 */
function testHooks(env: Env): { checkpoint?: (point: string, attempt: number) => Promise<void> } {
  const barrier = env.BUILDMASTER_TEST_STATE_BARRIER;
  if (!barrier) return {};
  return {
    checkpoint: async (point, attempt) => {
      if (point !== 'before:state-save' || attempt !== 1) return;
      appendFileSync(`${barrier}.arrived`, `${process.pid}\n`);
      while (!existsSync(barrier)) await new Promise((resolve) => setTimeout(resolve, 10));
    },
  };
}

if (require.main === module) {
  const env = { ...process.env };
  // The token is read once; nothing this process might spawn inherits it.
  for (const name of [inputVariable('token'), 'GITHUB_TOKEN', 'GH_TOKEN']) Reflect.deleteProperty(process.env, name);
  runAction(env, { out: (line) => process.stdout.write(`${line}\n`) }, testHooks(env)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stdout.write(`${annotation('error', `Build Master failed: ${String(error)}`)}\n`);
      process.exitCode = ACTION_EXIT.failure;
    },
  );
}

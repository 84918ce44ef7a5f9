// Opens everything one controller needs for a repository: git, the store, the
// policy (refusing an invalid one), the forge and the workers.
import { short } from '../core/text';
import type { Incident } from '../core/model';
import { POLICY_FILES, parsePolicy, type PolicyProblem } from '../core/policy/parse';
import type { Policy } from '../core/policy/schema';
import { LocalForge } from '../forge/local/forge';
import { GitHubForge } from '../forge/github/forge';
import { createClient, ResponseCache, type ClientTiming } from '../github/client';
import { GitHubRepository, type RepositoryRef } from '../github/repository';
import { GitHubIssueWorker } from '../workers/github-issue/worker';
import { GitRepo } from '../git/repo';
// The front ends tell "not a git repository" apart from other failures to open a session.
export { RepoError } from '../git/repo';
import { InputError, systemClock, type Clock, type Forge } from '../ports';
import { Store, type LogEvent } from '../store/store';
export type { LogEvent } from '../store/store';
import { CommandWorker, buildPrompt } from '../workers/command/worker';
import { takeGitHubToken } from '../process/env';
import { acquireLock, type HeldLock } from './lock';
import type { CycleDeps } from './cycle';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { GitHubStateBackend, materialise, stateBranchOf } from '../github/state-ref';

export class PolicyError extends InputError {
  constructor(readonly problems: PolicyProblem[]) {
    super(`the policy file is invalid (${problems.length} problem(s)); Build Master refuses to act until it is fixed`);
  }
}

/**
 * The event log as a front end shows it. While a cycle runs in this process it owns the
 * store in memory (what it observed is saved with its record): re-reading state.json then
 * would drop that, so the memory is shown and the cycle's end refreshes.
 */
export async function sessionEvents(session: Session, cycleRunning: boolean): Promise<LogEvent[]> {
  return cycleRunning ? session.store.readEvents() : await session.store.reload();
}

export interface Session {
  repo: GitRepo;
  store: Store;
  policy: Policy;
  policyFile: string | undefined;
  forge: Forge;
  deps: CycleDeps;
}

export interface GitHubSessionOptions {
  /** From VS Code's authentication or SecretStorage; headless, GITHUB_TOKEN. Never logged. */
  token?: string;
  /** Overrides `github.api_url` (tests point it at their server). */
  apiUrl?: string;
  /** Test knobs: shrink rate-limit waits and the gap between writes. */
  timing?: ClientTiming;
}

export interface SessionOptions {
  forge?: 'local' | 'github';
  github?: GitHubSessionOptions;
  clock?: Clock;
  log?: (message: string) => void;
  checkpoint?: (point: string) => void;
}

export interface PolicyFile {
  path: string | undefined;
  text: string;
}

/** The repository's policy file (`.buildmaster.yml`, then `.github/buildmaster.yml`), or none: every key takes its default. */
export function findPolicyFile(repo: string): PolicyFile {
  for (const name of POLICY_FILES) {
    const path = join(repo, name);
    if (existsSync(path)) return { path, text: readFileSync(path, 'utf8') };
  }
  return { path: undefined, text: '' };
}

/** How a policy file is named in messages: relative to where the user stands. */
export function shownPath(path: string): string {
  return relative(process.cwd(), path) || path;
}

export function loadPolicy(root: string): { policy: Policy; file: string | undefined } {
  const { path, text } = findPolicyFile(root);
  const result = parsePolicy(text, path ? shownPath(path) : undefined);
  if (!result.ok) throw new PolicyError(result.problems);
  return { policy: result.policy, file: path };
}

export async function openSession(dir: string, options: SessionOptions = {}): Promise<Session> {
  const repo = await GitRepo.open(dir);
  const { policy, file } = loadPolicy(repo.root);
  const store = await Store.open(repo.stateDir);
  const clock = options.clock ?? systemClock;
  const log = options.log ?? (() => undefined);
  if (options.forge === 'github') {
    const github = await openGitHub(repo, policy, store, log, options.github ?? {});
    const { forge, deps } = githubCycleDeps(github, {
      policy,
      store,
      clock,
      log,
      ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
    });
    return { repo, store, policy, policyFile: file, forge, deps };
  }
  const forge = new LocalForge({ repo, store, clock, log, ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}) });
  const worker = new CommandWorker(repo, () => forge.targetSha(policy));
  const deps: CycleDeps = {
    policy,
    forge,
    workers: { command: worker },
    store,
    clock,
    log,
    ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
    prompt: (incident: Incident) => {
      const runs = store.checkResult(`commit:${incident.redSha}`) ?? [];
      const output = runs
        .filter((run) => incident.failingChecks.includes(run.name))
        .map((run) => `$ ${run.name} (${run.conclusion} at ${short(incident.redSha)})\n${run.output ?? ''}`)
        .join('\n\n');
      return buildPrompt(repo, incident, policy, output);
    },
  };
  return { repo, store, policy, policyFile: file, forge, deps };
}

/**
 * A GitHub-mode cycle's forge and dependencies over a repository and a store:
 * what `openSession` builds for a clone, and the Action for a store loaded from the state branch.
 */
export function githubCycleDeps(
  github: GitHubRepository,
  context: Pick<CycleDeps, 'policy' | 'store' | 'clock' | 'log' | 'checkpoint'>,
): { forge: GitHubForge; deps: CycleDeps } {
  const { clock, log } = context;
  const forge = new GitHubForge({ github, cache: context.store, clock, log });
  const deps: CycleDeps = {
    ...context,
    forge,
    // The worker and the forge share the repository: one memory of the issues Build Master created.
    workers: { 'github-issue': new GitHubIssueWorker(github, (sha) => forge.checksOf(sha)) },
    // The issue worker writes its own issue body (failing output, suspects, allowed paths).
    prompt: (incident: Incident) => Promise.resolve(`Build Master incident ${incident.id}`),
  };
  return { forge, deps };
}

/** The state branch the GitHub Action keeps (`--from-ref`), reached from a clone: its policy names the repository and target. */
export async function stateBackend(
  session: Session,
  branchInput: string | undefined,
  options: GitHubSessionOptions = {},
): Promise<GitHubStateBackend> {
  const token = options.token ?? takeGitHubToken();
  if (!token)
    throw new InputError(
      '--from-ref reads the state branch on GitHub and needs a token: set GITHUB_TOKEN (read access for status and log, contents: write for operator commands)',
    );
  const repository = await githubRepository(session.repo, session.policy);
  const baseUrl = options.apiUrl ?? session.policy.github.api_url ?? process.env.GITHUB_API_URL ?? 'https://api.github.com';
  const client = createClient({ baseUrl, token, cache: new ResponseCache(), log: () => undefined, ...options.timing });
  return new GitHubStateBackend(client.api, repository, stateBranchOf(branchInput, session.policy.target), session.policy.target);
}

/**
 * The store as the state branch holds it (`status --from-ref`, `log --from-ref`): read into a
 * temporary directory, the whole event log included. Read-only: nothing is written back.
 */
export async function stateRefStore(session: Session, branchInput: string | undefined, options: GitHubSessionOptions = {}): Promise<Store> {
  const backend = await stateBackend(session, branchInput, options);
  const commit = await backend.load();
  if (!commit.commit)
    throw new InputError(`there is no state branch ${backend.branch} on GitHub yet: the Build Master Action creates it on its first run`);
  const dir = mkdtempSync(join(tmpdir(), 'buildmaster-from-ref-'));
  await materialise(commit, dir, { allEvents: true });
  return Store.open(dir);
}

/** The repository (`owner/name`): the policy, GITHUB_REPOSITORY, then the origin remote. */
export async function githubRepository(repo: GitRepo, policy: Policy): Promise<RepositoryRef> {
  const named = policy.github.repository ?? process.env.GITHUB_REPOSITORY;
  let slug = named;
  if (!slug) {
    const url = (await repo.git.raw(['remote', 'get-url', 'origin']).catch(() => '')).trim();
    const match = /[/:]([\w.-]+)\/([\w.-]+?)(?:\.git)?\/?$/.exec(url);
    if (match) slug = `${match[1]}/${match[2]}`;
  }
  const parts = slug?.split('/');
  if (!parts || parts.length !== 2 || !parts[0] || !parts[1]) {
    throw new InputError(
      'GitHub mode needs the repository: set `github.repository: owner/name` in .buildmaster.yml, or GITHUB_REPOSITORY, or an `origin` remote on GitHub',
    );
  }
  return { owner: parts[0], repo: parts[1] };
}

async function openGitHub(
  repo: GitRepo,
  policy: Policy,
  store: Store,
  log: (message: string) => void,
  options: GitHubSessionOptions,
): Promise<GitHubRepository> {
  const token = options.token ?? takeGitHubToken();
  if (!token) {
    throw new InputError(
      'GitHub mode needs a token: sign in from VS Code ("Build Master: Sign In to GitHub"), or set GITHUB_TOKEN for the command line',
    );
  }
  const repository = await githubRepository(repo, policy);
  const baseUrl = options.apiUrl ?? policy.github.api_url ?? process.env.GITHUB_API_URL ?? 'https://api.github.com';
  const client = createClient({ baseUrl, token, cache: ResponseCache.in(repo.stateDir), stateDir: repo.stateDir, log, ...options.timing });
  return new GitHubRepository(client, repository, store, log);
}

/** Takes the repository's controller lock; the message of a recovered stale lock goes to `log`. */
export async function lockSession(session: Session, command: string, log: (message: string) => void): Promise<HeldLock> {
  session.deps.checkpoint?.('before:lock');
  const lock = acquireLock(session.repo.stateDir, command);
  if (lock.recovered) log(lock.recovered);
  try {
    await session.store.reload();
  } catch (error) {
    lock.release();
    throw error;
  }
  return lock;
}

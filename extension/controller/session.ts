// Opens everything one controller needs for a repository: git, the store, the
// policy (refusing an invalid one), the forge and the workers.
import { short } from '../core/gate';
import type { Incident } from '../core/model';
import { POLICY_FILES, parsePolicy, type PolicyProblem } from '../core/policy/parse';
import type { Policy } from '../core/policy/schema';
import { LocalForge } from '../forge/local/forge';
import { GitRepo } from '../git/repo';
import { InputError, systemClock, type Clock, type Forge } from '../ports';
import { Store } from '../store/store';
import { CommandWorker, buildPrompt } from '../workers/command/worker';
import { acquireLock, type HeldLock } from './lock';
import type { CycleDeps } from './cycle';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export class PolicyError extends InputError {
  constructor(readonly problems: PolicyProblem[]) {
    super(`the policy file is invalid (${problems.length} problem(s)); Build Master refuses to act until it is fixed`);
  }
}

export interface Session {
  repo: GitRepo;
  store: Store;
  policy: Policy;
  policyFile: string | undefined;
  forge: Forge;
  deps: CycleDeps;
}

export interface SessionOptions {
  forge?: 'local' | 'github';
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
  if (options.forge === 'github') {
    throw new InputError('--forge github is not available yet in this build; use --forge local');
  }
  const repo = await GitRepo.open(dir);
  const { policy, file } = loadPolicy(repo.root);
  const store = await Store.open(repo.stateDir);
  const clock = options.clock ?? systemClock;
  const log = options.log ?? (() => undefined);
  const forge = new LocalForge({ repo, store, clock, log });
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

/** Takes the repository's controller lock; the message of a recovered stale lock goes to `log`. */
export async function lockSession(session: Session, command: string, log: (message: string) => void): Promise<HeldLock> {
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

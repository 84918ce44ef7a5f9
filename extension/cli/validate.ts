// `build-master validate [file]`: every problem as file:line:column: message, plus its hint.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { findPolicyFile, shownPath } from '../controller/session';
import { envWarnings } from '../core/policy/env';
import { repositoryWarnings, undefinedCheckWarnings, type RepositoryFacts } from '../core/policy/warnings';
import type { Policy } from '../core/policy/schema';
import { POLICY_FILES, parsePolicy, type PolicyProblem } from '../core/policy/parse';

export function formatProblem(problem: PolicyProblem): string {
  return `${problem.file}:${problem.line}:${problem.column}: ${problem.message}\n    hint: ${problem.hint}`;
}

export interface ValidateOutcome {
  file: string;
  /** False when the repository has no policy file: every key takes its default. */
  exists: boolean;
  problems: PolicyProblem[];
  /** Not problems: things a valid policy does that deserve a second look (secret-looking pass-through variables). */
  warnings: string[];
}

export function validateFile(repo: string, file: string | undefined): ValidateOutcome {
  let path: string | undefined;
  let text: string;
  if (file) {
    path = resolve(file);
    if (!existsSync(path)) throw new UsageError(`no such policy file: ${file}`);
    text = readFileSync(path, 'utf8');
  } else {
    ({ path, text } = findPolicyFile(repo));
  }
  const shown = path ? shownPath(path) : join(repo, POLICY_FILES[0]);
  const result = parsePolicy(text, shown);
  const warnings = result.ok
    ? [...envWarnings(result.policy).map((w) => w.message), ...undefinedCheckWarnings(result.policy)].map(
        (message) => `${shown}: warning: ${message}`,
      )
    : [];
  const facts = result.ok ? repositoryFacts(repo, result.policy) : undefined;
  if (result.ok && facts) {
    for (const w of repositoryWarnings(text, result.policy, facts))
      warnings.push(`${shown}:${w.line}:${w.column}: warning: ${w.message}\n    hint: ${w.hint}`);
  }
  return { file: shown, exists: path !== undefined, problems: result.ok ? [] : result.problems, warnings };
}

/**
 * The files of the target's tree (the checked-out tree when the target does not
 * exist) and the local branches, or undefined outside a git repository.
 */
function repositoryFacts(repo: string, policy: Policy): RepositoryFacts | undefined {
  const git = (...args: string[]) =>
    execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 256 * 1024 * 1024 });
  try {
    const branches = git('for-each-ref', '--format=%(refname:short)', 'refs/heads').split('\n').filter(Boolean);
    const tree = branches.includes(policy.target) ? `refs/heads/${policy.target}` : 'HEAD';
    const files = git('ls-tree', '-r', '-z', '--full-tree', '--name-only', tree).split('\0').filter(Boolean);
    return { files, branches };
  } catch {
    // Not a repository, or one with no commit yet: nothing to check the names against.
    return undefined;
  }
}

/** Bad input from the user: exit 2 with a message, never a stack trace. */
export class UsageError extends Error {}

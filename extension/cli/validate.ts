// `build-master validate [file]`: every problem as file:line:column: message, plus its hint.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { findPolicyFile, shownPath } from '../controller/session';
import { envWarnings } from '../core/policy/env';
import { undefinedCheckWarnings } from '../core/policy/warnings';
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
  const warnings = result.ok ? [...envWarnings(result.policy).map((w) => w.message), ...undefinedCheckWarnings(result.policy)].map((message) => `${shown}: warning: ${message}`) : [];
  return { file: shown, exists: path !== undefined, problems: result.ok ? [] : result.problems, warnings };
}

/** Bad input from the user: exit 2 with a message, never a stack trace. */
export class UsageError extends Error {}

// Things a valid policy can say that will not do what its author meant: not
// errors (the policy still works), but `validate` names them before they cost
// a merge.
import picomatch from 'picomatch';
import { isNode, LineCounter, parseDocument } from 'yaml';
import { laneOfFile } from '../classify';
import type { Policy } from './schema';
import { closest } from './suggest';

/**
 * Check names a lane or `merge.required_checks` lists that no `local.checks`
 * entry defines: in local mode nothing ever reports them, so every change that
 * needs them waits on `check-missing`. (In GitHub mode CI reports checks, so a
 * policy without `local.checks` is not warned about.)
 */
export function undefinedCheckWarnings(policy: Policy): string[] {
  if (policy.local.checks.length === 0) return [];
  const defined = new Set(policy.local.checks.map((check) => check.name));
  const warnings: string[] = [];
  for (const lane of policy.lanes) {
    for (const name of lane.checks.filter((check) => !defined.has(check))) {
      warnings.push(
        `lane ${lane.name} lists the check "${name}", which no local.checks entry defines: in local mode it never reports, so changes in lane ${lane.name} wait on it; define it under local.checks or remove it`,
      );
    }
  }
  if (Array.isArray(policy.merge.required_checks)) {
    for (const name of policy.merge.required_checks.filter((check) => !defined.has(check))) {
      warnings.push(
        `merge.required_checks lists "${name}", which no local.checks entry defines: in local mode it never reports; define it under local.checks or remove it`,
      );
    }
  }
  return warnings;
}

/** What the repository holds, gathered by the shell: `validate` checks the policy against it. */
export interface RepositoryFacts {
  /** Every file path in the target branch's tree (or the checked-out one's when the target does not exist). */
  files: readonly string[];
  /** Every local branch name. */
  branches: readonly string[];
}

/** A warning with the place in the policy text it is about (1-based line and column). */
export interface PositionedWarning {
  line: number;
  column: number;
  message: string;
  hint: string;
}

type Segment = string | number;

/**
 * Patterns and names in the policy that match nothing in this repository: a
 * lane glob no file matches (`doc/**` beside `docs/`), a `local.branches`
 * pattern no branch matches, a `target` branch that does not exist. Each is
 * a warning, not an error (a branch may come later), placed where the file
 * says it, with the closest real name as a did-you-mean.
 */
/** Warns at a path of the policy file, when the file itself says it. */
type Warn = (path: Segment[], message: string, hint: string) => void;

export function repositoryWarnings(text: string, policy: Policy, facts: RepositoryFacts): PositionedWarning[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const at = (path: Segment[]): { line: number; column: number } | undefined => {
    const node = doc.getIn(path, true);
    const start = isNode(node) ? node.range?.[0] : undefined;
    if (start === undefined) return undefined;
    const pos = lineCounter.linePos(start);
    return { line: pos.line, column: pos.col };
  };
  const warnings: PositionedWarning[] = [];
  const warn: Warn = (path, message, hint) => {
    const place = at(path);
    // Only what the file itself says is warned about: a default is not the author's mistake.
    if (place) warnings.push({ ...place, message, hint });
  };
  lanePathWarnings(policy, facts, warn);
  branchWarnings(policy, facts, warn);
  if (facts.branches.length > 0 && !facts.branches.includes(policy.target)) {
    const near = closest(policy.target, facts.branches);
    warn(
      ['target'],
      `target branch "${policy.target}" does not exist in the repository: nothing can merge into it`,
      near ? `did you mean "${near}"?` : `branches here: ${listed(facts.branches)}`,
    );
  }
  return warnings.sort((a, b) => a.line - b.line || a.column - b.column);
}

function lanePathWarnings(policy: Policy, facts: RepositoryFacts, warn: Warn): void {
  policy.lanes.forEach((lane, laneIndex) => {
    // The lane's own matcher (classify's), one pattern at a time.
    const matches = (pattern: string) => (file: string) =>
      laneOfFile({ ...policy, lanes: [{ ...lane, paths: [pattern] }] }, file) === lane.name;
    lane.paths.forEach((pattern, pathIndex) => {
      if (facts.files.some(matches(pattern))) return;
      const suggestion = closestPattern(pattern, facts.files, matches);
      warn(
        ['lanes', laneIndex, 'paths', pathIndex],
        `the path "${pattern}" of lane ${lane.name} matches no file in the repository: no change is ever put in lane ${lane.name} by it`,
        suggestion ? `did you mean "${suggestion}"?` : 'paths are globs relative to the repository root, e.g. "web/**"',
      );
    });
  });
}

function branchWarnings(policy: Policy, facts: RepositoryFacts, warn: Warn): void {
  policy.local.branches.forEach((pattern, index) => {
    // Fix and revert branches appear when an incident needs them.
    if (pattern.startsWith('buildmaster/')) return;
    const match = picomatch(pattern);
    if (facts.branches.some((branch) => match(branch))) return;
    const others = facts.branches.filter((branch) => branch !== policy.target);
    const near = closestPattern(pattern, others, (p) => picomatch(p)) ?? closest(pattern, others);
    warn(
      ['local', 'branches', index],
      `local.branches pattern "${pattern}" matches no branch in the repository: no branch is a change until one does`,
      near
        ? `did you mean "${near}"? (branches here: ${listed(others)})`
        : `branches here: ${listed(others)}; a pattern like "agent/*" matches agent/one, not agent/one/two`,
    );
  });
}

const listed = (names: readonly string[]) =>
  names.length === 0 ? 'none' : names.length > 8 ? `${names.slice(0, 8).join(', ')}, …` : names.join(', ');

/**
 * The pattern with its literal leading folders replaced by the nearest real
 * ones (`doc/**` → `docs/**`), when that one matches something.
 */
function closestPattern(
  pattern: string,
  names: readonly string[],
  matches: (pattern: string) => (name: string) => boolean,
): string | undefined {
  const segments = pattern.split('/');
  const literal = segments.findIndex((segment) => /[*?[\]{}()!+@]/.test(segment));
  const depth = literal < 0 ? segments.length : literal;
  if (depth === 0) return undefined;
  const prefix = segments.slice(0, depth).join('/');
  const prefixes = [
    ...new Set(names.map((name) => name.split('/').slice(0, depth).join('/')).filter((p) => p.split('/').length === depth)),
  ];
  const near = closest(prefix, prefixes);
  if (near === undefined) return undefined;
  const candidate = [near, ...segments.slice(depth)].join('/');
  return names.some(matches(candidate)) ? candidate : undefined;
}

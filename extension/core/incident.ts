// Incident attribution and classification (SPEC §4.1).
import { assignLane, maxTier, riskTier } from './classify';
import { FAILED, PASSED, short } from './gate';
import type { CheckRun, FailureClass, Incident, RiskTier, Snapshot, TargetCommit } from './model';
import { regexOf, type Policy, type Remedy } from './policy/schema';

export type CommitHealth = 'green' | 'red' | 'pending';

/**
 * A commit is red when any check failed, pending while any check runs, green
 * otherwise. Forges list the checks they expect as pending until they report,
 * so a commit with no checks at all has nothing to verify and counts as green.
 */
export function commitHealth(commit: TargetCommit, only?: ReadonlySet<string>): CommitHealth {
  const checks = only ? commit.checks.filter((c) => only.has(c.name)) : commit.checks;
  if (checks.some((c) => FAILED.has(c.conclusion) && !c.passedOnRerun)) return 'red';
  if (checks.some((c) => !PASSED.has(c.conclusion) && !(FAILED.has(c.conclusion) && c.passedOnRerun))) return 'pending';
  return 'green';
}

export function failingChecks(commit: TargetCommit): CheckRun[] {
  return commit.checks.filter((c) => FAILED.has(c.conclusion));
}

export interface Classification {
  failureClass: FailureClass;
  rule: string;
}

interface BuiltinRule {
  failureClass: FailureClass;
  rule: string;
  test: (check: CheckRun) => boolean;
}

const text = (check: CheckRun) => check.output ?? '';
const BUILTIN: BuiltinRule[] = [
  { failureClass: 'flaky', rule: 'the same sha passed on re-run', test: (c) => c.passedOnRerun === true },
  { failureClass: 'infra', rule: 'the check timed out', test: (c) => c.conclusion === 'timed_out' },
  {
    failureClass: 'infra',
    rule: 'runner or machine failure in the output',
    test: (c) => /runner (has received a shutdown|lost)|lost communication with the server|No space left on device|ENOSPC|out of memory|Killed\b|ECONNRESET|ETIMEDOUT|check timed out/i.test(text(c)),
  },
  {
    failureClass: 'ci-config',
    rule: 'invalid CI configuration in the output or check name',
    test: (c) => /invalid workflow file|\.github\/workflows\/.*(error|invalid)|unknown job|actionlint/i.test(text(c)) || /workflow|ci-config|actionlint/i.test(c.name),
  },
  {
    failureClass: 'security',
    rule: 'security scanner check or finding',
    test: (c) => /security|codeql|snyk|secret[-_ ]?scan|audit/i.test(c.name) || /vulnerabilit(y|ies) found|RUSTSEC-|GHSA-/i.test(text(c)),
  },
  {
    failureClass: 'dependency',
    rule: 'dependency resolution failure in the output',
    test: (c) => /ERESOLVE|npm ERR! 404|Could not resolve dependenc|Cannot find module|ModuleNotFoundError|version solving failed|lock ?file.*(out of date|mismatch)|failed to select a version/i.test(text(c)),
  },
  {
    failureClass: 'lint',
    rule: 'lint or format check',
    test: (c) => /lint|eslint|prettier|format|clippy|stylecheck/i.test(c.name) || /\d+ problems? \(\d+ errors?|eslint/i.test(text(c)),
  },
  {
    failureClass: 'build',
    rule: 'compile or build failure',
    test: (c) => /build|compile|tsc/i.test(c.name) || /error TS\d+|compilation failed|SyntaxError|cannot find symbol|error\[E\d+\]|build failed/i.test(text(c)),
  },
  {
    failureClass: 'test',
    rule: 'test failure',
    test: (c) => /test|spec|e2e/i.test(c.name) || /\d+ failing|AssertionError|Tests?:\s+\d+ failed|FAIL\b|assert/i.test(text(c)),
  },
];

/** Policy rules first, then the built-in rules, then `unknown` (SPEC §4.1). */
export function classifyFailure(policy: Policy, checks: readonly CheckRun[]): Classification {
  for (const [index, rule] of policy.incidents.classify.entries()) {
    const pattern = regexOf(rule.match);
    const checkPattern = rule.check ? regexOf(rule.check.includes('*') ? `/^${rule.check.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$/` : rule.check) : null;
    for (const check of checks) {
      if (checkPattern && !checkPattern.test(check.name)) continue;
      if (pattern?.test(text(check)) || pattern?.test(check.name)) {
        return { failureClass: rule.class, rule: `policy rule ${index + 1} (match "${rule.match}")` };
      }
    }
  }
  for (const rule of BUILTIN) {
    if (checks.some(rule.test)) return { failureClass: rule.failureClass, rule: `built-in rule: ${rule.rule}` };
  }
  return { failureClass: 'unknown', rule: 'no rule matched' };
}

export interface Attribution {
  lanes: string[];
  crossLane: boolean;
  unattributed: boolean;
  suspects: Incident['suspects'];
  tier: RiskTier;
  rationale: string;
}

/** The lane a merged commit belongs to: recorded at merge, else classified from its files. */
export function laneOfCommit(policy: Policy, commit: TargetCommit): string | undefined {
  if (!commit.change) return undefined;
  return commit.change.lane ?? assignLane(policy, commit.change.files).lane;
}

/**
 * Suspects are the merges after the last green commit up to the red one. A
 * failing check that a lane lists narrows them to that lane. One lane left is
 * the incident's lane; more is cross-lane; none is unattributed.
 */
export function attribute(policy: Policy, window: readonly TargetCommit[], red: TargetCommit, failing: readonly CheckRun[]): Attribution {
  const suspects = window
    .filter((commit) => commit.change)
    .map((commit) => ({ sha: commit.sha, change: commit.change?.id, lane: laneOfCommit(policy, commit), files: commit.change?.files ?? [] }));
  const owners = new Set<string>();
  let everyCheckOwned = failing.length > 0;
  for (const check of failing) {
    const lanes = policy.lanes.filter((lane) => lane.checks.includes(check.name)).map((lane) => lane.name);
    if (lanes.length === 0) everyCheckOwned = false;
    lanes.forEach((lane) => owners.add(lane));
  }
  let narrowed = suspects;
  let why = `${suspects.length} merge(s) since the last green commit`;
  if (everyCheckOwned) {
    narrowed = suspects.filter((s) => s.lane !== undefined && owners.has(s.lane));
    why += `; failing check(s) ${failing.map((c) => c.name).join(', ')} belong to lane ${[...owners].join(', ')}`;
  }
  let lanes = [...new Set(narrowed.map((s) => s.lane).filter((l): l is string => l !== undefined))];
  if (lanes.length === 0 && everyCheckOwned) {
    // No merge of the owning lane is among the suspects; the check's lane still owns the break.
    lanes = [...owners];
    why += '; no merge of that lane is among the suspects, so the lane that owns the check takes the incident';
  }
  const tier = maxTier(narrowed.map((s) => riskTier(policy, s.files)));
  const crossLane = lanes.length > 1;
  const unattributed = lanes.length === 0;
  if (crossLane) why += `; suspects span lanes ${lanes.join(', ')}: cross-lane`;
  if (unattributed) why += `; no suspect merge and no lane owns the failing check at ${short(red.sha)}: unattributed`;
  return {
    lanes: lanes.sort(),
    crossLane,
    unattributed,
    suspects: narrowed.map(({ sha, change, lane }) => ({ sha, ...(change ? { change } : {}), ...(lane ? { lane } : {}) })),
    tier,
    rationale: why,
  };
}

/** What to do about an incident: the eligibility matrix, overridden by tier 3 and a missing worker. */
export function remedyFor(
  policy: Policy,
  snapshot: Snapshot,
  failureClass: FailureClass,
  tier: RiskTier,
  attribution: Pick<Attribution, 'crossLane' | 'unattributed'>,
): { remedy: Remedy; rationale: string } {
  const matrix = policy.eligibility[failureClass];
  if (attribution.unattributed) return { remedy: 'escalate', rationale: 'no lane can be blamed, so a person must look' };
  if (attribution.crossLane) return { remedy: 'escalate', rationale: 'the break spans lanes, so a person must look' };
  if (tier === 'tier3') return { remedy: 'escalate', rationale: 'a tier 3 change is a suspect: never repaired autonomously' };
  if ((matrix === 'fix' || matrix === 'quarantine') && !snapshot.workers.includes(policy.dispatch.worker)) {
    return { remedy: 'escalate', rationale: `eligibility says ${matrix}, but no ${policy.dispatch.worker} worker is configured here` };
  }
  return { remedy: matrix, rationale: `eligibility.${failureClass} is ${matrix}` };
}

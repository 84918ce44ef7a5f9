// Incident attribution and classification (SPEC §4.1).
import { lanesByPath, maxTier, riskTier } from './classify';
import { describeMark, failedForReal, marksOf, newestSettled, presentIn, settled, toFailureMark, type Mark } from './fingerprint';
import { short } from './text';
import type { CheckRun, FailureClass, FailureMark, Incident, RiskTier, Snapshot, TargetCommit } from './model';
import { regexOf, type Policy, type Remedy } from './policy/schema';

export type CommitHealth = 'green' | 'red' | 'pending';

/**
 * A commit is red when any check failed, pending while any check runs, green
 * otherwise. Forges list the checks they expect as pending until they report,
 * so a commit with no checks at all has nothing to verify and counts as green.
 */
export function commitHealth(commit: TargetCommit, only?: ReadonlySet<string>): CommitHealth {
  const checks = only ? commit.checks.filter((c) => only.has(c.name)) : commit.checks;
  if (checks.some(failedForReal)) return 'red';
  if (checks.some((c) => !settled(c))) return 'pending';
  return 'green';
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
    test: (c) =>
      /runner (has received a shutdown|lost)|lost communication with the server|No space left on device|ENOSPC|out of memory|Killed\b|ECONNRESET|ETIMEDOUT|check timed out/i.test(
        text(c),
      ),
  },
  {
    failureClass: 'ci-config',
    rule: 'invalid CI configuration in the output or check name',
    test: (c) =>
      /invalid workflow file|\.github\/workflows\/.*(error|invalid)|unknown job|actionlint/i.test(text(c)) ||
      /workflow|ci-config|actionlint/i.test(c.name),
  },
  {
    failureClass: 'security',
    rule: 'security scanner check or finding',
    test: (c) => /security|codeql|snyk|secret[-_ ]?scan|audit/i.test(c.name) || /vulnerabilit(y|ies) found|RUSTSEC-|GHSA-/i.test(text(c)),
  },
  {
    failureClass: 'dependency',
    rule: 'dependency resolution failure in the output',
    test: (c) =>
      /ERESOLVE|npm ERR! 404|Could not resolve dependenc|Cannot find module|ModuleNotFoundError|version solving failed|lock ?file.*(out of date|mismatch)|failed to select a version/i.test(
        text(c),
      ),
  },
  {
    failureClass: 'lint',
    rule: 'lint or format check',
    test: (c) => /lint|eslint|prettier|format|clippy|stylecheck/i.test(c.name) || /\d+ problems? \(\d+ errors?|eslint/i.test(text(c)),
  },
  {
    failureClass: 'build',
    rule: 'compile or build failure',
    test: (c) =>
      /build|compile|tsc/i.test(c.name) ||
      /error TS\d+|compilation failed|SyntaxError|cannot find symbol|error\[E\d+\]|build failed/i.test(text(c)),
  },
  {
    failureClass: 'test',
    rule: 'test failure',
    // Failing tests read from the check (a JUnit report, annotations, a runner's output) are test failures
    // unless an earlier rule saw a build, lint or infrastructure failure in its output.
    test: (c) =>
      /test|spec|e2e/i.test(c.name) ||
      /\d+ failing|AssertionError|Tests?:\s+\d+ failed|FAIL\b|assert/i.test(text(c)) ||
      (c.failures ?? []).some((f) => f.flaky !== true),
  },
];

/** Policy rules first, then the built-in rules, then `unknown` (SPEC §4.1). */
export function classifyFailure(policy: Policy, checks: readonly CheckRun[]): Classification {
  for (const [index, rule] of policy.incidents.classify.entries()) {
    const pattern = regexOf(rule.match);
    const checkPattern = rule.check
      ? regexOf(rule.check.includes('*') ? `/^${rule.check.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$/` : rule.check)
      : null;
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

/** A merge between the last clean and the first red commit; its lanes come from every path its diff touches. */
export interface Suspect {
  sha: string;
  change?: string;
  lanes: string[];
  files: string[];
}

/**
 * Every merge in the window is a suspect, whoever merged it: its lanes are
 * the lanes its changed paths touch (a lane recorded at merge is not enough, as
 * a hand merge has none and a cross-lane merge touches several).
 */
export function suspectsIn(policy: Policy, window: readonly TargetCommit[]): Suspect[] {
  return window
    .filter((commit) => commit.change)
    .map((commit) => {
      const files = commit.change?.files ?? [];
      const lanes = files.length ? lanesByPath(policy, files) : commit.change?.lane ? [commit.change.lane] : [];
      return { sha: commit.sha, ...(commit.change?.id ? { change: commit.change.id } : {}), lanes, files };
    });
}

/**
 * The suspects one failure narrows to, and the lanes they make the incident's:
 * a failure in lane L narrows to the suspects that touched L; when none did
 * (L depends on a lane a suspect changed), it belongs to the lanes the suspects
 * touched. A failure with no lane leaves every suspect. No suspect at all: the
 * failure's own lane takes it, if it has one.
 */
export function narrow(mark: FailureMark, suspects: readonly Suspect[]): { narrowed: Suspect[]; lanes: string[]; why: string } {
  const touching = mark.lane ? suspects.filter((s) => s.lanes.includes(mark.lane as string)) : [];
  let narrowed: Suspect[];
  let why: string;
  if (mark.lane && touching.length) {
    narrowed = touching;
    why = `${describeMark(mark)} maps to lane ${mark.lane} (${mark.why}); ${touching.length} suspect(s) touched it`;
  } else if (suspects.length) {
    narrowed = [...suspects];
    why = mark.lane
      ? `${describeMark(mark)} maps to lane ${mark.lane} (${mark.why}), but no suspect touched lane ${mark.lane}: it belongs to the lanes the suspects changed`
      : `${describeMark(mark)} maps to no lane (${mark.why}): every suspect stays`;
  } else {
    narrowed = [];
    why = mark.lane
      ? `${describeMark(mark)} maps to lane ${mark.lane} (${mark.why}); no merge is among the suspects, so that lane takes it`
      : `${describeMark(mark)} maps to no lane and no merge is among the suspects`;
  }
  const lanes = narrowed.length ? [...new Set(narrowed.flatMap((s) => s.lanes))] : mark.lane ? [mark.lane] : [];
  return { narrowed, lanes, why };
}

/** One attribution for failures that share a window of suspects. */
/** A suspect by its change, or, merged outside any change Build Master knows, by its commit and files. */
function nameSuspect(suspect: Suspect): string {
  // A commit no change of ours made is named by its own sha (a commit straight onto the target).
  if (suspect.change && !suspect.sha.startsWith(suspect.change)) return `${suspect.change} (${short(suspect.sha)})`;
  const files = suspect.files.slice(0, 5).join(', ') + (suspect.files.length > 5 ? `, and ${suspect.files.length - 5} more` : '');
  return `commit ${short(suspect.sha)} (an unknown merge; files ${files || 'none'})`;
}

export function attributeMarks(
  policy: Policy,
  suspects: readonly Suspect[],
  marks: readonly FailureMark[],
  red: Pick<TargetCommit, 'sha'>,
  cleanKnown = true,
): Attribution {
  const narrowedBy = new Map<string, Suspect>();
  const lanes = new Set<string>();
  const whys: string[] = [];
  for (const mark of marks) {
    const result = narrow(mark, suspects);
    result.narrowed.forEach((s) => narrowedBy.set(s.sha, s));
    result.lanes.forEach((lane) => lanes.add(lane));
    whys.push(result.why);
  }
  const narrowed = suspects.filter((s) => narrowedBy.has(s.sha));
  const sorted = [...lanes].sort();
  const crossLane = sorted.length > 1;
  const unattributed = sorted.length === 0;
  const shown = whys.length > 3 ? [...whys.slice(0, 3), `and ${whys.length - 3} more failure(s)`] : whys;
  // With no clean commit in view (a repository's first commit, say) there is no "since": every commit in view is a suspect.
  let why = `${cleanKnown ? `${suspects.length} merge(s) since the last clean commit` : `${suspects.length} commit(s) in view, none of them clean`}; ${shown.join('; ')}`;
  // Name them: a person reading the incident should not need state.json to know which merge to look at.
  if (narrowed.length) why += `; suspect(s): ${narrowed.map(nameSuspect).join(', ')}`;
  if (crossLane) why += `; suspects span lanes ${sorted.join(', ')}: cross-lane`;
  if (unattributed) why += `; no suspect merge and no lane owns the failures at ${short(red.sha)}: unattributed`;
  return {
    lanes: sorted,
    crossLane,
    unattributed,
    suspects: narrowed.map(({ sha, change, lanes: touched }) => ({
      sha,
      ...(change ? { change } : {}),
      ...(touched.length === 1 ? { lane: touched[0] } : {}),
      lanes: touched,
    })),
    tier: maxTier(narrowed.map((s) => riskTier(policy, s.files))),
    rationale: why,
  };
}

/**
 * Suspects are the merges after the last green commit up to the red one; the
 * failing checks, read down to their tests, narrow them (see `narrow`). One
 * lane left is the incident's lane; more is cross-lane; none is unattributed.
 */
export function attribute(policy: Policy, window: readonly TargetCommit[], red: TargetCommit, failing: readonly CheckRun[]): Attribution {
  const marks = failing.flatMap(marksOf).map((mark) => toFailureMark(policy, mark));
  return attributeMarks(policy, suspectsIn(policy, window), marks, red);
}

/** A break: failures first red at one commit, attributed together. */
export interface Break {
  marks: FailureMark[];
  red: TargetCommit;
  /** The newest commit before `red` where these failures were absent, when one is in view. */
  clean?: TargetCommit;
  attribution: Attribution;
  /** The failing runs at the red commit (what classification reads). */
  failing: CheckRun[];
}

/** One fresh failure with its window on the target and the lanes its suspects narrow it to. */
interface Sighting {
  mark: FailureMark;
  red: number;
  clean: number;
  suspects: Suspect[];
  lanes: string[];
}

/**
 * Attributes the failures the target's newest runs show that no open incident
 * covers. Each failure's window runs from the newest commit where it was
 * absent to the first commit where it shows; failures whose attributions share
 * a lane are one break (one cross-lane culprit is one incident, not one per
 * lane it broke), the rest are breaks of their own.
 */
export function attributeBreaks(policy: Policy, commits: readonly TargetCommit[], fresh: readonly Mark[], lastGreen = -1): Break[] {
  const sightings: Sighting[] = [];
  // Failures of one check mostly share a window: its suspects are read once.
  const windows = new Map<string, Suspect[]>();
  for (const raw of fresh) {
    const window = failureWindow(commits, raw, lastGreen);
    if (!window) continue;
    const { red, clean } = window;
    const mark = toFailureMark(policy, raw);
    const span = `${clean}:${red}`;
    const suspects = windows.get(span) ?? suspectsIn(policy, commits.slice(clean + 1, red + 1));
    windows.set(span, suspects);
    sightings.push({ mark, red, clean, suspects, lanes: narrow(mark, suspects).lanes });
  }
  return groupByLanes(sightings).map((group) => breakOf(policy, commits, group));
}

/** Where a failure first shows (`red`) and the newest commit before it without it (`clean`, -1 when none is in view). */
function failureWindow(commits: readonly TargetCommit[], raw: Mark, lastGreen: number): { red: number; clean: number } | undefined {
  const head = newestSettled(commits, raw.check);
  if (!head) return undefined;
  let clean = -1;
  let red = head.index;
  for (let i = head.index - 1; i >= 0; i--) {
    const run = (commits[i] as TargetCommit).checks.find((c) => c.name === raw.check);
    if (!run || !settled(run)) continue;
    if (!presentIn(raw, run)) {
      clean = i;
      break;
    }
    red = i;
  }
  // A check the last all-green commit did not run yet (new, or not read that far back): that commit still bounds the window.
  if (clean < 0 && lastGreen >= 0 && lastGreen < red) clean = lastGreen;
  return { red, clean };
}

/** Failures whose lanes overlap are one break; failures with no lane at all are one unattributed break. */
function groupByLanes(sightings: readonly Sighting[]): Sighting[][] {
  const groups: Sighting[][] = [];
  for (const one of sightings) {
    const joined = groups.filter((group) =>
      group.some((other) => (one.lanes.length === 0 && other.lanes.length === 0) || one.lanes.some((lane) => other.lanes.includes(lane))),
    );
    const merged = [...joined.flat(), one];
    for (const group of joined) groups.splice(groups.indexOf(group), 1);
    groups.push(merged);
  }
  return groups;
}

function breakOf(policy: Policy, commits: readonly TargetCommit[], group: readonly Sighting[]): Break {
  const red = Math.min(...group.map((one) => one.red));
  const clean = Math.min(...group.map((one) => one.clean));
  const bySha = new Map(group.flatMap((one) => one.suspects).map((s) => [s.sha, s]));
  const suspects = [...bySha.values()].sort(
    (a, b) => commits.findIndex((c) => c.sha === a.sha) - commits.findIndex((c) => c.sha === b.sha),
  );
  const redCommit = commits[red] as TargetCommit;
  const checks = new Set(group.map((one) => one.mark.check));
  const marks = group.map((one) => one.mark);
  return {
    marks,
    red: redCommit,
    ...(clean >= 0 ? { clean: commits[clean] } : {}),
    attribution: attributeMarks(policy, suspects, marks, redCommit, clean >= 0),
    failing: [...checks].map((name) => newestSettled(commits, name)?.run).filter((run): run is CheckRun => run !== undefined),
  };
}

/** The policy keys that give this forge a worker: what a person sets to have fixes dispatched. */
function workerHint(policy: Policy, forge: Snapshot['forge']): string {
  if (forge === 'local' || policy.dispatch.worker === 'command') {
    return `set dispatch.worker: command and dispatch.command (the command that runs your coding agent) in the policy; the next sync then dispatches the fix`;
  }
  return 'GitHub mode dispatches to the github-issue worker; or set dispatch.worker: command and dispatch.command in the policy';
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
    return {
      remedy: 'escalate',
      rationale: `eligibility says ${matrix}, but no ${policy.dispatch.worker} worker is configured here (${workerHint(policy, snapshot.forge)})`,
    };
  }
  return { remedy: matrix, rationale: `eligibility.${failureClass} is ${matrix}` };
}

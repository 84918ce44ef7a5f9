// Failures as identities (SPEC §4.1), with no dependency beyond the model so
// the cockpit's webviews judge a failure by these same rules: a failing check is read down to its
// failing tests where the check says, and each failure is a mark — the check
// and the test, or the check as a whole when nothing finer is known. An
// incident's fingerprint is its set of marks: that is what makes one shared
// check able to carry several lanes' incidents at once, what a healthy lane's
// change may be red with (known failures), and what a recovery is verified by.
import type { CheckRun, Incident, TargetCommit, TestFailure } from './model';

export const FAILED: ReadonlySet<string> = new Set(['failure', 'error', 'cancelled', 'timed_out']);
export const PASSED: ReadonlySet<string> = new Set(['success', 'skipped', 'neutral']);

/** A failure seen on a check run: the check and test it is, and where the test lives. */
export interface Mark {
  check: string;
  /** Undefined: the check as a whole (no finer failure is known, or the list of failures may be incomplete). */
  test?: string;
  file?: string;
  line?: number;
}

/** One string per mark (a whole check and a test named "*" stay apart). */
export const markKey = (mark: Pick<Mark, 'check' | 'test'>): string => JSON.stringify([mark.check, mark.test ?? null]);

/** The check failed for real: red, and not passed on a re-run of the same sha. */
export function failedForReal(run: CheckRun): boolean {
  return FAILED.has(run.conclusion) && run.passedOnRerun !== true;
}

/** The check ran to an end (pass or fail), so its failures are known. */
export function settled(run: CheckRun): boolean {
  return FAILED.has(run.conclusion) || PASSED.has(run.conclusion);
}

/**
 * The real failures of one check run. A run that failed with no list, an
 * incomplete list, or a list whose every entry was flaky (so something else
 * failed it) also fails as a whole: nothing the check does is left unaccounted.
 */
export function marksOf(run: CheckRun): Mark[] {
  if (!failedForReal(run)) return [];
  const real = (run.failures ?? []).filter((failure) => failure.flaky !== true);
  const marks: Mark[] = real.map((failure) => ({
    check: run.name,
    test: failure.id,
    ...(failure.file ? { file: failure.file } : {}),
    ...(failure.line ? { line: failure.line } : {}),
  }));
  // Timeouts and cancellations are about the run, not its tests.
  const runLevel = run.conclusion !== 'failure' && run.conclusion !== 'error';
  if (real.length === 0 || run.failuresComplete === false || runLevel) marks.push({ check: run.name });
  return dedupe(marks);
}

/** Flaky failures of a run: tests that failed and then passed, or the whole check when it passed on a re-run. */
export function flakesOf(run: CheckRun): Mark[] {
  if (run.passedOnRerun === true) return [{ check: run.name }];
  if (!FAILED.has(run.conclusion)) return [];
  return (run.failures ?? [])
    .filter((failure: TestFailure) => failure.flaky === true)
    .map((failure) => ({ check: run.name, test: failure.id, ...(failure.file ? { file: failure.file } : {}) }));
}

function dedupe(marks: Mark[]): Mark[] {
  const seen = new Set<string>();
  return marks.filter((mark) => {
    const key = markKey(mark);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** An incident's fingerprint; incidents recorded before fingerprints stand for their whole checks. */
export function fingerprintOf(incident: Pick<Incident, 'failures' | 'failingChecks'>): Mark[] {
  return incident.failures ?? incident.failingChecks.map((check) => ({ check }));
}

/**
 * Whether an incident's fingerprint covers a mark: the same test of the same
 * check, or the whole check. A whole-check mark is covered only by a
 * whole-check entry: an unknown failure is never assumed to be a known one.
 */
export function covers(fingerprint: readonly Mark[], mark: Mark): boolean {
  return fingerprint.some((entry) => entry.check === mark.check && (entry.test === undefined || entry.test === mark.test));
}

/**
 * Whether a mark of an incident is still present on a run of its check:
 * a whole-check mark while the check fails at all; a test while it is listed,
 * or while the run's list may be missing it (incomplete or absent).
 */
export function presentIn(mark: Mark, run: CheckRun): boolean {
  if (!failedForReal(run)) return false;
  if (mark.test === undefined) return true;
  const listed = (run.failures ?? []).some((failure) => failure.id === mark.test && failure.flaky !== true);
  if (listed) return true;
  return run.failures === undefined || run.failuresComplete === false;
}

/** The newest settled run of `check` at or after index `from` in `commits` (newest last), with its commit. */
export function newestSettled(commits: readonly TargetCommit[], check: string, from = 0): { run: CheckRun; index: number } | undefined {
  for (let i = commits.length - 1; i >= Math.max(0, from); i--) {
    const run = (commits[i] as TargetCommit).checks.find((c) => c.name === check);
    if (run && settled(run)) return { run, index: i };
  }
  return undefined;
}

/**
 * Whether a fingerprint's failures are gone from the target: for each of its
 * checks, the newest settled run at or after `from` no longer has them. Pending
 * while any of its checks has no settled run there yet.
 */
export function fingerprintVerdict(
  commits: readonly TargetCommit[],
  fingerprint: readonly Mark[],
  from = 0,
): { verdict: 'gone' | 'present' | 'pending'; sha?: string; present: Mark[] } {
  const present: Mark[] = [];
  let newest = -1;
  for (const check of new Set(fingerprint.map((mark) => mark.check))) {
    const found = newestSettled(commits, check, from);
    if (!found) return { verdict: 'pending', present: [] };
    newest = Math.max(newest, found.index);
    for (const mark of fingerprint.filter((m) => m.check === check)) if (presentIn(mark, found.run)) present.push(mark);
  }
  const sha = newest >= 0 ? (commits[newest] as TargetCommit).sha : undefined;
  return { verdict: present.length ? 'present' : 'gone', present, ...(sha ? { sha } : {}) };
}

export function describeMark(mark: Mark): string {
  return mark.test === undefined ? `${mark.check} (the check as a whole)` : `${mark.check} > ${mark.test}`;
}

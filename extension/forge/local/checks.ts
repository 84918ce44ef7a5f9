// Runs `local.checks` in a checkout of the commit under test, one after the
// other, each through extension/process (its own process group, an allowlisted
// environment, the timeout, nothing left running after it ends), with an
// output tail kept for classification. A failed check is read down to its
// failing tests: its JUnit report when it names one, else its output.
import { realpathSync, rmSync, statSync, readFileSync, lstatSync } from 'node:fs';
import { dirname, isAbsolute, join, sep } from 'node:path';
import { bounded, failuresFromOutput, type FailureReport } from '../../core/failures';
import type { CheckRun, TestFailure } from '../../core/model';
import { formatDuration } from '../../core/policy/duration';
import { allowlistedEnv } from '../../process/env';
import { OUTPUT_TAIL, runCommand, type CommandOutcome } from '../../process/run';
import { failuresFromJUnit } from '../../reports/junit';

export interface LocalCheck {
  name: string;
  run: string;
  /** A JUnit XML report the command writes, relative to the checkout. */
  junit?: string;
}

/** A JUnit report larger than this is not read (a check is untrusted: it could fill memory). */
const MAX_REPORT_BYTES = 32 * 1024 * 1024;
/** How much of the first run's output is kept beside the re-run's. */
const FIRST_RUN_TAIL = 2000;

/**
 * `named`: the variables `local.env` passes through beyond the allowlist.
 * `rerunFailed` (`local.rerun_failed`): a failed check runs once more on the
 * same checkout, and what passes the second time is flaky.
 */
export async function runChecks(
  checks: readonly LocalCheck[],
  cwd: string,
  timeoutMs: number,
  named: readonly string[] = [],
  rerunFailed = false,
): Promise<CheckRun[]> {
  const runs: CheckRun[] = [];
  for (const check of checks) {
    const first = await runOnce(check, cwd, timeoutMs, named);
    // A timeout is the machine's failure, not the tests': running it again proves nothing and costs another timeout.
    runs.push(rerunFailed && first.conclusion === 'failure' ? rerun(first, await runOnce(check, cwd, timeoutMs, named)) : first);
  }
  return runs;
}

async function runOnce(check: LocalCheck, cwd: string, timeoutMs: number, named: readonly string[]): Promise<CheckRun> {
  const env = allowlistedEnv(named, { CI: 'true', BUILDMASTER_CHECK: check.name });
  const report = check.junit === undefined ? undefined : locateReport(cwd, check.junit);
  // An old report (committed, or left by an earlier check or run) must never be read as this run's.
  if (report?.path) clearReport(cwd, report.path);
  // The checkout is the checks' alone: whatever still works in it when a check ends is that check's.
  const outcome = await runCommand(check.run, { cwd, env, timeoutMs, contain: cwd });
  if (outcome.timedOut) {
    return {
      name: check.name,
      conclusion: 'timed_out',
      output: `${outcome.output}\ncheck timed out after ${formatDuration(timeoutMs)} (local.check_timeout) and was killed`,
      failuresComplete: false,
      failuresNote: 'the check timed out: it is attributed as a whole',
    };
  }
  if (outcome.exitCode === 0) return { name: check.name, conclusion: 'success', output: outcome.output };
  return { name: check.name, conclusion: 'failure', output: outcome.output, ...failuresOf(check, cwd, outcome, report) };
}

type Failures = Pick<CheckRun, 'failures' | 'failuresComplete' | 'failuresNote'>;

/** The failing tests of a failed run: from its JUnit report if it has a readable one, else from its output. */
function failuresOf(check: LocalCheck, cwd: string, outcome: CommandOutcome, report: LocatedReport | undefined): Failures {
  let why: string | undefined;
  if (report?.path) {
    const read = readReport(cwd, report.path, check.junit as string);
    if ('xml' in read) {
      const junit = failuresFromJUnit(inCheckout(read.xml, cwd), { root: cwd });
      if (junit.failures.length > 0) return described(junit, `read from the JUnit report ${check.junit}`);
      // A failed command whose report names no failing test failed elsewhere (a build step, a crash): its output may say where.
      why = junit.note
        ? `${check.junit}: ${junit.note.replace(/; the check is attributed as a whole$/, '')}`
        : `the JUnit report ${check.junit} names no failing test`;
    } else {
      why = read.why;
    }
  } else if (report) {
    why = report.why;
  }
  const parsed = failuresFromOutput(inCheckout(outcome.output, cwd), { root: cwd });
  const cut = outcome.outputCut
    ? {
        ...parsed,
        complete: false,
        note: [
          `the output was longer than the ${OUTPUT_TAIL} characters kept, and only its end was read: failures before it may be missing`,
          parsed.note,
        ]
          .filter(Boolean)
          .join('; '),
      }
    : parsed;
  return described(cut, `read from the output${why ? ` (${why})` : ''}`);
}

function described(parsed: FailureReport, source: string): Failures {
  const report = bounded(parsed);
  const how = `${source}${report.parser ? ` by the ${report.parser} parser` : ''}`;
  if (report.failures.length === 0) {
    // The check failed: an empty list would say nothing failed, so the check as a whole stands.
    const note = report.note ?? 'no failing test was found in it; the check is attributed as a whole';
    return { failuresComplete: false, failuresNote: `${how}: ${note}` };
  }
  return { failures: report.failures, failuresComplete: report.complete, failuresNote: report.note ? `${how}: ${report.note}` : how };
}

/**
 * A second run of a failed check on the same checkout. Passing, the check is
 * flaky as a whole (`passedOnRerun`, as a re-run on GitHub is); failing again,
 * its failures are the second run's, and those of the first run the second did
 * not repeat are kept as flaky, when the second run's list is complete (an
 * incomplete one may simply not name them).
 */
function rerun(first: CheckRun, second: CheckRun): CheckRun {
  const output = `first run (failed):\n${(first.output ?? '').slice(-FIRST_RUN_TAIL)}\n\nrun again (local.rerun_failed), ${second.conclusion === 'success' ? 'passed' : second.conclusion === 'timed_out' ? 'timed out' : 'failed'}:\n${second.output ?? ''}`;
  const flaky = (failures: readonly TestFailure[] | undefined) => (failures ?? []).map((failure) => ({ ...failure, flaky: true }));
  if (second.conclusion === 'success') {
    return {
      name: first.name,
      conclusion: 'failure',
      passedOnRerun: true,
      output,
      ...(first.failures ? { failures: flaky(first.failures) } : {}),
      failuresComplete: first.failuresComplete ?? false,
      failuresNote: `${first.failuresNote ?? 'the first run failed'}; it passed when run again on the same commit (local.rerun_failed): flaky`,
    };
  }
  if (second.conclusion !== 'failure') {
    return {
      ...first,
      output,
      failuresNote: `${first.failuresNote ?? 'the first run failed'}; the run again ${second.conclusion === 'timed_out' ? 'timed out' : `ended ${second.conclusion}`}, so nothing is known of flakiness`,
    };
  }
  const again = new Set((second.failures ?? []).map((failure) => failure.id));
  const gone = second.failuresComplete ? (first.failures ?? []).filter((failure) => !again.has(failure.id)) : [];
  const failures = [...(second.failures ?? []), ...flaky(gone)];
  const note = [
    second.failuresNote,
    gone.length ? `${gone.length} failure(s) of the first run passed when run again (local.rerun_failed): flaky` : '',
    !second.failuresComplete && first.failures?.length
      ? 'the run again was not read completely, so no failure of the first run is called flaky'
      : '',
  ]
    .filter(Boolean)
    .join('; ');
  return {
    name: first.name,
    conclusion: 'failure',
    output,
    ...(failures.length ? { failures } : {}),
    failuresComplete: second.failuresComplete ?? false,
    failuresNote: note,
  };
}

type LocatedReport = { path: string; why?: undefined } | { path?: undefined; why: string };

/** Where a check's JUnit report is, refused when its name leads out of the checkout. */
function locateReport(cwd: string, junit: string): LocatedReport {
  const untrusted = 'a check is untrusted code, so Build Master reads its report only from inside the checkout';
  if (isAbsolute(junit) || /^[A-Za-z]:[\\/]/.test(junit))
    return { why: `the JUnit report path "${junit}" is absolute and not read (${untrusted}); write it relative to the checkout` };
  if (junit.split(/[\\/]+/).includes('..'))
    return { why: `the JUnit report path "${junit}" leads out of the checkout with ".." and is not read (${untrusted})` };
  return { path: join(cwd, junit) };
}

/** The real path of `path` when it is inside the checkout (symbolic links followed), else why not. */
function inside(cwd: string, path: string): { real: string } | { why: string } {
  const root = realpathSync(cwd);
  const real = realpathSync(path);
  return real === root || real.startsWith(`${root}${sep}`)
    ? { real }
    : { why: `resolves to ${real}, outside the checkout, through a symbolic link` };
}

/** Removes a stale report, never anything outside the checkout (a directory on the way may be a link out of it). */
function clearReport(cwd: string, path: string): void {
  try {
    lstatSync(path);
  } catch {
    return;
  }
  try {
    // The file itself may be a link (removing a link touches only the link); its directory must be inside.
    if ('real' in inside(cwd, dirname(path))) rmSync(path, { force: true, recursive: false });
  } catch {
    // unreadable: the read after the run refuses it with a reason
  }
}

function readReport(cwd: string, path: string, junit: string): { xml: string } | { why: string } {
  const untrusted = 'a check is untrusted code, so Build Master reads its report only from inside the checkout';
  let where: { real: string } | { why: string };
  try {
    where = inside(cwd, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return {
      why:
        code === 'ENOENT'
          ? `the check wrote no JUnit report at ${junit}`
          : `the JUnit report ${junit} could not be read (${code ?? (error as Error).message})`,
    };
  }
  if ('why' in where) return { why: `the JUnit report ${junit} ${where.why}, and is not read (${untrusted})` };
  try {
    const stat = statSync(where.real);
    if (!stat.isFile()) return { why: `the JUnit report ${junit} is not a file` };
    if (stat.size > MAX_REPORT_BYTES)
      return { why: `the JUnit report ${junit} is larger than ${MAX_REPORT_BYTES / 1024 / 1024} MB and is not read` };
    return { xml: readFileSync(where.real, 'utf8') };
  } catch (error) {
    return { why: `the JUnit report ${junit} could not be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` };
  }
}

/**
 * Paths the runner printed through the checkout's real path (a temp folder
 * behind a symbolic link) named through the checkout's own path, so the
 * parsers make them relative to the repository.
 */
function inCheckout(text: string, cwd: string): string {
  let real: string;
  try {
    real = realpathSync(cwd);
  } catch {
    return text;
  }
  return real === cwd ? text : text.split(`${real}${sep}`).join(`${cwd}${sep}`);
}

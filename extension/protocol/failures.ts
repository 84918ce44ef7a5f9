// Failing tests as the CLI and the cockpit show them: an incident's fingerprint
// grouped by check, a change's failing checks with which failures an open
// incident already knows, and flaky tests counted in the policy's window.
// Pure data shaping (no fs, no vscode): the webviews import it too.
import type { QueueEntry } from '../core/decide';
import { covers, failedForReal, fingerprintOf, marksOf } from '../core/marks';
import type { CheckRun, FailureMark, FlakeRecord, Incident, TestFailure } from '../core/model';

/** How many failures a view lists before "and N more": 500 failing tests must not flood a terminal or a tooltip. */
export const FAILURES_SHOWN = 20;

/**
 * Text from a check's output (test ids, files, messages) as one printable
 * line: control characters (newlines, terminal escapes) and bidirectional
 * overrides are written as escapes, so a crafted test name can neither forge
 * another line of output nor drive the terminal nor reorder what is read.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\t') return ' ';
    return `\\u{${c.charCodeAt(0).toString(16)}}`;
  });
}

/** `file:line`, `file`, or undefined when the runner named no file. */
export function where(file: string | undefined, line: number | undefined): string | undefined {
  if (!file) return undefined;
  return line !== undefined && Number.isInteger(line) && line > 0 ? `${printable(file)}:${line}` : printable(file);
}

/**
 * A test id without the file it starts with (`web/app.test.ts > header > renders`
 * → `header › renders`), for narrow places that show the file beside it.
 */
export function testTitle(id: string): string {
  for (const separator of [' > ', ' › ', '::']) {
    const parts = id.split(separator);
    if (parts.length > 1 && /[/\\]|\.[A-Za-z0-9]+$/.test(parts[0] ?? '')) return parts.slice(1).join(separator === '::' ? '::' : ' › ');
  }
  return id;
}

/** One check's share of an incident's fingerprint. */
export interface FailureGroup {
  check: string;
  /** The marks shown (the first ones, up to the view's limit). */
  marks: FailureMark[];
  /** Every mark of this check in the fingerprint. */
  total: number;
}

export interface IncidentFailures {
  groups: FailureGroup[];
  /** Marks in the whole fingerprint. */
  total: number;
  /** Marks not shown because of the limit. */
  hidden: number;
  /** False for incidents recorded before fingerprints: the groups then stand for `failingChecks`. */
  recorded: boolean;
}

/** An incident's failures grouped by check, the first `limit` of them shown. */
export function incidentFailures(
  incident: Pick<Incident, 'failures' | 'failingChecks' | 'lanes'>,
  limit = FAILURES_SHOWN,
): IncidentFailures {
  const recorded = (incident.failures?.length ?? 0) > 0;
  const marks: FailureMark[] = recorded
    ? (incident.failures as FailureMark[])
    : incident.failingChecks.map((check) => ({
        check,
        ...(incident.lanes.length === 1 ? { lane: incident.lanes[0] } : {}),
        why: 'recorded before failing tests were read: the check as a whole',
      }));
  const byCheck = new Map<string, FailureMark[]>();
  for (const mark of marks) {
    const list = byCheck.get(mark.check);
    if (list) list.push(mark);
    else byCheck.set(mark.check, [mark]);
  }
  // Every check gets a line before any check gets a second: a check failing as a whole is never cut for another's tests.
  // A check failing as a whole leads: it is the widest failure and the one a reader must not miss.
  const ordered = [...byCheck]
    .map(([check, list]) => ({ check, list: [...list.filter((m) => m.test === undefined), ...list.filter((m) => m.test !== undefined)] }))
    .sort((a, b) => Number(b.list[0]?.test === undefined) - Number(a.list[0]?.test === undefined));
  const quota = ordered.map(() => 0);
  let room = Math.max(0, limit);
  for (let i = 0; i < ordered.length && room > 0; i++) {
    quota[i] = 1;
    room--;
  }
  ordered.forEach((group, i) => {
    const extra = Math.min(room, group.list.length - (quota[i] ?? 0));
    quota[i] = (quota[i] ?? 0) + Math.max(0, extra);
    room -= Math.max(0, extra);
  });
  const groups: FailureGroup[] = ordered.map((group, i) => ({
    check: group.check,
    marks: group.list.slice(0, quota[i]),
    total: group.list.length,
  }));
  const shownCount = groups.reduce((n, g) => n + g.marks.length, 0);
  return { groups, total: marks.length, hidden: marks.length - shownCount, recorded };
}

/** An open incident whose fingerprint holds a failure. */
export interface KnownBy {
  incident: string;
  lanes: string[];
  /**
   * True when the incident is another lane's: the failure is then a known one
   * for the change (the gate lets it pass). An incident of the change's own
   * lane holds it too, but does not excuse it.
   */
  excuses: boolean;
}

/** Whether an incident's fingerprint holds a failure: the gate's own rule (core/marks `covers`). */
function holds(incident: Pick<Incident, 'failures' | 'failingChecks'>, check: string, test: string | undefined): boolean {
  return covers(fingerprintOf(incident), test === undefined ? { check } : { check, test });
}

/**
 * The open incident that holds a failure: another lane's first (that is the
 * one that excuses it, oldest first as the gate takes them), else one of the
 * change's own lanes.
 */
export function knownBy(
  incidents: readonly Incident[],
  changeLanes: readonly string[],
  check: string,
  test: string | undefined,
): KnownBy | undefined {
  const open = incidents
    .filter((i) => i.status === 'open' && holds(i, check, test))
    .sort((a, b) => a.openedAt - b.openedAt || a.id.localeCompare(b.id));
  const other = open.find((i) => i.lanes.length > 0 && !i.lanes.some((lane) => changeLanes.includes(lane)));
  if (other) return { incident: other.id, lanes: other.lanes, excuses: true };
  const own = open[0];
  return own ? { incident: own.id, lanes: own.lanes, excuses: false } : undefined;
}

/** An incident and its lanes, for a line of text. */
export const heldBy = (known: Pick<KnownBy, 'incident' | 'lanes'>): string =>
  `${known.incident}${known.lanes.length ? ` (lane ${known.lanes.join(', ')})` : ''}`;

/** Whether a failure is a known one for the change, in a few words. */
export function knownText(known: KnownBy | undefined): string {
  if (!known) return "no other lane's incident holds it";
  return known.excuses ? `known: ${heldBy(known)}` : `held by ${heldBy(known)}, this change's own lane: not excused`;
}

export interface FailureView extends TestFailure {
  known?: KnownBy;
}

/** One red check of a change, read down to its failing tests. */
export interface CheckFailures {
  check: string;
  conclusion: string;
  /** As the gate judges it: excused when every failure is held by another lane's open incident. */
  status: 'failing' | 'excused';
  /** For an excused check, the other lane's open incident whose known failures excuse it. */
  excusedBy?: Pick<KnownBy, 'incident' | 'lanes'>;
  /** The failing tests shown, each with the open incident that holds it, if any. */
  failures: FailureView[];
  /** Failing tests in the check. */
  total: number;
  /** Failing tests not shown because of the limit. */
  hidden: number;
  /** Failing tests (shown or not, flaky ones aside) no other lane's open incident holds: why the check blocks. */
  unknown: number;
  /**
   * True when the check fails as a whole too: nothing finer is known, its list
   * may miss failures, every listed one was flaky, or it timed out or was cancelled.
   */
  wholeCheck: boolean;
  /** With `wholeCheck`: the open incident holding the check as a whole, if any. */
  wholeKnown?: KnownBy;
  /** How the failures were read, or why they could not be. */
  note?: string;
}

/** A red check that did not pass on a re-run of the same commit (that one is flaky, not failing): core/marks `failedForReal`. */
export function isRed(run: Pick<CheckRun, 'name' | 'conclusion' | 'passedOnRerun'>): boolean {
  return failedForReal(run);
}

/**
 * A change's red check down to its failing tests, judged as the gate judges
 * it (core/gate `judgeChecks`): a failure is known when an open incident of a
 * lane the change does not touch holds it; the check is excused when all are.
 */
export function checkFailures(
  run: CheckRun,
  incidents: readonly Incident[],
  changeLanes: readonly string[],
  limit = FAILURES_SHOWN,
): CheckFailures {
  const views = (run.failures ?? []).map((failure): FailureView => {
    const known = knownBy(incidents, changeLanes, run.name, failure.id);
    return { ...failure, ...(known ? { known } : {}) };
  });
  const real = views.filter((v) => v.flaky !== true);
  // The gate's rule (core/marks `marksOf`): the check fails as a whole unless its complete list names every real failure.
  const wholeCheck = marksOf(run).some((mark) => mark.test === undefined);
  const wholeKnown = wholeCheck ? knownBy(incidents, changeLanes, run.name, undefined) : undefined;
  const unknown = real.filter((v) => v.known?.excuses !== true).length;
  const holders = [...real.map((v) => v.known), wholeKnown].filter((k): k is KnownBy => k?.excuses === true);
  const first = holders[0];
  const excused = unknown === 0 && (!wholeCheck || wholeKnown?.excuses === true) && first !== undefined;
  const shown = views.slice(0, Math.max(0, limit));
  return {
    check: run.name,
    conclusion: run.conclusion,
    status: excused ? 'excused' : 'failing',
    ...(excused ? { excusedBy: { incident: first.incident, lanes: first.lanes } } : {}),
    failures: shown,
    total: views.length,
    hidden: views.length - shown.length,
    unknown,
    wholeCheck,
    ...(wholeKnown ? { wholeKnown } : {}),
    ...(run.failuresNote ? { note: run.failuresNote } : {}),
  };
}

/** The change's red required checks down to their failing tests (the review panel). */
export function redChecks(
  checks: readonly CheckRun[],
  entry: Pick<QueueEntry, 'lane' | 'requiredChecks'> | undefined,
  incidents: readonly Incident[],
): CheckFailures[] {
  return checks
    .filter((check) => isRed(check) && (!entry || entry.requiredChecks.includes(check.name)))
    .map((check) => checkFailures(check, incidents, entry ? [entry.lane] : []));
}

export interface FlakeView {
  check: string;
  test?: string;
  file?: string;
  /** Flaky runs within the window. */
  count: number;
  reportedAt?: number;
}

/** Flaky tests seen within `window` ms of `now`, most flaky first. */
export function flakesInWindow(flakes: Readonly<Record<string, FlakeRecord>> | undefined, window: number, now: number): FlakeView[] {
  return Object.values(flakes ?? {})
    .map((flake) => ({
      check: flake.check,
      ...(flake.test !== undefined ? { test: flake.test } : {}),
      ...(flake.file !== undefined ? { file: flake.file } : {}),
      count: flake.seen.filter((s) => s.at >= now - window).length,
      ...(flake.reportedAt !== undefined ? { reportedAt: flake.reportedAt } : {}),
    }))
    .filter((flake) => flake.count > 0 || flake.reportedAt !== undefined)
    .sort((a, b) => b.count - a.count || a.check.localeCompare(b.check) || (a.test ?? '').localeCompare(b.test ?? ''));
}

/**
 * A file path a check reported, as a path inside the repository, or undefined
 * when it is not one (absolute, climbing out with `..`, or carrying control
 * characters): check output is untrusted text and must not open files elsewhere.
 */
export function repositoryPath(path: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (!path || /[\x00-\x1f\x7f]/.test(path)) return undefined;
  const normal = path.replace(/\\/g, '/').replace(/^(\.\/)+/, '');
  if (normal.startsWith('/') || /^[A-Za-z]:/.test(normal) || /^[a-z][a-z0-9+.-]*:\/\//i.test(normal)) return undefined;
  const parts = normal.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.includes('..')) return undefined;
  return parts.join('/');
}

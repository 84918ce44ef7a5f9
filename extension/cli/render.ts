// What the CLI prints: the documented JSON document (SPEC §9) and readable tables.
import type { QueueEntry } from '../core/decide';
import { short } from '../core/text';
import type { Decision, FailureMark, Incident, OutputTail } from '../core/model';
import {
  FAILURES_SHOWN,
  heldBy,
  incidentFailures,
  knownText,
  printable as p,
  where,
  type CheckFailures,
  type FailureView,
  type FlakeView,
} from '../protocol/failures';
import { formatDuration } from '../core/policy/duration';
import { own } from '../core/records';
import type { LogEvent } from '../store/store';
import type { ActionOutcome } from '../controller/cycle';
import type { StatusDocument } from '../controller/status';
export { statusDocument, type StatusDocument } from '../controller/status';

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.min(60, Math.max(...rows.map((r) => (r[i] ?? '').length)))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, i) => {
          const width = widths[i] ?? 0;
          // The last column is free text (a reason): it is never cut, the terminal wraps it.
          if (i === row.length - 1) return cell;
          return (cell.length > width ? `${cell.slice(0, width - 1)}…` : cell).padEnd(width);
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

const STATE_MARK: Record<string, string> = { healthy: '●', degraded: '◐', paused: '■', recovering: '◑' };

export function renderStatus(doc: StatusDocument, now: number): string {
  const out: string[] = [];
  out.push(`global: ${doc.global.state} — ${doc.global.reason}`);
  out.push('');
  out.push(
    table([
      ['LANE', 'STATE', 'QUEUE', 'INCIDENT', 'NEXT'],
      ...doc.lanes.map((lane) => {
        const first = lane.queue[0];
        const next = first ? `${first.change}: ${first.reasons[0]?.message ?? 'ready to merge'}` : '—';
        return [
          lane.name,
          `${STATE_MARK[lane.state] ?? ''} ${lane.state} ${formatDuration(now - lane.since)}`,
          String(lane.queue.length),
          lane.incident?.id ?? '—',
          next,
        ];
      }),
    ]),
  );
  if (doc.incidents.length) {
    out.push('', 'incidents:');
    for (const incident of doc.incidents) {
      const attempt = incident.attempts[incident.attempts.length - 1];
      const tests = incident.failures?.filter((f) => f.test !== undefined).length ?? 0;
      out.push(
        `  ${incident.id}  ${incident.failureClass}  lanes ${incident.lanes.join(', ') || 'none'}  red at ${short(incident.redSha)}${tests ? `  ${plural(tests, 'failing test')}` : ''}  retries ${incident.retries}` +
          `${attempt ? `  fix attempt ${attempt.attempt}: ${attempt.outcome}${attempt.change ? ` (${attempt.change})` : ''}` : ''}${incident.escalated ? '  ESCALATED' : ''}`,
      );
      if (incident.status !== 'resolved') out.push(...tailLines(incident, STATUS_TAIL, '      '));
    }
  }
  if (doc.approvals.length) {
    out.push('', 'approvals waiting (build-master approve <id> | reject <id> --reason "…"):');
    for (const approval of doc.approvals)
      out.push(`  ${approval.id}  ${approval.kind}  ${approval.change ?? approval.incident ?? ''}  ${approval.rationale}`);
  }
  return out.join('\n');
}

export function renderDecisions(decisions: Decision[], actions: ActionOutcome[] = []): string {
  const byKey = new Map(actions.map((a) => [a.key, a]));
  const rows = decisions
    .filter((d) => d.kind !== 'wait')
    .map((d) => {
      const action = d.key ? byKey.get(d.key) : undefined;
      const status = action ? ` [${action.status}${action.status === 'done' ? '' : `: ${action.message}`}]` : '';
      return `${d.kind.padEnd(16)} ${(d.lane ?? '').padEnd(10)} ${(d.change ?? d.incident ?? '').padEnd(24)} ${d.rationale}${status}`;
    });
  return rows.length ? rows.join('\n') : 'no actions this cycle';
}

export function renderExplain(entry: QueueEntry, position: number, laneState: string): string {
  const out = [
    `${entry.change} — ${entry.title}`,
    `lane ${entry.lane} (${laneState}; ${entry.laneRationale}), ${entry.tier}${entry.crossLane ? ', cross-lane' : ''}, position ${position} in the lane's merge order`,
  ];
  if (entry.link) out.push(`linked ${entry.link.kind} for ${entry.link.incident}`);
  out.push(`required checks: ${entry.requiredChecks.join(', ') || 'none'}`);
  if (entry.reasons.length === 0) out.push('', 'every gate passes: it merges when it reaches the front of its lane');
  else {
    out.push('', 'why it is not merging:');
    for (const reason of entry.reasons) out.push(`  ${reason.code.padEnd(24)} ${reason.message}`);
  }
  for (const note of entry.notes) out.push(`  note: ${note}`);
  return out.join('\n');
}

/** How many of an incident's output lines each view shows: a glance in status and log, all kept in explain. */
const STATUS_TAIL = 3;
const LOG_TAIL = 8;

/** The end of each failing check's output, as kept on the incident, indented so no line reads as a heading. */
function tailLines(incident: Pick<Incident, 'output' | 'redSha'>, limit: number, indent: string): string[] {
  return (incident.output ?? []).flatMap((tail: OutputTail) => {
    const lines = tail.lines.slice(-limit);
    return [
      `${indent}output of ${p(tail.check)} at ${short(incident.redSha)} (last ${plural(lines.length, 'line')}):`,
      ...lines.map((line) => `${indent}    ${p(line)}`),
    ];
  });
}

/**
 * The event log, one line an event. An incident's opening is followed by the end of its
 * failing output when the state still holds the incident (`incidents`, by id).
 */
export function renderEvents(events: LogEvent[], incidents: Readonly<Record<string, Incident>> = {}): string {
  if (events.length === 0) return 'no events';
  return events
    .map((e) => {
      const what = [e.type === 'action' ? `${e.kind} ${e.status}` : (e.kind ?? e.type), e.lane, e.change ?? e.incident]
        .filter(Boolean)
        .join(' ');
      const line = `${new Date(e.at).toISOString()}  #${e.seq}  ${what}: ${e.message}`;
      const incident = e.type === 'decision' && e.kind === 'open-incident' && e.incident ? own(incidents, e.incident) : undefined;
      return incident ? [line, ...tailLines(incident, LOG_TAIL, '    ')].join('\n') : line;
    })
    .join('\n');
}

/** One failing test (or the check as a whole) of an incident, on two lines: long test ids stay readable. */
function markLines(mark: FailureMark): string[] {
  const at = where(mark.file, mark.line);
  const lane = mark.lane ? `lane ${p(mark.lane)}: ${p(mark.why)}` : `no lane: ${p(mark.why)}`;
  return [`    ✗ ${mark.test !== undefined ? p(mark.test) : 'the check as a whole'}`, `      ${at ? `${at} → ` : ''}${lane}`];
}

/** `explain <incident>`: what broke, where, which tests and why they are this lane's (the first `limit` of them). */
export function renderIncidentExplain(incident: Incident, now: number, limit = FAILURES_SHOWN): string {
  const lanes = incident.lanes.length ? `lane ${incident.lanes.join(', ')}` : 'no lane (unattributed)';
  const out = [
    `${incident.id} — ${incident.status}, ${incident.failureClass} (${incident.classRule}), ${lanes}${incident.crossLane ? ', cross-lane' : ''}, ${incident.tier}`,
    `red at ${short(incident.redSha)}${incident.lastGreenSha ? `, last green ${short(incident.lastGreenSha)}` : ''}; open ${formatDuration(Math.max(0, (incident.resolvedAt ?? now) - incident.openedAt))}; remedy ${incident.remedy}, retries ${incident.retries}${incident.escalated ? ', escalated' : ''}`,
  ];
  if (incident.suspects.length)
    out.push(`suspects: ${incident.suspects.map((s) => `${s.change ?? short(s.sha)}${s.lane ? ` (${s.lane})` : ''}`).join(', ')}`);
  const view = incidentFailures(incident, limit);
  out.push(
    '',
    view.recorded
      ? `failing tests (${plural(view.total, 'failure')} in ${plural(view.groups.length, 'check')}):`
      : 'failing checks (no failing tests on record):',
  );
  for (const group of view.groups) {
    out.push(`  ${p(group.check)}${group.total > 1 ? ` (${group.total})` : ''}`);
    for (const mark of group.marks) out.push(...markLines(mark));
    if (group.marks.length < group.total) out.push(`    … ${group.total - group.marks.length} more in ${p(group.check)}`);
  }
  if (view.hidden) out.push(`  (${view.hidden} not shown: --json lists all ${view.total})`);
  const tails = tailLines(incident, Number.MAX_SAFE_INTEGER, '');
  if (tails.length) out.push('', ...tails);
  const attempt = incident.attempts[incident.attempts.length - 1];
  if (attempt)
    out.push(
      '',
      `fix attempt ${attempt.attempt}: ${attempt.outcome}${attempt.change ? ` (${attempt.change})` : ''}${attempt.reason ? ` — ${p(attempt.reason)}` : ''}`,
    );
  out.push('', p(incident.rationale));
  return out.join('\n');
}

function failureLines(failure: FailureView): string[] {
  const at = where(failure.file, failure.line);
  const status = failure.flaky ? 'flaky (passed on a re-run)' : knownText(failure.known);
  return [`    ✗ ${p(failure.id)}`, `      ${at ? `${at} — ` : ''}${status}`];
}

/** `explain <change>`: its red checks read down to their failing tests, and which another lane's open incident holds. */
export function renderCheckFailures(checks: CheckFailures[]): string {
  if (checks.length === 0) return '';
  const out = ['red checks:'];
  for (const check of checks) {
    const verdict =
      check.status === 'excused' && check.excusedBy
        ? `excused: only failures ${heldBy(check.excusedBy)} already holds`
        : check.unknown
          ? `blocks this change: ${check.unknown} of ${plural(check.total, 'failing test')} no other lane's incident holds`
          : 'blocks this change';
    out.push(`  ${p(check.check)} ${check.conclusion} — ${verdict}`);
    if (check.wholeCheck) {
      const why = check.total === 0 ? 'no failing tests could be read' : 'its failing tests may be incomplete';
      out.push(`    ✗ the check as a whole`, `      ${check.note !== undefined ? p(check.note) : why} — ${knownText(check.wholeKnown)}`);
    } else if (check.note) out.push(`    (${p(check.note)})`);
    for (const failure of check.failures) out.push(...failureLines(failure));
    if (check.hidden) out.push(`    and ${check.hidden} more (--json lists them all)`);
  }
  return out.join('\n');
}

/** `status`: flaky tests counted in the window, those reported for quarantine marked. */
export function renderFlakes(flakes: FlakeView[], window: number): string {
  const reported = flakes.filter((f) => f.reportedAt !== undefined);
  if (reported.length === 0) return '';
  const shown = reported.slice(0, FAILURES_SHOWN);
  const out = [`flaky tests reported for quarantine (flaky runs in the last ${formatDuration(window)}):`];
  for (const flake of shown) {
    const at = where(flake.file, undefined);
    out.push(
      `  ${String(flake.count).padStart(3)}×  ${p(flake.check)} > ${flake.test !== undefined ? p(flake.test) : 'the check as a whole'}${at && !p(flake.test ?? '').includes(at) ? `  (${at})` : ''}`,
    );
  }
  if (reported.length > shown.length) out.push(`  and ${reported.length - shown.length} more (--json lists them all)`);
  return out.join('\n');
}

// What the CLI prints: the documented JSON document (SPEC §9) and readable tables.
import type { QueueEntry } from '../core/decide';
import { short } from '../core/gate';
import type { Decision } from '../core/model';
import { formatDuration } from '../core/policy/duration';
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
          const text = cell.length > width ? `${cell.slice(0, width - 1)}…` : cell;
          return i === row.length - 1 ? text : text.padEnd(width);
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

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
        return [lane.name, `${STATE_MARK[lane.state] ?? ''} ${lane.state} ${formatDuration(now - lane.since)}`, String(lane.queue.length), lane.incident?.id ?? '—', next];
      }),
    ]),
  );
  if (doc.incidents.length) {
    out.push('', 'incidents:');
    for (const incident of doc.incidents) {
      const attempt = incident.attempts[incident.attempts.length - 1];
      out.push(
        `  ${incident.id}  ${incident.failureClass}  lanes ${incident.lanes.join(', ') || 'none'}  red at ${short(incident.redSha)}  retries ${incident.retries}` +
          `${attempt ? `  fix attempt ${attempt.attempt}: ${attempt.outcome}${attempt.change ? ` (${attempt.change})` : ''}` : ''}${incident.escalated ? '  ESCALATED' : ''}`,
      );
    }
  }
  if (doc.approvals.length) {
    out.push('', 'approvals waiting (build-master approve <id> | reject <id> --reason "…"):');
    for (const approval of doc.approvals) out.push(`  ${approval.id}  ${approval.kind}  ${approval.change ?? approval.incident ?? ''}  ${approval.rationale}`);
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
  const out = [`${entry.change} — ${entry.title}`, `lane ${entry.lane} (${laneState}; ${entry.laneRationale}), ${entry.tier}${entry.crossLane ? ', cross-lane' : ''}, position ${position} in the lane's merge order`];
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

export function renderEvents(events: LogEvent[]): string {
  if (events.length === 0) return 'no events';
  return events
    .map((e) => {
      const what = [e.type === 'action' ? `${e.kind} ${e.status}` : e.kind ?? e.type, e.lane, e.change ?? e.incident].filter(Boolean).join(' ');
      return `${new Date(e.at).toISOString()}  #${e.seq}  ${what}: ${e.message}`;
    })
    .join('\n');
}

// How the cockpit words its rows and cards: pure functions of the model, shared
// by the trees (extension host) and the dashboard (webview), so what a narrow
// sidebar or a young repository shows is decided here and unit-tested.
import type { GateCode } from '../core/gate';
import type { QueueEntry } from '../core/decide';
import type { Kpis } from '../core/kpi';
import type { CockpitModel, LaneView } from './model';

/** Short words for a gate reason: a tree row's description is cut at the sidebar's edge, the tooltip has the full message. */
const SHORT_REASON: Record<GateCode, string> = {
  draft: 'draft',
  'blocking-label': 'blocking label',
  'approvals-missing': 'needs review',
  'changes-requested': 'changes requested',
  'check-failing': 'check failing',
  'check-pending': 'checks pending',
  'check-missing': 'check missing',
  conflict: 'conflict',
  'mergeability-unknown': 'mergeability unknown',
  'stack-parent-open': 'parent open',
  'base-not-target': 'wrong base',
  'lane-not-admitting': 'lane not admitting',
  'global-hold': 'global hold',
  'awaiting-target-checks': 'awaiting target',
  'lane-reserved': 'lane busy',
  'needs-approval': 'needs approval',
  'approval-pending': 'approval pending',
  'approval-rejected': 'rejected',
  'no-required-checks': 'no required checks',
  'link-withdrawn': 'link withdrawn',
  'empty-change': 'empty change',
  'merge-blocked': 'merge blocked',
  behind: 'behind base',
  blocked: 'protection blocks',
  dirty: 'conflict',
};

/** A change row's description: its place and the first thing holding it, in a word or two. */
export function changeDescription(entry: Pick<QueueEntry, 'reasons'>, position: number): string {
  const first = entry.reasons[0];
  if (!first) return `#${position} ready`;
  const more = entry.reasons.length > 1 ? ` +${entry.reasons.length - 1}` : '';
  // A store written by another version may carry a code this one has no short word for: show the code.
  return `#${position} ${Object.hasOwn(SHORT_REASON, first.code) ? SHORT_REASON[first.code] : first.code}${more}`;
}

/**
 * Characters a lane row shows before a 230 px sidebar cuts it (label and description together;
 * the label's characters are wider, so this is less than the row's width in description characters).
 */
const LANE_ROW_CHARS = 27;
const LANE_NAME_MIN = 7;

/**
 * A lane row: the state and count must stay visible beside a long name. VS Code
 * draws the label before the description and cuts the end, so a long name is
 * shortened in the middle (both ends of a name tell lanes apart); the tooltip has it whole.
 */
export function laneRow(lane: Pick<LaneView, 'name' | 'state' | 'queue'> & { incident: { id: string } | null }): {
  label: string;
  description: string;
} {
  const description = `${lane.state} · ${lane.queue.length} queued${lane.incident ? ` · ${lane.incident.id}` : ''}`;
  return { label: middleEllipsis(lane.name, Math.max(LANE_NAME_MIN, LANE_ROW_CHARS - description.length)), description };
}

/** Cuts the middle out of a text longer than `max` characters, keeping its start and end. */
export function middleEllipsis(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  const keep = max - 1;
  // More of the start than of the end: names that share a prefix still differ within the first characters.
  const head = keep - Math.max(1, Math.floor(keep / 3));
  return `${chars.slice(0, head).join('')}…${chars.slice(chars.length - (keep - head)).join('')}`;
}

/** The reason core records for a lane that never changed state: it says nothing to a reader. */
const NEW_LANE = 'new lane';

/**
 * What a lane card says under its name. The recorded reason explains the last
 * transition; a lane that never had one gets what is true now: its queue.
 */
export function laneReason(lane: Pick<LaneView, 'state' | 'reason' | 'queue' | 'incident'>): string {
  if (lane.reason && lane.reason !== NEW_LANE) return lane.reason;
  if (lane.incident) return `${lane.incident.id} is open in this lane`;
  const queued = lane.queue.length;
  if (!queued) return lane.state === 'healthy' ? 'no incident; nothing queued' : `${lane.state}; nothing queued`;
  const ready = lane.queue.filter((e) => e.reasons.length === 0).length;
  const waiting = queued - ready;
  const parts = [ready ? `${ready} ready to merge` : '', waiting ? `${waiting} waiting` : ''].filter(Boolean).join(', ');
  return `${lane.state === 'healthy' ? 'no incident' : lane.state}; ${queued} queued: ${parts}`;
}

/**
 * The controller line beside the dashboard's buttons. A cycle run by hand
 * ("Run cycle") is not the controller's loop: say a cycle runs, not that all stopped.
 */
export function controllerText(controller: Pick<CockpitModel['controller'], 'running' | 'syncing' | 'trusted'>, busy = false): string {
  const what = controller.running
    ? controller.syncing
      ? 'controller running a cycle'
      : 'controller running'
    : controller.syncing || busy
      ? 'one cycle running'
      : 'controller stopped';
  return `${what}${controller.trusted ? '' : ' · untrusted workspace'}`;
}

/** Days with something to draw below which a chart is a lone bar: the dashboard says so in words instead. */
export const CHART_MIN_DAYS = 2;

/** Why a per-day chart would say nothing yet, or undefined when it has enough to draw. */
export function sparseChart(kpis: Pick<Kpis, 'days' | 'merges'>, what: 'activity' | 'time-to-merge'): string | undefined {
  const days = kpis.days.filter((d) => (what === 'activity' ? d.merges + d.incidents > 0 : d.medianTimeToMerge !== undefined)).length;
  if (days >= CHART_MIN_DAYS) return undefined;
  if (days === 0) return what === 'activity' ? 'No merges or incidents in the last 14 days yet.' : 'No merges in the window yet.';
  const merges = `${kpis.merges} merge${kpis.merges === 1 ? '' : 's'}`;
  return `Too young to chart: ${merges}, all on one day. The chart fills in as days pass.`;
}

/** The incident timeline says in words when the target stayed green the whole window. */
export function quietTimeline(kpis: Pick<Kpis, 'incidents'>): string | undefined {
  return kpis.incidents.length ? undefined : 'No incidents in the last 14 days: the target stayed green.';
}

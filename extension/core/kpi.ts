// Delivery KPIs for the dashboard, computed from the event log (which keeps the
// whole history; the state keeps only recent incidents). Pure: events in, numbers out.
import { own } from './records';

/** The fields of a log event the KPIs read (a subset of the store's LogEvent). */
export interface KpiEvent {
  at: number;
  type: string;
  kind?: string;
  status?: string;
  change?: string;
  incident?: string;
  lane?: string;
}

export interface MergePoint {
  change: string;
  lane?: string;
  at: number;
  /** First seen by Build Master → merged. */
  timeToMerge?: number;
}

export interface IncidentSpan {
  id: string;
  lanes: string[];
  openedAt: number;
  resolvedAt?: number;
}

export interface Kpis {
  window: { from: number; to: number };
  merges: number;
  /** Median of first seen → merged, over merges in the window (ms). */
  medianTimeToMerge?: number;
  /** Median of the head commit authored → merged (ms), where that time is known. */
  medianLeadTime?: number;
  /** Mean of incident opened → resolved over incidents resolved in the window (ms). */
  mttr?: number;
  /** Incidents opened in the window per merge in the window. */
  changeFailureRate?: number;
  /** Share of the window with no open incident on the target (0..1). */
  greenShare: number;
  /** Per-day buckets for the charts, oldest first. */
  days: { day: number; merges: number; incidents: number; medianTimeToMerge?: number }[];
  mergePoints: MergePoint[];
  incidents: IncidentSpan[];
}

const DAY = 24 * 3_600_000;

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * @param seen when each change was first seen (the store's `seen` map)
 * @param created when each change's head commit was authored, where known
 */
export function computeKpis(
  events: readonly KpiEvent[],
  seen: Readonly<Record<string, number>>,
  now: number,
  windowMs = 14 * DAY,
  created: Readonly<Record<string, number>> = {},
): Kpis {
  const from = now - windowMs;
  const { mergePoints, incidents } = readEvents(events, seen);
  const inWindow = mergePoints.filter((m) => m.at >= from && m.at <= now);
  const resolved = incidents.filter((i) => i.resolvedAt !== undefined && i.resolvedAt >= from);
  const opened = incidents.filter((i) => i.openedAt >= from);
  const leadTimes = inWindow.flatMap((m) => {
    const start = own(created, m.change);
    return start !== undefined && start <= m.at ? [m.at - start] : [];
  });
  const timeToMerge = median(timesToMerge(inWindow));
  const leadTime = median(leadTimes);
  const red = redTime(incidents, from, now);
  return {
    window: { from, to: now },
    merges: inWindow.length,
    ...(timeToMerge !== undefined ? { medianTimeToMerge: timeToMerge } : {}),
    ...(leadTime !== undefined ? { medianLeadTime: leadTime } : {}),
    ...(resolved.length ? { mttr: resolved.reduce((sum, i) => sum + ((i.resolvedAt as number) - i.openedAt), 0) / resolved.length } : {}),
    ...(inWindow.length ? { changeFailureRate: opened.length / inWindow.length } : {}),
    greenShare: windowMs > 0 ? Math.max(0, 1 - red / windowMs) : 1,
    days: daysOf(inWindow, opened, from, now),
    mergePoints: inWindow,
    incidents: incidents.filter((i) => (i.resolvedAt ?? now) >= from),
  };
}

/** Merges done (with their time to merge) and incidents opened and resolved, from the event log. */
function readEvents(
  events: readonly KpiEvent[],
  seen: Readonly<Record<string, number>>,
): { mergePoints: MergePoint[]; incidents: IncidentSpan[] } {
  const mergePoints: MergePoint[] = [];
  const spans = new Map<string, IncidentSpan>();
  for (const event of events) {
    if (event.type === 'action' && event.kind === 'merge' && event.status === 'done' && event.change) {
      const seenAt = own(seen, event.change);
      mergePoints.push({
        change: event.change,
        ...(event.lane ? { lane: event.lane } : {}),
        at: event.at,
        ...(seenAt !== undefined && seenAt <= event.at ? { timeToMerge: event.at - seenAt } : {}),
      });
    } else if (event.type === 'decision' && event.kind === 'open-incident' && event.incident && !spans.has(event.incident)) {
      spans.set(event.incident, { id: event.incident, lanes: event.lane ? [event.lane] : [], openedAt: event.at });
    } else if (event.type === 'decision' && event.kind === 'resolve-incident' && event.incident) {
      const span = spans.get(event.incident);
      if (span && span.resolvedAt === undefined) span.resolvedAt = event.at;
    }
  }
  return { mergePoints, incidents: [...spans.values()] };
}

function timesToMerge(merges: readonly MergePoint[]): number[] {
  return merges.flatMap((m) => (m.timeToMerge === undefined ? [] : [m.timeToMerge]));
}

/** Merges, incidents opened and the median time to merge of each day in the window. */
function daysOf(inWindow: readonly MergePoint[], opened: readonly IncidentSpan[], from: number, now: number): Kpis['days'] {
  const days: Kpis['days'] = [];
  for (let day = Math.floor(from / DAY) * DAY; day <= now; day += DAY) {
    const merges = inWindow.filter((m) => m.at >= day && m.at < day + DAY);
    const ttm = median(timesToMerge(merges));
    days.push({
      day,
      merges: merges.length,
      incidents: opened.filter((i) => i.openedAt >= day && i.openedAt < day + DAY).length,
      ...(ttm !== undefined ? { medianTimeToMerge: ttm } : {}),
    });
  }
  return days;
}

/** Total time in [from, to] covered by at least one open incident (overlaps counted once). */
function redTime(incidents: readonly IncidentSpan[], from: number, to: number): number {
  const spans = incidents
    .map((i) => [Math.max(from, i.openedAt), Math.min(to, i.resolvedAt ?? to)] as const)
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  let total = 0;
  let end = -Infinity;
  let start = -Infinity;
  for (const [a, b] of spans) {
    if (a > end) {
      if (end > start) total += end - start;
      start = a;
      end = b;
    } else end = Math.max(end, b);
  }
  if (end > start) total += end - start;
  return total;
}

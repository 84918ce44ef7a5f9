import { strict as assert } from 'node:assert';
import { computeKpis, median, type KpiEvent } from '../../extension/core/kpi';

const H = 3_600_000;
const DAY = 24 * H;

describe('KPIs from the event log', () => {
  const now = 10 * DAY;
  const merge = (change: string, at: number): KpiEvent => ({ at, type: 'action', kind: 'merge', status: 'done', change, lane: 'web' });
  const open = (incident: string, at: number): KpiEvent => ({ at, type: 'decision', kind: 'open-incident', incident });
  const resolve = (incident: string, at: number): KpiEvent => ({ at, type: 'decision', kind: 'resolve-incident', incident });

  it('takes medians the usual way', () => {
    assert.equal(median([]), undefined);
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });

  it('counts merges, time to merge, lead time, MTTR and change failure rate inside the window', () => {
    const events: KpiEvent[] = [
      merge('old', now - 20 * DAY), // outside a 14-day window
      merge('a', now - 5 * DAY),
      { at: now - 5 * DAY, type: 'action', kind: 'merge', status: 'started', change: 'a' }, // not a merge
      merge('b', now - 4 * DAY),
      merge('c', now - 1 * DAY),
      open('inc-1', now - 3 * DAY),
      resolve('inc-1', now - 3 * DAY + 2 * H),
      open('inc-2', now - 2 * DAY),
      resolve('inc-2', now - 2 * DAY + 4 * H),
    ];
    const seen = { a: now - 5 * DAY - 1 * H, b: now - 4 * DAY - 3 * H, c: now - 1 * DAY - 2 * H };
    const created = { a: now - 6 * DAY, c: now - 2 * DAY };
    const kpis = computeKpis(events, seen, now, 14 * DAY, created);
    assert.equal(kpis.merges, 3);
    assert.equal(kpis.medianTimeToMerge, 2 * H);
    assert.equal(kpis.medianLeadTime, (DAY + DAY) / 2);
    assert.equal(kpis.mttr, 3 * H);
    assert.equal(kpis.changeFailureRate, 2 / 3);
    assert.equal(kpis.greenShare, 1 - (6 * H) / (14 * DAY));
    assert.equal(
      kpis.days.reduce((n, d) => n + d.merges, 0),
      3,
    );
    assert.equal(
      kpis.days.reduce((n, d) => n + d.incidents, 0),
      2,
    );
  });

  it('counts overlapping incidents once and an open incident up to now in the green share', () => {
    const events = [open('x', now - 10 * H), open('y', now - 8 * H), resolve('x', now - 6 * H)];
    const kpis = computeKpis(events, {}, now, DAY);
    assert.equal(kpis.greenShare, 1 - (10 * H) / DAY, 'red from x opening until now (y still open)');
    assert.equal(kpis.mttr, 4 * H);
    assert.equal(kpis.changeFailureRate, undefined, 'no merges: no rate');
  });

  it('is all green with no history', () => {
    const kpis = computeKpis([], {}, now);
    assert.equal(kpis.greenShare, 1);
    assert.equal(kpis.merges, 0);
    assert.equal(kpis.mttr, undefined);
  });
});

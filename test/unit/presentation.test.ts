// How the cockpit words its rows and cards (extension/protocol/presentation):
// a lane's state stays in sight beside a long name, a change's row is short,
// a lane card says something true, the controller line matches the buttons,
// and a young repository's charts say so in words.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import type { QueueEntry } from '../../extension/core/decide';
import type { GateReason } from '../../extension/core/gate';
import type { Kpis } from '../../extension/core/kpi';
import { changeDescription, controllerText, laneReason, laneRow, middleEllipsis, sparseChart } from '../../extension/protocol/presentation';

const LONG = 'payments-and-billing-reconciliation-service-with-a-very-long-lane-name';

function entry(change: string, reasons: GateReason[] = []): QueueEntry {
  return {
    change,
    title: change,
    lane: 'web',
    tier: 'tier1',
    crossLane: false,
    headSha: 'a'.repeat(40),
    reasons,
    notes: [],
    requiredChecks: ['ci'],
    laneRationale: 'its files match web',
  };
}

const pending: GateReason = { code: 'check-pending', message: 'required check "ci" is still running' };
const failing: GateReason = { code: 'check-failing', message: 'required check "test-web" failed' };

function day(merges: number, incidents = 0, medianTimeToMerge?: number): Kpis['days'][number] {
  return { day: 0, merges, incidents, ...(medianTimeToMerge !== undefined ? { medianTimeToMerge } : {}) };
}

describe('cockpit presentation', () => {
  describe('lane rows in a narrow sidebar', () => {
    it('keeps the state and count beside a long lane name by cutting the name in its middle', () => {
      const row = laneRow({
        name: LONG,
        state: 'paused',
        queue: Array.from({ length: 200 }, (_, i) => entry(`c${i}`)),
        incident: { id: 'inc-7' },
      });
      assert.equal(row.description, 'paused · 200 queued · inc-7');
      assert.ok([...row.label].length <= 12, `label ${row.label}`);
      assert.ok(row.label.startsWith('paym') && row.label.endsWith('me') && row.label.includes('…'), row.label);
      assert.ok([...row.label].length + row.description.length <= 40, 'the row fits the sidebar');
    });

    it('leaves a short lane name whole', () => {
      assert.deepEqual(laneRow({ name: 'web', state: 'healthy', queue: [entry('a')], incident: null }), {
        label: 'web',
        description: 'healthy · 1 queued',
      });
    });

    it('cuts any name to at most the budget, keeping both ends, and never cuts a name that fits', () => {
      fc.assert(
        fc.property(
          fc.string({ minLength: 0, maxLength: 120, unit: 'grapheme-composite' }),
          fc.integer({ min: 3, max: 40 }),
          (name, max) => {
            const cut = middleEllipsis(name, max);
            const chars = [...name];
            if (chars.length <= max) return cut === name;
            const out = [...cut];
            return out.length === max && cut.startsWith(chars[0] ?? '') && cut.endsWith(chars[chars.length - 1] ?? '') && cut.includes('…');
          },
        ),
      );
    });
  });

  describe('change rows', () => {
    it('say the position and the first reason in a word or two, with how many more', () => {
      assert.equal(changeDescription(entry('a'), 1), '#1 ready');
      assert.equal(changeDescription(entry('b', [failing]), 3), '#3 check failing');
      assert.equal(changeDescription(entry('c', [pending, failing]), 2), '#2 checks pending +1');
      // The long message ("required check … is still running") is the tooltip's, never the row's.
      assert.ok(changeDescription(entry('d', [{ code: 'mergeability-unknown', message: 'x'.repeat(300) }]), 12).length <= 24);
    });
  });

  describe('lane cards', () => {
    it('replace the core default "new lane" with what is true of the lane now', () => {
      const lane = { state: 'healthy' as const, reason: 'new lane', incident: null };
      assert.equal(laneReason({ ...lane, queue: [] }), 'no incident; nothing queued');
      assert.equal(
        laneReason({ ...lane, queue: [entry('a'), entry('b', [pending]), entry('c', [failing])] }),
        'no incident; 3 queued: 1 ready to merge, 2 waiting',
      );
      for (const queue of [[], [entry('a')], [entry('a', [pending])]]) assert.notEqual(laneReason({ ...lane, queue }), 'new lane');
    });

    it('keep the reason of a real transition', () => {
      assert.equal(
        laneReason({ state: 'paused', reason: 'inc-3 is attributed to this lane', incident: null, queue: [entry('a')] }),
        'inc-3 is attributed to this lane',
      );
    });
  });

  describe('the controller line', () => {
    it('does not say "controller stopped" while a cycle run by hand is running', () => {
      assert.equal(controllerText({ running: false, syncing: true, trusted: true }), 'one cycle running');
      assert.equal(controllerText({ running: false, syncing: false, trusted: true }, true), 'one cycle running');
      assert.equal(controllerText({ running: false, syncing: false, trusted: true }), 'controller stopped');
      assert.equal(controllerText({ running: true, syncing: false, trusted: false }), 'controller running · untrusted workspace');
    });
  });

  describe('charts of a young repository', () => {
    it('say there is too little history instead of drawing one bar', () => {
      const days = [...Array.from({ length: 13 }, () => day(0)), day(3)];
      assert.match(sparseChart({ merges: 3, days }, 'activity') ?? '', /Too young to chart: 3 merges, all on one day/);
      assert.match(sparseChart({ merges: 0, days: days.map(() => day(0)) }, 'activity') ?? '', /No merges or incidents/);
      assert.equal(sparseChart({ merges: 4, days: [day(1), ...days] }, 'activity'), undefined);
    });

    it('count only days with a time to merge for the time-to-merge chart', () => {
      const days = [day(2, 0, 60_000), day(0, 1)];
      assert.match(sparseChart({ merges: 2, days }, 'time-to-merge') ?? '', /Too young/);
      assert.equal(sparseChart({ merges: 3, days: [...days, day(1, 0, 1000)] }, 'time-to-merge'), undefined);
    });
  });
});

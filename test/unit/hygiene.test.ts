// The hygiene plan (SPEC §7): what it asks for, and that repeated signals are
// deduplicated within their window and gated by autonomy.hygiene.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import type { QueueEntry } from '../../extension/core/decide';
import { planHygiene, type HygieneInput } from '../../extension/core/hygiene';
import { change, policyFrom, present } from '../support/builders';

const MINUTE = 60_000;

function entry(id: string, codes: string[]): QueueEntry {
  return {
    change: id,
    title: id,
    lane: 'docs',
    tier: 'tier1',
    crossLane: false,
    headSha: 'a'.repeat(40),
    reasons: codes.map((code) => ({ code: code as QueueEntry['reasons'][number]['code'], message: code })),
    notes: [],
    requiredChecks: [],
    laneRationale: '',
  };
}

function input(
  extra: Partial<HygieneInput> = {},
  yaml = 'lanes: [{name: docs, paths: ["docs/**"]}]\nhygiene:\n  nudge_review_after: 30m\n',
): HygieneInput {
  return { policy: policyFrom(yaml), now: 0, issues: [], changes: [], queues: {}, memory: {}, digest: '', ...extra };
}

describe('hygiene plan', () => {
  it('labels unlabelled issues for triage, but never Build Master’s own', () => {
    const plan = planHygiene(
      input({
        issues: [
          { number: 1, title: 'a', labels: [], createdAt: 0, updatedAt: 0, own: false },
          { number: 2, title: 'b', labels: [], createdAt: 0, updatedAt: 0, own: true },
        ],
      }),
    );
    assert.deepEqual(
      plan.actions.map((a) => a.key),
      ['triage:#1'],
    );
  });

  it('promotes approved green changes to merge-ready and takes the label off with a comment on a red check', () => {
    const ready = change('#1', ['docs/a.md'], { headSha: 'a'.repeat(40) });
    const red = change('#2', ['docs/b.md'], { headSha: 'b'.repeat(40), labels: ['merge-ready'] });
    const plan = planHygiene(
      input({
        changes: [
          { ...ready, updatedAt: 0 },
          { ...red, updatedAt: 0 },
        ],
        queues: { docs: [entry('#1', ['needs-approval']), entry('#2', ['check-failing'])] },
      }),
    );
    assert.deepEqual(
      plan.actions.map((a) => `${a.kind}:${a.key.split(':').slice(0, 2).join(':')}`),
      ['label:ready:#1', 'unlabel:unready:#2', 'comment:unready-note:#2'],
    );
  });

  it('never promotes a change that cannot merge: no required check, a withdrawn repair, an empty change', () => {
    for (const code of ['no-required-checks', 'link-withdrawn', 'empty-change']) {
      const c = change('#3', ['docs/c.md'], { headSha: 'c'.repeat(40) });
      const plan = planHygiene(input({ changes: [{ ...c, updatedAt: 0 }], queues: { docs: [entry('#3', [code])] } }));
      assert.deepEqual(
        plan.actions.filter((a) => a.kind === 'label'),
        [],
        code,
      );
    }
  });

  it('nudges a waiting review at most once per window, whatever the number of cycles', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5 * 60 }), { minLength: 1, maxLength: 40 }), (minutes) => {
        const memory: Record<string, number> = {};
        const times = [...minutes].sort((a, b) => a - b).map((m) => m * MINUTE);
        let nudges = 0;
        for (const now of times) {
          const c = { ...change('#1', ['docs/a.md'], { readySince: 0 }), updatedAt: now };
          const plan = planHygiene(input({ now, changes: [c], queues: { docs: [entry('#1', ['approvals-missing'])] }, memory }));
          for (const action of plan.actions.filter((a) => a.key.startsWith('nudge:'))) {
            memory[action.key] = now;
            nudges += 1;
          }
        }
        const windows = new Set(times.filter((t) => t >= 30 * MINUTE).map((t) => Math.floor(t / (30 * MINUTE))));
        assert.equal(nudges, windows.size);
      }),
    );
  });

  it('plans but does not allow acting below A2', () => {
    const plan = planHygiene(
      input({ issues: [{ number: 1, title: 'a', labels: [], createdAt: 0, updatedAt: 0, own: false }] }, 'autonomy:\n  hygiene: A1\n'),
    );
    assert.equal(plan.allowed, false);
    assert.match(plan.rationale, /A1/);
    assert.equal(plan.actions.length, 1);
  });

  it('posts a digest only when it differs from the last one posted', () => {
    const first = planHygiene(input({ digest: 'web healthy' }));
    assert.equal(first.actions.length, 1);
    const memory = { [present(first.actions[0], 'the first action').key]: 0 };
    assert.equal(planHygiene(input({ digest: 'web healthy', memory })).actions.length, 0);
    assert.equal(planHygiene(input({ digest: 'web degraded', memory })).actions.length, 1);
  });
});

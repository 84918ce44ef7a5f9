// Properties of decide() over random histories: every history is reached by
// real cycles (open, merge what was decided, settle checks, operators act), so
// the states tested are states the controller can actually be in.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { decide } from '../../extension/core/decide';
import { applyOperator } from '../../extension/core/operator';
import { approvalIdFor, linkOf, mergeKey } from '../../extension/core/gate';
import { commitHealth } from '../../extension/core/incident';
import { riskTier } from '../../extension/core/classify';
import type { CheckRun, ControllerState, Decision } from '../../extension/core/model';
import { change, policyFrom, snapshot } from '../support/builders';
import { World } from '../support/world';

const LANES = ['web', 'api', 'docs'];
const FILES: Record<string, string[]> = {
  web: ['web/a.ts', 'web/b.ts', 'web/auth/login.ts', 'web/README.md'],
  api: ['api/a.ts', 'api/b.ts', 'infra/db.tf'],
  docs: ['docs/a.md', 'docs/b.md'],
};
const CHECKS = ['test-web', 'test-api', 'test-docs', 'build'];

const policyText = (autonomy: string, paused: number, wait: boolean) => `
lanes:
  - name: web
    paths: ["web/**"]
    checks: ["test-web"]
  - name: api
    paths: ["api/**", "infra/**"]
    checks: ["test-api"]
  - name: docs
    paths: ["docs/**"]
    checks: ["test-docs"]
risk:
  tier3: ["infra/**", "**/auth/**"]
  tier1: ["docs/**", "**/*.md"]
autonomy:
  merge: ${autonomy}
  fix: ${autonomy}
  revert: ${autonomy}
merge:
  wait_for_target_green: ${wait}
incidents:
  fix_retries: 2
  global_hold:
    paused_lanes_at_least: ${paused}
dispatch:
  worker: command
  command: ./fix.sh
`;

type Step =
  | { kind: 'open'; lane: number; file: number; checks: number; draft: boolean; fixOf: number }
  | { kind: 'execute'; fraction: number }
  | { kind: 'settle'; failing: number }
  | { kind: 'operator'; op: number; lane: number; pick: number }
  | { kind: 'build'; fail: boolean; pick: number }
  | { kind: 'wait'; minutes: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('open' as const), lane: fc.nat(2), file: fc.nat(3), checks: fc.nat(9), draft: fc.boolean(), fixOf: fc.integer({ min: -3, max: 3 }) }),
  fc.record({ kind: fc.constant('execute' as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('settle' as const), failing: fc.integer({ min: -2, max: 3 }) }),
  fc.record({ kind: fc.constant('operator' as const), op: fc.nat(5), lane: fc.nat(3), pick: fc.nat(10) }),
  fc.record({ kind: fc.constant('build' as const), fail: fc.boolean(), pick: fc.nat(10) }),
  fc.record({ kind: fc.constant('wait' as const), minutes: fc.integer({ min: 1, max: 90 }) }),
);

const history = fc.record({
  autonomy: fc.constantFrom('A1', 'A2', 'A3', 'A4', 'A5'),
  paused: fc.integer({ min: 0, max: 4 }).map((n) => (n < 2 ? 0 : n)),
  wait: fc.boolean(),
  steps: fc.array(step, { minLength: 1, maxLength: 60, size: 'large' }),
});

interface Observation {
  before: ControllerState;
  after: ControllerState;
  decisions: Decision[];
  world: World;
}

/** Plays a history; calls `check` after every cycle. */
function play(h: { autonomy: string; paused: number; wait: boolean; steps: Step[] }, check: (o: Observation) => void): void {
  const world = new World(policyFrom(policyText(h.autonomy, h.paused, h.wait)), CHECKS);
  let id = 0;
  let pendingMerges: Decision[] = [];
  for (const s of h.steps) {
    // The shell executes what was decided; an `execute` step instead lets only some merges happen.
    if (s.kind !== 'execute') {
      for (const m of pendingMerges) if (world.changes.some((c) => c.id === m.change)) world.merge(m.change as string);
      pendingMerges = [];
    }
    switch (s.kind) {
      case 'open': {
        const incidents = Object.values(world.state.incidents).filter((i) => i.status === 'open');
        const incident = s.fixOf >= 0 ? incidents[s.fixOf % Math.max(1, incidents.length)] : undefined;
        // A fix mostly touches its incident's lane, as a worker restricted to that lane's paths would.
        const lane = (incident && s.file < 3 && LANES.includes(incident.lanes[0] ?? '') ? incident.lanes[0] : LANES[s.lane]) as string;
        const files = [FILES[lane]?.[s.file % (FILES[lane]?.length ?? 1)] as string];
        const checks: CheckRun[] = [`test-${lane}`, 'build'].map((name, i) => ({ name, conclusion: s.checks === i ? 'failure' : s.checks === 2 ? 'pending' : 'success' }));
        id += 1;
        world.open(change(`c${id}`, files, { checks, draft: s.draft && s.checks === 9, ...(incident ? { branch: `buildmaster/${s.fixOf % 2 ? 'revert' : 'fix'}/${incident.id}` } : {}) }));
        break;
      }
      case 'execute': {
        const count = Math.round(pendingMerges.length * s.fraction);
        for (const m of pendingMerges.slice(0, count)) {
          if (world.changes.some((c) => c.id === m.change)) world.merge(m.change as string);
        }
        pendingMerges = [];
        break;
      }
      case 'settle': {
        const newest = world.commits[world.commits.length - 1];
        if (newest) world.settle(s.failing >= 0 ? [{ name: CHECKS[s.failing] as string, conclusion: 'failure' }] : []);
        break;
      }
      case 'operator': {
        const lane = ['web', 'api', 'docs', 'shared'][s.lane] as string;
        const pending = Object.values(world.state.approvals).filter((a) => a.status === 'pending');
        const approval = pending[s.pick % Math.max(1, pending.length)];
        const command =
          s.op === 0 ? { kind: 'hold' as const, reason: 'freeze', by: 'op' }
          : s.op === 1 ? { kind: 'release' as const, ack: true, by: 'op' }
          : s.op === 2 ? { kind: 'pause' as const, lane, reason: 'look', by: 'op' }
          : s.op === 3 ? { kind: 'resume' as const, lane, by: 'op' }
          : s.op === 4 && approval ? { kind: 'approve' as const, id: approval.id, by: 'op' }
          : approval ? { kind: 'reject' as const, id: approval.id, reason: 'no', by: 'op' } : undefined;
        if (command) {
          const result = applyOperator(world.state, command, world.now);
          if (result.ok) world.state = result.state;
        }
        break;
      }
      case 'build': {
        const attempts = Object.values(world.state.incidents).flatMap((i) => i.attempts.map((a) => ({ incident: i.id, attempt: a.attempt })));
        const target = attempts[s.pick % Math.max(1, attempts.length)];
        if (target) world.builds.push({ ...target, status: s.fail ? 'failed' : 'completed', updatedAt: world.now });
        break;
      }
      case 'wait':
        world.now += s.minutes * 60_000;
        break;
    }
    const before = world.state;
    const result = world.cycle();
    pendingMerges = result.decisions.filter((d) => d.kind === 'merge');
    check({ before, after: result.state, decisions: result.decisions, world });
  }
}

const RUNS = { numRuns: 300 };

describe('decide: properties', () => {
  it('never merges two changes of one lane in one cycle', () => {
    fc.assert(
      fc.property(history, (h) =>
        play(h, ({ decisions }) => {
          const lanes = decisions.filter((d) => d.kind === 'merge').map((d) => d.lane);
          assert.equal(new Set(lanes).size, lanes.length);
        }),
      ),
      RUNS,
    );
  });

  it('merges nothing while a global hold is in force', () => {
    fc.assert(
      fc.property(history, (h) =>
        play(h, ({ before, after, decisions }) => {
          if (before.global.state === 'global-hold' || after.global.state === 'global-hold') {
            assert.deepEqual(decisions.filter((d) => d.kind === 'merge'), []);
          }
        }),
      ),
      RUNS,
    );
  });

  it('a paused lane merges only a linked fix or revert of one of its open incidents', () => {
    fc.assert(
      fc.property(history, (h) =>
        play(h, ({ after, decisions, world }) => {
          for (const merge of decisions.filter((d) => d.kind === 'merge')) {
            const lane = after.lanes[merge.lane as string];
            if (lane?.state !== 'paused') continue;
            const c = world.changes.find((x) => x.id === merge.change);
            const link = c ? linkOf(c) : undefined;
            assert.ok(link, `${merge.change} merged into paused lane ${lane.name} without a link`);
            assert.ok(after.incidents[link.incident]?.lanes.includes(lane.name));
          }
        }),
      ),
      RUNS,
    );
  });

  it('never merges a tier 3 change or dispatches a tier 3 fix without an operator’s approval', () => {
    fc.assert(
      fc.property(history, (h) =>
        play(h, ({ before, decisions, world }) => {
          for (const merge of decisions.filter((d) => d.kind === 'merge')) {
            const c = world.changes.find((x) => x.id === merge.change);
            if (!c || riskTier(world.policy, c.files) !== 'tier3') continue;
            assert.equal(before.approvals[approvalIdFor(mergeKey(c))]?.status, 'approved', `tier 3 ${c.id} merged without approval`);
          }
          for (const dispatch of decisions.filter((d) => d.kind === 'dispatch-fix' || d.kind === 'propose-revert')) {
            const incident = world.state.incidents[dispatch.incident as string];
            if (incident?.tier === 'tier3') assert.equal(before.approvals[approvalIdFor(dispatch.key as string)]?.status, 'approved');
          }
        }),
      ),
      RUNS,
    );
  });

  it('a lane becomes healthy only from recovering, with its checks green at or after the repair', () => {
    fc.assert(
      fc.property(history, (h) =>
        play(h, ({ before, decisions, world }) => {
          for (const t of decisions.filter((d) => d.kind === 'lane-transition' && d.to === 'healthy')) {
            const was = before.lanes[t.lane as string];
            assert.notEqual(t.from, 'paused', 'paused never jumps to healthy');
            assert.notEqual(t.from, 'degraded', 'degraded never jumps to healthy');
            const commits = world.commits;
            const from = was?.recoveryFrom ? commits.findIndex((c) => c.sha === was.recoveryFrom) : commits.length - 1;
            const relevant = new Set([...(was?.incident ? (before.incidents[was.incident]?.failingChecks ?? []) : []), `test-${t.lane}`]);
            const green = commits.slice(Math.max(0, from)).some((c) => commitHealth(c, relevant) === 'green');
            assert.ok(green, `lane ${t.lane} healthy without a green target check after the repair`);
          }
        }),
      ),
      RUNS,
    );
  });

  it('is deterministic: the same inputs give the same outputs', () => {
    fc.assert(
      fc.property(history, fc.nat(1_000_000), (h, now) => {
        let last: World | undefined;
        play(h, ({ world }) => {
          last = world;
        });
        const w = last as World;
        const snap = snapshot({ changes: w.changes, targetCommits: w.commits, builds: w.builds });
        assert.deepEqual(decide(snap, w.state, w.policy, now), decide(structuredClone(snap), structuredClone(w.state), w.policy, now));
      }),
      { numRuns: 100 },
    );
  });
});

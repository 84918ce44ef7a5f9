// Properties of decide() over random histories: every history is reached by
// real cycles (open, merge what was decided, settle checks, operators act), so
// the states tested are states the controller can actually be in.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { decide, initialState } from '../../extension/core/decide';
import { applyOperator } from '../../extension/core/operator';
import { linkOf } from '../../extension/core/trailers';
import { approvalIdFor, mergeKey } from '../../extension/core/keys';
import { commitHealth } from '../../extension/core/incident';
import { riskTier } from '../../extension/core/classify';
import type { CheckRun, ControllerState, Decision, TargetCommit } from '../../extension/core/model';
import { change, policyFrom, sha, snapshot } from '../support/builders';
import { World } from '../support/world';

const LANES = ['web', 'api', 'docs'];
const FILES: Record<string, string[]> = {
  web: ['web/a.ts', 'web/b.ts', 'web/auth/login.ts', 'web/README.md'],
  api: ['api/a.ts', 'api/b.ts', 'infra/db.tf'],
  docs: ['docs/a.md', 'docs/b.md'],
};
const CHECKS = ['test-web', 'test-api', 'test-docs', 'build'];
/** Files no lane owns: the policy file and CI configuration are tier 3 whatever `risk.tier3` says. */
const STRAY = ['Makefile', '.buildmaster.yml', '.github/workflows/ci.yml', 'tools/x.sh'];
const ALWAYS_TIER3 = new Set(['.buildmaster.yml', '.github/workflows/ci.yml']);

/** The lanes a change's paths touch, read from the test's own policy text (not from the code under test). */
function lanesOf(files: readonly string[]): string[] {
  const lanes = files.map((file) =>
    file.startsWith('web/')
      ? 'web'
      : file.startsWith('api/') || file.startsWith('infra/')
        ? 'api'
        : file.startsWith('docs/')
          ? 'docs'
          : 'shared',
  );
  return [...new Set(lanes)];
}

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
  | {
      kind: 'open';
      lane: number;
      file: number;
      checks: number;
      draft: boolean;
      fixOf: number;
      spread: number;
      reportAll: boolean;
      empty: boolean;
      stale: boolean;
    }
  | { kind: 'block'; blocked: boolean }
  | { kind: 'execute'; fraction: number }
  | { kind: 'settle'; failing: number }
  | { kind: 'operator'; op: number; lane: number; pick: number }
  | { kind: 'build'; fail: boolean; pick: number }
  | { kind: 'wait'; minutes: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('open' as const),
    lane: fc.nat(2),
    file: fc.nat(3),
    checks: fc.nat(9),
    draft: fc.boolean(),
    fixOf: fc.integer({ min: -3, max: 3 }),
    // 0-2: one lane; 3: cross-lane; 4: a file no lane owns; 5: a lane and a stray file (or a rename out of it).
    spread: fc.nat(5),
    reportAll: fc.boolean(),
    empty: fc.nat(9).map((n) => n === 0),
    stale: fc.nat(5).map((n) => n === 0),
  }),
  fc.record({ kind: fc.constant('block' as const), blocked: fc.nat(3).map((n) => n === 0) }),
  fc.record({ kind: fc.constant('execute' as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('settle' as const), failing: fc.integer({ min: -2, max: 3 }) }),
  fc.record({ kind: fc.constant('operator' as const), op: fc.nat(5), lane: fc.nat(3), pick: fc.nat(10) }),
  fc.record({ kind: fc.constant('build' as const), fail: fc.boolean(), pick: fc.nat(10) }),
  fc.record({ kind: fc.constant('wait' as const), minutes: fc.integer({ min: 1, max: 90 }) }),
);

/** Histories that break lanes and repair them: fixes, failed builds and settles, so repairs race their own merges. */
const repairStep: fc.Arbitrary<Step> = fc.oneof(
  {
    arbitrary: step.filter((st) => st.kind === 'open').map((st) => ({ ...st, fixOf: Math.abs(st.fixOf) })),
    weight: 4,
  },
  { arbitrary: fc.record({ kind: fc.constant('settle' as const), failing: fc.integer({ min: -1, max: 3 }) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('build' as const), fail: fc.boolean(), pick: fc.nat(10) }), weight: 3 },
  { arbitrary: step, weight: 2 },
);

const repairHistory = fc.record({
  autonomy: fc.constantFrom('A2', 'A3', 'A4', 'A5'),
  paused: fc.constant(0),
  wait: fc.boolean(),
  steps: fc.array(repairStep, { minLength: 1, maxLength: 40, size: 'large' }),
});

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
        const own = FILES[lane]?.[s.file % FILES[lane].length] as string;
        const other = LANES[(LANES.indexOf(lane) + 1) % LANES.length] as string;
        const stray = STRAY[s.file % STRAY.length] as string;
        const files =
          s.spread === 3 ? [own, FILES[other]?.[0] as string] : s.spread === 4 ? [stray] : s.spread === 5 ? [own, stray] : [own];
        const touched = lanesOf(files);
        const names = s.reportAll ? CHECKS : [...touched.filter((l) => l !== 'shared').map((l) => `test-${l}`), 'build'];
        const checks: CheckRun[] = names.map((name, i) => ({
          name,
          conclusion: s.checks === i ? 'failure' : s.checks === 8 ? 'pending' : 'success',
        }));
        // A stale link names an incident that is resolved (or one never opened here).
        const resolved = Object.values(world.state.incidents).find((i) => i.status === 'resolved');
        const linked = s.stale ? (resolved?.id ?? 'inc-zzzzzzz') : incident?.id;
        id += 1;
        world.open(
          change(`c${id}`, files, {
            checks,
            draft: s.draft && s.checks === 9,
            ...(s.empty ? { emptyOnTarget: true } : {}),
            ...(linked ? { branch: `buildmaster/${s.fixOf % 2 ? 'revert' : 'fix'}/${linked}` } : {}),
          }),
        );
        break;
      }
      case 'execute': {
        const count = Math.round(pendingMerges.length * s.fraction);
        for (const m of pendingMerges.slice(0, count)) {
          if (world.changes.some((c) => c.id === m.change)) world.merge(m.change as string);
        }
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
          s.op === 0
            ? { kind: 'hold' as const, reason: 'freeze', by: 'op' }
            : s.op === 1
              ? { kind: 'release' as const, ack: true, by: 'op' }
              : s.op === 2
                ? { kind: 'pause' as const, lane, reason: 'look', by: 'op' }
                : s.op === 3
                  ? { kind: 'resume' as const, lane, by: 'op' }
                  : s.op === 4 && approval
                    ? { kind: 'approve' as const, id: approval.id, by: 'op' }
                    : approval
                      ? { kind: 'reject' as const, id: approval.id, reason: 'no', by: 'op' }
                      : undefined;
        if (command) {
          const result = applyOperator(world.state, command, world.now);
          if (result.ok) world.state = result.state;
        }
        break;
      }
      case 'build': {
        const attempts = Object.values(world.state.incidents).flatMap((i) =>
          i.attempts.map((a) => ({ incident: i.id, attempt: a.attempt })),
        );
        const target = attempts[s.pick % Math.max(1, attempts.length)];
        if (target) world.builds.push({ ...target, status: s.fail ? 'failed' : 'completed', updatedAt: world.now });
        break;
      }
      case 'wait':
        world.now += s.minutes * 60_000;
        break;
      case 'block':
        if (s.blocked) world.mergeBlocked = 'main is checked out with uncommitted changes';
        else delete world.mergeBlocked;
        break;
    }
    const before = world.state;
    const result = world.cycle();
    pendingMerges = result.decisions.filter((d) => d.kind === 'merge');
    check({ before, after: result.state, decisions: result.decisions, world });
  }
}

const RUNS = { numRuns: 300 };

describe('decide: properties', function () {
  // Hundreds of generated histories each: generous, so a busy machine is slow, not red.
  this.timeout(180_000);
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
            assert.deepEqual(
              decisions.filter((d) => d.kind === 'merge'),
              [],
            );
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

  it('a lane becomes healthy only when the target shows its incident’s failures gone (after the repair, when it was recovering)', () => {
    fc.assert(
      fc.property(history, (h) =>
        play(h, ({ before, decisions, world }) => {
          for (const t of decisions.filter((d) => d.kind === 'lane-transition' && d.to === 'healthy')) {
            const was = before.lanes[t.lane as string];
            const held = was?.incident ? before.incidents[was.incident] : undefined;
            // An operator's resume of a lane whose incident is over is verified by the lane's own checks.
            const incident = held?.status === 'open' ? held : undefined;
            const commits = world.commits;
            const red = incident
              ? Math.max(
                  0,
                  commits.findIndex((c) => c.sha === incident.redSha),
                )
              : commits.length - 1;
            const from = was?.recoveryFrom
              ? commits.findIndex((c) => c.sha === was.recoveryFrom)
              : was?.state === 'recovering'
                ? commits.length - 1
                : red;
            const relevant = new Set(incident ? incident.failingChecks : [`test-${t.lane}`]);
            // The newest commit where those checks finished must have them green.
            const settledAt = [...commits.slice(Math.max(0, from))].reverse().find((c) => commitHealth(c, relevant) !== 'pending');
            assert.ok(
              settledAt && commitHealth(settledAt, relevant) === 'green',
              `lane ${t.lane} (${t.from}) healthy without its failures gone from the target`,
            );
          }
        }),
      ),
      RUNS,
    );
  });

  it('never merges unless every check of every lane it touches, and every shared one, passed or is another lane’s known failure', () => {
    fc.assert(
      fc.property(history, (h) =>
        play(h, ({ after, decisions, world }) => {
          for (const merge of decisions.filter((d) => d.kind === 'merge')) {
            const c = world.changes.find((x) => x.id === merge.change);
            assert.ok(c, `merged ${merge.change}, which is not open`);
            const lanes = lanesOf(c.files);
            const everything = lanes.length > 1 || lanes.includes('shared');
            const laneChecks = everything ? ['test-web', 'test-api', 'test-docs'] : lanes.map((l) => `test-${l}`);
            const shared = c.checks.map((run) => run.name).filter((name) => !name.startsWith('test-'));
            const required = [...new Set([...laneChecks, ...shared])];
            assert.ok(required.length > 0, `${c.id} merged with no required check`);
            for (const name of required) {
              const runs = c.checks.filter((run) => run.name === name);
              assert.ok(runs.length > 0, `${c.id} merged without required check ${name}`);
              if (runs.every((run) => run.conclusion === 'success')) continue;
              // Only a failure the target already has because of another lane's open incident is let through.
              const excuse = Object.values(after.incidents).find(
                (i) =>
                  i.status === 'open' && i.failingChecks.includes(name) && i.lanes.length > 0 && !i.lanes.some((l) => lanes.includes(l)),
              );
              assert.ok(
                excuse && runs.every((run) => run.conclusion !== 'pending'),
                `${c.id} (${c.files.join(', ')}) merged with ${name} ${runs.map((r) => r.conclusion).join('/')}`,
              );
            }
          }
        }),
      ),
      RUNS,
    );
  });

  it('never merges the policy file or CI configuration without an operator’s approval', () => {
    fc.assert(
      fc.property(history, (h) =>
        play(h, ({ before, decisions, world }) => {
          for (const merge of decisions.filter((d) => d.kind === 'merge')) {
            const c = world.changes.find((x) => x.id === merge.change);
            if (!c || !c.files.some((file) => ALWAYS_TIER3.has(file))) continue;
            assert.equal(
              before.approvals[approvalIdFor(mergeKey(c))]?.status,
              'approved',
              `${c.id} (${c.files.join(', ')}) merged without approval`,
            );
          }
        }),
      ),
      RUNS,
    );
  });

  it('never merges a withdrawn fix or revert, an empty change, or anything while merging is blocked', () => {
    fc.assert(
      fc.property(history, (h) =>
        play(h, ({ after, decisions, world }) => {
          for (const merge of decisions.filter((d) => d.kind === 'merge')) {
            const c = world.changes.find((x) => x.id === merge.change);
            assert.ok(c);
            assert.equal(world.mergeBlocked, undefined, `${c.id} merged while merging is blocked`);
            assert.notEqual(c.emptyOnTarget, true, `${c.id} merged with an empty diff`);
            const link = linkOf(c);
            if (link)
              assert.equal(after.incidents[link.incident]?.status, 'open', `${c.id} merged for ${link.incident}, which is not open`);
          }
        }),
      ),
      RUNS,
    );
  });

  it('never dispatches a fix for an incident whose fix or revert merges in the same cycle', () => {
    fc.assert(
      fc.property(repairHistory, (h) =>
        play(h, ({ decisions, world }) => {
          const merging = decisions
            .filter((d) => d.kind === 'merge')
            .map((d) => world.changes.find((x) => x.id === d.change))
            .flatMap((c) => (c && linkOf(c) ? [linkOf(c)?.incident] : []));
          for (const dispatch of decisions.filter((d) => d.kind === 'dispatch-fix')) {
            assert.ok(!merging.includes(dispatch.incident), `${dispatch.incident} re-dispatched while its repair merges`);
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

// Lane names and change ids are user text: the words Object.prototype owns must
// behave exactly like any other name, through cycles and JSON/structuredClone round trips.
describe('decide: names like Object’s own properties', function () {
  this.timeout(180_000);
  const WEIRD = ['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'valueOf'];
  // Same order as WEIRD under both `sort()` and `localeCompare`, and never part of other text.
  const PLAIN = ['qa0x', 'qb1x', 'qc2x', 'qd3x', 'qe4x'];

  type NamedStep =
    | { kind: 'open'; lanes: number[]; id: number; failing: boolean }
    | { kind: 'merge' }
    | { kind: 'settle'; failing: number }
    | { kind: 'pause'; lane: number; resume: boolean }
    | { kind: 'roundtrip'; json: boolean };

  const namedStep: fc.Arbitrary<NamedStep> = fc.oneof(
    fc.record({
      kind: fc.constant('open' as const),
      lanes: fc.uniqueArray(fc.nat(3), { minLength: 1, maxLength: 2 }),
      id: fc.nat(4),
      failing: fc.boolean(),
    }),
    fc.record({ kind: fc.constant('merge' as const) }),
    fc.record({ kind: fc.constant('settle' as const), failing: fc.integer({ min: -1, max: 2 }) }),
    fc.record({ kind: fc.constant('pause' as const), lane: fc.nat(3), resume: fc.boolean() }),
    fc.record({ kind: fc.constant('roundtrip' as const), json: fc.boolean() }),
  );
  const scenario = fc.record({
    // Three lanes and the default lane, as indexes into the name pool.
    names: fc.shuffledSubarray([0, 1, 2, 3, 4], { minLength: 4, maxLength: 4 }),
    steps: fc.array(namedStep, { minLength: 1, maxLength: 30 }),
  });

  /** Plays the scenario with the given name pool; returns every cycle's output as JSON text. */
  function run(pool: readonly string[], names: readonly number[], steps: readonly NamedStep[]): string[] {
    const lane = (i: number) => pool[names[i] as number] as string;
    const policy = policyFrom(`
lanes:
${[0, 1, 2].map((i) => `  - name: "${lane(i)}"\n    paths: ["p${i}/**"]\n    checks: ["t${i}"]`).join('\n')}
default_lane: "${lane(3)}"
autonomy:
  merge: A5
  fix: A5
  revert: A5
dispatch:
  worker: command
  command: ./fix.sh
`);
    let state = decide(snapshot(), initialState(policy, 0), policy, 0).state;
    let changes: ReturnType<typeof change>[] = [];
    const commits: TargetCommit[] = [
      { sha: sha('root'), checks: ['t0', 't1', 't2'].map((name) => ({ name, conclusion: 'success' })), time: 0 },
    ];
    let merges: string[] = [];
    let n = 0;
    const out: string[] = [];
    for (const [index, s] of steps.entries()) {
      switch (s.kind) {
        case 'open': {
          const id = pool[s.id] as string;
          if (changes.some((c) => c.id === id)) break;
          const files = s.lanes.map((l) => (l === 3 ? 'stray/file' : `p${l}/file`));
          const checks: CheckRun[] = ['t0', 't1', 't2'].map((name, i) => ({
            name,
            conclusion: s.failing && i === s.lanes[0] ? 'failure' : 'success',
          }));
          changes.push(change(id, files, { checks, readySince: index, headSha: sha(`h${index}`) }));
          break;
        }
        case 'merge':
          for (const id of merges) {
            const c = changes.find((x) => x.id === id);
            if (!c) continue;
            changes = changes.filter((x) => x !== c);
            n += 1;
            commits.push({
              sha: sha(`m${n}`),
              checks: ['t0', 't1', 't2'].map((name) => ({ name, conclusion: 'pending' })),
              time: index,
              change: { id: c.id, files: c.files, branch: c.branch },
            });
          }
          break;
        case 'settle': {
          const newest = commits[commits.length - 1] as TargetCommit;
          newest.checks = ['t0', 't1', 't2'].map((name, i) => ({ name, conclusion: i === s.failing ? 'failure' : 'success' }));
          break;
        }
        case 'pause': {
          const result = applyOperator(
            state,
            s.resume ? { kind: 'resume', lane: lane(s.lane), by: 'op' } : { kind: 'pause', lane: lane(s.lane), reason: 'look', by: 'op' },
            index,
          );
          out.push(JSON.stringify(result.ok ? result.decision : result.message));
          if (result.ok) state = result.state;
          break;
        }
        case 'roundtrip':
          state = s.json ? (JSON.parse(JSON.stringify(state)) as typeof state) : structuredClone(state);
          break;
      }
      const result = decide(
        snapshot({ changes: structuredClone(changes), targetCommits: structuredClone(commits) }),
        state,
        policy,
        1000 + index,
      );
      state = result.state;
      merges = result.decisions.filter((d) => d.kind === 'merge').map((d) => d.change as string);
      out.push(JSON.stringify({ decisions: result.decisions, queues: result.queues, outcome: result.outcome, state }));
    }
    return out;
  }

  it('decide() with lanes and changes named __proto__, constructor, … behaves exactly as with ordinary names', () => {
    fc.assert(
      fc.property(scenario, ({ names, steps }) => {
        const weird = run(WEIRD, names, steps);
        const plain = run(PLAIN, names, steps).map((text) => PLAIN.reduce((t, name, i) => t.replaceAll(name, WEIRD[i] as string), text));
        assert.deepEqual(weird, plain);
      }),
      { numRuns: 150 },
    );
  });
});

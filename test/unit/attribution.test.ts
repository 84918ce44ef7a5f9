// Attribution with one CI check for every lane (issue 15): the check's failing
// tests map to lanes, an incident is its failures, and a lane recovers by its
// own tests while the shared check stays red for another lane.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { failureLines } from '../../extension/core/fingerprint';
import type { CheckRun, TestFailure } from '../../extension/core/model';
import { change, green, policyFrom, present } from '../support/builders';
import { World } from '../support/world';

const SHARED = `
lanes:
  - name: web
    paths: ["web/**"]
  - name: api
    paths: ["api/**"]
    tests: ["e2e/api/**"]
  - name: docs
    paths: ["docs/**"]
autonomy:
  merge: A4
  fix: A2
  revert: A2
  hygiene: A4
incidents:
  global_hold:
    paused_lanes_at_least: 3
  flaky:
    quarantine_after: 3
    window: 1d
dispatch:
  worker: command
  command: ./fix.sh
`;

const test = (file: string, name = 'works'): TestFailure => ({ id: `${file} > ${name}`, file, line: 3 });
/** The shared check, red with these failing tests (a complete report), or green with none. */
const ci = (...failures: TestFailure[]): CheckRun =>
  failures.length
    ? { name: 'ci', conclusion: 'failure', output: `${failures.length} failing`, failures, failuresComplete: true }
    : green('ci');

function shared(): World {
  return new World(policyFrom(SHARED), ['ci']);
}

const open = (world: World) => Object.values(world.state.incidents).filter((i) => i.status === 'open');

describe('attribution: one shared check, failures read down to tests', () => {
  it('a failing test maps to its lane: only that lane is contained, and the others keep merging on the red check', () => {
    const world = shared();
    world.land(change('w1', ['web/a.ts'], { checks: [ci()] }), [ci(test('web/a.test.ts'))]);
    world.cycle();
    const [incident] = open(world);
    assert.deepEqual(incident?.lanes, ['web']);
    assert.deepEqual(
      incident.failures?.map((f) => [f.test, f.lane]),
      [['web/a.test.ts > works', 'web']],
    );
    assert.equal(world.lane('api').state, 'healthy');
    // An api change whose run of the shared check is red only with web's known failure merges.
    world.open(change('a1', ['api/x.ts'], { checks: [ci(test('web/a.test.ts'))] }));
    const result = world.cycle();
    assert.ok(
      result.decisions.some((d) => d.kind === 'merge' && d.change === 'a1'),
      JSON.stringify(result.queues.api),
    );
    const note = result.queues.api?.find((q) => q.change === 'a1')?.notes.join(' ') ?? '';
    assert.match(note, /only with failures .* already holds/);
  });

  it('a new failure in the same shared check stops a healthy lane’s merge, and names the test', () => {
    const world = shared();
    world.land(change('w1', ['web/a.ts'], { checks: [ci()] }), [ci(test('web/a.test.ts'))]);
    world.cycle();
    world.open(change('a1', ['api/x.ts'], { checks: [ci(test('web/a.test.ts'), test('api/x.test.ts'))] }));
    const result = world.cycle();
    assert.ok(!result.decisions.some((d) => d.kind === 'merge' && d.change === 'a1'));
    const reason = result.queues.api?.find((q) => q.change === 'a1')?.reasons.find((r) => r.code === 'check-failing');
    assert.match(reason?.message ?? '', /api\/x\.test\.ts > works/);
    assert.doesNotMatch(reason?.message ?? '', /web\/a\.test\.ts/, 'the known failure is not what blocks it');
  });

  it('two lanes broken by two merges: two incidents, each verified by its own tests while the check stays red for the other', () => {
    const world = shared();
    world.land(change('w1', ['web/a.ts'], { checks: [ci()] }), [ci(test('web/a.test.ts'))]);
    world.cycle();
    world.land(change('a1', ['api/x.ts'], { checks: [ci(test('web/a.test.ts'))] }), [ci(test('web/a.test.ts'), test('api/x.test.ts'))]);
    world.cycle();
    const incidents = open(world);
    assert.equal(incidents.length, 2, 'a second break with different failing tests is a second incident');
    const web = incidents.find((i) => i.lanes.includes('web'));
    const api = incidents.find((i) => i.lanes.includes('api'));
    assert.deepEqual(
      api?.suspects.map((s) => s.change),
      ['a1'],
      'the api break is attributed on its own, to the api merge',
    );
    assert.equal(world.lane('web').state, 'degraded');
    assert.equal(world.lane('api').state, 'degraded');
    assert.equal(world.state.global.state, 'incident-contained');

    // web's fix merges; the shared check stays red, but only with api's test.
    world.land(change('fix-web', ['web/a.ts'], { branch: `buildmaster/fix/${web?.id}`, checks: [ci(test('api/x.test.ts'))] }), [
      ci(test('api/x.test.ts')),
    ]);
    world.cycle();
    assert.equal(world.state.incidents[web?.id as string]?.status, 'resolved', 'web recovers by its own tests');
    assert.equal(world.lane('web').state, 'healthy');
    assert.equal(world.state.incidents[api.id]?.status, 'open');
    assert.equal(world.lane('api').state, 'degraded');
    assert.equal(world.state.incidents[web?.id as string]?.retries, 0, "api's red did not count against web's fix");
  });

  it('a test file outside the lane’s paths maps through the lane’s `tests`', () => {
    const world = shared();
    world.land(change('a1', ['api/x.ts'], { checks: [ci()] }), [ci(test('e2e/api/flow.spec.ts'))]);
    world.cycle();
    const [incident] = open(world);
    assert.deepEqual(incident?.lanes, ['api']);
    assert.match(incident.failures?.[0]?.why ?? '', /under lane api's tests/);
  });

  it('a fix still failing its own test counts a retry; the same fix red only with another lane’s failure does not', () => {
    const world = shared();
    world.land(change('w1', ['web/a.ts'], { checks: [ci()] }), [ci(test('web/a.test.ts'))]);
    world.cycle();
    world.land(change('a1', ['api/x.ts'], { checks: [ci(test('web/a.test.ts'))] }), [ci(test('web/a.test.ts'), test('api/x.test.ts'))]);
    world.cycle();
    const web = open(world).find((i) => i.lanes.includes('web'));
    world.open(change('fix-web', ['web/a.ts'], { branch: `buildmaster/fix/${web?.id}`, checks: [ci(test('api/x.test.ts'))] }));
    world.cycle();
    assert.equal(world.state.incidents[web?.id as string]?.retries, 0);
    world.changes = world.changes.filter((c) => c.id !== 'fix-web');
    world.open(
      change('fix-web', ['web/a.ts'], {
        branch: `buildmaster/fix/${web?.id}`,
        headSha: 'f'.repeat(40),
        checks: [ci(test('web/a.test.ts'), test('api/x.test.ts'))],
      }),
    );
    const result = world.cycle();
    assert.equal(world.state.incidents[web?.id as string]?.retries, 1);
    assert.match(result.decisions.find((d) => d.kind === 'outcome')?.rationale ?? '', /failed check ci \(web\/a\.test\.ts > works\)/);
  });

  it('an incomplete report falls back to the check as a whole, and says so in the fingerprint', () => {
    const world = shared();
    const cut: CheckRun = {
      name: 'ci',
      conclusion: 'failure',
      failures: [test('web/a.test.ts')],
      failuresComplete: false,
      failuresNote: 'output cut',
    };
    world.land(change('w1', ['web/a.ts'], { checks: [ci()] }), [cut]);
    world.cycle();
    const [incident] = open(world);
    assert.ok(
      incident?.failures?.some((f) => f.test === undefined && f.check === 'ci'),
      'the whole check is part of the fingerprint',
    );
    assert.deepEqual(incident?.lanes, ['web']);
  });
});

describe('attribution: flaky tests', () => {
  it('a test that failed and then passed on the same sha opens no incident and pauses nothing; too many flakes are reported for quarantine', () => {
    const world = shared();
    const flaky = (): CheckRun => ({
      name: 'ci',
      conclusion: 'success',
      passedOnRerun: true,
      failures: [{ ...test('web/a.test.ts'), flaky: true }],
    });
    for (let i = 0; i < 3; i++) {
      world.land(change(`w${i}`, ['web/a.ts'], { checks: [ci()] }), [flaky()]);
      world.cycle();
      assert.deepEqual(open(world), [], 'a flaky failure never opens an incident');
      assert.equal(world.lane('web').state, 'healthy');
    }
    const record = Object.values(world.state.flakes ?? {})[0];
    assert.equal(record?.seen.length, 3, 'counted per sha');
    const reports = world.last.decisions.filter((d) => d.kind === 'report-flaky');
    assert.equal(reports.length, 1, JSON.stringify(world.last.decisions.map((d) => d.kind)));
    assert.match(reports[0]?.rationale ?? '', /check ci.*3 times/);
    world.cycle();
    assert.equal(world.last.decisions.filter((d) => d.kind === 'report-flaky').length, 0, 'reported once per window');
  });

  it('in a red check, the flaky tests are counted and only the real failures open the incident', () => {
    const world = shared();
    const run: CheckRun = {
      name: 'ci',
      conclusion: 'failure',
      failuresComplete: true,
      failures: [{ ...test('docs/d.test.ts'), flaky: true }, test('api/x.test.ts')],
    };
    world.land(change('a1', ['api/x.ts'], { checks: [ci()] }), [run]);
    world.cycle();
    const [incident] = open(world);
    assert.deepEqual(
      incident?.failures?.map((f) => f.test),
      ['api/x.test.ts > works'],
    );
    assert.equal(world.lane('docs').state, 'healthy');
    assert.ok(Object.values(world.state.flakes ?? {}).some((f) => f.test === 'docs/d.test.ts > works'));
  });
});

describe('attribution: from the head, and until the failures are gone', () => {
  it('a failure red on an old commit but not at the head opens nothing (a first run with no state)', () => {
    const world = shared();
    world.commits.push({ sha: 'b'.repeat(40), checks: [ci(test('web/a.test.ts'))], time: 1, change: { id: 'old', files: ['web/a.ts'] } });
    world.commits.push({ sha: 'c'.repeat(40), checks: [ci()], time: 2, change: { id: 'newer', files: ['api/b.ts'] } });
    world.cycle();
    assert.deepEqual(open(world), []);
    assert.equal(world.kinds('dispatch-fix').length, 0);
  });

  it('an incident whose failures are gone from the target resolves, whatever repaired it', () => {
    const world = shared();
    world.land(change('w1', ['web/a.ts'], { checks: [ci()] }), [ci(test('web/a.test.ts'))]);
    world.cycle();
    const [incident] = open(world);
    assert.equal(world.lane('web').state, 'degraded');
    // Someone repairs it by hand (a commit Build Master did not make).
    world.commits.push({ sha: 'd'.repeat(40), checks: [ci()], time: world.now, change: { id: 'hand', files: ['web/a.ts'] } });
    world.cycle();
    assert.equal(world.state.incidents[incident?.id as string]?.status, 'resolved');
    assert.equal(world.lane('web').state, 'healthy');
  });
});

describe('attribution: what the fixer and the owner read', () => {
  it('lists each failing test with its file, line and the lane it maps to, capped', () => {
    const world = shared();
    const many = Array.from({ length: 40 }, (_, i) => test(`web/t${i}.test.ts`));
    world.land(change('w1', ['web/a.ts'], { checks: [ci()] }), [ci(...many)]);
    world.cycle();
    const [incident] = open(world);
    const lines = failureLines(present(incident, 'the incident'), 30);
    assert.equal(lines.length, 31);
    assert.equal(lines[0], "ci > web/t0.test.ts > works at web/t0.test.ts:3 (lane web: web/t0.test.ts is under lane web's paths)");
    assert.equal(lines[30], '… and 10 more');
  });
});

describe('attribution: a shared check that says only pass or fail', () => {
  it('opens the incident at check level and says that a later break in it cannot be told apart, and how to fix that', () => {
    const world = shared();
    world.land(change('w1', ['web/a.ts'], { checks: [ci()] }), [{ name: 'ci', conclusion: 'failure', output: 'something broke' }]);
    world.cycle();
    const [incident] = open(world);
    assert.deepEqual(incident?.lanes, ['web'], 'its suspects decide');
    assert.match(incident.rationale, /ci names no failing test, so a later break in it cannot be told apart .*local\.checks\[\]\.junit/);
  });
});

describe('attribution: properties of one shared check', function () {
  this.timeout(180_000);
  // Random histories: merges per lane, some breaking their lane's test in the shared check, some
  // repairing one; changes whose own run of the check shows the target's failures plus maybe their own.
  const LANES = ['web', 'api', 'docs'];
  const step = fc.record({ lane: fc.nat(2), breaks: fc.boolean(), repairs: fc.boolean(), ownFailure: fc.boolean() });

  it('never merges a change red with a failure of its own lane, and no incident outlives its failures', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 25 }), (steps) => {
        const world = shared();
        const broken = new Set<string>();
        const failing = () => [...broken].map((lane) => test(`${lane}/lane.test.ts`));
        steps.forEach((s, i) => {
          const lane = LANES[s.lane] as string;
          const own = s.ownFailure ? [test(`${lane}/own${i}.test.ts`)] : [];
          world.open(change(`c${i}`, [`${lane}/f${i}.ts`], { checks: [ci(...failing(), ...own)] }));
          const result = world.cycle();
          for (const merge of result.decisions.filter((d) => d.kind === 'merge')) {
            const merged = world.changes.find((c) => c.id === merge.change);
            const lanesOf = merged?.files.map((f) => f.split('/')[0]) ?? [];
            const run = merged?.checks[0];
            for (const failure of run?.failures ?? []) {
              assert.ok(!lanesOf.includes(failure.file?.split('/')[0]), `${merge.change} merged red with its own lane's ${failure.id}`);
            }
            world.merge(merge.change as string);
            if (s.repairs) broken.delete(lane);
            if (s.breaks) broken.add(lane);
            world.settle([ci(...failing())]);
          }
          world.changes = world.changes.filter((c) => c.id !== `c${i}`);
        });
        // Repair everything by hand: every incident must end.
        broken.clear();
        world.commits.push({ sha: 'e'.repeat(40), checks: [ci()], time: world.now, change: { id: 'hand', files: ['README.md'] } });
        world.cycle();
        assert.deepEqual(
          open(world).map((i) => i.id),
          [],
          'an incident whose failures are gone resolves',
        );
        for (const name of LANES)
          assert.ok(
            ['healthy'].includes(world.lane(name).state) || world.lane(name).operatorPaused,
            `${name} is ${world.lane(name).state}`,
          );
      }),
      { numRuns: 200 },
    );
  });
});

import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { requiredPass } from '../../extension/forge/local/forge';
import { assignLane } from '../../extension/core/classify';
import { initialState } from '../../extension/core/decide';
import { gate } from '../../extension/core/gate';
import type { Incident, LaneState } from '../../extension/core/model';
import { THREE_LANES, change, green, policyFrom, red, snapshot } from '../support/builders';

const open = (id: string, lanes: string[], failingChecks: string[]): Record<string, Incident> => ({
  [id]: { id, status: 'open', lanes, failingChecks } as Incident,
});
const files = (...paths: string[]) => ({ files: paths, labels: [] as string[] });

describe('local forge: never merge untested', () => {
  const policy = policyFrom(THREE_LANES);
  it('requires the lane’s own checks even when they are red on the target', () => {
    // A fix that does not fix must not look mergeable because the target is red too.
    assert.deepEqual(requiredPass(policy, files('web/a.ts'), [red('test-web')], { incidents: open('inc-1', ['web'], ['test-web']) }), {
      ok: false,
      failing: ['test-web'],
    });
  });
  it('lets a check through only when it is red because of the open incident of a lane the change does not touch', () => {
    const runs = [green('test-web'), red('build')];
    assert.equal(requiredPass(policy, files('web/a.ts'), runs, { incidents: open('inc-1', ['api'], ['build']) }).ok, true);
    // Red with no incident behind it (or the incident is this lane's own) blocks: the forge has no looser rule of its own.
    assert.deepEqual(requiredPass(policy, files('web/a.ts'), runs, { incidents: {} }), { ok: false, failing: ['build'] });
    assert.deepEqual(requiredPass(policy, files('web/a.ts'), runs, { incidents: open('inc-1', ['web'], ['build']) }), {
      ok: false,
      failing: ['build'],
    });
    assert.deepEqual(requiredPass(policy, files('web/a.ts'), runs, undefined), { ok: false, failing: ['build'] });
  });
  it('ignores other lanes’ checks and requires missing own checks', () => {
    assert.equal(requiredPass(policy, files('web/a.ts'), [green('test-web'), red('test-api')], undefined).ok, true);
    assert.deepEqual(requiredPass(policy, files('web/a.ts'), [], undefined), { ok: false, failing: ['test-web'] });
  });
  it('requires every touched lane’s checks of a cross-lane change, and every check of a default-lane change', () => {
    const web = [green('test-web'), red('test-api'), red('test-docs')];
    assert.deepEqual(requiredPass(policy, files('web/a.ts', 'api/b.ts'), web, undefined).failing, ['test-api', 'test-docs']);
    assert.deepEqual(requiredPass(policy, files('Makefile'), [green('test-web')], undefined).failing, ['test-api', 'test-docs']);
    // A label does not route a change around the checks of the lanes its paths touch.
    const labelled = policyFrom(THREE_LANES.replace('checks: ["test-web"]', 'checks: ["test-web"]\n    labels: ["lane:web"]'));
    assert.deepEqual(requiredPass(labelled, { files: ['api/b.ts'], labels: ['lane:web'] }, [green('test-web')], undefined).failing, [
      'test-api',
    ]);
  });
  it('refuses a change no check judges, unless the policy says so', () => {
    const bare = policyFrom('lanes:\n  - name: web\n    paths: ["web/**"]\n');
    assert.equal(requiredPass(bare, files('web/a.ts'), [], undefined).ok, false);
    const explicit = policyFrom('lanes:\n  - name: web\n    paths: ["web/**"]\nmerge:\n  required_checks: []\n');
    assert.deepEqual(requiredPass(explicit, files('web/a.ts'), [], undefined), { ok: true, failing: [] });
  });
});

describe('local forge: its merge guard is the gate’s rule', () => {
  const policy = policyFrom(
    `${THREE_LANES}local:\n  checks:\n    - { name: test-web, run: "true" }\n    - { name: test-api, run: "true" }\n    - { name: test-docs, run: "true" }\n    - { name: build, run: "true" }\n`,
  );
  const FILES = ['web/a.ts', 'api/b.ts', 'docs/c.md', 'Makefile'];
  const CHECKS = ['test-web', 'test-api', 'test-docs', 'build'];
  const CHECK_CODES = new Set(['check-failing', 'check-pending', 'check-missing', 'no-required-checks']);
  it('passes a change exactly when the gate finds no check reason, for any files, checks and open incidents', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom(...FILES), { minLength: 1, maxLength: 3 }),
        fc.array(
          fc.record({
            name: fc.constantFrom(...CHECKS),
            conclusion: fc.constantFrom('success' as const, 'failure' as const, 'pending' as const, 'skipped' as const),
          }),
          { maxLength: 5 },
        ),
        fc.array(fc.record({ lanes: fc.subarray(['web', 'api', 'docs']), failing: fc.subarray(CHECKS), open: fc.boolean() }), {
          maxLength: 3,
        }),
        (files, checks, incidents) => {
          const state = initialState(policy, 0);
          incidents.forEach((i, n) => {
            state.incidents[`inc-${n}`] = {
              id: `inc-${n}`,
              status: i.open ? 'open' : 'resolved',
              lanes: i.lanes,
              failingChecks: i.failing,
            } as Incident;
          });
          const c = change('c', files, { checks });
          const lane = state.lanes[assignLane(policy, files).lane] as LaneState;
          const result = gate(c, {
            policy,
            snapshot: snapshot({ changes: [c] }),
            state,
            lane,
            tier: 'tier2',
            link: undefined,
            openChangeIds: new Set(['c']),
            laneIncidents: new Set(),
          });
          const gateOk = !result.reasons.some((r) => CHECK_CODES.has(r.code));
          assert.equal(requiredPass(policy, c, checks, state).ok, gateOk);
        },
      ),
      { numRuns: 500 },
    );
  });
});

// Idempotency keys: every key the core builds reads back into the parts it was
// built from, whatever a change id or a lane name holds (colons, slashes, `#`).
// The shell matches done actions and approvals by these keys, so a key read as
// another action would repeat or skip one.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import {
  countedFailure,
  dispatchKey,
  escalateKey,
  holdKey,
  holdTrigger,
  laneGoneKey,
  mergeKey,
  pageKey,
  parseKey,
  quarantineKey,
  revertKey,
  runGateKey,
  runPromoteKey,
  runTaskKey,
} from '../../extension/core/keys';

const sha = fc.stringMatching(/^[0-9a-f]{40}$/);
const incident = fc.stringMatching(/^inc-[0-9a-z]{7}(x\d)?(r\d)?$/);
/** Change ids and lane names are user text: branch names hold slashes, colons are legal in a ref name's eyes too. */
const name = fc.string({ minLength: 1, maxLength: 20 }).filter((text) => !text.includes('+'));

describe('idempotency keys', () => {
  it('a merge key reads back as its change and head, whatever the change id holds', () => {
    fc.assert(
      fc.property(name, sha, (id, headSha) => {
        assert.deepEqual(parseKey(mergeKey({ id, headSha })), { kind: 'merge', change: id, headSha });
      }),
    );
  });

  it('incident keys read back as their incident and attempt or reason', () => {
    fc.assert(
      fc.property(incident, fc.integer({ min: 1, max: 99 }), name, (id, attempt, why) => {
        assert.deepEqual(parseKey(dispatchKey(id, attempt)), { kind: 'dispatch', incident: id, attempt });
        assert.deepEqual(parseKey(revertKey(id)), { kind: 'revert', incident: id });
        assert.deepEqual(parseKey(pageKey(id)), { kind: 'page', incident: id });
        assert.deepEqual(parseKey(escalateKey(id, why)), { kind: 'escalate', incident: id, why });
      }),
    );
  });

  it('a vanished lane’s pause, a hold and a quarantine report read back too', () => {
    fc.assert(
      fc.property(name, fc.nat(), fc.array(name, { minLength: 1, maxLength: 4 }), sha, (lane, since, lanes, first) => {
        assert.deepEqual(parseKey(laneGoneKey(lane, since)), { kind: 'lane-gone', lane, since });
        const triggers = [holdTrigger.pausedLanes(lanes), holdTrigger.crossLane('inc-abcdef0')];
        assert.deepEqual(parseKey(holdKey(triggers)), { kind: 'hold', triggers });
        assert.deepEqual(parseKey(quarantineKey(`${lane} > ${lane}`, first)), {
          kind: 'quarantine',
          flake: `${lane} > ${lane}`,
          sha: first,
        });
      }),
    );
  });

  it('keys are the ones earlier versions wrote, so a store from before still matches its done actions', () => {
    assert.equal(mergeKey({ id: 'agent/x', headSha: 'abc' }), 'merge:agent/x:abc');
    assert.equal(dispatchKey('inc-1234567', 2), 'dispatch:inc-1234567:2');
    assert.equal(escalateKey('inc-1234567', 'lane-gone:web,api'), 'escalate:inc-1234567:lane-gone:web,api');
    assert.equal(laneGoneKey('web', 5), 'escalate:lane-gone:web:5');
    assert.equal(holdKey([holdTrigger.pausedLanes(['web', 'api']), holdTrigger.tier3('inc-1')]), 'hold:paused-lanes:api,web+tier3:inc-1');
    assert.equal(countedFailure.fixChange({ id: 'f', headSha: 'h' }), 'fix:f@h');
    assert.equal(parseKey('operator:17'), undefined, 'a hold trigger is not an action key');
    assert.equal(runTaskKey('run-1', 'a~h1', 2), 'run:run-1:task:a~h1:2');
    assert.equal(runPromoteKey('run-1', 'a-fix', 1), 'run:run-1:promote:a-fix:1');
    assert.equal(runGateKey('run-1', 'apply'), 'run:run-1:gate:apply');
    assert.equal(runGateKey('run-1', 'merge', { id: 'a', attempt: 3 }), 'run:run-1:gate:merge:a:3');
  });

  it('run keys read back as their run, task, step and attempt; a malformed one reads as nothing', () => {
    const id = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._~-]{0,20}$/);
    const step = fc.constantFrom('plan', 'apply', 'execute', 'merge', 'deploy' as const);
    fc.assert(
      fc.property(id, id, fc.integer({ min: 0, max: 999 }), step, (run, task, attempt, gated) => {
        assert.deepEqual(parseKey(runTaskKey(run, task, attempt)), { kind: 'run-task', run, task, attempt });
        assert.deepEqual(parseKey(runPromoteKey(run, task, attempt)), { kind: 'run-promote', run, task, attempt });
        assert.deepEqual(parseKey(runGateKey(run, gated)), { kind: 'run-gate', run, step: gated });
        assert.deepEqual(parseKey(runGateKey(run, gated, { id: task, attempt })), { kind: 'run-gate', run, step: gated, task, attempt });
      }),
    );
    for (const key of [
      'run:r1:task:a',
      'run:r1:task:a:x',
      'run:r1:gate:ship',
      'run:r1:gate:merge:a',
      'run::task:a:1',
      'run:r1:promote:a:1:2',
    ]) {
      assert.equal(parseKey(key), undefined, key);
    }
  });
});

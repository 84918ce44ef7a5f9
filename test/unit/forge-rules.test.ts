import { strict as assert } from 'node:assert';
import { requiredPass } from '../../extension/forge/local/forge';
import { THREE_LANES, green, policyFrom, red } from '../support/builders';

describe('local forge: never merge untested', () => {
  const policy = policyFrom(THREE_LANES);
  it('requires the lane’s own checks even when they are red on the target', () => {
    // A fix that does not fix must not look mergeable because the target is red too.
    assert.deepEqual(requiredPass(policy, 'web', [red('test-web')], [red('test-web')]), { ok: false, failing: ['test-web'] });
  });
  it('lets a shared check through when it is already red on the target (another lane’s break)', () => {
    assert.equal(requiredPass(policy, 'web', [green('test-web'), red('build')], [red('build')]).ok, true);
    assert.deepEqual(requiredPass(policy, 'web', [green('test-web'), red('build')], [green('build')]), { ok: false, failing: ['build'] });
  });
  it('ignores other lanes’ checks and requires missing own checks', () => {
    assert.equal(requiredPass(policy, 'web', [green('test-web'), red('test-api')], []).ok, true);
    assert.deepEqual(requiredPass(policy, 'web', [], []), { ok: false, failing: ['test-web'] });
  });
});

import { strict as assert } from 'node:assert';
import { parsePolicy } from '../../extension/core/policy/parse';
import { validBranchName } from '../../extension/core/policy/schema';

describe('policy: values that cannot work are refused with their position', () => {
  it('refuses a target git would not accept as a branch name', () => {
    for (const target of ['main..x', 'feat/.hidden', 'a b', 'x.lock', '-main', 'a//b', 'ref@{1}', 'main/']) {
      const result = parsePolicy(`target: "${target}"\n`, '.buildmaster.yml');
      assert.equal(result.ok, false, target);
      assert.match(JSON.stringify(result.problems), /not a name git accepts for a branch/, target);
    }
    for (const target of ['main', 'release/2026.11', 'feat/ünïcode', 'v1.x']) assert.ok(validBranchName(target), target);
  });

  it('refuses a timeout under a second (it would kill every command as it starts)', () => {
    for (const yaml of ['local:\n  check_timeout: 0s\n', 'dispatch:\n  timeout: 500ms\n']) {
      const result = parsePolicy(yaml, '.buildmaster.yml');
      assert.equal(result.ok, false, yaml);
      const problem = result.problems[0];
      assert.match(problem?.message ?? '', /at least 1s/);
      assert.equal(problem?.line, 2);
    }
    assert.ok(parsePolicy('local:\n  check_timeout: 1s\n', '.buildmaster.yml').ok);
  });
});

describe('policy: YAML mistakes in the policy’s own words', () => {
  it('names a second YAML document at its line, without the parser library’s API', () => {
    const result = parsePolicy('target: main\n---\nlanes: []\n', '.buildmaster.yml');
    assert.equal(result.ok, false);
    const problem = result.problems[0];
    assert.match(problem?.message ?? '', /more than one YAML document/);
    assert.doesNotMatch(`${problem?.message} ${problem?.hint}`, /parseAllDocuments/);
    assert.equal(problem?.line, 2);
  });
});

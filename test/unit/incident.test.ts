import { strict as assert } from 'node:assert';
import { attribute, classifyFailure, commitHealth } from '../../extension/core/incident';
import { THREE_LANES, commit, green, pending, policyFrom, red, present } from '../support/builders';

const policy = policyFrom(`${THREE_LANES.replace(/incidents:[\s\S]*?(?=dispatch:)/, '')}
risk:
  tier3: ["infra/**"]
incidents:
  classify:
    - match: "No space left on device"
      class: infra
    - match: "/snapshot mismatch/i"
      class: flaky
      check: "test-*"
`);

describe('incidents: commit health', () => {
  it('is red on any failure, pending while a check runs, green otherwise', () => {
    assert.equal(commitHealth(commit('a', [green('x'), red('y')])), 'red');
    assert.equal(commitHealth(commit('a', [green('x'), pending('y')])), 'pending');
    assert.equal(commitHealth(commit('a', [green('x'), { name: 'y', conclusion: 'skipped' }])), 'green');
    assert.equal(commitHealth(commit('a', [green('x'), red('y')]), new Set(['x'])), 'green');
  });
});

describe('incidents: attribution', () => {
  const web = (id: string) => ({ id, files: ['web/a.ts'] });
  const api = (id: string) => ({ id, files: ['api/a.ts'] });

  it('one suspect lane: the incident is that lane’s', () => {
    const window = [commit('1', [], web('w1')), commit('2', [red('build')], web('w2'))];
    const result = attribute(policy, window, present(window[1]), [red('build')]);
    assert.deepEqual(result.lanes, ['web']);
    assert.equal(result.crossLane, false);
    assert.deepEqual(
      result.suspects.map((s) => s.change),
      ['w1', 'w2'],
    );
  });

  it('a failing check that a lane lists narrows the suspects to that lane', () => {
    const window = [commit('1', [], web('w1')), commit('2', [], api('a1')), commit('3', [red('test-api')], web('w2'))];
    const result = attribute(policy, window, present(window[2]), [red('test-api')]);
    assert.deepEqual(result.lanes, ['api']);
    assert.deepEqual(
      result.suspects.map((s) => s.change),
      ['a1'],
    );
    assert.match(result.rationale, /check test-api belongs to lane api/);
  });

  it('suspects in several lanes with an unowned check: cross-lane', () => {
    const window = [commit('1', [], web('w1')), commit('2', [red('build')], api('a1'))];
    const result = attribute(policy, window, present(window[1]), [red('build')]);
    assert.deepEqual(result.lanes, ['api', 'web']);
    assert.equal(result.crossLane, true);
  });

  it('one suspect that touches several lanes is cross-lane, whoever merged it: its lanes come from its diff', () => {
    const window = [commit('1', [red('build')], { id: 'x1', files: ['web/a.ts', 'api/b.ts'] })];
    const result = attribute(policy, window, present(window[0]), [red('build')]);
    assert.deepEqual(result.lanes, ['api', 'web']);
    assert.equal(result.crossLane, true);
    // A lane recorded at merge does not narrow it: the diff does.
    const recorded = [commit('1', [red('test-web')], { id: 'x1', files: ['web/a.ts', 'api/b.ts'], lane: 'shared' })];
    assert.deepEqual(attribute(policy, recorded, present(recorded[0]), [red('test-web')]).lanes, ['api', 'web']);
  });

  it('no suspects and no owning lane: unattributed', () => {
    const window = [commit('1', [red('build')])];
    const result = attribute(policy, window, present(window[0]), [red('build')]);
    assert.equal(result.unattributed, true);
    assert.deepEqual(result.lanes, []);
  });

  it('no suspect touched the failing lane: the failure belongs to the lanes the suspects changed (a dependent lane)', () => {
    const window = [commit('1', [red('test-docs')], web('w1'))];
    const result = attribute(policy, window, present(window[0]), [red('test-docs')]);
    assert.deepEqual(result.lanes, ['web']);
    assert.deepEqual(
      result.suspects.map((s) => s.change),
      ['w1'],
    );
    assert.match(result.rationale, /no suspect touched lane docs/);
  });

  it('no merge among the suspects at all: the lane that owns the check takes it', () => {
    const window = [commit('1', [red('test-docs')])];
    assert.deepEqual(attribute(policy, window, present(window[0]), [red('test-docs')]).lanes, ['docs']);
  });

  it('a shared check read down to its tests: each failing test maps to a lane by its file', () => {
    const window = [commit('1', [], web('w1')), commit('2', [], api('a1'))];
    const shared = {
      ...red('build'),
      failures: [{ id: 'api/a.test.ts > answers', file: 'api/a.test.ts', line: 3 }],
      failuresComplete: true,
    };
    const result = attribute(policy, window, present(window[1]), [shared]);
    assert.deepEqual(result.lanes, ['api']);
    assert.deepEqual(
      result.suspects.map((s) => s.change),
      ['a1'],
    );
    assert.match(result.rationale, /api\/a\.test\.ts is under lane api's paths/);
  });

  it('the tier is the highest tier among the narrowed suspects', () => {
    const window = [commit('1', [], { id: 'i1', files: ['infra/x.tf'] }), commit('2', [red('build')], web('w1'))];
    assert.equal(attribute(policy, window, present(window[1]), [red('build')]).tier, 'tier3');
    assert.equal(attribute(policy, window, present(window[1]), [red('test-web')]).tier, 'tier2');
  });
});

describe('incidents: classification', () => {
  const table: [string, Parameters<typeof classifyFailure>[1], string, RegExp][] = [
    ['a policy rule beats the built-ins', [red('test-web', 'write failed: No space left on device')], 'infra', /policy rule 1/],
    ['a policy rule limited to checks by glob', [red('test-web', 'Snapshot mismatch in header')], 'flaky', /policy rule 2/],
    ['…and not applied to other checks', [red('build', 'Snapshot mismatch in header')], 'build', /built-in/],
    ['passing on re-run is flaky', [{ name: 'test-web', conclusion: 'failure', passedOnRerun: true }], 'flaky', /re-run/],
    ['a timeout is infra', [{ name: 'test-web', conclusion: 'timed_out' }], 'infra', /timed out/],
    ['runner loss is infra', [red('x', 'The runner has received a shutdown signal')], 'infra', /runner/],
    ['a broken workflow is ci-config', [red('x', 'Invalid workflow file: .github/workflows/ci.yml#L3')], 'ci-config', /CI configuration/],
    ['a scanner is security', [red('codeql')], 'security', /security/],
    ['unresolvable packages are dependency', [red('x', 'npm ERR! ERESOLVE unable to resolve dependency tree')], 'dependency', /dependency/],
    ['eslint is lint', [red('lint')], 'lint', /lint/],
    ['a type error is build', [red('x', "src/a.ts(3,1): error TS2322: Type 'x'")], 'build', /build/],
    ['failing tests are test', [red('x', '3 failing')], 'test', /test/],
    ['nothing recognisable is unknown', [red('x', 'segfault')], 'unknown', /no rule/],
  ];
  for (const [name, checks, failureClass, rule] of table) {
    it(name, () => {
      const result = classifyFailure(policy, checks);
      assert.equal(result.failureClass, failureClass);
      assert.match(result.rule, rule);
    });
  }
});

describe('incidents: classification of failing tests', () => {
  it('a check read down to failing tests (a JUnit report with no output) is a test failure', () => {
    const run = {
      name: 'ci',
      conclusion: 'failure' as const,
      failures: [{ id: 'web/a.test.ts > works', file: 'web/a.test.ts' }],
      failuresComplete: true,
    };
    assert.equal(classifyFailure(policy, [run]).failureClass, 'test');
    assert.equal(
      classifyFailure(policy, [{ ...run, output: 'web/a.ts(1,1): error TS2322: nope' }]).failureClass,
      'build',
      'a compile error in its output still classifies first',
    );
  });
});

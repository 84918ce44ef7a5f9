import { strict as assert } from 'node:assert';
import { assignLane, riskTier } from '../../extension/core/classify';
import { autonomyAllows } from '../../extension/core/autonomy';
import { policyFrom } from '../support/builders';

const policy = policyFrom(`
lanes:
  - name: web
    paths: ["web/**"]
    labels: ["lane:web"]
  - name: api
    paths: ["api/**", "proto/**"]
  - name: docs
    paths: ["docs/**", "**/*.md"]
default_lane: shared
risk:
  tier3: ["infra/**", "**/auth/**", ".github/workflows/**"]
  tier1: ["docs/**", "**/*.md", "**/*.test.*"]
`);

describe('classification: lanes', () => {
  const table: [string, string[], string, boolean][] = [
    ['one lane', ['web/a.ts', 'web/b/c.ts'], 'web', false],
    ['second glob of a lane', ['proto/x.proto'], 'api', false],
    ['first matching lane wins (web/README.md is web, not docs)', ['web/README.md'], 'web', false],
    ['a markdown file outside lanes goes to docs', ['README.md'], 'docs', false],
    ['no lane matches: default lane', ['package.json'], 'shared', false],
    ['touching two lanes: default lane, cross-lane', ['web/a.ts', 'api/b.ts'], 'shared', true],
    ['a lane plus an unmatched file is cross-lane', ['web/a.ts', 'Makefile'], 'shared', true],
    ['dotfiles match globs', ['web/.eslintrc'], 'web', false],
    ['no files: default lane', [], 'shared', false],
  ];
  for (const [name, files, lane, cross] of table) {
    it(name, () => {
      const result = assignLane(policy, files);
      assert.equal(result.lane, lane);
      assert.equal(result.crossLane, cross);
      assert.ok(result.rationale.length > 0);
    });
  }
  it('a lane label assigns the lane regardless of files', () => {
    assert.equal(assignLane(policy, ['api/x.ts'], ['lane:web']).lane, 'web');
  });
  it('names the lanes a cross-lane change touches', () => {
    assert.deepEqual(assignLane(policy, ['api/b.ts', 'web/a.ts']).touched, ['web', 'api']);
  });
});

describe('classification: risk tiers', () => {
  const table: [string, string[], string][] = [
    ['docs only is tier 1', ['docs/a.md', 'docs/b.png'], 'tier1'],
    ['tests only is tier 1', ['web/a.test.ts'], 'tier1'],
    ['code is tier 2', ['web/a.ts'], 'tier2'],
    ['mixed tier 1 and code is tier 2', ['docs/a.md', 'web/a.ts'], 'tier2'],
    ['infra is tier 3', ['infra/main.tf'], 'tier3'],
    ['auth anywhere is tier 3', ['api/auth/login.ts'], 'tier3'],
    ['workflows are tier 3', ['.github/workflows/ci.yml'], 'tier3'],
    ['tier 3 beats tier 1 (a markdown file under auth)', ['api/auth/README.md'], 'tier3'],
    ['no files is tier 2', [], 'tier2'],
  ];
  for (const [name, files, tier] of table) it(name, () => assert.equal(riskTier(policy, files), tier));
});

describe('autonomy', () => {
  const at = (level: string) => policyFrom(`autonomy:\n  merge: ${level}\n  fix: ${level}\n  revert: ${level}\n  hygiene: ${level}\n`);
  const table: [string, 'merge' | 'fix' | 'revert' | 'hygiene', 'tier1' | 'tier2' | 'tier3', boolean][] = [
    ['A0', 'merge', 'tier1', false],
    ['A1', 'fix', 'tier2', false],
    ['A2', 'fix', 'tier2', true],
    ['A2', 'merge', 'tier1', false],
    ['A3', 'merge', 'tier1', true],
    ['A3', 'merge', 'tier2', false],
    ['A4', 'merge', 'tier2', true],
    ['A5', 'merge', 'tier2', true],
    ['A5', 'merge', 'tier3', false],
    ['A5', 'fix', 'tier3', false],
    ['A5', 'revert', 'tier3', false],
    ['A1', 'revert', 'tier2', false],
    ['A2', 'hygiene', 'tier2', true],
  ];
  for (const [level, action, tier, allowed] of table) {
    it(`${level} ${allowed ? 'allows' : 'does not allow'} ${action} of ${tier}`, () => {
      const verdict = autonomyAllows(at(level), action, tier);
      assert.equal(verdict.allowed, allowed);
      assert.match(verdict.rationale, tier === 'tier3' ? /tier 3/ : new RegExp(level));
    });
  }
});

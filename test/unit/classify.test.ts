import { strict as assert } from 'node:assert';
import { assignLane, laneOfFile, riskTier } from '../../extension/core/classify';
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

describe('classification: tier 3 is exact', () => {
  // The policy below lists none of these: they are tier 3 whatever `risk.tier3` says.
  const bare = policyFrom('lanes:\n  - name: web\n    paths: ["web/**"]\nrisk:\n  tier3: []\n  tier1: ["**/*.yml", "**/*", "*"]\n');
  const always = [
    '.buildmaster.yml',
    '.github/buildmaster.yml',
    '.github/workflows/ci.yml',
    '.github/workflows/nested/deploy.yaml',
    '.github/actions/setup/action.yml',
    '.gitlab-ci.yml',
    '.circleci/config.yml',
    'Jenkinsfile',
    'azure-pipelines.yml',
    '.github/CODEOWNERS',
    // Case-insensitive file systems read these as the files above.
    '.BuildMaster.yml',
    '.GitHub/Workflows/ci.yml',
  ];
  for (const file of always) {
    it(`${JSON.stringify(file)} is tier 3 even when risk.tier3 is empty and tier1 matches everything`, () => {
      assert.equal(riskTier(bare, [file]), 'tier3');
      assert.equal(riskTier(bare, ['web/a.ts', file]), 'tier3');
    });
  }
  it('a change that edits the policy to raise its own autonomy is tier 3 under the policy it brings', () => {
    const raised = policyFrom('autonomy:\n  merge: A5\nrisk:\n  tier3: []\n  tier1: [".buildmaster.yml"]\n');
    assert.equal(riskTier(raised, ['.buildmaster.yml']), 'tier3');
    assert.equal(autonomyAllows(raised, 'merge', riskTier(raised, ['.buildmaster.yml'])).allowed, false);
  });
  it('a rename out of a tier 3 path is tier 3 and touches both lanes (forges list the old and the new path)', () => {
    assert.equal(riskTier(policy, ['infra/deploy.sh', 'web/deploy.sh']), 'tier3');
    assert.deepEqual(assignLane(policy, ['api/auth/token.ts', 'web/token.ts']).touched, ['web', 'api']);
    assert.equal(assignLane(policy, ['api/auth/token.ts', 'web/token.ts']).crossLane, true);
  });
});

describe('classification: odd paths are matched exactly', () => {
  const odd = policyFrom(`
lanes:
  - name: web
    paths: ["web/**"]
  - name: café
    paths: ["café/**"]
default_lane: shared
risk:
  tier3: ["infra/**", "**/auth/**", "secrets/déploy.sh"]
  tier1: ["docs/**", "**/*.md"]
`);
  const nfd = (text: string) => text.normalize('NFD');
  const lanes: [string, string, string][] = [
    ['a space', 'web/a b.ts', 'web'],
    ['a leading dash', 'web/-rf', 'web'],
    ['a top-level leading dash', '-rf', 'shared'],
    ['glob characters in the name', 'web/[x]*?.ts', 'web'],
    ['a file named *', '*', 'shared'],
    ['a dotfile', 'web/.env', 'web'],
    ['a newline in a directory name', 'web/a\nb/c.ts', 'web'],
    ['a newline in a file name', 'web/x\n.ts', 'web'],
    ['a backslash is a character, not a separator', 'web\\a.ts', 'shared'],
    ['a very deep path', `web/${'d/'.repeat(3000)}x.ts`, 'web'],
    ['a composed (NFC) lane path', 'café/menu.ts'.normalize('NFC'), 'café'],
    ['a decomposed (NFD) lane path', nfd('café/menu.ts'), 'café'],
  ];
  for (const [name, file, lane] of lanes) it(`lane of ${name}`, () => assert.equal(laneOfFile(odd, file), lane));

  const tiers: [string, string, string][] = [
    ['a newline under infra/', 'infra/a\nb.sh', 'tier3'],
    ['a newline directory before auth/', 'api/x\ny/auth/login.ts', 'tier3'],
    ['a newline directory under auth/', 'api/auth/\n/x.ts', 'tier3'],
    ['an NFD path against an NFC pattern', nfd('secrets/déploy.sh'), 'tier3'],
    ['an NFC path against an NFC pattern', 'secrets/déploy.sh', 'tier3'],
    ['upper case on a case-insensitive file system', 'INFRA/main.tf', 'tier3'],
    ['a dot directory under infra/', 'infra/.terraform/x', 'tier3'],
    ['a very deep auth path', `api/${'d/'.repeat(3000)}auth/x.ts`, 'tier3'],
    ['glob characters in a docs name', 'docs/[draft]*.md', 'tier1'],
    ['a markdown name with a newline', 'docs/a\nb.md', 'tier1'],
    ['a backslash name is not under infra/', 'infra\\main.tf', 'tier2'],
  ];
  for (const [name, file, tier] of tiers) it(`tier of ${name}`, () => assert.equal(riskTier(odd, [file]), tier));

  it('a `!` pattern is a literal name, never "everything else"', () => {
    const negated = policyFrom('risk:\n  tier3: []\n  tier1: ["!infra/**"]\n');
    assert.equal(riskTier(negated, ['web/a.ts']), 'tier2');
    assert.equal(riskTier(negated, ['!infra/x']), 'tier1');
  });
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

import { strict as assert } from 'node:assert';
import { undefinedCheckWarnings } from '../../extension/core/policy/warnings';
import { policyFrom } from '../support/builders';

describe('policy warnings', () => {
  it('names a lane check and a required check that no local check defines', () => {
    const policy = policyFrom(`lanes:
  - {name: web, paths: ["web/**"], checks: ["test-web", "test-web-e2e"]}
merge: {required_checks: [lint]}
local:
  checks:
    - {name: test-web, run: "true"}
`);
    const warnings = undefinedCheckWarnings(policy);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0] ?? '', /lane web lists the check "test-web-e2e"/);
    assert.match(warnings[1] ?? '', /merge\.required_checks lists "lint"/);
  });

  it('says nothing without local checks (GitHub mode: CI reports them) or when every name is defined', () => {
    assert.deepEqual(undefinedCheckWarnings(policyFrom('lanes:\n  - {name: web, paths: ["web/**"], checks: ["ci"]}\n')), []);
    assert.deepEqual(
      undefinedCheckWarnings(
        policyFrom('lanes:\n  - {name: web, paths: ["web/**"], checks: ["t"]}\nlocal:\n  checks:\n    - {name: t, run: "true"}\n'),
      ),
      [],
    );
  });
});

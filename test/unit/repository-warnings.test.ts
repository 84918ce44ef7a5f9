// validate inside a repository: policy names that match nothing in it (issue 12).
import { strict as assert } from 'node:assert';
import { parsePolicy } from '../../extension/core/policy/parse';
import { repositoryWarnings } from '../../extension/core/policy/warnings';

function warn(text: string, files: string[], branches: string[]) {
  const parsed = parsePolicy(text);
  assert.ok(parsed.ok);
  return repositoryWarnings(text, parsed.policy, { files, branches });
}

describe('repositoryWarnings', () => {
  it('places each warning where the file says the name, with the nearest real one', () => {
    const text = 'target: mian\nlanes:\n  - name: docs\n    paths:\n      - "web/**"\n      - doc/**\nlocal:\n  branches: [agents/*]\n';
    const warnings = warn(text, ['docs/a.md', 'web/x.js'], ['main', 'agent/one']);
    assert.deepEqual(
      warnings.map((w) => [w.line, w.column, w.hint]),
      [
        [1, 9, 'did you mean "main"?'],
        [6, 9, 'did you mean "docs/**"?'],
        [8, 14, 'did you mean "agent/*"? (branches here: main, agent/one)'],
      ],
    );
  });

  it('warns of a glob with no literal folder without a guess, and never of defaults or of Build Master’s own branches', () => {
    const text = 'lanes:\n  - name: gen\n    paths: ["**/*.gen.ts"]\nlocal:\n  branches: ["buildmaster/fix/*", "agent/*"]\n';
    const warnings = warn(text, ['src/a.ts'], ['main', 'agent/x']);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]?.message ?? '', /"\*\*\/\*\.gen\.ts" of lane gen matches no file/);
    assert.match(warnings[0]?.hint ?? '', /globs relative to the repository root/);
    assert.deepEqual(
      warn('lanes:\n  - name: web\n    paths: ["web/**"]\n', ['web/a'], ['trunk']),
      [],
      'the default target and branches are not the file’s to answer for',
    );
  });

  it('matches paths as the lanes do: a dotfile folder and a name with spaces count', () => {
    const text = 'lanes:\n  - name: ci\n    paths: [".github/**", "my docs/*.md"]\n';
    assert.deepEqual(warn(text, ['.github/workflows/ci.yml', 'my docs/a.md'], ['main']), []);
  });
});

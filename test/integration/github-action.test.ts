// The GitHub Action run as GitHub runs it: the built dist/action.js in a child
// process with the runner's environment (INPUT_*, GITHUB_*), a real recorded
// pull_request_review payload, output and summary files, and a fresh empty
// workspace per run (an ephemeral runner), against the test GitHub server. Its
// state lives on the buildmaster/state branch of the server's real git repository.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, ResponseCache } from '../../extension/github/client';
import { GitHubStateBackend } from '../../extension/github/state-ref';
import { GitHubWorld, githubPolicy } from '../../fixtures/github/world';
import { runCli } from '../support/cli';

const ACTION = join(__dirname, '../../dist/action.js');
const STATE = 'buildmaster/state';

interface ActionRun {
  code: number | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
}

interface LoggedEvent {
  seq: number;
  type: string;
  kind?: string;
  change?: string;
  status?: string;
  message: string;
}

/** A real pull_request_review payload from @octokit/webhooks-examples, pointed at this repository and pull request. */
function reviewPayload(number: number, head: { ref: string; sha: string; repo?: string }): unknown {
  const index = JSON.parse(readFileSync(require.resolve('@octokit/webhooks-examples/api.github.com/index.json'), 'utf8')) as {
    name: string;
    examples: Record<string, unknown>[];
  }[];
  const example = index.find((e) => e.name === 'pull_request_review')?.examples.find((e) => e.action === 'submitted');
  assert.ok(example, 'the examples hold a submitted pull_request_review');
  const payload = structuredClone(example) as {
    review: { state: string };
    pull_request: { number: number; head: { ref: string; sha: string; repo: { full_name: string } }; base: { ref: string } };
    repository: { name: string; full_name: string; owner: { login: string } };
  };
  payload.review.state = 'approved';
  payload.pull_request.number = number;
  payload.pull_request.head.ref = head.ref;
  payload.pull_request.head.sha = head.sha;
  payload.pull_request.head.repo.full_name = head.repo ?? 'acme/app';
  payload.pull_request.base.ref = 'main';
  payload.repository.name = 'app';
  payload.repository.full_name = 'acme/app';
  payload.repository.owner.login = 'acme';
  return payload;
}

/** Parses a GITHUB_OUTPUT file (the `name<<delimiter` form). */
function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const match = /^([\w-]+)<<(.+)$/.exec(lines[i] ?? '');
    if (!match) continue;
    const [, name, delimiter] = match as unknown as [string, string, string];
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== delimiter; i++) value.push(lines[i] ?? '');
    outputs[name] = value.join('\n');
  }
  return outputs;
}

describe('the GitHub Action', function () {
  this.timeout(240_000);
  let world: GitHubWorld;
  let scratch: string;

  beforeEach(async () => {
    world = await GitHubWorld.start();
    // The Action runs on real time; the server's clock follows it.
    world.now = Date.now();
    // The Action reads the policy from the default branch, as committed there.
    world.server.push('main', { '.buildmaster.yml': githubPolicy(world.server.url) }, 'add the Build Master policy');
    scratch = mkdtempSync(join(tmpdir(), 'bm-action-'));
  });

  afterEach(async () => {
    assert.deepEqual(world.server.violations, [], 'every response conforms to GitHub’s OpenAPI description');
    await world.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  let runs = 0;
  /** Starts the Action as a runner would: a new empty workspace, temp dir, output and summary files. */
  function startAction(options: { inputs?: Record<string, string>; env?: Record<string, string>; pull?: number; fork?: string } = {}) {
    const id = ++runs;
    const dir = mkdtempSync(join(scratch, `run${id}-`));
    const eventPath = join(dir, 'event.json');
    const pull = options.pull ?? 1;
    const item = world.server.item(pull);
    writeFileSync(
      eventPath,
      JSON.stringify(
        reviewPayload(pull, {
          ref: item?.pull?.head ?? 'agent/x',
          sha: item ? (world.server.headOf(item) ?? '') : '',
          ...(options.fork ? { repo: options.fork } : {}),
        }),
      ),
    );
    const files = { output: join(dir, 'output'), summary: join(dir, 'summary.md') };
    writeFileSync(files.output, '');
    writeFileSync(files.summary, '');
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? dir,
      INPUT_TOKEN: world.server.token,
      INPUT_POLICY: '',
      'INPUT_DRY-RUN': 'false',
      'INPUT_STATE-REF': STATE,
      GITHUB_REPOSITORY: 'acme/app',
      GITHUB_API_URL: world.server.url,
      GITHUB_EVENT_NAME: 'pull_request_review',
      GITHUB_EVENT_PATH: eventPath,
      GITHUB_WORKSPACE: mkdtempSync(join(dir, 'workspace-')),
      RUNNER_TEMP: mkdtempSync(join(dir, 'temp-')),
      GITHUB_OUTPUT: files.output,
      GITHUB_STEP_SUMMARY: files.summary,
      GITHUB_RUN_ID: String(1000 + id),
      GITHUB_RUN_ATTEMPT: '1',
      ...Object.fromEntries(Object.entries(options.inputs ?? {}).map(([name, value]) => [`INPUT_${name.toUpperCase()}`, value])),
      ...options.env,
    };
    const child = spawn(process.execPath, [ACTION], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<ActionRun>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code) =>
        resolve({
          code,
          stdout,
          stderr,
          outputs: parseOutputs(readFileSync(files.output, 'utf8')),
          summary: readFileSync(files.summary, 'utf8'),
        }),
      );
    });
    return { id: 1000 + id, done };
  }

  async function runAction(options: Parameters<typeof startAction>[0] = {}): Promise<ActionRun> {
    const run = await startAction(options).done;
    assert.ok(!run.stdout.includes(world.server.token) && !run.stderr.includes(world.server.token), 'the token is never printed');
    return run;
  }

  function ok(run: ActionRun): ActionRun {
    assert.equal(run.code, 0, `the Action succeeds:\n${run.stdout}\n${run.stderr}`);
    return run;
  }

  /** The state branch's whole event log, in order. */
  function stateEvents(): LoggedEvent[] {
    const files = world.origin.git(['ls-tree', '-r', '--name-only', STATE, 'events/']).split('\n').filter(Boolean).sort();
    return files.flatMap((file) =>
      world.origin
        .git(['show', `${STATE}:${file}`])
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as LoggedEvent),
    );
  }

  function stateFile(path: string): Record<string, unknown> {
    return JSON.parse(world.origin.git(['show', `${STATE}:${path}`])) as Record<string, unknown>;
  }

  function merges(events: LoggedEvent[], change: string): LoggedEvent[] {
    return events.filter((e) => e.type === 'action' && e.kind === 'merge' && e.change === change && e.status === 'done');
  }

  /** Waits until a barrier file's arrivals name `count` processes (the runs hold there before saving their state). */
  async function arrivals(barrier: string, count: number): Promise<void> {
    const deadline = Date.now() + 120_000;
    const seen = () =>
      existsSync(`${barrier}.arrived`) ? readFileSync(`${barrier}.arrived`, 'utf8').split('\n').filter(Boolean).length : 0;
    while (seen() < count) {
      if (Date.now() > deadline) throw new Error(`only ${seen()} of ${count} run(s) reached the barrier ${barrier}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('merges an approved green pull request and keeps its state on buildmaster/state, which the next runner reads', async () => {
    const pr = world.pull('agent/web-feature', { 'web/feature.js': 'export const f = 1;\n' });
    const first = ok(await runAction({ pull: pr }));
    assert.ok(world.merged(pr), 'the approved green pull request merged');
    assert.equal(world.mergesOf(pr), 1);
    assert.deepEqual(JSON.parse(first.outputs.merged ?? '[]'), [`#${pr}`], 'the merged output names it');
    assert.equal(first.outputs.cycle, '1');
    assert.equal(first.outputs.attempts, '1');
    assert.match(first.summary, /## Build Master — cycle 1/);
    assert.match(first.summary, new RegExp(`Merged #${pr}\\.`));
    assert.match(first.stdout, /pull_request_review submitted on #1/, 'the run says what triggered it');

    const firstCommit = world.origin.git(['rev-parse', STATE]).trim();
    assert.equal(first.outputs['state-commit'], firstCommit, 'the state-commit output is the branch head');
    const events = stateEvents();
    assert.equal(merges(events, `#${pr}`).length, 1, 'the state branch holds the event log with the merge');
    assert.ok(Object.hasOwn(stateFile('state.json').merged as object, `#${pr}`), 'and the store with its merge record');
    assert.ok(Object.hasOwn(stateFile('facts.json'), 'facts'), 'facts are kept beside the state');

    // Someone opens a pull request from the state branch itself: it is never taken for a change.
    const fromState = world.pullFrom(STATE, { title: 'merge the state' });
    const mainBefore = world.origin.git(['rev-parse', 'main']).trim();

    // A new runner with an empty workspace: it reads the first run's state and does not redo anything.
    const second = ok(await runAction({ pull: pr }));
    assert.equal(second.outputs.cycle, '2', 'the second run continued from the first run’s state (cycle 2)');
    assert.equal(world.mergesOf(pr), 1, 'nothing merged twice');
    assert.equal(world.merged(fromState), false, 'the state branch’s pull request is not merged');
    const queued = Object.values((stateFile('state.json').lastCycle as { queues: Record<string, { change: string }[]> }).queues).flat();
    assert.ok(
      queued.every((entry) => entry.change !== `#${fromState}`),
      'nor is it a change at all: it is in no lane’s queue (no gate reasons, nothing said about it)',
    );
    assert.ok(
      Object.keys(stateFile('state.json').seen as object).length > 0 &&
        !Object.hasOwn(stateFile('state.json').seen as object, `#${fromState}`),
    );
    assert.equal(world.origin.git(['rev-parse', 'main']).trim(), mainBefore, 'the target did not move');
    assert.deepEqual(JSON.parse(second.outputs.merged ?? '[]'), []);
    const secondCommit = world.origin.git(['rev-parse', STATE]).trim();
    assert.equal(world.origin.git(['rev-parse', `${secondCommit}^`]).trim(), firstCommit, 'the new state commit’s parent is the one read');
    const after = stateEvents();
    assert.deepEqual(after.slice(0, events.length), events, 'the first run’s events are kept as they were');
    const runsLogged = after.filter((e) => e.kind === 'action-run').map((e) => e.message);
    assert.ok(runsLogged.some((m) => m.includes(`run ${1000 + runs - 1}.1`)) && runsLogged.some((m) => m.includes(`run ${1000 + runs}.1`)));
    assert.deepEqual(
      after.map((e) => e.seq),
      after.map((_, i) => i + 1),
      'one log, numbered without gaps or repeats',
    );

    // Every cockpit sees the same state: the CLI in a clone reads the branch.
    const status = await runCli(['status', '--from-ref', '--json', '--repo', world.workspace], {
      env: { GITHUB_TOKEN: world.server.token },
    });
    assert.equal(status.code, 0, status.stderr);
    const doc = JSON.parse(status.stdout) as { cycle: number; lanes: { name: string }[] };
    assert.equal(doc.cycle, 2, 'the state of the Action’s last cycle, not the clone’s (which never ran one)');
    assert.ok(['api', 'docs', 'web'].every((lane) => doc.lanes.some((l) => l.name === lane)));
    const local = await runCli(['status', '--json', '--repo', world.workspace]);
    assert.equal((JSON.parse(local.stdout) as { cycle: number }).cycle, 0, 'without --from-ref the clone’s own (empty) state');
    const log = await runCli(['log', '--from-ref', '--json', '--repo', world.workspace], { env: { GITHUB_TOKEN: world.server.token } });
    assert.equal(log.code, 0, log.stderr);
    assert.equal((JSON.parse(log.stdout) as { events: LoggedEvent[] }).events.length, after.length, 'the whole log, read from the branch');
  });

  for (const existing of [false, true]) {
    it(`two runs racing on the state branch (${existing ? 'updating it' : 'creating it'}): one saves, the other re-reads and retries, nothing is lost`, async () => {
      if (existing) ok(await runAction());
      const web = world.pull('agent/web-a', { 'web/a.js': 'export const a = 1;\n' });
      const api = world.pull('agent/api-b', { 'api/b.js': 'export const b = 1;\n' });
      const base = existing ? world.origin.git(['rev-parse', STATE]).trim() : undefined;

      // Run A merges both lanes' changes and holds just before it saves its state.
      const barrierA = join(scratch, 'barrier-a');
      const a = startAction({ pull: web, env: { BUILDMASTER_TEST_STATE_BARRIER: barrierA } });
      await arrivals(barrierA, 1);
      assert.ok(world.merged(web) && world.merged(api), 'run A acted');
      // A third change arrives; run B reads the same state A read (A has not saved) and merges it.
      const late = world.pull('agent/web-c', { 'web/c.js': 'export const c = 1;\n' });
      const barrierB = join(scratch, 'barrier-b');
      const b = startAction({ pull: late, env: { BUILDMASTER_TEST_STATE_BARRIER: barrierB } });
      await arrivals(barrierB, 1);
      assert.ok(world.merged(late), 'run B acted on the same stale state');

      // A saves first; then B, whose compare-and-swap fails: it must re-read A's state and run again.
      writeFileSync(barrierA, '');
      const ranA = ok(await a.done);
      assert.equal(ranA.outputs.attempts, '1');
      const commitA = world.origin.git(['rev-parse', STATE]).trim();
      if (base) assert.equal(world.origin.git(['rev-parse', `${commitA}^`]).trim(), base);
      writeFileSync(barrierB, '');
      const ranB = ok(await b.done);
      assert.equal(ranB.outputs.attempts, '2', `run B lost the race once and retried:\n${ranB.stdout}`);
      assert.match(ranB.stdout, /lost the race for buildmaster\/state/);
      const commitB = world.origin.git(['rev-parse', STATE]).trim();
      assert.equal(
        world.origin.git(['rev-parse', `${commitB}^`]).trim(),
        commitA,
        'B’s state commit follows A’s: A’s state was not overwritten',
      );

      for (const pr of [web, api, late]) assert.equal(world.mergesOf(pr), 1, `#${pr} merged exactly once`);
      const events = stateEvents();
      for (const pr of [web, api, late]) assert.equal(merges(events, `#${pr}`).length, 1, `the log holds #${pr}'s merge once`);
      const runsLogged = events.filter((e) => e.kind === 'action-run').map((e) => e.message);
      assert.ok(
        runsLogged.some((m) => m.includes(`run ${a.id}.1`)),
        'run A’s events are in the log',
      );
      assert.ok(
        runsLogged.some((m) => m.includes(`run ${b.id}.1`) && !m.includes('attempt')) &&
          runsLogged.some((m) => m.includes(`run ${b.id}.1`) && m.includes('attempt 2')),
        'run B’s first attempt’s events were carried over, and its second attempt logged too',
      );
      assert.equal(events.filter((e) => e.kind === 'state-race').length, 1, 'the lost race is on record');
      assert.deepEqual(
        events.map((e) => e.seq),
        events.map((_, i) => i + 1),
        'one log, numbered without gaps or repeats',
      );
      const merged = stateFile('state.json').merged as Record<string, unknown>;
      for (const pr of [web, api, late]) assert.ok(Object.hasOwn(merged, `#${pr}`), `the state records #${pr}'s merge`);
    });
  }

  it('takes operator commands given from a clone on the state branch: a hold stops the next run, a release lets it merge', async () => {
    ok(await runAction());
    const cli = (args: string[]) =>
      runCli([...args, '--from-ref', '--repo', world.workspace], { env: { GITHUB_TOKEN: world.server.token } });
    const hold = await cli(['hold', '--reason', 'release freeze']);
    assert.equal(hold.code, 0, hold.stderr);
    assert.match(hold.stdout, /saved on the state branch/);

    const pr = world.pull('agent/web-frozen', { 'web/frozen.js': 'export const z = 1;\n' });
    const held = ok(await runAction({ pull: pr }));
    assert.equal(world.merged(pr), false, 'the hold given from the clone stops the Action');
    assert.match(held.stdout, /^::warning::global hold in force/m);
    assert.ok(
      stateEvents().some((e) => e.type === 'operator' && e.kind === 'hold'),
      'the hold is in the shared log',
    );

    const release = await cli(['release', '--ack']);
    assert.equal(release.code, 0, release.stderr);
    ok(await runAction({ pull: pr }));
    assert.ok(world.merged(pr), 'released: the next run merges');
  });

  it('finds the policy in .github/buildmaster.yml, and uses the default branch’s even when the workspace holds another', async () => {
    world.server.push('main', { '.buildmaster.yml': null, '.github/buildmaster.yml': githubPolicy(world.server.url) }, 'move the policy');
    const pr = world.pull('agent/web-moved', { 'web/moved.js': 'export const y = 1;\n' });
    // A pull_request run's checkout holds the pull request's version of the policy: it is not used.
    const workspace = mkdtempSync(join(scratch, 'checkout-'));
    mkdirSync(join(workspace, '.github'));
    writeFileSync(join(workspace, '.github/buildmaster.yml'), 'target: main\nmerge:\n  required_approvals: 5\n');
    const run = ok(await runAction({ pull: pr, env: { GITHUB_WORKSPACE: workspace } }));
    assert.match(run.stdout, /^::notice::the checked-out \.github\/buildmaster\.yml differs from the default branch's/m);
    assert.ok(world.merged(pr), 'merged with the one approval the default branch’s policy asks for (the checkout’s asks for 5)');
  });

  it('a dry run acts on nothing and saves nothing', async () => {
    const pr = world.pull('agent/web-dry', { 'web/dry.js': 'export const d = 1;\n' });
    const run = ok(await runAction({ pull: pr, inputs: { 'dry-run': 'true' } }));
    assert.equal(world.merged(pr), false);
    assert.equal(world.origin.tryGit(['rev-parse', '--verify', '--quiet', STATE]), undefined, 'no state branch was written');
    assert.match(run.stdout, /dry run: nothing acted on or saved/);
  });

  it('a review on a pull request from a fork (a read-only token, no secrets) acts on nothing and says why', async () => {
    world.server.pushFork('mallory/app', 'feature', { 'web/fork.js': 'export const m = 1;\n' });
    const pr = world.server.openPull({ head: 'feature', fork: 'mallory/app', title: 'from a fork' });
    world.server.review(pr, 'alice', 'APPROVED');
    // Secrets are not given to such a run: the token input arrives empty, and that is no error here.
    const run = ok(await runAction({ pull: pr, fork: 'mallory/app', inputs: { token: '' } }));
    assert.match(
      run.stdout,
      /^::notice::pull_request_review on a pull request from the fork mallory\/app: GitHub gives this run a read-only token/m,
    );
    assert.match(run.outputs.summary ?? '', /^skipped: /);
    assert.equal(world.merged(pr), false);
    assert.equal(world.server.requests.length, 0, 'it did not even call GitHub');
  });

  it('refuses bad input with an ::error:: line and a non-zero exit, acting on nothing', async () => {
    const pr = world.pull('agent/web-bad', { 'web/bad.js': 'export const x = 1;\n' });
    const cases: { inputs?: Record<string, string>; env?: Record<string, string>; error: RegExp }[] = [
      { inputs: { token: '' }, error: /^::error::no token: the `token` input is empty/m },
      {
        inputs: { policy: 'missing/policy.yml' },
        error: /^::error::no policy file missing\/policy\.yml on the default branch of acme\/app/m,
      },
      { inputs: { policy: '../outside.yml' }, error: /^::error::input policy "\.\.\/outside\.yml" must be a path inside the repository/m },
      { inputs: { 'dry-run': 'maybe' }, error: /^::error::input dry-run must be true or false, not "maybe"/m },
      { inputs: { 'state-ref': 'main' }, error: /^::error::state-ref "main" is not a Build Master state branch/m },
      { env: { GITHUB_REPOSITORY: '' }, error: /^::error::GITHUB_REPOSITORY is "", not owner\/name/m },
      { inputs: { token: 'ghs_wrong' }, error: /^::error::.*401 Bad credentials/m },
    ];
    for (const c of cases) {
      const run = await runAction({ pull: pr, ...(c.inputs ? { inputs: c.inputs } : {}), ...(c.env ? { env: c.env } : {}) });
      assert.notEqual(run.code, 0, `exits non-zero for ${JSON.stringify(c)}`);
      assert.match(run.stdout, c.error);
      assert.doesNotMatch(run.stdout, /\n\s+at /, 'no stack trace for a user mistake');
      assert.match(run.summary, /^## Build Master did not run its cycle/, 'the job summary says so too');
      assert.ok(!run.stdout.includes('ghs_wrong'), 'no token is printed, not even a wrong one');
    }
    // An invalid policy on the default branch: each problem annotated on its line.
    world.server.push('main', { '.buildmaster.yml': 'target: main\nmerge:\n  method: rebase-please\n' }, 'break the policy');
    const invalid = await runAction({ pull: pr });
    assert.equal(invalid.code, 2);
    assert.match(invalid.stdout, /^::error file=\.buildmaster\.yml,line=3,col=\d+::/m);
    assert.match(invalid.stdout, /^::error::the policy \.buildmaster\.yml is invalid/m);
    assert.equal(world.merged(pr), false, 'nothing acted');
    assert.equal(world.origin.tryGit(['rev-parse', '--verify', '--quiet', STATE]), undefined, 'nothing saved');
  });
});

describe('the state branch through the git data API (the test server’s real git underneath)', function () {
  this.timeout(120_000);
  let world: GitHubWorld;

  beforeEach(async () => {
    world = await GitHubWorld.start();
  });

  afterEach(async () => {
    assert.deepEqual(world.server.violations, [], 'every response conforms to GitHub’s OpenAPI description');
    await world.stop();
  });

  function backend(inlineLimit?: number): GitHubStateBackend {
    const client = createClient({
      baseUrl: world.server.url,
      token: world.server.token,
      cache: new ResponseCache(),
      log: () => undefined,
      writeIntervalMs: 0,
      retryAfterBaseMs: 10,
    });
    return new GitHubStateBackend(client.api, { owner: 'acme', repo: 'app' }, STATE, 'main', inlineLimit);
  }

  it('writes files as blobs or inside the tree, reads them back byte for byte, and moves the branch only from the commit read', async () => {
    const store = backend(0); // every file a blob of its own (POST/GET /git/blobs)
    const empty = await store.load();
    assert.equal(empty.commit, undefined, 'no branch yet');
    const text = 'ünïcödé ✓\nline two\n';
    const first = await store.save(empty, new Map([['state.json', text]]), 'first');
    assert.equal(first.kind, 'written');
    const read = await store.load();
    assert.equal(await read.read('state.json'), text);
    assert.equal(world.origin.git(['show', `${STATE}:state.json`]), text, 'real git holds it');

    // Two writers from the same commit: the first moves the branch, the second is told it lost (422, not a fast forward).
    const inline = backend();
    const a = await inline.save(read, new Map([['state.json', 'a\n']]), 'a');
    assert.equal(a.kind, 'written');
    const b = await store.save(read, new Map([['state.json', 'b\n']]), 'b');
    assert.deepEqual(b, { kind: 'lost', why: `${STATE} moved since it was read (Update is not a fast forward)` });
    assert.equal(world.origin.git(['show', `${STATE}:state.json`]), 'a\n', 'the winner’s state stands');
    // Two writers creating it: the second finds it exists (422 Reference already exists) and loses.
    world.origin.git(['update-ref', '-d', `refs/heads/${STATE}`]);
    world.server.refsChanged();
    const none = await store.load();
    assert.equal((await inline.save(none, new Map([['state.json', 'c\n']]), 'c')).kind, 'written');
    const late = await store.save(none, new Map([['state.json', 'd\n']]), 'd');
    assert.match(late.kind === 'lost' ? late.why : '', /Reference already exists/);
    // Nothing changed: no commit.
    assert.equal((await inline.save(await inline.load(), new Map([['state.json', 'c\n']]), 'same')).kind, 'unchanged');
  });

  it('refuses to keep state on the target or on any branch that is not a state branch', () => {
    const client = createClient({ baseUrl: world.server.url, token: world.server.token, cache: new ResponseCache(), log: () => undefined });
    assert.throws(() => new GitHubStateBackend(client.api, { owner: 'acme', repo: 'app' }, 'main', 'main'), /not a state branch/);
    assert.throws(
      () => new GitHubStateBackend(client.api, { owner: 'acme', repo: 'app' }, 'buildmaster/fix/x', 'main'),
      /not a state branch/,
    );
  });
});

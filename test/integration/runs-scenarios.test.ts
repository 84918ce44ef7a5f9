// Runs end to end, the scenarios of issue 13's Tests beyond the 12-row progress file (runs.test.ts):
// scope violations, repair and escalation, hedging, budgets, approvals and the kill switch, crash and
// resume at every checkpoint, and bad input. The real CLI drives the scripted agent
// (fixtures/agent/scripted-agent.mjs) in a real git repository; tests wait on states, never on sleeps.
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, runCli, type CliResult } from '../support/cli';
import { Sandbox } from '../support/sandbox';
import { agentCommand, alive, invocations, runsPolicy as policy } from '../support/agent';

interface StoredTask {
  id: string;
  status: string;
  stage?: string;
  worker_class?: string;
  attempts: number;
  branch?: string;
  row?: string;
  hedge_of?: string;
  repair_of?: string;
  pid?: number;
  worktree?: string;
  result?: { error?: string; usage: { usd: number } };
}

interface StoredRun {
  id: string;
  status: string;
  tasks: StoredTask[];
  decisions?: { kind: string; task?: string; worker_class?: string; rationale: string }[];
  handoff?: { why: string; done: unknown[]; left: { task: string; note: string }[] };
  gates?: { step: string; status: string; approval: string }[];
}

function worker(name: string, script: string, more = ''): string {
  return `    - name: ${name}\n      command: ${JSON.stringify(agentCommand(script))}\n${more}`;
}

/** Waits for a state, polling; the deadline is generous so a busy machine only makes it slower. */
async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

/** The CLI started in the background (a driver to kill), with its output and exit collected. */
function background(args: string[], cwd: string): { child: ChildProcess; exit: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<CliResult>((done) => child.on('close', (code, signal) => done({ code, signal, stdout, stderr })));
  return { child, exit };
}

describe('runs: scenarios end to end', function () {
  this.timeout(300_000);
  let sandbox: Sandbox | undefined;
  let work: string;
  beforeEach(() => {
    sandbox = undefined;
    work = mkdtempSync(join(tmpdir(), 'bm-runs-sc-'));
  });
  afterEach(() => {
    // Whatever a failed test left running is stopped (its agents log their pids).
    for (const line of invocations(join(work, 'agent.log'))) if (alive(line.pid)) process.kill(line.pid, 'SIGKILL');
    sandbox?.remove();
    rmSync(work, { recursive: true, force: true });
  });

  const box = (): Sandbox => {
    assert.ok(sandbox);
    return sandbox;
  };
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
    runCli(args, { cwd: box().dir, timeoutMs: 240_000, env });
  const show = async (id: string): Promise<StoredRun> => {
    const result = await cli(['run', 'show', id, '--json']);
    assert.equal(result.code, 0, result.stderr);
    return (JSON.parse(result.stdout) as { run: StoredRun }).run;
  };
  const script = (name: string, entries: Record<string, unknown>): string => {
    const path = join(work, name);
    writeFileSync(path, JSON.stringify(entries));
    return path;
  };
  const progress = (rows: Record<string, unknown>[]): string => JSON.stringify({ rows }, null, 2);
  const taskWorktrees = (): string[] =>
    box()
      .git('worktree', 'list', '--porcelain')
      .split('\n')
      .filter((line) => line.startsWith('worktree ') && /buildmaster\/worktrees\/task-/.test(line));
  const taskBranches = (): string[] =>
    box().git('branch', '--list', 'buildmaster/task/*', '--format=%(refname:short)').split('\n').filter(Boolean);

  it('a worker that writes outside its write scope is rejected: the error names the path, no task branch, nothing reaches main', async () => {
    const log = join(work, 'agent.log');
    const s = script('script.json', {
      w1: { files: { 'web/ok.txt': 'ok\n' }, outside: { 'api/sneaky.txt': 'sneaky\n' }, log },
    });
    sandbox = new Sandbox({
      '.buildmaster.yml': policy(`  profile: staging-aggressive\n  repair_tasks: false\n  workers:\n${worker('code', s)}`),
      'web/index.txt': 'web\n',
      'api/index.txt': 'api\n',
      'progress.json': progress([{ id: 'w1', phase: 1, write_scope: ['web/**'], lane: 'web' }]),
    });
    const result = await cli(['run', '--progress', 'progress.json']);
    assert.equal(result.code, 1, `${result.stdout}\n${result.stderr}`);
    const run = await show('r1');
    assert.equal(run.status, 'failed');
    const task = run.tasks.find((t) => t.id === 'w1');
    assert.equal(task?.status, 'failed');
    assert.match(task.result?.error ?? '', /api\/sneaky\.txt/, 'the error names the path outside the scope');
    assert.deepEqual(taskBranches(), [], 'no task branch exists');
    assert.throws(() => box().git('cat-file', '-e', 'main:api/sneaky.txt'));
    assert.throws(() => box().git('cat-file', '-e', 'main:web/ok.txt'), 'nothing of the rejected result reaches main');
    assert.deepEqual(taskWorktrees(), []);
  });

  it('a worker that fails its tests is repaired once and merged', async () => {
    const log = join(work, 'agent.log');
    const s = script('script.json', { w1: { files: { 'web/w1.txt': 'w1\n' }, fail_until_repair: 'web/BROKEN', log } });
    sandbox = new Sandbox({
      '.buildmaster.yml': policy(`  profile: staging-aggressive\n  workers:\n${worker('code', s)}`),
      'web/index.txt': 'web\n',
      'progress.json': progress([{ id: 'w1', phase: 1, write_scope: ['web/**'], lane: 'web', test_commands: ['test ! -e web/BROKEN'] }]),
    });
    const result = await cli(['run', '--progress', 'progress.json']);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    const run = await show('r1');
    assert.equal(run.status, 'completed');
    const starts = invocations(log).filter((l) => l.event !== 'end');
    assert.deepEqual(
      starts.map((l) => l.repair),
      [false, true],
      'one attempt, then one repair',
    );
    assert.equal(box().git('show', 'main:web/w1.txt'), 'w1');
    assert.throws(() => box().git('cat-file', '-e', 'main:web/BROKEN'), 'the broken file never reaches main');
  });

  it('a worker that fails its tests again after its repair fails the task, and the run ends failed with a hand-off naming it', async () => {
    const log = join(work, 'agent.log');
    const s = script('script.json', { w1: { files: { 'web/w1.txt': 'w1\n' }, fail_always: 'web/BROKEN', log } });
    sandbox = new Sandbox({
      '.buildmaster.yml': policy(`  profile: staging-aggressive\n  repair_tasks: false\n  workers:\n${worker('code', s)}`),
      'web/index.txt': 'web\n',
      'progress.json': progress([{ id: 'w1', phase: 1, write_scope: ['web/**'], lane: 'web', test_commands: ['test ! -e web/BROKEN'] }]),
    });
    const result = await cli(['run', '--progress', 'progress.json']);
    assert.equal(result.code, 1, `${result.stdout}\n${result.stderr}`);
    const run = await show('r1');
    assert.equal(run.status, 'failed');
    assert.equal(run.tasks.find((t) => t.id === 'w1')?.status, 'failed');
    const starts = invocations(log).filter((l) => l.event !== 'end');
    assert.deepEqual(
      starts.map((l) => l.repair),
      [false, true],
      'repaired exactly once, then escalated',
    );
    assert.ok(run.handoff, 'a hand-off summary');
    assert.ok(
      run.handoff.left.some((l) => l.task === 'w1'),
      `the hand-off names the failed task: ${JSON.stringify(run.handoff)}`,
    );
    assert.deepEqual(taskBranches(), []);
    assert.throws(() => box().git('cat-file', '-e', 'main:web/w1.txt'));
  });

  it('a straggler is hedged on the other class: the hedge merges, the loser is killed and its worktree removed, long before the straggler would end', async () => {
    const log = join(work, 'agent.log');
    // Keyed by the task's type: the hedge is a task of its own (w1~h1) doing w1's work.
    const slow = script('slow.json', { code: { files: { 'web/w1.txt': 'slow\n' }, sleep_ms: 120_000, log } });
    const fast = script('fast.json', { code: { files: { 'web/w1.txt': 'fast\n' }, log } });
    sandbox = new Sandbox({
      '.buildmaster.yml': policy(
        `  profile: staging-aggressive\n  max_agents: 2\n  hedge_after: 1s\n  router: { default: slow }\n  workers:\n${worker('slow', slow)}${worker('fast', fast)}`,
      ),
      'web/index.txt': 'web\n',
      'progress.json': progress([{ id: 'w1', phase: 1, write_scope: ['web/**'], lane: 'web' }]),
    });
    const started = Date.now();
    const result = await cli(['run', '--progress', 'progress.json']);
    const took = Date.now() - started;
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.ok(took < 100_000, `the run completed long before the straggler's sleep (${took} ms)`);
    const run = await show('r1');
    assert.equal(run.status, 'completed');
    const hedge = run.tasks.find((t) => t.hedge_of === 'w1');
    assert.ok(hedge, 'a hedge of w1 ran');
    assert.equal(hedge.worker_class, 'fast', 'the hedge ran on the other class');
    assert.equal(run.tasks.find((t) => t.id === 'w1')?.worker_class, 'slow');
    assert.equal(box().git('show', 'main:web/w1.txt'), 'fast', 'the hedge result merged');
    const lines = invocations(log);
    const loser = lines.find((l) => l.event !== 'end' && !lines.some((e) => e.event === 'end' && e.pid === l.pid));
    assert.ok(loser, `the straggler never ended on its own: ${JSON.stringify(lines)}`);
    assert.equal(alive(loser.pid), false, "the loser's process is gone");
    assert.deepEqual(taskWorktrees(), [], "the loser's worktree is removed");
  });

  it('a run that would exceed its USD cap stops with a hand-off summary (exit 1)', async () => {
    const log = join(work, 'agent.log');
    const row = (file: string) => ({ files: { [file]: 'x\n' }, usage: { tokens_in: 1000, tokens_out: 1000, usd: 0.6 }, log });
    const s = script('script.json', { w1: row('web/w1.txt'), w2: row('web/w2.txt'), w3: row('web/w3.txt') });
    sandbox = new Sandbox({
      '.buildmaster.yml': policy(`  profile: staging-aggressive\n  workers:\n${worker('code', s)}`),
      'web/index.txt': 'web\n',
      'progress.json': progress([
        { id: 'w1', phase: 1, write_scope: ['web/w1.txt'], lane: 'web' },
        { id: 'w2', phase: 1, write_scope: ['web/w2.txt'], lane: 'web', blocked_by: ['w1'] },
        { id: 'w3', phase: 1, write_scope: ['web/w3.txt'], lane: 'web', blocked_by: ['w2'] },
      ]),
    });
    const result = await cli(['run', '--progress', 'progress.json', '--usd', '1']);
    assert.equal(result.code, 1, `${result.stdout}\n${result.stderr}`);
    const run = await show('r1');
    assert.equal(run.status, 'failed');
    assert.ok(run.handoff, 'a hand-off summary');
    assert.match(run.handoff.why, /budget|usd|\$/i, run.handoff.why);
    assert.ok(
      run.handoff.left.some((l) => l.task === 'w3'),
      `what is left is listed: ${JSON.stringify(run.handoff.left)}`,
    );
    const spent = run.tasks.reduce((sum, t) => sum + (t.result?.usage.usd ?? 0), 0);
    assert.ok(spent <= 1.2 + 1e-9, `the run stopped at the cap, not after it (spent ${spent})`);
    assert.ok(invocations(log).filter((l) => l.event !== 'end').length < 3, 'not every task ran');
  });

  it('past degrade_at the router routes to the cheaper class', async () => {
    const log = join(work, 'agent.log');
    const row = (file: string, usd: number) => ({ files: { [file]: 'x\n' }, usage: { tokens_in: 1000, tokens_out: 1000, usd }, log });
    const entries = (usd: number) => ({
      w1: row('web/w1.txt', usd),
      w2: row('web/w2.txt', usd),
      v1: row('web/v1.txt', usd),
      v2: row('web/v2.txt', usd),
    });
    const premium = script('premium.json', entries(6));
    const cheap = script('cheap.json', entries(1));
    const rows = (a: string, b: string) =>
      progress([
        { id: a, phase: 1, write_scope: [`web/${a}.txt`], lane: 'web' },
        { id: b, phase: 1, write_scope: [`web/${b}.txt`], lane: 'web', blocked_by: [a] },
      ]);
    sandbox = new Sandbox({
      '.buildmaster.yml': policy(
        `  profile: staging-aggressive\n  degrade_at: 0.5\n  workers:\n${worker('premium', premium, '      cost_rank: 2\n')}${worker('cheap', cheap, '      cost_rank: 1\n')}`,
      ),
      'web/index.txt': 'web\n',
      'far.json': rows('w1', 'w2'),
      'near.json': rows('v1', 'v2'),
    });
    const routed = (run: StoredRun, task: string) => run.decisions?.find((d) => d.kind === 'start' && d.task === task)?.worker_class;
    // Far from its cap ($12 of $100), a run keeps the default class.
    const far = await cli(['run', '--progress', 'far.json', '--usd', '100']);
    assert.equal(far.code, 0, `${far.stdout}\n${far.stderr}`);
    const first = await show('r1');
    assert.equal(first.status, 'completed');
    assert.deepEqual([routed(first, 'w1'), routed(first, 'w2')], ['premium', 'premium'], 'with a budget far from its cap, no degrade');
    // Past half of $10 after its first task, the next task goes to the cheaper class.
    const near = await cli(['run', '--progress', 'near.json', '--usd', '10']);
    const run = await show('r2');
    assert.equal(near.code, 0, `${near.stdout}\n${near.stderr}`);
    assert.equal(run.status, 'completed');
    assert.equal(routed(run, 'v1'), 'premium', 'below the threshold: the default class');
    assert.equal(routed(run, 'v2'), 'cheap', `past degrade_at: the cheaper class (${JSON.stringify(run.decisions)})`);
    assert.match(run.decisions?.find((d) => d.kind === 'start' && d.task === 'v2')?.rationale ?? '', /degrade/);
  });

  it('prod-conservative: a ticket stops for approval of apply, status lists it, approve then resume completes', async () => {
    const log = join(work, 'agent.log');
    const s = script('script.json', {
      spec: { files: { 'docs/specs/greeting.md': 'spec\n' }, log },
      code: { files: { 'notes/code.txt': 'code\n' }, log },
      tests: { files: { 'notes/tests.txt': 'tests\n' }, log },
      docs: { files: { 'docs/docs.md': 'docs\n' }, log },
    });
    sandbox = new Sandbox({
      '.buildmaster.yml': policy(`  workers:\n${worker('code', s)}`),
      'web/index.txt': 'web\n',
    });
    const result = await cli(['run', '--ticket', 'Add a greeting']);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout + result.stderr, /approve --run r1 --step apply/);
    assert.equal((await show('r1')).status, 'awaiting-approval');
    assert.deepEqual(invocations(log), [], 'no worker starts before apply is approved');
    const status = await cli(['status']);
    assert.match(status.stdout, /run-r1-apply|approve --run r1 --step apply/, status.stdout);
    const approved = await cli(['approve', '--run', 'r1', '--step', 'apply']);
    assert.equal(approved.code, 0, `${approved.stdout}\n${approved.stderr}`);
    // prod-conservative merges tier 1 results by itself (A3); a tier 2 result (the code task's) waits for its own
    // approval, named in run's output: each is approved, and run --resume goes on, until the run completes.
    let run = await show('r1');
    const asked: string[] = [];
    for (let round = 0; round < 8; round++) {
      const resumed = await cli(['run', '--resume', 'r1']);
      assert.equal(resumed.code, 0, `${resumed.stdout}\n${resumed.stderr}`);
      run = await show('r1');
      if (run.status !== 'awaiting-approval') break;
      const next = /approve --run r1 --step merge --task (\S+)/.exec(resumed.stdout + resumed.stderr);
      assert.ok(next, `a waiting run names the command that approves it: ${resumed.stdout}\n${resumed.stderr}`);
      asked.push(next[1] ?? '');
      assert.equal((await cli(['approve', '--run', 'r1', '--step', 'merge', '--task', next[1] ?? ''])).code, 0);
    }
    assert.equal(run.status, 'completed', JSON.stringify(run.decisions?.slice(-6)));
    assert.ok(!asked.includes('spec') && !asked.includes('docs'), `tier 1 results merge without a person: ${asked.join(', ')}`);
    assert.deepEqual(
      invocations(log)
        .filter((l) => l.event !== 'end')
        .map((l) => l.task),
      ['spec', 'code', 'tests', 'docs'],
      'each task ran once, in order',
    );
    for (const [file, text] of Object.entries({
      'docs/specs/greeting.md': 'spec',
      'notes/code.txt': 'code',
      'notes/tests.txt': 'tests',
      'docs/docs.md': 'docs',
    }))
      assert.equal(box().git('show', `main:${file}`), text);
  });

  it('kill --run from another process stops a live worker: its process is gone, its worktree removed, the run killed, the driver exits', async () => {
    const log = join(work, 'agent.log');
    const s = script('script.json', { w1: { files: { 'web/w1.txt': 'w1\n' }, sleep_ms: 120_000, log } });
    sandbox = new Sandbox({
      '.buildmaster.yml': policy(`  profile: staging-aggressive\n  workers:\n${worker('code', s)}`),
      'web/index.txt': 'web\n',
      'progress.json': progress([{ id: 'w1', phase: 1, write_scope: ['web/**'], lane: 'web' }]),
    });
    const driver = background(['run', '--progress', 'progress.json'], box().dir);
    const running = await until('a running task with a pid', async () => {
      const result = await runCli(['run', 'show', 'r1', '--json'], { cwd: box().dir });
      if (result.code !== 0) return undefined;
      const run = (JSON.parse(result.stdout) as { run: StoredRun }).run;
      return run.tasks.find((t) => t.status === 'running' && t.pid !== undefined && t.worktree !== undefined);
    });
    const agentPid = await until('the agent to start', () => invocations(log).find((l) => l.task === 'w1')?.pid);
    const killed = await cli(['kill', '--run', 'r1']);
    assert.equal(killed.code, 0, `${killed.stdout}\n${killed.stderr}`);
    const exit = await Promise.race([driver.exit, new Promise<undefined>((done) => setTimeout(() => done(undefined), 60_000))]);
    assert.ok(exit, 'the backgrounded driver exits');
    assert.equal(alive(agentPid), false, 'the agent process is gone');
    if (running.pid !== undefined) assert.equal(alive(running.pid), false);
    assert.equal(existsSync(running.worktree ?? ''), false, 'its worktree is removed');
    assert.deepEqual(taskWorktrees(), []);
    const run = await show('r1');
    assert.equal(run.status, 'killed');
    assert.equal(
      invocations(log).some((l) => l.event === 'end'),
      false,
      'the agent never finished',
    );
  });

  describe('crash and resume', () => {
    const files = { w1: 'web/w1.txt', w2: 'web/w2.txt', a1: 'api/a1.txt' } as const;
    const setup = (sleep: number) => {
      const log = join(work, 'agent.log');
      const s = script(
        'script.json',
        Object.fromEntries(Object.entries(files).map(([task, file]) => [task, { files: { [file]: `${task}\n` }, log, sleep_ms: sleep }])),
      );
      sandbox = new Sandbox({
        '.buildmaster.yml': policy(`  profile: staging-aggressive\n  max_agents: 2\n  workers:\n${worker('code', s)}`),
        'web/index.txt': 'web\n',
        'api/index.txt': 'api\n',
        'progress.json': progress([
          { id: 'w1', phase: 1, write_scope: ['web/w1.txt'], lane: 'web' },
          { id: 'a1', phase: 1, write_scope: ['api/**'], lane: 'api' },
          { id: 'w2', phase: 1, write_scope: ['web/w2.txt'], lane: 'web', blocked_by: ['w1'] },
        ]),
      });
      return log;
    };
    const afterResume = async (log: string, context: string) => {
      const resumed = await cli(['run', '--resume', 'r1']);
      const run = await show('r1');
      assert.equal(
        resumed.code,
        0,
        `${context}: ${resumed.stdout}\n${resumed.stderr}\n${JSON.stringify(run.decisions?.slice(-8), null, 2)}`,
      );
      assert.equal(run.status, 'completed', context);
      const lines = invocations(log);
      for (const task of Object.keys(files)) {
        const ends = lines.filter((l) => l.event === 'end' && l.task === task).length;
        assert.ok(ends <= 1, `${context}: ${task}'s agent completed ${ends} times`);
      }
      for (const [task, file] of Object.entries(files)) {
        assert.equal(box().git('show', `main:${file}`), task, `${context}: ${task}'s result reached main`);
        const commits = box().git('log', '--format=%H', 'main', '--', file).split('\n').filter(Boolean);
        assert.equal(commits.length, 1, `${context}: ${file} came into main once`);
      }
      assert.deepEqual(
        run.tasks
          .filter((t) => t.status === 'completed')
          .map((t) => t.id)
          .sort(),
        Object.keys(files).sort(),
        context,
      );
      assert.deepEqual(taskWorktrees(), [], `${context}: no orphaned worktree`);
      const orphans = lines.filter((l) => l.event !== 'end' && alive(l.pid));
      assert.deepEqual(orphans, [], `${context}: no orphaned agent process`);
    };

    for (const point of ['run:after-advance', 'run:after-worker', 'run:after-promote', 'after:merge']) {
      it(`SIGKILL at ${point}, then run --resume: nothing runs twice, nothing lost, nothing orphaned`, async () => {
        const log = setup(0);
        const crashed = await cli(['run', '--progress', 'progress.json'], { BUILDMASTER_TEST_CRASH_AT: point });
        assert.equal(crashed.signal, 'SIGKILL', `the crash point ${point} was reached: ${crashed.stdout}\n${crashed.stderr}`);
        await afterResume(log, point);
      });
    }

    it('SIGKILL of the driver while agents run, then run --resume: nothing runs twice, nothing lost, nothing orphaned', async () => {
      const log = setup(3_000);
      const driver = background(['run', '--progress', 'progress.json'], box().dir);
      await until('two agents at work', () => (invocations(log).filter((l) => l.event !== 'end').length >= 2 ? true : undefined));
      driver.child.kill('SIGKILL');
      await driver.exit;
      await afterResume(log, 'random SIGKILL');
    });
  });

  describe('bad input: exit 2 with the line and the reason', () => {
    const base = (runs: string, more: Record<string, string> = {}) => {
      sandbox = new Sandbox({ '.buildmaster.yml': policy(runs), 'web/index.txt': 'web\n', ...more });
    };
    const code = `  workers:\n    - name: code\n      command: "true"\n`;
    const bad = (result: CliResult, pattern: RegExp) => {
      assert.equal(result.code, 2, `${result.stdout}\n${result.stderr}`);
      assert.match(result.stdout + result.stderr, pattern);
      assert.doesNotMatch(result.stderr, /\n\s+at .*\(.*:\d+:\d+\)/, 'no stack trace');
    };

    it('a malformed progress file names its line', async () => {
      base(code, { 'progress.json': '{\n  "rows": [\n    { "id": "w1", "phase": "one" }\n  ]\n}\n' });
      bad(await cli(['run', '--progress', 'progress.json']), /progress\.json.*(line )?3|:3\b/i);
      assert.notEqual((await cli(['run', 'show', 'r1', '--json'])).code, 0, 'no run is created');
    });

    it('a blocked_by cycle', async () => {
      base(code, {
        'progress.json': progress([
          { id: 'a', phase: 1, blocked_by: ['b'] },
          { id: 'b', phase: 1, blocked_by: ['a'] },
        ]),
      });
      bad(await cli(['run', '--progress', 'progress.json']), /cycle/i);
    });

    it('an unknown profile', async () => {
      base(code, { 'progress.json': progress([{ id: 'w1', phase: 1 }]) });
      bad(await cli(['run', '--progress', 'progress.json', '--profile', 'yolo']), /yolo/);
    });

    for (const [what, rules, pattern] of [
      [
        'a router rule that does not compile',
        `  router:\n    rules:\n      - { when: "task.type ==", use: code }\n`,
        /when|compile|parse/i,
      ],
      ['a router rule naming an unknown worker class', `  router:\n    rules:\n      - { when: "true", use: premium }\n`, /premium/],
    ] as const) {
      it(`${what}: refused by run and by validate, with its line`, async () => {
        base(`${code}${rules}`, { 'progress.json': progress([{ id: 'w1', phase: 1 }]) });
        const line = /\.buildmaster\.yml:\d+|line \d+/i;
        const viaRun = await cli(['run', '--progress', 'progress.json']);
        bad(viaRun, pattern);
        assert.match(viaRun.stdout + viaRun.stderr, line);
        const viaValidate = await cli(['validate']);
        bad(viaValidate, pattern);
        assert.match(viaValidate.stdout + viaValidate.stderr, line);
      });
    }

    it('a policy with no runs.workers', async () => {
      base(`  max_agents: 1\n`, { 'progress.json': progress([{ id: 'w1', phase: 1 }]) });
      bad(await cli(['run', '--progress', 'progress.json', '--profile', 'staging-aggressive']), /workers/);
    });

    it('--usd abc', async () => {
      base(code, { 'progress.json': progress([{ id: 'w1', phase: 1 }]) });
      bad(await cli(['run', '--progress', 'progress.json', '--usd', 'abc']), /--usd.*abc|abc.*--usd/);
    });

    it('approve of an unknown run', async () => {
      base(code);
      bad(await cli(['approve', '--run', 'r9', '--step', 'apply']), /r9/);
    });

    it('retry of a completed task', async () => {
      const s = script('script.json', { w1: { files: { 'web/w1.txt': 'w1\n' } } });
      sandbox = new Sandbox({
        '.buildmaster.yml': policy(`  profile: staging-aggressive\n  workers:\n${worker('code', s)}`),
        'web/index.txt': 'web\n',
        'progress.json': progress([{ id: 'w1', phase: 1, write_scope: ['web/**'], lane: 'web' }]),
      });
      assert.equal((await cli(['run', '--progress', 'progress.json'])).code, 0);
      bad(await cli(['retry', 'w1', '--run', 'r1']), /w1.*completed|completed.*w1/);
      assert.equal((await show('r1')).tasks.find((t) => t.id === 'w1')?.status, 'completed');
    });
  });
});

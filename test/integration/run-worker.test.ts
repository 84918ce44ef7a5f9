// The task worker with real git and real processes: the scripted agent
// (fixtures/agent/scripted-agent.mjs) stands in for a coding agent CLI. A good
// task's result is committed with its trailers, checked against its write
// scope, verified by its test commands (with one repair), and priced; an agent
// that writes outside its scope, lies about its usage, hangs or is killed gets
// nothing promoted and leaves nothing running.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { taskSchema, type Task } from '../../extension/core/runs/model';
import { workerClassSchema, type WorkerClass } from '../../extension/core/runs/policy';
import { noteOwnRefUpdate } from '../../extension/git/own-refs';
import { GitRepo } from '../../extension/git/repo';
import {
  cleanupTaskLeftovers,
  collectTaskResults,
  forgetTaskResult,
  promoteTask,
  runTask,
  taskBranch,
  type LeftResult,
  type TaskJob,
  type TaskOutcome,
} from '../../extension/workers/task/worker';
import { Sandbox } from '../support/sandbox';
import { alive } from '../support/agent';

const AGENT = join(process.cwd(), 'fixtures', 'agent', 'scripted-agent.mjs');

async function waitFor(what: string, probe: () => boolean, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

interface LogLine {
  task: string;
  attempt: number;
  pid: number;
  at: number;
  repair: boolean;
  prompt: string;
}

describe('task worker (runs)', function () {
  this.timeout(180_000);
  let sb: Sandbox;
  let repo: GitRepo;
  let scratch: string;
  const saved = { ...process.env };

  beforeEach(async () => {
    sb = new Sandbox({
      'src/app.txt': 'v1\n',
      'docs/guide.md': '# guide\n',
      'check.sh':
        'set -e\nfor f in src/BROKEN src/STILL_BROKEN; do if [ -e "$f" ]; then echo "FAIL: $f is present"; exit 1; fi; done\necho tests pass\n',
    });
    repo = await GitRepo.open(sb.dir);
    scratch = mkdtempSync(join(tmpdir(), 'bm-run-worker-'));
  });

  afterEach(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) Reflect.deleteProperty(process.env, key);
    Object.assign(process.env, saved);
    rmSync(scratch, { recursive: true, force: true });
    rmSync(sb.dir, { recursive: true, force: true });
  });

  /** Writes the scripted agent's script and points SCRIPTED_AGENT at it (passed through the class's env). */
  function script(entries: Record<string, unknown>): void {
    const path = join(scratch, 'script.json');
    writeFileSync(path, JSON.stringify(entries));
    process.env.SCRIPTED_AGENT = path;
  }

  function workerClass(fields: Record<string, unknown> = {}): WorkerClass {
    return workerClassSchema.parse({
      name: 'scripted',
      command: `node ${JSON.stringify(AGENT)}`,
      env: ['SCRIPTED_AGENT'],
      usd_per_mtok_in: 3,
      usd_per_mtok_out: 15,
      ...fields,
    });
  }

  function task(id: string, fields: { type?: string; scope?: string[]; prompt?: string; tests?: string[] } = {}): Task {
    return taskSchema.parse({
      id,
      type: fields.type ?? 'code',
      spec: {
        prompt: fields.prompt ?? `Implement ${id}\n\nChange src/ only.`,
        variables: {},
        write_scope: fields.scope ?? ['src/**'],
        test_commands: fields.tests ?? [],
        auto_commit: true,
      },
      depends_on: [],
      attempts: 0,
      status: 'running',
    });
  }

  function job(t: Task, fields: Partial<TaskJob> = {}): TaskJob {
    return {
      run: 'run-1',
      task: t,
      workerClass: workerClass(),
      attempt: 1,
      base: sb.head(),
      testCommands: t.spec.test_commands,
      testTimeoutMs: 60_000,
      ...fields,
    };
  }

  const taskBranches = () => sb.git('for-each-ref', '--format=%(refname)', 'refs/heads/buildmaster/task/').split('\n').filter(Boolean);
  const taskWorktrees = () => {
    const home = join(repo.stateDir, 'worktrees');
    return existsSync(home) ? readdirSync(home).filter((name) => name.startsWith('task-')) : [];
  };
  const logOf = (path: string): LogLine[] =>
    existsSync(path)
      ? readFileSync(path, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as LogLine & { event?: string })
          // The agent also logs its end ({event: 'end'}); these tests count invocations.
          .filter((line) => line.event !== 'end')
      : [];

  it('commits a good task with its trailers, parses and prices its usage, verifies it, removes its worktree', async () => {
    script({ t1: { files: { 'src/feature.txt': 'new\n', 'src/app.txt': 'v2\n' }, usage: { tokens_in: 1_000_000, tokens_out: 100_000 } } });
    const started: { pid: number; worktree: string }[] = [];
    const out = await runTask(repo, job(task('t1', { tests: ['sh check.sh'] }), { onStarted: (info) => started.push(info) }));
    assert.equal(out.success, true, out.error ?? out.output);
    assert.equal(out.stage, 'done');
    assert.equal(out.verified, true);
    assert.equal(out.repaired, false);
    assert.deepEqual([...out.files_changed].sort(), ['src/app.txt', 'src/feature.txt']);
    assert.ok(out.commit_sha);
    // Priced from tokens at the class's prices: 1M in at $3, 0.1M out at $15.
    assert.deepEqual(out.usage, { tokens_in: 1_000_000, tokens_out: 100_000, usd: 4.5 });
    const message = sb.git('log', '-1', '--format=%B', out.commit_sha);
    assert.match(message, /^Task t1 \(code\): Implement t1/);
    assert.match(message, /\n\nBuild-Master-Run: run-1\nBuild-Master-Task: t1\s*$/);
    assert.equal(sb.git('show', `${out.commit_sha}:src/feature.txt`), 'new');
    assert.equal(sb.git('merge-base', '--is-ancestor', sb.head(), out.commit_sha), '');
    assert.match(out.output, /tests pass/);
    // The agent and the test command were reported as they started, in the task's worktree.
    assert.equal(started.length, 2);
    assert.ok(started.every((s) => s.worktree.endsWith('task-run-1-t1-1')));
    assert.ok(started.every((s) => !alive(s.pid)));
    assert.deepEqual(taskWorktrees(), []);
    assert.deepEqual(taskBranches(), [], 'runTask sets no branch: the run driver promotes');
    assert.equal(sb.head('main'), sb.git('rev-parse', 'main'));
    const branch = await promoteTask(repo, 'run-1', 't1', out.commit_sha);
    assert.equal(branch, taskBranch('run-1', 't1'));
    assert.equal(sb.head(branch), out.commit_sha);
  });

  it('gives the agent the prompt on stdin and an allowlisted environment with the task, never the caller’s tokens', async () => {
    process.env.GITHUB_TOKEN = 'ghp_secret_controller_token';
    process.env.SOME_DATABASE_URL = 'postgres://secret';
    const result = join(scratch, 'seen-result');
    const command = `cat > src/prompt.txt; env | sort > src/env.txt; printf '%s' "$BUILDMASTER_RESULT" > ${JSON.stringify(result)}`;
    const out = await runTask(
      repo,
      job(task('t-env', { prompt: 'Say hello\nline two' }), { workerClass: workerClass({ command, env: [] }) }),
    );
    assert.equal(out.success, true, out.error ?? out.output);
    assert.ok(out.commit_sha);
    assert.equal(sb.git('show', `${out.commit_sha}:src/prompt.txt`), 'Say hello\nline two');
    const env = sb.git('show', `${out.commit_sha}:src/env.txt`);
    for (const line of [
      'BUILDMASTER_RUN=run-1',
      'BUILDMASTER_TASK=t-env',
      'BUILDMASTER_TASK_TYPE=code',
      'BUILDMASTER_ATTEMPT=1',
      'BUILDMASTER_WRITE_SCOPE=src/**',
      'CI=true',
    ])
      assert.ok(env.split('\n').includes(line), `${line} missing from:\n${env}`);
    assert.doesNotMatch(env, /ghp_secret_controller_token|postgres:\/\/secret/);
    const resultPath = readFileSync(result, 'utf8');
    assert.ok(
      resultPath.length > 0 && !resultPath.includes('task-run-1-t-env'),
      `BUILDMASTER_RESULT lies outside the worktree: ${resultPath}`,
    );
  });

  it('rejects a result outside its write scope, naming the path, and sets no branch', async () => {
    script({
      '*': { files: { 'src/ok.txt': 'fine\n' }, outside: { 'docs/guide.md': 'rewritten\n' }, usage: { tokens_in: 10, tokens_out: 5 } },
    });
    const out = await runTask(repo, job(task('t-out')));
    assert.equal(out.success, false);
    assert.equal(out.stage, 'scope');
    assert.deepEqual(out.scope_violations, ['docs/guide.md']);
    assert.match(out.error ?? '', /outside its write scope \(src\/\*\*\).*"docs\/guide\.md"/);
    assert.match(out.output, /rejected: /);
    assert.deepEqual(taskBranches(), []);
    assert.deepEqual(taskWorktrees(), []);
    // Spent is spent: a rejected task's usage still counts.
    assert.equal(out.usage.tokens_in, 10);
  });

  it('counts a rename at both paths and a commit the agent made itself', async () => {
    const command = 'cat >/dev/null; git mv docs/guide.md src/guide.md && git -c user.name=A -c user.email=a@x commit -qm move';
    const out = await runTask(repo, job(task('t-mv'), { workerClass: workerClass({ command }) }));
    assert.equal(out.success, false);
    assert.equal(out.stage, 'scope');
    assert.deepEqual(out.scope_violations, ['docs/guide.md']);
  });

  it('repairs a failing result once with the failure output, then succeeds', async () => {
    const log = join(scratch, 'log.jsonl');
    script({ '*': { files: { 'src/app.txt': 'v2\n' }, fail_until_repair: 'src/BROKEN', usage: { tokens_in: 100, tokens_out: 10 }, log } });
    const out = await runTask(repo, job(task('t-fix', { tests: ['sh check.sh'] })));
    assert.equal(out.success, true, out.error ?? out.output);
    assert.equal(out.repaired, true);
    assert.equal(out.verified, true);
    assert.equal(out.stage, 'done');
    const runs = logOf(log);
    assert.deepEqual(
      runs.map((r) => r.repair),
      [false, true],
    );
    // The repair prompt is the task's prompt, the heading, and the failing command's real output, fenced.
    const repairPrompt = (runs[1] as LogLine).prompt;
    assert.ok(repairPrompt.startsWith('Implement t-fix\n\nChange src/ only.\n\n## Your change failed its tests\n'), repairPrompt);
    assert.match(repairPrompt, /`sh check.sh` exited with 1[^\n]*\n\n```\nFAIL: src\/BROKEN is present\n```/);
    // Both attempts' usage counts.
    assert.equal(out.usage.tokens_in, 200);
    assert.ok(out.commit_sha);
    assert.doesNotMatch(sb.git('ls-tree', '-r', '--name-only', out.commit_sha), /BROKEN/);
    assert.match(out.output, /FAIL: src\/BROKEN is present/);
    assert.match(sb.git('log', '-1', '--format=%B', out.commit_sha), /Build-Master-Task: t-fix/);
  });

  it('fails after the one repair when the tests still fail, keeping both attempts and the test output', async () => {
    const log = join(scratch, 'log.jsonl');
    script({ '*': { files: { 'src/app.txt': 'v2\n' }, fail_always: 'src/STILL_BROKEN', log } });
    const out = await runTask(repo, job(task('t-bad', { tests: ['sh check.sh'] })));
    assert.equal(out.success, false);
    assert.equal(out.stage, 'repair');
    assert.equal(out.repaired, true);
    assert.equal(out.verified, false);
    assert.equal(logOf(log).length, 2, 'exactly one repair attempt');
    assert.match(out.error ?? '', /still fail after one repair attempt: `sh check.sh` exited with 1/);
    assert.match(out.output, /== agent [\s\S]*scripted-agent: task t-bad \(code\): Implement/);
    assert.match(out.output, /== repair attempt [\s\S]*scripted-agent: task t-bad \(code\), repair/);
    assert.equal((out.output.match(/FAIL: src\/STILL_BROKEN is present/g) ?? []).length, 2);
    assert.deepEqual(taskBranches(), []);
    assert.deepEqual(taskWorktrees(), []);
  });

  it('stops the agent’s whole process group and removes the worktree when aborted mid-run', async () => {
    const log = join(scratch, 'log.jsonl');
    script({ '*': { files: { 'src/x.txt': 'x\n' }, sleep_ms: 600_000, log } });
    const controller = new AbortController();
    const started: { pid: number; worktree: string }[] = [];
    const pending = runTask(repo, job(task('t-kill'), { signal: controller.signal, onStarted: (info) => started.push(info) }));
    await waitFor('the agent to start', () => logOf(log).length === 1 && started.length === 1);
    const agentPid = (logOf(log)[0] as LogLine).pid;
    assert.ok(alive(agentPid));
    controller.abort();
    const out: TaskOutcome = await pending;
    assert.equal(out.cancelled, true);
    assert.equal(out.success, false);
    assert.equal(alive(agentPid), false, 'the agent is gone');
    assert.equal(alive((started[0] as { pid: number }).pid), false, 'its shell is gone');
    assert.equal(existsSync((started[0] as { worktree: string }).worktree), false);
    assert.deepEqual(taskWorktrees(), []);
    assert.deepEqual(taskBranches(), []);
  });

  it('kills an agent past its class’s timeout and fails the task', async () => {
    const log = join(scratch, 'log.jsonl');
    script({ '*': { files: { 'src/x.txt': 'x\n' }, sleep_ms: 600_000, log } });
    const out = await runTask(repo, job(task('t-slow'), { workerClass: workerClass({ timeout: '2s' }) }));
    assert.equal(out.success, false);
    assert.equal(out.stage, 'work');
    assert.match(out.error ?? '', /timed out after 2s .*scripted.*killed/);
    assert.equal(alive((logOf(log)[0] as LogLine).pid), false);
    assert.deepEqual(taskWorktrees(), []);
  });

  it('takes a review task’s verdict, with no files changed; a review without a verdict fails', async () => {
    script({
      r1: { verdict: 'reject', usage: { tokens_in: 5, tokens_out: 5 } },
      r2: { usage: { tokens_in: 5, tokens_out: 5 } },
      r3: { result: { verdict: 'approve', artifacts: ['review.md'] } },
    });
    const rejected = await runTask(repo, job(task('r1', { type: 'review', tests: ['sh check.sh'] })));
    assert.equal(rejected.success, true, rejected.error);
    assert.equal(rejected.verdict, 'reject');
    assert.deepEqual(rejected.files_changed, []);
    assert.equal(rejected.commit_sha, undefined);
    const silent = await runTask(repo, job(task('r2', { type: 'review' })));
    assert.equal(silent.success, false);
    assert.match(silent.error ?? '', /no verdict/);
    const approved = await runTask(repo, job(task('r3', { type: 'review' })));
    assert.equal(approved.verdict, 'approve');
    assert.deepEqual(approved.artifacts, ['review.md']);
    // A code task that changes nothing fails.
    script({ '*': {} });
    const idle = await runTask(repo, job(task('c1')));
    assert.equal(idle.success, false);
    assert.match(idle.error ?? '', /changed no files/);
  });

  it('never lets an agent make a task look cheaper than its tokens cost', async () => {
    script({
      neg: { files: { 'src/a': 'a' }, usage: { tokens_in: -5000, tokens_out: 'lots', usd: -3 } },
      cheap: { files: { 'src/b': 'b' }, usage: { tokens_in: 2_000_000, tokens_out: 0, usd: 0.01 } },
      two: {
        files: { 'src/c': 'c' },
        print: ['{"usage": {"tokens_in": 9000000, "tokens_out": 0}}', 'not json {', '{"usage": 7}'],
        usage: { tokens_in: 1, tokens_out: 1, usd: 0 },
        result: { usage: { tokens_in: 1_000_000, tokens_out: 0 } },
      },
      dear: { files: { 'src/d': 'd' }, usage: { tokens_in: 10, tokens_out: 10, usd: 2.5 } },
      // What `claude -p --output-format json` and `codex exec --json` print themselves.
      claude: {
        files: { 'src/e': 'e' },
        print: [
          '{"type":"result","subtype":"success","total_cost_usd":0.75,"usage":{"input_tokens":1000,"cache_creation_input_tokens":2000,"cache_read_input_tokens":3000,"output_tokens":400}}',
        ],
      },
      codex: {
        files: { 'src/f': 'f' },
        print: ['{"type":"turn.completed","usage":{"input_tokens":200000,"cached_input_tokens":0,"output_tokens":10000}}'],
      },
    });
    const neg = await runTask(repo, job(task('neg')));
    assert.deepEqual(neg.usage, { tokens_in: 0, tokens_out: 0, usd: 0 });
    assert.match(neg.output, /usage\.tokens_in in the output is -5000, not a non-negative number: counted as zero/);
    assert.match(neg.output, /usage\.tokens_out in the output is "lots"/);
    const cheap = await runTask(repo, job(task('cheap')));
    assert.equal(cheap.usage.usd, 6, 'priced from its tokens, not its claim of $0.01');
    assert.match(cheap.output, /reported \$0\.01, less than its tokens cost/);
    // The last usage line counts, but the result file's larger figure wins over it.
    const two = await runTask(repo, job(task('two')));
    assert.deepEqual(two.usage, { tokens_in: 1_000_000, tokens_out: 1, usd: 3.000015 });
    const dear = await runTask(repo, job(task('dear')));
    assert.equal(dear.usage.usd, 2.5, 'a reported USD above the token price is kept');
    const claude = await runTask(repo, job(task('claude')));
    assert.deepEqual(claude.usage, { tokens_in: 6000, tokens_out: 400, usd: 0.75 });
    const codex = await runTask(repo, job(task('codex')));
    assert.deepEqual(codex.usage, { tokens_in: 200_000, tokens_out: 10_000, usd: 0.75 });
  });

  it('is not hung by a result file that is a FIFO, nor fooled by one that links elsewhere', async () => {
    const secret = join(scratch, 'secret.json');
    writeFileSync(secret, '{"usage": {"tokens_in": 0, "tokens_out": 0, "usd": 0}, "verdict": "approve"}');
    const fifo = 'cat >/dev/null; echo x > src/x; mkfifo "$BUILDMASTER_RESULT"';
    const out = await runTask(repo, job(task('t-fifo'), { workerClass: workerClass({ command: fifo }) }));
    assert.equal(out.success, true, out.error ?? out.output);
    assert.match(out.output, /BUILDMASTER_RESULT is not a plain file: ignored/);
    const link = `cat >/dev/null; ln -s ${JSON.stringify(secret)} "$BUILDMASTER_RESULT"`;
    const review = await runTask(repo, job(task('r-link', { type: 'review' }), { workerClass: workerClass({ command: link }) }));
    assert.equal(review.verdict, undefined, 'a verdict read through a link is not the agent’s');
    assert.equal(review.success, false);
  });

  it('stops a test command too when aborted during the verify, and runs two tasks side by side without either blaming the other', async () => {
    script({ '*': { files: { 'src/x.txt': 'x\n' } } });
    const controller = new AbortController();
    const started: { pid: number; worktree: string }[] = [];
    const pending = runTask(
      repo,
      job(task('t-verify', { tests: ['sleep 600'] }), { signal: controller.signal, onStarted: (info) => started.push(info) }),
    );
    await waitFor('the test command to start', () => started.length === 2);
    controller.abort();
    const out = await pending;
    assert.equal(out.cancelled, true);
    assert.equal(out.stage, 'verify');
    assert.equal(alive((started[1] as { pid: number }).pid), false);
    assert.deepEqual(taskWorktrees(), []);

    script({ a: { files: { 'src/a.txt': 'a\n' }, sleep_ms: 300 }, b: { files: { 'src/b.txt': 'b\n' }, sleep_ms: 300 } });
    const [a, b] = await Promise.all([runTask(repo, job(task('a'))), runTask(repo, job(task('b')))]);
    assert.equal(a.success, true, a.error ?? a.output);
    assert.equal(b.success, true, b.error ?? b.output);
    assert.deepEqual(a.files_changed, ['src/a.txt']);
    assert.deepEqual(b.files_changed, ['src/b.txt']);
  });

  it('verifies exactly the committed result: a file the agent left ignored does not make its tests pass', async () => {
    sb.write({ '.gitignore': '*.log\n' });
    sb.commitAll('ignore logs');
    const log = join(scratch, 'log.jsonl');
    script({ '*': { files: { 'src/app.txt': 'v2\n', 'src/pass.log': 'ok\n' }, log } });
    const out = await runTask(repo, job(task('t-ignored', { tests: ['test -e src/pass.log'] })));
    assert.equal(out.success, false);
    assert.equal(out.stage, 'repair');
    assert.equal(logOf(log).length, 2);
  });

  it('reads write scopes as the path locks do (./src/, src/) and refuses ids that make no branch before any agent runs', async () => {
    const log = join(scratch, 'log.jsonl');
    script({ '*': { files: { 'src/deep/x.txt': 'x\n' }, log } });
    for (const scope of [['./src/'], ['src/'], ['src//deep/**']]) {
      const out = await runTask(repo, job(task(`t-scope-${logOf(log).length}`, { scope })));
      assert.equal(out.success, true, `${scope.join(',')}: ${out.error ?? ''}`);
    }
    const runs = logOf(log).length;
    await assert.rejects(runTask(repo, job(task('a..b'))), /not a valid branch name/);
    await assert.rejects(runTask(repo, job(task('t.lock'))), /not a valid branch name/);
    assert.equal(logOf(log).length, runs, 'no agent ran for a task that could never be promoted');
  });

  it('fails an agent that moves a ref and undoes what it created', async () => {
    const main = sb.head();
    const command =
      'cat >/dev/null; echo x > src/x; git branch sneaky HEAD; git update-ref refs/heads/buildmaster/task/run-1/other HEAD; git add -A; git -c user.name=A -c user.email=a@x commit -qm x; git update-ref refs/heads/main HEAD';
    const out = await runTask(repo, job(task('t-ref'), { workerClass: workerClass({ command }), target: 'main' }));
    assert.equal(out.success, false);
    assert.match(out.error ?? '', /reached outside its worktree: .*refs\/heads\/main moved from .*refs\/heads\/sneaky created/);
    assert.throws(() => sb.git('rev-parse', '--verify', '--quiet', 'refs/heads/sneaky'));
    assert.deepEqual(taskBranches(), []);
    assert.equal(sb.head('main'), main, 'the target is put back');
    // Without the target named, its move is reported, never undone (it could be a merge nobody noted).
    const moved = await runTask(
      repo,
      job(task('t-ref2'), { workerClass: workerClass({ command: command.replace('git branch sneaky HEAD; ', '') }) }),
    );
    assert.equal(moved.success, false);
    assert.match(moved.error ?? '', /left for a person to check: refs\/heads\/main/);
    sb.git('update-ref', 'refs/heads/main', main);
  });

  it('does not blame an agent for a merge, a task branch Build Master promoted, or its store written while it ran', async () => {
    const go = join(scratch, 'go');
    const command = `cat >/dev/null; while [ ! -e ${JSON.stringify(go)} ]; do sleep 0.05; done; echo a > src/a.txt`;
    const other = sb.branch('elsewhere', { 'src/other.txt': 'o\n' });
    const started: number[] = [];
    const pending = runTask(
      repo,
      job(task('t-a'), { workerClass: workerClass({ command }), target: 'main', onStarted: (info) => started.push(info.pid) }),
    );
    await waitFor('the agent to start', () => started.length === 1);
    await promoteTask(repo, 'run-1', 't-b', other);
    // A merge lands on the target meanwhile (the local forge notes it, as here).
    const merged = sb.git('commit-tree', `${sb.head()}^{tree}`, '-p', sb.head(), '-m', 'a merge');
    noteOwnRefUpdate(repo.commonDir, 'refs/heads/main', merged);
    sb.git('update-ref', 'refs/heads/main', merged);
    // The run driver records the run in its store meanwhile.
    writeFileSync(join(repo.stateDir, 'state.json'), '{"runs": "recorded while the agent ran"}');
    writeFileSync(go, '');
    const out = await pending;
    assert.equal(out.success, true, out.error ?? out.output);
    assert.equal(sb.head(taskBranch('run-1', 't-b')), other, 'the promoted branch stays');
    assert.equal(sb.head('main'), merged, 'the merge stays');
  });

  it('leaves a finished outcome for a restart to collect, and drops one that git does not back', async () => {
    script({ '*': { files: { 'src/c.txt': 'c\n' }, usage: { tokens_in: 1, tokens_out: 1 } } });
    const c1 = task('c1');
    const out = await runTask(repo, job(c1));
    assert.equal(out.success, true, out.error);
    const collected = await collectTaskResults(repo, 'run-1', [c1], 'main');
    assert.deepEqual(collected.dropped, []);
    assert.equal(collected.results.length, 1);
    const [left] = collected.results as [LeftResult];
    assert.equal(left.task, 'c1');
    assert.equal(left.attempt, 1);
    assert.equal(left.outcome.commit_sha, out.commit_sha);
    forgetTaskResult(repo, 'run-1', 'c1', 1);
    assert.deepEqual((await collectTaskResults(repo, 'run-1', [c1], 'main')).results, []);

    // Forged by anything that can write the state folder: a commit outside the scope hidden behind a base of its own.
    const main = sb.head();
    const outside = sb.branch('forged', { 'docs/guide.md': 'evil\n' });
    sb.git('checkout', '--quiet', 'forged');
    sb.write({ 'src/c.txt': 'c\n' });
    sb.git('add', '-A');
    sb.git('commit', '--quiet', '-m', 'Task c2 (code): x\n\nBuild-Master-Run: run-1\nBuild-Master-Task: c2');
    const tip = sb.head('forged');
    sb.git('checkout', '--quiet', 'main');
    const dir = join(repo.stateDir, 'task-results', 'run-1');
    const forged = (base: string) => ({ run: 'run-1', task: 'c2', attempt: 1, base, outcome: { ...out, commit_sha: tip } });
    const c2 = task('c2');
    writeFileSync(join(dir, 'c2@1.json'), JSON.stringify(forged(outside)));
    let again = await collectTaskResults(repo, 'run-1', [c2], 'main');
    assert.deepEqual(again.results, []);
    assert.match(again.dropped.join('\n'), /c2@1\.json: its base .* is not on main's history/);
    writeFileSync(join(dir, 'c2@1.json'), JSON.stringify(forged(main)));
    again = await collectTaskResults(repo, 'run-1', [c2], 'main');
    assert.match(again.dropped.join('\n'), /outside the task's write scope: "docs\/guide\.md"/);
    writeFileSync(join(dir, 'c2@1.json'), '{"not": "a result"}');
    again = await collectTaskResults(repo, 'run-1', [c2], 'main');
    assert.match(again.dropped.join('\n'), /not a result Build Master wrote/);
    assert.equal(existsSync(join(dir, 'c2@1.json')), false);
  });

  it('promotes only to an absent branch or one already at the result, never over a moved branch', async () => {
    const first = sb.branch('r1', { 'src/one': '1' });
    const second = sb.branch('r2', { 'src/two': '2' });
    const branch = await promoteTask(repo, 'run-1', 't1', first);
    assert.equal(sb.head(branch), first);
    assert.equal(await promoteTask(repo, 'run-1', 't1', first), branch, 'a repeated promotion is a no-op');
    sb.git('update-ref', `refs/heads/${branch}`, second);
    await assert.rejects(promoteTask(repo, 'run-1', 't1', first), /already exists at .*someone moved it/);
    assert.equal(sb.head(branch), second);
    await assert.rejects(promoteTask(repo, 'run-1', 'a..b', first), /not usable in a branch name|not a valid branch name/);
  });

  it('a controller SIGKILLed mid-task takes its agent with it; the restart removes the worktree it left', async () => {
    const log = join(scratch, 'log.jsonl');
    script({ '*': { files: { 'src/x.txt': 'x\n' }, sleep_ms: 600_000, log } });
    const driver = join(scratch, 'driver.mts');
    const worker = join(process.cwd(), 'extension', 'workers', 'task', 'worker.ts');
    const model = join(process.cwd(), 'extension', 'core', 'runs', 'policy.ts');
    const repoModule = join(process.cwd(), 'extension', 'git', 'repo.ts');
    writeFileSync(
      driver,
      [
        `import { runTask } from ${JSON.stringify(worker)};`,
        `import { workerClassSchema } from ${JSON.stringify(model)};`,
        `import { GitRepo } from ${JSON.stringify(repoModule)};`,
        `const repo = await GitRepo.open(${JSON.stringify(sb.dir)});`,
        `const task = ${JSON.stringify(task('t-crash'))};`,
        `const workerClass = workerClassSchema.parse(${JSON.stringify({ name: 'scripted', command: `node ${JSON.stringify(AGENT)}`, env: ['SCRIPTED_AGENT'] })});`,
        `await runTask(repo, { run: 'run-1', task, workerClass, attempt: 1, base: ${JSON.stringify(sb.head())}, testCommands: [], testTimeoutMs: 60000,`,
        `  onStarted: (info) => console.log(JSON.stringify(info)) });`,
      ].join('\n'),
    );
    const controller = spawn(process.execPath, ['--import', 'tsx', driver], {
      cwd: process.cwd(),
      env: process.env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let printed = '';
    controller.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    await waitFor('the agent to start', () => {
      if (controller.exitCode !== null) throw new Error(`the controller exited with ${controller.exitCode} before its agent started`);
      return logOf(log).length === 1 && printed.includes('"worktree"');
    });
    const started = JSON.parse(printed.split('\n').find((line) => line.includes('"worktree"')) ?? '{}') as {
      pid: number;
      worktree: string;
    };
    const agentPid = (logOf(log)[0] as LogLine).pid;
    controller.kill('SIGKILL');
    await waitFor('the agent to die with its controller', () => !alive(agentPid) && !alive(started.pid), 30_000);
    assert.deepEqual(taskWorktrees(), ['task-run-1-t-crash-1'], 'the worktree outlived the crash');
    const done = await cleanupTaskLeftovers(repo, [], [started]);
    assert.deepEqual(taskWorktrees(), []);
    assert.ok(done.some((line) => line.includes('removed the orphaned task worktree')));
    assert.doesNotMatch(sb.git('worktree', 'list'), /task-run-1-t-crash-1/);
  });

  it('cleans up after a crash: kills an orphaned agent still running, removes orphaned task worktrees, keeps live ones', async () => {
    const orphanDir = await repo.addWorktree('task-run-0-t9-1', ['--detach', sb.head()]);
    const liveDir = await repo.addWorktree('task-run-0-t8-1', ['--detach', sb.head()]);
    const strayDir = await repo.addWorktree('task-run-0-t7-2', ['--detach', sb.head()]);
    // An agent whose supervisor died with the controller: its own group, working in its worktree.
    const orphan = spawn('sh', ['-c', 'sleep 600 & wait'], {
      cwd: orphanDir,
      env: { ...process.env, BUILDMASTER_WORKTREE: orphanDir },
      detached: true,
      stdio: 'ignore',
    });
    orphan.unref();
    const orphanPid = orphan.pid as number;
    // An unrelated process that happens to have an orphan's recorded pid must survive.
    const bystander = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
    bystander.unref();
    const bystanderPid = bystander.pid as number;
    try {
      await waitFor('the orphan to run', () => alive(orphanPid));
      const done = await cleanupTaskLeftovers(
        repo,
        [{ worktree: liveDir }],
        [
          { pid: orphanPid, worktree: orphanDir },
          { pid: bystanderPid, worktree: strayDir },
        ],
      );
      await waitFor('the orphan to die', () => !alive(orphanPid), 20_000);
      assert.equal(alive(bystanderPid), true, 'a pid that is not the task’s is left alone');
      assert.equal(existsSync(orphanDir), false);
      assert.equal(existsSync(strayDir), false);
      assert.equal(existsSync(liveDir), true);
      assert.deepEqual(taskWorktrees(), ['task-run-0-t8-1']);
      assert.ok(done.some((line) => line.includes(`killed the orphaned agent process group ${orphanPid}`)));
      assert.ok(done.some((line) => line.includes(`left process ${bystanderPid} alone`)));
      assert.doesNotMatch(sb.git('worktree', 'list'), /task-run-0-t9-1/);
    } finally {
      for (const pid of [orphanPid, bystanderPid])
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // gone
        }
    }
  });
});

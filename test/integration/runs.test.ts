// Runs end to end (issue 13): the real CLI drives a scripted agent (fixtures/agent/scripted-agent.mjs)
// through planning, scheduling, the task worker, promotion and the local forge's merge gate, in a real
// git repository. What a user relies on: exactly the eligible rows run, never two overlapping scopes
// at once, never more agents than allowed, results merge through their lanes, a straggler is hedged,
// budgets stop a run with a hand-off, and a killed driver loses and repeats nothing.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli';
import { Sandbox } from '../support/sandbox';
import { agentCommand, invocations, runsPolicy as policy } from '../support/agent';

interface StoredRun {
  id: string;
  status: string;
  tasks: {
    id: string;
    status: string;
    stage?: string;
    worker_class?: string;
    attempts: number;
    branch?: string;
    row?: string;
    hedge_of?: string;
    result?: { error?: string; usage: { usd: number } };
  }[];
  decisions?: { kind: string; task?: string; worker_class?: string; rationale: string }[];
  handoff?: { why: string; done: unknown[]; left: { task: string; note: string }[] };
  progress?: { file: string; rows: string[] };
}

/** Each agent invocation as an interval [start, end] (end: the matching end line, or Infinity when it never ended). */
function intervals(log: string): { task: string; start: number; end: number }[] {
  const lines = invocations(log);
  return lines
    .filter((l) => l.event !== 'end')
    .map((start) => {
      const end = lines.find((l) => l.event === 'end' && l.pid === start.pid);
      return { task: start.task, start: start.at, end: end ? end.at : Infinity };
    });
}

function maxConcurrent(spans: { start: number; end: number }[]): number {
  let most = 0;
  for (const span of spans) most = Math.max(most, spans.filter((other) => other.start <= span.start && span.start < other.end).length);
  return most;
}

describe('runs: the CLI drives agents through the merge gate', function () {
  this.timeout(300_000);
  let sandbox: Sandbox;
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'bm-runs-'));
  });
  afterEach(() => {
    sandbox.remove();
    rmSync(work, { recursive: true, force: true });
  });

  const show = async (id: string): Promise<StoredRun> => {
    const result = await runCli(['run', 'show', id, '--json'], { cwd: sandbox.dir });
    assert.equal(result.code, 0, result.stderr);
    return (JSON.parse(result.stdout) as { run: StoredRun }).run;
  };

  it('a progress file of 12 rows: exactly the eligible rows run, never two overlapping scopes at once, at most max_agents, each merged through its lane', async () => {
    const log = join(work, 'agent.log');
    const row = (id: string, scope: string, file: string) => ({ id, files: { [file]: `${id}\n` }, log, sleep_ms: 400, scope });
    const rows = {
      w1: row('w1', 'web/a/**', 'web/a/w1.txt'),
      w2: row('w2', 'web/**', 'web/w2.txt'),
      w3: row('w3', 'web/c/**', 'web/c/w3.txt'),
      a1: row('a1', 'api/**', 'api/a1.txt'),
      a2: row('a2', 'api/x/**', 'api/x/a2.txt'),
      a3: row('a3', 'api/y/**', 'api/y/a3.txt'),
      docs1: row('docs1', 'docs/**', 'docs/d1.md'),
    };
    const script = join(work, 'script.json');
    writeFileSync(script, JSON.stringify(rows));
    const progress = {
      rows: [
        { id: 'w1', phase: 1, write_scope: ['web/a/**'], lane: 'web' },
        { id: 'w2', phase: 1, write_scope: ['web/**'], lane: 'web' },
        { id: 'a1', phase: 1, write_scope: ['api/**'], done_signal: 'a1-done', lane: 'api' },
        { id: 'a2', phase: 2, blocked_by: ['a1'], write_scope: ['api/x/**'], lane: 'api' },
        { id: 'u1', phase: 1, slice_size: 'umbrella' },
        { id: 'p4', phase: 4, write_scope: ['web/p4/**'] },
        { id: 'd1', phase: 1, status: 'done' },
        { id: 'b1', phase: 2, blocked_by: ['p4'] },
        { id: 's1', phase: 1, ready_when: ['never-given'] },
        { id: 'w3', phase: 3, blocked_by: ['w1'], write_scope: ['web/c/**'], lane: 'web' },
        { id: 'a3', phase: 2, ready_when: ['a1-done'], write_scope: ['api/y/**'], lane: 'api' },
        { id: 'docs1', phase: 1, write_scope: ['docs/**'] },
      ],
    };
    sandbox = new Sandbox({
      '.buildmaster.yml': policy(
        `  max_agents: 2\n  profile: staging-aggressive\n  workers:\n    - name: code\n      command: ${JSON.stringify(agentCommand(script))}\n`,
      ),
      'web/index.txt': 'web\n',
      'api/index.txt': 'api\n',
      'progress.json': JSON.stringify(progress, null, 2),
    });
    const result = await runCli(['run', '--progress', 'progress.json'], { cwd: sandbox.dir, timeoutMs: 240_000 });
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    const run = await show('r1');
    assert.equal(run.status, 'completed', JSON.stringify(run.decisions?.slice(-10), null, 2));

    const eligible = ['w1', 'w2', 'a1', 'a2', 'w3', 'a3', 'docs1'].sort();
    const spans = intervals(log);
    assert.deepEqual([...new Set(spans.map((s) => s.task))].sort(), eligible, 'exactly the eligible rows ran');
    assert.equal(spans.length, eligible.length, 'each row ran once');
    assert.ok(maxConcurrent(spans) <= 2, `at most 2 agents at once: ${maxConcurrent(spans)}`);
    assert.ok(maxConcurrent(spans) === 2, 'two agents did work at once (the cap is used, not just respected)');
    const span = (task: string) => spans.find((s) => s.task === task) as { start: number; end: number };
    for (const [a, b] of [
      ['w1', 'w2'],
      ['w2', 'w3'],
      ['a1', 'a2'],
      ['a1', 'a3'],
    ] as const) {
      const [x, y] = [span(a), span(b)];
      assert.ok(x.end <= y.start || y.end <= x.start, `${a} and ${b} overlap in scope and must never run at once`);
    }
    for (const [task, file] of Object.entries({
      w1: 'web/a/w1.txt',
      w2: 'web/w2.txt',
      w3: 'web/c/w3.txt',
      a1: 'api/a1.txt',
      a2: 'api/x/a2.txt',
      a3: 'api/y/a3.txt',
      docs1: 'docs/d1.md',
    }))
      assert.equal(sandbox.git('show', `main:${file}`), task, `${task}'s result merged into main`);
    assert.deepEqual(
      run.tasks
        .filter((t) => t.status === 'completed')
        .map((t) => t.row)
        .sort(),
      eligible,
      'every eligible row is reported done',
    );
    const merges = sandbox.events().filter((e) => e.type === 'action' && e.kind === 'merge' && e.status === 'done');
    for (const task of ['w1', 'a1']) {
      const merge = merges.find((e) => e.change === `buildmaster/task/r1/${task}`);
      assert.ok(merge, `${task} merged through the gate`);
      assert.equal(merge.lane, task.startsWith('w') ? 'web' : 'api', `${task} merged in its lane`);
    }
    const text = await runCli(['run', 'show', 'r1'], { cwd: sandbox.dir });
    assert.match(text.stdout, /rows this run leaves out:\n(.*\n)* {2}u1: an umbrella row/);
    assert.match(text.stdout, / {2}b1: blocked by p4/);
  });
});

describe('runs: two at once on one repository', function () {
  this.timeout(300_000);
  let sandbox: Sandbox;
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'bm-runs2-'));
  });
  afterEach(() => {
    sandbox.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('two runs of one progress file never take the same row; two runs of different rows both finish, never writing one scope at once', async () => {
    const log = join(work, 'agent.log');
    const script = join(work, 'script.json');
    writeFileSync(
      script,
      JSON.stringify({
        a: { files: { 'web/a.txt': 'a' }, sleep_ms: 1500, log },
        b: { files: { 'api/b.txt': 'b' }, sleep_ms: 1500, log },
        c: { files: { 'web/c.txt': 'c' }, sleep_ms: 1500, log },
        d: { files: { 'web/d.txt': 'd' }, sleep_ms: 1500, log },
      }),
    );
    const rows = (ids: string[]) =>
      JSON.stringify({
        rows: ids.map((id) => ({ id, phase: 1, write_scope: [id === 'b' ? 'api/**' : 'web/**'], lane: id === 'b' ? 'api' : 'web' })),
      });
    sandbox = new Sandbox({
      '.buildmaster.yml': policy(
        `  max_agents: 4\n  profile: staging-aggressive\n  workers:\n    - name: code\n      command: ${JSON.stringify(agentCommand(script))}\n`,
      ),
      'web/index.txt': 'web\n',
      'api/index.txt': 'api\n',
      'same.json': rows(['a', 'b']),
      'other.json': rows(['c']),
    });
    const [first, second] = await Promise.all([
      runCli(['run', '--progress', 'same.json'], { cwd: sandbox.dir, timeoutMs: 200_000 }),
      runCli(['run', '--progress', 'same.json'], { cwd: sandbox.dir, timeoutMs: 200_000 }),
    ]);
    const codes = [first.code, second.code].sort();
    assert.deepEqual(codes, [0, 2], `one run takes the rows, the other is refused:\n${first.stderr}\n---\n${second.stderr}`);
    assert.match(
      first.code === 2 ? first.stderr : second.stderr,
      /being worked on by another run|already being worked on|every row is done/,
    );
    const starts = invocations(log).filter((l) => l.event !== 'end');
    assert.deepEqual(starts.map((l) => l.task).sort(), ['a', 'b'], 'each row ran once');

    // Different rows at once: both finish; c and d (both web/**) never ran at the same time.
    rmSync(log, { force: true });
    sandbox.git('checkout', '-q', 'main');
    writeFileSync(join(sandbox.dir, 'third.json'), rows(['d']));
    const [one, two] = await Promise.all([
      runCli(['run', '--progress', 'other.json'], { cwd: sandbox.dir, timeoutMs: 200_000 }),
      runCli(['run', '--progress', 'third.json'], { cwd: sandbox.dir, timeoutMs: 200_000 }),
    ]);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(two.code, 0, two.stderr);
    const spans = intervals(log);
    assert.equal(spans.length, 2, JSON.stringify(spans));
    const [x, y] = spans;
    assert.ok(x && y);
    assert.ok(x.end <= y.start || y.end <= x.start, 'two runs never write web/** at once');
    assert.equal(sandbox.git('show', 'main:web/c.txt'), 'c');
  });
});

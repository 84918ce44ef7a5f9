// The store and the controller lock under abuse, through the built CLI on real
// repositories: a state.json that is not a state, a torn event log, branches
// named like Object's own properties, a stale lock raced by eight syncs, a
// lock naming a reused pid, a "billion laughs" policy, and explain beside a
// running sync.
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from '../support/cli';
import { Sandbox, threeLaneFiles } from '../support/sandbox';

const STACK = /\n\s+at .+\(.+:\d+:\d+\)/;

function lockPath(sb: Sandbox): string {
  return join(sb.stateDir, 'lock');
}

function writeLock(sb: Sandbox, owner: Record<string, unknown>): void {
  mkdirSync(sb.stateDir, { recursive: true });
  writeFileSync(lockPath(sb), JSON.stringify({ host: hostname(), command: 'sync', ...owner }));
}

/** A pid that belonged to a process which has exited. */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((done) => child.on('exit', done));
  return child.pid as number;
}

function logLines(sb: Sandbox): string[] {
  return readFileSync(join(sb.stateDir, 'events.jsonl'), 'utf8').split('\n').filter(Boolean);
}

async function waitFor(what: string, ready: () => boolean, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 20));
  }
}

describe('store integrity (through the CLI)', function () {
  this.timeout(180_000);
  let sb: Sandbox;

  beforeEach(() => {
    sb = new Sandbox(threeLaneFiles());
  });
  afterEach(() => sb.remove());

  it('refuses a state.json that is not a valid state, naming the file and the fix, and overwrites nothing', async () => {
    const paused = await runCli(['pause', 'web', '--reason', 'release freeze', '--repo', sb.dir]);
    assert.equal(paused.code, 0, paused.stderr);
    const statePath = join(sb.stateDir, 'state.json');
    const events = readFileSync(join(sb.stateDir, 'events.jsonl'), 'utf8');
    const pausedState = JSON.parse(readFileSync(statePath, 'utf8')) as { state: unknown };
    const invalid: Record<string, string> = {
      null: 'null',
      array: '[]',
      string: '"state"',
      'wrong version': JSON.stringify({ ...pausedState, version: 2 }),
      'a record that is not an object': JSON.stringify({ ...pausedState, merged: { 'agent/x': null } }),
      'a record of the wrong type': JSON.stringify({ ...pausedState, seen: { 'agent/x': 'yesterday' } }),
      'a state without lanes': JSON.stringify({ ...pausedState, state: { cycle: 1 } }),
      'not JSON': '{"version": 1,',
    };
    for (const [name, text] of Object.entries(invalid)) {
      writeFileSync(statePath, text);
      for (const args of [['sync'], ['status'], ['resume', 'web']]) {
        const result = await runCli([...args, '--repo', sb.dir]);
        assert.equal(result.code, 2, `${args[0]} with ${name}: exit 2, got ${result.code}: ${result.stderr}`);
        assert.match(result.stderr, /state\.json/, `${name}: the message names the file`);
        assert.match(result.stderr, /move it aside|restore/i, `${name}: the message says how to fix it`);
        assert.doesNotMatch(result.stderr, STACK, `${name}: no stack trace`);
        assert.equal(readFileSync(statePath, 'utf8'), text, `${name}: ${args[0]} left state.json as it was`);
      }
    }
    assert.equal(readFileSync(join(sb.stateDir, 'events.jsonl'), 'utf8'), events, 'the event log is intact');
    // Put back, the operator's pause is still there.
    writeFileSync(statePath, JSON.stringify(pausedState));
    const status = await runCli(['status', '--repo', sb.dir, '--json']);
    assert.equal(status.code, 0, status.stderr);
    const doc = JSON.parse(status.stdout) as { lanes: { name: string; state: string }[] };
    assert.equal(doc.lanes.find((l) => l.name === 'web')?.state, 'paused');
  });

  it('starts new events on a line of their own after a torn tail, and never reuses its sequence number', async () => {
    const first = await runCli(['pause', 'docs', '--repo', sb.dir]);
    assert.equal(first.code, 0, first.stderr);
    const before = logLines(sb).map((line) => JSON.parse(line) as { seq: number });
    const top = Math.max(...before.map((e) => e.seq));
    // A process killed in the middle of writing its event.
    appendFileSync(join(sb.stateDir, 'events.jsonl'), `{"seq":${top + 1},"at":${Date.now()},"type":"operator","kind":"pause","mess`);
    const paused = await runCli(['pause', 'api', '--reason', 'after a crash', '--repo', sb.dir]);
    assert.equal(paused.code, 0, paused.stderr);
    const second = await runCli(['sync', '--repo', sb.dir]);
    assert.equal(second.code, 0, second.stderr);

    const lines = logLines(sb);
    const torn = lines.filter((line) => {
      try {
        JSON.parse(line);
        return false;
      } catch {
        return true;
      }
    });
    assert.deepEqual(
      torn,
      [`{"seq":${top + 1},"at":${torn[0]?.match(/"at":(\d+)/)?.[1]},"type":"operator","kind":"pause","mess`],
      'only the torn line is unreadable, alone on its line',
    );
    const events = lines
      .filter((line) => !torn.includes(line))
      .map((line) => JSON.parse(line) as { seq: number; type: string; kind?: string; lane?: string });
    const pause = events.find((e) => e.type === 'operator' && e.lane === 'api');
    assert.ok(pause, 'the pause after the torn line is in the log');
    assert.ok(pause.seq > top + 1, `the pause has a new sequence number (${pause.seq}), not the torn line's ${top + 1}`);
    const seqs = events.map((e) => e.seq);
    assert.equal(new Set(seqs).size, seqs.length, 'no sequence number is used twice');
    const log = await runCli(['log', '--repo', sb.dir, '--json']);
    assert.equal(log.code, 0, log.stderr);
    assert.ok(
      (JSON.parse(log.stdout) as { events: { lane?: string; type: string }[] }).events.some(
        (e) => e.type === 'operator' && e.lane === 'api',
      ),
    );
  });

  it('merges branches named __proto__, constructor and toString like any other, once', async () => {
    const policy = sb
      .read('.buildmaster.yml')
      .replace('branches: ["agent/*"]', 'branches: ["agent/*", "__proto__", "constructor", "toString"]');
    sb.write({ '.buildmaster.yml': policy });
    sb.commitAll('policy: odd branch names');
    const names = ['__proto__', 'constructor', 'toString'];
    for (const name of names) sb.branch(name, { [`web/${name}.txt`]: `${name}\n` });
    for (let i = 0; i < 4; i++) {
      const result = await runCli(['sync', '--repo', sb.dir, '--json']);
      assert.equal(result.code, 0, `sync ${i + 1}: ${result.stderr}`);
    }
    const merges = sb.mergeKeys();
    for (const name of names) {
      assert.equal(
        merges.filter((key) => key.startsWith(`merge:${name}:`)).length,
        1,
        `${name} merged exactly once (keys: ${merges.join(', ')})`,
      );
      assert.equal(sb.git('show', `main:web/${name}.txt`), name);
    }
    const state = JSON.parse(readFileSync(join(sb.stateDir, 'state.json'), 'utf8')) as {
      merged: Record<string, unknown>;
      seen: Record<string, unknown>;
    };
    for (const name of names) {
      assert.ok(Object.prototype.hasOwnProperty.call(state.merged, name), `${name} is recorded as merged`);
      assert.equal(typeof state.seen[name], 'number', `${name}'s first sighting is a time`);
    }
    const status = await runCli(['status', '--repo', sb.dir, '--json']);
    const doc = JSON.parse(status.stdout) as { lanes: { name: string; queue: { change: string }[] }[] };
    assert.deepEqual(
      doc.lanes.flatMap((l) => l.queue.map((q) => q.change)),
      [],
      'nothing waits: every odd branch is done',
    );
  });
});

describe('the controller lock (through the CLI)', function () {
  this.timeout(180_000);
  let sb: Sandbox;
  const children: ChildProcess[] = [];

  beforeEach(() => {
    sb = new Sandbox(threeLaneFiles());
  });
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    sb.remove();
  });

  it('eight syncs over a stale lock: exactly one recovers it, round after round', async () => {
    const warm = await runCli(['sync', '--repo', sb.dir]);
    assert.equal(warm.code, 0, warm.stderr);
    const rounds = 6;
    const started = Date.now();
    for (let round = 0; round < rounds; round++) {
      writeLock(sb, { pid: await deadPid(), since: Date.now() - 5_000 });
      // Every sync waits just before taking the lock until the barrier opens: they contend at one instant.
      const barrier = join(sb.stateDir, `barrier-${round}`);
      const running = Array.from({ length: 8 }, () =>
        runCli(['sync', '--repo', sb.dir], { env: { BUILDMASTER_TEST_LOCK_BARRIER: barrier } }),
      );
      const arrived = () =>
        existsSync(`${barrier}.arrived`) ? readFileSync(`${barrier}.arrived`, 'utf8').split('\n').filter(Boolean).length : 0;
      await waitFor('eight syncs at the lock', () => arrived() >= 8);
      writeFileSync(barrier, '');
      const results: CliResult[] = await Promise.all(running);
      const recovered = results.filter((r) => /recovered a stale lock/.test(r.stderr));
      assert.equal(
        recovered.length,
        1,
        `round ${round + 1}: exactly one sync recovers the stale lock, not ${recovered.length}:\n${results.map((r) => `exit ${r.code}: ${r.stderr.trim()}`).join('\n')}`,
      );
      for (const r of results) {
        if (r.code === 0) continue;
        assert.equal(r.code, 1, `round ${round + 1}: exit ${r.code}: ${r.stderr}`);
        assert.match(r.stderr, /locked: another Build Master/);
      }
      assert.equal(existsSync(lockPath(sb)), false, `round ${round + 1}: the lock is released`);
      if (Date.now() - started > 90_000) break; // a very busy machine: enough rounds were seen
    }
  });

  it('recovers a lock whose pid now belongs to an unrelated live process, and says so', async () => {
    const sleeper = spawn('sleep', ['120']);
    children.push(sleeper);
    await waitFor('the unrelated process', () => existsSync(`/proc/${sleeper.pid}`));
    // Written by an earlier Build Master whose pid the unrelated process now has: its start time differs.
    writeLock(sb, { pid: sleeper.pid, since: Date.now() - 60_000, start: 'another-boot:12345' });
    const first = await runCli(['sync', '--repo', sb.dir]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, new RegExp(`recovered a stale lock left by pid ${sleeper.pid}.*now belongs to another process`));
    // The same without a recorded start time: the process started after the lock was taken.
    writeLock(sb, { pid: sleeper.pid, since: Date.now() - 60_000 });
    const second = await runCli(['sync', '--repo', sb.dir]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /now belongs to another process/);
    assert.equal(sleeper.exitCode, null, 'the unrelated process is left alone');
    // A lock of a live process that took it after it started is respected.
    writeLock(sb, { pid: process.pid, since: Date.now() });
    const locked = await runCli(['sync', '--repo', sb.dir]);
    assert.equal(locked.code, 1, locked.stderr);
    assert.match(locked.stderr, new RegExp(`locked: another Build Master \\(pid ${process.pid}`));
  });
});

describe('explain does not take the controller lock', function () {
  this.timeout(180_000);
  let sb: Sandbox;

  afterEach(() => sb.remove());

  it('answers while another process holds the lock, runs no checks, saves nothing, and says what it does not know', async () => {
    sb = new Sandbox(threeLaneFiles());
    sb.branch('agent/web-x', { 'web/x.txt': 'x\n' });
    writeLock(sb, { pid: process.pid, since: Date.now(), command: 'sync' });
    const result = await runCli(['explain', 'agent/web-x', '--repo', sb.dir], { timeoutMs: 60_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /agent\/web-x/);
    assert.match(result.stdout, /have not run yet/);
    assert.match(result.stdout, /the next sync runs them/);
    assert.doesNotMatch(result.stdout, /every gate passes/);
    assert.equal(existsSync(join(sb.stateDir, 'state.json')), false, 'explain saved no state');
    assert.equal(existsSync(join(sb.stateDir, 'events.jsonl')), false, 'explain logged nothing');
    assert.equal((JSON.parse(readFileSync(lockPath(sb), 'utf8')) as { pid: number }).pid, process.pid, 'the lock is left to its holder');
  });

  it('never makes a running sync fail', async () => {
    sb = new Sandbox(threeLaneFiles());
    const gate = join(sb.dir, '..', `${sb.dir.split('/').pop()}-gate`);
    // web's check waits for the test to open the gate: the sync holds the lock until then.
    const policy = sb
      .read('.buildmaster.yml')
      .replace('run: sh web/test.sh', `run: sh -c 'while [ ! -f ${gate} ]; do sleep 0.05; done; sh web/test.sh'`);
    sb.write({ '.buildmaster.yml': policy });
    sb.commitAll('policy: a web check that waits for the test');
    writeFileSync(gate, '');
    const warm = await runCli(['sync', '--repo', sb.dir]);
    assert.equal(warm.code, 0, warm.stderr);
    rmSync(gate);
    sb.branch('agent/web-x', { 'web/x.txt': 'x\n' });
    const syncing = runCli(['sync', '--repo', sb.dir], { timeoutMs: 120_000 });
    await waitFor('the sync to hold the lock', () => existsSync(lockPath(sb)));
    const explained = [];
    for (let i = 0; i < 3; i++) explained.push(await runCli(['explain', 'agent/web-x', '--repo', sb.dir], { timeoutMs: 60_000 }));
    writeFileSync(gate, '');
    const synced = await syncing;
    rmSync(gate, { force: true });
    for (const result of explained) {
      assert.equal(result.code, 0, `explain during a sync: ${result.stderr}`);
      assert.match(result.stdout, /agent\/web-x/);
    }
    assert.equal(synced.code, 0, `the sync is not disturbed: ${synced.stderr}`);
    assert.equal(sb.mergeKeys().filter((key) => key.startsWith('merge:agent/web-x:')).length, 1, 'and it merged');
  });
});

describe('a policy with exponentially expanding aliases ("billion laughs")', function () {
  this.timeout(120_000);
  let sb: Sandbox;

  afterEach(() => sb.remove());

  it('is a positioned problem (exit 2) for validate and sync, never a stack trace', async () => {
    const laughs = [
      'target: main',
      'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
      'e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]',
      'owners: [*e, *e, *e, *e, *e, *e, *e, *e, *e]',
      '',
    ].join('\n');
    sb = new Sandbox({ '.buildmaster.yml': laughs, 'README.md': '# x\n' });
    for (const args of [['validate'], ['sync'], ['status']]) {
      const result = await runCli([...args, '--repo', sb.dir], { cwd: sb.dir });
      assert.equal(result.code, 2, `${args[0]}: exit 2, got ${result.code}: ${result.stderr}`);
      assert.match(result.stderr, /\.buildmaster\.yml:3:\d+: .*alias/, `${args[0]}: the problem is positioned at the first alias`);
      assert.match(result.stderr, /hint: .*alias/);
      assert.doesNotMatch(result.stderr, STACK, `${args[0]}: no stack trace`);
    }
    assert.equal(existsSync(join(sb.stateDir, 'state.json')), false, 'nothing acted');
  });
});

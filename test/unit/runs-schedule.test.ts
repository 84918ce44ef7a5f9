// The scheduler pass (issue 13): dependency order, caps, path locks on overlapping write scopes,
// hedging of stragglers; property tests drive whole runs through repeated passes.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import picomatch from 'picomatch';
import type { Task } from '../../extension/core/runs/model';
import { schedulePass, settleHedge, type ScheduleCaps } from '../../extension/core/runs/schedule';
import { globsMayOverlap } from '../../extension/core/runs/scope';

function task(id: string, scope: string[], extra: Partial<Task> = {}): Task {
  return {
    id,
    type: 'code',
    spec: { prompt: id, variables: {}, write_scope: scope, test_commands: [], auto_commit: true },
    depends_on: [],
    attempts: 0,
    status: 'pending',
    ...extra,
  };
}

describe('runs: write scopes overlap (path locks)', () => {
  const cases: [string, string, boolean][] = [
    ['src/a/**', 'src/b/**', false],
    ['src/**', 'src/b/x.ts', true],
    ['src/a*.ts', 'src/b/**', false],
    ['src/a*.ts', 'src/ab/**', true],
    ['**/*.md', 'src/x.ts', false],
    ['**/*.md', 'src/**', true],
    ['src/x.ts', 'SRC/X.ts', true],
    ['./src/x.ts', 'src//x.ts', true],
    ['src/.env', 'src/**', true],
    ['docs/../src/x.ts', 'src/**', true],
    ['src/*/../../lib/x', 'lib/**', true],
    ['!(docs)/**', 'src/x', true],
    ['src/{a,b}/**', 'src/c/x', false],
    ['src/{a,b}/**', 'src/b/**', true],
    ['src', 'src/x.ts', true],
    ['src/', 'src/x.ts', true],
    ['src/x.ts', 'src/x.js', false],
    ['caf\u00e9/**', 'cafe\u0301/x', true],
  ];
  for (const [a, b, expected] of cases) {
    it(`${a} ~ ${b}: ${expected ? 'may overlap' : 'cannot overlap'} (both ways)`, () => {
      assert.equal(globsMayOverlap(a, b), expected);
      assert.equal(globsMayOverlap(b, a), expected);
    });
  }

  it('property: when some path matches both globs, they are judged overlapping (a "no" is a proof)', () => {
    const segment = fc.constantFrom('a', 'b', 'ab', '.x', 'A', '*', '**', 'a*', '?', 'x.ts', '*.ts', '{a,b}');
    const glob = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));
    const pathSegment = fc.constantFrom('a', 'b', 'ab', '.x', 'A', 'x.ts', 'ab.ts', 'c');
    const path = fc.array(pathSegment, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('/'));
    fc.assert(
      fc.property(glob, glob, fc.array(path, { minLength: 1, maxLength: 30 }), (a, b, paths) => {
        const options = { dot: true };
        const both = paths.some((p) => picomatch.isMatch(p, a, options) && picomatch.isMatch(p, b, options));
        if (both) assert.ok(globsMayOverlap(a, b), `${a} and ${b} share a path but were judged apart`);
      }),
      { numRuns: 2000 },
    );
  });
});

/** Every file the property's scopes can name: an overlap is a file of it two running scopes both match. */
const UNIVERSE = ['src/a/x.ts', 'src/b/y.ts', 'src/c.ts', 'docs/x.md', 'docs/y.md', 'lib/x.ts', 'lib/y.ts', 'a.ts', 'docs/z.ts'];

describe('runs: the scheduler pass', () => {
  it('starts ready tasks in dependency order and says why the others wait', () => {
    const tasks = [
      task('docs', ['docs/**'], { depends_on: ['code'] }),
      task('code', ['src/**'], { depends_on: ['spec'] }),
      task('spec', ['spec/**']),
    ];
    const first = schedulePass(tasks, { max_agents: 3 }, 0);
    assert.deepEqual(
      first.start.map((s) => s.task),
      ['spec'],
    );
    assert.deepEqual(
      first.wait.map((w) => [w.task, w.reason]),
      [
        ['code', 'dependencies'],
        ['docs', 'dependencies'],
      ],
    );
    const done = tasks.map((t) => (t.id === 'spec' ? { ...t, status: 'completed' as const } : t));
    assert.deepEqual(
      schedulePass(done, { max_agents: 3 }, 0).start.map((s) => s.task),
      ['code'],
    );
    const failed = tasks.map((t) => (t.id === 'spec' ? { ...t, status: 'failed' as const } : t));
    assert.equal(schedulePass(failed, { max_agents: 3 }, 0).wait[0]?.reason, 'dependency-failed');
  });

  it('holds a task whose scope overlaps a running one, naming the holder; per-lane and per-class caps', () => {
    const tasks = [
      task('a', ['src/**'], { status: 'running', started_at: 0 }),
      task('b', ['src/b/x.ts']),
      task('c', ['docs/**'], { lane: 'docs' }),
      task('d', ['docs2/**'], { lane: 'docs' }),
      task('e', ['e/**'], { worker_class: 'premium' }),
      task('f', ['f/**'], { worker_class: 'premium' }),
    ];
    const pass = schedulePass(tasks, { max_agents: 10, per_lane: { docs: 1 }, per_class: { premium: 1 } }, 5);
    assert.deepEqual(
      pass.start.map((s) => s.task),
      ['c', 'e'],
    );
    const waits = Object.fromEntries(pass.wait.map((w) => [w.task, w.reason]));
    assert.deepEqual(waits, { b: 'path-locked', d: 'lane-full', f: 'class-full' });
    assert.equal(pass.wait.find((w) => w.task === 'b')?.holder, 'a');
  });

  it('hedges a straggler on another class, once, and only with a free agent', () => {
    const caps: ScheduleCaps = { max_agents: 2, hedge_after_ms: 100, hedge_classes: ['premium', 'fast'] };
    const slow = task('slow', ['src/**'], { status: 'running', started_at: 0, worker_class: 'premium' });
    assert.deepEqual(schedulePass([slow], caps, 99).hedge, []);
    const hedged = schedulePass([slow], caps, 100).hedge;
    assert.deepEqual(
      hedged.map((h) => [h.task, h.duplicate, h.worker_class]),
      [['slow', 'slow~hedge', 'fast']],
    );
    const duplicate = task('slow~hedge', ['src/**'], { status: 'running', started_at: 100, hedge_of: 'slow', worker_class: 'fast' });
    assert.deepEqual(schedulePass([slow, duplicate], caps, 500).hedge, [], 'a task is hedged once');
    assert.deepEqual(schedulePass([slow, { ...duplicate, status: 'failed' }], caps, 500).hedge, [], 'even once its hedge failed');
    const p90 = schedulePass([slow], { ...caps, hedge_after_ms: 10_000, class_p90_ms: { premium: 50 } }, 60).hedge;
    assert.match(p90[0]?.rationale ?? '', /past premium's p90 \(50 ms\)/, "a class's p90 makes a straggler before hedge_after");
    const squatter = task('slow~hedge', ['q/**'], { status: 'pending' });
    assert.deepEqual(schedulePass([slow, squatter], caps, 500).hedge, [], 'a hedge never takes an id a task already has');
    const full = task('other', ['x/**'], { status: 'running', started_at: 0 });
    assert.deepEqual(schedulePass([slow, full], caps, 500).hedge, [], 'no free agent: no hedge');
  });

  it('adopts the first success of a hedge pair and cancels the other; waits while one side may still win', () => {
    const result = (duration: number, success: boolean) => ({
      success,
      output: '',
      files_changed: [],
      duration_ms: duration,
      artifacts: [],
      usage: { tokens_in: 0, tokens_out: 0, usd: 0 },
    });
    const original = task('t', ['a/**'], { status: 'running', started_at: 0 });
    const duplicate = task('t~hedge', ['a/**'], { status: 'completed', started_at: 100, hedge_of: 't', result: result(50, true) });
    assert.deepEqual(settleHedge(original, duplicate), {
      adopt: 't~hedge',
      cancel: ['t'],
      failed: false,
      rationale: 't~hedge succeeded first (at 150)',
    });
    const bothDone = settleHedge({ ...original, status: 'completed', result: result(140, true) }, duplicate);
    assert.equal(bothDone.adopt, 't');
    assert.deepEqual(bothDone.cancel, []);
    const oneFailed = settleHedge(original, { ...duplicate, status: 'failed', result: result(10, false) });
    assert.deepEqual([oneFailed.adopt, oneFailed.cancel, oneFailed.failed], [undefined, [], false]);
    assert.equal(settleHedge({ ...original, status: 'failed' }, { ...duplicate, status: 'failed' }).failed, true);
  });

  it('property: over whole runs, never more than max_agents run, never two overlapping scopes, never a task before its dependencies', () => {
    const scope = fc.constantFrom(
      ['src/a/**'],
      ['src/b/**'],
      ['src/**'],
      ['docs/*.md'],
      ['docs/x.md'],
      ['**/*.ts'],
      ['lib/x.ts'],
      ['lib/y.ts'],
    );
    const node = fc.record({ scope, deps: fc.array(fc.nat(30), { maxLength: 3 }), lane: fc.constantFrom('web', 'api', undefined) });
    const run = fc.record({
      nodes: fc.array(node, { minLength: 1, maxLength: 25 }),
      maxAgents: fc.integer({ min: 1, max: 5 }),
      finishes: fc.array(fc.nat(100), { minLength: 60, maxLength: 60 }),
    });
    fc.assert(
      fc.property(run, ({ nodes, maxAgents, finishes }) => {
        let tasks = nodes.map((n, i) =>
          task(`t${i}`, [...n.scope], {
            depends_on: [...new Set(n.deps.filter((d) => d < i).map((d) => `t${d}`))],
            ...(n.lane ? { lane: n.lane } : {}),
          }),
        );
        for (const [step, pick] of finishes.entries()) {
          const started = new Set(schedulePass(tasks, { max_agents: maxAgents, per_lane: { web: 2 } }, step).start.map((s) => s.task));
          const status = new Map(tasks.map((t) => [t.id, t.status]));
          for (const t of tasks.filter((x) => started.has(x.id))) {
            assert.ok(
              t.depends_on.every((d) => status.get(d) === 'completed'),
              `${t.id} started before its dependencies`,
            );
          }
          tasks = tasks.map((t) => (started.has(t.id) ? { ...t, status: 'running' as const, started_at: step } : t));
          const running = tasks.filter((t) => t.status === 'running');
          assert.ok(running.length <= maxAgents);
          assert.ok(running.filter((t) => t.lane === 'web').length <= 2);
          for (const [i, a] of running.entries()) {
            for (const b of running.slice(i + 1)) {
              const shared = UNIVERSE.find((p) => picomatch.isMatch(p, a.spec.write_scope) && picomatch.isMatch(p, b.spec.write_scope));
              assert.equal(shared, undefined, `${a.id} and ${b.id} both write ${shared ?? ''}`);
            }
          }
          const done = running[pick % Math.max(1, running.length)];
          if (done)
            tasks = tasks.map((t) =>
              t.id === done.id ? { ...t, status: pick % 7 === 0 ? ('failed' as const) : ('completed' as const) } : t,
            );
        }
      }),
      { numRuns: 300 },
    );
  });
});

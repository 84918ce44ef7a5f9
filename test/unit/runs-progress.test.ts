// The run model round-trips as JSON, and the progress-file planner (builder-loop seed) reads rows with
// line-precise problems and selects exactly the eligible rows.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { runSchema, type Run } from '../../extension/core/runs/model';
import { parseProgress, planRows, rowToTask, selectRows, type ProgressRow } from '../../extension/core/runs/progress';

function rows(text: string): ProgressRow[] {
  const parsed = parseProgress(text);
  if (!parsed.ok) throw new Error(`unexpected problems: ${JSON.stringify(parsed.problems)}`);
  return parsed.rows;
}

function problems(text: string): { line: number; reason: string }[] {
  const parsed = parseProgress(text);
  if (parsed.ok) throw new Error('the file should be rejected');
  return parsed.problems;
}

describe('runs: the model', () => {
  it('a run with tasks and results survives JSON (what the store and the HTTP API will carry)', () => {
    const run: Run = {
      id: 'r1',
      goal: { kind: 'ticket', text: 'add login' },
      profile: 'prod-conservative',
      mode: 'apply',
      budgets: { usd: 50, tokens: 200_000, wall_ms: 3_600_000, task_tokens: 20_000 },
      status: 'running',
      created_at: 1000,
      tasks: [
        {
          id: 'spec',
          type: 'spec',
          spec: { prompt: 'write the spec', variables: { ticket: 'x' }, write_scope: ['docs/**'], test_commands: [], auto_commit: true },
          depends_on: [],
          attempts: 1,
          status: 'completed',
          result: {
            success: true,
            output: 'ok',
            commit_sha: 'abc',
            files_changed: ['docs/spec.md'],
            duration_ms: 10,
            artifacts: [],
            usage: { tokens_in: 5, tokens_out: 7, usd: 0.01 },
          },
        },
      ],
    };
    assert.deepEqual(runSchema.parse(JSON.parse(JSON.stringify(run))), run);
  });

  it('rejects a status outside the audit statuses, negative usage, duplicate task ids and unknown dependencies', () => {
    const bad = { id: 'r', goal: { kind: 'ticket', text: '' }, profile: 'p', mode: 'apply', budgets: {}, status: 'running', created_at: 0 };
    const task = { id: 't', type: 'code', spec: { prompt: 'p', variables: {}, write_scope: [], test_commands: [], auto_commit: true } };
    assert.equal(runSchema.safeParse({ ...bad, tasks: [{ ...task, depends_on: [], attempts: 0, status: 'done' }] }).success, false);
    assert.equal(runSchema.safeParse({ ...bad, status: 'paused', tasks: [] }).success, false);
    assert.equal(runSchema.safeParse({ ...bad, tasks: [] }).success, true);
    const ok = { ...task, depends_on: [], attempts: 0, status: 'pending' };
    assert.equal(runSchema.safeParse({ ...bad, tasks: [ok, ok] }).success, false, 'duplicate task ids');
    assert.equal(runSchema.safeParse({ ...bad, tasks: [{ ...ok, depends_on: ['ghost'] }] }).success, false, 'an unknown dependency');
    const result = {
      success: true,
      output: '',
      files_changed: [],
      duration_ms: 1,
      artifacts: [],
      usage: { tokens_in: -1, tokens_out: 0, usd: 0 },
    };
    assert.equal(
      runSchema.safeParse({ ...bad, tasks: [{ ...task, depends_on: [], attempts: 0, status: 'completed', result }] }).success,
      false,
    );
  });
});

const TWELVE = `rows:
  - { id: a, phase: 1, status: done, done_signal: "a merged" }
  - { id: b, phase: 1, write_scope: ["src/b/**"], test_commands: ["npm test"], done_signal: "b ok" }
  - { id: c, phase: 2, blocked_by: [a] }
  - { id: d, phase: 2, blocked_by: [b] }
  - { id: e, phase: 1, slice_size: umbrella }
  - { id: f, phase: 4 }
  - { id: g, phase: 3, ready_when: ["a merged"] }
  - { id: h, phase: 3, ready_when: ["deploy green"] }
  - { id: i, phase: 2, status: in_progress }
  - { id: j, phase: 3, blocked_by: [a, d] }
  - { id: k, phase: 1 }
  - { id: l, phase: 2, write_scope: ["src/**"] }
`;

describe('runs: the progress-file planner', () => {
  it('selects exactly the eligible rows of twelve, contract rows first, and says why of every row', () => {
    const selection = selectRows(rows(TWELVE), { max_agents: 10 });
    assert.deepEqual(
      selection.selected.map((row) => row.id),
      ['b', 'k', 'c', 'l', 'g'],
    );
    const verdicts = Object.fromEntries(selection.decisions.map((decision) => [decision.row, decision.verdict]));
    assert.deepEqual(verdicts, {
      a: 'done',
      b: 'selected',
      c: 'selected',
      d: 'blocked',
      e: 'umbrella',
      f: 'above-max-phase',
      g: 'selected',
      h: 'waiting-signal',
      i: 'in-progress',
      j: 'blocked',
      k: 'selected',
      l: 'selected',
    });
    assert.match(selection.decisions.find((decision) => decision.row === 'j')?.rationale ?? '', /blocked by d/);
  });

  it('never fills with ineligible rows when fewer are ready than agents; caps at max_agents otherwise', () => {
    const few = rows('rows:\n  - { id: x, phase: 1 }\n  - { id: y, phase: 1, blocked_by: [x] }\n  - { id: z, phase: 5 }\n');
    assert.deepEqual(
      selectRows(few, { max_agents: 3 }).selected.map((row) => row.id),
      ['x'],
    );
    const many = selectRows(rows(TWELVE), { max_agents: 2 });
    assert.deepEqual(
      many.selected.map((row) => row.id),
      ['b', 'k'],
    );
    assert.equal(many.decisions.find((decision) => decision.row === 'c')?.verdict, 'agents-full');
  });

  it('max_phase moves the cap; a signal reported by the caller makes a ready_when row ready', () => {
    const selection = selectRows(rows(TWELVE), { max_agents: 10, max_phase: 4, signals: ['deploy green'] });
    assert.ok(selection.selected.some((row) => row.id === 'f'));
    assert.ok(selection.selected.some((row) => row.id === 'h'));
  });

  it('property: a selected row is todo, not an umbrella, within max_phase, unblocked, and at most max_agents are selected', () => {
    const row = fc.record({
      phase: fc.integer({ min: 1, max: 5 }),
      status: fc.constantFrom('todo', 'in_progress', 'done'),
      umbrella: fc.boolean(),
      blockers: fc.array(fc.nat(11), { maxLength: 3 }),
    });
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 12 }), fc.nat(6), fc.integer({ min: 1, max: 5 }), (specs, agents, maxPhase) => {
        // Blockers point only backwards, so the file has no cycle.
        const list: ProgressRow[] = specs.map((spec, index) => ({
          id: `r${index}`,
          phase: spec.phase,
          status: spec.status,
          blocked_by: [...new Set(spec.blockers.filter((b) => b < index).map((b) => `r${b}`))],
          ready_when: [],
          type: 'code',
          line: index + 2,
          ...(spec.umbrella ? { slice_size: 'umbrella' } : {}),
        }));
        const selection = selectRows(list, { max_agents: agents, max_phase: maxPhase });
        assert.ok(selection.selected.length <= agents);
        assert.equal(selection.decisions.length, list.length);
        const status = new Map(list.map((r) => [r.id, r.status]));
        for (const chosen of selection.selected) {
          assert.equal(chosen.status, 'todo');
          assert.notEqual(chosen.slice_size, 'umbrella');
          assert.ok(chosen.phase <= maxPhase);
          assert.ok(chosen.blocked_by.every((blocker) => status.get(blocker) === 'done'));
        }
        const eligible = selection.decisions.filter((d) => d.verdict === 'selected' || d.verdict === 'agents-full').length;
        assert.equal(selection.selected.length, Math.min(agents, eligible));
      }),
    );
  });

  it('reads the seed’s JSON form too (progress.json)', () => {
    const parsed = rows('{"rows": [{"id": "a", "phase": 1, "write_scope": ["x/**"]}]}');
    assert.deepEqual(parsed[0]?.write_scope, ['x/**']);
  });

  it('names the line and the reason of a malformed row, an unknown field, an unknown blocker, a duplicate id', () => {
    const found = problems(
      'rows:\n  - id: a\n    phase: 1\n  - id: b\n    phase: zero\n  - id: c\n    phase: 1\n    blockd_by: [a]\n  - id: d\n    phase: 1\n    blocked_by: [nope]\n  - id: a\n    phase: 2\n',
    );
    assert.deepEqual(
      found.map((problem) => problem.line),
      [5, 8, 9, 12],
    );
    assert.match(found[0]?.reason ?? '', /phase/);
    assert.match(found[1]?.reason ?? '', /unknown field "blockd_by"/);
    assert.match(found[2]?.reason ?? '', /"nope", which is no row's id/);
    assert.match(found[3]?.reason ?? '', /duplicate id "a" \(first on line 2\)/);
  });

  it('rejects a cycle in blocked_by, naming it, and a file that is not rows', () => {
    const found = problems(
      'rows:\n  - { id: a, phase: 1, blocked_by: [c] }\n  - { id: b, phase: 1, blocked_by: [a] }\n  - { id: c, phase: 1, blocked_by: [b] }\n',
    );
    assert.equal(found.length, 1);
    assert.match(found[0]?.reason ?? '', /cycle: a → c → b → a/);
    assert.equal(found[0]?.line, 2);
    assert.match(problems('rows: 3\n')[0]?.reason ?? '', /list of rows/);
    const unclosed = problems('rows:\n  - { id: a, phase: 1\n')[0]?.line ?? 0;
    assert.ok(unclosed >= 2 && unclosed <= 3, `the unclosed row is on line 2, the parser notices by line 3 (got ${unclosed})`);
    assert.match(problems('rows:\n  - { id: a, phase: 1, blocked_by: [a] }\n')[0]?.reason ?? '', /cycle: a → a/);
  });

  it('the selected row becomes a task whose variables and prompt carry its own metadata, not the roadmap', () => {
    const row = rows(TWELVE).find((r) => r.id === 'b');
    assert.ok(row);
    const task = rowToTask(row);
    assert.equal(task.status, 'pending');
    assert.deepEqual(task.spec.write_scope, ['src/b/**']);
    assert.equal(task.spec.variables.row_id, 'b');
    assert.equal(task.spec.variables.test_commands, 'npm test');
    assert.equal(task.spec.done_signal, 'b ok');
    assert.match(task.spec.prompt, /row_id: b/);
    const bare = rows(TWELVE).find((r) => r.id === 'k');
    assert.ok(bare);
    assert.deepEqual(rowToTask(bare).spec.write_scope, ['**'], 'no write_scope: it may write anywhere, so it locks everything');
  });
});

describe('runs: the rows a run takes (planRows)', () => {
  const rowsOf = (rows: unknown[]): ProgressRow[] => {
    const parsed = parseProgress(JSON.stringify({ rows }));
    assert.ok(parsed.ok, JSON.stringify(parsed));
    return parsed.rows;
  };

  it('takes what is ready now and what its own rows unblock, with the blockers as dependencies; leaves the rest with reasons', () => {
    const rows = rowsOf([
      { id: 'a', phase: 1, status: 'done', done_signal: 'a-done' },
      { id: 'b', phase: 1, blocked_by: ['a'], done_signal: 'b-done' },
      { id: 'c', phase: 2, blocked_by: ['b'] },
      { id: 'd', phase: 2, ready_when: ['b-done'] },
      { id: 'e', phase: 1, slice_size: 'umbrella' },
      { id: 'f', phase: 4 },
      { id: 'g', phase: 2, blocked_by: ['f'] },
      { id: 'h', phase: 1, ready_when: ['deploy-green'] },
    ]);
    const plan = planRows(rows, { max_phase: 3 });
    assert.deepEqual(
      plan.tasks.map((t) => [t.id, t.depends_on, t.row]),
      [
        ['b', [], 'b'],
        ['c', ['b'], 'c'],
        ['d', ['b'], 'd'],
      ],
    );
    assert.deepEqual(Object.fromEntries(plan.left.map((d) => [d.row, d.verdict])), {
      e: 'umbrella',
      f: 'above-max-phase',
      g: 'blocked',
      h: 'waiting-signal',
    });
    assert.match(plan.left.find((d) => d.row === 'g')?.rationale ?? '', /blocked by f/);
  });

  it('never takes a done row, and takes nothing when nothing can run', () => {
    const plan = planRows(
      rowsOf([
        { id: 'a', phase: 1, status: 'done' },
        { id: 'b', phase: 5 },
      ]),
      {},
    );
    assert.deepEqual(plan.tasks, []);
    assert.deepEqual(
      plan.left.map((d) => d.row),
      ['b'],
    );
  });
});

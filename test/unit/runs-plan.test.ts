// The planner command's plan (issue 13): the last JSON object with "tasks" in an agent's chatty output,
// checked by schema and as a graph; every problem names its line in that output, and any problem means
// no tasks at all.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { taskSchema, type Task } from '../../extension/core/runs/model';
import { MAX_PLAN_TASKS, parsePlan, parseUsage, PLAN_FORMAT, type PlanProblem } from '../../extension/core/runs/plan';
import { jsonSyntaxError } from '../../extension/core/runs/json-syntax';
import { runsPolicySchema } from '../../extension/core/runs/policy';

const runs = runsPolicySchema.parse({ test_commands: ['npm test'] });

function tasks(text: string): Task[] {
  const parsed = parsePlan(text, runs);
  if (!parsed.ok) throw new Error(`unexpected problems: ${JSON.stringify(parsed.problems)}`);
  return parsed.tasks;
}

function problems(text: string): PlanProblem[] {
  const parsed = parsePlan(text, runs);
  if (parsed.ok) throw new Error('the plan should be rejected');
  return parsed.problems;
}

/** The 1-based line of the first line of `text` that contains `needle`. */
function lineOf(text: string, needle: string): number {
  const index = text.split('\n').findIndex((line) => line.includes(needle));
  assert.ok(index >= 0, `"${needle}" is in the text`);
  return index + 1;
}

const pretty = (value: unknown) => JSON.stringify(value, null, 2);

describe("runs: the planner command's plan", () => {
  it('takes the plan printed after prose, inside a ```json fence, with the defaults filled in', () => {
    const text = [
      "I looked at the repository. Here's my plan { roughly }:",
      '',
      '```json',
      pretty({
        rationale: 'schema first',
        tasks: [
          { id: 'schema', type: 'code', prompt: 'Add the users table { id, name }.', write_scope: ['db/**'] },
          {
            id: 'api',
            type: 'code',
            prompt: 'Expose "/users".',
            depends_on: ['schema'],
            test_commands: ['make api-test'],
            lane: 'backend',
          },
        ],
      }),
      '```',
      'Let me know if you want changes!',
    ].join('\n');
    const parsed = parsePlan(text, runs);
    assert.ok(parsed.ok);
    assert.equal(parsed.rationale, 'schema first');
    assert.deepEqual(
      parsed.tasks.map((t) => [t.id, t.type, t.depends_on, t.spec.write_scope, t.spec.test_commands, t.lane, t.status]),
      [
        ['schema', 'code', [], ['db/**'], ['npm test'], undefined, 'pending'],
        ['api', 'code', ['schema'], ['**'], ['make api-test'], 'backend', 'pending'],
      ],
    );
    assert.equal(parsed.tasks[0]?.spec.prompt, 'Add the users table { id, name }.');
    for (const task of parsed.tasks) assert.ok(taskSchema.safeParse(task).success);
  });

  it('takes a plan written inside a sentence, and the last of two plans', () => {
    assert.deepEqual(
      tasks('Plan: {"tasks": [{"id": "a", "type": "code", "prompt": "p"}]} — that is all.').map((t) => t.id),
      ['a'],
    );
    const two = `draft:\n${pretty({ tasks: [{ id: 'old', type: 'code', prompt: 'p' }] })}\nfinal:\n${pretty({ tasks: [{ id: 'new', type: 'code', prompt: 'p' }] })}\n`;
    assert.deepEqual(
      tasks(two).map((t) => t.id),
      ['new'],
    );
  });

  it('rejects a good draft followed by a broken final plan, at the broken line (the draft must not run instead)', () => {
    const text = `${pretty({ tasks: [{ id: 'draft', type: 'code', prompt: 'p' }] })}\nCorrected:\n{\n  "tasks": [\n    {"id": "a", "type": "code", "prompt": "p"},\n  ]\n}\n`;
    const found = problems(text);
    assert.equal(found.length, 1);
    assert.equal(found[0]?.line, text.split('\n').lastIndexOf('  ]') + 1, 'the line after the trailing comma');
    assert.match(found[0].reason, /not valid JSON/);
  });

  it('names the line of a JSON syntax error, and of a plan cut off in the middle', () => {
    const text = 'Sure.\n\n{\n  "tasks": [\n    {"id": "a", "type": "code" "prompt": "p"}\n  ]\n}\n';
    assert.deepEqual(
      problems(text).map((p) => p.line),
      [5],
    );
    const cut = 'Plan:\n{\n  "tasks": [\n    {"id": "a", "type": "code", "prompt": "p"},\n    {"id": "b", "ty';
    const found = problems(cut);
    assert.equal(found[0]?.line, 2);
    assert.match(found[0].reason, /never ends \(was the output cut off\?\)/);
  });

  it('says so when the output has no plan at all', () => {
    for (const text of ['', 'I could not plan this ticket.', '{"plan": []}', '[1, 2, 3]']) {
      const found = problems(text);
      assert.equal(found.length, 1);
      assert.match(found[0]?.reason ?? '', /no plan found: the output has no JSON object with "tasks"/);
    }
  });

  it('names the line and path of unknown keys, bad ids, types, prompts and scopes', () => {
    const text = [
      'Thinking…',
      '{',
      '  "tasks": [',
      '    {',
      '      "id": "a",',
      '      "type": "code",',
      '      "prompt": "p",',
      '      "deps": ["b"]',
      '    },',
      '    {',
      '      "id": "../../etc",',
      '      "type": "Code",',
      '      "prompt": "   ",',
      '      "write_scope": ["src/**", "../outside/**", "/etc/passwd"]',
      '    }',
      '  ],',
      '  "summary": "x"',
      '}',
    ].join('\n');
    const found = problems(text);
    const at = (path: string) => found.find((p) => p.path === path);
    assert.equal(at('tasks[0].deps')?.line, 8);
    assert.match(
      at('tasks[0].deps')?.reason ?? '',
      /task "a": unknown key "deps" \(known: id, type, prompt, depends_on, write_scope, test_commands, lane\)/,
    );
    assert.equal(at('tasks[1].id')?.line, 11);
    assert.equal(at('tasks[1].type')?.line, 12);
    assert.equal(at('tasks[1].prompt')?.line, 13);
    assert.match(at('tasks[1].prompt')?.reason ?? '', /the prompt is empty/);
    assert.equal(at('tasks[1].write_scope[1]')?.line, 14);
    assert.match(at('tasks[1].write_scope[1]')?.reason ?? '', /"\.\.\/outside\/\*\*" is outside the repository/);
    assert.equal(at('tasks[1].write_scope[2]')?.line, 14);
    assert.equal(at('tasks[1].write_scope[0]'), undefined, 'a good glob is no problem');
    assert.equal(at('summary')?.line, 17);
    assert.deepEqual(
      found.map((p) => p.line),
      [...found.map((p) => p.line)].sort((a, b) => a - b),
      'in line order',
    );
  });

  it('refuses ids that are not safe in a branch or directory name', () => {
    for (const id of ['a/b', '..', 'a..b', '.hidden', 'x.lock', 'end.', 'a b', 'x'.repeat(65), '-flag', 'a~1', 'a:b', '']) {
      const found = problems(pretty({ tasks: [{ id, type: 'code', prompt: 'p' }] }));
      assert.ok(
        found.some((p) => p.path === 'tasks[0].id'),
        `${JSON.stringify(id)} refused`,
      );
    }
    assert.deepEqual(
      tasks(pretty({ tasks: [{ id: 'PROJ-1.step_2', type: 'code', prompt: 'p' }] })).map((t) => t.id),
      ['PROJ-1.step_2'],
    );
  });

  it('refuses duplicate ids (also ids equal but for case), naming both', () => {
    const text = pretty({
      tasks: [
        { id: 'code', type: 'code', prompt: 'p' },
        { id: 'Code', type: 'code', prompt: 'p' },
        { id: 'code', type: 'code', prompt: 'p' },
      ],
    });
    const found = problems(text);
    assert.equal(found.length, 2);
    assert.match(found[0]?.reason ?? '', /duplicate task id "Code" \("code" differs only in case/);
    assert.match(found[1]?.reason ?? '', /duplicate task id "code"$/);
    assert.deepEqual(
      found.map((p) => p.path),
      ['tasks[1]', 'tasks[2]'],
    );
  });

  it('points an unknown dependency at its own line', () => {
    const text =
      '{\n  "tasks": [\n    {\n      "id": "a", "type": "code", "prompt": "p",\n      "depends_on": [\n        "b",\n        "ghost"\n      ]\n    },\n    {"id": "b", "type": "code", "prompt": "p"}\n  ]\n}';
    const found = problems(text);
    assert.deepEqual(found, [
      { line: 7, path: 'tasks[0].depends_on[1]', reason: 'task "a" depends on "ghost", which is no task of the plan' },
    ]);
  });

  it('names each cycle, a task depending on itself too, at the line of a task in it', () => {
    const text = pretty({
      tasks: [
        { id: 'a', type: 'code', prompt: 'p', depends_on: ['c'] },
        { id: 'b', type: 'code', prompt: 'p', depends_on: ['a'] },
        { id: 'c', type: 'code', prompt: 'p', depends_on: ['b'] },
        { id: 'd', type: 'code', prompt: 'p' },
        { id: 'e', type: 'code', prompt: 'p', depends_on: ['d', 'e'] },
      ],
    });
    const found = problems(text);
    assert.deepEqual(
      found.map((p) => [p.path, p.reason]),
      [
        ['tasks[0]', 'depends_on forms a cycle: a → c → b → a'],
        ['tasks[4]', 'depends_on forms a cycle: e → e (a task cannot depend on itself)'],
      ],
    );
    assert.equal(found[0]?.line, lineOf(text, '"id": "a"') - 1, 'the line where task a starts');
  });

  it('finds a cycle in a long chain without blowing the stack', () => {
    const chain = Array.from({ length: MAX_PLAN_TASKS }, (_, i) => ({
      id: `t${i}`,
      type: 'code',
      prompt: 'p',
      depends_on: [`t${(i + 1) % MAX_PLAN_TASKS}`],
    }));
    const found = problems(JSON.stringify({ tasks: chain }));
    assert.equal(found.length, 1);
    assert.match(found[0]?.reason ?? '', /^depends_on forms a cycle: t0 → t1 → .* → t199 → t0$/);
  });

  it('refuses an empty plan and one of more than 200 tasks', () => {
    assert.match(problems('{"tasks": []}')[0]?.reason ?? '', /the plan has no tasks/);
    const many = Array.from({ length: MAX_PLAN_TASKS + 1 }, (_, i) => ({ id: `t${i}`, type: 'code', prompt: 'p' }));
    assert.match(problems(JSON.stringify({ tasks: many }))[0]?.reason ?? '', /at most 200 tasks: split the ticket/);
    assert.equal(tasks(JSON.stringify({ tasks: many.slice(0, MAX_PLAN_TASKS) })).length, MAX_PLAN_TASKS);
  });

  it('gives up on output made of braces that never close, quickly, instead of scanning it over and over', () => {
    const started = Date.now();
    const found = problems(`Thinking\n${'{ "tasks": [\n'.repeat(100_000)}`);
    assert.equal(found.length, 1);
    assert.match(found[0]?.reason ?? '', /too many "\{" that never close|never ends/);
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  });

  it('refuses a key given twice (JSON would silently keep the last)', () => {
    const text = '{\n  "tasks": [{"id": "a", "type": "code", "prompt": "p"}],\n  "tasks": [{"id": "b", "type": "code", "prompt": "p"}]\n}';
    assert.deepEqual(problems(text), [
      { line: 3, path: '', reason: '"tasks" appears twice in one object: which one was meant is unclear' },
    ]);
  });

  it('puts every problem on the line where it was written (property: random plans, one unknown key)', () => {
    const id = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
    fc.assert(
      fc.property(
        fc.uniqueArray(id, { minLength: 1, maxLength: 12 }),
        fc.nat(),
        fc.array(fc.constantFrom('Thinking.', '{ not json', '```', '', 'tasks: maybe', '}'), { maxLength: 6 }),
        fc.boolean(),
        (ids, pick, prose, compact) => {
          const bad = pick % ids.length;
          const plan = {
            tasks: ids.map((taskId, i) => ({
              id: taskId,
              type: 'code',
              prompt: `do ${taskId} {"tasks": 1}`,
              depends_on: ids.slice(0, i).slice(-1),
              ...(i === bad ? { 'unknown-key': true } : {}),
            })),
          };
          const json = compact ? JSON.stringify(plan).replace(/\},\{/g, '},\n{') : pretty(plan);
          const text = [...prose, json, 'Done.'].join('\n');
          const found = problems(text);
          assert.equal(found.length, 1);
          assert.equal(found[0]?.path, `tasks[${bad}].unknown-key`);
          assert.equal(found[0].line, lineOf(text, '"unknown-key"'));
          // The same plan without the key is accepted whole, in order.
          const good = text.replace(/,?\s*"unknown-key":\s*true/, '');
          assert.deepEqual(
            tasks(good).map((t) => t.id),
            ids,
          );
        },
      ),
      { numRuns: 150 },
    );
  });

  it('reads usage the way workers report it: the last JSON line with tokens and USD', () => {
    assert.deepEqual(
      parseUsage('plan…\n{"tokens_in": 10, "tokens_out": 20, "usd": 0.5}\n{"usage": {"tokens_in": 1, "tokens_out": 2, "usd": 0.01}}\n'),
      {
        tokens_in: 1,
        tokens_out: 2,
        usd: 0.01,
      },
    );
    assert.equal(parseUsage('{"tokens_in": -1, "tokens_out": 2, "usd": 0}\nno usage here'), undefined);
  });

  it('describes the format it reads (what the planner is told)', () => {
    const example = /\{\n[\s\S]*?\n\}/.exec(PLAN_FORMAT)?.[0] ?? '';
    const parsed = parsePlan(example.replace(/…/g, 'x'), runs);
    assert.ok(parsed.ok, 'the example in PLAN_FORMAT is itself a valid plan');
    assert.deepEqual(
      parsed.tasks.map((t) => t.id),
      ['spec', 'code'],
    );
  });

  it('finds a JSON syntax error exactly when JSON.parse does (property), so the line it names is real', () => {
    const accepts = (text: string) => {
      try {
        JSON.parse(text);
        return true;
      } catch {
        return false;
      }
    };
    const near = fc.oneof(
      fc.json(),
      fc.string({ unit: fc.constantFrom('{', '}', '[', ']', '"', ',', ':', ' ', '\n', '1', '-', '.', 'e', 'true', 'nul', '\\', 'u', '0') }),
      fc.json().map((json) => json.replace(/\}$/, ',}')),
    );
    fc.assert(
      fc.property(near, (text) => {
        const found = jsonSyntaxError(text);
        assert.equal(found === undefined, accepts(text), text);
        if (found) assert.ok(found.at >= 0 && found.at <= text.length);
      }),
      { numRuns: 2000 },
    );
    assert.deepEqual(jsonSyntaxError('{\n  "a": 1\n  "b": 2\n}'), { at: 13, reason: 'expected "," or "}" after a value, found "\\""' });
    assert.match(jsonSyntaxError('['.repeat(100_000))?.reason ?? '', /nested more than 256 levels/);
  });
});

// The router (issue 13): CEL rules tried in order, fallbacks at a class's cap, the default, a cheaper class
// past the budget's threshold, bad rules as policy problems at their line, and the learned choice.
import { strict as assert } from 'node:assert';
import { judgeBudget, type BudgetVerdict } from '../../extension/core/runs/budget';
import type { Run, Task } from '../../extension/core/runs/model';
import { runsPolicySchema } from '../../extension/core/runs/policy';
import {
  compileRouter,
  compileWhen,
  learn,
  route,
  type CompiledRouter,
  type RouteOptions,
  type RouterStat,
} from '../../extension/core/runs/router';
import { betaSample, seededRng } from '../../extension/core/runs/router-learn';
import { parsePolicy } from '../../extension/core/policy/parse';

const WORKERS = [
  { name: 'premium', command: 'claude', usd_per_mtok_in: 3, usd_per_mtok_out: 15 },
  { name: 'fast', command: 'codex' },
  { name: 'local', command: 'ollama' },
];

function router(section: Record<string, unknown>): CompiledRouter {
  const compiled = compileRouter(runsPolicySchema.parse({ workers: WORKERS, ...section }));
  if (!compiled.ok) throw new Error(JSON.stringify(compiled.problems));
  return compiled.router;
}

function task(type: string, prompt = 'small', extra: Partial<Task> = {}): Task {
  return {
    id: `${type}-1`,
    type,
    spec: { prompt, variables: {}, write_scope: ['src/**'], test_commands: [], auto_commit: true },
    depends_on: [],
    attempts: 0,
    status: 'pending',
    ...extra,
  };
}

const RUN: Run = {
  id: 'run-1',
  goal: { kind: 'ticket', text: 't' },
  profile: 'prod-conservative',
  mode: 'apply',
  budgets: {},
  status: 'running',
  created_at: 0,
  tasks: [],
};
const OK: BudgetVerdict = judgeBudget({}, { tokens_in: 0, tokens_out: 0, usd: 0 }, 0, 0);
const FREE: RouteOptions = { classLoad: {}, perClass: {} };
const RULES = {
  router: {
    rules: [
      { when: 'task.type == "spec" && task.context_tokens > 60000', use: 'premium', fallback: ['fast'] },
      { when: 'task.type in ["spec", "docs"]', use: 'fast', fallback: ['local'] },
    ],
    default: 'local',
  },
};

describe('runs: the router', () => {
  it('takes the first rule whose `when` holds, in order, else the default', () => {
    const compiled = router(RULES);
    const big = route(compiled, task('spec', 'x'.repeat(4 * 60_001)), RUN, OK, FREE);
    assert.equal(big.worker_class, 'premium');
    assert.match(big.rationale, /rule 1 \(task\.type == "spec" && task\.context_tokens > 60000\) matched/);
    assert.equal(route(compiled, task('spec', 'x'.repeat(4 * 60_000)), RUN, OK, FREE).worker_class, 'fast', '60000 tokens is not > 60000');
    assert.equal(route(compiled, task('docs'), RUN, OK, FREE).worker_class, 'fast');
    const other = route(compiled, task('code'), RUN, OK, FREE);
    assert.deepEqual([other.worker_class, other.degraded], ['local', false]);
    assert.match(other.rationale, /no rule matched; the default class local/);
    assert.equal(route(router({}), task('code'), RUN, OK, FREE).worker_class, 'premium', 'no default: the first class');
  });

  it('uses the fallbacks in order when the rule’s class is at its per_class cap, and waits when all are', () => {
    const compiled = router(RULES);
    const spec = task('spec', 'x'.repeat(300_000));
    const fallback = route(compiled, spec, RUN, OK, { classLoad: { premium: 2 }, perClass: { premium: 2 } });
    assert.equal(fallback.worker_class, 'fast');
    assert.match(fallback.rationale, /premium is at its per_class cap \(2 of 2\): fallback fast/);
    const full = route(compiled, spec, RUN, OK, { classLoad: { premium: 1, fast: 1 }, perClass: { premium: 1, fast: 1 } });
    assert.equal(full.worker_class, 'premium', 'the scheduler makes it wait (class-full) rather than break the rule');
    assert.match(full.rationale, /every candidate is at its per_class cap/);
    assert.equal(
      route(compiled, spec, RUN, OK, { classLoad: { premium: 5 }, perClass: {} }).worker_class,
      'premium',
      'no cap, no fallback',
    );
  });

  it('sees the budget: usd_left, tokens_left (a large number without a cap), fraction_used and state', () => {
    const compiled = router({
      router: { rules: [{ when: 'budget.usd_left < 5.0 || budget.tokens_left < 1000', use: 'local' }], default: 'premium' },
    });
    const spent = (usd: number, tokens: number) => ({ tokens_in: tokens, tokens_out: 0, usd });
    assert.equal(route(compiled, task('code'), RUN, judgeBudget({ usd: 10 }, spent(6, 0), 0, 0), FREE).worker_class, 'local');
    assert.equal(route(compiled, task('code'), RUN, judgeBudget({ usd: 10 }, spent(4, 0), 0, 0), FREE).worker_class, 'premium');
    assert.equal(route(compiled, task('code'), RUN, OK, FREE).worker_class, 'premium', 'no caps: nothing is short');
    assert.equal(route(compiled, task('code'), RUN, judgeBudget({ tokens: 5000 }, spent(0, 4500), 0, 0, 1), FREE).worker_class, 'local');
    const fraction = router({ router: { rules: [{ when: 'budget.fraction_used > 0.5 && budget.state == "ok"', use: 'fast' }] } });
    assert.equal(route(fraction, task('code'), RUN, judgeBudget({ usd: 10, tokens: 100 }, spent(2, 60), 0, 0), FREE).worker_class, 'fast');
    assert.equal(
      route(fraction, task('code'), RUN, judgeBudget({ usd: 10, tokens: 100 }, spent(2, 40), 0, 0), FREE).worker_class,
      'premium',
    );
  });

  it('degrades to the next cheaper class past the budget threshold, and says so', () => {
    const compiled = router(RULES);
    const degrade = judgeBudget({ usd: 10 }, { tokens_in: 0, tokens_out: 0, usd: 9 }, 0, 0);
    const choice = route(compiled, task('spec', 'x'.repeat(300_000)), RUN, degrade, FREE);
    assert.deepEqual([choice.worker_class, choice.degraded], ['fast', true]);
    assert.match(choice.rationale, /past 80% of a cap: 9\.00 of 10\.00 USD.*fast instead of premium/);
    assert.deepEqual(route(compiled, task('code'), RUN, degrade, FREE).worker_class, 'local', 'the cheapest class stays');
  });

  it('orders classes dearest first by cost_rank, then by the list', () => {
    const ranked = compileRouter(
      runsPolicySchema.parse({
        workers: [
          { name: 'fast', command: 'a', cost_rank: 1 },
          { name: 'premium', command: 'b', cost_rank: 9 },
          { name: 'local', command: 'c', cost_rank: 0 },
        ],
      }),
    );
    assert.ok(ranked.ok);
    assert.deepEqual(ranked.router.classes, ['premium', 'fast', 'local']);
    assert.deepEqual(router({}).classes, ['premium', 'fast', 'local'], 'no cost_rank: the list order, dearest first');
  });

  it('skips a rule that fails at run time, says why, and goes on to the next', () => {
    const compiled = router({
      router: {
        rules: [
          { when: '100 / task.attempts > 1000', use: 'local' },
          { when: 'task.attempts > 0 ? "yes" : false', use: 'local' },
          { when: 'task.type == "code"', use: 'fast' },
        ],
      },
    });
    const choice = route(compiled, task('code', 'p', { attempts: 0 }), RUN, OK, FREE);
    assert.equal(choice.worker_class, 'fast');
    assert.match(choice.rationale, /rule 1 \(100 \/ task\.attempts > 1000\) skipped: it failed to evaluate \(.*divi.*\)/i);
    const second = route(compiled, task('code', 'p', { attempts: 1 }), RUN, OK, FREE);
    assert.equal(second.worker_class, 'fast');
    assert.match(second.rationale, /rule 2 .* skipped: it gave the string "yes", not true or false/);
  });
});

describe('runs: router rules in the policy file', () => {
  const policy = (rules: string, extra = '') => `target: main
runs:
  workers:
    - name: premium
      command: claude
    - name: fast
      command: codex
  router:
    rules:
${rules}${extra}`;

  function problems(text: string) {
    const result = parsePolicy(text);
    assert.equal(result.ok, false, 'the policy must be refused');
    return result.problems.map((problem) => ({ line: problem.line, code: problem.code, message: problem.message, hint: problem.hint }));
  }

  it('a `when` that does not compile is a problem at its line, naming the CEL error', () => {
    const found = problems(
      policy(`      - when: task.type == "spec"
        use: premium
      - when: task.type ==
        use: fast
      - when: task.typ == "docs"
        use: fast
      - when: tsk.type == "docs"
        use: fast
      - when: task.type > 3
        use: fast
      - when: task.type
        use: fast
`),
    );
    assert.deepEqual(
      found.map(({ line, code }) => [line, code]),
      [
        [12, 'bad-cel'],
        [14, 'bad-cel'],
        [16, 'bad-cel'],
        [18, 'bad-cel'],
        [20, 'bad-cel'],
      ],
    );
    assert.match(found[0]?.message ?? '', /runs\.router\.rules\[1\]\.when does not compile as CEL: at column \d+/);
    assert.match(found[1]?.message ?? '', /task has no field "typ" \(known: type, id, lane, attempts, context_tokens\)/);
    assert.match(found[2]?.message ?? '', /unknown variable "tsk" \(known: task, budget\)/);
    assert.match(found[3]?.message ?? '', /no matching overload for '_>_' applied to '\(string, int\)'/);
    assert.match(found[4]?.message ?? '', /it gives the string "code", not true or false/);
    assert.match(found[0]?.hint ?? '', /task\.type == "spec" && task\.context_tokens > 60000/);
  });

  it('checks the names a `when` uses however they are written, and leaves a comprehension’s own variables alone', () => {
    const message = (source: string): string => {
      const compiled = compileWhen(source);
      return compiled.ok ? 'ok' : compiled.message;
    };
    assert.equal(message('task["typ"] == "code"'), 'task has no field "typ" (known: type, id, lane, attempts, context_tokens)');
    assert.equal(
      message('budget.usd_lft < 1.0 || budget.state == "ok"'),
      'budget has no field "usd_lft" (known: usd_left, tokens_left, fraction_used, state)',
    );
    assert.equal(message('[1, 2].exists(task, task > 1) && has(task.lane) && task["lane"] == ""'), 'ok');
    assert.equal(message('[1, 2].exists(x, x > y)'), 'unknown variable "y" (known: task, budget)');
    assert.match(message('budget.usd_left * 2 > 10.0'), /no matching overload for '_\*_' applied to '\(double, int\)'/);
  });

  it('a class that is no worker class is a problem naming the known classes', () => {
    const found = problems(
      policy(
        `      - when: task.type == "spec"
        use: cheap
        fallback: [fast, locl]
`,
        '    default: nope\n',
      ),
    );
    assert.deepEqual(
      found.map(({ line, code, message }) => [line, code, message]),
      [
        [11, 'unknown-class', 'runs.router.rules[0].use is "cheap", which is no worker class (known: premium, fast)'],
        [12, 'unknown-class', 'runs.router.rules[0].fallback[1] is "locl", which is no worker class (known: premium, fast)'],
        [13, 'unknown-class', 'runs.router.default is "nope", which is no worker class (known: premium, fast)'],
      ],
    );
  });

  it('the documented example and a policy without workers are valid', () => {
    const good = parsePolicy(
      policy(`      - when: task.type == "spec" && task.context_tokens > 60000
        use: premium
        fallback: [fast]
      - when: budget.fraction_used > 0.5
        use: fast
`),
    );
    assert.deepEqual(good.problems, []);
    assert.equal(parsePolicy('target: main\nruns:\n  max_agents: 2\n').ok, true);
  });
});

describe('runs: the learned router', () => {
  /** Plays `rounds` tasks of one type against classes with known success rates and costs. */
  function simulate(
    truth: Record<string, { p: number; usd: number }>,
    rounds: number,
    seed: number,
    section: Record<string, unknown> = { min_success: 0 },
  ): string[] {
    const compiled = router({ workers: Object.keys(truth).map((name) => ({ name, command: name })), router: { learn: true, ...section } });
    const rng = seededRng(seed);
    let stats: Record<string, RouterStat> = {};
    const chosen: string[] = [];
    for (let i = 0; i < rounds; i++) {
      const choice = route(compiled, task('code'), RUN, OK, { classLoad: {}, perClass: {}, stats, rng });
      const class_ = truth[choice.worker_class];
      assert.ok(class_, `chose a known class, got ${choice.worker_class}`);
      chosen.push(choice.worker_class);
      stats = learn(stats, choice.worker_class, 'code', { success: rng() < class_.p, usd: class_.usd, duration_ms: 1000 });
    }
    return chosen;
  }

  const share = (list: readonly string[], name: string): number => list.filter((entry) => entry === name).length / list.length;

  it('converges to the class with the least cost per success, not merely the cheapest', () => {
    // premium: $1.00 / 0.9 = $1.11 per success; fast: $0.15 / 0.7 = $0.21; local: $0.05 / 0.05 = $1.00.
    const truth = { premium: { p: 0.9, usd: 1 }, fast: { p: 0.7, usd: 0.15 }, local: { p: 0.05, usd: 0.05 } };
    for (const seed of [1, 2, 3]) {
      const late = simulate(truth, 300, seed).slice(200);
      assert.ok(share(late, 'fast') >= 0.85, `seed ${seed}: fast chosen ${share(late, 'fast')} of the last 100`);
    }
    // When the cheap classes almost never succeed, the dear one is cheaper per success.
    const dear = simulate({ premium: { p: 0.9, usd: 1 }, fast: { p: 0.02, usd: 0.3 }, local: { p: 0.01, usd: 0.2 } }, 300, 4).slice(200);
    assert.ok(share(dear, 'premium') >= 0.85, `premium chosen ${share(dear, 'premium')} of the last 100`);
  });

  it('with the default quality floor (min_success 0.8), a cheap class that fails often loses to one that succeeds', () => {
    // Without the floor fast wins ($0.21 per success against premium's $1.11): cheaper per success, but three
    // failures in ten are escalations and lead time its USD does not show.
    const truth = { premium: { p: 0.9, usd: 1 }, fast: { p: 0.7, usd: 0.15 }, local: { p: 0.3, usd: 0.01 } };
    for (const seed of [1, 2, 3]) {
      // The floor is applied to the draw, so fast is still tried now and then while its rate is uncertain.
      const late = simulate(truth, 600, seed, {}).slice(500);
      assert.ok(share(late, 'premium') >= 0.85, `seed ${seed}: premium chosen ${share(late, 'premium')} of the last 100`);
    }
    // Above the floor, price still decides: fast clears 0.8 here and is the cheaper per success.
    const both = { premium: { p: 0.95, usd: 1 }, fast: { p: 0.9, usd: 0.15 }, local: { p: 0.3, usd: 0.01 } };
    const late = simulate(both, 300, 5, {}).slice(200);
    assert.ok(share(late, 'fast') >= 0.85, `fast chosen ${share(late, 'fast')} of the last 100`);
  });

  it('when no class clears the floor, takes the best sampled success, not the cheapest, and says so', () => {
    const truth = { premium: { p: 0.6, usd: 1 }, fast: { p: 0.3, usd: 0.15 }, local: { p: 0.1, usd: 0.01 } };
    const late = simulate(truth, 300, 6, { min_success: 0.95 }).slice(200);
    assert.ok(share(late, 'premium') >= 0.85, `premium chosen ${share(late, 'premium')} of the last 100`);
    const compiled = router({ router: { learn: true, min_success: 0.95 } });
    let stats: Record<string, RouterStat> = {};
    for (let i = 0; i < 50; i++) {
      stats = learn(stats, 'premium', 'code', { success: i % 2 === 0, usd: 1, duration_ms: 1 });
      stats = learn(stats, 'local', 'code', { success: i % 10 === 0, usd: 0.01, duration_ms: 1 });
      stats = learn(stats, 'fast', 'code', { success: i % 4 === 0, usd: 0.1, duration_ms: 1 });
    }
    const choice = route(compiled, task('code'), RUN, OK, { ...FREE, stats, rng: seededRng(3) });
    assert.equal(choice.worker_class, 'premium');
    assert.match(choice.rationale, /no class's sampled success reached min_success 0\.95: the best sampled success/);
    let good: Record<string, RouterStat> = {};
    for (let i = 0; i < 50; i++) {
      good = learn(good, 'premium', 'code', { success: i % 10 !== 0, usd: 1, duration_ms: 1 });
      good = learn(good, 'local', 'code', { success: i % 10 === 0, usd: 0.01, duration_ms: 1 });
    }
    const floored = route(router({ router: { learn: true } }), task('code'), RUN, OK, { ...FREE, stats: good, rng: seededRng(3) });
    assert.equal(floored.worker_class, 'premium', floored.rationale);
    assert.match(floored.rationale, /among the classes at or above min_success 0\.8 \(below it: [a-z, ]*local/);
  });

  it('min_success is a rate: outside 0–1 it is a policy problem at its line', () => {
    assert.equal(runsPolicySchema.parse({}).router.min_success, 0.8);
    const bad = parsePolicy('target: main\nruns:\n  router:\n    learn: true\n    min_success: 80\n');
    assert.equal(bad.ok, false);
    assert.deepEqual(
      bad.problems.map((problem) => [problem.line, /runs\.router\.min_success/.test(problem.message)]),
      [[5, true]],
    );
  });

  it('states the numbers of every choice, and replays the same choices from the same seed', () => {
    const truth = { premium: { p: 0.9, usd: 1 }, fast: { p: 0.7, usd: 0.15 }, local: { p: 0.3, usd: 0.05 } };
    assert.deepEqual(simulate(truth, 100, 7), simulate(truth, 100, 7));
    assert.notDeepEqual(simulate(truth, 100, 7), simulate(truth, 100, 8));
    const compiled = router({ router: { learn: true } });
    const stats = learn(learn({}, 'fast', 'code', { success: true, usd: 0.2, duration_ms: 10 }), 'fast', 'code', {
      success: false,
      usd: 0.4,
      duration_ms: 10,
    });
    const once = route(compiled, task('code', 'x'.repeat(4000)), RUN, OK, { ...FREE, stats });
    assert.match(once.rationale, /learned \(Thompson sampling on code\)/);
    assert.match(once.rationale, /fast p=0\.\d{3} \(1\/2 succeeded, mean \$0\.3000\)/);
    assert.match(once.rationale, /premium p=0\.\d{3} \(unseen, prior \$0\.0180\)/, '1000 tokens in and out at $3 + $15 per million');
    assert.match(once.rationale, /local p=0\.\d{3} \(unseen, prior \$0\.0000\)/);
    assert.deepEqual(
      route(compiled, task('code'), RUN, OK, { ...FREE, stats }),
      route(compiled, task('code'), RUN, OK, { ...FREE, stats }),
    );
  });

  it('learns among the matched rule’s classes only, skipping those at their cap', () => {
    const compiled = router({ router: { learn: true, rules: [{ when: 'task.type == "docs"', use: 'fast', fallback: ['local'] }] } });
    for (let seed = 0; seed < 20; seed++) {
      const choice = route(compiled, task('docs'), RUN, OK, { ...FREE, rng: seededRng(seed) });
      assert.ok(['fast', 'local'].includes(choice.worker_class), choice.rationale);
      assert.equal(
        route(compiled, task('docs'), RUN, OK, { classLoad: { fast: 1 }, perClass: { fast: 1 }, rng: seededRng(seed) }).worker_class,
        'local',
      );
    }
  });

  it('learn() adds an outcome to new stats, keyed class:type, totals summed', () => {
    const before: Record<string, RouterStat> = {};
    const once = learn(before, 'fast', 'code', { success: true, usd: 0.25, duration_ms: 1000 });
    const twice = learn(once, 'fast', 'code', { success: false, usd: 0.5, duration_ms: 3000 });
    assert.deepEqual(before, {});
    assert.deepEqual(twice['fast:code'], { worker_class: 'fast', type: 'code', successes: 1, failures: 1, usd: 0.75, duration_ms: 4000 });
    assert.deepEqual(Object.keys(learn(twice, 'fast', 'docs', { success: true, usd: 0, duration_ms: 0 })).sort(), [
      'fast:code',
      'fast:docs',
    ]);
  });

  it('the Beta sampler has the Beta distribution’s mean and spread', () => {
    const rng = seededRng(42);
    for (const [a, b] of [
      [1, 1],
      [3, 7],
      [20, 2],
    ] as const) {
      const draws = Array.from({ length: 20_000 }, () => betaSample(a, b, rng));
      const mean = draws.reduce((sum, x) => sum + x, 0) / draws.length;
      const variance = draws.reduce((sum, x) => sum + (x - mean) ** 2, 0) / draws.length;
      const expected = a / (a + b);
      assert.ok(Math.abs(mean - expected) < 0.01, `Beta(${a},${b}) mean ${mean} vs ${expected}`);
      assert.ok(Math.abs(variance - (a * b) / ((a + b) ** 2 * (a + b + 1))) < 0.005, `Beta(${a},${b}) variance ${variance}`);
      assert.ok(draws.every((x) => x > 0 && x < 1));
    }
  });
});

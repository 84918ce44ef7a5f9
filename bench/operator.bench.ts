// `npm run bench:operator` (issue 13, "Measure"):
// 1. the median time of one scheduling pass over 1,000 tasks (a random DAG from a fixed seed, 20 lanes,
//    overlapping write scopes, a run part-way through); target ≤ 20 ms;
// 2. the simulated fleet (bench/sim/fleet.ts): 200 tickets as progress rows, worked by simulated worker
//    classes through the real planner, the run engine's advance (scheduler, hedges), the router and the
//    budgeter, under several strategies and seeds.
// Prints tables and writes bench/results/operator.json.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Task } from '../extension/core/runs/model';
import { seededRng } from '../extension/core/runs/router-learn';
import { schedulePass, type ScheduleCaps } from '../extension/core/runs/schedule';
import { FLEET, simulate, WORLD, type FleetMetrics, type Strategy } from './sim/fleet';

const TASKS = 1000;
const LANES = 20;
const RUNS = 50;
const SEED = 13;
const TARGET_MS = 20;

function scopeOf(lane: number, pick: number, i: number): string[] {
  // Whole lanes, sub-folders, single files and cross-cutting globs: many pairs overlap.
  if (pick < 0.15) return [`svc${lane}/**`];
  if (pick < 0.6) return [`svc${lane}/mod${i % 7}/**`, `svc${lane}/test/mod${i % 7}*.test.ts`];
  if (pick < 0.95) return [`svc${lane}/mod${i % 7}/file${i}.ts`];
  return ['**/*.md'];
}

function build(): Task[] {
  const next = seededRng(SEED);
  return Array.from({ length: TASKS }, (_, i): Task => {
    const lane = Math.floor(next() * LANES);
    const depends = i === 0 ? [] : Array.from({ length: Math.floor(next() * 4) }, () => `t${Math.floor(next() * i)}`);
    const progress = next();
    const status = progress < 0.3 ? 'completed' : progress < 0.33 ? 'running' : progress < 0.35 ? 'failed' : 'pending';
    return {
      id: `t${i}`,
      type: i % 5 === 0 ? 'test' : 'code',
      spec: { prompt: `task ${i}`, variables: {}, write_scope: scopeOf(lane, next(), i), test_commands: ['npm test'], auto_commit: true },
      depends_on: [...new Set(depends)],
      lane: `lane${lane}`,
      worker_class: ['premium', 'code-tuned', 'fast'][i % 3] ?? 'fast',
      attempts: status === 'pending' ? 0 : 1,
      status,
      ...(status === 'running' ? { started_at: Math.floor(next() * 100_000) } : {}),
    };
  });
}

const tasks = build();
const caps: ScheduleCaps = {
  max_agents: 64,
  per_lane: Object.fromEntries(Array.from({ length: LANES }, (_, l) => [`lane${l}`, 4])),
  per_class: { premium: 20, 'code-tuned': 30, fast: 40 },
  hedge_after_ms: 60_000,
  hedge_classes: ['premium', 'code-tuned', 'fast'],
};
const now = 120_000;
// Warm up the JIT, then measure.
let started = 0;
for (let i = 0; i < 10; i++) started = schedulePass(tasks, caps, now).start.length;
const times: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const start = performance.now();
  schedulePass(tasks, caps, now + i);
  times.push(performance.now() - start);
}
times.sort((a, b) => a - b);
const quantile = (q: number): number => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? Number.NaN;
const median = Number(quantile(0.5).toFixed(2));
const p95 = Number(quantile(0.95).toFixed(2));
console.log('| benchmark | tasks | lanes | running | started | median ms | p95 ms | target ms | within target |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
const running = tasks.filter((task) => task.status === 'running').length;
console.log(
  `| schedulePass() | ${TASKS} | ${LANES} | ${running} | ${started} | ${median} | ${p95} | ${TARGET_MS} | ${median <= TARGET_MS ? 'yes' : 'NO'} |`,
);
const fleet = fleetReport();
const file = join(__dirname, 'results', 'operator.json');
mkdirSync(join(__dirname, 'results'), { recursive: true });
const previous: unknown = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
const kept = typeof previous === 'object' && previous !== null ? previous : {};
const result = {
  ...kept,
  ...fleet.headline,
  schedule_pass_ms_1000_tasks: median,
  schedule_pass: {
    tasks: TASKS,
    lanes: LANES,
    running,
    seed: SEED,
    runs: RUNS,
    median_ms: median,
    p95_ms: p95,
    target_ms: TARGET_MS,
    node: process.version,
  },
  fleet: fleet.detail,
};
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);

// ---------------------------------------------------------------------------------------------------------
// The simulated fleet: strategies compared on the same tickets and draws, seed by seed.

function fleetReport(): { headline: Record<string, number>; detail: Record<string, unknown> } {
  const SEEDS = [1, 2, 3, 4, 5];
  const perLane = Object.fromEntries(WORLD.lanes.map((lane) => [lane, 3]));
  const fixed = { default: 'premium' };
  // A retried ticket (its repair failed and a person re-queued it) goes to the strong classes; the rest is
  // learned, with the default quality floor (runs.router.min_success 0.8).
  const learned = { default: 'premium', learn: true, rules: [{ when: 'task.attempts > 0', use: 'premium', fallback: ['code'] }] };
  const parallel = { max_agents: 6, per_lane: perLane, hedge_after_min: 30 };
  // Sensitivity: a heavier straggler tail (a hung tool or a looping agent: 10% of attempts at 8×).
  const heavy = { probability: 0.1, factor: 8 };
  const strategies: Strategy[] = [
    { name: 'baseline', max_agents: 1, hedge: false, hedge_after_min: 30, router: fixed },
    { name: 'fixed', ...parallel, hedge: true, router: fixed },
    { name: 'fixed-unhedged', ...parallel, hedge: false, router: fixed },
    { name: 'operator', ...parallel, hedge: true, router: learned },
    { name: 'operator-unhedged', ...parallel, hedge: false, router: learned },
    // Sensitivity, not headlines: the learned choice without the floor (pure USD per success), a stricter
    // floor, and the learned choice limited to premium, code and fast.
    { name: 'operator-min-success-0', ...parallel, hedge: true, router: { ...learned, min_success: 0 } },
    { name: 'operator-min-success-0.9', ...parallel, hedge: true, router: { ...learned, min_success: 0.9 } },
    {
      name: 'operator-without-local',
      ...parallel,
      hedge: true,
      router: { ...learned, rules: [...learned.rules, { when: 'true', use: 'premium', fallback: ['code', 'fast'] }] },
    },
    // Hedging: one agent kept for hedges (the product's scheduler does not do this), and heavier stragglers.
    { name: 'operator-hedge-reserve', ...parallel, hedge: true, hedge_reserve: 1, router: learned },
    { name: 'fixed-hedge-reserve', ...parallel, hedge: true, hedge_reserve: 1, router: fixed },
    { name: 'fixed-heavy-stragglers-unhedged', ...parallel, hedge: false, stragglers: heavy, router: fixed },
    { name: 'fixed-heavy-stragglers', ...parallel, hedge: true, stragglers: heavy, router: fixed },
    { name: 'fixed-heavy-stragglers-reserve', ...parallel, hedge: true, hedge_reserve: 1, stragglers: heavy, router: fixed },
  ];
  const started = performance.now();
  const runs = SEEDS.map((seed) => Object.fromEntries(strategies.map((strategy) => [strategy.name, simulate(seed, strategy)])));
  const elapsed = (performance.now() - started) / 1000;
  const get = (run: Record<string, FleetMetrics>, name: string): FleetMetrics => {
    const found = run[name];
    if (!found) throw new Error(`no run of ${name}`);
    return found;
  };
  const mean = (values: readonly number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;
  const r = (value: number, digits = 3): number => Number(value.toFixed(digits));
  const perSeed = runs.map((run, index) => {
    const [baseline, fixedRun, operator, unhedged] = ['baseline', 'fixed', 'operator', 'operator-unhedged'].map((name) => get(run, name));
    if (!baseline || !fixedRun || !operator || !unhedged) throw new Error('a strategy is missing');
    return {
      seed: SEEDS[index] ?? 0,
      throughput_ratio_vs_baseline: r(operator.tickets_per_hour / baseline.tickets_per_hour),
      change_failure_rate: operator.change_failure_rate,
      baseline_change_failure_rate: baseline.change_failure_rate,
      cost_reduction_learned_vs_fixed: r(1 - operator.usd_per_merged_ticket / fixedRun.usd_per_merged_ticket),
      p95_lead_time_hedged_min: operator.p95_lead_time_min,
      p95_lead_time_unhedged_min: unhedged.p95_lead_time_min,
    };
  });
  const keys = [
    'throughput_ratio_vs_baseline',
    'change_failure_rate',
    'baseline_change_failure_rate',
    'cost_reduction_learned_vs_fixed',
    'p95_lead_time_hedged_min',
    'p95_lead_time_unhedged_min',
  ] as const;
  const headline = Object.fromEntries(keys.map((key) => [key, r(mean(perSeed.map((seed) => seed[key])), 4)])) as Record<
    (typeof keys)[number],
    number
  >;
  const means = Object.fromEntries(
    strategies.map((strategy) => {
      const list = runs.map((run) => get(run, strategy.name));
      const numeric = Object.keys(list[0] ?? {}).filter(
        (key) => typeof (list[0] as unknown as Record<string, unknown>)[key] === 'number' && key !== 'seed',
      );
      return [
        strategy.name,
        Object.fromEntries(numeric.map((key) => [key, r(mean(list.map((m) => (m as unknown as Record<string, number>)[key] ?? 0)))])),
      ];
    }),
  );
  const meanOf = (name: string, key: keyof FleetMetrics): number => {
    const value = means[name]?.[key];
    if (typeof value !== 'number') throw new Error(`no mean ${key} of ${name}`);
    return value;
  };
  // Whether hedging matters: p95 lead time without hedges, with the product's hedging (start ready work
  // first, hedge with what is left) and with one agent kept for hedges; on the sim's stragglers and heavier ones.
  const hedging = Object.fromEntries(
    (
      [
        ['fixed', 'fixed-unhedged', 'fixed', 'fixed-hedge-reserve'],
        ['operator', 'operator-unhedged', 'operator', 'operator-hedge-reserve'],
        ['fixed-heavy-stragglers', 'fixed-heavy-stragglers-unhedged', 'fixed-heavy-stragglers', 'fixed-heavy-stragglers-reserve'],
      ] as const
    ).map(([label, unhedged, hedged, reserve]) => [
      label,
      {
        p95_lead_time_unhedged_min: meanOf(unhedged, 'p95_lead_time_min'),
        p95_lead_time_hedged_min: meanOf(hedged, 'p95_lead_time_min'),
        p95_lead_time_hedge_reserve_min: meanOf(reserve, 'p95_lead_time_min'),
        hedges: meanOf(hedged, 'hedges'),
        hedges_with_reserve: meanOf(reserve, 'hedges'),
        hedges_won_with_reserve: meanOf(reserve, 'hedges_won'),
        tickets_per_hour_hedged: meanOf(hedged, 'tickets_per_hour'),
        tickets_per_hour_with_reserve: meanOf(reserve, 'tickets_per_hour'),
      },
    ]),
  );
  const targets = {
    throughput_ratio_vs_baseline: { target: '>= 3', met: headline.throughput_ratio_vs_baseline >= 3 },
    change_failure_rate: {
      target: '<= baseline_change_failure_rate',
      met: headline.change_failure_rate <= headline.baseline_change_failure_rate,
    },
    cost_reduction_learned_vs_fixed: { target: '>= 0.30', met: headline.cost_reduction_learned_vs_fixed >= 0.3 },
  };
  console.log(
    `\nSimulated fleet: ${WORLD.tickets} tickets, ${SEEDS.length} seeds, ${strategies.length} strategies, ${elapsed.toFixed(1)} s\n`,
  );
  console.log(
    '| strategy | tickets/h | hours | USD per merged ticket | change failure rate | p50 lead min | p95 lead min | escalations | hedges (won) | class mix |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const strategy of strategies) {
    const m = means[strategy.name] ?? {};
    const mix: Record<string, number> = {};
    for (const run of runs)
      for (const [name, count] of Object.entries(get(run, strategy.name).class_mix)) mix[name] = (mix[name] ?? 0) + count;
    const total = Object.values(mix).reduce((sum, count) => sum + count, 0);
    const mixText = Object.entries(mix)
      .map(([name, count]) => `${name} ${Math.round((100 * count) / total)}%`)
      .join(', ');
    console.log(
      `| ${strategy.name} | ${m.tickets_per_hour} | ${m.hours} | ${m.usd_per_merged_ticket} | ${m.change_failure_rate} | ${m.p50_lead_time_min} | ${m.p95_lead_time_min} | ${m.escalations} | ${m.hedges} (${m.hedges_won}) | ${mixText} |`,
    );
  }
  console.log('\n| measure | value | target | met |');
  console.log('| --- | --- | --- | --- |');
  for (const key of keys) {
    const target = (targets as Record<string, { target: string; met: boolean } | undefined>)[key];
    console.log(`| ${key} | ${headline[key]} | ${target?.target ?? '(reported)'} | ${target ? (target.met ? 'yes' : 'NO') : ''} |`);
  }
  console.log(
    '\n| hedging | p95 lead unhedged | p95 lead hedged | p95 lead, 1 agent kept for hedges | hedges (kept agent) | tickets/h hedged (kept agent) |',
  );
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const [label, h] of Object.entries(hedging))
    console.log(
      `| ${label} | ${h.p95_lead_time_unhedged_min} | ${h.p95_lead_time_hedged_min} | ${h.p95_lead_time_hedge_reserve_min} | ${h.hedges} (${h.hedges_with_reserve}) | ${h.tickets_per_hour_hedged} (${h.tickets_per_hour_with_reserve}) |`,
    );
  return {
    headline,
    detail: {
      seeds: SEEDS,
      seconds: r(elapsed, 1),
      how: 'means over seeds of per-seed values; operator = operator strategy (6 agents, learned router with min_success 0.8, hedging); baseline = 1 agent, always premium, no hedging; cost compares operator with fixed (6 agents, always premium, hedging); lead time = a ticket’s first dispatch to its merge; every strategy is scheduled by the run engine’s advance (a result in its lane’s queue frees its agent), the sim’s world does the work, promotion, merging, repairs and escalations',
      targets,
      hedging,
      parameters: { classes: FLEET, world: WORLD },
      strategies,
      per_seed: perSeed,
      means,
      runs,
    },
  };
}

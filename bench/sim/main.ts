// `npm run bench:sim`: lanes against stop-the-world, continue-everywhere and a
// single queue, on identical random draws. Prints a table, writes
// bench/results/sim.json and bench/results/sim.svg.
//   --seeds N      seeds at the defaults (default 5)
//   --sweep-seeds  seeds per point of the p sweep (default 2)
//   --days N       simulated days (default 14)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULTS, STRATEGIES, runStrategy, type SimParams, type StrategyMetrics, type StrategyName } from './engine';
import { chart } from './chart';

const { values } = parseArgs({
  options: { seeds: { type: 'string' }, 'sweep-seeds': { type: 'string' }, days: { type: 'string' }, out: { type: 'string' } },
});
const seeds = Number(values.seeds ?? 5);
const sweepSeeds = Number(values['sweep-seeds'] ?? 2);
const base: SimParams = { ...DEFAULTS, days: Number(values.days ?? DEFAULTS.days) };
const out = values.out ?? join(__dirname, '..', 'results');
const SWEEP = [0.01, 0.03, 0.05, 0.1, 0.15, 0.2, 0.3];
const FIELDS = [
  'merges_per_hour',
  'p50_minutes',
  'p95_minutes',
  'target_green_share',
  'all_green_share',
  'merges_on_red',
  'merges_on_any_red',
  'mttr_minutes',
] as const;
type Field = (typeof FIELDS)[number];

interface Summary {
  mean: Record<Field, number>;
  min: Record<Field, number>;
  max: Record<Field, number>;
}

function summarize(runs: StrategyMetrics[]): Summary {
  const pick = (f: (values: number[]) => number) =>
    Object.fromEntries(FIELDS.map((field) => [field, round(f(runs.map((r) => r[field])))])) as Record<Field, number>;
  return { mean: pick((v) => v.reduce((a, b) => a + b, 0) / v.length), min: pick((v) => Math.min(...v)), max: pick((v) => Math.max(...v)) };
}

function round(n: number): number {
  return Number(n.toFixed(3));
}

function runAll(params: SimParams, seedList: number[], label: string): Record<StrategyName, StrategyMetrics[]> {
  const results = Object.fromEntries(STRATEGIES.map((s) => [s, [] as StrategyMetrics[]])) as Record<StrategyName, StrategyMetrics[]>;
  for (const seed of seedList) {
    for (const strategy of STRATEGIES) {
      const started = Date.now();
      results[strategy].push(runStrategy(strategy, { ...params, seed }));
      process.stderr.write(`  ${label} seed ${seed} ${strategy}: ${Date.now() - started} ms\n`);
    }
  }
  return results;
}

const seedList = Array.from({ length: seeds }, (_, i) => i + 1);
process.stderr.write(`simulating ${base.days} days, L=${base.lanes}, D=${base.ciMinutes}m, p=${base.breakProbability}, ${seeds} seed(s)\n`);
const defaults = runAll(base, seedList, 'defaults');
const incidentFree = seedList.map((seed) => runStrategy('build-master', { ...base, seed, breakProbability: 0, flakyRate: 0 }));
const ratios = defaults['build-master'].map((run, i) => run.healthy_during_incident_per_lane_hour / (incidentFree[i]?.per_lane_hour ?? 1));
const healthyLaneRatio = round(ratios.reduce((a, b) => a + b, 0) / ratios.length);
// One CI check for every lane: with its failing tests named (JUnit, annotations, the runner's output), and without.
const shared = runAll({ ...base, sharedCheck: true, testLevel: true }, seedList, 'shared check, failing tests named');
const opaque = runAll(
  { ...base, sharedCheck: true, testLevel: false },
  seedList.slice(0, Math.max(1, Math.min(seeds, 3))),
  'shared check, pass/fail only',
);
const sweep = SWEEP.map((p) => {
  const results = runAll(
    { ...base, breakProbability: p },
    Array.from({ length: sweepSeeds }, (_, i) => i + 1),
    `p=${p}`,
  );
  return {
    p,
    strategies: Object.fromEntries(STRATEGIES.map((s) => [s, summarize(results[s]).mean])) as Record<StrategyName, Record<Field, number>>,
  };
});

const bound = round((base.lanes * 60) / base.ciMinutes);
const summaries = Object.fromEntries(STRATEGIES.map((s) => [s, summarize(defaults[s])])) as Record<StrategyName, Summary>;
const sharedSummaries = Object.fromEntries(STRATEGIES.map((s) => [s, summarize(shared[s])])) as Record<StrategyName, Summary>;
const opaqueSummaries = Object.fromEntries(STRATEGIES.map((s) => [s, summarize(opaque[s]).mean])) as Record<
  StrategyName,
  Record<Field, number>
>;

const table = (title: string, rows: [string, Record<Field, number>, Summary | undefined][]) => {
  console.log(`\n${title}\n`);
  console.log(
    '| strategy | merges/h | p50 min | p95 min | green share (per lane) | all green | merges on red | merges on any red | MTTR min |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const [name, m, spread] of rows) {
    const cell = (f: Field, digits: number) =>
      `${m[f].toFixed(digits)}${spread ? ` (${spread.min[f].toFixed(digits)}–${spread.max[f].toFixed(digits)})` : ''}`;
    console.log(
      `| ${name} | ${cell('merges_per_hour', 2)} | ${cell('p50_minutes', 0)} | ${cell('p95_minutes', 0)} | ${cell('target_green_share', 3)} | ${cell('all_green_share', 3)} | ${cell('merges_on_red', 0)} | ${cell('merges_on_any_red', 0)} | ${cell('mttr_minutes', 0)} |`,
    );
  }
};

table(
  `Defaults (L=${base.lanes}, D=${base.ciMinutes} min, p=${base.breakProbability}, ${base.days} days, mean over ${seeds} seeds, min–max in brackets)`,
  [...STRATEGIES.map((s): [string, Record<Field, number>, Summary] => [s, summaries[s].mean, summaries[s]])],
);
console.log(`| bound: ${base.lanes} serialized lanes | ${bound.toFixed(2)} | | | | | | | |`);
console.log(
  `\nhealthy-lane ratio (build-master, healthy lanes during incidents vs the same lanes incident-free): ${healthyLaneRatio} (per seed: ${ratios.map((r) => r.toFixed(3)).join(', ')})`,
);
const bm = summaries['build-master'].mean;
const stw = summaries['stop-the-world'].mean;
const ce = summaries['continue-everywhere'].mean;
console.log(
  `build-master / stop-the-world throughput: ${(bm.merges_per_hour / stw.merges_per_hour).toFixed(2)}x; green share ${bm.target_green_share} vs continue-everywhere ${ce.target_green_share}; merges on red ${bm.merges_on_red}`,
);
table(
  `Variant: every lane shares one check whose failures name the failing tests (mean over ${seeds} seeds, min–max in brackets)`,
  STRATEGIES.map((s): [string, Record<Field, number>, Summary] => [s, sharedSummaries[s].mean, sharedSummaries[s]]),
);
const sbm = sharedSummaries['build-master'].mean;
const sstw = sharedSummaries['stop-the-world'].mean;
const sharedVsPerLane = {
  target_green_share: round(sbm.target_green_share / bm.target_green_share),
  all_green_share: round(sbm.all_green_share / bm.all_green_share),
  merges_per_hour: round(sbm.merges_per_hour / bm.merges_per_hour),
  throughput_vs_stop_the_world: {
    per_lane: round(bm.merges_per_hour / stw.merges_per_hour),
    shared: round(sbm.merges_per_hour / sstw.merges_per_hour),
  },
};
console.log(
  `\nshared check vs per-lane checks (build-master): green share ${sharedVsPerLane.target_green_share}x, all-green ${sharedVsPerLane.all_green_share}x, merges/h ${sharedVsPerLane.merges_per_hour}x; ` +
    `build-master / stop-the-world throughput ${sharedVsPerLane.throughput_vs_stop_the_world.shared}x shared vs ${sharedVsPerLane.throughput_vs_stop_the_world.per_lane}x per lane; merges on red ${sbm.merges_on_red}`,
);
table(
  'Variant: every lane shares one check that says only pass or fail (no failing tests named)',
  STRATEGIES.map((s): [string, Record<Field, number>, undefined] => [s, opaqueSummaries[s], undefined]),
);
console.log('\nSweep over p (merges/h, p95 min)\n');
console.log(`| p | ${STRATEGIES.join(' | ')} |`);
console.log(`| --- |${STRATEGIES.map(() => ' --- |').join('')}`);
for (const point of sweep) {
  console.log(
    `| ${point.p} | ${STRATEGIES.map((s) => `${point.strategies[s].merges_per_hour.toFixed(2)}, ${point.strategies[s].p95_minutes.toFixed(0)}`).join(' | ')} |`,
  );
}

const json = {
  params: { ...base, seeds: seedList, sweep_seeds: sweepSeeds },
  bound_merges_per_hour: bound,
  healthy_lane_ratio: healthyLaneRatio,
  strategies: Object.fromEntries(
    STRATEGIES.map((s) => [s, { ...summaries[s].mean, spread: { min: summaries[s].min, max: summaries[s].max } }]),
  ),
  shared_check: Object.fromEntries(
    STRATEGIES.map((s) => [s, { ...sharedSummaries[s].mean, spread: { min: sharedSummaries[s].min, max: sharedSummaries[s].max } }]),
  ),
  shared_vs_per_lane: sharedVsPerLane,
  shared_check_pass_fail_only: opaqueSummaries,
  sweep,
};
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'sim.json'), `${JSON.stringify(json, null, 2)}\n`);
writeFileSync(join(out, 'sim.svg'), chart(sweep, bound));
console.log(`\nwrote ${join(out, 'sim.json')} and ${join(out, 'sim.svg')}`);

// Operator micro-benchmark: the median time of one scheduling pass over 1,000 tasks (a random DAG from a
// fixed seed, 20 lanes, overlapping write scopes, a run part-way through). Target (issue 13): ≤ 20 ms.
// Prints a table and writes `schedule_pass_ms_1000_tasks` into bench/results/operator.json, keeping the
// file's other keys (the simulated fleet writes its own there).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Task } from '../extension/core/runs/model';
import { schedulePass, type ScheduleCaps } from '../extension/core/runs/schedule';

const TASKS = 1000;
const LANES = 20;
const RUNS = 50;
const SEED = 13;
const TARGET_MS = 20;

/** mulberry32: a small seeded generator, so every machine schedules the same run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function scopeOf(lane: number, pick: number, i: number): string[] {
  // Whole lanes, sub-folders, single files and cross-cutting globs: many pairs overlap.
  if (pick < 0.15) return [`svc${lane}/**`];
  if (pick < 0.6) return [`svc${lane}/mod${i % 7}/**`, `svc${lane}/test/mod${i % 7}*.test.ts`];
  if (pick < 0.95) return [`svc${lane}/mod${i % 7}/file${i}.ts`];
  return ['**/*.md'];
}

function build(): Task[] {
  const next = random(SEED);
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
const file = join(__dirname, 'results', 'operator.json');
mkdirSync(join(__dirname, 'results'), { recursive: true });
const previous: unknown = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
const kept = typeof previous === 'object' && previous !== null ? previous : {};
const result = {
  ...kept,
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
};
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);

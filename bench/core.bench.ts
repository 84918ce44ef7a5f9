// Core micro-benchmark: the median time of decide() over 1,000 open changes in 20 lanes.
// Target (issue 2): ≤ 20 ms. Prints a table and writes bench/results/core.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { decide, initialState } from '../extension/core/decide';
import { parsePolicy } from '../extension/core/policy/parse';
import type { Change, Snapshot, TargetCommit } from '../extension/core/model';

const LANES = 20;
const CHANGES = 1000;
const RUNS = 60;

function build(): { snapshot: Snapshot; policyText: string } {
  const lanes = Array.from({ length: LANES }, (_, i) => `  - name: lane${i}\n    paths: ["svc${i}/**"]\n    checks: ["test-${i}"]`).join(
    '\n',
  );
  const policyText = `lanes:\n${lanes}\nautonomy:\n  merge: A4\ndispatch:\n  worker: command\n  command: ./fix.sh\n`;
  const changes: Change[] = Array.from({ length: CHANGES }, (_, i) => {
    const lane = i % LANES;
    return {
      id: `c${i}`,
      title: `change ${i}`,
      branch: `agent/c${i}`,
      base: 'main',
      headSha: `h${i}`,
      files: [`svc${lane}/src/file${i}.ts`, `svc${lane}/test/file${i}.test.ts`],
      labels: i % 17 === 0 ? ['priority'] : [],
      draft: i % 23 === 0,
      reviews: [],
      checks: [
        { name: `test-${lane}`, conclusion: i % 11 === 0 ? 'failure' : i % 7 === 0 ? 'pending' : 'success' },
        { name: 'lint', conclusion: 'success' },
      ],
      mergeable: i % 29 === 0 ? 'conflicting' : 'mergeable',
      readySince: i,
    };
  });
  const targetCommits: TargetCommit[] = Array.from({ length: 50 }, (_, i) => ({
    sha: `t${String(i).padStart(39, '0')}`,
    time: i,
    checks: Array.from({ length: LANES }, (_, l) => ({
      name: `test-${l}`,
      conclusion: i === 49 && l === 3 ? 'failure' : ('success' as const),
    })),
    change: { id: `m${i}`, files: [`svc${i % LANES}/x.ts`] },
  }));
  return { snapshot: { forge: 'local', target: 'main', changes, targetCommits, builds: [], workers: ['command'] }, policyText };
}

const { snapshot, policyText } = build();
const parsed = parsePolicy(policyText);
if (!parsed.ok) throw new Error('bench policy invalid');
const policy = parsed.policy;
const state = initialState(policy, 0);
// Warm up the JIT, then measure.
for (let i = 0; i < 10; i++) decide(snapshot, state, policy, 1000 + i);
const times: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const start = performance.now();
  decide(snapshot, state, policy, 2000 + i);
  times.push(performance.now() - start);
}
times.sort((a, b) => a - b);
const quantile = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] as number;
const result = {
  benchmark: 'decide',
  changes: CHANGES,
  lanes: LANES,
  runs: RUNS,
  median_ms: Number(quantile(0.5).toFixed(2)),
  p95_ms: Number(quantile(0.95).toFixed(2)),
  min_ms: Number((times[0] as number).toFixed(2)),
  target_ms: 20,
  node: process.version,
};
console.log('| benchmark | changes | lanes | median ms | p95 ms | target ms | within target |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
console.log(
  `| decide() | ${CHANGES} | ${LANES} | ${result.median_ms} | ${result.p95_ms} | ${result.target_ms} | ${result.median_ms <= result.target_ms ? 'yes' : 'NO'} |`,
);
mkdirSync(join(__dirname, 'results'), { recursive: true });
writeFileSync(join(__dirname, 'results', 'core.json'), `${JSON.stringify(result, null, 2)}\n`);

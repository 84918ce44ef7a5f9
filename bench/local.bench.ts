// Local mode: one sync over a repository with 50 candidate branches in 3 lanes,
// checks that do nothing. Reports the time per phase, and the total excluding
// the time inside check commands. Writes bench/results/local.json.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { decide, initialState } from '../extension/core/decide';
import { lockSession, openSession } from '../extension/controller/session';
import { runCycle } from '../extension/controller/cycle';
import { LocalForge } from '../extension/forge/local/forge';

const BRANCHES = 50;
const LANES = ['web', 'api', 'docs'];

function git(dir: string, ...args: string[]): string {
  const env = { ...process.env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@l', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@l' };
  return execFileSync('git', args, { cwd: dir, env, encoding: 'utf8' });
}

function write(dir: string, path: string, text: string) {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), text);
}

function repository(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bm-bench-local-'));
  git(dir, 'init', '-q', '-b', 'main');
  write(
    dir,
    '.buildmaster.yml',
    `lanes:\n${LANES.map((l) => `  - name: ${l}\n    paths: ["${l}/**"]\n    checks: ["test-${l}"]`).join('\n')}\nautonomy:\n  merge: A4\nlocal:\n  branches: ["agent/*"]\n  checks:\n${LANES.map((l) => `    - name: test-${l}\n      run: "true"`).join('\n')}\n`,
  );
  for (const lane of LANES) for (let i = 0; i < 20; i++) write(dir, `${lane}/src/file${i}.ts`, `export const v${i} = ${i};\n`);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'initial');
  for (let i = 0; i < BRANCHES; i++) {
    const lane = LANES[i % LANES.length] as string;
    git(dir, 'checkout', '-q', '-b', `agent/change-${i}`, 'main');
    write(dir, `${lane}/src/change${i}.ts`, `export const change = ${i};\n`);
    git(dir, 'add', '-A');
    git(dir, 'commit', '-qm', `change ${i}`);
  }
  git(dir, 'checkout', '-q', 'main');
  return dir;
}

async function measure(dir: string, label: string) {
  const session = await openSession(dir);
  const forge = session.forge;
  if (!(forge instanceof LocalForge)) throw new Error('the local benchmark needs the local forge');
  const lock = await lockSession(session, 'bench', () => undefined);
  try {
    // Time the observe phase from inside the one sync, and split out check time.
    let observeMs = 0;
    let observeChecks = { checkRuns: 0, checkMs: 0, worktreeMs: 0 };
    let candidates = 0;
    const observe = forge.observe.bind(forge);
    forge.observe = async (...args) => {
      const before = { ...forge.stats };
      const started = performance.now();
      const snapshot = await observe(...args);
      observeMs = performance.now() - started;
      observeChecks = {
        checkRuns: forge.stats.checkRuns - before.checkRuns,
        checkMs: forge.stats.checkMs - before.checkMs,
        worktreeMs: forge.stats.worktreeMs - before.worktreeMs,
      };
      candidates = snapshot.changes.length;
      return snapshot;
    };
    const before = { ...forge.stats };
    const t0 = performance.now();
    const report = await runCycle(session.deps);
    const total = performance.now() - t0;
    const checks = forge.stats.checkMs - before.checkMs;
    const worktrees = forge.stats.worktreeMs - before.worktreeMs;
    const d0 = performance.now();
    decide(
      { forge: 'local', target: 'main', changes: report.snapshotChanges, targetCommits: [], builds: [], workers: [] },
      initialState(session.policy, 0),
      session.policy,
      Date.now(),
    );
    const decideMs = performance.now() - d0;
    return {
      label,
      candidates,
      merges: report.actions.filter((a) => a.kind === 'merge' && a.status === 'done').length,
      total_ms: Math.round(total),
      excluding_checks_ms: Math.round(total - checks),
      check_runs: forge.stats.checkRuns - before.checkRuns,
      in_check_commands_ms: checks,
      worktree_setup_ms: worktrees,
      observe_ms: Math.round(observeMs),
      observe_git_ms: Math.round(observeMs - observeChecks.checkMs - observeChecks.worktreeMs),
      observe_check_runs: observeChecks.checkRuns,
      decide_ms: Number(decideMs.toFixed(2)),
      act_ms: Math.round(total - observeMs - decideMs),
    };
  } finally {
    lock.release();
  }
}

async function main() {
  const dir = repository();
  try {
    // Cold: nothing cached (the first sync on a repository). Warm: the same sync again.
    const cold = await measure(dir, 'cold');
    const warm = await measure(dir, 'second (3 merged)');
    const rows = [cold, warm];
    console.log(
      '| sync | candidates | merges | total ms | excl. checks ms | check runs | in check commands ms | check worktrees ms | observe git ms | decide ms | act ms |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const r of rows) {
      console.log(
        `| ${r.label} | ${r.candidates} | ${r.merges} | ${r.total_ms} | ${r.excluding_checks_ms} | ${r.check_runs} | ${r.in_check_commands_ms} | ${r.worktree_setup_ms} | ${r.observe_git_ms} | ${r.decide_ms} | ${r.act_ms} |`,
      );
    }
    mkdirSync(join(__dirname, 'results'), { recursive: true });
    writeFileSync(
      join(__dirname, 'results', 'local.json'),
      `${JSON.stringify({ benchmark: 'local-sync', branches: BRANCHES, lanes: LANES.length, runs: rows }, null, 2)}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();

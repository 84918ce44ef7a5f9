// Large stores for the cockpit's benchmark and screenshots.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { QueueEntry } from '../../extension/core/decide';
import { initialState } from '../../extension/core/decide';
import { parsePolicy } from '../../extension/core/policy/parse';

/**
 * A repository whose store holds one finished cycle with many queued changes:
 * what the cockpit shows for a busy repository, without running git for each.
 */
export function largeRepository(dir: string, size: { lanes: number; changes: number; longNames?: boolean }): void {
  mkdirSync(dir, { recursive: true });
  const git = (...args: string[]) =>
    execFileSync('git', args, {
      cwd: dir,
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'B',
        GIT_AUTHOR_EMAIL: 'b@localhost',
        GIT_COMMITTER_NAME: 'B',
        GIT_COMMITTER_EMAIL: 'b@localhost',
      },
    });
  const lanes = Array.from({ length: size.lanes }, (_, i) => ({
    name:
      size.longNames && i === 0
        ? 'payments-and-billing-reconciliation-service-with-a-very-long-lane-name'
        : `lane-${String(i).padStart(2, '0')}`,
    paths: [`svc${i}/**`],
  }));
  const policyText = stringify({ lanes, local: { branches: ['agent/*'] } });
  writeFileSync(join(dir, '.buildmaster.yml'), policyText);
  git('init', '--quiet', '--initial-branch=main');
  git('add', '-A');
  git('commit', '--quiet', '-m', 'bench');
  const parsed = parsePolicy(policyText);
  if (!parsed.ok) throw new Error('bench policy invalid');
  const now = Date.now();
  const state = initialState(parsed.policy, now);
  const queues: Record<string, QueueEntry[]> = {};
  for (let i = 0; i < size.changes; i++) {
    const lane = lanes[i % size.lanes]?.name as string;
    (queues[lane] ??= []).push({
      change: `agent/change-${String(i).padStart(4, '0')}-${size.longNames ? 'refactor-the-invoice-generation-pipeline-to-stream-line-items-instead-of-buffering' : 'with-a-reasonably-long-branch-name'}`,
      title: `Change number ${i}: a realistic pull request title of some length`,
      lane,
      tier: 'tier2',
      crossLane: false,
      headSha: i.toString(16).padStart(40, '0'),
      reasons:
        i % 20 === 0
          ? []
          : [
              { code: 'awaiting-target-checks', message: `lane ${lane} waits for the target checks of its last merge` },
              { code: 'check-pending', message: 'required check test is pending' },
            ],
      notes: [],
      requiredChecks: ['test'],
      laneRationale: `its files match ${lane}`,
    } as QueueEntry);
  }
  const store = join(dir, '.git', 'buildmaster');
  mkdirSync(store, { recursive: true });
  writeFileSync(
    join(store, 'state.json'),
    JSON.stringify({
      version: 1,
      state: { ...state, cycle: 1 },
      actions: {},
      checks: {},
      builds: [],
      seen: {},
      merged: {},
      facts: {},
      lastCycle: { at: now, cycle: 1, outcome: { kind: 'continue', rationale: 'bench' }, queues, decisions: [] },
    }),
  );
}

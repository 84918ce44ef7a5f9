// Test data builders: terse ways to make policies, changes, target commits and snapshots.
import { strict as assert } from 'node:assert';
import { MERGES_TIER_2, THREE_LANE_LANES } from '../../fixtures/policies';
import { parsePolicy } from '../../extension/core/policy/parse';
import type { Policy } from '../../extension/core/policy/schema';
import type { Change, CheckRun, Snapshot, TargetCommit } from '../../extension/core/model';

export function policyFrom(yaml: string): Policy {
  const result = parsePolicy(yaml);
  if (!result.ok) throw new Error(`test policy invalid: ${result.problems.map((p) => `${p.line}:${p.column} ${p.message}`).join('; ')}`);
  return result.policy;
}

/** Three lanes with their own checks, a shared check, autonomy that merges tier 1-2. */
export const THREE_LANES = `
${THREE_LANE_LANES}${MERGES_TIER_2}incidents:
  global_hold:
    paused_lanes_at_least: 3
dispatch:
  worker: command
  command: ./fix.sh
`;

/** The value, known to be there: a test that finds it missing fails here, naming what it looked for. */
export function present<T>(value: T | null | undefined, what = 'the value'): T {
  if (value === null || value === undefined) throw new assert.AssertionError({ message: `${what} is missing`, actual: value });
  return value;
}

export const green = (name: string): CheckRun => ({ name, conclusion: 'success' });
export const red = (name: string, output = ''): CheckRun => ({ name, conclusion: 'failure', output });
export const pending = (name: string): CheckRun => ({ name, conclusion: 'pending' });

let counter = 0;
export function change(id: string, files: string[], extra: Partial<Change> = {}): Change {
  counter += 1;
  return {
    id,
    title: `change ${id}`,
    branch: `agent/${id}`,
    base: 'main',
    headSha: `${id}-head`,
    files,
    labels: [],
    draft: false,
    reviews: [],
    checks: [],
    mergeable: 'mergeable',
    readySince: 1000 + counter,
    ...extra,
  };
}

export function commit(sha: string, checks: CheckRun[], merged?: TargetCommit['change'], time = 0): TargetCommit {
  return { sha, checks, time, ...(merged ? { change: merged } : {}) };
}

export function snapshot(extra: Partial<Snapshot> = {}): Snapshot {
  return { forge: 'local', target: 'main', changes: [], targetCommits: [], builds: [], workers: ['command'], ...extra };
}

/** A 40-character fake sha from a short name, so ids derived from shas stay readable. */
export function sha(name: string): string {
  return Buffer.from(name).toString('hex').padEnd(40, '0').slice(0, 40);
}

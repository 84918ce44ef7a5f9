// The controller records what a forge reports, once: a merge the forge made,
// and a merge a stopped process made, are each written to the store exactly
// once, by the controller (a forge never writes the store).
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCycle, type CycleDeps } from '../../extension/controller/cycle';
import { mergeKey } from '../../extension/core/keys';
import type { Change, Decision } from '../../extension/core/model';
import type { Policy } from '../../extension/core/policy/schema';
import type { Forge, ForgeMergeResult, Observation } from '../../extension/ports';
import { Store } from '../../extension/store/store';
import { THREE_LANES, change, commit, green, policyFrom, sha } from '../support/builders';

/** A forge with one ready change whose merge succeeds; it records nothing itself and counts its merges. */
class MergingForge implements Forge {
  readonly kind = 'local' as const;
  merges = 0;
  constructor(
    private readonly changes: Change[],
    private readonly earlier?: ForgeMergeResult,
  ) {}

  observe(policy: Policy): Promise<Observation> {
    return Promise.resolve({
      forge: 'local',
      target: policy.target,
      changes: this.changes.map((c) => ({ ...c })),
      targetCommits: [commit(sha('root'), ['test-web', 'test-api', 'test-docs'].map(green))],
      builds: [],
      workers: [],
      authored: {},
      foundMerged: [],
    });
  }
  merge(): Promise<ForgeMergeResult> {
    this.merges += 1;
    return Promise.resolve({ sha: sha(`merged-${this.merges}`) });
  }
  findMerge(): Promise<ForgeMergeResult | undefined> {
    return Promise.resolve(this.earlier);
  }
  openRevert(): Promise<string> {
    return Promise.reject(new Error('no revert in this test'));
  }
  notify(): Promise<void> {
    return Promise.resolve();
  }
  changeDiff(): never {
    throw new Error('not read in this test');
  }
  changeChecks(): never {
    throw new Error('not read in this test');
  }
  fileAt(): never {
    throw new Error('not read in this test');
  }
}

/** Counts every write of a merge record, however it is made (assignment or definition). */
function countMergeWrites(store: Store): { count: number } {
  const writes = { count: 0 };
  store.data.merged = new Proxy(store.data.merged, {
    defineProperty(target, key, descriptor) {
      writes.count += 1;
      return Reflect.defineProperty(target, key, descriptor);
    },
  });
  return writes;
}

describe('controller: records a merge once, through the store', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bm-records-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function depsFor(store: Store, forge: Forge, now = 1_000_000): CycleDeps {
    return {
      policy: policyFrom(THREE_LANES),
      forge,
      workers: {},
      store,
      clock: { now: () => now },
      log: () => undefined,
      prompt: () => Promise.resolve(''),
    };
  }

  it('a merge the forge made this cycle is recorded exactly once, with its head and target commit', async () => {
    const store = await Store.open(dir);
    const writes = countMergeWrites(store);
    const w1 = change('w1', ['web/a.ts'], { checks: [green('test-web')] });
    const forge = new MergingForge([w1]);
    const report = await runCycle(depsFor(store, forge));
    assert.deepEqual(
      report.actions.map((a) => [a.kind, a.status]),
      [['merge', 'done']],
    );
    assert.equal(forge.merges, 1);
    assert.equal(writes.count, 1, 'the merge is written once');
    assert.deepEqual({ ...store.data.merged.w1 }, { head: w1.headSha, sha: sha('merged-1'), at: 1_000_000 });
    const reread = await Store.open(dir);
    assert.equal(reread.data.merged.w1?.sha, sha('merged-1'), 'the record is saved');
  });

  it('a merge a stopped process made is recorded once on recovery, and not made again', async () => {
    const store = await Store.open(dir);
    const w1 = change('w1', ['web/a.ts'], { checks: [green('test-web')] });
    const decision: Decision = { kind: 'merge', rationale: 'merge w1', lane: 'web', change: 'w1', sha: w1.headSha, key: mergeKey(w1) };
    // The previous process began the merge and stopped before it recorded anything.
    await store.beginAction(decision, 1);
    const writes = countMergeWrites(store);
    const forge = new MergingForge([], { sha: sha('before-the-crash') });
    const report = await runCycle(depsFor(store, forge));
    assert.equal(forge.merges, 0, 'nothing merged twice');
    assert.match(report.actions[0]?.message ?? '', /recovered: w1 was merged/);
    assert.equal(writes.count, 1, 'the recovered merge is written once');
    assert.equal(store.data.merged.w1?.sha, sha('before-the-crash'));
    assert.equal(store.action(decision.key as string)?.status, 'done');
  });
});

// One cycle on state kept in a ref: load the state commit into a fresh store
// directory, run, save with compare-and-swap. A run that loses the race (the
// branch moved since it read it) loses nothing: it re-reads the winner's state,
// carries over what it did (its action records, merges, facts, and its events,
// appended after the winner's) and runs the cycle again on that, which is safe
// because cycles are idempotent by decision keys and merges are found by key.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { own, put } from '../core/records';
import { collect, materialise, type StateBackend, type StateCommit } from '../github/state-ref';
import { dict, Store, type LogEvent, type StoreData } from '../store/store';

export interface OnRefOptions {
  backend: StateBackend;
  log: (message: string) => void;
  /** Saves nothing (a dry run): one attempt, no write. */
  readOnly?: boolean;
  /** Attempts before giving up on a branch that keeps moving; default 5. */
  maxAttempts?: number;
  /** The commit message of a state commit. */
  message?: (attempt: number) => string;
  now?: () => number;
  /** Where each attempt's store directory is made (a runner's RUNNER_TEMP); default the system's. */
  tempRoot?: string;
  /** Test hook: called with `before:state-save` and the attempt number. */
  checkpoint?: (point: string, attempt: number) => Promise<void>;
}

export interface OnRefResult<T> {
  value: T;
  /** How many times the cycle ran (1 unless it lost a race). */
  attempts: number;
  /** The state commit the branch now points at (undefined after a dry run on a new branch). */
  commit: string | undefined;
  saved: 'written' | 'unchanged' | 'read-only';
  /** The store as saved. */
  store: Store;
}

/** What a run that lost the race did, carried into the winner's state. */
interface Carry {
  data: StoreData;
  events: Omit<LogEvent, 'seq'>[];
  lostTo: string;
}

export class StateRaceError extends Error {}

export async function onStateRef<T>(options: OnRefOptions, attempt: (store: Store, n: number) => Promise<T>): Promise<OnRefResult<T>> {
  const max = options.readOnly ? 1 : (options.maxAttempts ?? 5);
  const now = options.now ?? Date.now;
  let carry: Carry | undefined;
  for (let n = 1; ; n++) {
    const dir = mkdtempSync(join(options.tempRoot ?? tmpdir(), 'buildmaster-state-'));
    const base = await options.backend.load();
    await materialise(base, dir);
    const store = await Store.open(dir);
    const startSeq = lastSeq(store);
    if (carry) {
      absorb(store, carry, now());
      await store.save();
    }
    let value: T;
    try {
      value = await attempt(store, n);
    } catch (error) {
      if (!options.readOnly) await saveFailed(options, store, dir, base, n, error);
      throw error;
    }
    await store.save();
    if (options.readOnly) return { value, attempts: n, commit: base.commit, saved: 'read-only', store };
    await options.checkpoint?.('before:state-save', n);
    let outcome;
    try {
      outcome = await options.backend.save(base, collect(dir), options.message?.(n) ?? `Build Master state (attempt ${n})`);
    } catch (error) {
      // A refused write (a read-only token, an outage) after the cycle acted: the job log is the last place its record can go.
      for (const event of store.readEvents().filter((e) => e.seq > startSeq)) options.log(`unsaved event: ${JSON.stringify(event)}`);
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    if (outcome.kind !== 'lost') {
      rmSync(dir, { recursive: true, force: true });
      return {
        value,
        attempts: n,
        commit: outcome.kind === 'written' ? outcome.commit : base.commit,
        saved: outcome.kind,
        store,
      };
    }
    carry = {
      data: store.data,
      events: store
        .readEvents()
        .filter((event) => event.seq > startSeq)
        .map(({ seq: _seq, ...event }) => event),
      lostTo: outcome.why,
    };
    rmSync(dir, { recursive: true, force: true });
    if (n >= max) {
      // The job log is the last place this run's record can go: every unsaved event, one JSON line each.
      for (const event of carry.events) options.log(`unsaved event: ${JSON.stringify(event)}`);
      throw new StateRaceError(
        `the state branch ${options.backend.branch} kept moving: ${max} attempts lost the race (${outcome.why}). ` +
          `What this run did on GitHub stands (merges are found again by key by the next run); its ${carry.events.length} event(s) were not saved and are listed above ("unsaved event"). ` +
          'Two runs should not act at once: give the workflow a `concurrency` group',
      );
    }
    options.log(
      `lost the race for ${options.backend.branch}: ${outcome.why}; reading the winner's state and running the cycle again on it (attempt ${n + 1} of ${max})`,
    );
  }
}

/**
 * A cycle that failed part way may have acted first (a merge, then an outage): what it
 * recorded is saved with the failure in the log, once, and the failure goes on to the caller.
 */
async function saveFailed(options: OnRefOptions, store: Store, dir: string, base: StateCommit, n: number, error: unknown): Promise<void> {
  try {
    store.append([
      {
        at: (options.now ?? Date.now)(),
        type: 'error',
        message: `the cycle failed: ${error instanceof Error ? error.message : String(error)}`,
      },
    ]);
    await store.save();
    const outcome = await options.backend.save(
      base,
      collect(dir),
      `${options.message?.(n) ?? `Build Master state (attempt ${n})`} (the cycle failed)`,
    );
    if (outcome.kind === 'lost')
      options.log(`the failed cycle's record was not saved: ${outcome.why}; the next run finds what it did on GitHub`);
  } catch (saving) {
    options.log(`the failed cycle's record was not saved: ${saving instanceof Error ? saving.message : String(saving)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The highest event number a store has handed out. */
function lastSeq(store: Store): number {
  return Math.max(store.data.lastSeq ?? 0, ...store.readEvents().map((event) => event.seq));
}

/**
 * Folds a losing run's records into the winner's store: records that only grow
 * (done actions, merges, facts, issues Build Master created, hygiene memory) are
 * united, the winner's state stands (the cycle that runs next recomputes it
 * from GitHub), and the loser's events follow the winner's, renumbered.
 */
function absorb(store: Store, carry: Carry, at: number): void {
  const mine = store.data;
  const theirs = carry.data;
  for (const [key, record] of Object.entries(theirs.actions)) {
    const kept = own(mine.actions, key);
    if (!kept || (kept.status !== 'done' && record.status === 'done')) put(mine.actions, key, record);
  }
  unite(mine.merged, theirs.merged);
  unite(mine.authored, theirs.authored);
  unite(mine.facts, theirs.facts);
  unite(mine.checks, theirs.checks);
  for (const [change, seen] of Object.entries(theirs.seen)) put(mine.seen, change, Math.min(own(mine.seen, change) ?? seen, seen));
  if (theirs.hygiene) {
    const hygiene = (mine.hygiene ??= dict());
    for (const [key, done] of Object.entries(theirs.hygiene)) put(hygiene, key, Math.max(own(hygiene, key) ?? done, done));
  }
  if (theirs.github) {
    const github = (mine.github ??= { issues: [] });
    github.login ??= theirs.github.login;
    github.issues = [...new Set([...github.issues, ...theirs.github.issues])];
  }
  for (const build of theirs.builds)
    if (!mine.builds.some((b) => b.incident === build.incident && b.attempt === build.attempt)) mine.builds.push(build);
  store.append([
    {
      at,
      type: 'info',
      kind: 'state-race',
      message: `this run lost the race for the state branch (${carry.lostTo}); its ${carry.events.length} earlier event(s) follow the winner's, and its cycle runs again on the winner's state`,
    },
    ...carry.events,
  ]);
}

function unite<T>(into: Record<string, T>, from: Record<string, T>): void {
  for (const [key, value] of Object.entries(from)) if (own(into, key) === undefined) put(into, key, value);
}

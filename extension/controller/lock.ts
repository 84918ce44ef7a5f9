// One controller acts on a repository at a time: the CLI, the editor, two
// terminals. The lock is a file that appears whole (written aside, then linked
// into place, which fails when it exists). A lock whose owner is gone (its pid
// no longer runs, or now belongs to another process: the start time differs)
// is recovered by exactly one contender, and the recovery is reported.
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export interface LockOwner {
  pid: number;
  host: string;
  command: string;
  since: number;
  /** The owner process's start time (Linux: boot id and /proc/<pid>/stat field 22), telling a reused pid apart. */
  start?: string;
  /** Unique per acquisition: names this lock and no other. */
  token?: string;
}

export class LockedError extends Error {
  constructor(readonly owner: LockOwner | undefined) {
    super(
      owner
        ? `locked: another Build Master (pid ${owner.pid}, "${owner.command}", since ${new Date(owner.since).toISOString()}) is acting on this repository; try again when it finishes`
        : 'locked: another Build Master is acting on this repository; try again when it finishes',
    );
  }
}

export interface HeldLock {
  release(): void;
  /** Set when a stale lock from a dead process was recovered. */
  recovered?: string;
}

/** How deep a recovery may itself recover a contender that died while recovering. */
const MAX_DEPTH = 3;

/** Clock ticks since boot when a process started (Linux: /proc/<pid>/stat field 22), or undefined. */
function startTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (the command) may hold spaces and parentheses: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]); // field 22 overall
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

/** The start time of a process, or undefined where it cannot be read (not Linux, or the process is gone). */
export function processStart(pid: number): string | undefined {
  const ticks = startTicks(pid);
  return ticks === undefined ? undefined : `${bootId() ?? ''}:${ticks}`;
}

/** When a process started, in epoch ms (boot time plus its start ticks at Linux's 100 per second), or undefined. */
function startedAt(pid: number): number | undefined {
  const ticks = startTicks(pid);
  if (ticks === undefined) return undefined;
  try {
    const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1];
    return btime ? Number(btime) * 1000 + ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

let cachedBootId: string | undefined | null = null;
function bootId(): string | undefined {
  if (cachedBootId === null) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      cachedBootId = undefined;
    }
  }
  return cachedBootId;
}

type Liveness = { live: true } | { live: false; why: string };

/** Whether the process that wrote `owner` still runs: its pid answers and, where known, started when it did. */
function liveness(owner: LockOwner, host: string): Liveness {
  if (owner.host !== host) return { live: true }; // another machine's process cannot be asked
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return { live: false, why: 'which is no longer running' };
  }
  const reused = { live: false, why: `whose process is gone (pid ${owner.pid} now belongs to another process)` } as const;
  if (owner.start !== undefined) {
    const now = processStart(owner.pid);
    if (now !== undefined && now !== owner.start) return reused;
  } else {
    // A lock written without a start time: a process that started after the lock was taken cannot own it
    // (30 s of room: boot time is read in whole seconds and the wall clock may have been adjusted).
    const started = startedAt(owner.pid);
    if (started !== undefined && started > owner.since + 30_000) return reused;
  }
  return { live: true };
}

interface Seen {
  owner?: LockOwner;
  /** What names this lock file and no other: its token, else its owner and time, else its inode. */
  id: string;
}

function look(path: string): Seen | undefined {
  let text: string;
  let ino: number;
  try {
    ino = statSync(path).ino;
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined; // gone
  }
  try {
    const owner = JSON.parse(text) as LockOwner;
    if (typeof owner.pid !== 'number') throw new Error('not a lock');
    return { owner, id: owner.token ?? `${owner.pid}-${owner.since}` };
  } catch {
    return { id: `ino${ino}` };
  }
}

/** Writes `owner` aside and links it to `path`: the file appears whole, and only when `path` does not exist. */
function create(path: string, owner: LockOwner): boolean {
  const temp = `${path}.tmp-${owner.token}`;
  writeFileSync(temp, JSON.stringify(owner));
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  } finally {
    unlinkSync(temp);
  }
}

/** Replaces `path` with `owner` in one step (rename over it). */
function replace(path: string, owner: LockOwner): void {
  const temp = `${path}.tmp-${owner.token}`;
  writeFileSync(temp, JSON.stringify(owner));
  renameSync(temp, path);
}

type Taken = { taken: true; replaced?: { owner?: LockOwner; why: string } } | { taken: false; holder?: LockOwner };

/**
 * Takes `path` for `owner`. A file left by a dead process is replaced, but
 * only by the contender that first claims `<path>.break-<its id>`: a lock id
 * is never reused, so the one claimant sees the stale file still in place and
 * swaps it; everyone else finds a live owner. A claimant that dies is
 * recovered the same way, one level down.
 */
function take(path: string, owner: LockOwner, host: string, depth: number): Taken {
  for (let attempt = 0; attempt < 5; attempt++) {
    if (create(path, owner)) return { taken: true };
    const seen = look(path);
    if (!seen) continue; // released meanwhile: try again
    const state: Liveness = seen.owner ? liveness(seen.owner, host) : { live: false, why: 'which died while taking it' };
    if (state.live) return seen.owner ? { taken: false, holder: seen.owner } : { taken: false };
    if (depth >= MAX_DEPTH) return seen.owner ? { taken: false, holder: seen.owner } : { taken: false };
    const breaker = `${path}.break-${seen.id}`;
    const claim = take(breaker, owner, host, depth + 1);
    if (!claim.taken) return seen.owner ? { taken: false, holder: seen.owner } : { taken: false }; // another contender is recovering it
    try {
      // Only the holder of the claim may change this stale file; check it is still the one judged stale.
      if (look(path)?.id !== seen.id) continue;
      replace(path, owner);
      return { taken: true, replaced: { ...(seen.owner ? { owner: seen.owner } : {}), why: state.why } };
    } finally {
      if (look(breaker)?.id === owner.token) {
        try {
          unlinkSync(breaker);
        } catch {
          // Already gone.
        }
      }
    }
  }
  return { taken: false };
}

export function acquireLock(dir: string, command: string, now = Date.now()): HeldLock {
  const path = join(dir, 'lock');
  const host = hostname();
  const start = processStart(process.pid);
  const token = `${process.pid}-${now}-${randomBytes(6).toString('hex')}`;
  const owner: LockOwner = { pid: process.pid, host, command, since: now, ...(start ? { start } : {}), token };
  const result = take(path, owner, host, 0);
  if (!result.taken) throw new LockedError(result.holder);
  const release = () => {
    if (look(path)?.id !== token) return; // not ours (any more): nothing to release
    try {
      unlinkSync(path);
    } catch {
      // Already gone: nothing to release.
    }
  };
  if (!result.replaced) return { release };
  const stale = result.replaced.owner;
  const recovered = stale
    ? `recovered a stale lock left by pid ${stale.pid} ("${stale.command}", since ${new Date(stale.since).toISOString()}), ${result.replaced.why}`
    : 'recovered an unreadable lock file left by a process that died while taking it';
  return { release, recovered };
}

// One controller acts on a repository at a time: the CLI, the editor, two
// terminals. The lock is a file created exclusively; a lock left by a process
// that no longer runs is recovered, and the recovery is reported.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export interface LockOwner {
  pid: number;
  host: string;
  command: string;
  since: number;
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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function acquireLock(dir: string, command: string, now = Date.now()): HeldLock {
  const path = join(dir, 'lock');
  const owner: LockOwner = { pid: process.pid, host: hostname(), command, since: now };
  let recovered: string | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, JSON.stringify(owner));
      closeSync(fd);
      const release = () => {
        try {
          const current = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
          if (current.pid === owner.pid && current.since === owner.since) unlinkSync(path);
        } catch {
          // Already gone: nothing to release.
        }
      };
      return recovered ? { release, recovered } : { release };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let holder: LockOwner | undefined;
      try {
        holder = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
      } catch {
        holder = undefined; // a torn lock file: its writer died while writing it
      }
      if (holder && (holder.host !== owner.host || alive(holder.pid))) throw new LockedError(holder);
      recovered = holder
        ? `recovered a stale lock left by pid ${holder.pid} ("${holder.command}", since ${new Date(holder.since).toISOString()}), which is no longer running`
        : 'recovered an unreadable lock file left by a process that died while taking it';
      try {
        unlinkSync(path);
      } catch {
        // Someone else recovered it first; the next attempt decides.
      }
    }
  }
  throw new LockedError(undefined);
}

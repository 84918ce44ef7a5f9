// The refs Build Master itself sets while agents run beside it (a task branch
// promoted, a merge landing on the target). A task worker compares the refs
// before and after its agent ran to catch an agent that moved one; over a run
// of many agents in parallel, Build Master's own moves land inside that window
// too. They are noted here, in this process, so they are told apart from the
// agent's: a ref counts as Build Master's only at the exact sha it set.
let serial = 0;
const noted: { dir: string; name: string; sha: string; serial: number }[] = [];
/** Enough for any run's window; the oldest go first. */
const KEEP = 10_000;

/** A point in the sequence of noted updates: pass it to `ownRefUpdatesSince` later. */
export function ownRefMark(): number {
  return serial;
}

/** Records that Build Master set `name` to `sha` in the repository whose git directory is `commonDir`. */
export function noteOwnRefUpdate(commonDir: string, name: string, sha: string): void {
  serial += 1;
  noted.push({ dir: commonDir, name, sha, serial });
  if (noted.length > KEEP) noted.splice(0, noted.length - KEEP);
}

/** Whether Build Master itself set `name` to `sha` (ZERO: deleted it) since `mark`. */
export function isOwnRefUpdate(commonDir: string, mark: number, name: string, sha: string): boolean {
  return noted.some((entry) => entry.serial > mark && entry.dir === commonDir && entry.name === name && entry.sha === sha);
}

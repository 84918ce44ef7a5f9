// Flaky tests on the target: a failure that passed on a re-run of the same
// commit never opens an incident; one that flakes too often within the window
// is reported for quarantine.
import type { Cycle } from '../decide';
import { flakesOf, markKey } from '../fingerprint';
import { quarantineKey } from '../keys';
import type { FlakeRecord } from '../model';
import { formatDuration } from '../policy/duration';
import { drop, own, put, recordOf } from '../records';

/** Flaky sightings kept per test, and flaky tests kept in the state. */
const FLAKES_SEEN = 50;
const FLAKES_KEPT = 500;

/** Records flaky failures (failed, then passed on the same sha) per test, and reports a test flaky too often for quarantine. */
export function noteFlakes(cycle: Cycle): void {
  const flakes = (cycle.state.flakes ??= recordOf<FlakeRecord>([]));
  recordSightings(cycle, flakes);
  for (const [key, record] of Object.entries(flakes)) reportIfTooFlaky(cycle, flakes, key, record);
  const keys = Object.keys(flakes);
  if (keys.length > FLAKES_KEPT) {
    const byNewest = keys.sort((a, b) => (own(flakes, b)?.seen.at(-1)?.at ?? 0) - (own(flakes, a)?.seen.at(-1)?.at ?? 0));
    for (const key of byNewest.slice(FLAKES_KEPT)) drop(flakes, key);
  }
}

function recordSightings(cycle: Cycle, flakes: Record<string, FlakeRecord>): void {
  for (const commit of cycle.snapshot.targetCommits) {
    for (const run of commit.checks) {
      for (const mark of flakesOf(run)) {
        const key = markKey(mark);
        let record = own(flakes, key);
        if (!record) {
          record = {
            check: mark.check,
            ...(mark.test !== undefined ? { test: mark.test } : {}),
            ...(mark.file ? { file: mark.file } : {}),
            seen: [],
          };
          put(flakes, key, record);
        }
        if (!record.seen.some((seen) => seen.sha === commit.sha)) record.seen.push({ sha: commit.sha, at: commit.time });
      }
    }
  }
}

/** Forgets sightings outside the window; a test seen flaking `quarantine_after` times in it is reported (once per window). */
function reportIfTooFlaky(cycle: Cycle, flakes: Record<string, FlakeRecord>, key: string, record: FlakeRecord): void {
  const { now } = cycle;
  const { quarantine_after: limit, window } = cycle.policy.incidents.flaky;
  record.seen = record.seen.filter((seen) => seen.at >= now - window).slice(-FLAKES_SEEN);
  if (record.seen.length === 0 && (record.reportedAt === undefined || record.reportedAt < now - window)) {
    drop(flakes, key);
    return;
  }
  if (limit === 0 || record.seen.length < limit) return;
  if (record.reportedAt !== undefined && record.reportedAt >= now - window) return;
  const what =
    record.test === undefined
      ? `check ${record.check}`
      : `test ${record.test} of check ${record.check}${record.file ? ` (${record.file})` : ''}`;
  const result = cycle.gated(
    'hygiene',
    'tier1',
    quarantineKey(key, record.seen[0]?.sha ?? ''),
    'report-flaky',
    `${what} failed and then passed on the same commit ${record.seen.length} times within ${formatDuration(window)} (quarantine_after ${limit}): report it for quarantine; it never opens an incident`,
    {},
  );
  if (result === 'act') record.reportedAt = now;
}

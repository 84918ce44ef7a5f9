// Which lane a failure belongs to (SPEC §4.1): its file under a lane's
// `tests` or `paths`, else the lane that lists its check. The marks themselves
// (identities, coverage, presence on the target) are in ./marks.
import picomatch from 'picomatch';
import { laneOfFile } from './classify';
import { describeMark, type Mark } from './marks';
import type { FailureMark, Incident } from './model';
import type { Policy } from './policy/schema';

export * from './marks';

const testMatchers = new WeakMap<Policy, { name: string; match: (path: string) => boolean }[]>();

function laneTests(policy: Policy) {
  let entry = testMatchers.get(policy);
  if (!entry) {
    entry = policy.lanes
      .filter((lane) => lane.tests.length > 0)
      .map((lane) => {
        const matchers = lane.tests.map((pattern) => picomatch(pattern.normalize('NFC'), { dot: true, windows: false, nonegate: true }));
        return { name: lane.name, match: (path: string) => matchers.some((m) => m(path.normalize('NFC'))) };
      });
    testMatchers.set(policy, entry);
  }
  return entry;
}

/**
 * The lane a failure belongs to, and why: its file under a lane's `tests`,
 * then under a lane's `paths`; else the one lane that lists its check. A
 * failure with neither (a shared check, nothing finer known) has no lane: its
 * suspects decide.
 */
export function laneOfMark(policy: Policy, mark: Mark): { lane?: string; why: string } {
  const declaredDefault = policy.lanes.some((lane) => lane.name === policy.default_lane);
  if (mark.file) {
    const byTests = laneTests(policy).find((lane) => lane.match(mark.file as string));
    if (byTests) return { lane: byTests.name, why: `${mark.file} is under lane ${byTests.name}'s tests` };
    const byPath = laneOfFile(policy, mark.file);
    if (byPath !== policy.default_lane || declaredDefault) return { lane: byPath, why: `${mark.file} is under lane ${byPath}'s paths` };
  }
  const owners = policy.lanes.filter((lane) => lane.checks.includes(mark.check));
  const owner = owners.length === 1 ? owners[0] : undefined;
  if (owner) return { lane: owner.name, why: `check ${mark.check} belongs to lane ${owner.name}` };
  if (mark.file)
    return {
      lane: policy.default_lane,
      why: `${mark.file} is under no lane's paths or tests, so it is the default lane ${policy.default_lane}'s`,
    };
  return {
    why: `check ${mark.check} is ${owners.length ? `listed by lanes ${owners.map((l) => l.name).join(', ')}` : 'shared'} and names no failing test`,
  };
}

export function toFailureMark(policy: Policy, mark: Mark): FailureMark {
  const { lane, why } = laneOfMark(policy, mark);
  return {
    check: mark.check,
    ...(mark.test !== undefined ? { test: mark.test } : {}),
    ...(mark.file ? { file: mark.file } : {}),
    ...(mark.line ? { line: mark.line } : {}),
    ...(lane ? { lane } : {}),
    why,
  };
}

/**
 * An incident's failing tests as plain lines for a person or a coding agent
 * (test, file:line, lane and why), at most `limit` of them. Test ids come from
 * the check's output: callers fence or neutralise them like any log text.
 */
export function failureLines(incident: Pick<Incident, 'failures' | 'failingChecks'>, limit = 30): string[] {
  const marks =
    incident.failures ?? incident.failingChecks.map((check): FailureMark => ({ check, why: 'nothing finer than the check is known' }));
  const lines = marks.slice(0, limit).map((mark) => {
    const where = mark.file ? ` at ${mark.file}${mark.line ? `:${mark.line}` : ''}` : '';
    const lane = mark.lane ? `lane ${mark.lane}: ${mark.why}` : mark.why;
    return `${describeMark(mark)}${where} (${lane})`;
  });
  if (marks.length > limit) lines.push(`… and ${marks.length - limit} more`);
  return lines;
}

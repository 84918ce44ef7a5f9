// What a check's failures may cost in the store: a check is untrusted, and a
// report of a hundred thousand failing tests, or a test named with a megabyte,
// must not swell state.json. Truncation is deterministic, so an identity stays
// the same from one run to the next.
import type { FailureReport, TestFailure } from '../core/failures';

/** Failures kept per check run; more makes the list incomplete. */
export const MAX_FAILURES = 500;
const MAX_ID = 500;
const MAX_MESSAGE = 1000;

export function bounded(report: FailureReport): FailureReport {
  const failures = report.failures.slice(0, MAX_FAILURES).map(boundedFailure);
  if (report.failures.length <= MAX_FAILURES) return { ...report, failures };
  const note = `${report.failures.length} failures, the first ${MAX_FAILURES} are kept`;
  return { ...report, failures, complete: false, note: report.note ? `${report.note}; ${note}` : note };
}

export function boundedFailure(failure: TestFailure): TestFailure {
  const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
  return {
    ...failure,
    id: cut(failure.id, MAX_ID),
    ...(failure.file !== undefined ? { file: cut(failure.file, MAX_ID) } : {}),
    ...(failure.message !== undefined ? { message: cut(failure.message, MAX_MESSAGE) } : {}),
  };
}

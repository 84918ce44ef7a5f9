// The interfaces the imperative shell implements around the pure core:
// a forge (where changes live and merge), workers (who write fixes) and a clock.
import type { BuildRecord, Change, CheckRun, ControllerState, Decision, Incident, Snapshot } from './core/model';
import type { ChangeDiff } from './core/diff';
import type { DecideResult } from './core/decide';
import type { Policy } from './core/policy/schema';

export interface ForgeMergeResult {
  /** The new target commit. */
  sha: string;
}

export interface Forge {
  readonly kind: 'local' | 'github';
  /**
   * Reads everything decide() needs. May run checks (local mode) but never changes the target.
   * `readOnly` (explain): run no checks and save nothing; what is not known yet shows as pending.
   */
  observe(policy: Policy, state: ControllerState, builds: BuildRecord[], options?: ObserveOptions): Promise<Snapshot>;
  /** Merges a change guarded by its head sha; throws ForgeRefusal when it must wait. */
  merge(change: Change, decision: Decision, policy: Policy): Promise<ForgeMergeResult>;
  /** Finds an earlier merge by its idempotency key (crash recovery); undefined when it never happened. */
  findMerge(key: string, policy: Policy): Promise<ForgeMergeResult | undefined>;
  /** Opens a change that reverts the culprit merge of an incident. Returns the change id. */
  openRevert(incident: Incident, culpritSha: string, policy: Policy): Promise<string>;
  /** Tells people: an escalation, a page to owners. Local mode writes it to the escalation log. */
  notify(kind: NoticeKind, decision: Decision, incident: Incident | undefined, policy: Policy): Promise<void>;
  /** A change's diff against its merge base with the target (the review panel); InputError for an unknown change. */
  changeDiff(change: string, policy: Policy): Promise<ChangeDiff>;
  /** The latest check results for a change (pre-merge checks in local mode). */
  changeChecks(change: string, policy: Policy): Promise<CheckRun[]>;
  /** A file's text at a commit, for the native diff editor; empty when the file does not exist there. */
  fileAt(sha: string, path: string): Promise<string>;
  /** After acting: housekeeping the forge does (GitHub's hygiene protocol, SPEC §7). */
  tend?(input: { result: DecideResult; snapshot: Snapshot; policy: Policy; now: number }): Promise<TendOutcome[]>;
}

export interface ObserveOptions {
  readOnly?: boolean;
}

/** What a read-only observe shows for a check that has not run: explain says the next sync runs it. */
export const NOT_RUN_YET = 'not run yet: the next sync runs it';

/** One housekeeping action's outcome, logged like any other action. */
export interface TendOutcome {
  key: string;
  status: 'done' | 'failed' | 'skipped';
  message: string;
}

/** A merge or action the forge declines for now, with a reason a person can act on. */
export class ForgeRefusal extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export interface BuildSpec {
  prompt: string;
  template?: string;
  variables: Record<string, string>;
  incident?: string;
  write_scope?: string[];
  auto_commit: boolean;
  timeout: number;
}

export interface BuildResult {
  success: boolean;
  output: string;
  error?: string;
  commit_sha?: string;
  files_changed: string[];
  duration_ms: number;
  artifacts: string[];
  /** The change the build produced (a branch in local mode, a PR or issue on GitHub). */
  change?: string;
  cost?: number;
  /** The worker reached outside what it was given (refs, git config, hooks): the build fails and a person is asked. */
  breach?: string;
  /** Things seen that do not fail the build but a person should know (files changed in the user's checkout meanwhile). */
  warnings?: string[];
}

export interface Worker {
  readonly kind: 'command' | 'github-issue';
  dispatch(spec: BuildSpec, incident: Incident, attempt: number, policy: Policy): Promise<BuildResult>;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Bad input from the user (a missing branch, an unknown change): exit 2, a message, no stack trace. */
export class InputError extends Error {}

/** What a forge tells people: an escalation, a page of the owners, a flaky test to quarantine. */
export type NoticeKind = 'escalate' | 'page-owner' | 'report-flaky';

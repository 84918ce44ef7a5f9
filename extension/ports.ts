// The interfaces the imperative shell implements around the pure core:
// a forge (where changes live and merge), workers (who write fixes), the store
// (what the controller records) and a clock. Forges return facts; only the
// controller records what was seen, authored and merged.
import type { BuildRecord, Change, CheckRun, ControllerState, Decision, Incident, Snapshot } from './core/model';
import type { ChangeDiff } from './core/diff';
import type { HygieneIssue } from './core/hygiene';
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
   * `state` is the controller's recorded state, undefined before its first cycle.
   */
  observe(policy: Policy, state: ControllerState | undefined, builds: BuildRecord[], options?: ObserveOptions): Promise<Observation>;
  /**
   * Merges a change guarded by its head sha; throws ForgeRefusal when it must wait. The lane comes from
   * the decision, and `state` is the controller's state the merge guard judges the checks against.
   * The controller records the merge once this returns.
   */
  merge(change: Change, decision: Decision, policy: Policy, state: ControllerState | undefined): Promise<ForgeMergeResult>;
  /**
   * GitHub only: brings a change's branch up to its base (a merge of the base
   * into it), guarded by its head sha; throws ForgeRefusal when the head moved
   * or the update cannot be made. Local mode has no such state.
   */
  updateBranch?(change: Change, decision: Decision): Promise<void>;
  /** Work after a merge is on record (local mode: the post-merge checks of the new target commit). */
  afterMerge?(merged: ForgeMergeResult, policy: Policy): Promise<void>;
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
  /** The forge's hands for the hygiene protocol (SPEC §7), which the controller plans and runs; absent where there is none. */
  readonly hygiene?: HygieneHands;
}

/** What an observe returns: the snapshot, and facts for the controller to record. */
export interface Observation extends Snapshot {
  /** When each change's head commit (local) or pull request (GitHub) was authored: where lead time starts. */
  authored: Record<string, number>;
  /** Changes found merged on the target with no merge on record (a process stopped between the merge and its record). */
  foundMerged: FoundMerge[];
}

export interface FoundMerge {
  change: string;
  head: string;
  sha: string;
}

/**
 * The hygiene actions a forge performs, one by one (labels, comments, the status
 * digest, closing issues), and what it last read that hygiene plans from.
 */
export interface HygieneHands {
  /** The open issues (Build Master's own marked) and each open change's last update, as the last observe read them; undefined before one. */
  view(): Promise<HygieneView | undefined>;
  label(number: number, label: string): Promise<void>;
  /** Removes a label; one already gone is the goal reached. */
  unlabel(number: number, label: string): Promise<void>;
  /** Posts a comment once per key; false when one with that key was posted before. */
  comment(number: number, key: string, text: string): Promise<boolean>;
  /** The status issue the digest is posted on, created once. */
  statusIssue(policy: Policy): Promise<number>;
  close(number: number): Promise<void>;
  /** A failed hygiene action in words a person can act on. */
  describe(error: unknown, what: string): string;
}

export interface HygieneView {
  issues: (HygieneIssue & { body: string })[];
  /** Epoch ms each open change was last updated, by change id. */
  updated: Record<string, number>;
}

/** A merge on record: the change's head that merged and the target commit it made. */
export interface MergeRecord {
  head: string;
  sha: string;
  at: number;
}

/** GitHub mode: the pull request GitHub says a target commit merged, and whether Build Master merged it. */
export interface CommitOrigin {
  pull?: number;
  branch?: string;
  /** Merged by Build Master's own user: its trailers are Build Master's. */
  trusted: boolean;
}

/** An immutable git fact, cached by key: files and merge trees per (head, target), files and origin per commit. */
export interface CachedFact {
  files?: string[];
  tree?: string;
  conflict?: boolean;
  origin?: CommitOrigin;
  at: number;
}

/**
 * What a forge may keep between cycles: immutable facts and check results, and
 * a read of the merges on record (a forge trusts its own merges by them). It
 * never records a change or a merge: the controller does.
 */
export interface FactCache {
  fact(key: string): CachedFact | undefined;
  setFact(key: string, fact: CachedFact): void;
  checkResult(key: string): CheckRun[] | undefined;
  setCheckResult(key: string, runs: CheckRun[], now: number): void;
  /** The merges on record, by change id. */
  recordedMerges(): Readonly<Record<string, MergeRecord>>;
  /** Writes what was cached (check results are slow to get again). */
  save(): Promise<void>;
}

/** GitHub mode: who Build Master is there and the issues it created (only those carry trusted markers). */
export interface GitHubMemory {
  githubLogin(): string | undefined;
  githubIssues(): readonly number[];
  rememberGitHub(created: { login?: string | undefined; issue?: number }): void;
}

/** The Store port: what the controller records and reads besides its state and the action log. */
export interface StorePort extends FactCache, GitHubMemory {
  /** When each change was first seen: its place in the longest-ready order. */
  firstSeen(): Readonly<Record<string, number>>;
  /** Records when a change was first seen (once); returns that time. */
  recordSeen(change: string, at: number): number;
  recordAuthored(change: string, at: number): void;
  /** The one place a merge is recorded. */
  recordMerge(change: string, merge: MergeRecord): void;
  /** Hygiene actions done, by key with its window: when each was done. */
  hygieneMemory(): Record<string, number>;
}

export interface ObserveOptions {
  readOnly?: boolean;
  /** When each change was first seen, as the controller recorded it: a change not in it is new now. */
  seen?: Readonly<Record<string, number>>;
  /**
   * Only these changed since the last observe (webhook deliveries): the forge
   * re-reads them (and the target and issues when flagged) and carries the
   * rest over from its last full read in this process. Without a last full
   * read it reads everything. Absent: read everything.
   */
  focus?: ObserveFocus;
}

/** What a webhook delivery said changed: change ids (`#12`), the target branch, the issues. */
export interface ObserveFocus {
  changes: string[];
  target: boolean;
  issues: boolean;
}

/** What a read-only observe shows for a check that has not run: explain says the next sync runs it. */
export const NOT_RUN_YET = 'not run yet: the next sync runs it';

/**
 * A merge or action the forge declines for now, with a reason a person can act on.
 * `escalation` says what a person must change when retrying alone never helps
 * (a token's permission, a repository setting): the controller escalates it once
 * per action.
 */
export class ForgeRefusal extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly escalation?: string,
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

// The domain model shared by every part of Build Master. Plain data only:
// snapshots come from a forge, states from the store, decisions go to the shell.

export type RiskTier = 'tier1' | 'tier2' | 'tier3';

export const FAILURE_CLASSES = ['build', 'test', 'lint', 'ci-config', 'flaky', 'dependency', 'security', 'infra', 'unknown'] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];

export const CHECK_CONCLUSIONS = ['success', 'skipped', 'neutral', 'failure', 'error', 'cancelled', 'timed_out', 'pending'] as const;
export type CheckConclusion = (typeof CHECK_CONCLUSIONS)[number];

/** The end of one check's output, bounded (a few lines, each cut to a readable length). */
export interface OutputTail {
  check: string;
  lines: string[];
}

/** One failing test (or diagnostic) of a check, read from JUnit XML, annotations or the runner's output. */
export interface TestFailure {
  /** Stable identity of the failing test or diagnostic, e.g. `web/app.test.js > header renders`. */
  id: string;
  /** Repository-relative path of the file the failure is in, where the runner names it. */
  file?: string;
  line?: number;
  message?: string;
  /** It failed, then passed when the check ran again on the same sha. */
  flaky?: boolean;
}

export interface CheckRun {
  name: string;
  conclusion: CheckConclusion;
  /** Tail of the check's output or annotations, used to classify failures. */
  output?: string;
  /** The same check on the same sha passed on a re-run (a flaky signal). */
  passedOnRerun?: boolean;
  url?: string;
  /**
   * The failing check read down to its failing tests (SPEC §4.1). Absent when
   * nothing finer than the check is known: the check is then one failure.
   */
  failures?: TestFailure[];
  /**
   * False when `failures` may miss some (the output was cut, malformed or not
   * recognised): the check as a whole then counts as failing too.
   */
  failuresComplete?: boolean;
  /** How the failures were read, or why they could not be (shown by explain). */
  failuresNote?: string;
  /**
   * For a pending check the forge knows is not running: why, as the rest of a
   * sentence after the check's name ("has not run: it conflicts with main").
   * Absent, a pending check is taken to be running.
   */
  waiting?: string;
}

export type ReviewState = 'approved' | 'changes_requested' | 'commented' | 'dismissed';

export interface Review {
  reviewer: string;
  state: ReviewState;
  /** Epoch milliseconds; the latest review of each reviewer counts. */
  submittedAt: number;
}

export type Mergeability = 'mergeable' | 'conflicting' | 'unknown';

/**
 * What GitHub says of merging a pull request now (REST `mergeable_state`,
 * GraphQL `mergeStateStatus` lower-cased): `behind` (the base moved and branch
 * protection wants it up to date), `blocked` (branch protection is not
 * satisfied), `unstable` (a non-required check fails), `has_hooks` (mergeable,
 * pre-receive hooks run), `draft`, `dirty` (conflicts), `clean`, `unknown`.
 */
export type MergeState = 'clean' | 'behind' | 'blocked' | 'unstable' | 'has_hooks' | 'draft' | 'dirty' | 'unknown';

/** A merge candidate: a pull request, or a branch in local mode. */
export interface Change {
  id: string;
  title: string;
  branch: string;
  base: string;
  headSha: string;
  files: string[];
  labels: string[];
  draft: boolean;
  reviews: Review[];
  /** Checks reported for `headSha` (pre-merge checks in local mode). */
  checks: CheckRun[];
  mergeable: Mergeability;
  /** The change whose head this change's base is (a stack), if still open. Never a change from another repository (a fork). */
  stackParent?: string;
  /** GitHub only: what GitHub says of merging it now; each state other than clean/unknown is its own gate reason. */
  mergeState?: MergeState;
  /** GitHub only: `owner/name` of the repository its head lives in when that is not the target's (a fork). */
  headRepo?: string;
  /** Epoch ms since the change became a candidate; longest-ready merges first. */
  readySince: number;
  body?: string;
  author?: string;
  /**
   * Merging it would leave the target's tree as it is (an obsolete revert or
   * fix, a change already applied by hand). Set by the forge; such a change is
   * withdrawn, never merged.
   */
  emptyOnTarget?: boolean;
}

/** A commit on the target branch, oldest first in a snapshot. */
export interface TargetCommit {
  sha: string;
  /** The change whose merge produced this commit, when known. */
  change?: { id: string; files: string[]; lane?: string; title?: string; branch?: string; body?: string };
  /** Post-merge checks on this commit; empty or pending while they run. */
  checks: CheckRun[];
  time: number;
}

export type BuildStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

/** The audited record of one worker dispatch (SPEC §5). */
export interface BuildRecord {
  incident: string;
  attempt: number;
  status: BuildStatus;
  error?: string;
  /** The change the build produced, when it produced one. */
  change?: string;
  updatedAt: number;
}

export interface Snapshot {
  /** `local` has no reviews: required_approvals does not apply (SPEC §8). */
  forge: 'local' | 'github';
  target: string;
  changes: Change[];
  targetCommits: TargetCommit[];
  builds: BuildRecord[];
  /** Worker kinds that can run here; a policy naming another has no worker. */
  workers: string[];
  /**
   * Why no merge can land right now although the gates may pass (local mode:
   * the target is checked out with uncommitted changes). Set by the forge.
   */
  mergeBlocked?: string;
}

export type LaneStateName = 'healthy' | 'degraded' | 'paused' | 'recovering';
export type GlobalStateName = 'normal' | 'incident-contained' | 'global-hold';

export interface LaneState {
  name: string;
  state: LaneStateName;
  since: number;
  /** The open incident this lane is handling. */
  incident?: string;
  /** A merge in this lane whose target checks have not finished yet. */
  awaiting?: { change: string; since: number };
  /** The target commit a recovery is measured from (fix or revert merge). */
  recoveryFrom?: string;
  /** Set by `pause <lane>`; only `resume` clears it. */
  operatorPaused?: { reason: string; since: number };
  reason: string;
}

export type IncidentStatus = 'open' | 'resolved';

export interface FixAttempt {
  attempt: number;
  dispatchedAt: number;
  outcome: 'pending' | 'failed' | 'merged';
  change?: string;
  reason?: string;
}

/**
 * One entry of an incident's fingerprint: a failing test of a check, or the
 * check as a whole (`test` absent) when nothing finer is known.
 */
export interface FailureMark {
  check: string;
  test?: string;
  file?: string;
  line?: number;
  /** The lane the failure maps to, and why (its file under the lane's paths or tests, or the check's owner). */
  lane?: string;
  why: string;
}

export interface Incident {
  id: string;
  status: IncidentStatus;
  lanes: string[];
  /** Lanes it held that a policy edit renamed or removed; it no longer holds them. */
  droppedLanes?: string[];
  crossLane: boolean;
  unattributed: boolean;
  failureClass: FailureClass;
  classRule: string;
  tier: RiskTier;
  failingChecks: string[];
  /**
   * The incident's fingerprint: the failures it covers. It resolves when they
   * are gone from the target, and a target failure it covers is a known one.
   * Absent on incidents recorded before fingerprints: `failingChecks` stands in.
   */
  failures?: FailureMark[];
  /**
   * The last lines of each failing check's output at the red commit, as read when
   * the incident opened: what a person reads first, in status, explain and log.
   */
  output?: OutputTail[];
  redSha: string;
  lastGreenSha?: string;
  /** The merges between the last clean and the first red commit that the failures narrow to; `lanes` from each one's diff. */
  suspects: { sha: string; change?: string; lane?: string; lanes?: string[] }[];
  /** What the eligibility matrix and the tier allow: fix, revert or escalate. */
  remedy: 'fix' | 'quarantine' | 'revert' | 'escalate';
  openedAt: number;
  resolvedAt?: number;
  attempts: FixAttempt[];
  /** Failed fix changes and builds counted so far (the retry counter). */
  retries: number;
  /** Keys of failures already counted, so one failure never counts twice. */
  countedFailures: string[];
  /** Target commits of fix or revert merges already acted on. */
  repairMerges: string[];
  escalated: boolean;
  revertProposed: boolean;
  pagedAt?: number;
  rationale: string;
}

export type ApprovalStatus = 'pending' | 'approved' | 'rejected';
export type ActionClass = 'merge' | 'fix' | 'revert' | 'hygiene';

/** A run's gated steps (SPEC §11): plan, apply (generate), execute, merge, deploy. */
export type RunStep = 'plan' | 'apply' | 'execute' | 'merge' | 'deploy';

export interface Approval {
  id: string;
  /** The idempotency key of the action the approval stands for. */
  key: string;
  /** A run's gate is `run`; its step says which. */
  actionClass: ActionClass | 'run';
  /** For a run's gate: the run, its step, and the task when the step is one task's. */
  run?: string;
  step?: RunStep;
  task?: string;
  kind: DecisionKind;
  lane?: string;
  change?: string;
  incident?: string;
  tier: RiskTier;
  rationale: string;
  status: ApprovalStatus;
  createdAt: number;
  resolvedAt?: number;
  resolvedBy?: string;
  reason?: string;
}

export interface HoldTrigger {
  key: string;
  reason: string;
}

export interface GlobalState {
  state: GlobalStateName;
  reason: string;
  since: number;
  /** Triggers of the hold in force; empty when not held. */
  triggers: HoldTrigger[];
  /** Trigger keys an owner acknowledged with `release --ack`. */
  acknowledged: string[];
}

export interface ControllerState {
  version: 1;
  global: GlobalState;
  lanes: Record<string, LaneState>;
  incidents: Record<string, Incident>;
  approvals: Record<string, Approval>;
  /** Newest target commit whose checks were all green. */
  lastGreenSha?: string;
  /** Red target commits already examined, so one break opens one incident. */
  examinedRed: string[];
  /** Flaky tests seen on the target (failed, then passed on the same sha), keyed by `check > test`. */
  flakes?: Record<string, FlakeRecord>;
  cycle: number;
}

export interface FlakeRecord {
  check: string;
  test?: string;
  file?: string;
  /** Target commits it flaked on, with when it was seen (newest last, bounded). */
  seen: { sha: string; at: number }[];
  /** When it was last reported for quarantine. */
  reportedAt?: number;
}

export type DecisionKind =
  | 'merge'
  | 'wait'
  | 'open-incident'
  | 'resolve-incident'
  | 'lane-transition'
  | 'dispatch-fix'
  | 'propose-revert'
  | 'escalate'
  | 'page-owner'
  | 'request-approval'
  | 'global-hold'
  | 'global-release'
  | 'report-flaky'
  | 'update-branch'
  | 'outcome';

export interface Decision {
  kind: DecisionKind;
  lane?: string;
  change?: string;
  incident?: string;
  /** For merges: the head sha the merge is guarded by. For branch updates: the head GitHub must still see. */
  sha?: string;
  /** For branch updates: the base commit the branch is brought up to. */
  baseSha?: string;
  /** For dispatches: the attempt number. */
  attempt?: number;
  /** For approvals: the approval id. */
  approval?: string;
  /** Set on actions the shell executes; an action whose key is done is never repeated. */
  key?: string;
  /** For lane transitions. */
  from?: string;
  to?: string;
  rationale: string;
}

export type CycleOutcome = 'continue' | 'pause-lane' | 'global-hold';

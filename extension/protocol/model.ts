// The cockpit's view of a repository: what the trees, the status bar and the
// dashboard render. Plain data, built by the extension host from the store;
// the webviews import only these types.
import type { QueueEntry } from '../core/decide';
import type { Kpis } from '../core/kpi';
import type { Approval, CheckRun, Incident, LaneStateName, GlobalStateName } from '../core/model';
import type { ChangeDiff } from '../core/diff';
import type { CheckFailures } from './failures';
import type { RunKpisView, RunView } from './runs';
import type { GitHubBudget } from './budget';

// The core's data the views render, re-exported so a webview imports protocol/ only (lint enforces it).
export type { Kpis } from '../core/kpi';
export type { CheckRun, Incident } from '../core/model';
export type { FileDiff } from '../core/diff';

/** Opens a file a failing test names, at its line (the host checks the path is inside the repository). */
export interface OpenFileRequest {
  kind: 'openFile';
  path: string;
  line?: number;
  /** The commit the failure was seen on: used when the working tree lacks the file. */
  sha?: string;
}

export interface LaneView {
  name: string;
  state: LaneStateName;
  reason: string;
  since: number;
  queue: QueueEntry[];
  incident: Incident | null;
  operatorPaused: boolean;
}

export interface ActivityItem {
  seq: number;
  at: number;
  type: string;
  kind?: string;
  lane?: string;
  change?: string;
  incident?: string;
  approval?: string;
  status?: string;
  message: string;
}

export interface PolicyProblemView {
  file: string;
  line: number;
  column: number;
  message: string;
  hint: string;
}

export interface CockpitModel {
  /** The repository root, or undefined when the workspace has none. */
  repo?: string;
  policyFile?: string;
  /** Set when the policy file is invalid: nothing acts until it is fixed. */
  policyProblems: PolicyProblemView[];
  /** Why the cockpit cannot show a repository (no folder, not a git repository). */
  unavailable?: string;
  forge: 'local' | 'github';
  target: string;
  global: { state: GlobalStateName; reason: string; since: number };
  lanes: LaneView[];
  incidents: Incident[];
  approvals: Approval[];
  activity: ActivityItem[];
  kpis: Kpis;
  /** The operator's runs, newest first (the Runs view, the run panel, progress notifications). */
  runs: RunView[];
  runKpis: RunKpisView;
  lastCycle?: { cycle: number; at: number; outcome: { kind: string; rationale: string } };
  controller: { running: boolean; syncing: boolean; trusted: boolean; interval: number; lastError?: string };
  /** GitHub mode: the rate-limit budget the last cycle's answers reported. */
  githubBudget?: GitHubBudget;
  now: number;
}

export type DashboardRequest =
  | { kind: 'sync' }
  | { kind: 'review'; change?: string; approval?: string }
  | { kind: 'pause'; lane: string }
  | { kind: 'resume'; lane: string }
  | { kind: 'start' }
  | { kind: 'stop' }
  | OpenFileRequest;

export interface ReviewState {
  /** What is being reviewed: an approval, a change, or both. */
  approval?: Approval;
  change?: QueueEntry & { laneState?: LaneStateName };
  diff?: ChangeDiff;
  diffError?: string;
  checks: CheckRun[];
  /** The change's red required checks read down to their failing tests, with what an open incident knows of them. */
  failures?: CheckFailures[];
  /** Set once the approval was decided (from this panel or elsewhere). */
  resolved?: { status: 'approved' | 'rejected' | 'merged'; by?: string; reason?: string };
  trusted: boolean;
}

export type ReviewRequest =
  { kind: 'approve' } | { kind: 'reject'; reason: string } | { kind: 'openDiff'; path: string } | { kind: 'refresh' } | OpenFileRequest;

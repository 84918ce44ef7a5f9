// Idempotency keys and approval ids: one home for how the core names an action.
// A decision's key is what the shell records as done (an action whose key is
// done is never repeated) and what an approval stands for, so every key is
// built here and read back here; nothing else spells one out.
import { own } from './records';
import type { Approval, Change, RunStep } from './model';

/** Every key an action, a hold trigger or a counted failure can carry, read back into its parts. */
export type ParsedKey =
  | { kind: 'merge'; change: string; headSha: string }
  | { kind: 'update-branch'; change: string; headSha: string; baseSha: string }
  | { kind: 'dispatch'; incident: string; attempt: number }
  | { kind: 'revert'; incident: string }
  | { kind: 'escalate'; incident: string; why: string }
  | { kind: 'lane-gone'; lane: string; since: number }
  | { kind: 'page'; incident: string }
  | { kind: 'hold'; triggers: string[] }
  | { kind: 'quarantine'; flake: string; sha: string }
  | { kind: 'run-task'; run: string; task: string; attempt: number }
  | { kind: 'run-promote'; run: string; task: string; attempt: number }
  | { kind: 'run-gate'; run: string; step: RunStep; task?: string; attempt?: number };

/** Merging this head of this change: a moved head is another action (and needs another approval). */
export function mergeKey(change: Pick<Change, 'id' | 'headSha'>): string {
  return `merge:${change.id}:${change.headSha}`;
}

/** Bringing this head of this change up to this base commit: at most once, so a retry never updates a branch twice for one base. */
export function updateBranchKey(change: Pick<Change, 'id' | 'headSha'>, baseSha: string): string {
  return `update-branch:${change.id}:${change.headSha}:${baseSha}`;
}

/** Escalating a refusal no retry resolves, once per action (`actionKey`) and refusal code. */
export function refusedKey(actionKey: string, code: string): string {
  return `refused:${actionKey}:${code}`;
}

/** The `attempt`th dispatch of a fix (or quarantine) for an incident. */
export function dispatchKey(incident: string, attempt: number): string {
  return `dispatch:${incident}:${attempt}`;
}

/** Proposing the revert of an incident's culprit: at most once per incident. */
export function revertKey(incident: string): string {
  return `revert:${incident}`;
}

/** Escalating an incident for one reason (`why` is a short tag: `retries`, `second`, `lane-gone:web`…). */
export function escalateKey(incident: string, why: string): string {
  return `escalate:${incident}:${why}`;
}

/** Reporting that an operator's pause ended with its lane, which the policy no longer names. */
export function laneGoneKey(lane: string, pausedSince: number): string {
  return `escalate:lane-gone:${lane}:${pausedSince}`;
}

/** Paging the owners about an incident's paused lanes: once per incident. */
export function pageKey(incident: string): string {
  return `page:${incident}`;
}

/** A global hold for the triggers that started (or extended) it. */
export function holdKey(triggers: readonly string[]): string {
  return `hold:${triggers.join('+')}`;
}

/** Reporting a flaky test (keyed by its mark) for quarantine, from the first commit it flaked on in the window. */
export function quarantineKey(flake: string, firstSha: string): string {
  return `quarantine:${flake}:${firstSha}`;
}

/** The `attempt`th start of a run's task (a hedge is a task of its own): a started key never starts again. */
export function runTaskKey(run: string, task: string, attempt: number): string {
  return `run:${run}:task:${task}:${attempt}`;
}

/** Promoting the result of a task's `attempt`th run into its lane's queue (a retried task's new result is another promotion). */
export function runPromoteKey(run: string, task: string, attempt: number): string {
  return `run:${run}:promote:${task}:${attempt}`;
}

/**
 * A run's gated step: once per run (apply, execute), or per task and attempt (merge, deploy), so a
 * retried task's new result asks a person again instead of reusing the earlier approval or rejection.
 */
export function runGateKey(run: string, step: RunStep, task?: { id: string; attempt: number }): string {
  return task ? `run:${run}:gate:${step}:${task.id}:${task.attempt}` : `run:${run}:gate:${step}`;
}

/** The triggers of a global hold: an owner acknowledges each by its key (`release --ack`). */
export const holdTrigger = {
  unattributed: (incident: string) => `unattributed:${incident}`,
  crossLane: (incident: string) => `cross-lane:${incident}`,
  tier3: (incident: string) => `tier3:${incident}`,
  pausedLanes: (lanes: readonly string[]) => `paused-lanes:${[...lanes].sort().join(',')}`,
  /** An operator's `hold`, one per command. */
  operator: (at: number) => `operator:${at}`,
};

/** Keys of the failures counted against an incident's retries, so one failure never counts twice. */
export const countedFailure = {
  /** The incident's failures still on the target after a repair merged. */
  redAfter: (sha: string) => `red-after:${sha}`,
  /** A fix change's head failed its checks. */
  fixChange: (change: Pick<Change, 'id' | 'headSha'>) => `fix:${change.id}@${change.headSha}`,
  /** A worker's build failed or was cancelled. */
  build: (attempt: number) => `build:${attempt}`,
  /** No fix change within dispatch.timeout. */
  timeout: (attempt: number) => `timeout:${attempt}`,
};

/** Splits `rest` at its last colon: the part after it never holds one (a sha, a number). */
function lastPart(rest: string): [string, string] | undefined {
  const at = rest.lastIndexOf(':');
  return at > 0 ? [rest.slice(0, at), rest.slice(at + 1)] : undefined;
}

/** The parts of an action key built above; undefined for anything else. */
export function parseKey(key: string): ParsedKey | undefined {
  const colon = key.indexOf(':');
  if (colon <= 0) return undefined;
  const kind = key.slice(0, colon);
  const rest = key.slice(colon + 1);
  const split = lastPart(rest);
  switch (kind) {
    case 'merge':
      return split ? { kind, change: split[0], headSha: split[1] } : undefined;
    case 'update-branch': {
      const base = split ? lastPart(split[0]) : undefined;
      return split && base ? { kind, change: base[0], headSha: base[1], baseSha: split[1] } : undefined;
    }
    case 'dispatch':
      return split && /^\d+$/.test(split[1]) ? { kind, incident: split[0], attempt: Number(split[1]) } : undefined;
    case 'revert':
    case 'page':
      return { kind, incident: rest };
    case 'escalate':
      return parseEscalation(rest);
    case 'hold':
      return { kind, triggers: rest.split('+') };
    case 'quarantine':
      return split ? { kind, flake: split[0], sha: split[1] } : undefined;
    case 'run':
      return parseRunKey(rest);
    default:
      return undefined;
  }
}

const RUN_STEPS: readonly RunStep[] = ['plan', 'apply', 'execute', 'merge', 'deploy'];

function isRunStep(text: string): text is RunStep {
  return (RUN_STEPS as readonly string[]).includes(text);
}

function wholeNumber(text: string | undefined): number | undefined {
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}

/** Run and task ids hold no colon (the run model's names), so a run key splits on every colon. */
function parseRunKey(rest: string): ParsedKey | undefined {
  const [run, what, ...parts] = rest.split(':');
  if (!run || parts.some((part) => part === '')) return undefined;
  if (what === 'task' || what === 'promote') {
    const [task, count] = parts;
    const attempt = wholeNumber(count);
    if (parts.length !== 2 || task === undefined || attempt === undefined) return undefined;
    return { kind: what === 'task' ? 'run-task' : 'run-promote', run, task, attempt };
  }
  const [step, task, count] = parts;
  if (what !== 'gate' || step === undefined || !isRunStep(step)) return undefined;
  if (parts.length === 1) return { kind: 'run-gate', run, step };
  const attempt = wholeNumber(count);
  return parts.length === 3 && task !== undefined && attempt !== undefined ? { kind: 'run-gate', run, step, task, attempt } : undefined;
}

function parseEscalation(rest: string): ParsedKey | undefined {
  if (rest.startsWith('lane-gone:')) {
    const split = lastPart(rest.slice('lane-gone:'.length));
    return split && /^\d+$/.test(split[1]) ? { kind: 'lane-gone', lane: split[0], since: Number(split[1]) } : undefined;
  }
  // Incident ids hold no colon: the reason is everything after the first one.
  const colon = rest.indexOf(':');
  return colon > 0 ? { kind: 'escalate', incident: rest.slice(0, colon), why: rest.slice(colon + 1) } : undefined;
}

/**
 * A short id for the approval of an action: FNV-1a over 64 bits, in base 36.
 * It is only a handle an operator can type: two keys may share an id (a hash
 * collision, or an id an older version derived), so an approval is always
 * found through `approvalFor`, which compares the key itself.
 */
export function approvalIdFor(key: string): string {
  let hash = 0xcbf29ce484222325n;
  for (let i = 0; i < key.length; i++) {
    hash ^= BigInt(key.charCodeAt(i));
    hash = BigInt.asUintN(64, hash * 0x100000001b3n);
  }
  return `ap-${hash.toString(36).padStart(13, '0')}`;
}

/**
 * The approval of exactly this action: looked up by its id, and accepted only
 * when its key is the action's key (an approval of another action that happens
 * to hold the same id never stands in for this one).
 */
export function approvalFor(approvals: Readonly<Record<string, Approval>>, key: string): Approval | undefined {
  const byId = own(approvals, approvalIdFor(key));
  if (byId?.key === key) return byId;
  return Object.values(approvals).find((approval) => approval.key === key);
}

/** A free id for a new approval of `key`: its own id, or, when another key holds that, one derived from `key#2`, `key#3`… */
export function newApprovalId(approvals: Readonly<Record<string, Approval>>, key: string): string {
  let id = approvalIdFor(key);
  for (let n = 2; own(approvals, id) !== undefined; n++) id = approvalIdFor(`${key}#${n}`);
  return id;
}

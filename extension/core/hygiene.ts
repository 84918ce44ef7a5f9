// Hygiene, the conductor protocol (SPEC §7), as a pure plan: which labels,
// comments and digests the repository needs this cycle. Each action has a key
// that carries its window, and `memory` (key -> when it was done) removes
// repeats, so no item gets a second nudge or stale note within its window.
import { autonomyAllows } from './autonomy';
import type { QueueEntry } from './decide';
import { formatDuration } from './policy/duration';
import type { Change, ControllerState } from './model';
import type { Policy } from './policy/schema';
import { inert } from './trailers';

export const MERGE_READY = 'merge-ready';
export const STALE = 'stale';
export const NEEDS_RESTACK = 'needs-restack';
export const NEEDS_REWORK = 'needs-rework';

export interface HygieneIssue {
  number: number;
  title: string;
  labels: string[];
  createdAt: number;
  updatedAt: number;
  /** Written by Build Master itself (fix, escalation and status issues). */
  own: boolean;
}

export interface HygieneInput {
  policy: Policy;
  now: number;
  issues: HygieneIssue[];
  /** Open pull requests, with the time each was last updated. */
  changes: (Change & { updatedAt: number })[];
  queues: Record<string, QueueEntry[]>;
  memory: Readonly<Record<string, number>>;
  digest: string;
}

/** Every action has a key (remembered once done) and may name further keys to remember with it. */
type ActionBase = { key: string; reason: string; remember?: string[] };

export type HygieneAction =
  | (ActionBase & { kind: 'label'; number: number; label: string })
  | (ActionBase & { kind: 'unlabel'; number: number; label: string })
  | (ActionBase & { kind: 'comment'; number: number; body: string; addLabel?: string })
  | (ActionBase & { kind: 'digest'; body: string });

export interface HygienePlan {
  allowed: boolean;
  rationale: string;
  actions: HygieneAction[];
  /** Keys to remember without acting (first sightings that start a window). */
  sightings: Record<string, number>;
}

// What keeps a change from being merge-ready (the lane's state and the global hold do not: they are not the change's).
const NOT_READY = new Set([
  'draft',
  'blocking-label',
  'approvals-missing',
  'changes-requested',
  'check-failing',
  'check-pending',
  'check-missing',
  'conflict',
  'mergeability-unknown',
  'no-required-checks',
  'link-withdrawn',
  'empty-change',
  'behind',
  'blocked',
  'dirty',
]);

/** One plan being written: the actions so far, the sightings, and what is already done. */
interface Planning {
  policy: Policy;
  now: number;
  memory: Readonly<Record<string, number>>;
  actions: HygieneAction[];
  sightings: Record<string, number>;
}

/** A change as hygiene sees it: its number, its gate reasons this cycle, and whether it is ready. */
interface ChangeView {
  change: HygieneInput['changes'][number];
  number: number;
  entry: QueueEntry | undefined;
  codes: Set<string>;
  ready: boolean;
}

const done = (plan: Planning, key: string) => plan.memory[key] !== undefined;
const labelled = (view: ChangeView, label: string) => view.change.labels.includes(label);

export function planHygiene(input: HygieneInput): HygienePlan {
  const { policy, now, memory } = input;
  // Hygiene writes labels and comments, never code: the tier of the change does not raise the bar.
  const verdict = autonomyAllows(policy, 'hygiene', 'tier1');
  const plan: Planning = { policy, now, memory, actions: [], sightings: {} };
  const entries = new Map<string, QueueEntry>();
  for (const queue of Object.values(input.queues)) for (const entry of queue) entries.set(entry.change, entry);

  for (const issue of input.issues) {
    triage(plan, issue);
    staleNote(plan, issue.number, issue.labels, issue.updatedAt, issue.own);
  }
  for (const change of input.changes) {
    const entry = entries.get(change.id);
    const codes = new Set(entry?.reasons.map((r) => r.code) ?? []);
    const ready = entry !== undefined && ![...codes].some((code) => NOT_READY.has(code));
    const view: ChangeView = { change, number: Number(change.id.replace('#', '')), entry, codes, ready };
    nudgeReview(plan, view);
    markReady(plan, view);
    markConflict(plan, view);
    redispatchRework(plan, view);
    staleNote(plan, view.number, change.labels, change.updatedAt, false);
  }
  if (input.digest) {
    const key = `digest:${hash(input.digest)}`;
    if (!done(plan, key)) plan.actions.push({ kind: 'digest', key, body: input.digest, reason: 'the lanes changed since the last digest' });
  }
  return { allowed: verdict.allowed, rationale: verdict.rationale, actions: plan.actions, sightings: plan.sightings };
}

/** An issue nobody labelled gets the triage label (Build Master's own issues are labelled when written). */
function triage(plan: Planning, issue: HygieneIssue): void {
  if (issue.labels.length > 0 || issue.own) return;
  const label = plan.policy.hygiene.triage_label;
  plan.actions.push({
    kind: 'label',
    number: issue.number,
    label,
    key: `triage:#${issue.number}`,
    reason: `#${issue.number} has no label: ${label}`,
  });
}

/** Review nudges: approvals missing, nobody asked for changes, waiting past the window (once per window). */
function nudgeReview(plan: Planning, { change, number, codes }: ChangeView): void {
  const after = plan.policy.hygiene.nudge_review_after;
  const waiting = plan.now - change.readySince;
  if (change.draft || !codes.has('approvals-missing') || codes.has('changes-requested') || waiting < after) return;
  const key = `nudge:${change.id}:${Math.floor(waiting / after)}`;
  if (done(plan, key)) return;
  plan.actions.push({
    kind: 'comment',
    number,
    key,
    reason: `${change.id} has waited ${formatDuration(waiting)} for review`,
    body: `This pull request has waited ${formatDuration(waiting)} for a review (nudge_review_after is ${formatDuration(after)}). Reviewers, please take a look.`,
  });
}

/** merge-ready follows the gate: added when approved and green, removed (with a note, once per head) when a check fails. */
function markReady(plan: Planning, view: ChangeView): void {
  const { change, number, codes, entry } = view;
  if (view.ready && !labelled(view, MERGE_READY)) {
    plan.actions.push({
      kind: 'label',
      number,
      label: MERGE_READY,
      key: `ready:${change.id}:${change.headSha}`,
      reason: `${change.id} is approved and green`,
    });
  }
  if (!labelled(view, MERGE_READY) || !codes.has('check-failing')) return;
  const failing = entry?.reasons.filter((r) => r.code === 'check-failing').map((r) => r.message) ?? [];
  plan.actions.push({
    kind: 'unlabel',
    number,
    label: MERGE_READY,
    key: `unready:${change.id}:${change.headSha}`,
    reason: `${change.id} has a failing check`,
  });
  const key = `unready-note:${change.id}:${change.headSha}`;
  if (!done(plan, key))
    plan.actions.push({
      kind: 'comment',
      number,
      key,
      reason: `${change.id} lost ${MERGE_READY}`,
      body: `Removed \`${MERGE_READY}\`: ${failing.join('; ')}.`,
    });
}

/** Conflicts: label and explain once per head; the label goes when a new head merges cleanly. */
function markConflict(plan: Planning, view: ChangeView): void {
  const { change, number } = view;
  const target = plan.policy.target;
  if (change.mergeable === 'conflicting' && !labelled(view, NEEDS_RESTACK)) {
    plan.actions.push({
      kind: 'comment',
      number,
      key: `restack:${change.id}:${change.headSha}`,
      reason: `${change.id} conflicts with ${target}`,
      body: `This pull request conflicts with \`${target}\`: please rebase or merge \`${target}\` into it. Build Master labelled it \`${NEEDS_RESTACK}\` and removes the label once it merges cleanly.`,
      addLabel: NEEDS_RESTACK,
      remember: [`restack-added:${change.id}`],
    });
  } else if (change.mergeable === 'mergeable' && labelled(view, NEEDS_RESTACK) && done(plan, `restack-added:${change.id}`)) {
    plan.actions.push({
      kind: 'unlabel',
      number,
      label: NEEDS_RESTACK,
      key: `restacked:${change.id}:${change.headSha}`,
      reason: `${change.id} merges cleanly again`,
    });
  }
}

/** needs-rework: after the window, summon the coding agent again (once per window). */
function redispatchRework(plan: Planning, view: ChangeView): void {
  const { change, number } = view;
  if (!labelled(view, NEEDS_REWORK)) return;
  const { now, policy } = plan;
  const after = policy.hygiene.redispatch_rework_after;
  const seenKey = `rework-seen:${change.id}`;
  const seen = plan.memory[seenKey];
  if (seen === undefined) {
    plan.sightings[seenKey] = now;
    return;
  }
  if (now - seen < after) return;
  const key = `rework:${change.id}:${Math.floor((now - seen) / after)}`;
  if (done(plan, key)) return;
  plan.actions.push({
    kind: 'comment',
    number,
    key,
    reason: `${change.id} has needed rework for ${formatDuration(now - seen)}`,
    body: `Still \`${NEEDS_REWORK}\` after ${formatDuration(now - seen)}: re-dispatched to the coding agent (\`${policy.dispatch.label}\`).`,
    addLabel: policy.dispatch.label,
  });
}

/** An item idle past stale_after gets one note per idle spell, and the stale label (never Build Master's own issues). */
function staleNote(plan: Planning, number: number, labels: string[], updatedAt: number, own: boolean): void {
  const { now } = plan;
  const after = plan.policy.hygiene.stale_after;
  if (own || labels.includes(STALE) || now - updatedAt < after) return;
  const key = `stale:#${number}:${updatedAt}`;
  if (done(plan, key)) return;
  plan.actions.push({
    kind: 'comment',
    number,
    key,
    reason: `#${number} idle for ${formatDuration(now - updatedAt)}`,
    body: `No activity for ${formatDuration(now - updatedAt)} (stale_after is ${formatDuration(after)}). Close it if it is no longer needed.`,
    addLabel: STALE,
  });
}

/** A short stable hash (FNV-1a) for digest keys; not for security. */
export function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** The digest: global state, each lane's state and open incidents. Posted when it changes. */
export function digestOf(state: ControllerState): string {
  const lanes = Object.values(state.lanes).map(
    (l) => `| ${l.name} | ${l.state} | ${l.incident ?? ''} | ${inert(l.reason).replace(/\|/g, '/')} |`,
  );
  const open = Object.values(state.incidents).filter((i) => i.status === 'open');
  return [
    `**Global:** ${state.global.state} — ${state.global.reason}`,
    '',
    '| lane | state | incident | reason |',
    '| --- | --- | --- | --- |',
    ...lanes,
    '',
    open.length
      ? `**Open incidents:** ${open.map((i) => `${i.id} (${i.failureClass}, ${i.lanes.join(', ') || 'unattributed'})`).join('; ')}`
      : '**Open incidents:** none',
  ].join('\n');
}

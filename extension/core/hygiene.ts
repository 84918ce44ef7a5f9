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
]);

export function planHygiene(input: HygieneInput): HygienePlan {
  const { policy, now, memory } = input;
  const h = policy.hygiene;
  // Hygiene writes labels and comments, never code: the tier of the change does not raise the bar.
  const verdict = autonomyAllows(policy, 'hygiene', 'tier1');
  const actions: HygieneAction[] = [];
  const sightings: Record<string, number> = {};
  const done = (key: string) => memory[key] !== undefined;
  const entries = new Map<string, QueueEntry>();
  for (const queue of Object.values(input.queues)) for (const entry of queue) entries.set(entry.change, entry);

  for (const issue of input.issues) {
    if (issue.labels.length === 0 && !issue.own) {
      actions.push({
        kind: 'label',
        number: issue.number,
        label: h.triage_label,
        key: `triage:#${issue.number}`,
        reason: `#${issue.number} has no label: ${h.triage_label}`,
      });
    }
    staleNote(issue.number, issue.labels, issue.updatedAt, issue.own);
  }

  for (const change of input.changes) {
    const number = Number(change.id.replace('#', ''));
    const entry = entries.get(change.id);
    const codes = new Set(entry?.reasons.map((r) => r.code) ?? []);
    const ready = entry !== undefined && ![...codes].some((code) => NOT_READY.has(code));
    const has = (label: string) => change.labels.includes(label);

    // Review nudges: approvals missing, nobody asked for changes, waiting past the window.
    const waiting = now - change.readySince;
    if (!change.draft && codes.has('approvals-missing') && !codes.has('changes-requested') && waiting >= h.nudge_review_after) {
      const window = Math.floor(waiting / h.nudge_review_after);
      const key = `nudge:${change.id}:${window}`;
      if (!done(key))
        actions.push({
          kind: 'comment',
          number,
          key,
          reason: `${change.id} has waited ${formatDuration(waiting)} for review`,
          body: `This pull request has waited ${formatDuration(waiting)} for a review (nudge_review_after is ${formatDuration(h.nudge_review_after)}). Reviewers, please take a look.`,
        });
    }

    if (ready && !has(MERGE_READY)) {
      actions.push({
        kind: 'label',
        number,
        label: MERGE_READY,
        key: `ready:${change.id}:${change.headSha}`,
        reason: `${change.id} is approved and green`,
      });
    }
    if (has(MERGE_READY) && codes.has('check-failing')) {
      const failing = entry?.reasons.filter((r) => r.code === 'check-failing').map((r) => r.message) ?? [];
      actions.push({
        kind: 'unlabel',
        number,
        label: MERGE_READY,
        key: `unready:${change.id}:${change.headSha}`,
        reason: `${change.id} has a failing check`,
      });
      const key = `unready-note:${change.id}:${change.headSha}`;
      if (!done(key))
        actions.push({
          kind: 'comment',
          number,
          key,
          reason: `${change.id} lost ${MERGE_READY}`,
          body: `Removed \`${MERGE_READY}\`: ${failing.join('; ')}.`,
        });
    }

    // Conflicts: label and explain once per head; the label goes when a new head merges cleanly.
    if (change.mergeable === 'conflicting' && !has(NEEDS_RESTACK)) {
      actions.push({
        kind: 'comment',
        number,
        key: `restack:${change.id}:${change.headSha}`,
        reason: `${change.id} conflicts with ${policy.target}`,
        body: `This pull request conflicts with \`${policy.target}\`: please rebase or merge \`${policy.target}\` into it. Build Master labelled it \`${NEEDS_RESTACK}\` and removes the label once it merges cleanly.`,
        addLabel: NEEDS_RESTACK,
        remember: [`restack-added:${change.id}`],
      });
    } else if (change.mergeable === 'mergeable' && has(NEEDS_RESTACK) && done(`restack-added:${change.id}`)) {
      actions.push({
        kind: 'unlabel',
        number,
        label: NEEDS_RESTACK,
        key: `restacked:${change.id}:${change.headSha}`,
        reason: `${change.id} merges cleanly again`,
      });
    }

    // needs-rework: after the window, summon the coding agent again (once per window).
    if (has(NEEDS_REWORK)) {
      const seenKey = `rework-seen:${change.id}`;
      const seen = memory[seenKey];
      if (seen === undefined) sightings[seenKey] = now;
      else if (now - seen >= h.redispatch_rework_after) {
        const key = `rework:${change.id}:${Math.floor((now - seen) / h.redispatch_rework_after)}`;
        if (!done(key))
          actions.push({
            kind: 'comment',
            number,
            key,
            reason: `${change.id} has needed rework for ${formatDuration(now - seen)}`,
            body: `Still \`${NEEDS_REWORK}\` after ${formatDuration(now - seen)}: re-dispatched to the coding agent (\`${policy.dispatch.label}\`).`,
            addLabel: policy.dispatch.label,
          });
      }
    }
    staleNote(number, change.labels, change.updatedAt, false);
  }

  if (input.digest) {
    const key = `digest:${hash(input.digest)}`;
    if (!done(key)) actions.push({ kind: 'digest', key, body: input.digest, reason: 'the lanes changed since the last digest' });
  }

  return { allowed: verdict.allowed, rationale: verdict.rationale, actions, sightings };

  function staleNote(number: number, labels: string[], updatedAt: number, own: boolean): void {
    if (own || labels.includes(STALE) || now - updatedAt < h.stale_after) return;
    const key = `stale:#${number}:${updatedAt}`;
    if (done(key)) return;
    actions.push({
      kind: 'comment',
      number,
      key,
      reason: `#${number} idle for ${formatDuration(now - updatedAt)}`,
      body: `No activity for ${formatDuration(now - updatedAt)} (stale_after is ${formatDuration(h.stale_after)}). Close it if it is no longer needed.`,
      addLabel: STALE,
    });
  }
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

// What a GitHub webhook delivery says changed, as an observe focus (ports.ts
// ObserveFocus): which pull requests to read again, whether the target branch
// moved, whether the issues changed. Pure: the event name and its parsed payload
// in, a focus (or "read everything", or "nothing to do", or "malformed") out.
// The serve loop unites the focuses of a burst of deliveries into one cycle.
import { z } from 'zod';
import type { ObserveFocus } from '../../ports';

/** The repository and what the last observation saw of it, to match shas and branches against. */
export interface FocusContext {
  /** `owner/name` of the repository Build Master acts on; deliveries for any other are ignored. */
  repository: string;
  target: string;
  /** The last observation (open changes and the target's newest commit); undefined before the first. */
  seen?: SeenRepository;
}

export interface SeenRepository {
  changes: readonly SeenChange[];
  targetSha?: string;
}

export interface SeenChange {
  id: string;
  headSha: string;
  branch: string;
  /** `owner/name` of a fork holding the head; absent for a branch of the repository itself. */
  headRepo?: string;
}

/** What to read for a delivery: a focus, everything (a resync), nothing, or a payload that is not what the event needs. */
export type EventFocus =
  | { kind: 'focus'; focus: ObserveFocus; why: string }
  | { kind: 'everything'; why: string }
  | { kind: 'ignored'; why: string }
  | { kind: 'malformed'; why: string };

/** What the next cycle reads: the union of the deliveries since the last one. */
export type Wanted = ObserveFocus | 'everything';

/** The events Build Master maps (subscribe a webhook to these); any other is answered "ignored". */
export const HANDLED_EVENTS = [
  'pull_request',
  'pull_request_review',
  'check_run',
  'check_suite',
  'status',
  'push',
  'issue_comment',
  'issues',
] as const;
export type HandledEvent = (typeof HANDLED_EVENTS)[number];

export function isHandledEvent(event: string): event is HandledEvent {
  return (HANDLED_EVENTS as readonly string[]).includes(event);
}

/**
 * Actions that cannot change a decision, dropped rather than coalesced:
 * - pull_request: who is assigned or asked to review, locking, milestones and
 *   GitHub's own auto-merge or merge queue do not enter the gate (approvals come
 *   as pull_request_review events).
 * - check_run `rerequested` / `requested_action` and check_suite `requested` /
 *   `rerequested` are requests: the runs they start arrive as check_run
 *   `created` and `completed` of their own. A check_run `created` is kept: a
 *   re-run turns a green check pending, which holds a merge.
 */
const DROPPED_ACTIONS: Readonly<Partial<Record<HandledEvent, readonly string[]>>> = {
  pull_request: [
    'assigned',
    'unassigned',
    'review_requested',
    'review_request_removed',
    'locked',
    'unlocked',
    'milestoned',
    'demilestoned',
    'auto_merge_enabled',
    'auto_merge_disabled',
    'enqueued',
    'dequeued',
  ],
  check_run: ['rerequested', 'requested_action'],
  check_suite: ['requested', 'rerequested'],
};

const repository = z.object({ full_name: z.string().min(1) });
const number = z.number().int().positive();
const pullRef = z.object({
  number,
  // The repository the pull request is into (check payloads list pull requests of other repositories too).
  base: z.object({ repo: z.object({ url: z.string() }).partial().optional() }).optional(),
});
const payloads = {
  pull_request: z.object({
    action: z.string(),
    repository,
    pull_request: z.object({ number, merged: z.boolean().nullish(), base: z.object({ ref: z.string() }) }),
  }),
  pull_request_review: z.object({ action: z.string(), repository, pull_request: z.object({ number }) }),
  check_run: z.object({
    action: z.string(),
    repository,
    check_run: z.object({
      head_sha: z.string().min(1),
      pull_requests: z.array(pullRef),
      check_suite: z.object({ head_branch: z.string().nullish() }).optional(),
    }),
  }),
  check_suite: z.object({
    action: z.string(),
    repository,
    check_suite: z.object({ head_sha: z.string().min(1), head_branch: z.string().nullish(), pull_requests: z.array(pullRef) }),
  }),
  status: z.object({ repository, sha: z.string().min(1), branches: z.array(z.object({ name: z.string() })) }),
  push: z.object({ repository, ref: z.string().min(1) }),
  issue_comment: z.object({ action: z.string(), repository, issue: z.object({ number, pull_request: z.unknown().optional() }) }),
  issues: z.object({ action: z.string(), repository, issue: z.object({ number, pull_request: z.unknown().optional() }) }),
} satisfies Record<HandledEvent, z.ZodType>;

/** The focus of one delivery; `event` is the X-GitHub-Event header, `payload` the parsed body. */
export function focusOf(event: string, payload: unknown, context: FocusContext): EventFocus {
  switch (event) {
    case 'pull_request':
      return read(event, payloads.pull_request, payload, context, ({ action, pull_request: pull }) => {
        // A merged pull request moved the target: its history and post-merge checks are read again.
        const merged = action === 'closed' && pull.merged === true;
        return focus([pullId(pull.number)], { target: merged }, `pull request #${pull.number} ${action}`);
      });
    case 'pull_request_review':
      return read(event, payloads.pull_request_review, payload, context, ({ action, pull_request: pull }) =>
        focus([pullId(pull.number)], {}, `a review of #${pull.number} ${action}`),
      );
    case 'check_run':
      return read(event, payloads.check_run, payload, context, ({ check_run: run }) =>
        checkFocus('check run', run.head_sha, run.check_suite?.head_branch ?? undefined, run.pull_requests, context),
      );
    case 'check_suite':
      return read(event, payloads.check_suite, payload, context, ({ check_suite: suite }) =>
        checkFocus('check suite', suite.head_sha, suite.head_branch ?? undefined, suite.pull_requests, context),
      );
    case 'status':
      return read(event, payloads.status, payload, context, (status) => statusFocus(status, context));
    case 'push':
      return read(event, payloads.push, payload, context, ({ ref }) => pushFocus(ref, context));
    case 'issue_comment':
    case 'issues':
      return read(event, payloads[event], payload, context, ({ action, issue }) => {
        const what = event === 'issues' ? `issue #${issue.number} ${action}` : `a comment on #${issue.number} ${action}`;
        // GitHub's issues API covers pull requests too: a comment on one is about that change.
        if (issue.pull_request !== undefined && issue.pull_request !== null) return focus([pullId(issue.number)], {}, what);
        return focus([], { issues: true }, what);
      });
    default:
      return { kind: 'ignored', why: `Build Master does not act on "${event}" events` };
  }
}

/** Validates a payload, drops other repositories' deliveries and actions that cannot change a decision, then maps it. */
function read<T extends { repository: { full_name: string }; action?: string }>(
  event: HandledEvent,
  schema: z.ZodType<T>,
  payload: unknown,
  context: FocusContext,
  map: (data: T) => EventFocus,
): EventFocus {
  const parsed = schema.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'an object';
    return { kind: 'malformed', why: `a ${event} payload needs ${where} (${issue?.message ?? 'invalid'})` };
  }
  const data = parsed.data;
  if (data.repository.full_name.toLowerCase() !== context.repository.toLowerCase())
    return { kind: 'ignored', why: `the delivery is for ${data.repository.full_name}, not ${context.repository}` };
  if (data.action !== undefined && DROPPED_ACTIONS[event]?.includes(data.action))
    return { kind: 'ignored', why: `${event} ${data.action} cannot change a decision` };
  return map(data);
}

/**
 * Checks report on a head sha. GitHub lists the pull requests of that head in
 * the payload, except those from forks (and those of other repositories, which
 * are dropped here). A head the last observation knows names its change; a
 * check on the target names the target. A head nobody can place (a fork's pull
 * request opened since the last observation, or none yet) is read by a full
 * resync: missing a check result would leave a change waiting until the next one.
 */
function checkFocus(
  what: string,
  sha: string,
  branch: string | undefined,
  listed: readonly z.infer<typeof pullRef>[],
  context: FocusContext,
): EventFocus {
  const ours = listed.filter((pull) => {
    const url = pull.base?.repo?.url;
    return url === undefined || url.toLowerCase().endsWith(`/repos/${context.repository.toLowerCase()}`);
  });
  const changes = [...ours.map((pull) => pullId(pull.number)), ...headsAt(sha, context)];
  const target = branch === context.target || (context.seen?.targetSha !== undefined && context.seen.targetSha === sha);
  const why = `a ${what} on ${sha.slice(0, 7)}${branch ? ` (${branch})` : ''}`;
  if (changes.length === 0 && !target)
    return { kind: 'everything', why: `${why} names no pull request Build Master knows (a fork's head, or one opened since): reading all` };
  return focus(changes, { target }, why);
}

/** A commit status: the changes whose head it is (as last observed), and the target when it is the target's. */
function statusFocus(status: { sha: string; branches: { name: string }[] }, context: FocusContext): EventFocus {
  const changes = headsAt(status.sha, context);
  const target = status.branches.some((branch) => branch.name === context.target) || context.seen?.targetSha === status.sha;
  const why = `a status on ${status.sha.slice(0, 7)}`;
  // No head known with that sha: a change pushed since the last observation, or a fork's; read all rather than miss it.
  if (changes.length === 0 && !target) return { kind: 'everything', why: `${why} is no head Build Master has seen: reading all` };
  return focus(changes, { target }, why);
}

/**
 * A push to the target moves it; a push to a change's branch moves that change
 * (GitHub also sends pull_request `synchronize` for it). A push to a branch no
 * open change has is not a change yet: its pull_request `opened` reads it.
 */
function pushFocus(ref: string, context: FocusContext): EventFocus {
  if (!ref.startsWith('refs/heads/')) return { kind: 'ignored', why: `a push to ${ref} (not a branch)` };
  const branch = ref.slice('refs/heads/'.length);
  const target = branch === context.target;
  const changes = (context.seen?.changes ?? []).filter((c) => c.branch === branch && c.headRepo === undefined).map((c) => c.id);
  if (!target && changes.length === 0) {
    if (context.seen === undefined) return { kind: 'everything', why: `a push to ${branch} before the first observation: reading all` };
    return { kind: 'ignored', why: `a push to ${branch}, which no open pull request has as its head` };
  }
  return focus(changes, { target }, `a push to ${branch}`);
}

/** The open changes the last observation saw at this head sha. */
function headsAt(sha: string, context: FocusContext): string[] {
  return (context.seen?.changes ?? []).filter((change) => change.headSha === sha).map((change) => change.id);
}

/**
 * More pull requests than this in one focus are read as a whole: a full read costs a few
 * pages, a focused one a read per change, and a delivery (or a burst) may name thousands.
 */
export const MAX_FOCUSED_CHANGES = 100;

function focus(changes: string[], flags: { target?: boolean; issues?: boolean }, why: string): EventFocus {
  const named = new Set(changes).size;
  if (named > MAX_FOCUSED_CHANGES) return { kind: 'everything', why: `${why} names ${named} pull requests: reading all` };
  return {
    kind: 'focus',
    focus: { changes: [...new Set(changes)].sort(byNumber), target: flags.target ?? false, issues: flags.issues ?? false },
    why,
  };
}

function pullId(number: number): string {
  return `#${number}`;
}

function byNumber(a: string, b: string): number {
  return Number(a.slice(1)) - Number(b.slice(1)) || a.localeCompare(b);
}

/**
 * Two deliveries' wants as one: every change either named, the target or the
 * issues when either flagged them; everything when either needs everything.
 * Commutative, associative and idempotent, so the order a burst arrives in and
 * a redelivery make no difference.
 */
export function unite(a: Wanted | undefined, b: Wanted | undefined): Wanted | undefined {
  if (a === 'everything' || b === 'everything') return 'everything';
  if (a === undefined && b === undefined) return undefined;
  const none: ObserveFocus = { changes: [], target: false, issues: false };
  const [x, y] = [a ?? none, b ?? none];
  const changes = [...new Set([...x.changes, ...y.changes])];
  if (changes.length > MAX_FOCUSED_CHANGES) return 'everything';
  return {
    changes: changes.sort(byNumber),
    target: x.target || y.target,
    issues: x.issues || y.issues,
  };
}

/** What an event's focus adds to the next cycle's wants (nothing for an ignored or malformed delivery). */
export function wantOf(result: EventFocus): Wanted | undefined {
  if (result.kind === 'focus') return result.focus;
  return result.kind === 'everything' ? 'everything' : undefined;
}

/** One line for the log: what a focus reads. */
export function describeWanted(wanted: Wanted | undefined): string {
  if (wanted === undefined) return 'nothing';
  if (wanted === 'everything') return 'everything';
  const parts = [...wanted.changes, ...(wanted.target ? ['the target'] : []), ...(wanted.issues ? ['the issues'] : [])];
  return parts.length ? parts.join(', ') : 'nothing';
}

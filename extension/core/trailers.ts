// Build Master's marks in text other people also write: the `Build-Master-*`
// trailers of its merge commits, the hidden markers of its issues and comments,
// and the fences around untrusted output. Both forges, the workers and crash
// recovery write and read them here, so the rule of what is trusted lives in
// one place.

export const TRAILER_PREFIX = 'Build-Master-';

export type TrailerName = 'Change' | 'Branch' | 'Lane' | 'Key' | 'Head' | 'Incident' | 'Run' | 'Task';

const TRAILER_LINE = /^([A-Za-z0-9][A-Za-z0-9-]*): (.*)$/;

/**
 * The trailer block Build Master writes: one `Build-Master-<Name>: value` line
 * per field. Values are folded onto one line, so no value can start a trailer
 * of its own.
 */
export function formatTrailers(fields: Partial<Record<TrailerName, string>>): string {
  return Object.entries(fields)
    .filter((entry): entry is [string, string] => typeof entry[1] === 'string')
    .map(([name, value]) => `${TRAILER_PREFIX}${name}: ${value.replace(/[\r\n]+/g, ' ').trim()}`)
    .join('\n');
}

/**
 * The Build-Master trailers of a commit message, read only from its final
 * paragraph and only when every line of that paragraph is a `Key: value`
 * trailer (git's own rule, kept strict). A `Build-Master-Key:` line written in a
 * title, a body or a quoted message is therefore never a trailer.
 */
export function parseTrailers(message: string): Map<TrailerName, string> {
  const found = new Map<TrailerName, string>();
  const paragraphs = message
    .replace(/\r\n/g, '\n')
    .trimEnd()
    .split(/\n[ \t]*\n/);
  if (paragraphs.length < 2) return found; // a subject alone has no trailer block
  const block = (paragraphs[paragraphs.length - 1] ?? '').split('\n');
  const parsed = block.map((line) => TRAILER_LINE.exec(line));
  if (parsed.some((match) => match === null)) return found;
  for (const match of parsed) {
    const [, key, value] = match as RegExpExecArray;
    if (!key?.startsWith(TRAILER_PREFIX)) continue;
    const name = key.slice(TRAILER_PREFIX.length) as TrailerName;
    // The first occurrence wins: a second line of the same name is not Build Master's.
    if (!found.has(name)) found.set(name, (value ?? '').trim());
  }
  return found;
}

/**
 * Untrusted text (a check's output, a diff) inside a Markdown code fence that it
 * cannot close: the fence is longer than any run of backticks in the text.
 */
export function fence(text: string, info = ''): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((run) => run[0].length));
  const bar = '`'.repeat(Math.max(3, longest + 1));
  return `${bar}${info}\n${text.replace(/\n+$/, '')}\n${bar}`;
}

/**
 * The hidden marker Build Master puts in an issue or comment it writes, so it
 * writes it once (searched for before writing). Anyone can paste a marker: one
 * counts only on an item Build Master wrote.
 */
export function markerOf(key: string): string {
  return `<!-- build-master:${key} -->`;
}

/** Whether `text` carries the marker of `key`, or (given a prefix) of any key that starts with it. */
export function carriesMarker(text: string, key: string | { prefix: string }): boolean {
  return text.includes(typeof key === 'string' ? markerOf(key) : `<!-- build-master:${key.prefix}`);
}

/**
 * Untrusted text (check names, output titles, rationales quoting them) shown
 * outside a code block: kept on one line, so it cannot start a section, and
 * with its @mentions broken by a zero-width joiner, so it cannot page anyone.
 */
export function inert(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/@(?=[A-Za-z0-9_])/g, '@\u200D');
}

/** A repair's link to the incident it repairs: its kind and the incident's id. */
export type ChangeLink = { incident: string; kind: 'fix' | 'revert' } | undefined;

/**
 * The line that links a fix or a revert to the incident it repairs, in a pull
 * request's body or a commit message (read back by `linkOf`).
 */
export function repairLine(kind: 'fix' | 'revert', incident: string): string {
  return `buildmaster:${kind} ${incident}`;
}

/** The branch a repair is pushed to: `buildmaster/fix/<incident>` (a retry may add `-<n>`). */
export function repairBranch(kind: 'fix' | 'revert', incident: string): string {
  return `buildmaster/${kind}/${incident}`;
}

const BRANCH_LINK = /^buildmaster\/(fix|revert)\/(inc-[0-9a-z]+)(?:-\d+)?$/;
const BODY_LINK = /buildmaster:(fix|revert)\s+(inc-[0-9a-z]+)/;

/** A fix or revert change names its incident in its branch or by its repair line in the body. */
export function linkOf(change: { branch: string; body?: string | undefined }): ChangeLink {
  const match = BRANCH_LINK.exec(change.branch) ?? (change.body ? BODY_LINK.exec(change.body) : null);
  if (!match) return undefined;
  return { kind: match[1] as 'fix' | 'revert', incident: match[2] as string };
}

/** The markers of the issues and comments Build Master writes, by what they are about. */
export const issueMarker = {
  /** The issue asking for fix attempt `attempt` of an incident. */
  fix: (incident: string, attempt: number) => `fix:${incident}#${attempt}`,
  /** Any fix issue of an incident (a prefix for `carriesMarker`). */
  anyFix: (incident: string) => ({ prefix: `fix:${incident}#` }),
  /** The escalation issue of an incident (or of a lane's subject). */
  escalation: (subject: string) => `escalate:${subject}`,
  /** The comment paging owners about a subject. */
  page: (subject: string) => `page:${subject}`,
};

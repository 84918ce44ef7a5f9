// Build Master's marks in text other people also write: the `Build-Master-*`
// trailers of its merge commits and the fences around untrusted output. Both
// forges and crash recovery write and read them here, so the rule of what is
// trusted lives in one place.

export const TRAILER_PREFIX = 'Build-Master-';

export type TrailerName = 'Change' | 'Branch' | 'Lane' | 'Key' | 'Head' | 'Incident';

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

// How the core writes things in a sentence: every message, log line and view shows the same short sha and one-line summaries.

/** A commit's first seven hex digits, as git shows it. */
export function short(sha: string): string {
  return sha.slice(0, 7);
}

/** The first line of a text that says something (trimmed), for a one-line summary of a longer message. */
export function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map((line) => line.trim())
      .find(Boolean) ?? ''
  );
}

/** The first line of a text that says something, cut to `max` characters with an ellipsis (a list's one-line summary). */
export function headline(text: string, max: number): string {
  const line = firstLine(text);
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

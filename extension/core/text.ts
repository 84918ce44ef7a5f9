// How the core writes a commit in a sentence: every message, log line and view shows the same short sha.

/** A commit's first seven hex digits, as git shows it. */
export function short(sha: string): string {
  return sha.slice(0, 7);
}

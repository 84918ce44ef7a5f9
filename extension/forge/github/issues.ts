// Issues and comments Build Master writes, each carrying a hidden marker so it
// is written once: before creating, the open issues (or the issue's comments)
// are searched for the marker. That holds across restarts and across a
// dropped connection after GitHub already created the item.
import type { GitHubForge, IssueData } from './forge';

export function markerOf(key: string): string {
  return `<!-- build-master:${key} -->`;
}

/** Issues created by this process, so a second request in the same cycle finds them before the next read. */
const created = new WeakMap<GitHubForge, Map<string, number>>();

export interface NewIssue {
  title: string;
  body: string;
  labels: string[];
}

/** The open issue carrying `key`, created when there is none. Returns its number. */
export async function issueFor(forge: GitHubForge, key: string, make: () => NewIssue): Promise<number> {
  const mine = created.get(forge) ?? new Map<string, number>();
  created.set(forge, mine);
  const known = mine.get(key);
  if (known !== undefined) return known;
  const marker = markerOf(key);
  const found = markedIssue(forge.observed?.issues ?? (await openIssues(forge)), marker);
  if (found) {
    mine.set(key, found.number);
    return found.number;
  }
  const issue = make();
  try {
    const { data } = await forge.api.issues.create({ ...forge.repository, title: issue.title, body: `${issue.body}\n\n${marker}`, labels: issue.labels, request: { retries: 0 } });
    mine.set(key, data.number);
    return data.number;
  } catch (error) {
    // The answer may be lost after GitHub created it: look again before failing (never create twice).
    const made = markedIssue(await openIssues(forge).catch(() => []), marker);
    if (!made) throw error;
    mine.set(key, made.number);
    return made.number;
  }
}

function openIssues(forge: GitHubForge): Promise<IssueData[]> {
  return forge.api.paginate(forge.api.issues.listForRepo, { ...forge.repository, state: 'open', per_page: 100 });
}

function markedIssue(issues: IssueData[], marker: string): IssueData | undefined {
  return issues.find((issue) => !issue.pull_request && (issue.body ?? '').includes(marker));
}

/** Posts `text` on an issue or pull request once: a comment with the same key is never posted twice. */
export async function comment(forge: GitHubForge, number: number, key: string, text: string): Promise<boolean> {
  const marker = markerOf(key);
  const comments = await forge.api.paginate(forge.api.issues.listComments, { ...forge.repository, issue_number: number, per_page: 100 });
  if (comments.some((c) => (c.body ?? '').includes(marker))) return false;
  try {
    await forge.api.issues.createComment({ ...forge.repository, issue_number: number, body: `${text}\n\n${marker}`, request: { retries: 0 } });
  } catch (error) {
    const again = await forge.api.paginate(forge.api.issues.listComments, { ...forge.repository, issue_number: number, per_page: 100 }).catch(() => []);
    if (!again.some((c) => (c.body ?? '').includes(marker))) throw error;
  }
  return true;
}

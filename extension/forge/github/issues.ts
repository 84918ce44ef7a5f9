// Issues and comments Build Master writes, each carrying a hidden marker so it
// is written once: before creating, the open issues (or the issue's comments)
// are searched for the marker. That holds across restarts and across a
// dropped connection after GitHub already created the item. Anyone can paste a
// marker, so one counts only on an issue or comment Build Master wrote.
import type { GitHubForge, IssueData } from './forge';

export function markerOf(key: string): string {
  return `<!-- build-master:${key} -->`;
}

/**
 * Untrusted text (check names, output titles, rationales quoting them) shown
 * outside a code block: kept on one line, so it cannot start a section, and
 * with its @mentions broken by a zero-width joiner, so it cannot page anyone.
 */
export function inert(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/@(?=[A-Za-z0-9_])/g, '@\u200D');
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
  const owns = await forge.ownership();
  const found = markedIssue(forge.observed?.issues ?? (await openIssues(forge)), marker, owns);
  if (found) {
    mine.set(key, found.number);
    return found.number;
  }
  const issue = make();
  try {
    const { data } = await forge.api.issues.create({
      ...forge.repository,
      title: issue.title,
      body: `${issue.body}\n\n${marker}`,
      labels: issue.labels,
      request: { retries: 0 },
    });
    forge.remember({ login: data.user?.login, issue: data.number });
    mine.set(key, data.number);
    return data.number;
  } catch (error) {
    // The answer may be lost after GitHub created it: look again before failing (never create twice).
    const made = markedIssue(await openIssues(forge).catch(() => []), marker, await forge.ownership());
    if (!made) throw error;
    forge.remember({ issue: made.number });
    mine.set(key, made.number);
    return made.number;
  }
}

function openIssues(forge: GitHubForge): Promise<IssueData[]> {
  return forge.api.paginate(forge.api.issues.listForRepo, { ...forge.repository, state: 'open', per_page: 100 });
}

function markedIssue(issues: IssueData[], marker: string, owns: (item: IssueData) => boolean): IssueData | undefined {
  return issues.find((issue) => !issue.pull_request && (issue.body ?? '').includes(marker) && owns(issue));
}

/** Posts `text` on an issue or pull request once: a comment with the same key is never posted twice. */
export async function comment(forge: GitHubForge, number: number, key: string, text: string): Promise<boolean> {
  const marker = markerOf(key);
  const login = await forge.self();
  // A marker in someone else's comment is not Build Master's (when who Build Master is is not known yet, any counts).
  const posted = (comments: { body?: string; user?: { login: string } | null }[]) =>
    comments.some((c) => (c.body ?? '').includes(marker) && (login === undefined || c.user?.login === login));
  const comments = await forge.api.paginate(forge.api.issues.listComments, { ...forge.repository, issue_number: number, per_page: 100 });
  if (posted(comments)) return false;
  try {
    const { data } = await forge.api.issues.createComment({
      ...forge.repository,
      issue_number: number,
      body: `${text}\n\n${marker}`,
      request: { retries: 0 },
    });
    forge.remember({ login: data.user?.login });
  } catch (error) {
    const again = await forge.api
      .paginate(forge.api.issues.listComments, { ...forge.repository, issue_number: number, per_page: 100 })
      .catch(() => []);
    if (!posted(again)) throw error;
  }
  return true;
}

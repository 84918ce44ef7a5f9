// Issues and comments Build Master writes, each carrying a hidden marker
// (core/trailers.ts) so it is written once: before creating, the open issues
// (or the issue's comments) are searched for the marker. That holds across
// restarts and across a dropped connection after GitHub already created the
// item. Anyone can paste a marker, so one counts only on an issue or comment
// Build Master wrote.
import { carriesMarker, markerOf } from '../core/trailers';
import type { GitHubRepository, IssueData } from './repository';

export interface NewIssue {
  title: string;
  body: string;
  labels: string[];
}

/** The open issue carrying `key`, created when there is none. Returns its number. */
export async function issueFor(github: GitHubRepository, key: string, make: () => NewIssue): Promise<number> {
  const known = github.created.get(key);
  if (known !== undefined) return known;
  const owns = await github.ownership();
  const found = markedIssue(github.openIssues ?? (await github.readOpenIssues()), key, owns);
  if (found) {
    github.created.set(key, found.number);
    return found.number;
  }
  const issue = make();
  try {
    const { data } = await github.api.issues.create({
      ...github.ref,
      title: issue.title,
      body: `${issue.body}\n\n${markerOf(key)}`,
      labels: issue.labels,
      request: { retries: 0 },
    });
    github.remember({ login: data.user?.login, issue: data.number });
    github.created.set(key, data.number);
    return data.number;
  } catch (error) {
    // The answer may be lost after GitHub created it: look again before failing (never create twice).
    const made = markedIssue(await github.readOpenIssues().catch(() => []), key, await github.ownership());
    if (!made) throw error;
    github.remember({ issue: made.number });
    github.created.set(key, made.number);
    return made.number;
  }
}

function markedIssue(issues: IssueData[], key: string, owns: (item: IssueData) => boolean): IssueData | undefined {
  return issues.find((issue) => !issue.pull_request && carriesMarker(issue.body ?? '', key) && owns(issue));
}

/** Posts `text` on an issue or pull request once: a comment with the same key is never posted twice. */
export async function comment(github: GitHubRepository, number: number, key: string, text: string): Promise<boolean> {
  const login = await github.self();
  // A marker in someone else's comment is not Build Master's (when who Build Master is is not known yet, any counts).
  const posted = (comments: { body?: string; user?: { login: string } | null }[]) =>
    comments.some((c) => carriesMarker(c.body ?? '', key) && (login === undefined || c.user?.login === login));
  const list = () => github.api.paginate(github.api.issues.listComments, { ...github.ref, issue_number: number, per_page: 100 });
  if (posted(await list())) return false;
  try {
    const { data } = await github.api.issues.createComment({
      ...github.ref,
      issue_number: number,
      body: `${text}\n\n${markerOf(key)}`,
      request: { retries: 0 },
    });
    github.remember({ login: data.user?.login });
  } catch (error) {
    const again = await list().catch(() => []);
    if (!posted(again)) throw error;
  }
  return true;
}

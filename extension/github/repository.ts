// One GitHub repository as Build Master's forge and its issue worker both use
// it: the API, who Build Master is there, and which issues it created (only
// those carry trusted markers). What it learns is kept through the store's
// GitHub memory; the controller saves it.
import type { GitHubMemory } from '../ports';
import { describeGitHubError, type GitHubClient } from './client';

export interface RepositoryRef {
  owner: string;
  repo: string;
}

export type IssueData = Awaited<ReturnType<GitHubClient['api']['issues']['listForRepo']>>['data'][number];

export class GitHubRepository {
  /** The open issues the last observe read (no second read for hygiene and the issue worker). */
  openIssues?: IssueData[];
  /** Issues created by this process, by key, so a second request in the same cycle finds them before the next read. */
  readonly created = new Map<string, number>();
  private login?: Promise<string | undefined>;

  constructor(
    readonly client: GitHubClient,
    readonly ref: RepositoryRef,
    private readonly memory: GitHubMemory,
    private readonly log: (message: string) => void,
  ) {}

  get api(): GitHubClient['api'] {
    return this.client.api;
  }

  /** The repository as `owner/name`. */
  get slug(): string {
    return `${this.ref.owner}/${this.ref.repo}`;
  }

  /**
   * Who Build Master is on GitHub: the token's user (`GET /user`, once per
   * process and conditional), else the author of something it created earlier.
   * Undefined when neither is known (an app token before its first write).
   */
  async self(): Promise<string | undefined> {
    this.login ??= this.api.users.getAuthenticated().then(
      ({ data }) => {
        this.remember({ login: data.login });
        return data.login;
      },
      (error: unknown) => {
        // App installation tokens cannot read /user (403): the login learned from its own writes stands in.
        if ((error as { status?: number }).status !== 403)
          this.log(describeGitHubError(error, 'reading who the token belongs to (GET /user)'));
        return this.memory.githubLogin();
      },
    );
    return (await this.login) ?? this.memory.githubLogin();
  }

  /** Records what Build Master created: its login, and the issue (whose markers are then trusted). */
  remember(created: { login?: string | undefined; issue?: number }): void {
    this.memory.rememberGitHub(created);
  }

  /** Whether Build Master created an issue (or comment): only then are its hidden markers Build Master's. */
  async ownership(): Promise<(item: { number?: number; user?: { login: string } | null }) => boolean> {
    const login = await this.self();
    const issues = new Set(this.memory.githubIssues());
    return (item) => (item.number !== undefined && issues.has(item.number)) || (login !== undefined && item.user?.login === login);
  }

  /** The open issues, read now. */
  async readOpenIssues(): Promise<IssueData[]> {
    return this.api.paginate(this.api.issues.listForRepo, { ...this.ref, state: 'open', per_page: 100 });
  }
}

// The GitHub forge (SPEC §8): pull requests are changes, check runs and commit
// statuses are checks, merges go through the merge endpoint guarded by the
// head sha, reverts and escalations are pull requests and issues. Reads are
// conditional (ETags) and files are cached per head sha, so a cycle over an
// unchanged repository costs almost nothing against the rate limit.
// Build Master never pushes to the target branch: every repair is a PR.
import { linkOf, mergeKey, short } from '../../core/gate';
import type { DecideResult } from '../../core/decide';
import { parseUnifiedDiff, type ChangeDiff } from '../../core/diff';
import type { BuildRecord, Change, CheckConclusion, CheckRun, ControllerState, Decision, Incident, Review, Snapshot, TargetCommit } from '../../core/model';
import type { Policy } from '../../core/policy/schema';
import { ForgeRefusal, InputError, type Clock, type Forge, type ForgeMergeResult, type TendOutcome } from '../../ports';
import { tendRepository } from './hygiene';
import type { Store } from '../../store/store';
import { describeGitHubError, type GitHubClient } from './client';
import { comment, issueFor } from './issues';

/** Target commits read per cycle, and how many of the newest get their checks read. */
const HISTORY = 30;
const CHECKED_HISTORY = 10;
/** Pull requests read at once. */
const CONCURRENCY = 8;

export interface RepositoryRef {
  owner: string;
  repo: string;
}

export interface GitHubForgeOptions {
  client: GitHubClient;
  repository: RepositoryRef;
  store: Store;
  clock: Clock;
  log: (message: string) => void;
}

type PullSimple = Awaited<ReturnType<GitHubClient['api']['pulls']['list']>>['data'][number];
export type IssueData = Awaited<ReturnType<GitHubClient['api']['issues']['listForRepo']>>['data'][number];

/** What the last observe read, for hygiene and the issue worker (no second read). */
export interface Observed {
  pulls: PullSimple[];
  issues: IssueData[];
  targetSha: string;
}

/** A change id for a pull request number: `#12`. */
export function pullId(number: number): string {
  return `#${number}`;
}

/** The pull request number of a change id (`#12` or `12`), or undefined. */
export function pullNumber(id: string): number | undefined {
  const match = /^#?(\d+)$/.exec(id.trim());
  return match ? Number(match[1]) : undefined;
}

export class GitHubForge implements Forge {
  readonly kind = 'github' as const;
  observed?: Observed;

  constructor(private readonly options: GitHubForgeOptions) {}

  get api() {
    return this.options.client.api;
  }

  get repository(): RepositoryRef {
    return this.options.repository;
  }

  private get repo(): RepositoryRef {
    return this.options.repository;
  }

  /** The repository as `owner/name`. */
  get slug(): string {
    return `${this.repo.owner}/${this.repo.repo}`;
  }

  async observe(policy: Policy, _state: ControllerState, builds: BuildRecord[]): Promise<Snapshot> {
    const { store, clock, log } = this.options;
    let pulls: PullSimple[];
    try {
      pulls = await this.api.paginate(this.api.pulls.list, { ...this.repo, state: 'open', per_page: 100 });
    } catch (error) {
      throw new Error(describeGitHubError(error, `reading the open pull requests of ${this.slug}`));
    }
    const heads = new Map(pulls.map((p) => [p.head.ref, p]));
    // Candidates: pull requests into the target, and stacks on top of them.
    const candidates = pulls.filter((p) => p.base.ref === policy.target || heads.has(p.base.ref));
    const now = clock.now();
    const changes = await mapLimit(candidates, CONCURRENCY, (pull) => this.readChange(policy, pull, heads, now));
    const { commits, targetSha } = await this.readTarget(policy);
    let issues: IssueData[] = [];
    try {
      issues = await this.api.paginate(this.api.issues.listForRepo, { ...this.repo, state: 'open', per_page: 100 });
    } catch (error) {
      log(describeGitHubError(error, 'reading open issues (hygiene and fix issues wait for the next cycle)'));
    }
    this.observed = { pulls, issues, targetSha };
    this.options.client.cache.save();
    await store.save();
    return {
      forge: 'github',
      target: policy.target,
      changes: changes.sort((a, b) => (pullNumber(a.id) ?? 0) - (pullNumber(b.id) ?? 0)),
      targetCommits: commits,
      builds,
      workers: ['github-issue'],
    };
  }

  private async readChange(policy: Policy, pull: PullSimple, heads: Map<string, PullSimple>, now: number): Promise<Change> {
    const { store, log } = this.options;
    const id = pullId(pull.number);
    store.data.seen[id] ??= now;
    store.data.authored[id] ??= Date.parse(pull.created_at);
    const parent = pull.base.ref !== policy.target ? heads.get(pull.base.ref) : undefined;
    const change: Change = {
      id,
      title: pull.title,
      branch: pull.head.ref,
      base: pull.base.ref,
      headSha: pull.head.sha,
      files: [],
      labels: pull.labels.map((l) => l.name ?? '').filter(Boolean),
      draft: pull.draft ?? false,
      reviews: [],
      checks: [],
      mergeable: 'unknown',
      readySince: store.data.seen[id] as number,
      body: pull.body ?? '',
      author: pull.user?.login ?? '',
      ...(parent ? { stackParent: pullId(parent.number) } : {}),
    };
    // Each part is read on its own: one failed read leaves the change unmergeable
    // this cycle (mergeability unknown) instead of failing the whole cycle.
    const problems: string[] = [];
    const attempt = async <T>(what: string, read: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await read();
      } catch (error) {
        problems.push(describeGitHubError(error, `${what} of ${id}`));
        return undefined;
      }
    };
    const [files, detail, reviews, checks] = await Promise.all([
      attempt('reading the files', () => this.filesOf(pull.number, pull.head.sha)),
      attempt('reading mergeability', () => this.api.pulls.get({ ...this.repo, pull_number: pull.number })),
      attempt('reading the reviews', () => this.api.paginate(this.api.pulls.listReviews, { ...this.repo, pull_number: pull.number, per_page: 100 })),
      attempt('reading the checks', () => this.checksOf(pull.head.sha)),
    ]);
    change.files = files ?? [];
    change.reviews = (reviews ?? []).flatMap((r): Review[] => {
      const state = REVIEW_STATES[r.state];
      return state && r.user ? [{ reviewer: r.user.login, state, submittedAt: Date.parse(r.submitted_at ?? pull.created_at) }] : [];
    });
    change.checks = checks ?? [];
    const mergeable = detail?.data.mergeable;
    change.mergeable = problems.length ? 'unknown' : mergeable === true ? 'mergeable' : mergeable === false || detail?.data.mergeable_state === 'dirty' ? 'conflicting' : 'unknown';
    if (problems.length) log(`${problems.join('; ')}; ${id} waits for the next cycle`);
    return change;
  }

  /** Files of a pull request, cached per head sha (a new push is a new sha). */
  private async filesOf(number: number, head: string): Promise<string[]> {
    const { store, clock } = this.options;
    const key = `gh-files:${number}:${head}`;
    const cached = store.data.facts[key]?.files;
    if (cached) return cached;
    const files = (await this.api.paginate(this.api.pulls.listFiles, { ...this.repo, pull_number: number, per_page: 100 })).map((f) => f.filename);
    store.data.facts[key] = { files, at: clock.now() };
    return files;
  }

  /** Check runs and commit statuses of a commit, one result per name (the newest run wins). */
  async checksOf(sha: string): Promise<CheckRun[]> {
    const [runs, combined] = await Promise.all([
      this.api.paginate(this.api.checks.listForRef, { ...this.repo, ref: sha, per_page: 100 }),
      this.api.repos.getCombinedStatusForRef({ ...this.repo, ref: sha, per_page: 100 }),
    ]);
    const byName = new Map<string, { run: CheckRun; order: number; failedBefore: boolean }>();
    const put = (run: CheckRun, order: number) => {
      const previous = byName.get(run.name);
      const failedBefore = (previous?.failedBefore ?? false) || (previous !== undefined && FAILED_CONCLUSIONS.has(previous.run.conclusion));
      if (!previous || order >= previous.order) byName.set(run.name, { run, order, failedBefore });
      else if (FAILED_CONCLUSIONS.has(run.conclusion)) previous.failedBefore = true;
    };
    for (const run of runs) {
      const conclusion = checkRunConclusion(run.status, run.conclusion);
      const output = [run.output?.title, run.output?.summary, run.output?.text].filter(Boolean).join('\n').slice(-2000);
      put({ name: run.name, conclusion, ...(output ? { output } : {}), ...(run.html_url ? { url: run.html_url } : {}) }, Date.parse(run.completed_at ?? run.started_at ?? '') || run.id);
    }
    for (const status of combined.data.statuses) {
      const conclusion: CheckConclusion = status.state === 'success' ? 'success' : status.state === 'pending' ? 'pending' : status.state === 'error' ? 'error' : 'failure';
      put({ name: status.context, conclusion, ...(status.description ? { output: status.description } : {}), ...(status.target_url ? { url: status.target_url } : {}) }, Date.parse(status.updated_at) || status.id);
    }
    // A check that failed and then passed on a re-run of the same sha is a flaky signal.
    return [...byName.values()].map(({ run, failedBefore }) => (failedBefore && run.conclusion === 'success' ? { ...run, passedOnRerun: true } : run));
  }

  private async readTarget(policy: Policy): Promise<{ commits: TargetCommit[]; targetSha: string }> {
    let listed: Awaited<ReturnType<typeof this.api.repos.listCommits>>['data'];
    try {
      listed = (await this.api.repos.listCommits({ ...this.repo, sha: policy.target, per_page: 100 })).data;
    } catch (error) {
      if ((error as { status?: number }).status === 404 || (error as { status?: number }).status === 422) {
        throw new InputError(`the target branch "${policy.target}" does not exist in ${this.slug}; create it or set \`target:\` in .buildmaster.yml`);
      }
      throw new Error(describeGitHubError(error, `reading ${policy.target} of ${this.slug}`));
    }
    // GitHub lists every reachable commit; the target's own history is its first-parent chain.
    const bySha = new Map(listed.map((c) => [c.sha, c]));
    const chain: typeof listed = [];
    let at = listed[0];
    while (at && chain.length < HISTORY) {
      chain.push(at);
      at = at.parents[0] ? bySha.get(at.parents[0].sha) : undefined;
    }
    const targetSha = chain[0]?.sha ?? '';
    const commits = await mapLimit(chain, CONCURRENCY, async (commit, index): Promise<TargetCommit> => {
      const message = commit.commit.message;
      const trailer = (name: string) => new RegExp(`^${name}: (.+)$`, 'm').exec(message)?.[1]?.trim();
      const number = trailer('Build-Master-Change') ?? /^Merge pull request #(\d+)/.exec(message)?.[1] ?? /\(#(\d+)\)\s*$/m.exec(message.split('\n')[0] ?? '')?.[1];
      const branch = trailer('Build-Master-Branch') ?? /^Merge pull request #\d+ from [^/\s]+\/(\S+)/.exec(message)?.[1];
      const lane = trailer('Build-Master-Lane');
      const checks = index < CHECKED_HISTORY ? await this.checksOf(commit.sha).catch((error: unknown) => {
        this.options.log(describeGitHubError(error, `reading the checks of ${policy.target} ${short(commit.sha)}`));
        return [{ name: 'github', conclusion: 'pending' as const, output: 'checks could not be read this cycle' }];
      }) : [{ name: 'history', conclusion: 'pending' as const, output: 'older than the commits Build Master reads checks for' }];
      const files = await this.commitFiles(commit.sha).catch(() => [] as string[]);
      return {
        sha: commit.sha,
        time: Date.parse(commit.commit.committer?.date ?? commit.commit.author?.date ?? '') || 0,
        checks,
        ...(number ? { change: { id: number.startsWith('#') ? number : pullId(Number(number)), files, title: message.split('\n')[0] ?? '', ...(branch ? { branch } : {}), ...(lane ? { lane } : {}), body: message } } : { change: { id: short(commit.sha), files, title: message.split('\n')[0] ?? '', body: message } }),
      };
    });
    return { commits: commits.reverse(), targetSha };
  }

  /** Files a target commit changed, cached forever (a commit never changes). */
  private async commitFiles(sha: string): Promise<string[]> {
    const { store, clock } = this.options;
    const key = `gh-commit:${sha}`;
    const cached = store.data.facts[key]?.files;
    if (cached) return cached;
    const { data } = await this.api.repos.getCommit({ ...this.repo, ref: sha });
    const files = (data.files ?? []).map((f) => f.filename);
    store.data.facts[key] = { files, at: clock.now() };
    return files;
  }

  async merge(change: Change, decision: Decision, policy: Policy): Promise<ForgeMergeResult> {
    const { store, clock, log } = this.options;
    const number = this.numberOf(change.id);
    const lane = decision.lane ?? '';
    const link = linkOf(change);
    const trailers = [
      // A fix linked by its body keeps the link on the target, where recovery is measured from.
      ...(link ? [`buildmaster:${link.kind} ${link.incident}`, ''] : []),
      `Build-Master-Change: ${change.id}`,
      `Build-Master-Branch: ${change.branch}`,
      `Build-Master-Lane: ${lane}`,
      `Build-Master-Key: ${decision.key ?? ''}`,
    ];
    try {
      const { data } = await this.api.pulls.merge({
        ...this.repo,
        pull_number: number,
        sha: change.headSha,
        merge_method: policy.merge.method,
        commit_title: `${change.title} (#${number})`,
        commit_message: trailers.join('\n'),
        // A dropped connection after GitHub merged must not send the merge again: the next cycle finds it by key.
        request: { retries: 0 },
      });
      store.data.merged[change.id] = { head: change.headSha, sha: data.sha, at: clock.now() };
      await store.save();
      log(`merged ${change.id} as ${short(data.sha)} (${policy.merge.method})`);
      return { sha: data.sha };
    } catch (error) {
      const status = (error as { status?: number }).status;
      const message = (error as { response?: { data?: { message?: string } } }).response?.data?.message ?? (error as Error).message;
      if (status === 409) throw new ForgeRefusal(`${change.id} moved after its checks ran (GitHub: ${message}); it is checked again next cycle`, 'head-moved');
      if (status === 405) throw new ForgeRefusal(`GitHub refused to merge ${change.id}: ${message}; it is checked again next cycle`, 'not-mergeable');
      // No answer (a dropped connection): GitHub may have merged it. Ask before calling it failed.
      const earlier = await this.findMerge(decision.key ?? mergeKey(change), policy).catch(() => undefined);
      if (earlier) {
        store.data.merged[change.id] = { head: change.headSha, sha: earlier.sha, at: clock.now() };
        await store.save();
        log(`merged ${change.id} as ${short(earlier.sha)}; the answer was lost and the pull request confirms it`);
        return earlier;
      }
      throw new Error(describeGitHubError(error, `merging ${change.id}`));
    }
  }

  async findMerge(key: string, _policy: Policy): Promise<ForgeMergeResult | undefined> {
    // Keys are `merge:<change>:<head sha>`: the pull request itself says whether that head merged.
    const match = /^merge:(.+):([0-9a-f]{40})$/.exec(key);
    const number = match ? pullNumber(match[1] as string) : undefined;
    if (!match || number === undefined) return undefined;
    const { data } = await this.api.pulls.get({ ...this.repo, pull_number: number });
    if (data.merged && data.merge_commit_sha && data.head.sha === match[2]) return { sha: data.merge_commit_sha };
    return undefined;
  }

  /**
   * A revert as a pull request, through the git data API: every file the
   * culprit changed goes back to its content before it. When a later commit
   * changed one of those files again, the revert is not mechanical and a
   * person must do it.
   */
  async openRevert(incident: Incident, culpritSha: string, policy: Policy): Promise<string> {
    const branch = `buildmaster/revert/${incident.id}`;
    const existing = await this.api.pulls.list({ ...this.repo, state: 'all', head: `${this.repo.owner}:${branch}`, per_page: 10 });
    if (existing.data[0]) return pullId(existing.data[0].number);
    const { data: culprit } = await this.api.repos.getCommit({ ...this.repo, ref: culpritSha });
    const parent = culprit.parents[0]?.sha;
    if (!parent) throw new ForgeRefusal(`${short(culpritSha)} has no parent to revert to; a person must revert it`, 'revert-conflict');
    const { data: target } = await this.api.repos.getCommit({ ...this.repo, ref: policy.target });
    const [before, after, now] = await Promise.all([parent, culpritSha, target.sha].map((sha) => this.treeOf(sha)));
    const entries: { path: string; mode: '100644' | '100755' | '040000' | '160000' | '120000'; type: 'blob'; sha: string | null }[] = [];
    for (const file of culprit.files ?? []) {
      const path = file.filename;
      if (now?.get(path)?.sha !== after?.get(path)?.sha) {
        throw new ForgeRefusal(`reverting ${short(culpritSha)} for ${incident.id} conflicts: ${path} changed again on ${policy.target} after it; a person must revert it`, 'revert-conflict');
      }
      const old = before?.get(path);
      entries.push({ path, mode: (old?.mode ?? '100644') as '100644', type: 'blob', sha: old ? old.sha : null });
    }
    const tree = await this.api.git.createTree({ ...this.repo, base_tree: target.commit.tree.sha, tree: entries });
    const message = `Revert ${short(culpritSha)} for ${incident.id}\n\nThe failing checks: ${incident.failingChecks.join(', ')}.\n\nbuildmaster:revert ${incident.id}`;
    const commit = await this.api.git.createCommit({ ...this.repo, message, tree: tree.data.sha, parents: [target.sha] });
    try {
      await this.api.git.createRef({ ...this.repo, ref: `refs/heads/${branch}`, sha: commit.data.sha });
    } catch (error) {
      // Created by an attempt whose answer was lost: the branch is ours, open the PR from it.
      if ((error as { status?: number }).status !== 422) throw error;
    }
    const body = [
      `Reverts ${short(culpritSha)} (${incident.suspects.find((s) => s.sha === culpritSha)?.change ?? 'the culprit merge'}) to repair ${incident.id}.`,
      '',
      `Failing checks on ${policy.target} at ${short(incident.redSha)}: ${incident.failingChecks.join(', ')}.`,
      '',
      `buildmaster:revert ${incident.id}`,
    ].join('\n');
    const pull = await this.api.pulls.create({ ...this.repo, head: branch, base: policy.target, title: `Revert ${short(culpritSha)} for ${incident.id}`, body, request: { retries: 0 } });
    return pullId(pull.data.number);
  }

  private async treeOf(sha: string): Promise<Map<string, { sha: string; mode: string }>> {
    const { data } = await this.api.git.getTree({ ...this.repo, tree_sha: sha, recursive: 'true' });
    return new Map(data.tree.filter((e) => e.type === 'blob' && e.path && e.sha).map((e) => [e.path as string, { sha: e.sha as string, mode: e.mode ?? '100644' }]));
  }

  async notify(kind: 'escalate' | 'page-owner', decision: Decision, incident: Incident | undefined, policy: Policy): Promise<void> {
    const subject = incident?.id ?? decision.change ?? decision.lane ?? 'controller';
    const marker = `escalate:${subject}`;
    const issue = await issueFor(this, marker, () => ({
      title: `Build Master escalation: ${subject}${incident ? ` (${incident.failureClass} in lane ${incident.lanes.join(', ') || 'unattributed'})` : ''}`,
      labels: ['build-master', 'escalation'],
      body: [
        `**Operation:** ${decision.kind === 'page-owner' ? 'lane paused past page_owner_after' : decision.kind}`,
        `**${incident ? 'Incident' : 'Change'}:** ${subject}${incident ? `, red at ${short(incident.redSha)}, failing ${incident.failingChecks.join(', ') || 'no named check'}` : ''}`,
        `**Reason:** ${decision.rationale}`,
        `**Action required:** repair the lane with a fix pull request (branch \`buildmaster/fix/${subject}\` or \`buildmaster:fix ${subject}\` in its body), revert the culprit, or run \`build-master release --ack\` / \`resume <lane>\` once resolved.`,
        incident ? `\nSuspects: ${incident.suspects.map((s) => `${s.change ?? short(s.sha)}${s.lane ? ` (lane ${s.lane})` : ''}`).join(', ') || 'none'}` : '',
      ].join('\n'),
    }));
    if (kind === 'page-owner') {
      const owners = policy.owners.length ? policy.owners.join(' ') : 'repository owners (no `owners` in the policy)';
      await comment(this, issue, `page:${subject}`, `${owners}: ${decision.rationale}`);
    }
  }

  async tend(input: { result: DecideResult; snapshot: Snapshot; policy: Policy; now: number }): Promise<TendOutcome[]> {
    return tendRepository(this, this.options.store, input);
  }

  async changeDiff(change: string, _policy: Policy): Promise<ChangeDiff> {
    const number = this.numberOf(change);
    const { data: pull } = await this.api.pulls.get({ ...this.repo, pull_number: number });
    const files = await this.api.paginate(this.api.pulls.listFiles, { ...this.repo, pull_number: number, per_page: 100 });
    const text = files
      .map((f) => {
        const from = f.status === 'added' ? '/dev/null' : `a/${f.previous_filename ?? f.filename}`;
        const to = f.status === 'removed' ? '/dev/null' : `b/${f.filename}`;
        return `diff --git a/${f.previous_filename ?? f.filename} b/${f.filename}\n${f.status === 'added' ? 'new file mode 100644\n' : f.status === 'removed' ? 'deleted file mode 100644\n' : ''}--- ${from}\n+++ ${to}\n${f.patch ?? ''}\n`;
      })
      .join('');
    return { change, base: pull.base.sha, head: pull.head.sha, ...parseUnifiedDiff(text) };
  }

  async changeChecks(change: string, _policy: Policy): Promise<CheckRun[]> {
    const { data: pull } = await this.api.pulls.get({ ...this.repo, pull_number: this.numberOf(change) });
    return this.checksOf(pull.head.sha);
  }

  async fileAt(sha: string, path: string): Promise<string> {
    try {
      const { data } = await this.api.repos.getContent({ ...this.repo, path, ref: sha });
      if (Array.isArray(data) || data.type !== 'file' || !('content' in data)) return '';
      return Buffer.from(data.content, 'base64').toString('utf8');
    } catch (error) {
      if ((error as { status?: number }).status === 404) return '';
      throw error;
    }
  }

  private numberOf(change: string): number {
    const number = pullNumber(change);
    if (number === undefined) throw new InputError(`"${change}" is not a pull request: GitHub changes are named by number, like #12`);
    return number;
  }
}

const REVIEW_STATES: Record<string, Review['state'] | undefined> = {
  APPROVED: 'approved',
  CHANGES_REQUESTED: 'changes_requested',
  COMMENTED: 'commented',
  DISMISSED: 'dismissed',
};

const FAILED_CONCLUSIONS: ReadonlySet<string> = new Set(['failure', 'error', 'cancelled', 'timed_out']);

function checkRunConclusion(status: string, conclusion: string | null): CheckConclusion {
  if (status !== 'completed' || !conclusion) return 'pending';
  switch (conclusion) {
    case 'success':
    case 'neutral':
    case 'skipped':
    case 'cancelled':
    case 'timed_out':
    case 'failure':
      return conclusion;
    case 'stale':
      return 'pending';
    default:
      // action_required and anything newer: not a pass.
      return 'failure';
  }
}

/** Runs `fn` over `items` with at most `limit` at once, keeping order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      out[index] = await fn(items[index] as T, index);
    }
  });
  await Promise.all(workers);
  return out;
}

// The GitHub forge (SPEC §8): pull requests are changes, check runs and commit
// statuses are checks, merges go through the merge endpoint guarded by the
// head sha, reverts and escalations are pull requests and issues. Reads are
// conditional (ETags) and files are cached per head sha, so a cycle over an
// unchanged repository costs almost nothing against the rate limit.
// Build Master never pushes to the target branch: every repair is a PR.
import { createHash } from 'node:crypto';
import { mergeKey } from '../../core/keys';
import { firstLine, short } from '../../core/text';
import { FAILED } from '../../core/marks';
import { own } from '../../core/records';
import { parseUnifiedDiff, type ChangeDiff } from '../../core/diff';
import { boundedFailure, failuresFromOutput } from '../../core/failures';
import type {
  BuildRecord,
  Change,
  CheckConclusion,
  CheckRun,
  ControllerState,
  Decision,
  Incident,
  MergeState,
  Review,
  TargetCommit,
  TestFailure,
} from '../../core/model';
import type { Policy } from '../../core/policy/schema';
import {
  ForgeRefusal,
  InputError,
  type Clock,
  type FactCache,
  type Forge,
  type ForgeMergeResult,
  type HygieneHands,
  type HygieneView,
  type NoticeKind,
  type Observation,
  type ObserveOptions,
} from '../../ports';
import { formatTrailers, inert, issueMarker, linkOf, parseTrailers, repairBranch, repairLine } from '../../core/trailers';
import { parseKey } from '../../core/keys';
import { describeGitHubError, type GitHubClient } from '../../github/client';
import {
  focusedPullsQuery,
  GraphQLReadError,
  loginOf,
  readGraphQL,
  readOpenPulls,
  summarise,
  TARGET_CHECKED,
  TARGET_QUERY,
  type ChainCommit,
  type CheckRunNode,
  type FocusedPullsData,
  type GraphQLRead,
  type HistoryNode,
  type PullNode,
  type RollupData,
  type StatusContextNode,
  type PullState,
  readOpenPullStates,
  type TargetData,
} from '../../github/graphql';
import { comment, issueFor } from '../../github/issues';
import type { GitHubRepository, IssueData } from '../../github/repository';

/** Target commits read per cycle, and how many of the newest get their checks read. */
const HISTORY = 30;
const CHECKED_HISTORY = TARGET_CHECKED;
/** The open issues are read whole this often; between, only what changed since the last whole read. */
const ISSUES_FULL_READ_MS = 3600_000;
/**
 * A read this long (by this machine's clock) after the newest update it saw is in a later second of GitHub's
 * clock, with a clock up to a second off. A miss costs little: Build Master finds its own issues by what it
 * remembers creating, and every process and every hour starts with a whole read.
 */
const ISSUES_SETTLED_MS = 2000;
/** Pull requests read at once. */
const CONCURRENCY = 8;
/** GitHub lists at most this many files of a pull request; a longer change is read another way. */
const FILES_CAP = 3000;

export interface GitHubForgeOptions {
  github: GitHubRepository;
  /** Files per head, commit files and origins: immutable facts kept between cycles. */
  cache: FactCache;
  clock: Clock;
  log: (message: string) => void;
}

/** What the last observe read, for hygiene (no second read). */
export interface Observed {
  pulls: PullNode[];
  issues: IssueData[];
  targetSha: string;
}

/** The last full read in this process: a focused observe re-reads what a webhook named and carries the rest over. */
interface LastRead {
  pulls: Map<number, PullNode>;
  commits: TargetCommit[];
  targetSha: string;
  issues: IssueData[];
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
  private last?: LastRead;

  constructor(private readonly options: GitHubForgeOptions) {}

  get api(): GitHubClient['api'] {
    return this.options.github.api;
  }

  private get github(): GitHubRepository {
    return this.options.github;
  }

  private get repo(): GitHubRepository['ref'] {
    return this.options.github.ref;
  }

  /** The repository as `owner/name`. */
  get slug(): string {
    return this.github.slug;
  }

  /**
   * Reads every open pull request through one paginated GraphQL query (100 a
   * page: head, base, fork, draft, labels, mergeability, reviews, the head's
   * check rollup), the target's history with its checks in one more, and the
   * issues through one ETag'd REST read (what changed since the last whole
   * read; see `readIssues`). REST is read per change only for what
   * GraphQL does not give and never changes for a head: its files (cached per
   * head sha) and, once its checks settle, every run of its checks (cached per
   * rollup signature; see `checksOfRollup`). An idle cycle sends no per-change request.
   * With `options.focus` (a webhook said what changed) only the named pull
   * requests are read again, the rest carried over from the last full read.
   */
  async observe(
    policy: Policy,
    _state: ControllerState | undefined,
    builds: BuildRecord[],
    options: ObserveOptions = {},
  ): Promise<Observation> {
    const { clock, log } = this.options;
    const focus = this.last ? options.focus : undefined;
    const unreadable = new Set<number>();
    let pulls: Map<number, PullNode>;
    // The target moved: GitHub recomputes every pull request's mergeability and merge state, and sends no delivery
    // for it. One slim read of every open pull request's state patches them, and names what a lost delivery hid.
    // Only when it moved: a delivery about the target's checks leaves every pull request's mergeability as it was.
    const targetFirst = focus?.target && this.last ? await this.readTarget(policy) : undefined;
    const moved = targetFirst !== undefined && targetFirst.targetSha !== this.last?.targetSha;
    const carried = moved && this.last ? await this.refreshStates(focus?.changes ?? [], this.last.pulls) : undefined;
    if (focus && this.last && (!moved || carried))
      pulls = await this.readFocused(carried?.reread ?? focus.changes, carried?.pulls ?? this.last.pulls, unreadable);
    else {
      try {
        const read = await readOpenPulls(this.api, this.repo);
        pulls = new Map(read.pulls.map((p) => [p.number, p]));
        for (const number of read.unreadable) unreadable.add(number);
        // A pull request GitHub could not give at all cannot be told from a closed one: the last read of each
        // missing one stays, unmergeable this cycle (it drops out on the next whole answer if it closed).
        if (read.lost > 0)
          for (const [number, pull] of this.last?.pulls ?? [])
            if (!pulls.has(number)) {
              pulls.set(number, pull);
              unreadable.add(number);
            }
        if (read.errors.length) log(`reading the open pull requests of ${this.slug} (GraphQL openPulls): ${summarise(read.errors)}`);
      } catch (error) {
        throw new Error(describeRead(error, `reading the open pull requests of ${this.slug}`), { cause: error });
      }
    }
    const open = [...pulls.values()];
    // Stack parents are pull requests of this repository only: a fork's branch is no branch here, whatever its name,
    // so a fork's head never keys this map (a fork's stack key would be its repository and branch, which no base names).
    const heads = new Map(open.filter((p) => !p.isCrossRepository).map((p) => [p.headRefName, p]));
    // Candidates: pull requests into the target, and stacks on top of them.
    const candidates = open.filter((p) => p.baseRefName === policy.target || heads.has(p.baseRefName));
    const now = clock.now();
    const seen = options.seen ?? {};
    const changes = await mapLimit(candidates, CONCURRENCY, (pull) =>
      this.readChange(policy, pull, heads, own(seen, pullId(pull.number)) ?? now, unreadable.has(pull.number)),
    );
    const { commits, targetSha } =
      targetFirst ?? (focus && this.last ? { commits: this.last.commits, targetSha: this.last.targetSha } : await this.readTarget(policy));
    let issues: IssueData[] = this.last?.issues ?? [];
    if (!focus || focus.issues || !this.last) {
      try {
        issues = await this.readIssues(now);
      } catch (error) {
        log(describeGitHubError(error, 'reading open issues (hygiene and fix issues wait for the next cycle)'));
      }
    }
    this.last = { pulls, commits, targetSha, issues };
    this.observed = { pulls: open, issues, targetSha };
    this.github.openIssues = issues;
    // A read-only look (explain) saves nothing: it may run beside a sync that holds the lock.
    if (!options.readOnly) this.github.client.cache.save();
    return {
      forge: 'github',
      target: policy.target,
      changes: changes.sort((a, b) => (pullNumber(a.id) ?? 0) - (pullNumber(b.id) ?? 0)),
      targetCommits: commits,
      builds,
      workers: ['github-issue'],
      authored: Object.fromEntries(candidates.map((pull) => [pullId(pull.number), Date.parse(pull.createdAt)])),
      // GitHub itself records a pull request as merged: nothing is found merged without a record.
      foundMerged: [],
    };
  }

  /**
   * The open issues (GitHub's issue list holds the pull requests too: 500 open
   * pull requests are six pages). After one full read, a cycle reads only what
   * changed since it (`since`, a fixed time, so an unchanged answer is a 304)
   * and folds it in: closed ones leave, new and edited ones replace theirs. A
   * full read again when the changes fill a page, or hourly (a deleted or
   * transferred issue shows in no `since` list).
   */
  private async readIssues(now: number): Promise<IssueData[]> {
    const known = this.issueRead;
    if (known && now - known.at < ISSUES_FULL_READ_MS) {
      let count = 0;
      const changed = await this.api.paginate(
        this.api.issues.listForRepo,
        { ...this.repo, state: 'all', since: known.since, per_page: 100 },
        (response, done) => {
          count += response.data.length;
          if (count >= 100) done();
          return response.data;
        },
      );
      if (changed.length < 100) {
        const issues = new Map(known.issues);
        for (const issue of changed) {
          if (issue.state === 'open') issues.set(issue.number, issue);
          else issues.delete(issue.number);
        }
        return [...issues.values()].sort((a, b) => b.number - a.number);
      }
    }
    const issues = await this.api.paginate(this.api.issues.listForRepo, { ...this.repo, state: 'open', per_page: 100 });
    // `since` counts GitHub's own times: from the newest update this read saw. That one second is read again
    // (an update later in it would be missed otherwise) unless the read came well after it, by this machine's clock.
    const newest = Math.max(0, ...issues.map((i) => Date.parse(i.updated_at) || 0));
    const from = newest === 0 ? now - ISSUES_SETTLED_MS : now - newest >= ISSUES_SETTLED_MS ? newest + 1000 : newest;
    this.issueRead = {
      issues: new Map(issues.map((i) => [i.number, i])),
      since: new Date(from).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      at: now,
    };
    return issues;
  }

  /** The last full read of the open issues in this process, and the time later reads ask for changes since. */
  private issueRead?: { issues: Map<number, IssueData>; since: string; at: number };

  /**
   * After the target moved: the carried-over pull requests with GitHub's new
   * mergeability and merge state, and those to read again (named by the
   * delivery, new, or changed since their last read: a delivery that never
   * came). Closed ones drop out. Undefined when the states could not be read
   * whole: the caller reads everything.
   */
  private async refreshStates(
    changes: readonly string[],
    last: ReadonlyMap<number, PullNode>,
  ): Promise<{ pulls: Map<number, PullNode>; reread: string[] } | undefined> {
    let states: PullState[] | undefined;
    try {
      states = await readOpenPullStates(this.api, this.repo);
    } catch (error) {
      this.options.log(
        describeRead(error, `reading the merge states of ${this.slug} (GraphQL openPullStates); everything is read instead`),
      );
      return undefined;
    }
    if (!states) return undefined;
    const pulls = new Map<number, PullNode>();
    const reread = new Set(changes);
    for (const state of states) {
      const known = last.get(state.number);
      if (!known || known.headRefOid !== state.headRefOid || known.baseRefName !== state.baseRefName || known.updatedAt !== state.updatedAt)
        reread.add(pullId(state.number));
      if (known)
        pulls.set(state.number, { ...known, isDraft: state.isDraft, mergeable: state.mergeable, mergeStateStatus: state.mergeStateStatus });
    }
    return { pulls, reread: [...reread] };
  }

  /**
   * The pull requests a webhook named, read again in one query (an alias each);
   * the others are the last full read's. A closed, merged or deleted one drops
   * out; one GitHub could not answer keeps its last read, unmergeable this cycle.
   */
  private async readFocused(
    changes: readonly string[],
    last: ReadonlyMap<number, PullNode>,
    unreadable: Set<number>,
  ): Promise<Map<number, PullNode>> {
    const pulls = new Map(last);
    const numbers = [...new Set(changes.map(pullNumber).filter((n): n is number => n !== undefined))];
    if (numbers.length === 0) return pulls;
    let read: GraphQLRead<FocusedPullsData>;
    try {
      read = await readGraphQL<FocusedPullsData>(this.api, 'focusedPulls', focusedPullsQuery(numbers), {
        owner: this.repo.owner,
        name: this.repo.repo,
      });
    } catch (error) {
      throw new Error(describeRead(error, `reading ${numbers.map(pullId).join(', ')} of ${this.slug} (GraphQL focusedPulls)`), {
        cause: error,
      });
    }
    for (const number of numbers) {
      const alias = `p${number}`;
      const node = read.data.repository?.[alias] ?? null;
      const problems = read.errors.filter((e) => e.path[1] === alias);
      const missing = problems.some((e) => e.type === 'NOT_FOUND');
      if (node && problems.length === 0) {
        if (node.state === 'OPEN') pulls.set(number, node);
        else pulls.delete(number);
      } else if (missing || (!node && problems.length === 0)) pulls.delete(number);
      else {
        if (node?.state === 'OPEN') pulls.set(number, node);
        unreadable.add(number);
        this.options.log(`reading ${pullId(number)} (GraphQL focusedPulls): ${summarise(problems)}; it waits for the next cycle`);
      }
    }
    return pulls;
  }

  private async readChange(
    policy: Policy,
    pull: PullNode,
    heads: Map<string, PullNode>,
    readySince: number,
    unreadable: boolean,
  ): Promise<Change> {
    const { cache, clock, log } = this.options;
    const id = pullId(pull.number);
    const parent = pull.baseRefName !== policy.target ? heads.get(pull.baseRefName) : undefined;
    const headRepo = pull.isCrossRepository ? (pull.headRepository?.nameWithOwner ?? 'a deleted fork') : undefined;
    const change: Change = {
      id,
      title: pull.title,
      branch: pull.headRefName,
      base: pull.baseRefName,
      headSha: pull.headRefOid,
      files: [],
      labels: (pull.labels?.nodes ?? []).flatMap((l) => (l?.name ? [l.name] : [])),
      draft: pull.isDraft,
      reviews: [],
      checks: [],
      mergeable: 'unknown',
      ...(headRepo ? { headRepo } : {}),
      readySince,
      body: pull.body,
      author: loginOf(pull.author),
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
    const head = pull.commits.nodes?.[0]?.commit;
    const [listed, checks] = await Promise.all([
      attempt('reading the files', () => this.filesOf(pull.number, pull.headRefOid)),
      attempt('reading the checks', () =>
        head && head.oid === pull.headRefOid
          ? this.checksOfRollup(pull.headRefOid, head.statusCheckRollup)
          : this.checksOf(pull.headRefOid),
      ),
    ]);
    let files = listed?.files;
    if (listed && !listed.complete) {
      // GitHub lists at most 3000 files: a longer list must not make the change look smaller (and safer) than it is.
      const total = pull.changedFiles;
      if (listed.count < total || listed.count >= FILES_CAP) {
        files = await attempt(`reading every file (GitHub listed ${listed.count} of ${total})`, () =>
          this.everyFile(pull.baseRefOid, pull.headRefOid, listed.files),
        );
        if (!files)
          problems.push(
            `${id} changes more files than GitHub lists; Build Master cannot see every path, so it cannot tell its risk tier or lanes and does not merge it: a person must`,
          );
      }
      if (files) cache.setFact(`gh-files-v2:${pull.number}:${pull.headRefOid}`, { files, at: clock.now() });
    }
    change.files = files ?? [];
    change.reviews = (pull.latestOpinionatedReviews?.nodes ?? []).flatMap((r): Review[] => {
      const state = r ? REVIEW_STATES[r.state] : undefined;
      return state && r?.author ? [{ reviewer: loginOf(r.author), state, submittedAt: Date.parse(r.submittedAt ?? pull.createdAt) }] : [];
    });
    change.checks = checks ?? [];
    if (unreadable) problems.push(`GitHub could not answer part of ${id}`);
    change.mergeable = problems.length
      ? 'unknown'
      : pull.mergeable === 'MERGEABLE'
        ? 'mergeable'
        : pull.mergeable === 'CONFLICTING' || pull.mergeStateStatus === 'DIRTY'
          ? 'conflicting'
          : 'unknown';
    // What GitHub says of merging it now, when the read was whole (an unreadable one is only unknown).
    if (!problems.length) change.mergeState = mergeStateOf(pull.mergeStateStatus);
    if (problems.length) log(`${problems.join('; ')}; ${id} waits for the next cycle`);
    return change;
  }

  /**
   * A commit's checks from its GraphQL status check rollup. The rollup holds
   * only the newest run of each name, so a check that failed and then passed on
   * a re-run of the same sha (the flaky signal) cannot be seen in it. Once the
   * rollup is settled (every check run completed, no status pending) and a
   * check run passed, every run is read once through REST
   * (`check-runs?filter=all`, with the failed runs' annotations; the statuses
   * are the rollup's) and the result is kept as a fact keyed by the
   * sha and the rollup's signature: an idle cycle, or a target move that leaves
   * a head alone, sends no check request; a re-run changes the signature and
   * reads again. A rollup still running is taken as it is (pending checks do
   * not decide a merge), failed runs read down to their failures.
   */
  private async checksOfRollup(sha: string, rollup: RollupData | null): Promise<CheckRun[]> {
    if (!rollup) return [];
    const nodes = (rollup.contexts.nodes ?? []).filter((n): n is CheckRunNode | StatusContextNode => n !== null);
    // More checks than one page of the rollup: REST lists them all.
    if (rollup.contexts.totalCount > nodes.length) return this.checksOf(sha);
    const settled = nodes.every((n) =>
      n.__typename === 'CheckRun' ? n.status === 'COMPLETED' : n.state !== 'PENDING' && n.state !== 'EXPECTED',
    );
    // Only a check run that passes can have failed before it (a flaky signal): without one, or before the checks
    // settle, the rollup says all there is. Statuses come from the rollup either way: GitHub's combined status keeps
    // the newest per context, so REST could add nothing to it.
    const passed = nodes.some((n) => n.__typename === 'CheckRun' && n.conclusion === 'SUCCESS');
    if (settled) {
      const signature = nodes
        .map((n) =>
          n.__typename === 'CheckRun'
            ? `run\0${n.name}\0${n.databaseId ?? ''}\0${n.conclusion ?? ''}\0${n.completedAt ?? ''}`
            : `status\0${n.context}\0${n.state}\0${n.createdAt}`,
        )
        .sort()
        .join('\n');
      const key = `gh-checks:${sha}:${createHash('sha1').update(signature).digest('hex')}`;
      const known = this.options.cache.checkResult(key);
      if (known) return known;
      const runs = passed
        ? [
            ...(await this.checksOf(sha, { statuses: false })),
            ...nodes.filter((n): n is StatusContextNode => n.__typename === 'StatusContext').map(statusCheck),
          ]
        : await this.rollupChecks(nodes);
      this.options.cache.setCheckResult(key, runs, this.options.clock.now());
      return runs;
    }
    return this.rollupChecks(nodes);
  }

  /** The checks as the rollup has them (the newest run of each name); failed runs read down to their failing tests. */
  private async rollupChecks(nodes: readonly (CheckRunNode | StatusContextNode)[]): Promise<CheckRun[]> {
    const runs: CheckRun[] = [];
    const failed: { run: CheckRun; source: CheckRunSource }[] = [];
    for (const node of nodes) {
      if (node.__typename === 'CheckRun') {
        const status = node.status.toLowerCase();
        const conclusion = checkRunConclusion(status, node.conclusion?.toLowerCase() ?? null);
        const output = [node.title, node.summary, node.text].filter(Boolean).join('\n').slice(-2000);
        const waiting = conclusion === 'pending' ? notStarted(status) : undefined;
        const url = node.url ?? node.detailsUrl;
        const run: CheckRun = {
          name: node.name,
          conclusion,
          ...(output ? { output } : {}),
          ...(url ? { url } : {}),
          ...(waiting ? { waiting } : {}),
        };
        runs.push(run);
        if (FAILED.has(conclusion) && node.databaseId !== null)
          failed.push({
            run,
            // GraphQL does not count a run's annotations: they are read to find out.
            source: {
              id: node.databaseId,
              text: [node.summary, node.text].filter(Boolean).join('\n'),
              completedAt: node.completedAt ?? '',
            },
          });
      } else runs.push(statusCheck(node));
    }
    await mapLimit(failed.slice(0, ANNOTATED_RUNS), 4, async ({ run, source }) => {
      Object.assign(run, await this.failuresOf(source));
    });
    for (const { run } of failed.slice(ANNOTATED_RUNS))
      Object.assign(run, {
        failuresComplete: false,
        failuresNote: `not read: more than ${ANNOTATED_RUNS} checks failed on this commit; the check is attributed as a whole`,
      });
    return runs;
  }

  /**
   * Files of a pull request, both paths of a rename (the old path matters to
   * tiers and lanes as much as the new one). Cached per head sha once known
   * complete (a new push is a new sha).
   */
  private async filesOf(number: number, head: string): Promise<{ files: string[]; count: number; complete: boolean }> {
    const cached = this.options.cache.fact(`gh-files-v2:${number}:${head}`)?.files;
    if (cached) return { files: cached, count: cached.length, complete: true };
    const listed = await this.listFiles(number);
    this.listedHere.add(`${number}:${head}`);
    return { files: listed.files, count: listed.count, complete: false };
  }

  /** Files of a pull request as GitHub lists them now (both paths of a rename). */
  private async listFiles(number: number): Promise<{ files: string[]; count: number }> {
    const listed = await this.api.paginate(this.api.pulls.listFiles, { ...this.repo, pull_number: number, per_page: 100 });
    return {
      files: [
        ...new Set(
          listed.flatMap((f) =>
            f.previous_filename && f.previous_filename !== f.filename ? [f.previous_filename, f.filename] : [f.filename],
          ),
        ),
      ],
      count: listed.length,
    };
  }

  /** Pull requests (`number:head`) whose files this process listed from GitHub itself, not taken from the store. */
  private readonly listedHere = new Set<string>();

  /**
   * The store's file lists decide tiers, and the store can be written by others (the state
   * branch, .git/buildmaster): before a merge, a list this process did not read from GitHub is
   * checked against GitHub's. A file it left out could be a tier-3 file that needs a person.
   */
  private async confirmFiles(change: Change, number: number): Promise<void> {
    const key = `${number}:${change.headSha}`;
    if (this.listedHere.has(key)) return;
    const live = await this.listFiles(number);
    const missing = live.files.filter((file) => !change.files.includes(file));
    if (missing.length === 0) {
      this.listedHere.add(key);
      return;
    }
    const { cache, clock, log } = this.options;
    // GitHub's list stops at 3000 files: only a whole list replaces the record (a cut one would hide files too).
    if (live.count < FILES_CAP) cache.setFact(`gh-files-v2:${key}`, { files: live.files, at: clock.now() });
    const shown = missing.slice(0, 5).map((file) => inert(file));
    log(`the recorded files of ${change.id} leave out ${shown.join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`);
    throw new ForgeRefusal(
      `${change.id} was judged on a recorded file list that leaves out ${shown.join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''} (GitHub lists them); not merged, it is judged again next cycle on GitHub's list`,
      'files-differ',
    );
  }

  /**
   * Every path a pull request may touch when GitHub's list is cut short: the
   * paths whose content differs between the base branch and the head (a
   * superset of the change's own files, never less), plus those listed.
   */
  private async everyFile(baseSha: string, headSha: string, listed: string[]): Promise<string[]> {
    const [base, head] = await Promise.all([this.listTree(baseSha), this.listTree(headSha)]);
    if (base.truncated || head.truncated) throw new Error('the repository tree is too large for GitHub to list whole');
    const paths = new Set(listed);
    for (const [path, entry] of head.entries) {
      const before = base.entries.get(path);
      if (!before || before.sha !== entry.sha || before.mode !== entry.mode) paths.add(path);
    }
    for (const path of base.entries.keys()) if (!head.entries.has(path)) paths.add(path);
    return [...paths];
  }

  private async listTree(sha: string): Promise<{ entries: Map<string, { sha: string; mode: string }>; truncated: boolean }> {
    const { data } = await this.api.git.getTree({ ...this.repo, tree_sha: sha, recursive: 'true' });
    const entries = new Map(
      data.tree.filter((e) => e.type !== 'tree' && e.path && e.sha).map((e) => [e.path, { sha: e.sha, mode: e.mode }]),
    );
    return { entries, truncated: data.truncated };
  }

  /**
   * Check runs and commit statuses of a commit, one result per name (the newest
   * run wins). Every run is listed (`filter: 'all'`), not only the latest of
   * each name: a check that failed and then passed on a re-run of the same sha
   * is a flaky signal. A failed check run is read down to its failing tests.
   */
  async checksOf(sha: string, read: { statuses: boolean } = { statuses: true }): Promise<CheckRun[]> {
    const [runs, combined] = await Promise.all([
      this.api.paginate(this.api.checks.listForRef, { ...this.repo, ref: sha, filter: 'all', per_page: 100 }),
      read.statuses ? this.api.repos.getCombinedStatusForRef({ ...this.repo, ref: sha, per_page: 100 }) : { data: { statuses: [] } },
    ]);
    const byName = new Map<string, { run: CheckRun; order: number; failedBefore: boolean; source?: CheckRunSource }>();
    const put = (run: CheckRun, order: number, source?: CheckRunSource) => {
      const previous = byName.get(run.name);
      const failedBefore = (previous?.failedBefore ?? false) || (previous !== undefined && FAILED.has(previous.run.conclusion));
      if (!previous || order >= previous.order) byName.set(run.name, { run, order, failedBefore, ...(source ? { source } : {}) });
      else if (FAILED.has(run.conclusion)) previous.failedBefore = true;
    };
    for (const run of runs) {
      const conclusion = checkRunConclusion(run.status, run.conclusion);
      const output = [run.output.title, run.output.summary, run.output.text].filter(Boolean).join('\n').slice(-2000);
      const source: CheckRunSource = {
        id: run.id,
        annotations: run.output.annotations_count,
        text: [run.output.summary, run.output.text].filter(Boolean).join('\n'),
        completedAt: run.completed_at ?? '',
      };
      const waiting = conclusion === 'pending' ? notStarted(run.status) : undefined;
      put(
        {
          name: run.name,
          conclusion,
          ...(output ? { output } : {}),
          ...(run.html_url ? { url: run.html_url } : {}),
          ...(waiting ? { waiting } : {}),
        },
        Date.parse(run.completed_at ?? run.started_at ?? '') || run.id,
        source,
      );
    }
    for (const status of combined.data.statuses) {
      const conclusion = statusConclusion(status.state);
      put(
        {
          name: status.context,
          conclusion,
          // A pending commit status does not say whether anything runs: say what it reports.
          ...(conclusion === 'pending'
            ? { waiting: `reports pending${status.description ? ` (${inert(status.description).slice(0, 120)})` : ''}` }
            : {}),
          ...(status.description ? { output: status.description } : {}),
          ...(status.target_url ? { url: status.target_url } : {}),
        },
        Date.parse(status.updated_at) || status.id,
      );
    }
    // A check that failed and then passed on a re-run of the same sha is a flaky signal; when the
    // re-run failed too, its failures (the newest run's) are the real ones.
    const results = [...byName.values()].map((entry) =>
      entry.failedBefore && entry.run.conclusion === 'success' ? { ...entry, run: { ...entry.run, passedOnRerun: true } } : entry,
    );
    // Only failed check runs cost a read of their annotations, and only so many per commit.
    const failed = results.filter((entry) => entry.source && FAILED.has(entry.run.conclusion));
    // Few at once: checksOf itself runs for several pull requests at a time.
    await mapLimit(failed.slice(0, ANNOTATED_RUNS), 4, async (entry) => {
      Object.assign(entry.run, await this.failuresOf(entry.source as CheckRunSource));
    });
    for (const entry of failed.slice(ANNOTATED_RUNS)) {
      Object.assign(entry.run, {
        failuresComplete: false,
        failuresNote: `not read: more than ${ANNOTATED_RUNS} checks failed on this commit; the check is attributed as a whole`,
      });
    }
    return results.map((entry) => entry.run);
  }

  /** Failures of completed check runs, by run: annotations do not change once a run is done, so a process reads them once. */
  private readonly runFailures = new Map<string, Pick<CheckRun, 'failures' | 'failuresComplete' | 'failuresNote'>>();

  /**
   * A failed check run's failing tests: its `failure` annotations (its
   * `warning` ones when it has no failure), else its output text read by the
   * runners' parsers. Incomplete when GitHub holds more annotations than read.
   */
  private async failuresOf(source: CheckRunSource): Promise<Pick<CheckRun, 'failures' | 'failuresComplete' | 'failuresNote'>> {
    const key = `${source.id}:${source.annotations ?? '?'}:${source.completedAt}`;
    const known = this.runFailures.get(key);
    if (known) return known;
    let annotations: Annotation[] = [];
    let readError: string | undefined;
    if (source.annotations === undefined || source.annotations > 0) {
      try {
        let count = 0;
        annotations = await this.api.paginate(
          this.api.checks.listAnnotations,
          { ...this.repo, check_run_id: source.id, per_page: 100 },
          (response, done) => {
            count += response.data.length;
            if (count >= MAX_ANNOTATIONS) done();
            return response.data;
          },
        );
      } catch (error) {
        readError = describeGitHubError(error, `reading the annotations of check run ${source.id}`);
      }
    }
    const read = annotations.slice(0, MAX_ANNOTATIONS);
    let result = failuresFromAnnotations(read, source.annotations ?? annotations.length);
    if (!result) {
      const parsed = failuresFromOutput(inWorkspace(source.text, this.repo.repo));
      const why = readError ?? (annotations.length > 0 ? 'its annotations name no failure' : 'it has no annotations');
      const how = `read from the check run's output text (${why})${parsed.parser ? ` by the ${parsed.parser} parser` : ''}`;
      result = parsed.failures.length
        ? { failures: parsed.failures, failuresComplete: parsed.complete, failuresNote: parsed.note ? `${how}: ${parsed.note}` : how }
        : {
            failuresComplete: false,
            failuresNote: `${how}: ${parsed.note ?? 'no failing test was found in it; the check is attributed as a whole'}`,
          };
    }
    // A read that failed is tried again next time; what was read stays read.
    if (!readError) {
      if (this.runFailures.size >= RUN_FAILURES_KEPT) this.runFailures.delete(this.runFailures.keys().next().value as string);
      this.runFailures.set(key, result);
    }
    return result;
  }

  /**
   * The target's first-parent chain (its newest `HISTORY` commits) with the
   * checks of the newest `TARGET_CHECKED`, in one GraphQL request; the commits'
   * files and origins are REST reads cached forever (a commit never changes).
   */
  private async readTarget(policy: Policy): Promise<{ commits: TargetCommit[]; targetSha: string }> {
    let read: GraphQLRead<TargetData>;
    try {
      read = await readGraphQL<TargetData>(this.api, 'targetHistory', TARGET_QUERY, {
        owner: this.repo.owner,
        name: this.repo.repo,
        ref: `refs/heads/${policy.target}`,
      });
    } catch (error) {
      throw new Error(describeRead(error, `reading ${policy.target} of ${this.slug}`), { cause: error });
    }
    const repository = read.data.repository;
    const target = repository?.ref?.target;
    if (repository && repository.ref === null)
      throw new InputError(
        `the target branch "${policy.target}" does not exist in ${this.slug}; create it or set \`target:\` in .buildmaster.yml`,
      );
    if (!target || !('history' in target))
      throw new Error(
        `reading ${policy.target} of ${this.slug} (GraphQL targetHistory): GitHub gave no commit history${read.errors.length ? ` (${summarise(read.errors)})` : ''}`,
      );
    // A rollup GitHub could not answer is not taken as "no checks": those commits' checks are read through REST.
    const unsure = read.errors.length > 0;
    if (unsure) this.options.log(`reading ${policy.target} of ${this.slug} (GraphQL targetHistory): ${summarise(read.errors)}`);
    const rollups = new Map<string, RollupData | null>();
    for (let at: ChainCommit | null | undefined = target; at; at = at.parents?.nodes?.[0]) rollups.set(at.oid, at.statusCheckRollup);
    // GitHub lists every reachable commit; the target's own history is its first-parent chain.
    const listed = (target.history.nodes ?? []).filter((c): c is HistoryNode => c !== null);
    const bySha = new Map(listed.map((c) => [c.oid, c]));
    const chain: HistoryNode[] = [];
    let at = listed[0];
    while (at && chain.length < HISTORY) {
      chain.push(at);
      const parent = at.parents.nodes?.[0]?.oid;
      at = parent ? bySha.get(parent) : undefined;
    }
    const targetSha = chain[0]?.oid ?? '';
    const mine = new Map(Object.entries(this.options.cache.recordedMerges()).map(([change, m]) => [m.sha, change]));
    const self = await this.github.self();
    // A commit no pull request accounts for (pushed to the target directly) carries no
    // body: a `buildmaster:fix` line typed into it must not count as a repair merge.
    const commits = await mapLimit(chain, CONCURRENCY, async (commit, index): Promise<TargetCommit> => {
      const message = commit.message;
      const { id: number, branch, lane } = await this.originOf(commit.oid, message, mine, self);
      const checks =
        index < CHECKED_HISTORY
          ? await (
              rollups.has(commit.oid) && !unsure
                ? this.checksOfRollup(commit.oid, rollups.get(commit.oid) ?? null)
                : this.checksOf(commit.oid)
            ).catch((error: unknown) => {
              this.options.log(describeGitHubError(error, `reading the checks of ${policy.target} ${short(commit.oid)}`));
              return [{ name: 'github', conclusion: 'pending' as const, output: 'checks could not be read this cycle' }];
            })
          : [{ name: 'history', conclusion: 'pending' as const, output: 'older than the commits Build Master reads checks for' }];
      const files = await this.commitFiles(commit.oid, mine.get(commit.oid)).catch(() => [] as string[]);
      return {
        sha: commit.oid,
        time: Date.parse(commit.committedDate) || 0,
        checks,
        ...(number
          ? {
              change: {
                id: number,
                files,
                title: message.split('\n')[0] ?? '',
                ...(branch ? { branch } : {}),
                ...(lane ? { lane } : {}),
                body: message,
              },
            }
          : { change: { id: short(commit.oid), files, title: message.split('\n')[0] ?? '' } }),
      };
    });
    return { commits: commits.reverse(), targetSha };
  }

  /**
   * Which change a target commit merged, and what of its message to believe.
   * `Build-Master-*` trailers (read from the final trailer block only) count
   * only on merges Build Master made: recorded in the store, or a pull request
   * GitHub says was merged as this commit by the token's own user. Anyone can
   * write a trailer, a "(#12)" or a "Merge pull request #12" line in a commit
   * they push; only GitHub's record of the pull request names the change.
   */
  private async originOf(
    sha: string,
    message: string,
    own: ReadonlyMap<string, string>,
    self: string | undefined,
  ): Promise<{ id?: string; branch?: string; lane?: string }> {
    const trailers = parseTrailers(message);
    const trusted = (pull?: number, pullBranch?: string) => {
      const change = trailers.get('Change');
      const id =
        change && pullNumber(change) !== undefined ? pullId(pullNumber(change) as number) : pull !== undefined ? pullId(pull) : undefined;
      const branch = trailers.get('Branch') ?? pullBranch;
      const lane = trailers.get('Lane');
      return { ...(id ? { id } : {}), ...(branch ? { branch } : {}), ...(lane ? { lane } : {}) };
    };
    const recorded = own.get(sha);
    if (recorded !== undefined) return trusted(pullNumber(recorded));
    const subject = message.split('\n')[0] ?? '';
    const claims = [trailers.get('Change'), /^Merge pull request #(\d+)/.exec(subject)?.[1], /\(#(\d+)\)\s*$/.exec(subject)?.[1]]
      .map((claim) => (claim === undefined ? undefined : pullNumber(claim)))
      .filter((n): n is number => n !== undefined);
    if (claims.length === 0) return {};
    const { cache, clock } = this.options;
    const key = `gh-origin:${sha}`;
    let origin = cache.fact(key)?.origin;
    if (!origin) {
      let found: { pull?: number; branch?: string; trusted: boolean } | undefined = { trusted: false };
      for (const number of new Set(claims)) {
        try {
          const { data } = await this.api.pulls.get({ ...this.repo, pull_number: number });
          if (data.merged && data.merge_commit_sha === sha) {
            found = { pull: number, branch: data.head.ref, trusted: self !== undefined && data.merged_by?.login === self };
            break;
          }
        } catch (error) {
          // No such pull request is an answer; anything else is asked again next cycle.
          if ((error as { status?: number }).status !== 404) found = undefined;
        }
      }
      if (!found) return {};
      origin = found;
      cache.setFact(key, { origin, at: clock.now() });
    }
    if (origin.trusted) return trusted(origin.pull, origin.branch);
    return origin.pull !== undefined ? { id: pullId(origin.pull), ...(origin.branch ? { branch: origin.branch } : {}) } : {};
  }

  /** Files a target commit changed (both paths of a rename), cached forever (a commit never changes). */
  private async commitFiles(sha: string, merged?: string): Promise<string[]> {
    const { cache, clock } = this.options;
    const key = `gh-commit-files:${sha}`;
    const cached = cache.fact(key)?.files;
    if (cached) return cached;
    // A merge Build Master made changed what its pull request changed (a superset, never less, when the target
    // already had part of it), and those files were read whole for its head: no read of the commit.
    const number = merged === undefined ? undefined : pullNumber(merged);
    const record = merged === undefined ? undefined : cache.recordedMerges()[merged];
    const known = number !== undefined && record ? cache.fact(`gh-files-v2:${number}:${record.head}`)?.files : undefined;
    if (known) {
      cache.setFact(key, { files: known, at: clock.now() });
      return known;
    }
    const { data } = await this.api.repos.getCommit({ ...this.repo, ref: sha });
    const files = [
      ...new Set(
        (data.files ?? []).flatMap((f) =>
          f.previous_filename && f.previous_filename !== f.filename ? [f.previous_filename, f.filename] : [f.filename],
        ),
      ),
    ];
    cache.setFact(key, { files, at: clock.now() });
    return files;
  }

  async merge(change: Change, decision: Decision, policy: Policy): Promise<ForgeMergeResult> {
    const { log } = this.options;
    const number = this.numberOf(change.id);
    const lane = decision.lane ?? '';
    const link = linkOf(change);
    const trailers = [
      // A fix linked by its body keeps the link on the target, where recovery is measured from.
      ...(link ? [repairLine(link.kind, link.incident), ''] : []),
      formatTrailers({ Change: change.id, Branch: change.branch, Lane: lane, Key: decision.key ?? '' }),
    ];
    await this.confirmFiles(change, number);
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
      log(`merged ${change.id} as ${short(data.sha)} (${policy.merge.method})`);
      return { sha: data.sha };
    } catch (error) {
      const answer = answerOf(error);
      // An answer with a status is GitHub's word: it did not merge, so nothing is read again and nothing is a crash.
      if (answer) throw this.mergeRefusal(change, policy, answer, error);
      // No answer (a dropped connection): GitHub may have merged it. Ask before calling it failed.
      const earlier = await this.findMerge(decision.key ?? mergeKey(change)).catch(() => undefined);
      if (earlier) {
        log(`merged ${change.id} as ${short(earlier.sha)}; the answer was lost and the pull request confirms it`);
        return earlier;
      }
      throw new Error(describeGitHubError(error, `merging ${change.id}`), { cause: error });
    }
  }

  /** What GitHub's answer to a merge means: wait for the next cycle, or (`escalation`) a person must change a permission or a setting. */
  private mergeRefusal(change: Change, policy: Policy, answer: { status: number; message: string }, error: unknown): ForgeRefusal {
    const { status, message } = answer;
    const said = `GitHub: ${inert(message)}`;
    if (status === 409)
      return new ForgeRefusal(`${change.id} moved after its checks ran (${said}); it is checked again next cycle`, 'head-moved');
    if (status === 405 && /base branch was modified/i.test(message))
      return new ForgeRefusal(
        `${policy.target} moved while ${change.id} was merging (${said}); it is tried again next cycle`,
        'base-modified',
      );
    if ((status === 405 || status === 422) && /not allowed on this repository|merge method/i.test(message))
      return new ForgeRefusal(
        `GitHub refused to ${policy.merge.method}-merge ${change.id} (${said})`,
        'method-not-allowed',
        `\`merge.method: ${policy.merge.method}\` is a method ${this.slug} does not allow: set \`merge.method\` in .buildmaster.yml to one the repository allows, ` +
          `or allow ${policy.merge.method} merging in the repository's settings (General, Pull Requests)`,
      );
    if (status === 405)
      return new ForgeRefusal(`GitHub refused to merge ${change.id} (${said}); it is checked again next cycle`, 'not-mergeable');
    if ((status === 403 || status === 429) && isRateLimit(error))
      return new ForgeRefusal(describeGitHubError(error, `merging ${change.id}`), 'rate-limited');
    if (status === 403)
      return new ForgeRefusal(
        `GitHub refused to merge ${change.id} (${said}, HTTP 403)`,
        'forbidden',
        `the token or GitHub App Build Master runs as may not merge in ${this.slug}: give it the \`contents: write\` and \`pull_requests: write\` permissions ` +
          `(a classic token needs the \`repo\` scope), and let it past the branch protection of ${policy.target}`,
      );
    if (status === 422)
      return new ForgeRefusal(
        `GitHub refused to merge ${change.id} (${said}, HTTP 422)`,
        'merge-invalid',
        `GitHub will not take this merge as Build Master sends it (\`merge.method: ${policy.merge.method}\`): check the methods ${this.slug} allows and its rulesets`,
      );
    return new ForgeRefusal(`${describeGitHubError(error, `merging ${change.id}`)}; it is tried again next cycle`, 'github-error');
  }

  /**
   * Asks GitHub to merge the base into a change's branch, guarded by the head
   * the decision saw (`expected_head_sha`): a head that moved is refused, never updated.
   */
  async updateBranch(change: Change, decision: Decision): Promise<void> {
    const number = this.numberOf(change.id);
    try {
      await this.api.pulls.updateBranch({
        ...this.repo,
        pull_number: number,
        expected_head_sha: decision.sha ?? change.headSha,
        // A lost answer is not sent again: the head guard refuses a second update, and the next cycle reads what happened.
        request: { retries: 0 },
      });
      this.options.log(`asked GitHub to update ${change.id}'s branch to ${change.base}`);
    } catch (error) {
      const answer = answerOf(error);
      const said = answer ? `GitHub: ${inert(answer.message)}` : describeGitHubError(error, `updating ${change.id}'s branch`);
      if (answer?.status === 403 && !isRateLimit(error))
        throw new ForgeRefusal(
          `GitHub refused to update ${change.id}'s branch (${said}, HTTP 403)`,
          'forbidden',
          `the token or GitHub App Build Master runs as may not push to ${change.branch}: give it \`contents: write\` and \`pull_requests: write\`, ` +
            `or set \`merge.when_behind: wait\` and update branches by hand`,
        );
      if (answer?.status === 422)
        throw new ForgeRefusal(
          `GitHub did not update ${change.id}'s branch (${said}): its head moved or it conflicts with ${change.base}; it is looked at again next cycle`,
          'update-refused',
        );
      throw new ForgeRefusal(`${said}; it is tried again next cycle`, 'update-failed');
    }
  }

  async findMerge(key: string): Promise<ForgeMergeResult | undefined> {
    // A merge key names the change and its head: the pull request itself says whether that head merged.
    const parsed = parseKey(key);
    if (parsed?.kind !== 'merge') return undefined;
    const number = pullNumber(parsed.change);
    if (number === undefined) return undefined;
    const { data } = await this.api.pulls.get({ ...this.repo, pull_number: number });
    if (data.merged && data.merge_commit_sha && data.head.sha === parsed.headSha) return { sha: data.merge_commit_sha };
    return undefined;
  }

  /**
   * A revert as a pull request, through the git data API: every file the
   * culprit changed goes back to its content before it. When a later commit
   * changed one of those files again, the revert is not mechanical and a
   * person must do it.
   */
  async openRevert(incident: Incident, culpritSha: string, policy: Policy): Promise<string> {
    const branch = repairBranch('revert', incident.id);
    const existing = await this.api.pulls.list({ ...this.repo, state: 'all', head: `${this.repo.owner}:${branch}`, per_page: 10 });
    if (existing.data[0]) {
      // Only a revert Build Master opened is its revert: anyone can open a pull request from a branch of that name.
      const owns = await this.github.ownership();
      const mine = existing.data.find((pull) => owns({ user: pull.user }));
      if (mine) return pullId(mine.number);
      throw new ForgeRefusal(
        `a pull request from ${branch} that Build Master did not open exists (#${existing.data[0].number} by ${existing.data[0].user?.login ?? 'someone'}); it is not taken for the revert of ${incident.id}: a person must look`,
        'revert-conflict',
      );
    }
    const { data: culprit } = await this.api.repos.getCommit({ ...this.repo, ref: culpritSha });
    const parent = culprit.parents[0]?.sha;
    if (!parent) throw new ForgeRefusal(`${short(culpritSha)} has no parent to revert to; a person must revert it`, 'revert-conflict');
    const { data: target } = await this.api.repos.getCommit({ ...this.repo, ref: policy.target });
    const [before, after, now] = await Promise.all([parent, culpritSha, target.sha].map((sha) => this.treeOf(sha)));
    const entries: { path: string; mode: '100644' | '100755' | '040000' | '160000' | '120000'; type: 'blob'; sha: string | null }[] = [];
    for (const file of culprit.files ?? []) {
      const path = file.filename;
      if (now?.get(path)?.sha !== after?.get(path)?.sha) {
        throw new ForgeRefusal(
          `reverting ${short(culpritSha)} for ${incident.id} conflicts: ${path} changed again on ${policy.target} after it; a person must revert it`,
          'revert-conflict',
        );
      }
      const old = before?.get(path);
      entries.push({ path, mode: (old?.mode ?? '100644') as '100644', type: 'blob', sha: old ? old.sha : null });
    }
    const tree = await this.api.git.createTree({ ...this.repo, base_tree: target.commit.tree.sha, tree: entries });
    const message = `Revert ${short(culpritSha)} for ${incident.id}\n\nThe failing checks: ${inert(incident.failingChecks.join(', '))}.\n\n${repairLine('revert', incident.id)}`;
    const commit = await this.api.git.createCommit({ ...this.repo, message, tree: tree.data.sha, parents: [target.sha] });
    try {
      await this.api.git.createRef({ ...this.repo, ref: `refs/heads/${branch}`, sha: commit.data.sha });
    } catch (error) {
      if ((error as { status?: number }).status !== 422) throw error;
      // The branch exists: created by an attempt whose answer was lost, or pushed by someone else. Open the
      // pull request from it only when it holds exactly the revert's tree (whoever made it, that content is safe).
      const { data: tips } = await this.api.repos.listCommits({ ...this.repo, sha: branch, per_page: 1 });
      if (tips[0]?.commit.tree.sha !== tree.data.sha) {
        throw new ForgeRefusal(
          `the branch ${branch} exists and does not hold the revert of ${short(culpritSha)}; Build Master does not open its revert from it: a person must look`,
          'revert-conflict',
        );
      }
    }
    const body = [
      `Reverts ${short(culpritSha)} (${inert(incident.suspects.find((s) => s.sha === culpritSha)?.change ?? 'the culprit merge')}) to repair ${incident.id}.`,
      '',
      `Failing checks on ${policy.target} at ${short(incident.redSha)}: ${inert(incident.failingChecks.join(', '))}.`,
      '',
      repairLine('revert', incident.id),
    ].join('\n');
    const pull = await this.api.pulls.create({
      ...this.repo,
      head: branch,
      base: policy.target,
      title: `Revert ${short(culpritSha)} for ${incident.id}`,
      body,
      request: { retries: 0 },
    });
    return pullId(pull.data.number);
  }

  private async treeOf(sha: string): Promise<Map<string, { sha: string; mode: string }>> {
    const { data } = await this.api.git.getTree({ ...this.repo, tree_sha: sha, recursive: 'true' });
    return new Map(data.tree.filter((e) => e.type === 'blob' && e.path && e.sha).map((e) => [e.path, { sha: e.sha, mode: e.mode }]));
  }

  async notify(kind: NoticeKind, decision: Decision, incident: Incident | undefined, policy: Policy): Promise<void> {
    if (kind === 'report-flaky') {
      // One issue per flaky test and report (the decision's key carries both); the test's name is check output, made inert.
      await issueFor(this.github, `flaky:${decision.key ?? decision.rationale}`, () => ({
        title: `Flaky test: ${inert(decision.rationale.split(' failed and then passed')[0] ?? 'a test').slice(0, 200)}`,
        labels: ['build-master', 'flaky'],
        body: [
          `**Operation:** report a flaky test for quarantine (autonomy.hygiene)`,
          `**Reason:** ${inert(decision.rationale)}`,
          '**Action required:** quarantine or repair the test.',
        ].join('\n'),
      }));
      return;
    }
    const subject = incident?.id ?? decision.change ?? decision.lane ?? 'controller';
    const marker = issueMarker.escalation(subject);
    const issue = await issueFor(this.github, marker, () => ({
      title: `Build Master escalation: ${subject}${incident ? ` (${incident.failureClass} in lane ${incident.lanes.join(', ') || 'unattributed'})` : ''}`,
      labels: ['build-master', 'escalation'],
      body: [
        `**Operation:** ${decision.kind === 'page-owner' ? 'lane paused past page_owner_after' : decision.kind}`,
        `**${incident ? 'Incident' : 'Change'}:** ${inert(subject)}${incident ? `, red at ${short(incident.redSha)}, failing ${inert(incident.failingChecks.join(', ')) || 'no named check'}` : ''}`,
        `**Reason:** ${inert(decision.rationale)}`,
        !incident && decision.change
          ? `**Action required:** what the reason names; Build Master tries again each cycle and does not raise this again for the same head.`
          : `**Action required:** repair the lane with a fix pull request (branch \`${repairBranch('fix', subject)}\` or \`${repairLine('fix', subject)}\` in its body), revert the culprit, or run \`build-master release --ack\` / \`resume <lane>\` once resolved.`,
        incident
          ? `\nSuspects: ${inert(incident.suspects.map((s) => `${s.change ?? short(s.sha)}${s.lane ? ` (lane ${s.lane})` : ''}`).join(', ')) || 'none'}`
          : '',
      ].join('\n'),
    }));
    if (kind === 'page-owner') {
      const owners = policy.owners.length ? policy.owners.join(' ') : 'repository owners (no `owners` in the policy)';
      // The owners are paged on purpose; nothing quoted in the rationale can page anyone else.
      await comment(this.github, issue, issueMarker.page(subject), `${owners}: ${inert(decision.rationale)}`);
    }
  }

  /** Hygiene's hands on GitHub: labels, comments (each once, by its marker), the status issue, closing issues. */
  readonly hygiene: HygieneHands = {
    view: async (): Promise<HygieneView | undefined> => {
      const observed = this.observed;
      if (!observed) return undefined;
      const owns = await this.github.ownership();
      return {
        issues: observed.issues
          .filter((i) => !i.pull_request)
          .map((i) => ({
            number: i.number,
            title: i.title,
            labels: i.labels.map((l) => (typeof l === 'string' ? l : (l.name ?? ''))).filter(Boolean),
            createdAt: Date.parse(i.created_at),
            updatedAt: Date.parse(i.updated_at),
            // Only issues Build Master created are its own, whatever markers their text carries.
            own: owns(i),
            body: i.body ?? '',
          })),
        updated: Object.fromEntries(observed.pulls.map((p) => [pullId(p.number), Date.parse(p.updatedAt)])),
      };
    },
    label: async (number, label) => {
      await this.api.issues.addLabels({ ...this.repo, issue_number: number, labels: [label] });
    },
    unlabel: async (number, label) => {
      try {
        await this.api.issues.removeLabel({ ...this.repo, issue_number: number, name: label });
      } catch (error) {
        // Already gone (someone removed it, or a lost answer): the goal is reached.
        if ((error as { status?: number }).status !== 404) throw error;
      }
    },
    comment: (number, key, text) => comment(this.github, number, key, text),
    statusIssue: (policy) =>
      issueFor(this.github, 'status-digest', () => ({
        title: 'Build Master status',
        labels: ['build-master'],
        body: `The status of the ${policy.target} lanes, posted by Build Master when it changes.`,
      })),
    close: async (number) => {
      await this.api.issues.update({ ...this.repo, issue_number: number, state: 'closed' });
    },
    describe: describeGitHubError,
  };

  async changeDiff(change: string): Promise<ChangeDiff> {
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

  async changeChecks(change: string): Promise<CheckRun[]> {
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

/** A commit status's state (REST lower case or GraphQL upper case) as a check conclusion. */
function statusConclusion(state: string): CheckConclusion {
  switch (state.toLowerCase()) {
    case 'success':
      return 'success';
    case 'pending':
    case 'expected':
      return 'pending';
    case 'error':
      return 'error';
    default:
      return 'failure';
  }
}

/** A failed read as a line a person can act on: GraphQL errors name their query and say what GitHub answered. */
function describeRead(error: unknown, what: string): string {
  if (error instanceof GraphQLReadError) return `${what}: ${error.message}`;
  return describeGitHubError(error, what);
}

const REVIEW_STATES: Record<string, Review['state'] | undefined> = {
  APPROVED: 'approved',
  CHANGES_REQUESTED: 'changes_requested',
  COMMENTED: 'commented',
  DISMISSED: 'dismissed',
};

/** What of a check run its failures are read from. */
interface CheckRunSource {
  id: number;
  /** GitHub's `output.annotations_count`; undefined when not known (GraphQL does not count them): they are read to find out. */
  annotations?: number;
  /** Its output's summary and text, in full. */
  text: string;
  completedAt: string;
}

type Annotation = Awaited<ReturnType<GitHubClient['api']['checks']['listAnnotations']>>['data'][number];

/** Annotations read per failed check run (five pages); a run with more is marked incomplete. */
const MAX_ANNOTATIONS = 500;
/** Failed check runs per commit whose annotations are read. */
const ANNOTATED_RUNS = 20;
/** Check runs whose failures a process remembers. */
const RUN_FAILURES_KEPT = 2000;

/**
 * A check run's annotations as failures: `failure` ones, else `warning` ones.
 * The step-level annotations GitHub Actions writes on `.github` ("Process
 * completed with exit code 1") name no test, and are not failures. Undefined
 * when no annotation names a failure.
 */
export function failuresFromAnnotations(
  annotations: readonly Annotation[],
  declared: number,
): Pick<CheckRun, 'failures' | 'failuresComplete' | 'failuresNote'> | undefined {
  const named = annotations.filter((a) => a.path && a.path !== '.github');
  const failing = named.filter((a) => a.annotation_level === 'failure');
  const chosen = failing.length ? failing : named.filter((a) => a.annotation_level === 'warning');
  if (chosen.length === 0) return undefined;
  const failures: TestFailure[] = [];
  const seen = new Set<string>();
  for (const annotation of chosen) {
    const file = annotation.path.replace(/^\.\//, '');
    const message = (annotation.message ?? '').trim();
    // The title names the test (or the rule); the line is left out so an edit above it keeps the identity.
    const what = (annotation.title ?? '').trim() || firstLine(message) || `line ${annotation.start_line}`;
    const id = `${file} > ${what}`;
    if (seen.has(id)) continue;
    seen.add(id);
    failures.push(
      boundedFailure({ id, file, ...(annotation.start_line ? { line: annotation.start_line } : {}), ...(message ? { message } : {}) }),
    );
  }
  const complete = declared <= annotations.length;
  const how = `read from the check run's ${failing.length ? 'failure' : 'warning'} annotations`;
  return {
    failures,
    failuresComplete: complete,
    failuresNote: complete ? how : `${how}: GitHub holds ${declared}, ${annotations.length} were read`,
  };
}

/**
 * CI output names files by the runner's absolute path: the checkout of the
 * repository in the runner's workspace (GitHub-hosted runners, container jobs,
 * self-hosted `_work`). Those prefixes are dropped, so the parsers see paths
 * relative to the repository, the ones lanes' globs match.
 */
export function inWorkspace(text: string, repo: string): string {
  const name = repo.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const workspace = new RegExp(`(?:file://)?(?:/home/runner/work|/Users/runner/work|/__w|/[^\\s'"()]*?/_work)/${name}/${name}/`, 'g');
  return text.replace(workspace, '');
}

/**
 * Why a check run that has not completed is not running yet, in the words of its
 * status on GitHub; undefined while it runs (`in_progress`), so the gate says so.
 */
function notStarted(status: string): string | undefined {
  switch (status) {
    case 'queued':
    case 'requested':
    case 'pending':
      return `is ${status} on GitHub and has not started yet`;
    case 'waiting':
      return 'is waiting on GitHub (a deployment protection rule or a concurrency group holds it) and has not started yet';
    default:
      return undefined;
  }
}

/** A commit status from a check rollup, as a check. */
function statusCheck(node: StatusContextNode): CheckRun {
  const conclusion = statusConclusion(node.state);
  return {
    name: node.context,
    conclusion,
    // A pending commit status does not say whether anything runs: say what it reports.
    ...(conclusion === 'pending'
      ? { waiting: `reports pending${node.description ? ` (${inert(node.description).slice(0, 120)})` : ''}` }
      : {}),
    ...(node.description ? { output: node.description } : {}),
    ...(node.targetUrl ? { url: node.targetUrl } : {}),
  };
}

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
  const out = new Array<R>(items.length);
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

/** GitHub's answer to a failed request: its status and message; undefined when none came (a dropped connection). */
function answerOf(error: unknown): { status: number; message: string } | undefined {
  const e = error as { status?: unknown; message?: string; response?: { data?: { message?: unknown } } };
  if (typeof e.status !== 'number' || e.status <= 0) return undefined;
  const message = e.response?.data?.message;
  return { status: e.status, message: typeof message === 'string' ? message : (e.message ?? '') };
}

/** A 403/429 that is a rate limit (primary or secondary), not a missing permission. */
function isRateLimit(error: unknown): boolean {
  const e = error as { message?: string; response?: { headers?: Record<string, string | undefined> } };
  return (
    e.response?.headers?.['x-ratelimit-remaining'] === '0' ||
    e.response?.headers?.['retry-after'] !== undefined ||
    /rate limit/i.test(e.message ?? '')
  );
}

const MERGE_STATES: ReadonlySet<string> = new Set<MergeState>([
  'clean',
  'behind',
  'blocked',
  'unstable',
  'has_hooks',
  'draft',
  'dirty',
  'unknown',
]);

/** GitHub's `mergeable_state` (or GraphQL's `mergeStateStatus`) as the model's MergeState; one it does not know is unknown. */
export function mergeStateOf(text: string | null | undefined): MergeState {
  const state = (text ?? '').toLowerCase();
  return MERGE_STATES.has(state) ? (state as MergeState) : 'unknown';
}

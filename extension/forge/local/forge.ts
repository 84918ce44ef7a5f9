// The local forge (SPEC §8): changes are branches, checks are local commands,
// merges are commits Build Master makes itself in its own worktree and moves
// the target branch to with a compare-and-swap. The user's working tree and
// index are never touched; a clean checkout of the target is fast-forwarded.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import picomatch from 'picomatch';
import { awaitsOperator, laneOrder } from '../../core/merges';
import { FAILED, mergeGuard } from '../../core/gate';
import { mergeKey } from '../../core/keys';
import { outputTails } from '../../core/failures';
import { short } from '../../core/text';
import { parseUnifiedDiff, type ChangeDiff } from '../../core/diff';
import { own, put } from '../../core/records';
import { commitHealth } from '../../core/incident';
import { marksOf, presentIn, settled } from '../../core/marks';
import type { BuildRecord, Change, CheckRun, ControllerState, Decision, Incident, TargetCommit } from '../../core/model';
import type { Policy } from '../../core/policy/schema';
import {
  ForgeRefusal,
  InputError,
  NOT_RUN_YET,
  type Clock,
  type FactCache,
  type Forge,
  type ForgeMergeResult,
  type FoundMerge,
  type NoticeKind,
  type Observation,
  type ObserveOptions,
} from '../../ports';
import { formatTrailers, linkOf, parseTrailers, repairBranch, repairLine, type TrailerName } from '../../core/trailers';
import { noteOwnRefUpdate } from '../../git/own-refs';
import { BUILD_MASTER_IDENTITY, quietGit, type GitRepo } from '../../git/repo';
import { runChecks } from './checks';
import {
  checkBreach,
  describeBreach,
  examine,
  undoReplacements,
  isFatal,
  markTampered,
  restorePolicies,
  restoreRefs,
  snapshot,
  tamperedReason,
  type Breach,
  type RepoSnapshot,
} from '../../process/containment';

/** Fix, revert and run task branches are always candidates, whatever `local.branches` says. */
const OWN_BRANCHES = ['buildmaster/fix/*', 'buildmaster/revert/*', 'buildmaster/task/**'];
const HISTORY = 50;
/** Pre-merge check runs per lane per cycle: enough to find the next mergeable change without testing the whole queue. */
const PRECHECKS_PER_LANE = 2;
const FIELD = '\x1f';
const HEX = /^[0-9a-f]{40,64}$/;
/** How far back crash recovery and the merged-branch scan look for Build Master's merges. */
const MERGE_HISTORY = 500;
/** Paths are always read NUL-separated and never renamed: every path a change touches, byte for byte, old and new. */
const PATHS = ['--no-renames', '--no-ext-diff', '--no-textconv', '--name-only', '-z'];

export interface LocalForgeOptions {
  repo: GitRepo;
  /** Merge facts and check results kept between cycles (the store, seen through its FactCache port). */
  store: FactCache;
  clock: Clock;
  log: (message: string) => void;
  /** Crash testing: called at named points of a merge (see BUILDMASTER_TEST_CRASH_AT). */
  checkpoint?: (point: string) => void;
}

/** A commit on the target's first-parent history, as `git log` reports it. */
interface LoggedCommit {
  sha: string;
  parents: string[];
  tree: string;
  time: number;
  committer: string;
  subject: string;
  body: string;
  trailers: Map<TrailerName, string>;
}

/** A checkout of the target branch: a merge must be able to update it too. */
interface TargetCheckout {
  path: string;
  gitDir: string;
  dirty: boolean;
}

/** Where a cycle's time goes in the forge (reported by `npm run bench`). */
export interface LocalForgeStats {
  checkRuns: number;
  /** Time inside check commands. */
  checkMs: number;
  /** Time creating and removing check worktrees. */
  worktreeMs: number;
}

export class LocalForge implements Forge {
  readonly kind = 'local' as const;
  readonly stats: LocalForgeStats = { checkRuns: 0, checkMs: 0, worktreeMs: 0 };

  constructor(private readonly options: LocalForgeOptions) {}

  private get git() {
    return this.options.repo.git;
  }

  async targetSha(policy: Policy): Promise<string> {
    const sha = await this.options.repo.revParse(`refs/heads/${policy.target}`);
    if (!sha) {
      throw new InputError(
        `the target branch "${policy.target}" does not exist in ${this.options.repo.root}; create it or set \`target:\` in .buildmaster.yml`,
      );
    }
    return sha;
  }

  /** Set by a read-only observe (explain): no check runs, nothing saved. */
  private readOnly = false;

  async observe(
    policy: Policy,
    state: ControllerState | undefined,
    builds: BuildRecord[],
    options: ObserveOptions = {},
  ): Promise<Observation> {
    // Once the object store was found tampered with, nothing read from it is trusted:
    // no check runs (a corrupt object would only make git fail) until a person clears it.
    this.readOnly = (options.readOnly ?? false) || tamperedReason(this.options.repo.stateDir) !== undefined;
    const targetSha = await this.targetSha(policy);
    const history = await this.readLog(targetSha, MERGE_HISTORY);
    const { changes, authored, foundMerged } = await this.readChanges(policy, targetSha, history, options.seen ?? {});
    await this.runPreMergeChecks(policy, targetSha, changes, state);
    for (const change of changes)
      change.checks = change.checks.map((run) =>
        run.conclusion === 'pending' ? { ...run, waiting: this.whyNotRun(policy, change) } : run,
      );
    if (tamperedReason(this.options.repo.stateDir) !== undefined) this.readOnly = true;
    const targetCommits = await this.readTarget(policy, targetSha, history.slice(0, HISTORY));
    const mergeBlocked = tamperedReason(this.options.repo.stateDir) ?? (await this.mergeBlockedReason(policy, targetSha, changes, history));
    return {
      forge: 'local',
      target: policy.target,
      changes,
      targetCommits,
      builds,
      workers: policy.dispatch.command ? ['command'] : [],
      ...(mergeBlocked ? { mergeBlocked } : {}),
      authored,
      foundMerged,
    };
  }

  /**
   * The target's first-parent history, newest first, with each commit's
   * Build-Master trailers (final trailer block only). Records end in NUL
   * (git cuts a message at a NUL, so no message can forge a record); the
   * fields git computes come first and are validated, the free text last.
   */
  private async readLog(targetSha: string, count: number): Promise<LoggedCommit[]> {
    const out = await this.git.raw([
      'log',
      '--first-parent',
      '-z',
      `-n${count}`,
      `--format=%H${FIELD}%P${FIELD}%T${FIELD}%ct${FIELD}%cn <%ce>${FIELD}%B`,
      targetSha,
    ]);
    const commits: LoggedCommit[] = [];
    for (const row of out.split('\0')) {
      const [sha = '', parents = '', tree = '', time = '', ...rest] = row.split(FIELD);
      if (!HEX.test(sha) || !HEX.test(tree) || !/^\d+$/.test(time)) continue;
      // A committer name holding the separator shifts the rest: such a commit is nobody's trusted merge.
      const committer = rest.length === 2 ? (rest[0] as string) : '';
      const body = rest.slice(1).join(FIELD);
      const subject = (body.split(/\n[ \t]*\n/)[0] ?? '').replace(/\s*\n\s*/g, ' ').trim();
      commits.push({
        sha,
        parents: parents.split(' ').filter((p) => HEX.test(p)),
        tree,
        time: Number(time) * 1000,
        committer,
        subject,
        body,
        trailers: parseTrailers(body),
      });
    }
    return commits;
  }

  /**
   * Build Master wrote this merge, proven by its content, not by its text: the
   * trailers are in the final trailer block, the committer is Build Master, and
   * either the store recorded this very merge or the commit's tree is exactly
   * the merge of its first parent with the head it names. Anyone can type a
   * trailer; only a real merge of that head has that tree.
   */
  private async trusted(commit: LoggedCommit): Promise<'store' | 'proof' | false> {
    const { store } = this.options;
    const id = commit.trailers.get('Change');
    const head = commit.trailers.get('Head');
    const branch = commit.trailers.get('Branch');
    if (!id || commit.committer !== BUILD_MASTER_COMMITTER) return false;
    if (own(store.recordedMerges(), id)?.sha === commit.sha) return 'store';
    // In local mode a change is its branch: trailers that disagree were not written by Build Master.
    if (branch !== undefined && branch !== id) return false;
    const first = commit.parents[0];
    if (!head || !first || !HEX.test(head)) return false;
    // The merge facts are cached by (head, first parent): the proof costs git processes once per commit, not per cycle.
    if (!store.fact(factsKey(first, head)) && !(await this.options.repo.revParse(head))) return false;
    const facts = await this.mergeFacts(first, head);
    // A head the target already contains proves nothing: its "merge" is any copy of the parent's tree.
    return !facts.conflict && facts.files.length > 0 && facts.tree === commit.tree ? 'proof' : false;
  }

  /** The trusted merge of `branch` at `head` in the history, if any: merged-ness comes from the target, the store only caches it. */
  private async mergedAt(history: readonly LoggedCommit[], branch: string, head: string): Promise<LoggedCommit | undefined> {
    for (const commit of history) {
      if (commit.trailers.get('Head') !== head || (commit.trailers.get('Branch') !== branch && commit.trailers.get('Change') !== branch))
        continue;
      if (await this.trusted(commit)) return commit;
    }
    return undefined;
  }

  /**
   * The open changes, and facts for the controller to record: when each head was
   * authored, and branches found merged on the target with no merge on record.
   */
  private async readChanges(
    policy: Policy,
    targetSha: string,
    history: readonly LoggedCommit[],
    seen: Readonly<Record<string, number>>,
  ): Promise<{ changes: Change[]; authored: Record<string, number>; foundMerged: FoundMerge[] }> {
    const { store, clock } = this.options;
    const matches = picomatch([...policy.local.branches, ...OWN_BRANCHES]);
    const out = await this.git.raw([
      'for-each-ref',
      `--no-merged=${targetSha}`,
      // git's own fields first; the author's name and the subject last, where a stray separator shifts nothing that matters.
      `--format=%(refname)${FIELD}%(objectname)${FIELD}%(authordate:unix)${FIELD}%(authorname)${FIELD}%(subject)`,
      'refs/heads/',
    ]);
    const now = clock.now();
    const targetTree = (await this.git.raw(['rev-parse', `${targetSha}^{tree}`])).trim();
    const listed = out
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [ref = '', head = '', authoredAt = '0', author = '', ...subject] = line.split(FIELD);
        return [ref.replace(/^refs\/heads\//, ''), head, subject.join(FIELD), author, authoredAt] as [
          string,
          string,
          string,
          string,
          string,
        ];
      })
      .filter(([name]) => name !== policy.target && matches(name));
    const branches: typeof listed = [];
    const foundMerged: FoundMerge[] = [];
    for (const entry of listed) {
      const [name, head] = entry;
      if (own(store.recordedMerges(), name)?.head === head) continue;
      const merge = await this.mergedAt(history, name, head);
      if (merge) {
        // Merged but not on record (a crash, a store moved aside): the controller records it, it is never decided again.
        foundMerged.push({ change: name, head, sha: merge.sha });
        continue;
      }
      branches.push(entry);
    }
    const authored: Record<string, number> = Object.create(null) as Record<string, number>;
    const changes = await Promise.all(
      branches.map(async ([name, head, subject, author, authoredAt]): Promise<Change> => {
        const facts = await this.mergeFacts(targetSha, head);
        put(authored, name, Number(authoredAt) * 1000);
        return {
          id: name,
          title: subject,
          branch: name,
          base: policy.target,
          headSha: head,
          files: facts.files,
          labels: [],
          draft: false,
          reviews: [],
          checks: this.cachedChecks(policy, `tree:${facts.tree}`, 'queued: runs when it reaches the front of its lane'),
          mergeable: facts.conflict ? 'conflicting' : 'mergeable',
          readySince: own(seen, name) ?? now,
          author,
          // Merging it would change nothing: an obsolete revert or fix, a change already applied.
          ...(!facts.conflict && facts.tree === targetTree ? { emptyOnTarget: true } : {}),
        };
      }),
    );
    return { changes: changes.sort((a, b) => a.id.localeCompare(b.id)), authored, foundMerged };
  }

  /** Files against the merge base (every path, old and new) and the would-be merge tree, cached: both are immutable for (head, target). */
  private async mergeFacts(targetSha: string, head: string): Promise<{ files: string[]; tree: string; conflict: boolean }> {
    const { store, clock } = this.options;
    const key = factsKey(targetSha, head);
    const cached = store.fact(key);
    if (cached?.files && cached.tree) return { files: cached.files, tree: cached.tree, conflict: cached.conflict ?? false };
    const merged = (await this.git.raw(['merge-tree', '--write-tree', '--messages', targetSha, head])).split('\n');
    const tree = (merged[0] ?? '').trim();
    // What the branch changes (from the merge base) and what merging it would change on the
    // target (target against the merge tree): with several merge bases `target...head` uses
    // only the first, so a branch could hide, say, the undoing of a tier 3 change from it.
    const files = [
      ...new Set([
        ...paths(await this.git.raw(['diff', ...PATHS, `${targetSha}...${head}`])),
        ...paths(await this.git.raw(['diff', ...PATHS, targetSha, tree])),
      ]),
    ];
    // A clean merge prints only the tree; a conflicted one adds the conflicted files and messages.
    const conflict = merged.slice(1).some((line) => line.trim().length > 0 && /CONFLICT|^\d{6} /.test(line));
    store.setFact(key, { files, tree, conflict, at: clock.now() });
    return { files, tree, conflict };
  }

  /** Why a change's pending check is not running (nothing runs between syncs): said by the gate instead of "still running". */
  private whyNotRun(policy: Policy, change: Change): string {
    if (change.mergeable === 'conflicting')
      return `has not run: it conflicts with ${policy.target}, and a conflicting change is not tested`;
    if (this.readOnly) return 'has not run on this head yet: the next sync runs it';
    return 'is queued: it runs when this change reaches the front of its lane';
  }

  /**
   * Pre-merge checks run on the would-be merge result, keyed by its tree so a
   * result is reused until the target or the branch moves. Per lane they run in
   * merge order until one change passes: the next to merge is always tested.
   */
  private async runPreMergeChecks(policy: Policy, targetSha: string, changes: Change[], state: ControllerState | undefined): Promise<void> {
    if (this.readOnly && policy.local.checks.length > 0) {
      for (const change of changes)
        change.checks = change.checks.map((run) => (run.conclusion === 'pending' ? { ...run, output: NOT_RUN_YET } : run));
      return;
    }
    if (policy.local.checks.length === 0) {
      for (const change of changes) change.checks = [];
      return;
    }
    for (const [lane, ordered] of laneOrder(policy, changes, state)) {
      let runs = 0;
      for (const change of ordered) {
        if (change.mergeable === 'conflicting') continue;
        if (!isPending(change.checks)) {
          if (requiredPass(policy, change, change.checks, state).ok && !awaitsOperator(policy, change, state)) break;
          continue;
        }
        if (runs >= PRECHECKS_PER_LANE || tamperedReason(this.options.repo.stateDir) !== undefined) break;
        runs += 1;
        const facts = await this.mergeFacts(targetSha, change.headSha);
        this.options.log(`pre-merge checks for ${change.id} (lane ${lane}) on the merge with ${policy.target} ${short(targetSha)}`);
        change.checks = await this.checkTree(policy, facts.tree, targetSha, change.headSha);
        if (requiredPass(policy, change, change.checks, state).ok && !awaitsOperator(policy, change, state)) break;
      }
    }
  }

  /**
   * The policy's checks as far as results are known for `scope` (a tree or a
   * commit): each result is keyed by the check's definition too, so a check
   * added or edited in the policy is pending until it has run on this scope.
   */
  private cachedChecks(policy: Policy, scope: string, pendingOutput: string): CheckRun[] {
    return policy.local.checks.map(
      (check) =>
        this.options.store.checkResult(checkKey(policy, scope, check))?.[0] ?? {
          name: check.name,
          conclusion: 'pending' as const,
          output: pendingOutput,
        },
    );
  }

  /** Runs the checks of `scope` that have no result for their current definition (only those), then returns all of them. */
  private async checkScope(policy: Policy, scope: string, commit: () => Promise<string>): Promise<CheckRun[]> {
    const { store, clock } = this.options;
    const missing = policy.local.checks.filter((check) => !store.checkResult(checkKey(policy, scope, check)));
    if (missing.length > 0) {
      const runs = await this.timedChecks(policy, await commit(), missing);
      for (const check of missing) {
        const run = runs.find((r) => r.name === check.name);
        if (run) store.setCheckResult(checkKey(policy, scope, check), [run], clock.now());
      }
    }
    const all = this.cachedChecks(policy, scope, 'not run');
    // The whole set under the scope's plain key too, for readers of the store (fix prompts, the gate's view of the target).
    store.setCheckResult(scope, all, clock.now());
    if (missing.length > 0) await store.save();
    return all;
  }

  private async checkTree(policy: Policy, tree: string, targetSha: string, head: string): Promise<CheckRun[]> {
    const { repo } = this.options;
    return this.checkScope(policy, `tree:${tree}`, async () =>
      (await repo.asBuildMaster().raw(['commit-tree', tree, '-p', targetSha, '-p', head, '-m', 'Build Master pre-merge check'])).trim(),
    );
  }

  private async timedChecks(policy: Policy, commit: string, checks: Policy['local']['checks']): Promise<CheckRun[]> {
    const started = Date.now();
    let checkMs = 0;
    const { repo } = this.options;
    const runs = await repo.withReusedWorktree('checks', commit, async (dir) => {
      const before = await snapshot(repo.root, repo.commonDir, repo.stateDir);
      const from = Date.now();
      const result = await runChecks(checks, dir, policy.local.check_timeout, policy.local.env, policy.local.rerun_failed);
      checkMs = Date.now() - from;
      const breach = checkBreach(await examine(before, await snapshot(repo.root, repo.commonDir, repo.stateDir)), policy.target);
      // The user may be editing their checkout meanwhile: other files changed there are worth a line, not a failure.
      for (const [path, files] of breach.checkouts)
        this.options.log(
          `warning: ${files.length} file(s) changed in the checkout ${path} while checks ran (by a check, or by you): ${files.slice(0, 10).join(', ')}${files.length > 10 ? ', …' : ''}`,
        );
      return isFatal(breach) ? this.refuseBreach(policy, before, breach, result) : result;
    });
    this.stats.checkRuns += 1;
    this.stats.checkMs += checkMs;
    this.stats.worktreeMs += Date.now() - started - checkMs;
    return runs;
  }

  /**
   * A check reached outside its worktree (moved the target or Build Master's
   * branches, changed git's config or hooks, a checkout's policy, the object
   * store): the refs and policy files are put back, and every check of this run
   * counts as failed, so the change that did it never merges. Tampered objects
   * cannot be put back: merging waits for a person from then on.
   */
  private async refuseBreach(policy: Policy, before: RepoSnapshot, breach: Breach, runs: CheckRun[]): Promise<CheckRun[]> {
    const { repo } = this.options;
    const replaced = await undoReplacements(repo.root, breach);
    const { restored, reported } = await restoreRefs(repo.root, replaced.rest, policy.target);
    restored.push(...replaced.undone);
    reported.push(...replaced.left);
    const policies = await restorePolicies(before, breach, repo.stateDir);
    markTampered(repo.stateDir, breach);
    const what = describeBreach(breach).join('; ');
    const undo = [
      restored.length ? `restored ${restored.join(', ')}` : '',
      reported.length ? `not restored: ${reported.join(', ')}` : '',
      ...policies,
    ]
      .filter(Boolean)
      .join('; ');
    const message = `a check changed the repository outside its worktree (${what})${undo ? `; ${undo}` : ''}: every check of this run counts as failed`;
    this.options.log(message);
    // The breach is the failure, whatever the tests said: no test-level failure and no flaky pass stands for it.
    return runs.map((run) => ({
      name: run.name,
      conclusion: 'failure' as const,
      output: `${run.output ?? ''}\nBuild Master: ${message}`,
      failuresComplete: false,
      failuresNote: 'the check changed the repository outside its worktree: it is attributed as a whole',
    }));
  }

  async checkCommit(policy: Policy, sha: string): Promise<CheckRun[]> {
    if (policy.local.checks.length === 0) {
      this.options.store.setCheckResult(`commit:${sha}`, [], this.options.clock.now());
      await this.options.store.save();
      return [];
    }
    return this.checkScope(policy, `commit:${sha}`, () => Promise.resolve(sha));
  }

  private async readTarget(policy: Policy, targetSha: string, history: readonly LoggedCommit[]): Promise<TargetCommit[]> {
    const rows = [...history].reverse();
    // The target's newest commit always has its post-merge checks (a merge made elsewhere included).
    if (!this.readOnly && policy.local.checks.length && isPending(this.cachedChecks(policy, `commit:${targetSha}`, ''))) {
      this.options.log(`post-merge checks on ${policy.target} ${short(targetSha)}`);
      await this.checkCommit(policy, targetSha);
    }
    const commits = await Promise.all(rows.map((row) => this.targetCommit(policy, row)));
    if (!this.readOnly) await this.bisectIfNeeded(policy, commits);
    return commits;
  }

  private async targetCommit(policy: Policy, commit: LoggedCommit): Promise<TargetCommit> {
    const { store, clock } = this.options;
    const { sha, parents, subject } = commit;
    const key = `files-z:${sha}`;
    let files = store.fact(key)?.files;
    if (!files) {
      const args = parents[0]
        ? ['diff-tree', '-r', ...PATHS, parents[0], sha]
        : ['diff-tree', '-r', '--root', '--no-commit-id', ...PATHS, sha];
      files = paths(await this.git.raw(args));
      store.setFact(key, { files, at: clock.now() });
    }
    const checks = this.cachedChecks(policy, `commit:${sha}`, 'not checked: older than Build Master’s record');
    const trust = await this.trusted(commit);
    if (trust) {
      // Build Master's own merge: its trailers say which change, branch and lane it was.
      let branch = commit.trailers.get('Branch');
      // Proven by content alone, a repair link also needs the fix or revert branch to hold the merged head.
      if (trust === 'proof' && branch && linkOf({ branch }) && !(await this.branchHolds(branch, commit.trailers.get('Head') as string)))
        branch = undefined;
      const lane = commit.trailers.get('Lane');
      const id = commit.trailers.get('Change') as string;
      return {
        sha,
        time: commit.time,
        checks,
        change: { id, files, title: subject, ...(branch ? { branch } : {}), ...(lane ? { lane } : {}) },
      };
    }
    // Anyone else's commit: its text names a change for attribution only. A
    // repair link (fix/revert branch) counts only for a real merge of that
    // branch's head, the documented manual route (`git merge buildmaster/fix/<incident>`).
    let branch = /^Merge branch '([^']+)'/.exec(subject)?.[1];
    if (branch && linkOf({ branch }) && (await this.options.repo.revParse(`refs/heads/${branch}`)) !== parents[1]) branch = undefined;
    const id = branch ?? short(sha);
    return { sha, time: commit.time, checks, change: { id, files, title: subject, ...(branch ? { branch } : {}) } };
  }

  /**
   * The target is red and no green commit is on record: run the checks on
   * earlier commits (binary search along the first-parent history) to find the
   * last green one, so the break is attributed to the commits after it.
   */
  private async bisectIfNeeded(policy: Policy, commits: TargetCommit[]): Promise<void> {
    const head = commits[commits.length - 1];
    if (!head || policy.local.checks.length === 0 || commitHealth(head) !== 'red') return;
    // The head's own failures: the search is for where they began, not for any red commit
    // (an older break, repaired since, is not this one).
    const marks = head.checks.flatMap(marksOf);
    const clean = (commit: TargetCommit) =>
      marks.every((mark) => {
        const run = commit.checks.find((c) => c.name === mark.check);
        return run !== undefined && settled(run) && !presentIn(mark, run);
      });
    if (commits.some((c) => c !== head && clean(c))) return;
    // The head is the only commit on record (a repository's first, say): there is nothing earlier to search.
    if (commits.length < 2) return;
    this.options.log(
      `${policy.target} is red at ${short(head.sha)} and no earlier commit on record is without its failures: bisecting ${commits.length - 1} earlier commit(s)`,
    );
    // Gallop back from the head (1, 2, 4, … commits) to the nearest commit without the head's failures,
    // then bisect only the span after it: a repaired break further back never moves the boundary.
    const last = commits.length - 1;
    let red = last;
    let found = -1;
    for (let step = 1; found < 0 && red > 0; step *= 2) {
      const at = Math.max(0, last - step);
      const commit = commits[at] as TargetCommit;
      commit.checks = await this.checkCommit(policy, commit.sha);
      if (clean(commit)) found = at;
      else red = at;
      if (at === 0) break;
    }
    let lo = found;
    let hi = red;
    while (lo >= 0 && hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      const commit = commits[mid] as TargetCommit;
      commit.checks = await this.checkCommit(policy, commit.sha);
      if (clean(commit)) lo = mid;
      else hi = mid;
    }
    this.options.log(
      lo >= 0
        ? `bisection: ${short((commits[lo] as TargetCommit).sha)} is the newest commit without the head's failures; they first show at ${short((commits[hi] as TargetCommit).sha)}`
        : `bisection: the head's failures show in every one of the last ${commits.length} commits checked`,
    );
  }

  /** The branch exists and contains `sha` (its head, or an ancestor of it). */
  private async branchHolds(branch: string, sha: string): Promise<boolean> {
    const tip = await this.options.repo.revParse(`refs/heads/${branch}`);
    if (!tip) return false;
    return (
      tip === sha ||
      (await quietGit(this.options.repo.root, ['merge-base', '--is-ancestor', sha, tip]).then(
        () => true,
        () => false,
      ))
    );
  }

  /**
   * Why no merge can land now although the gates may pass: a checkout of the
   * target that the merge could not update with it (uncommitted changes, git
   * busy in it, an untracked file a ready change would overwrite).
   */
  private async mergeBlockedReason(
    policy: Policy,
    targetSha: string,
    changes: readonly Change[],
    history: readonly LoggedCommit[],
  ): Promise<string | undefined> {
    let checkouts = await this.targetCheckouts(policy);
    if (checkouts.length === 0) return undefined;
    // A read-only observe (explain, without the lock) never writes a checkout.
    if (!this.readOnly && checkouts.some((c) => c.dirty)) {
      let repaired = false;
      for (const checkout of checkouts.filter((c) => c.dirty))
        repaired = (await this.finishCheckoutUpdate(policy, checkout, history)) || repaired;
      if (repaired) checkouts = await this.targetCheckouts(policy);
    }
    const ready = changes.filter(
      (c) =>
        c.mergeable !== 'conflicting' &&
        !c.emptyOnTarget &&
        c.checks.every((run) => !FAILED.has(run.conclusion) && run.conclusion !== 'pending'),
    );
    for (const checkout of checkouts) {
      const simple = this.checkoutProblem(policy, checkout);
      if (simple) return simple;
      for (const change of ready) {
        const facts = await this.mergeFacts(targetSha, change.headSha);
        const problem = await this.updateProblem(policy, checkout, targetSha, facts.tree, change.id);
        if (problem) return problem;
      }
    }
    return undefined;
  }

  /**
   * A checkout left behind its ref by a process killed between moving the ref
   * and updating the checkout: its index and files are exactly an earlier
   * target that Build Master's own merges lead from. Finish the update, so the
   * user's next commit does not silently revert those merges.
   */
  private async finishCheckoutUpdate(policy: Policy, checkout: TargetCheckout, history: readonly LoggedCommit[]): Promise<boolean> {
    const pending = readCheckoutPending(this.options.repo.stateDir);
    if (!pending || !pending.paths.includes(checkout.path) || history[0]?.sha !== pending.to || history[1]?.sha !== pending.from)
      return false;
    const unstaged = await quietGit(checkout.path, ['diff', '--quiet']).then(
      () => false,
      () => true,
    );
    if (unstaged || existsSync(join(checkout.gitDir, 'index.lock'))) return false;
    const indexTree = (await quietGit(checkout.path, ['write-tree']).catch(() => '')).trim();
    if (!indexTree) return false;
    for (let i = 0; i + 1 < history.length; i++) {
      const merge = history[i] as LoggedCommit;
      const before = history[i + 1] as LoggedCommit;
      if (!(await this.trusted(merge))) return false;
      if (before.tree !== indexTree) continue;
      const head = history[0];
      await quietGit(checkout.path, ['read-tree', '-m', '-u', before.sha, head.sha]);
      clearCheckoutPending(this.options.repo.stateDir);
      this.options.log(
        `finished updating the checkout of ${policy.target} in ${checkout.path} from ${short(before.sha)} to ${short(head.sha)} (a previous process stopped before it did)`,
      );
      return true;
    }
    return false;
  }

  /** A checkout that no merge could update: uncommitted changes, or another git holding its index. */
  private checkoutProblem(policy: Policy, checkout: TargetCheckout): string | undefined {
    if (checkout.dirty)
      return `${policy.target} is checked out with uncommitted changes in ${checkout.path}; merging waits until that worktree is clean (commit or stash them)`;
    const lock = join(checkout.gitDir, 'index.lock');
    if (existsSync(lock))
      return `${policy.target} is checked out in ${checkout.path} and git is busy there (${lock} exists); merging waits until it is gone — if no git command is running, delete that file`;
    return undefined;
  }

  /** Whether the checkout can move from `from` to `to` without losing anything (git's own dry run). */
  private async updateProblem(
    policy: Policy,
    checkout: TargetCheckout,
    from: string,
    to: string,
    change: string,
  ): Promise<string | undefined> {
    try {
      await quietGit(checkout.path, ['read-tree', '-m', '-u', '-n', from, to]);
      return undefined;
    } catch (error) {
      const detail = (error as Error).message;
      const inTheWay = [...detail.matchAll(/(?:file|files) '([^']+)' would be overwritten/g)].map((m) => m[1]);
      const listed = [...detail.matchAll(/^\t(.+)$/gm)].map((m) => m[1]);
      const files = [...new Set([...inTheWay, ...listed])];
      if (files.length) {
        return `merging ${change} into ${policy.target} would overwrite ${files.map((f) => `"${f}"`).join(', ')}, untracked in ${checkout.path} where ${policy.target} is checked out; merging waits until you move or delete ${files.length === 1 ? 'that file' : 'those files'} (or commit ${files.length === 1 ? 'it' : 'them'} on a branch)`;
      }
      return (
        this.checkoutProblem(policy, { ...checkout, dirty: false }) ??
        `${policy.target} is checked out in ${checkout.path} and cannot be updated to include ${change}; merging waits (${detail.split('\n').slice(-3).join(' ').trim()})`
      );
    }
  }

  async merge(change: Change, decision: Decision, policy: Policy, state: ControllerState | undefined): Promise<ForgeMergeResult> {
    const { repo } = this.options;
    // The lane is the decision's: the forge guards the merge, it does not decide it again.
    const lane = decision.lane;
    if (lane === undefined) throw new Error(`the merge decision for ${change.id} names no lane`);
    const head = await repo.revParse(`refs/heads/${change.branch}`);
    if (head !== change.headSha) {
      throw new ForgeRefusal(
        `${change.id} moved from ${short(change.headSha)} to ${head ? short(head) : 'nothing'} after its checks ran; it is checked again next cycle`,
        'head-moved',
      );
    }
    const targetSha = await this.targetSha(policy);
    const facts = await this.mergeFacts(targetSha, change.headSha);
    if (facts.conflict) throw new ForgeRefusal(`${change.id} conflicts with ${policy.target} ${short(targetSha)}; restack it`, 'conflict');
    // Never merge untested: the exact tree that lands must have passed the checks.
    const checks = await this.checkTree(policy, facts.tree, targetSha, change.headSha);
    const verdict = requiredPass(policy, change, checks, state);
    if (!verdict.ok) {
      throw new ForgeRefusal(
        `${change.id} does not pass ${verdict.failing.join(', ')} on the current ${policy.target} ${short(targetSha)}; it is not merged untested`,
        'checks-failed',
      );
    }
    // The ref and every checkout of it move together or not at all: check first that each can be updated.
    const checkouts = await this.targetCheckouts(policy);
    for (const checkout of checkouts) {
      const problem =
        this.checkoutProblem(policy, checkout) ?? (await this.updateProblem(policy, checkout, targetSha, facts.tree, change.id));
      if (problem) throw new ForgeRefusal(problem, checkout.dirty ? 'target-dirty' : 'checkout-blocked');
    }
    const message = [
      `Merge ${change.branch} into ${policy.target} (lane ${lane})`,
      '',
      // The branch's subject, with no control character that could split a log record.
      withoutControls(change.title, ' '),
      '',
      formatTrailers({ Change: change.id, Branch: change.branch, Lane: lane, Key: decision.key ?? '', Head: change.headSha }),
    ].join('\n');
    const parents = policy.merge.method === 'merge' ? ['-p', targetSha, '-p', change.headSha] : ['-p', targetSha];
    const author = policy.merge.method === 'merge' ? {} : await this.authorOf(change.headSha);
    const sha = (await repo.asBuildMaster(repo.root, author).raw(['commit-tree', facts.tree, ...parents, '-m', message])).trim();
    // The checkouts about to move with the ref, written down first: if this process dies between
    // the two, the next one finishes exactly this update, and never mistakes a user's own staged
    // work (say, a `git revert --no-commit` of this merge) for one it left unfinished.
    writeCheckoutPending(repo.stateDir, { from: targetSha, to: sha, paths: checkouts.map((c) => c.path) });
    // Compare-and-swap: the target moves only if it is still where the checks saw it.
    // Noted first: a run's agents working beside this merge are not blamed for the target moving.
    noteOwnRefUpdate(repo.commonDir, `refs/heads/${policy.target}`, sha);
    try {
      await quietGit(repo.root, ['update-ref', '-m', `build-master: merge ${change.id}`, `refs/heads/${policy.target}`, sha, targetSha]);
    } catch (error) {
      clearCheckoutPending(repo.stateDir);
      throw new ForgeRefusal(
        `${policy.target} moved while ${change.id} was merging; it is retried next cycle (${(error as Error).message.trim()})`,
        'target-moved',
      );
    }
    this.options.checkpoint?.('after:update-ref');
    try {
      await this.updateCheckouts(policy, change, checkouts, targetSha, sha);
    } finally {
      clearCheckoutPending(repo.stateDir);
    }
    this.options.log(`merged ${change.id} as ${short(sha)}; post-merge checks on ${policy.target}`);
    return { sha };
  }

  /** Once the merge is on record: the post-merge checks of the new target commit. */
  async afterMerge(merged: ForgeMergeResult, policy: Policy): Promise<void> {
    await this.checkCommit(policy, merged.sha);
  }

  /**
   * Moves each checkout of the target with its ref. If one cannot be moved
   * after all (something changed since the dry run), the ref and the checkouts
   * already moved go back, so HEAD and the index never disagree: a user's next
   * commit must not silently revert the merge.
   */
  private async updateCheckouts(
    policy: Policy,
    change: Change,
    checkouts: readonly TargetCheckout[],
    from: string,
    to: string,
  ): Promise<void> {
    const moved: TargetCheckout[] = [];
    for (const checkout of checkouts) {
      try {
        await quietGit(checkout.path, ['read-tree', '-m', '-u', from, to]);
        moved.push(checkout);
      } catch (error) {
        const why = (error as Error).message.trim();
        for (const done of moved) {
          await quietGit(done.path, ['read-tree', '-m', '-u', to, from]).catch((undo: unknown) =>
            this.options.log(`could not move the checkout in ${done.path} back to ${short(from)}: ${(undo as Error).message}`),
          );
        }
        noteOwnRefUpdate(this.options.repo.commonDir, `refs/heads/${policy.target}`, from);
        const back = await quietGit(this.options.repo.root, [
          'update-ref',
          '-m',
          `build-master: undo merge of ${change.id} (checkout not updatable)`,
          `refs/heads/${policy.target}`,
          from,
          to,
        ]).then(
          () => `${policy.target} was moved back to ${short(from)}`,
          (undo: unknown) => `${policy.target} could not be moved back (${(undo as Error).message.trim()})`,
        );
        this.options.log(`the checkout of ${policy.target} in ${checkout.path} could not be updated to ${short(to)}: ${why}; ${back}`);
        throw new ForgeRefusal(
          `merging ${change.id} was undone: the checkout of ${policy.target} in ${checkout.path} could not be updated (${why}); ${back}; it is retried next cycle`,
          'checkout-blocked',
        );
      }
    }
  }

  private async authorOf(sha: string): Promise<Record<string, string>> {
    const [name, email] = (await this.git.raw(['log', '-1', '--format=%an%x1f%ae', sha])).trim().split(FIELD);
    return name && email
      ? { GIT_AUTHOR_NAME: name, GIT_AUTHOR_EMAIL: email }
      : { GIT_AUTHOR_NAME: BUILD_MASTER_IDENTITY.GIT_AUTHOR_NAME, GIT_AUTHOR_EMAIL: BUILD_MASTER_IDENTITY.GIT_AUTHOR_EMAIL };
  }

  /** Worktrees (the main one included) that have the target branch checked out, their git directories, and whether they are dirty. */
  private async targetCheckouts(policy: Policy): Promise<TargetCheckout[]> {
    // -z (git 2.36+) keeps a path with a line break whole; older git lists one field per line.
    const zero = await this.git.raw(['worktree', 'list', '--porcelain', '-z']).catch(() => undefined);
    const blocks =
      zero !== undefined
        ? zero.split('\0\0').map((b) => b.split('\0'))
        : (await this.git.raw(['worktree', 'list', '--porcelain'])).split('\n\n').map((b) => b.split('\n'));
    const found: TargetCheckout[] = [];
    for (const fields of blocks) {
      const path = fields.find((f) => f.startsWith('worktree '))?.slice('worktree '.length);
      // A worktree whose folder is gone (prunable) has no checkout to keep in step.
      if (!path || !fields.includes(`branch refs/heads/${policy.target}`) || fields.includes('bare') || !existsSync(path)) continue;
      const status = await quietGit(path, ['status', '--porcelain', '--untracked-files=no']);
      const gitDir = (await quietGit(path, ['rev-parse', '--absolute-git-dir'])).trim();
      found.push({ path, gitDir, dirty: status.trim().length > 0 });
    }
    return found;
  }

  /** A merge Build Master made before a crash, found by its key among its own trusted merges (never by text alone). */
  async findMerge(key: string, policy: Policy): Promise<ForgeMergeResult | undefined> {
    const target = await this.targetSha(policy);
    for (const commit of await this.readLog(target, MERGE_HISTORY)) {
      const named = commit.trailers.get('Key');
      // The key must be the one this very merge would carry (its change and head), not text copied from another.
      if (named !== key || named !== mergeKey({ id: commit.trailers.get('Change') ?? '', headSha: commit.trailers.get('Head') ?? '' }))
        continue;
      if (await this.trusted(commit)) return { sha: commit.sha };
    }
    return undefined;
  }

  async openRevert(incident: Incident, culpritSha: string, policy: Policy): Promise<string> {
    const { repo } = this.options;
    const branch = repairBranch('revert', incident.id);
    const targetSha = await this.targetSha(policy);
    const parents = (await this.git.raw(['rev-list', '--parents', '-n', '1', culpritSha])).trim().split(' ');
    const dir = await repo.addWorktree(`revert-${incident.id}`, ['-B', branch, targetSha]);
    try {
      const git = repo.asBuildMaster(dir);
      await git.raw(['revert', '--no-commit', ...(parents.length > 2 ? ['-m', '1'] : []), culpritSha]).catch((error: unknown) => {
        throw new ForgeRefusal(
          `reverting ${short(culpritSha)} for ${incident.id} conflicts with ${policy.target}: ${(error as Error).message.trim()}; a person must revert it`,
          'revert-conflict',
        );
      });
      await git.raw([
        'commit',
        '--allow-empty',
        '-m',
        `Revert ${short(culpritSha)} for ${incident.id}\n\nThe failing checks: ${incident.failingChecks.join(', ')}.\n\n${repairLine('revert', incident.id)}`,
      ]);
    } finally {
      await repo.removeWorktree(dir);
    }
    return branch;
  }

  async changeDiff(change: string, policy: Policy): Promise<ChangeDiff> {
    const head = await this.options.repo.revParse(`refs/heads/${change}`);
    if (!head) throw new InputError(`no branch "${change}" in ${this.options.repo.root}; it may have been merged or deleted`);
    const target = await this.targetSha(policy);
    const base = (await this.git.raw(['merge-base', target, head])).trim();
    const text = await this.git.raw(['diff', '--find-renames', '--no-color', '--no-ext-diff', '--no-textconv', base, head]);
    return { change, base, head, ...parseUnifiedDiff(text) };
  }

  async changeChecks(change: string, policy: Policy): Promise<CheckRun[]> {
    const head = await this.options.repo.revParse(`refs/heads/${change}`);
    if (!head) throw new InputError(`no branch "${change}" in ${this.options.repo.root}`);
    const facts = await this.mergeFacts(await this.targetSha(policy), head);
    return this.cachedChecks(policy, `tree:${facts.tree}`, 'queued: runs when it reaches the front of its lane');
  }

  async fileAt(sha: string, path: string): Promise<string> {
    return this.git.raw(['show', `${sha}:${path}`]).catch(() => '');
  }

  /**
   * What a person needs to act on an escalation without opening state.json: the
   * suspects by name (a commit merged outside the queue by its sha) and the tail
   * of each failing check's output, indented so no line of it reads as a heading.
   */
  private incidentEvidence(policy: Policy, incident: Incident): string[] {
    const suspects = incident.suspects.map((s) =>
      s.change ? `${s.change} (${short(s.sha)})` : `commit ${short(s.sha)} (merged outside the queue)`,
    );
    const lines = [`suspects: ${suspects.length ? suspects.join(', ') : 'none known'}`];
    // The incident keeps its output's end since it opened; one recorded before that is read from the check cache.
    const tails =
      incident.output ??
      outputTails(this.cachedChecks(policy, `commit:${incident.redSha}`, '').filter((run) => incident.failingChecks.includes(run.name)));
    for (const tail of tails) {
      lines.push(
        `output of ${tail.check} at ${short(incident.redSha)} (last ${tail.lines.length} line(s)):`,
        ...tail.lines.map((line) => `    ${withoutControls(line, '?')}`),
      );
    }
    return lines;
  }

  async notify(kind: NoticeKind, decision: Decision, incident: Incident | undefined, policy: Policy): Promise<void> {
    const dir = this.options.repo.stateDir;
    mkdirSync(dir, { recursive: true });
    if (kind === 'report-flaky') {
      const text = [
        `## ${new Date(this.options.clock.now()).toISOString()} FLAKY TEST`,
        `reason: ${decision.rationale}`,
        'action required: quarantine or repair the test; it keeps failing and passing on the same commit',
        '',
      ];
      await appendFile(join(dir, 'escalations.md'), `${text.join('\n')}\n\n`);
      return;
    }
    const owners = kind === 'page-owner' && policy.owners.length ? ` ${policy.owners.join(' ')}` : '';
    const lines = [
      `## ${new Date(this.options.clock.now()).toISOString()} ${kind === 'escalate' ? 'ESCALATION' : 'PAGE'}${owners}`,
      incident
        ? `incident: ${incident.id} (${incident.failureClass}, lanes ${incident.lanes.join(', ') || 'none'}, red at ${short(incident.redSha)})`
        : '',
      `reason: ${decision.rationale}`,
      ...(incident ? this.incidentEvidence(policy, incident) : []),
      'action required: repair the lane with a fix change, revert the culprit, or run `build-master release --ack` / `resume <lane>` once resolved',
      '',
    ].filter((line) => line !== '');
    await appendFile(join(dir, 'escalations.md'), `${lines.join('\n')}\n\n`);
  }
}

/** How Build Master's own commits name their committer (`%cn <%ce>`). */
const BUILD_MASTER_COMMITTER = `${BUILD_MASTER_IDENTITY.GIT_COMMITTER_NAME} <${BUILD_MASTER_IDENTITY.GIT_COMMITTER_EMAIL}>`;

/** Where the merge facts of (target, head) are cached; `z:` marks paths read exactly (older entries had quoted paths). */
function factsKey(targetSha: string, head: string): string {
  return `z2:${head}:${targetSha}`;
}

/** NUL-separated paths as git prints them with -z: exact, never quoted. */
function paths(out: string): string[] {
  return out.split('\0').filter(Boolean);
}

/**
 * A check's result is keyed by what it ran on and by its definition (name,
 * command, timeout, environment, where its JUnit report is, whether a failure
 * runs again): adding or editing a check in the policy runs that check again,
 * and only that one. `failures` marks results read down to their failing tests.
 */
function checkKey(policy: Policy, scope: string, check: { name: string; run: string; junit?: string | undefined }): string {
  const definition = createHash('sha256')
    .update(
      JSON.stringify([
        'failures',
        check.name,
        check.run,
        policy.local.check_timeout,
        [...policy.local.env].sort(),
        check.junit ?? null,
        policy.local.rerun_failed,
      ]),
    )
    .digest('hex')
    .slice(0, 16);
  return `${scope}:check:${definition}`;
}

interface CheckoutPending {
  from: string;
  to: string;
  paths: string[];
}

const PENDING_FILE = 'checkout-pending.json';

function writeCheckoutPending(stateDir: string, pending: CheckoutPending): void {
  mkdirSync(stateDir, { recursive: true });
  const path = join(stateDir, PENDING_FILE);
  writeFileSync(`${path}.tmp`, JSON.stringify(pending));
  renameSync(`${path}.tmp`, path);
}

function readCheckoutPending(stateDir: string): CheckoutPending | undefined {
  try {
    const value = JSON.parse(readFileSync(join(stateDir, PENDING_FILE), 'utf8')) as Partial<CheckoutPending>;
    return typeof value.from === 'string' && typeof value.to === 'string' && Array.isArray(value.paths)
      ? { from: value.from, to: value.to, paths: value.paths.map(String) }
      : undefined;
  } catch {
    return undefined;
  }
}

function clearCheckoutPending(stateDir: string): void {
  rmSync(join(stateDir, PENDING_FILE), { force: true });
}

/** Control characters other than tab and line feed replaced by `by`: no branch subject or check output can split a record. */
function withoutControls(text: string, by: string): string {
  return Array.from(text, (c) => {
    const code = c.charCodeAt(0);
    return (code < 0x20 && code !== 0x09 && code !== 0x0a) || code === 0x7f ? by : c;
  }).join('');
}

function isPending(checks: readonly CheckRun[]): boolean {
  return checks.some((check) => check.conclusion === 'pending');
}

/**
 * The merge guard: the change passes its required checks by the core's one rule
 * (mergeGuard, the same judgeChecks the gate applies): every lane its paths touch, the
 * shared checks, everything for a default-lane or cross-lane change; a check is
 * let through only when it is red because of the open incident of a lane the
 * change does not touch, as the controller's state records it.
 */
export function requiredPass(
  policy: Policy,
  change: Pick<Change, 'files' | 'labels'>,
  runs: readonly CheckRun[],
  state: Pick<ControllerState, 'incidents'> | undefined,
): { ok: boolean; failing: string[] } {
  const { ok, failing } = mergeGuard(policy, change, runs, state, 'local');
  return { ok, failing };
}

/**
 * Why the branch `name` is not one of the local forge's changes, when it is a
 * branch at all (explain names it instead of "no open change").
 */
export async function whyNotAChange(repo: GitRepo, policy: Policy, name: string, emptyOnTarget: boolean): Promise<string | undefined> {
  const head = await repo.revParse(`refs/heads/${name}`);
  if (!head) return undefined;
  if (name === policy.target) return `"${name}" is the target branch: changes merge into it, it is not one`;
  const patterns = policy.local.branches;
  if (!picomatch([...patterns, ...OWN_BRANCHES])(name)) {
    const folder = name.includes('/') ? `${name.slice(0, name.lastIndexOf('/'))}/*` : name;
    return (
      `branch "${name}" is not a change: no local.branches pattern matches it (${patterns.length ? patterns.map((p) => `"${p}"`).join(', ') : 'the list is empty'}); ` +
      `add one that does to local.branches in the policy, e.g. "${folder}" (a "*" does not cross a "/")`
    );
  }
  const target = await repo.revParse(`refs/heads/${policy.target}`);
  if (target && (await repo.git.raw(['rev-list', '--count', head, `^${target}`])).trim() === '0') {
    return `branch "${name}" has nothing to merge: its head ${short(head)} is already in ${policy.target}`;
  }
  if (emptyOnTarget)
    return `branch "${name}" is not queued: merging it would leave ${policy.target} as it is (its changes are already there)`;
  return undefined;
}

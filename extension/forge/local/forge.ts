// The local forge (SPEC §8): changes are branches, checks are local commands,
// merges are commits Build Master makes itself in its own worktree and moves
// the target branch to with a compare-and-swap. The user's working tree and
// index are never touched; a clean checkout of the target is fast-forwarded.
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import picomatch from 'picomatch';
import { laneOrder } from '../../core/decide';
import { assignLane } from '../../core/classify';
import { FAILED, PASSED, requiredChecksFor, short } from '../../core/gate';
import { parseUnifiedDiff, type ChangeDiff } from '../../core/diff';
import { commitHealth } from '../../core/incident';
import type { BuildRecord, Change, CheckRun, ControllerState, Decision, Incident, Snapshot, TargetCommit } from '../../core/model';
import type { Policy } from '../../core/policy/schema';
import { ForgeRefusal, InputError, NOT_RUN_YET, type Clock, type Forge, type ForgeMergeResult, type ObserveOptions } from '../../ports';
import type { Store } from '../../store/store';
import { BUILD_MASTER_IDENTITY, quietGit, type GitRepo } from '../../git/repo';
import { runChecks } from './checks';

/** Fix and revert branches are always candidates, whatever `local.branches` says. */
const OWN_BRANCHES = ['buildmaster/fix/*', 'buildmaster/revert/*'];
const HISTORY = 50;
/** Pre-merge check runs per lane per cycle: enough to find the next mergeable change without testing the whole queue. */
const PRECHECKS_PER_LANE = 2;
const FIELD = '\x1f';
const RECORD = '\x1e';

export interface LocalForgeOptions {
  repo: GitRepo;
  store: Store;
  clock: Clock;
  log: (message: string) => void;
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
      throw new InputError(`the target branch "${policy.target}" does not exist in ${this.options.repo.root}; create it or set \`target:\` in .buildmaster.yml`);
    }
    return sha;
  }

  /** Set by a read-only observe (explain): no check runs, nothing saved. */
  private readOnly = false;

  async observe(policy: Policy, _state: ControllerState, builds: BuildRecord[], options: ObserveOptions = {}): Promise<Snapshot> {
    this.readOnly = options.readOnly ?? false;
    const targetSha = await this.targetSha(policy);
    const changes = await this.readChanges(policy, targetSha);
    await this.runPreMergeChecks(policy, targetSha, changes);
    const targetCommits = await this.readTarget(policy, targetSha);
    return {
      forge: 'local',
      target: policy.target,
      changes,
      targetCommits,
      builds,
      workers: policy.dispatch.command ? ['command'] : [],
    };
  }

  private async readChanges(policy: Policy, targetSha: string): Promise<Change[]> {
    const { store, clock } = this.options;
    const matches = picomatch([...policy.local.branches, ...OWN_BRANCHES]);
    const out = await this.git.raw([
      'for-each-ref',
      `--no-merged=${targetSha}`,
      `--format=%(refname:short)${FIELD}%(objectname)${FIELD}%(subject)${FIELD}%(authorname)${FIELD}%(authordate:unix)`,
      'refs/heads/',
    ]);
    const now = clock.now();
    const branches = out
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(FIELD) as [string, string, string, string, string])
      .filter(([name, head]) => name !== policy.target && matches(name) && store.data.merged[name]?.head !== head);
    const changes = await Promise.all(
      branches.map(async ([name, head, subject, author, authoredAt]): Promise<Change> => {
        const facts = await this.mergeFacts(targetSha, head);
        store.data.seen[name] ??= now;
        store.data.authored[name] = Number(authoredAt) * 1000;
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
          checks: store.checkResult(`tree:${facts.tree}`) ?? pendingChecks(policy, 'queued: runs when it reaches the front of its lane'),
          mergeable: facts.conflict ? 'conflicting' : 'mergeable',
          readySince: store.data.seen[name] as number,
          author,
        };
      }),
    );
    return changes.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Files against the merge base and the would-be merge tree, cached: both are immutable for (head, target). */
  private async mergeFacts(targetSha: string, head: string): Promise<{ files: string[]; tree: string; conflict: boolean }> {
    const { store, clock } = this.options;
    const key = `${head}:${targetSha}`;
    const cached = store.data.facts[key];
    if (cached?.files && cached.tree) return { files: cached.files, tree: cached.tree, conflict: cached.conflict ?? false };
    const files = (await this.git.raw(['diff', '--name-only', `${targetSha}...${head}`])).split('\n').filter(Boolean);
    const merged = (await this.git.raw(['merge-tree', '--write-tree', '--messages', targetSha, head])).split('\n');
    const tree = (merged[0] ?? '').trim();
    // A clean merge prints only the tree; a conflicted one adds the conflicted files and messages.
    const conflict = merged.slice(1).some((line) => line.trim().length > 0 && /CONFLICT|^\d{6} /.test(line));
    store.data.facts[key] = { files, tree, conflict, at: clock.now() };
    return { files, tree, conflict };
  }

  /**
   * Pre-merge checks run on the would-be merge result, keyed by its tree so a
   * result is reused until the target or the branch moves. Per lane they run in
   * merge order until one change passes: the next to merge is always tested.
   */
  private async runPreMergeChecks(policy: Policy, targetSha: string, changes: Change[]): Promise<void> {
    if (this.readOnly && policy.local.checks.length > 0) {
      for (const change of changes) if (isPending(change.checks)) change.checks = pendingChecks(policy, NOT_RUN_YET);
      return;
    }
    if (policy.local.checks.length === 0) {
      for (const change of changes) change.checks = [];
      return;
    }
    const targetRuns = this.options.store.checkResult(`commit:${targetSha}`) ?? [];
    for (const [lane, ordered] of laneOrder(policy, changes)) {
      let runs = 0;
      for (const change of ordered) {
        if (change.mergeable === 'conflicting') continue;
        if (!isPending(change.checks)) {
          if (requiredPass(policy, lane, change.checks, targetRuns).ok) break;
          continue;
        }
        if (runs >= PRECHECKS_PER_LANE) break;
        runs += 1;
        const facts = await this.mergeFacts(targetSha, change.headSha);
        this.options.log(`pre-merge checks for ${change.id} (lane ${lane}) on the merge with ${policy.target} ${short(targetSha)}`);
        change.checks = await this.checkTree(policy, facts.tree, targetSha, change.headSha);
        if (requiredPass(policy, lane, change.checks, targetRuns).ok) break;
      }
    }
  }

  private async checkTree(policy: Policy, tree: string, targetSha: string, head: string): Promise<CheckRun[]> {
    const { repo, store, clock } = this.options;
    const existing = store.checkResult(`tree:${tree}`);
    if (existing) return existing;
    const commit = (await repo.asBuildMaster().raw(['commit-tree', tree, '-p', targetSha, '-p', head, '-m', 'Build Master pre-merge check'])).trim();
    const runs = await this.timedChecks(policy, commit);
    store.setCheckResult(`tree:${tree}`, runs, clock.now());
    await store.save();
    return runs;
  }

  private async timedChecks(policy: Policy, commit: string): Promise<CheckRun[]> {
    const started = Date.now();
    let checkMs = 0;
    const runs = await this.options.repo.withReusedWorktree('checks', commit, async (dir) => {
      const from = Date.now();
      const result = await runChecks(policy.local.checks, dir, policy.local.check_timeout);
      checkMs = Date.now() - from;
      return result;
    });
    this.stats.checkRuns += 1;
    this.stats.checkMs += checkMs;
    this.stats.worktreeMs += Date.now() - started - checkMs;
    return runs;
  }

  async checkCommit(policy: Policy, sha: string): Promise<CheckRun[]> {
    const { store, clock } = this.options;
    const existing = store.checkResult(`commit:${sha}`);
    if (existing) return existing;
    const runs = policy.local.checks.length ? await this.timedChecks(policy, sha) : [];
    store.setCheckResult(`commit:${sha}`, runs, clock.now());
    await store.save();
    return runs;
  }

  private async readTarget(policy: Policy, targetSha: string): Promise<TargetCommit[]> {
    const out = await this.git.raw(['log', '--first-parent', `-n${HISTORY}`, `--format=%H${FIELD}%P${FIELD}%ct${FIELD}%s${FIELD}%B${RECORD}`, targetSha]);
    const rows = out
      .split(RECORD)
      .map((row) => row.replace(/^\n/, ''))
      .filter((row) => row.trim())
      .map((row) => row.split(FIELD) as [string, string, string, string, string])
      .reverse();
    // The target's newest commit always has its post-merge checks (a merge made elsewhere included).
    if (!this.readOnly && policy.local.checks.length && !this.options.store.checkResult(`commit:${targetSha}`)) {
      this.options.log(`post-merge checks on ${policy.target} ${short(targetSha)}`);
      await this.checkCommit(policy, targetSha);
    }
    const commits = await Promise.all(rows.map(([sha, parents, time, subject, body]) => this.targetCommit(policy, sha, parents.split(' ').filter(Boolean), Number(time) * 1000, subject, body)));
    if (!this.readOnly) await this.bisectIfNeeded(policy, commits);
    return commits;
  }

  private async targetCommit(policy: Policy, sha: string, parents: string[], time: number, subject: string, body: string): Promise<TargetCommit> {
    const { store, clock } = this.options;
    const trailer = (name: string) => new RegExp(`^${name}: (.+)$`, 'm').exec(body)?.[1]?.trim();
    const key = `files:${sha}`;
    let files = store.data.facts[key]?.files;
    if (!files) {
      const args = parents[0] ? ['diff', '--name-only', parents[0], sha] : ['show', '--name-only', '--format=', sha];
      files = (await this.git.raw(args)).split('\n').filter(Boolean);
      store.data.facts[key] = { files, at: clock.now() };
    }
    const branch = trailer('Build-Master-Branch') ?? /^Merge branch '([^']+)'/.exec(subject)?.[1];
    const id = trailer('Build-Master-Change') ?? branch ?? short(sha);
    const lane = trailer('Build-Master-Lane');
    return {
      sha,
      time,
      checks: store.checkResult(`commit:${sha}`) ?? pendingChecks(policy, 'not checked: older than Build Master’s record'),
      change: { id, files, title: subject, ...(branch ? { branch } : {}), ...(lane ? { lane } : {}), body },
    };
  }

  /**
   * The target is red and no green commit is on record: run the checks on
   * earlier commits (binary search along the first-parent history) to find the
   * last green one, so the break is attributed to the commits after it.
   */
  private async bisectIfNeeded(policy: Policy, commits: TargetCommit[]): Promise<void> {
    const head = commits[commits.length - 1];
    if (!head || policy.local.checks.length === 0 || commitHealth(head) !== 'red') return;
    if (commits.some((c) => commitHealth(c) === 'green')) return;
    let lo = -1; // newest known green
    let hi = commits.length - 1; // oldest known red
    this.options.log(`${policy.target} is red at ${short(head.sha)} with no green commit on record: bisecting ${commits.length - 1} earlier commit(s)`);
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      const commit = commits[mid] as TargetCommit;
      commit.checks = await this.checkCommit(policy, commit.sha);
      if (commitHealth(commit) === 'red') hi = mid;
      else lo = mid;
    }
    this.options.log(lo >= 0 ? `bisection: last green ${short((commits[lo] as TargetCommit).sha)}, first red ${short((commits[hi] as TargetCommit).sha)}` : 'bisection: no green commit in the last 50');
  }

  async merge(change: Change, decision: Decision, policy: Policy): Promise<ForgeMergeResult> {
    const { repo, store, clock } = this.options;
    const head = await repo.revParse(`refs/heads/${change.branch}`);
    if (head !== change.headSha) {
      throw new ForgeRefusal(`${change.id} moved from ${short(change.headSha)} to ${head ? short(head) : 'nothing'} after its checks ran; it is checked again next cycle`, 'head-moved');
    }
    const targetSha = await this.targetSha(policy);
    const facts = await this.mergeFacts(targetSha, change.headSha);
    if (facts.conflict) throw new ForgeRefusal(`${change.id} conflicts with ${policy.target} ${short(targetSha)}; restack it`, 'conflict');
    // Never merge untested: the exact tree that lands must have passed the checks.
    const checks = await this.checkTree(policy, facts.tree, targetSha, change.headSha);
    const lane = decision.lane ?? assignLane(policy, change.files).lane;
    const verdict = requiredPass(policy, lane, checks, store.checkResult(`commit:${targetSha}`) ?? []);
    if (!verdict.ok) {
      throw new ForgeRefusal(`${change.id} does not pass ${verdict.failing.join(', ')} on the current ${policy.target} ${short(targetSha)}; it is not merged untested`, 'checks-failed');
    }
    const checkouts = await this.targetCheckouts(policy);
    const dirty = checkouts.find((c) => c.dirty);
    if (dirty) {
      throw new ForgeRefusal(`${policy.target} is checked out with uncommitted changes in ${dirty.path}; merging waits until that worktree is clean`, 'target-dirty');
    }
    const message = [
      `Merge ${change.branch} into ${policy.target} (lane ${lane})`,
      '',
      change.title,
      '',
      `Build-Master-Change: ${change.id}`,
      `Build-Master-Branch: ${change.branch}`,
      `Build-Master-Lane: ${lane}`,
      `Build-Master-Key: ${decision.key ?? ''}`,
    ].join('\n');
    const parents = policy.merge.method === 'merge' ? ['-p', targetSha, '-p', change.headSha] : ['-p', targetSha];
    const author = policy.merge.method === 'merge' ? {} : await this.authorOf(change.headSha);
    const sha = (await repo.asBuildMaster(repo.root, author).raw(['commit-tree', facts.tree, ...parents, '-m', message])).trim();
    // Compare-and-swap: the target moves only if it is still where the checks saw it.
    try {
      await quietGit(repo.root, ['update-ref', '-m', `build-master: merge ${change.id}`, `refs/heads/${policy.target}`, sha, targetSha]);
    } catch (error) {
      throw new ForgeRefusal(`${policy.target} moved while ${change.id} was merging; it is retried next cycle (${(error as Error).message.trim()})`, 'target-moved');
    }
    for (const checkout of checkouts) {
      await quietGit(checkout.path, ['read-tree', '-m', '-u', targetSha, sha])
        .catch((error: Error) => this.options.log(`could not fast-forward the checkout of ${policy.target} in ${checkout.path}: ${error.message}`));
    }
    store.data.merged[change.id] = { head: change.headSha, sha, at: clock.now() };
    await store.save();
    this.options.log(`merged ${change.id} as ${short(sha)}; post-merge checks on ${policy.target}`);
    await this.checkCommit(policy, sha);
    return { sha };
  }

  private async authorOf(sha: string): Promise<Record<string, string>> {
    const [name, email] = (await this.git.raw(['log', '-1', '--format=%an%x1f%ae', sha])).trim().split(FIELD);
    return name && email ? { GIT_AUTHOR_NAME: name, GIT_AUTHOR_EMAIL: email } : { GIT_AUTHOR_NAME: BUILD_MASTER_IDENTITY.GIT_AUTHOR_NAME, GIT_AUTHOR_EMAIL: BUILD_MASTER_IDENTITY.GIT_AUTHOR_EMAIL };
  }

  /** Worktrees (the main one included) that have the target branch checked out, and whether they are dirty. */
  private async targetCheckouts(policy: Policy): Promise<{ path: string; dirty: boolean }[]> {
    const out = await this.git.raw(['worktree', 'list', '--porcelain']);
    const found: { path: string; dirty: boolean }[] = [];
    for (const block of out.split('\n\n')) {
      const path = /^worktree (.+)$/m.exec(block)?.[1];
      if (!path || !block.includes(`branch refs/heads/${policy.target}`) || /^bare$/m.test(block)) continue;
      const status = await quietGit(path, ['status', '--porcelain', '--untracked-files=no']);
      found.push({ path, dirty: status.trim().length > 0 });
    }
    return found;
  }

  async findMerge(key: string, policy: Policy): Promise<ForgeMergeResult | undefined> {
    const out = await this.git.raw(['log', '--first-parent', '-n500', `--format=%H${FIELD}%B${RECORD}`, `refs/heads/${policy.target}`]);
    for (const row of out.split(RECORD)) {
      const [sha, body] = row.replace(/^\n/, '').split(FIELD);
      if (sha && body?.split('\n').some((line) => line.trim() === `Build-Master-Key: ${key}`)) return { sha: sha.trim() };
    }
    return undefined;
  }

  async openRevert(incident: Incident, culpritSha: string, policy: Policy): Promise<string> {
    const { repo } = this.options;
    const branch = `buildmaster/revert/${incident.id}`;
    const targetSha = await this.targetSha(policy);
    const parents = (await this.git.raw(['rev-list', '--parents', '-n', '1', culpritSha])).trim().split(' ');
    const dir = await repo.addWorktree(`revert-${incident.id}`, ['-B', branch, targetSha]);
    try {
      const git = repo.asBuildMaster(dir);
      await git.raw(['revert', '--no-commit', ...(parents.length > 2 ? ['-m', '1'] : []), culpritSha]).catch((error: Error) => {
        throw new ForgeRefusal(`reverting ${short(culpritSha)} for ${incident.id} conflicts with ${policy.target}: ${error.message.trim()}; a person must revert it`, 'revert-conflict');
      });
      await git.raw(['commit', '--allow-empty', '-m', `Revert ${short(culpritSha)} for ${incident.id}\n\nThe failing checks: ${incident.failingChecks.join(', ')}.\n\nbuildmaster:revert ${incident.id}`]);
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
    const text = await this.git.raw(['diff', '--find-renames', '--no-color', '--no-ext-diff', base, head]);
    return { change, base, head, ...parseUnifiedDiff(text) };
  }

  async changeChecks(change: string, policy: Policy): Promise<CheckRun[]> {
    const head = await this.options.repo.revParse(`refs/heads/${change}`);
    if (!head) throw new InputError(`no branch "${change}" in ${this.options.repo.root}`);
    const facts = await this.mergeFacts(await this.targetSha(policy), head);
    return this.options.store.checkResult(`tree:${facts.tree}`) ?? pendingChecks(policy, 'queued: runs when it reaches the front of its lane');
  }

  async fileAt(sha: string, path: string): Promise<string> {
    return this.git.raw(['show', `${sha}:${path}`]).catch(() => '');
  }

  async notify(kind: 'escalate' | 'page-owner', decision: Decision, incident: Incident | undefined, policy: Policy): Promise<void> {
    const dir = this.options.repo.stateDir;
    mkdirSync(dir, { recursive: true });
    const owners = kind === 'page-owner' && policy.owners.length ? ` ${policy.owners.join(' ')}` : '';
    const lines = [
      `## ${new Date(this.options.clock.now()).toISOString()} ${kind === 'escalate' ? 'ESCALATION' : 'PAGE'}${owners}`,
      incident ? `incident: ${incident.id} (${incident.failureClass}, lanes ${incident.lanes.join(', ') || 'none'}, red at ${short(incident.redSha)})` : '',
      `reason: ${decision.rationale}`,
      'action required: repair the lane with a fix change, revert the culprit, or run `build-master release --ack` / `resume <lane>` once resolved',
      '',
    ].filter((line) => line !== '');
    appendFileSync(join(dir, 'escalations.md'), `${lines.join('\n')}\n\n`);
  }
}

function pendingChecks(policy: Policy, output: string): CheckRun[] {
  return policy.local.checks.map((check) => ({ name: check.name, conclusion: 'pending' as const, output }));
}

function isPending(checks: readonly CheckRun[]): boolean {
  return checks.some((check) => check.conclusion === 'pending');
}

/**
 * The change's required checks (its lane's own plus the shared ones, SPEC §3.1)
 * all pass. A shared check already red on the target is let through (it is
 * another lane's break, and this merge does not make it worse); the lane's own
 * checks always have to pass, so a fix that does not fix is never merged.
 */
export function requiredPass(policy: Policy, lane: string, runs: readonly CheckRun[], targetRuns: readonly CheckRun[]): { ok: boolean; failing: string[] } {
  const own = new Set(policy.lanes.find((l) => l.name === lane)?.checks ?? []);
  const redOnTarget = new Set(targetRuns.filter((run) => FAILED.has(run.conclusion) && !own.has(run.name)).map((run) => run.name));
  const failing = requiredChecksFor(policy, lane, runs)
    .names.filter((name) => !redOnTarget.has(name))
    .filter((name) => {
      const run = runs.find((r) => r.name === name);
      return !run || !PASSED.has(run.conclusion);
    });
  return { ok: failing.length === 0, failing };
}

// Every git call Build Master makes goes through here: one simple-git client
// with a concurrency limit and a timeout, so a hung git never hangs a cycle.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import { simpleGit, type SimpleGit } from 'simple-git';
import { killProcessesIn } from '../process/run';

/** Build Master's own identity for the commits it makes (merges, fixes, reverts). */
export const BUILD_MASTER_IDENTITY = {
  GIT_AUTHOR_NAME: 'Build Master',
  GIT_AUTHOR_EMAIL: 'build-master@localhost',
  GIT_COMMITTER_NAME: 'Build Master',
  GIT_COMMITTER_EMAIL: 'build-master@localhost',
};

const GIT_TIMEOUT_MS = 120_000;

/**
 * The environment git runs with: a short whitelist of the user's (where to find
 * programs, home and locale), never GIT_* or EDITOR/PAGER-style variables that
 * would redirect git or make it run other programs. simple-git's guard refuses
 * those anyway.
 */
const PASSED_THROUGH = /^(PATH|HOME|USER|LOGNAME|LANG|LANGUAGE|LC_[A-Z]+|TZ|TMPDIR|TEMP|TMP|SystemRoot|XDG_CONFIG_HOME)$/;

export function gitEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && PASSED_THROUGH.test(key)) env[key] = value;
  }
  // No replace refs: a `refs/replace/*` planted by a check or a fix would change what every sha Build Master reads means.
  return { ...env, GIT_TERMINAL_PROMPT: '0', GIT_NO_REPLACE_OBJECTS: '1', ...extra };
}

/** The only GIT_* variables Build Master sets itself: its identity, no prompts, no replace objects. */
const ALLOWED_GIT_ENV = [
  'GIT_TERMINAL_PROMPT',
  'GIT_NO_REPLACE_OBJECTS',
  'GIT_AUTHOR_NAME',
  'GIT_AUTHOR_EMAIL',
  'GIT_COMMITTER_NAME',
  'GIT_COMMITTER_EMAIL',
];

let noHooks: string | undefined;

/**
 * Where Build Master's git calls look for hooks: nowhere anyone can plant one.
 * `/dev/null` is not a directory, so no hook path under it exists; elsewhere an
 * empty directory of its own, made once per process.
 */
function noHooksDir(): string {
  noHooks ??= process.platform === 'win32' ? mkdtempSync(join(tmpdir(), 'build-master-no-hooks-')) : '/dev/null';
  return noHooks;
}

/**
 * Configuration every git process Build Master runs is given on its command
 * line (which wins over any repository config a worker or a branch could
 * plant): no hooks, no fsmonitor program, paths printed as they are. Diffs
 * are read with --no-ext-diff/--no-textconv, so no external program runs.
 */
export function hardenedConfig(): string[] {
  return [`core.hooksPath=${noHooksDir()}`, 'core.fsmonitor=false', 'core.quotePath=false'];
}

export function client(dir: string, env: Record<string, string> = {}): SimpleGit {
  return simpleGit({
    baseDir: dir,
    maxConcurrentProcesses: 4,
    timeout: { block: GIT_TIMEOUT_MS },
    allowEnvironment: ALLOWED_GIT_ENV,
    config: hardenedConfig(),
    // simple-git refuses these keys in `config` unless allowed: here they switch the programs off.
    unsafe: { allowUnsafeHooksPath: true, allowUnsafeFsMonitor: true },
  }).env(gitEnv(env));
}

/**
 * Runs a git command that prints nothing on success (clean, update-ref,
 * read-tree, status of a clean tree). simple-git waits a fixed 50 ms after any
 * command that printed nothing before it resolves; on the merge path those add
 * up, so these few go through execFile with the same environment and timeout.
 */
export function quietGit(dir: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      'git',
      [...hardenedConfig().flatMap((entry) => ['-c', entry]), ...args],
      { cwd: dir, env: gitEnv(env), timeout: GIT_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`git ${args.join(' ')}: ${stderr.trim() || error.message}`));
        else resolvePromise(stdout);
      },
    );
  });
}

export class GitRepo {
  readonly git: SimpleGit;

  private constructor(
    readonly root: string,
    /** The shared git directory (the same from every worktree). */
    readonly commonDir: string,
  ) {
    this.git = client(root);
  }

  static async open(dir: string): Promise<GitRepo> {
    const abs = resolve(dir);
    if (!existsSync(abs)) throw new RepoError(`no such directory: ${dir}`);
    const probe = client(abs);
    let top: string;
    let common: string;
    try {
      top = (await probe.raw(['rev-parse', '--show-toplevel'])).trim();
      common = (await probe.raw(['rev-parse', '--git-common-dir'])).trim();
    } catch {
      throw new RepoError(`${abs} is not inside a git repository (run build-master with --repo pointing at one)`);
    }
    if (!top) throw new RepoError(`${abs} is not inside a git work tree`);
    return new GitRepo(top, isAbsolute(common) ? common : resolve(top, common));
  }

  /** Where Build Master keeps its store, lock and worktrees: under the git directory, never tracked. */
  get stateDir(): string {
    return join(this.commonDir, 'buildmaster');
  }

  async revParse(ref: string): Promise<string | undefined> {
    const out = await this.git.raw(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]).catch(() => '');
    return out.trim() || undefined;
  }

  /** Runs git with Build Master's identity (for the commits it makes itself). */
  asBuildMaster(dir = this.root, extra: Record<string, string> = {}): SimpleGit {
    return client(dir, { ...BUILD_MASTER_IDENTITY, ...extra });
  }

  /**
   * A worktree kept between uses and moved to `commit` each time (checkout and
   * clean are much cheaper than adding and removing a worktree per check run).
   * Only one controller acts at a time (the lock), so one such worktree suffices.
   * What ran in it before cannot reach the next use: processes still working in
   * it are killed first, a `.git` link a command rewrote makes it be recreated,
   * and git is pointed at its own admin directory explicitly, without hooks.
   */
  async withReusedWorktree<T>(name: string, commit: string, work: (dir: string) => Promise<T>): Promise<T> {
    const dir = join(this.stateDir, 'worktrees', name);
    await killProcessesIn(dir);
    let ready = false;
    const admin = this.adminDirOf(dir);
    if (admin) {
      const git = (args: string[]) =>
        quietGit(dir, [
          '-c',
          'core.hooksPath=/dev/null',
          '-c',
          'core.fsmonitor=false',
          `--git-dir=${admin}`,
          `--work-tree=${dir}`,
          ...args,
        ]);
      // The index and the worktree's own config and sparse-checkout patterns are the last run's:
      // a skip-worktree or assume-unchanged flag it set would let a file it rewrote survive
      // `checkout --force`. Drop them, so the checkout is built from the commit alone.
      for (const stale of ['index', 'info', 'config.worktree']) rmSync(join(admin, stale), { recursive: true, force: true });
      ready = await git(['checkout', '--quiet', '--detach', '--force', commit])
        .then(() => git(['clean', '-qffdx']))
        .then(() => true)
        .catch(() => false);
    }
    if (!ready) await this.addWorktree(name, ['--detach', commit]);
    return work(dir);
  }

  /** The admin directory of a worktree Build Master added, if its `.git` link still names it and it names the worktree back. */
  private adminDirOf(dir: string): string | undefined {
    try {
      const link = /^gitdir: (.+)$/m.exec(readFileSync(join(dir, '.git'), 'utf8'))?.[1]?.trim();
      if (!link) return undefined;
      const admin = resolve(dir, link);
      const worktrees = realpathSync(join(this.commonDir, 'worktrees'));
      if (dirname(realpathSync(admin)) !== worktrees) return undefined;
      if (readFileSync(join(admin, 'commondir'), 'utf8').trim() !== '../..') return undefined;
      if (realpathSync(dirname(readFileSync(join(admin, 'gitdir'), 'utf8').trim())) !== realpathSync(dir)) return undefined;
      return admin;
    } catch {
      return undefined;
    }
  }

  async addWorktree(name: string, args: string[]): Promise<string> {
    const base = join(this.stateDir, 'worktrees');
    mkdirSync(base, { recursive: true });
    const dir = join(base, name);
    if (existsSync(dir)) await this.removeWorktree(dir);
    await this.git.raw(['worktree', 'add', '--quiet', ...args.slice(0, -1), dir, ...args.slice(-1)]);
    return dir;
  }

  async removeWorktree(dir: string): Promise<void> {
    await this.git.raw(['worktree', 'remove', '--force', dir]).catch(() => undefined);
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    await this.git.raw(['worktree', 'prune']).catch(() => undefined);
  }
}

export class RepoError extends Error {}

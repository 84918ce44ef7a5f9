// Plumbing on the bare repository behind the test GitHub server: commits are
// written without a worktree (a temporary index), so tests and the server can
// make real commits, merges and trees quickly and deterministically.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const IDENTITY = {
  GIT_AUTHOR_NAME: 'Test Author',
  GIT_AUTHOR_EMAIL: 'author@example.com',
  GIT_COMMITTER_NAME: 'GitHub',
  GIT_COMMITTER_EMAIL: 'noreply@github.com',
};

/** Reading commands whose output depends only on the objects named, never on refs. */
const PURE_COMMANDS = new Set(['rev-parse', 'rev-list', 'diff', 'show', 'ls-tree', 'cat-file', 'merge-base', 'merge-tree']);

/**
 * Whether a command's output can never change: a reading command whose every
 * revision argument starts with a full object id (`<sha>`, `<sha>^{tree}`,
 * `<sha>:path`, `<a>...<b>`), so no ref can move under it.
 */
function immutable(args: readonly string[]): boolean {
  if (!PURE_COMMANDS.has(args[0] ?? '')) return false;
  let paths = false;
  return args.slice(1).every((arg) => {
    if (paths) return true;
    if (arg === '--') return (paths = true);
    return arg.startsWith('-') || /^[0-9a-f]{40}(?:$|[\^~:.])/.test(arg);
  });
}

export class BareRepo {
  /**
   * Outputs of immutable reads: the test server answers every request from git,
   * and a process spawn per repeated read made a cycle's cost grow with the
   * machine's load (a fork of a large Node process is slow on a busy machine).
   */
  private readonly memo = new Map<string, string>();

  constructor(readonly dir: string) {}

  static init(dir: string, branch = 'main'): BareRepo {
    execFileSync('git', ['init', '--quiet', '--bare', `--initial-branch=${branch}`, dir]);
    return new BareRepo(dir);
  }

  git(args: string[], options: { input?: string; env?: Record<string, string> } = {}): string {
    const key = options.input === undefined && options.env === undefined && immutable(args) ? args.join('\0') : undefined;
    const known = key === undefined ? undefined : this.memo.get(key);
    if (known !== undefined) return known;
    const out = execFileSync('git', args, {
      cwd: this.dir,
      encoding: 'utf8',
      input: options.input ?? '',
      env: { ...cleanEnv(), ...IDENTITY, ...options.env },
      maxBuffer: 64 * 1024 * 1024,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    if (key !== undefined) this.memo.set(key, out);
    return out;
  }

  tryGit(args: string[]): string | undefined {
    try {
      return this.git(args);
    } catch {
      return undefined;
    }
  }

  refs(): Map<string, string> {
    const out = this.git(['for-each-ref', '--format=%(refname:short) %(objectname)', 'refs/heads/']);
    return new Map(
      out
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split(' ') as [string, string]),
    );
  }

  /** The commit a ref or sha names, or undefined. */
  resolve(ref: string): string | undefined {
    return this.tryGit(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`])?.trim() || undefined;
  }

  /** A tree from `parent`'s with `files` written (null deletes). */
  tree(parentTree: string | undefined, files: Record<string, string | null>): string {
    const scratch = mkdtempSync(join(tmpdir(), 'bm-index-'));
    const env = { GIT_INDEX_FILE: join(scratch, 'index') };
    try {
      if (parentTree) this.git(['read-tree', parentTree], { env });
      for (const [path, content] of Object.entries(files)) {
        if (content === null) this.remove(path, env);
        else {
          const blob = this.git(['hash-object', '-w', '--stdin'], { input: content }).trim();
          this.git(['update-index', '--add', '--cacheinfo', `100644,${blob},${path}`], { env });
        }
      }
      return this.git(['write-tree'], { env }).trim();
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }

  /** A tree from `baseTree` with entries set to blob shas (null deletes). */
  treeFromEntries(baseTree: string | undefined, entries: { path: string; mode: string; sha: string | null }[]): string {
    const scratch = mkdtempSync(join(tmpdir(), 'bm-index-'));
    const env = { GIT_INDEX_FILE: join(scratch, 'index') };
    try {
      if (baseTree) this.git(['read-tree', baseTree], { env });
      for (const entry of entries) {
        if (entry.sha === null) this.remove(entry.path, env);
        else this.git(['update-index', '--add', '--cacheinfo', `${entry.mode},${entry.sha},${entry.path}`], { env });
      }
      return this.git(['write-tree'], { env }).trim();
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }

  /** Drops a path from the index (`--force-remove` needs a work tree; a zero-mode index entry does not). */
  private remove(path: string, env: Record<string, string>): void {
    this.git(['update-index', '--index-info'], { env, input: `0 ${'0'.repeat(40)}\t${path}\n` });
  }

  commitTree(tree: string, parents: string[], message: string, author?: { name: string; email: string }): string {
    const env: Record<string, string> = author ? { GIT_AUTHOR_NAME: author.name, GIT_AUTHOR_EMAIL: author.email } : {};
    return this.git(['commit-tree', tree, ...parents.flatMap((p) => ['-p', p]), '-m', message], { env }).trim();
  }

  /** Commits `files` on `branch` (created from `from` when missing) and moves the branch. */
  commit(branch: string, files: Record<string, string | null>, message: string, from?: string): string {
    const parent = this.resolve(`refs/heads/${branch}`) ?? (from ? this.resolve(from) : undefined);
    const tree = this.tree(parent ? `${parent}^{tree}` : undefined, files);
    const sha = this.commitTree(tree, parent ? [parent] : [], message);
    this.git(['update-ref', `refs/heads/${branch}`, sha]);
    return sha;
  }

  /** The tree of a clean three-way merge of `head` into `base`, or undefined on a conflict. */
  mergeTree(base: string, head: string): string | undefined {
    try {
      return this.git(['merge-tree', '--write-tree', base, head]).split('\n')[0]?.trim();
    } catch {
      return undefined;
    }
  }
}

/** The environment without inherited GIT_* variables (a hook's GIT_DIR would redirect every command). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('GIT_')) delete env[key];
  return env;
}

// What a fix command could do to the repository outside its worktree, looked
// at before and after it runs: every ref, the git configuration (every scope
// git reads), the hooks and info directories, and the user's checkouts (their
// HEAD and their changed files). A process running as the user cannot be
// stopped from writing these; it can be caught, and the refs Build Master acts
// on put back.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { quietGit } from '../git/repo';

const GIT = ['-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false', '-c', 'core.quotePath=false', '--no-optional-locks'];
const ZERO = '0000000000000000000000000000000000000000';

export interface RepoSnapshot {
  refs: Map<string, string>;
  /** `git config --list --show-origin`: every scope and include git reads. */
  config: string;
  /** Digests of every file under the hooks directory and `.git/info`. */
  files: Map<string, string>;
  /** Per user checkout: its HEAD and a digest of each file `git status` lists. */
  checkouts: Map<string, Map<string, string>>;
}

export interface Breach {
  /** Refs created, moved or deleted: name → [before, after] (ZERO = absent). */
  refs: [string, string, string][];
  config: boolean;
  files: string[];
  /** Checkout path → paths whose state changed. */
  checkouts: [string, string[]][];
}

export async function snapshot(root: string, commonDir: string, stateDir: string, options: { checkouts?: boolean } = {}): Promise<RepoSnapshot> {
  const ownWorktrees = join(stateDir, 'worktrees');
  const git = (args: string[], cwd = root) => quietGit(cwd, [...GIT, ...args]);
  const refs = new Map<string, string>();
  for (const line of (await git(['for-each-ref', '--format=%(objectname) %(refname)'])).split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0) refs.set(line.slice(space + 1), line.slice(0, space));
  }
  // Without GIT's own `-c` settings: those would show as configuration (and hide the real hooks path).
  const config = withoutCommandLine(await quietGit(root, ['config', '--list', '--show-origin', '-z']).catch((error: Error) => `unreadable: ${error.message}`));
  const hooksPath = /(?:^|\0|\n)core\.hookspath\n([^\0]*)/i.exec(config)?.[1];
  const files = new Map<string, string>();
  const hooks = hooksPath ? resolve(root, hooksPath) : join(commonDir, 'hooks');
  digestTree(hooks, 'hooks', files);
  digestTree(join(commonDir, 'info'), 'info', files);
  // Objects borrowed from elsewhere would change what every sha means.
  files.set('objects/info/alternates', digestFile(join(commonDir, 'objects', 'info', 'alternates')));
  // Build Master's own memory (state, log, lock, escalations): nothing else writes it while a fix runs.
  digestTree(stateDir, 'buildmaster', files, 0, new Set(['worktrees']));
  const checkouts = new Map<string, Map<string, string>>();
  if (options.checkouts === false) return { refs, config, files, checkouts };
  const list = await git(['worktree', 'list', '--porcelain', '-z']);
  for (const block of list.split('\0\0')) {
    const fields = block.split('\0');
    const path = fields.find((f) => f.startsWith('worktree '))?.slice('worktree '.length);
    if (!path || fields.includes('bare') || inside(ownWorktrees, path)) continue;
    const state = new Map<string, string>();
    state.set('(HEAD)', fields.filter((f) => f.startsWith('HEAD ') || f.startsWith('branch ') || f === 'detached').join(' '));
    const status = await git(['status', '--porcelain=v1', '-z', '--untracked-files=all', '--no-renames'], path).catch(() => '');
    for (const entry of status.split('\0').filter(Boolean)) {
      const file = entry.slice(3);
      state.set(file, `${entry.slice(0, 2)} ${digestFile(join(path, file))}`);
    }
    checkouts.set(path, state);
  }
  return { refs, config, files, checkouts };
}

/**
 * The repository's own configuration: `--show-origin -z` prints `origin\0key\nvalue\0`
 * pairs, and the `-c` settings Build Master gives every git call come back as
 * `command line:` entries, which would hide the real hooks path.
 */
function withoutCommandLine(listing: string): string {
  if (listing.startsWith('unreadable:')) return listing;
  const fields = listing.split('\0');
  const kept: string[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if ((fields[i] as string).startsWith('command line:')) continue;
    kept.push(fields[i] as string, fields[i + 1] as string);
  }
  return kept.join('\0');
}

/** What changed between two snapshots; `given` are the refs the worker may move (none, for a detached worktree). */
export function compare(before: RepoSnapshot, after: RepoSnapshot, given: readonly string[] = []): Breach {
  const refs: [string, string, string][] = [];
  for (const name of new Set([...before.refs.keys(), ...after.refs.keys()])) {
    if (given.includes(name)) continue;
    const was = before.refs.get(name) ?? ZERO;
    const is = after.refs.get(name) ?? ZERO;
    if (was !== is) refs.push([name, was, is]);
  }
  const files = [...new Set([...before.files.keys(), ...after.files.keys()])].filter((f) => before.files.get(f) !== after.files.get(f));
  const checkouts: [string, string[]][] = [];
  for (const [path, state] of after.checkouts) {
    const earlier = before.checkouts.get(path) ?? new Map<string, string>();
    const changed = [...new Set([...earlier.keys(), ...state.keys()])].filter((f) => earlier.get(f) !== state.get(f));
    if (changed.length) checkouts.push([path, changed]);
  }
  return { refs, config: before.config !== after.config, files, checkouts };
}

/** A breach that fails the fix: refs, configuration or hooks. Checkout changes are reported only (the user may have made them). */
export function isFatal(breach: Breach): boolean {
  return breach.refs.length > 0 || breach.config || breach.files.length > 0;
}

/**
 * What a check must never do: move the target or Build Master's own branches,
 * or change git's configuration, hooks, alternates or Build Master's state. A
 * check runs the code under test, so this is the same containment as a fix
 * command's; other branches are left out because agents move their own
 * branches all the time while checks run.
 */
export function checkBreach(breach: Breach, target: string): Breach {
  const refs = breach.refs.filter(([name]) => name === `refs/heads/${target}` || name.startsWith('refs/heads/buildmaster/'));
  return { refs, config: breach.config, files: breach.files, checkouts: [] };
}

/**
 * Puts back, with a compare-and-swap each, the refs Build Master acts on: the
 * target and its own `refs/heads/buildmaster/` branches. Other refs (the
 * user's branches, tags, remotes, the stash) are only reported: they may have
 * moved by the user's hand meanwhile, and undoing that could lose work.
 */
export async function restoreRefs(root: string, breach: Breach, target: string, options: { created?: boolean } = {}): Promise<{ restored: string[]; reported: string[] }> {
  const restored: string[] = [];
  const reported: string[] = [];
  for (const [name, was, is] of breach.refs) {
    // A ref that did not exist before the command ran is its own creation: deleting it
    // loses nothing of anyone else's, and leaving it would let it merge as a change.
    const made = options.created === true && was === ZERO;
    if (!made && name !== `refs/heads/${target}` && !name.startsWith('refs/heads/buildmaster/')) {
      reported.push(name);
      continue;
    }
    const args = was === ZERO ? ['update-ref', '-d', name, is] : ['update-ref', '-m', 'build-master: undo a move by a fix command', name, was, is];
    const ok = await quietGit(root, [...GIT, ...args]).then(
      () => true,
      () => false,
    );
    (ok ? restored : reported).push(name);
  }
  return { restored, reported };
}

export function describeBreach(breach: Breach): string[] {
  const short = (sha: string) => (sha === ZERO ? 'nothing' : sha.slice(0, 7));
  return [
    ...breach.refs.map(([name, was, is]) => `${name} ${was === ZERO ? 'created at' : is === ZERO ? 'deleted from' : `moved from ${short(was)} to`} ${was === ZERO ? short(is) : is === ZERO ? short(was) : short(is)}`),
    ...(breach.config ? ['the git configuration changed'] : []),
    ...breach.files.map((file) => `${file} changed`),
  ];
}

function inside(dir: string, path: string): boolean {
  const rel = relative(resolve(dir), resolve(path));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

function digestFile(path: string): string {
  try {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return `link:${readlinkSync(path)}`;
    if (stat.isDirectory()) return 'dir';
    if (stat.size > 8 * 1024 * 1024) return `big:${stat.size}:${stat.mtimeMs}`;
    return `${stat.mode.toString(8)}:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
  } catch {
    return 'absent';
  }
}

function digestTree(dir: string, label: string, into: Map<string, string>, depth = 0, skip: ReadonlySet<string> = new Set()): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names.slice(0, 1000)) {
    if (skip.has(name)) continue;
    const path = join(dir, name);
    const key = `${label}${sep}${name}`;
    const digest = digestFile(path);
    into.set(key, digest);
    if (digest === 'dir' && depth < 4) digestTree(path, key, into, depth + 1);
  }
}

// What a fix command could do to the repository outside its worktree, looked
// at before and after it runs: every ref, the git configuration (every scope
// git reads), the hooks and info directories, and the user's checkouts (their
// HEAD and their changed files). A process running as the user cannot be
// stopped from writing these; it can be caught, and the refs Build Master acts
// on put back. Also the policy in every user checkout (its content and index
// flags: Build Master reads its rules from there) and the object store (a loose
// object or pack rewritten in place changes committed content without moving a
// ref: git does not verify hashes on read).
import { createHash } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { inflateSync } from 'node:zlib';
import { quietGit } from '../git/repo';

/** The files Build Master reads its policy from, in every checkout. */
export const POLICY_FILES = ['.buildmaster.yml', '.buildmaster.yaml', '.github/buildmaster.yml', '.github/buildmaster.yaml'] as const;
/** The object store is walked up to this many entries; a store larger than that is checked in its first part only. */
const OBJECT_WALK_LIMIT = 500_000;
/** Pack indexes are kept (to tell a repack from a deletion) while they total less than this. */
const PACK_INDEX_KEEP_BYTES = 16 * 1024 * 1024;
/** Larger policy files are not kept for restoring (a policy is a few kilobytes). */
const POLICY_KEEP_BYTES = 1024 * 1024;

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
  /** Per user checkout and policy file: its content (to restore) and its index entry with flags (`ls-files -v -s`). */
  policies: Map<string, Map<string, PolicyFileState>>;
  /** Every entry under the object store: `objects/…` path → kind, size, mtime and inode. */
  objects: Map<string, string>;
  /** `sha1` or `sha256`: how a loose object's name is computed from its content. */
  objectFormat: string;
  /** The bytes of each pack index (`objects/pack/…idx`), while small enough: which objects a pack that goes away held. */
  packIndexes: Map<string, Buffer>;
  commonDir: string;
}

export interface PolicyFileState {
  /** `absent`, `link:<target>` or `file:<mode>`, with a digest of the content read through links. */
  digest: string;
  /** The `ls-files -v -s` line (tag letter, mode, blob, stage), or '' when the index has no entry. */
  index: string;
  /** What to write back: the link target or the bytes (absent when too big). */
  link?: string;
  content?: Buffer;
}

/** A user checkout's policy file that changed: its checkout, its path, what changed. */
export interface PolicyBreach {
  checkout: string;
  file: string;
  content: boolean;
  index: boolean;
}

export interface Breach {
  /** Refs created, moved or deleted: name → [before, after] (ZERO = absent). */
  refs: [string, string, string][];
  config: boolean;
  files: string[];
  /** Checkout path → paths whose state changed. */
  checkouts: [string, string[]][];
  /** Policy files changed in a user checkout (content or index flags). */
  policies: PolicyBreach[];
  /** Tampering found in the object store: one sentence per object or pack. */
  objects: string[];
}

export async function snapshot(
  root: string,
  commonDir: string,
  stateDir: string,
  options: { checkouts?: boolean } = {},
): Promise<RepoSnapshot> {
  const ownWorktrees = join(stateDir, 'worktrees');
  const git = (args: string[], cwd = root) => quietGit(cwd, [...GIT, ...args]);
  const refs = new Map<string, string>();
  for (const line of (await git(['for-each-ref', '--format=%(objectname) %(refname)'])).split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0) refs.set(line.slice(space + 1), line.slice(0, space));
  }
  // Without GIT's own `-c` settings: those would show as configuration (and hide the real hooks path).
  const config = withoutCommandLine(
    await quietGit(root, ['config', '--list', '--show-origin', '-z']).catch((error: unknown) => `unreadable: ${(error as Error).message}`),
  );
  const hooksPath = /(?:^|\0|\n)core\.hookspath\n([^\0]*)/i.exec(config)?.[1];
  const files = new Map<string, string>();
  const hooks = hooksPath ? resolve(root, hooksPath) : join(commonDir, 'hooks');
  digestTree(hooks, 'hooks', files);
  // `info/refs` is regenerated by every gc (for dumb HTTP); git never reads it locally.
  digestTree(join(commonDir, 'info'), 'info', files, 0, new Set(['refs']));
  // Objects borrowed from elsewhere would change what every sha means.
  files.set('objects/info/alternates', digestFile(join(commonDir, 'objects', 'info', 'alternates')));
  // Shallow boundaries hide parents from every history walk.
  files.set('shallow', digestFile(join(commonDir, 'shallow')));
  // Build Master's own memory (state, log, lock, escalations): nothing else writes it while a fix runs.
  // Left out: its worktrees, and the outcomes task workers leave as they finish (they run beside checks;
  // a result read back from there is checked again against git before it counts: workers/task/results.ts).
  digestTree(stateDir, 'buildmaster', files, 0, new Set(['worktrees', 'task-results']));
  const objectFormat = (await git(['rev-parse', '--show-object-format']).catch(() => 'sha1')).trim() || 'sha1';
  const objects = statObjects(join(commonDir, 'objects'));
  const packIndexes = readPackIndexes(commonDir, objects);
  const checkouts = new Map<string, Map<string, string>>();
  const policies = new Map<string, Map<string, PolicyFileState>>();
  const list = await git(['worktree', 'list', '--porcelain', '-z']);
  for (const block of list.split('\0\0')) {
    const fields = block.split('\0');
    const path = fields.find((f) => f.startsWith('worktree '))?.slice('worktree '.length);
    if (!path || fields.includes('bare') || inside(ownWorktrees, path)) continue;
    policies.set(path, await policyState(path));
    if (options.checkouts === false) continue;
    const state = new Map<string, string>();
    state.set('(HEAD)', fields.filter((f) => f.startsWith('HEAD ') || f.startsWith('branch ') || f === 'detached').join(' '));
    const status = await git(['status', '--porcelain=v1', '-z', '--untracked-files=all', '--no-renames'], path).catch(() => '');
    for (const entry of status.split('\0').filter(Boolean)) {
      const file = entry.slice(3);
      state.set(file, `${entry.slice(0, 2)} ${digestFile(join(path, file))}`);
    }
    checkouts.set(path, state);
  }
  return { refs, config, files, checkouts, policies, objects, objectFormat, packIndexes, commonDir };
}

function readPackIndexes(commonDir: string, objects: Map<string, string>): Map<string, Buffer> {
  const kept = new Map<string, Buffer>();
  let total = 0;
  for (const [key, entry] of objects) {
    if (!/^objects\/pack\/[^/]+\.idx$/.test(key) || !entry.startsWith('file:')) continue;
    total += Number(entry.split(':')[1]);
    if (total > PACK_INDEX_KEEP_BYTES) return kept;
    try {
      kept.set(key, readFileSync(join(commonDir, key)));
    } catch {
      // Gone meanwhile: its pack's deletion will be looked at.
    }
  }
  return kept;
}

/** The object names in a version-2 pack index, or undefined for anything else. */
function packIndexNames(idx: Buffer, hashBytes: number): string[] | undefined {
  if (idx.length < 8 + 1024 || idx.readUInt32BE(0) !== 0xff744f63 || idx.readUInt32BE(4) !== 2) return undefined;
  const count = idx.readUInt32BE(8 + 255 * 4);
  const start = 8 + 1024;
  if (idx.length < start + count * hashBytes) return undefined;
  const names: string[] = [];
  for (let i = 0; i < count; i++) names.push(idx.subarray(start + i * hashBytes, start + (i + 1) * hashBytes).toString('hex'));
  return names;
}

/** The policy files of one checkout: content read through links, and the index entry with its skip-worktree/assume-unchanged tag. */
async function policyState(checkout: string): Promise<Map<string, PolicyFileState>> {
  const listing = await quietGit(checkout, [
    ...GIT,
    'ls-files',
    '-v',
    '-s',
    '-z',
    '--',
    ...POLICY_FILES.map((f) => `:(literal)${f}`),
  ]).catch((error: unknown) => `unreadable: ${(error as Error).message}`);
  const index = new Map<string, string>();
  for (const entry of listing.split('\0').filter(Boolean)) {
    const tab = entry.indexOf('\t');
    if (tab > 0) index.set(entry.slice(tab + 1), entry.slice(0, tab));
    else index.set('(index)', entry);
  }
  const states = new Map<string, PolicyFileState>();
  for (const file of POLICY_FILES) {
    const path = join(checkout, file);
    let digest = 'absent';
    let link: string | undefined;
    let content: Buffer | undefined;
    try {
      const stat = lstatSync(path);
      if (stat.isSymbolicLink()) link = readlinkSync(path);
      // Read through a link only to a regular file of sane size: a FIFO or /dev/zero must not hang or fill memory.
      const target = statSync(path);
      const through =
        target.isFile() && target.size <= 8 * POLICY_KEEP_BYTES
          ? readFileSync(path)
          : Buffer.from(`${target.isFile() ? 'big' : 'special'}:${target.size}:${target.mtimeMs}`);
      if (through.length <= POLICY_KEEP_BYTES && !link) content = through;
      digest = `${link !== undefined ? `link:${link}` : `file:${stat.mode.toString(8)}`}:${createHash('sha256').update(through).digest('hex')}`;
    } catch {
      if (link !== undefined) digest = `link:${link}:dangling`;
    }
    states.set(file, { digest, index: index.get(file) ?? '', ...(link !== undefined ? { link } : {}), ...(content ? { content } : {}) });
  }
  const unreadable = index.get('(index)');
  if (unreadable) for (const state of states.values()) state.index = unreadable;
  return states;
}

/** Kind, size, mtime and inode of every entry under `objects/` (cheap: one lstat each, bounded). */
function statObjects(root: string): Map<string, string> {
  const into = new Map<string, string>();
  const walk = (dir: string, label: string, depth: number): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (into.size >= OBJECT_WALK_LIMIT) return;
      const path = join(dir, name);
      const key = `${label}/${name}`;
      let stat: Stats;
      try {
        stat = lstatSync(path);
      } catch {
        continue;
      }
      // A directory's mtime moves whenever an object is added: only what it is counts.
      if (stat.isDirectory()) {
        into.set(key, `dir:${stat.ino}`);
        if (depth < 3) walk(path, key, depth + 1);
      } else into.set(key, `${stat.isSymbolicLink() ? 'link' : 'file'}:${stat.size}:${stat.mtimeMs}:${stat.ino}`);
    }
  };
  try {
    into.set('objects', `dir:${lstatSync(root).ino}:${lstatSync(root).isSymbolicLink()}`);
  } catch {
    into.set('objects', 'absent');
  }
  walk(root, 'objects', 0);
  return into;
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
  const policies: PolicyBreach[] = [];
  for (const [checkout, states] of before.policies) {
    const later = after.policies.get(checkout);
    if (!later) continue;
    for (const [file, was] of states) {
      const is = later.get(file);
      if (!is) continue;
      const content = was.digest !== is.digest;
      const index = was.index !== is.index;
      if (content || index) policies.push({ checkout, file, content, index });
    }
  }
  return { refs, config: before.config !== after.config, files, checkouts, policies, objects: [] };
}

/**
 * `compare`, and the object store looked at too: a pack changed or deleted, a
 * loose object deleted, or one whose file changed and no longer hashes to its
 * name, is tampering. New objects are fine; so is an existing loose object git
 * freshened (its mtime moves, its content still hashes to its name). A new pack
 * or commit-graph is verified by git itself, since it could shadow an object.
 */
export async function examine(before: RepoSnapshot, after: RepoSnapshot, given: readonly string[] = []): Promise<Breach> {
  const breach = compare(before, after, given);
  breach.objects = await objectTampering(before, after);
  return breach;
}

async function objectTampering(before: RepoSnapshot, after: RepoSnapshot): Promise<string[]> {
  const found: string[] = [];
  const root = before.commonDir;
  const loose = /^objects\/([0-9a-f]{2})\/([0-9a-f]{38}|[0-9a-f]{62})$/;
  const pack = /^objects\/pack\/(.+)\.(pack|idx)$/;
  const deleted: string[] = [];
  const goneIndexes = new Set<string>();
  const packsToVerify = new Set<string>();
  const graphs = new Set<string>();
  // size:inode of a file entry (`file:size:mtime:ino`): what git's freshening of a pack (a new mtime) leaves alone.
  const body = (entry: string) =>
    entry
      .split(':')
      .filter((_, i) => i !== 2)
      .join(':');
  for (const [key, was] of before.objects) {
    const is = after.objects.get(key);
    if (is === was) continue;
    const name = loose.exec(key);
    const packed = pack.exec(key);
    if (is === undefined) {
      if (name) deleted.push(`${name[1]}${name[2]}`);
      // An emptied fan-out directory goes with its objects (each is looked at on its own).
      else if (packed) goneIndexes.add(`objects/pack/${packed[1]}.idx`);
      else if (/^objects\/(info\/commit-graph|pack\/multi-pack-index)/.test(key)) found.push(`${key} was deleted`);
    } else if (name) {
      if (!looseObjectHolds(join(root, key), `${name[1]}${name[2]}`, after.objectFormat))
        found.push(`the loose object ${name[1]}${name[2]} was rewritten: its content no longer hashes to its name`);
    } else if (was.startsWith('dir:') || is.startsWith('dir:')) {
      found.push(`${key} was replaced`);
    } else if (packed) {
      // Git freshens a pack's mtime when asked to write an object it holds; anything more is a rewrite.
      if (body(was) !== body(is)) found.push(`${key} was changed`);
      else packsToVerify.add(`objects/pack/${packed[1]}.idx`);
    } else if (/^objects\/(info\/commit-graph|pack\/multi-pack-index)/.test(key)) {
      graphs.add(key);
    }
  }
  for (const [key, is] of after.objects) {
    if (before.objects.has(key)) continue;
    const name = loose.exec(key);
    const packed = pack.exec(key);
    if (name) {
      // A new object with the name of content nobody wrote yet would stand in for it when it is written.
      if (!looseObjectHolds(join(root, key), `${name[1]}${name[2]}`, after.objectFormat))
        found.push(`a forged loose object ${name[1]}${name[2]} was added: its content does not hash to its name`);
    } else if (packed) {
      // A new pack is read before loose objects: one forged entry would shadow committed content.
      packsToVerify.add(`objects/pack/${packed[1]}.idx`);
    } else if (/^objects\/(info\/commit-graph|pack\/multi-pack-index)/.test(key)) {
      graphs.add(key);
    } else if (is.startsWith('link:')) found.push(`${key} was added as a link`);
  }
  const packedNow = new Set<string>();
  const git = (args: string[]) => quietGit(root, [...GIT, `--git-dir=${root}`, ...args]);
  for (const key of packsToVerify) {
    const listing = await git(['verify-pack', '-v', join(root, key)]).catch(() => undefined);
    if (listing === undefined) found.push(`${key.replace(/\.idx$/, '.pack')} does not verify (git verify-pack)`);
    else for (const line of listing.split('\n')) if (/^[0-9a-f]{40,64} /.test(line)) packedNow.add(line.slice(0, line.indexOf(' ')));
  }
  // A loose object may go only into a pack (gc, repack), never away.
  for (const sha of deleted) if (!packedNow.has(sha)) found.push(`the loose object ${sha} was deleted`);
  // So may a pack's objects (repack -a -d): each must be in a verified new pack or a pack that stayed.
  const hashBytes = after.objectFormat === 'sha256' ? 32 : 20;
  const elsewhere = new Set(packedNow);
  if (goneIndexes.size) {
    for (const [key, idx] of before.packIndexes)
      if (!goneIndexes.has(key)) for (const name of packIndexNames(idx, hashBytes) ?? []) elsewhere.add(name);
    // Loose now (a repack loosens what it drops): new ones were verified above, old ones stayed as they were.
    for (const key of after.objects.keys()) {
      const name = loose.exec(key);
      if (name) elsewhere.add(`${name[1]}${name[2]}`);
    }
  }
  for (const key of goneIndexes) {
    const idx = before.packIndexes.get(key);
    const names = idx && packIndexNames(idx, hashBytes);
    if (!names) {
      found.push(`${key.replace(/\.idx$/, '.pack')} was deleted`);
      continue;
    }
    const lost = names.filter((name) => !elsewhere.has(name));
    if (lost.length)
      found.push(
        `${key.replace(/\.idx$/, '.pack')} was deleted with ${lost.length} object(s) no other pack holds (${lost.slice(0, 3).join(', ')}${lost.length > 3 ? ', …' : ''})`,
      );
  }
  if (
    [...graphs].some((key) => key.includes('commit-graph')) &&
    !(await git(['commit-graph', 'verify']).then(
      () => true,
      () => false,
    ))
  )
    found.push('objects/info/commit-graph does not verify (git commit-graph verify)');
  if (
    [...graphs].some((key) => key.includes('multi-pack-index')) &&
    !(await git(['multi-pack-index', 'verify']).then(
      () => true,
      () => false,
    ))
  )
    found.push('objects/pack/multi-pack-index does not verify (git multi-pack-index verify)');
  return found;
}

/** Whether a loose object file inflates to content that hashes to its name. */
function looseObjectHolds(path: string, sha: string, format: string): boolean {
  try {
    const stat = statSync(path);
    if (!stat.isFile() || stat.size > 512 * 1024 * 1024) return false;
    const content = inflateSync(readFileSync(path));
    return (
      createHash(format === 'sha256' ? 'sha256' : 'sha1')
        .update(content)
        .digest('hex') === sha
    );
  } catch {
    return false;
  }
}

/** A breach that fails the run: refs, configuration, hooks, a user checkout's policy, the object store. Other checkout changes are reported only (the user may have made them). */
export function isFatal(breach: Breach): boolean {
  return breach.refs.length > 0 || breach.config || breach.files.length > 0 || breach.policies.length > 0 || breach.objects.length > 0;
}

/**
 * What a check must never do: move the target or Build Master's own branches,
 * or change git's configuration, hooks, alternates or Build Master's state. A
 * check runs the code under test, so this is the same containment as a fix
 * command's; other branches are left out because agents move their own
 * branches all the time while checks run.
 */
export function checkBreach(breach: Breach, target: string): Breach {
  const refs = breach.refs.filter(
    ([name]) => name === `refs/heads/${target}` || name.startsWith('refs/heads/buildmaster/') || name.startsWith('refs/replace/'),
  );
  return { ...breach, refs };
}

/**
 * Undoes, with a compare-and-swap each, what a command did under
 * `refs/replace/`: a replacement makes the user's git show other content under
 * a commit's sha (Build Master's own git ignores them). Returns the breach
 * without those refs, for `restoreRefs`, and what was undone or not.
 */
export async function undoReplacements(root: string, breach: Breach): Promise<{ rest: Breach; undone: string[]; left: string[] }> {
  const undone: string[] = [];
  const left: string[] = [];
  for (const [name, was, is] of breach.refs.filter(([name]) => name.startsWith('refs/replace/'))) {
    const args =
      was === ZERO ? ['update-ref', '-d', name, is] : is === ZERO ? ['update-ref', name, was, ZERO] : ['update-ref', name, was, is];
    const ok = await quietGit(root, [...GIT, ...args]).then(
      () => true,
      () => false,
    );
    (ok ? undone : left).push(name);
  }
  return { rest: { ...breach, refs: breach.refs.filter(([name]) => !name.startsWith('refs/replace/')) }, undone, left };
}

/**
 * Puts back each changed policy file of a user checkout: its content as it was
 * before the command ran (what is there now is kept under `<state>/quarantine`
 * first, so nothing is lost), then its index entry and flags. Returns a
 * sentence per file: what was restored, or why not.
 */
export async function restorePolicies(before: RepoSnapshot, breach: Breach, stateDir: string): Promise<string[]> {
  const said: string[] = [];
  for (const { checkout, file, content, index } of breach.policies) {
    const was = before.policies.get(checkout)?.get(file);
    if (!was) continue;
    const path = join(checkout, file);
    const where = `${file} in ${checkout}`;
    try {
      if (content) {
        // Never write or delete through a directory a command turned into a link (it could point anywhere).
        if (file.includes('/') && !isRealDirectoryOrAbsent(join(checkout, dirname(file))))
          throw new Error(`${dirname(file)} is no longer a plain directory`);
        keepAside(path, stateDir, file);
        if (was.digest !== 'absent' && was.link === undefined && !was.content) throw new Error('its earlier content was too big to keep');
        rmSync(path, { force: true, recursive: true });
        if (was.link !== undefined) symlinkSync(was.link, path);
        else if (was.content) {
          mkdirSync(dirname(path), { recursive: true });
          writeFileSync(path, was.content, { mode: Number.parseInt(was.digest.split(':')[1] ?? '644', 8) & 0o777 });
        }
      }
      if (index) await restoreIndexEntry(checkout, file, was.index);
      said.push(
        `restored ${[content ? 'the content' : '', index ? 'the index entry and flags' : ''].filter(Boolean).join(' and ')} of ${where}`,
      );
    } catch (error) {
      said.push(`could not restore ${where}: ${(error as Error).message}`);
    }
  }
  return said;
}

function isRealDirectoryOrAbsent(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return true;
  }
}

/** Keeps what a command left in a policy file under the state directory, before the file is put back. */
function keepAside(path: string, stateDir: string, file: string): void {
  let bytes: Buffer;
  try {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) bytes = Buffer.from(`link to ${readlinkSync(path)}\n`);
    else if (stat.isFile() && stat.size <= 8 * POLICY_KEEP_BYTES) bytes = readFileSync(path);
    else return;
  } catch {
    return;
  }
  const dir = join(stateDir, 'quarantine');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${file.replace(/\//g, '_')}`), bytes);
}

/** Sets a policy file's index entry back: blob, mode and skip-worktree/assume-unchanged as `ls-files -v -s` showed them. */
async function restoreIndexEntry(checkout: string, file: string, line: string): Promise<void> {
  const git = (args: string[]) => quietGit(checkout, [...GIT, 'update-index', ...args]);
  if (!line) {
    await git(['--force-remove', '--', file]);
    return;
  }
  const match = /^(\S) (\d+) ([0-9a-f]+) 0$/.exec(line);
  if (!match) throw new Error(`its index entry was unusual (${line})`);
  const [, tag, mode, blob] = match as unknown as [string, string, string, string];
  await git(['--add', '--cacheinfo', `${mode},${blob},${file}`]);
  const skip = tag.toUpperCase() === 'S';
  const assume = tag !== tag.toUpperCase();
  await git([skip ? '--skip-worktree' : '--no-skip-worktree', assume ? '--assume-unchanged' : '--no-assume-unchanged', '--', file]);
}

/**
 * Puts back, with a compare-and-swap each, the refs Build Master acts on: the
 * target and its own `refs/heads/buildmaster/` branches. Other refs (the
 * user's branches, tags, remotes, the stash) are only reported: they may have
 * moved by the user's hand meanwhile, and undoing that could lose work.
 */
export async function restoreRefs(
  root: string,
  breach: Breach,
  target: string,
  options: { created?: boolean } = {},
): Promise<{ restored: string[]; reported: string[] }> {
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
    const args =
      was === ZERO ? ['update-ref', '-d', name, is] : ['update-ref', '-m', 'build-master: undo a move by a fix command', name, was, is];
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
    ...breach.refs.map(
      ([name, was, is]) =>
        `${name} ${was === ZERO ? 'created at' : is === ZERO ? 'deleted from' : `moved from ${short(was)} to`} ${was === ZERO ? short(is) : is === ZERO ? short(was) : short(is)}`,
    ),
    ...(breach.config ? ['the git configuration changed'] : []),
    ...breach.files.map((file) => `${file} changed`),
    ...breach.policies.map(
      (p) =>
        `the policy ${p.file} in the checkout ${p.checkout} changed (${[p.content ? 'its content' : '', p.index ? 'its index entry or skip-worktree/assume-unchanged flags' : ''].filter(Boolean).join(' and ')})`,
    ),
    ...(breach.objects.length
      ? [
          `the repository's object store was tampered with (${breach.objects.slice(0, 5).join('; ')}${breach.objects.length > 5 ? `; and ${breach.objects.length - 5} more` : ''}): committed content may no longer be what was reviewed; a person must run \`git fsck --full\` before anything else is trusted`,
        ]
      : []),
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
    // A FIFO or device planted among the hooks would hang a read: its kind and identity say enough.
    if (!stat.isFile()) return `special:${stat.mode.toString(8)}:${stat.ino}`;
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

const TAMPERED = 'object-store-tampered';

/**
 * Remembers, across cycles, that the object store was tampered with: content
 * under any sha may now be wrong, so no merge lands until a person has checked
 * the repository and removed the mark.
 */
export function markTampered(stateDir: string, breach: Breach): void {
  if (breach.objects.length === 0) return;
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(stateDir, TAMPERED), `${new Date().toISOString()}\n${breach.objects.join('\n')}\n`);
}

/** Why merging waits for a person, if the object store was found tampered with. */
export function tamperedReason(stateDir: string): string | undefined {
  const path = join(stateDir, TAMPERED);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const first = text.split('\n')[1] ?? 'an object changed';
  return `the repository's object store was tampered with by a check or fix command (${first}); run \`git fsck --full\`, repair or re-clone, then delete ${path}`;
}

// The write scope of a fix, checked over everything the fix would bring to
// the target: every commit from the worktree's base (the target when the fix
// was dispatched) to its final head, every path each commit touches (both
// sides of a rename: renames are not detected, so a move is a delete and an
// add), exact bytes (-z, no quoting). The head must descend from the base
// without merges; a symbolic link may point only inside the write scope.
import { posix } from 'node:path';
import { quietGit } from '../../git/repo';

export type ScopeProblem =
  | { kind: 'not-descendant'; head: string; base: string }
  | { kind: 'merge-commit'; commit: string }
  | { kind: 'outside-scope'; commit: string; path: string }
  | { kind: 'symlink-outside-repository'; commit: string; path: string; target: string }
  | { kind: 'symlink-outside-scope'; commit: string; path: string; target: string }
  | { kind: 'submodule'; commit: string; path: string };

/** One path a commit touches: its mode after the commit, and a symbolic link's target. */
export interface TouchedPath {
  commit: string;
  path: string;
  /** The mode after the commit (`000000` when it deletes the path). */
  mode: string;
  linkTarget?: string;
}

/**
 * Where a symbolic link at `linkPath` points, as a repository-relative path,
 * or undefined when it points outside the repository (absolute, or climbing
 * above the root).
 */
export function linkDestination(linkPath: string, target: string): string | undefined {
  if (target.startsWith('/') || /^[A-Za-z]:[\\/]/.test(target) || target.includes('\\')) return undefined;
  const joined = posix.normalize(posix.join(posix.dirname(linkPath), target));
  if (joined === '..' || joined.startsWith('../') || joined.startsWith('/')) return undefined;
  return joined === '.' ? '' : joined.replace(/\/$/, '');
}

/** The problems in a fix's touched paths (pure; `allows` is the lane's write scope). */
export function scopeProblems(touched: readonly TouchedPath[], allows: (file: string) => boolean): ScopeProblem[] {
  const problems: ScopeProblem[] = [];
  for (const entry of touched) {
    const { commit, path } = entry;
    if (!allows(path)) {
      problems.push({ kind: 'outside-scope', commit, path });
      continue;
    }
    if (entry.mode === '160000') problems.push({ kind: 'submodule', commit, path });
    if (entry.mode === '120000') {
      const target = entry.linkTarget ?? '';
      const destination = linkDestination(path, target);
      if (destination === undefined) problems.push({ kind: 'symlink-outside-repository', commit, path, target });
      else if (!(allows(destination) || allows(`${destination}/x`))) problems.push({ kind: 'symlink-outside-scope', commit, path, target });
    }
  }
  return problems;
}

export function describeProblem(problem: ScopeProblem): string {
  const at = 'commit' in problem ? ` (commit ${problem.commit.slice(0, 7)})` : '';
  switch (problem.kind) {
    case 'not-descendant':
      return `the fix's head ${problem.head.slice(0, 7)} does not descend from the target ${problem.base.slice(0, 7)} it started from (history was rewritten or reset)`;
    case 'merge-commit':
      return `merge commit ${problem.commit.slice(0, 7)}: a fix is a linear series of commits on the target`;
    case 'outside-scope':
      return `${JSON.stringify(problem.path)}${at}`;
    case 'symlink-outside-repository':
      return `symbolic link ${JSON.stringify(problem.path)} -> ${JSON.stringify(problem.target)} points outside the repository${at}`;
    case 'symlink-outside-scope':
      return `symbolic link ${JSON.stringify(problem.path)} -> ${JSON.stringify(problem.target)} points outside the write scope${at}`;
    case 'submodule':
      return `submodule ${JSON.stringify(problem.path)}${at}: a fix may not add a repository`;
  }
}

const GIT = ['-c', 'core.quotePath=false', '-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false'];

/** Reads what the commits base..head touch and checks it against the write scope. */
export async function checkRange(gitDir: string, base: string, head: string, allows: (file: string) => boolean): Promise<ScopeProblem[]> {
  const git = (args: string[]) => quietGit(gitDir, [...GIT, ...args]);
  const descends = await git(['merge-base', '--is-ancestor', base, head]).then(
    () => true,
    () => false,
  );
  if (!descends) return [{ kind: 'not-descendant', head, base }];
  const log = await git(['log', '-z', '--raw', '--no-renames', '--no-abbrev', '--format=%x01%H %P', `${base}..${head}`]);
  const problems: ScopeProblem[] = [];
  const touched: TouchedPath[] = [];
  for (const record of log.split('\x01').filter(Boolean)) {
    const end = record.indexOf('\0');
    const [commit = '', ...parents] = record
      .slice(0, end < 0 ? undefined : end)
      .trim()
      .split(' ');
    if (parents.length !== 1) {
      problems.push({ kind: 'merge-commit', commit });
      continue;
    }
    const tokens =
      end < 0
        ? []
        : record
            .slice(end + 1)
            .replace(/^\n/, '')
            .split('\0');
    for (let i = 0; i + 1 < tokens.length; i += 2) {
      const meta = (tokens[i] as string).replace(/^:/, '').split(' ');
      const path = tokens[i + 1] as string;
      const mode = meta[1] ?? '';
      const sha = meta[3] ?? '';
      const entry: TouchedPath = { commit, path, mode };
      if (mode === '120000') entry.linkTarget = await git(['cat-file', 'blob', sha]);
      touched.push(entry);
    }
  }
  return [...problems, ...scopeProblems(touched, allows)];
}

// Build Master's state kept in GitHub itself: the files that live under
// `.git/buildmaster/` in a clone (state.json, events.jsonl) are a commit on
// `refs/heads/buildmaster/state`, read and written through the git data API.
// An ephemeral runner (the GitHub Action) loads them at its start and saves
// them at its end; the save is a compare-and-swap (`updateRef` with
// `force: false` on a commit whose only parent is the one read), so two
// writers never overwrite each other: the second is told it lost.
//
// Layout of a state commit (only changed files are uploaded; the rest are kept
// from the parent's tree):
//   README.md                what this branch is (for people browsing it)
//   state.json               the store (controller state, action records, merges…)
//   facts.json               the store's caches of immutable facts and check results
//   events/00000000.jsonl    the event log in segments of 1000 events by sequence number;
//                            a run reads only the newest segment and never rewrites a sealed one
// Not kept: the ETag cache (github-cache.json). It holds whole API answers
// (megabytes at hundreds of pull requests), is rebuilt by one cold read, and a
// stale copy only costs requests: a runner starts with an empty one.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_STATE_BRANCH, isStateBranch } from '../core/state-branch';
import { InputError } from '../ports';
import { describeGitHubError, type GitHubApi } from './client';
import type { RepositoryRef } from './repository';

export { DEFAULT_STATE_BRANCH, isStateBranch } from '../core/state-branch';

/** Files smaller than this (characters) are sent inside the tree request instead of as blobs. */
export const INLINE_LIMIT = 256 * 1024;
/** Events per segment file. */
export const SEGMENT = 1000;
/** The local files of a store directory (extension/store/store.ts). */
export const LOCAL_STATE = 'state.json';
export const LOCAL_EVENTS = 'events.jsonl';
/** The store's keys kept in facts.json instead of state.json: caches that change less often than the state. */
const FACT_KEYS = ['facts', 'checks'] as const;

const README = `# Build Master state

This branch is Build Master's memory of this repository, written by the Build Master
GitHub Action (and readable by \`build-master status --from-ref\`). It is not a change:
do not merge it, open a pull request from it, or protect it against the Action's token.

- \`state.json\`: controller state (lanes, incidents, approvals), action records, merges.
- \`facts.json\`: cached immutable facts and check results.
- \`events/*.jsonl\`: the append-only event log, 1000 events per file.

Every commit's parent is the state it was computed from: the history is the audit trail.
`;

/** A state branch name from the Action's `state-ref` input (or the CLI's `--state-ref`), checked. */
export function stateBranchOf(input: string | undefined, target: string): string {
  const given = (input ?? '').trim();
  const branch = given.replace(/^refs\/heads\//, '') || DEFAULT_STATE_BRANCH;
  const wellFormed =
    /^[A-Za-z0-9._/-]+$/.test(branch) && !branch.includes('..') && !branch.includes('//') && !/(^|\/)\.|\.lock$|\/$/.test(branch);
  if (!isStateBranch(branch) || !wellFormed)
    throw new InputError(
      `state-ref "${given}" is not a Build Master state branch: use ${DEFAULT_STATE_BRANCH} (the default) or a name starting with ${DEFAULT_STATE_BRANCH}- (letters, digits, . _ - /)`,
    );
  if (branch === target || isStateBranch(target))
    throw new InputError(
      `the target branch "${target}" cannot be Build Master's state branch: set \`target:\` in the policy to the branch changes merge into`,
    );
  return branch;
}

/** A state commit as read: its files by path with their blob shas, and how to read one. */
export interface StateCommit {
  /** The commit read, or undefined: the state branch does not exist yet. */
  commit: string | undefined;
  tree: string | undefined;
  entries: ReadonlyMap<string, string>;
  read(path: string): Promise<string>;
}

export type SaveOutcome = { kind: 'written'; commit: string } | { kind: 'unchanged' } | { kind: 'lost'; why: string };

/** Where state commits live: the git data API, or a fake in unit tests. */
export interface StateBackend {
  readonly branch: string;
  load(): Promise<StateCommit>;
  /** Writes `files` (path → content) over `base` as one commit, only if the branch is still at `base`. */
  save(base: StateCommit, files: ReadonlyMap<string, string>, message: string): Promise<SaveOutcome>;
}

/** The sha git gives a blob of this content: unchanged files are not uploaded again. */
export function gitBlobSha(content: string): string {
  const bytes = Buffer.from(content, 'utf8');
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

function status(error: unknown): number | undefined {
  return (error as { status?: number }).status;
}

/** The state branch on GitHub, through the git data API. */
export class GitHubStateBackend implements StateBackend {
  constructor(
    private readonly api: GitHubApi,
    private readonly repo: RepositoryRef,
    readonly branch: string,
    private readonly target: string,
    /** Files from this size are uploaded as blobs of their own (tests set 0 to send every file so). */
    private readonly inlineLimit = INLINE_LIMIT,
  ) {
    // Build Master never writes the target: the state goes to its own branch only.
    if (!isStateBranch(branch) || branch === target) throw new Error(`refusing to keep state on ${branch}: not a state branch`);
  }

  async load(): Promise<StateCommit> {
    let commit: string;
    try {
      const { data } = await this.api.git.getRef({ ...this.repo, ref: `heads/${this.branch}` });
      commit = data.object.sha;
    } catch (error) {
      if (status(error) === 404 || status(error) === 409)
        return { commit: undefined, tree: undefined, entries: new Map(), read: () => Promise.resolve('') };
      throw new Error(describeGitHubError(error, `reading the state branch ${this.branch}`), { cause: error });
    }
    const { data: head } = await this.api.git.getCommit({ ...this.repo, commit_sha: commit });
    const { data: tree } = await this.api.git.getTree({ ...this.repo, tree_sha: head.tree.sha, recursive: 'true' });
    if (tree.truncated) throw new Error(`the state branch ${this.branch} at ${commit} has too many files to list`);
    const entries = new Map<string, string>();
    for (const entry of tree.tree) if (entry.type === 'blob' && entry.path && entry.sha) entries.set(entry.path, entry.sha);
    const read = async (path: string): Promise<string> => {
      const sha = entries.get(path);
      if (!sha) return '';
      const { data } = await this.api.git.getBlob({ ...this.repo, file_sha: sha });
      return data.encoding === 'base64' ? Buffer.from(data.content, 'base64').toString('utf8') : data.content;
    };
    return { commit, tree: head.tree.sha, entries, read };
  }

  /** The commit the branch points at now, or undefined when it does not exist. */
  private async head(): Promise<string | undefined> {
    try {
      const { data } = await this.api.git.getRef({ ...this.repo, ref: `heads/${this.branch}` });
      return data.object.sha;
    } catch (error) {
      if (status(error) === 404) return undefined;
      throw error;
    }
  }

  async save(base: StateCommit, files: ReadonlyMap<string, string>, message: string): Promise<SaveOutcome> {
    const changed = [...files].filter(([path, content]) => base.entries.get(path) !== gitBlobSha(content));
    if (changed.length === 0 && base.commit) return { kind: 'unchanged' };
    const what = `writing Build Master's state to ${this.branch}`;
    try {
      const entries = [];
      for (const [path, content] of changed) {
        // Small files ride inside the tree request (one write instead of one per file); large ones are blobs of their own.
        if (content.length < this.inlineLimit) {
          entries.push({ path, mode: '100644' as const, type: 'blob' as const, content });
          continue;
        }
        const { data } = await this.api.git.createBlob({
          ...this.repo,
          content: Buffer.from(content, 'utf8').toString('base64'),
          encoding: 'base64',
        });
        entries.push({ path, mode: '100644' as const, type: 'blob' as const, sha: data.sha });
      }
      const { data: tree } = await this.api.git.createTree({ ...this.repo, tree: entries, ...(base.tree ? { base_tree: base.tree } : {}) });
      const { data: commit } = await this.api.git.createCommit({
        ...this.repo,
        message,
        tree: tree.sha,
        parents: base.commit ? [base.commit] : [],
      });
      if (base.commit) {
        // Compare-and-swap: the new commit's only parent is the one read, so it is a fast forward only from there.
        try {
          await this.api.git.updateRef({ ...this.repo, ref: `heads/${this.branch}`, sha: commit.sha, force: false });
        } catch (error) {
          // A refusal is a lost race only when the branch really moved; a protected branch refuses forever.
          if ((status(error) === 422 || status(error) === 409) && (await this.head()) !== base.commit)
            return { kind: 'lost', why: `${this.branch} moved since it was read (${messageOf(error)})` };
          throw refused(error, this.branch);
        }
      } else {
        try {
          await this.api.git.createRef({ ...this.repo, ref: `refs/heads/${this.branch}`, sha: commit.sha });
        } catch (error) {
          if (status(error) === 422 && (await this.head()) !== undefined)
            return { kind: 'lost', why: `${this.branch} was created by another run meanwhile (${messageOf(error)})` };
          throw refused(error, this.branch);
        }
      }
      return { kind: 'written', commit: commit.sha };
    } catch (error) {
      if (error instanceof InputError) throw error;
      if (status(error) === 403 || status(error) === 404)
        throw new InputError(
          `${what}: the token may not write to ${this.repo.owner}/${this.repo.repo} (HTTP ${status(error)}); give the workflow \`permissions: contents: write\` (a pull request from a fork gets a read-only token: run Build Master on pull_request_target, schedule or workflow_dispatch instead)`,
        );
      throw new Error(describeGitHubError(error, what), { cause: error });
    }
  }
}

/** GitHub refused to move the state branch though no other run moved it (a ruleset or branch protection). */
function refused(error: unknown, branch: string): Error {
  if (status(error) !== 422 && status(error) !== 409) return error as Error;
  return new InputError(
    `GitHub refused to write the state branch ${branch} (${messageOf(error)}); if a ruleset or branch protection covers it, exempt ${branch} (Build Master writes it on every run)`,
  );
}

function messageOf(error: unknown): string {
  return (error as { response?: { data?: { message?: string } } }).response?.data?.message ?? (error as Error).message;
}

/** The segment file of an event sequence number. */
export function segmentOf(seq: number): string {
  return `events/${String(Math.floor(Math.max(0, seq - 1) / SEGMENT)).padStart(8, '0')}.jsonl`;
}

function segments(commit: StateCommit): string[] {
  return [...commit.entries.keys()].filter((path) => /^events\/\d{8}\.jsonl$/.test(path)).sort();
}

/**
 * Writes a state commit's files into a store directory: state.json (with
 * facts.json folded back in) and the event log, only its newest segment unless
 * `allEvents` (a cycle needs the tail for numbering; `log` needs it all).
 */
export async function materialise(commit: StateCommit, dir: string, options: { allEvents?: boolean } = {}): Promise<void> {
  mkdirSync(dir, { recursive: true });
  if (commit.entries.has(LOCAL_STATE)) {
    const where = `${LOCAL_STATE} on ${commit.commit ?? 'the state branch'}`;
    const state = parseObject(await commit.read(LOCAL_STATE), where);
    if (commit.entries.has('facts.json')) {
      const facts = parseObject(await commit.read('facts.json'), `facts.json on ${commit.commit ?? 'the state branch'}`);
      for (const key of FACT_KEYS) if (Object.hasOwn(facts, key)) state[key] = facts[key];
    }
    writeFileSync(join(dir, LOCAL_STATE), JSON.stringify(state, null, 2));
  }
  const all = segments(commit);
  const wanted = options.allEvents ? all : all.slice(-1);
  const texts = await Promise.all(wanted.map((path) => commit.read(path)));
  writeFileSync(join(dir, LOCAL_EVENTS), texts.join(''));
}

/** The files of a state commit from a store directory: what `save` compares with the parent's and uploads when changed. */
export function collect(dir: string): Map<string, string> {
  const files = new Map<string, string>([['README.md', README]]);
  const statePath = join(dir, LOCAL_STATE);
  if (existsSync(statePath)) {
    const state = parseObject(readFileSync(statePath, 'utf8'), statePath);
    const facts: Record<string, unknown> = {};
    for (const key of FACT_KEYS) {
      if (Object.hasOwn(state, key)) facts[key] = state[key];
      Reflect.deleteProperty(state, key);
    }
    files.set(LOCAL_STATE, `${JSON.stringify(state, null, 2)}\n`);
    files.set('facts.json', `${JSON.stringify(facts)}\n`);
  }
  const eventsPath = join(dir, LOCAL_EVENTS);
  const bySegment = new Map<string, string[]>();
  if (existsSync(eventsPath)) {
    for (const line of readFileSync(eventsPath, 'utf8').split('\n')) {
      const seq = seqOf(line);
      // A torn line (a process killed mid-write) is not an event: the store skips it too.
      if (seq === undefined) continue;
      const path = segmentOf(seq);
      bySegment.set(path, [...(bySegment.get(path) ?? []), line]);
    }
  }
  for (const [path, lines] of bySegment) files.set(path, `${lines.join('\n')}\n`);
  return files;
}

function seqOf(line: string): number | undefined {
  if (!line.trim()) return undefined;
  try {
    const event = JSON.parse(line) as { seq?: unknown };
    return typeof event.seq === 'number' && Number.isInteger(event.seq) && event.seq > 0 ? event.seq : undefined;
  } catch {
    return undefined;
  }
}

function parseObject(text: string, where: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InputError(
      `${where} is not valid JSON (${(error as Error).message}); Build Master refuses to act rather than forget its state: restore it from the branch's history`,
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new InputError(`${where} does not hold a state object; restore it from the branch's history`);
  return parsed as Record<string, unknown>;
}

// A GitHub-compatible HTTP server on 127.0.0.1 for tests and the benchmark.
// It speaks the REST subset Build Master uses, backed by a real bare git
// repository (merges, diffs, trees and commits are real git), answers
// conditional requests with 304, sends GitHub's rate-limit headers, and can be
// told to misbehave (500s, primary and secondary rate limits, 405/409 on
// merge, slow answers, dropped connections). Every response it sends is
// checked against GitHub's OpenAPI description; tests assert `violations` is
// empty, so the server cannot drift from the real API.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BareRepo } from './git';
import { conform, validateResponse, type Violation } from './openapi';

export type CheckConclusionName = 'success' | 'failure' | 'neutral' | 'cancelled' | 'skipped' | 'timed_out' | 'action_required';

export interface CiResult {
  name: string;
  /** `pending` is a check run still in progress (or a pending commit status). */
  conclusion: CheckConclusionName | 'pending' | 'error';
  output?: string;
  /** A commit status (the older API) instead of a check run. */
  type?: 'check-run' | 'status';
  /** A check run's annotations (GET /check-runs/{id}/annotations); `annotations_count` counts them. */
  annotations?: CiAnnotation[];
  /**
   * When the run completed, if not when the commit's checks were reported: several
   * runs of one name (a re-run) are told apart by it, the newest being the latest.
   */
  at?: number;
}

export interface CiAnnotation {
  path: string;
  line: number;
  level?: 'notice' | 'warning' | 'failure';
  title?: string;
  message: string;
}

export type FaultKind =
  'error500' | 'rate-limit' | 'rate-limit-429' | 'secondary' | 'slow' | 'drop' | 'drop-after' | 'conflict' | 'not-mergeable';

export interface Fault {
  kind: FaultKind;
  method?: string;
  path?: RegExp;
  /** How many matching requests it hits; default 1. */
  times?: number;
  /** `slow`: the delay; default 1500 ms. */
  delayMs?: number;
  /** Rate limits: seconds until the window resets / retry-after; default 1. */
  retryAfter?: number;
}

export interface LoggedRequest {
  method: string;
  path: string;
  status: number;
  conditional: boolean;
  fault?: FaultKind;
}

interface Comment {
  id: number;
  body: string;
  user: string;
  at: string;
}

interface Item {
  number: number;
  title: string;
  body: string | null;
  user: string;
  labels: string[];
  state: 'open' | 'closed';
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  comments: Comment[];
  pull?: {
    head: string;
    base: string;
    draft: boolean;
    merged: boolean;
    mergedAt: string | null;
    mergeCommit: string | null;
    /** Who merged it: the token's user unless a test says a person did. */
    mergedBy?: string;
    /** Head sha when closed (the branch may move or go away later). */
    closedHead?: string;
  };
}

interface Review {
  id: number;
  user: string;
  state: 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'DISMISSED';
  commit: string;
  at: string;
}

export interface GitHubServerOptions {
  repo: BareRepo;
  owner?: string;
  name?: string;
  token?: string;
  /** The CI: checks for a commit, computed the first time they are asked for (override with setCheck). */
  ci?: (sha: string, repo: BareRepo) => CiResult[];
  /** Like GitHub: the first read of a pull request after its head or base moved has `mergeable: null`. */
  mergeabilityUnknownFirst?: boolean;
  /** A clock for timestamps, so tests can move time. */
  now?: () => number;
}

export class GitHubServer {
  readonly owner: string;
  readonly name: string;
  readonly token: string;
  readonly requests: LoggedRequest[] = [];
  readonly violations: Violation[] = [];
  /** Authorization headers that were wrong (never the right token, which is never recorded). */
  unauthorized = 0;
  faults: Fault[] = [];
  mergeabilityUnknownFirst: boolean;
  /** Like GitHub, the files of a pull request are listed up to a cap (3000); tests lower it. */
  filesCap = 3000;
  /** The user the token authenticates as: Build Master's writes (issues, comments, merges) are made as it. */
  readonly login = 'build-master[bot]';
  url = '';
  private server?: Server;
  private items = new Map<number, Item>();
  private reviews = new Map<number, Review[]>();
  private checks = new Map<string, CiResult[]>();
  /** Check run ids handed out, to the commit and place of the run (annotations are read by id). */
  private checkRunsById = new Map<number, { sha: string; index: number }>();
  private mergeable = new Map<string, boolean>();
  /** Diffs are immutable for a (base, head) pair: computed once. */
  /** When each commit's checks were reported: their timestamps stay put, as on GitHub. */
  private checkTimes = new Map<string, string>();
  private commits = new Map<string, Record<string, unknown>>();
  private diffs = new Map<string, DiffFile[]>();
  private nextNumber = 1;
  private nextId = 1000;
  private remaining = 5000;
  private refsCache?: Map<string, string>;
  private readonly sockets = new Set<import('node:net').Socket>();

  constructor(private readonly options: GitHubServerOptions) {
    this.owner = options.owner ?? 'acme';
    this.name = options.name ?? 'app';
    this.token = options.token ?? 'ghs_testtoken0000000000000000000000000';
    this.mergeabilityUnknownFirst = options.mergeabilityUnknownFirst ?? false;
  }

  get repo(): BareRepo {
    return this.options.repo;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  // ---- the world outside Build Master: people, agents and CI ----

  private now(): string {
    return new Date(this.options.now?.() ?? Date.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  /** Branches moved in git outside the server (a push): forget cached refs. */
  refsChanged(): void {
    this.refsCache = undefined;
  }

  private refs(): Map<string, string> {
    this.refsCache ??= this.repo.refs();
    return this.refsCache;
  }

  /** Pushes a commit with `files` to `branch` (created from `from`, default the target). */
  push(branch: string, files: Record<string, string | null>, message = `change ${branch}`, from = 'main'): string {
    const sha = this.repo.commit(branch, files, message, from);
    this.refsChanged();
    for (const item of this.items.values())
      if (item.pull && item.state === 'open' && item.pull.head === branch) item.updatedAt = this.now();
    return sha;
  }

  openPull(input: {
    head: string;
    base?: string;
    title?: string;
    body?: string;
    draft?: boolean;
    labels?: string[];
    user?: string;
  }): number {
    const item = this.createItem(input.title ?? input.head, input.body ?? null, input.user ?? 'agent-bot', input.labels ?? []);
    item.pull = {
      head: input.head,
      base: input.base ?? 'main',
      draft: input.draft ?? false,
      merged: false,
      mergedAt: null,
      mergeCommit: null,
    };
    return item.number;
  }

  openIssue(input: { title: string; body?: string; labels?: string[]; user?: string }): number {
    return this.createItem(input.title, input.body ?? null, input.user ?? 'octocat', input.labels ?? []).number;
  }

  review(pull: number, user: string, state: Review['state']): void {
    const item = this.must(pull);
    const list = this.reviews.get(pull) ?? [];
    list.push({ id: this.nextId++, user, state, commit: this.headOf(item) ?? '', at: this.now() });
    this.reviews.set(pull, list);
    item.updatedAt = this.now();
  }

  setLabels(number: number, labels: string[]): void {
    const item = this.must(number);
    item.labels = [...labels];
    item.updatedAt = this.now();
  }

  /** Closes an issue or pull request without merging (a person gave up on it). */
  closeItem(number: number): void {
    this.close(this.must(number));
  }

  setDraft(number: number, draft: boolean): void {
    const pull = this.must(number).pull;
    if (pull) pull.draft = draft;
  }

  /** Sets the checks of a commit (replacing what CI reported). */
  setChecks(sha: string, results: CiResult[]): void {
    this.checks.set(sha, results);
    this.checkTimes.set(sha, this.now());
  }

  /** Adds a run to a commit's checks: a re-run, newer than every run before it unless `at` says otherwise. */
  addCheckRun(sha: string, result: CiResult): void {
    const results = [...this.checksOf(sha)];
    const reported = Date.parse(this.checkTimes.get(sha) ?? this.now());
    const latest = Math.max(reported, ...results.map((r) => r.at ?? reported));
    results.push({ ...result, at: result.at ?? latest + 60_000 });
    this.checks.set(sha, results);
  }

  checksOf(sha: string): CiResult[] {
    let results = this.checks.get(sha);
    if (!results) {
      results = this.options.ci?.(sha, this.repo) ?? [];
      this.checks.set(sha, results);
      this.checkTimes.set(sha, this.now());
    }
    return results;
  }

  item(number: number): Item | undefined {
    return this.items.get(number);
  }

  issues(): Item[] {
    return [...this.items.values()].filter((item) => !item.pull);
  }

  pulls(): Item[] {
    return [...this.items.values()].filter((item) => item.pull);
  }

  headOf(item: Item): string | undefined {
    return item.pull ? (item.pull.closedHead ?? this.refs().get(item.pull.head)) : undefined;
  }

  /** Requests answered with something other than 304: what counts against GitHub's rate limit. */
  rateLimited(requests: LoggedRequest[] = this.requests): number {
    return requests.filter((r) => r.status !== 304).length;
  }

  private createItem(title: string, body: string | null, user: string, labels: string[]): Item {
    const at = this.now();
    const item: Item = {
      number: this.nextNumber++,
      title,
      body,
      user,
      labels: [...labels],
      state: 'open',
      createdAt: at,
      updatedAt: at,
      closedAt: null,
      comments: [],
    };
    this.items.set(item.number, item);
    return item;
  }

  private must(number: number): Item {
    const item = this.items.get(number);
    if (!item) throw new Error(`no issue or pull request #${number}`);
    return item;
  }

  // ---- HTTP ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', this.url);
    const method = req.method ?? 'GET';
    const path = decodeURIComponent(url.pathname);
    const conditional = typeof req.headers['if-none-match'] === 'string';
    const log = (status: number, fault?: FaultKind) =>
      this.requests.push({ method, path, status, conditional, ...(fault ? { fault } : {}) });

    const fault = this.takeFault(method, path);
    if (fault?.kind === 'slow') await new Promise((r) => setTimeout(r, fault.delayMs ?? 1500));
    if (fault?.kind === 'drop') {
      log(0, 'drop');
      req.socket.destroy();
      return;
    }
    if (fault && fault.kind !== 'slow' && fault.kind !== 'drop-after') {
      const answer = this.faultAnswer(fault);
      log(answer.status, fault.kind);
      this.send(res, answer.status, answer.body, answer.headers);
      return;
    }

    const auth = req.headers.authorization ?? '';
    if (auth !== `token ${this.token}` && auth !== `bearer ${this.token}` && auth !== `Bearer ${this.token}`) {
      this.unauthorized += 1;
      log(401);
      this.send(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' });
      return;
    }

    let body: Record<string, unknown> = {};
    try {
      body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
    } catch {
      log(400);
      this.send(res, 400, { message: 'Problems parsing JSON', documentation_url: 'https://docs.github.com/rest' });
      return;
    }

    let answer: Answer;
    try {
      answer = this.route(method, path, url.searchParams, body);
    } catch (error) {
      answer = { status: 500, body: { message: `test server error: ${(error as Error).message}` } };
    }
    if (fault?.kind === 'drop-after') {
      // The request took effect, but the client never hears back.
      log(0, 'drop-after');
      req.socket.destroy();
      return;
    }
    const violation = answer.status < 500 ? validateResponse(method, path, answer.status, answer.body) : undefined;
    if (violation) this.violations.push(violation);

    const headers: Record<string, string> = { ...answer.headers };
    if (method === 'GET' && answer.status === 200) {
      const etag = `W/"${createHash('sha1').update(JSON.stringify(answer.body)).digest('hex')}"`;
      headers.etag = etag;
      if (req.headers['if-none-match'] === etag) {
        log(304);
        this.send(res, 304, undefined, headers, false);
        return;
      }
    }
    const link = answer.link?.(url);
    if (link) headers.link = link;
    log(answer.status);
    this.send(res, answer.status, answer.body, headers);
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, counts = true): void {
    if (counts && status !== 304) this.remaining = Math.max(0, this.remaining - 1);
    const reset = Math.floor((this.options.now?.() ?? Date.now()) / 1000) + 3600;
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': String(this.remaining),
      'x-ratelimit-used': String(5000 - this.remaining),
      'x-ratelimit-reset': String(reset),
      'x-ratelimit-resource': 'core',
      'x-github-api-version-selected': '2022-11-28',
      ...headers,
    });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  }

  private takeFault(method: string, path: string): Fault | undefined {
    const index = this.faults.findIndex((f) => (!f.method || f.method === method) && (!f.path || f.path.test(path)) && (f.times ?? 1) > 0);
    if (index < 0) return undefined;
    const fault = this.faults[index] as Fault;
    fault.times = (fault.times ?? 1) - 1;
    if (fault.times <= 0) this.faults.splice(index, 1);
    return fault;
  }

  private faultAnswer(fault: Fault): Answer {
    const wait = fault.retryAfter ?? 1;
    const nowSec = Math.floor((this.options.now?.() ?? Date.now()) / 1000);
    switch (fault.kind) {
      case 'error500':
        return { status: 500, body: { message: 'Server Error' } };
      case 'rate-limit':
        return {
          status: 403,
          body: {
            message: 'API rate limit exceeded for user ID 1.',
            documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api',
          },
          headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + wait) },
        };
      case 'rate-limit-429':
        return {
          status: 429,
          body: {
            message: 'API rate limit exceeded for user ID 1.',
            documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api',
          },
          headers: {
            'x-ratelimit-remaining': '0',
            'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + wait),
            'retry-after': String(wait),
          },
        };
      case 'secondary':
        return {
          status: 403,
          body: {
            message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
            documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits',
          },
          headers: { 'retry-after': String(wait), 'x-ratelimit-reset': String(nowSec + 3600) },
        };
      case 'conflict':
        return {
          status: 409,
          body: {
            message: 'Head branch was modified. Review and try the merge again.',
            documentation_url: 'https://docs.github.com/rest/pulls/pulls#merge-a-pull-request',
          },
        };
      case 'not-mergeable':
        return {
          status: 405,
          body: {
            message: 'Pull Request is not mergeable',
            documentation_url: 'https://docs.github.com/rest/pulls/pulls#merge-a-pull-request',
          },
        };
      default:
        return { status: 500, body: { message: 'Server Error' } };
    }
  }

  // ---- routes ----

  private route(method: string, path: string, query: URLSearchParams, body: Record<string, unknown>): Answer {
    if (method === 'GET' && path === '/user')
      return {
        status: 200,
        body: conform(
          'private-user',
          { ...this.user(this.login), name: null, email: null, created_at: this.now(), updated_at: this.now() },
          this.url,
        ),
      };
    const prefix = `/repos/${this.owner}/${this.name}`;
    if (!path.startsWith(`${prefix}/`)) return notFound();
    const rest = path.slice(prefix.length);
    const m = (pattern: RegExp) => pattern.exec(rest);
    let match: RegExpExecArray | null;

    if (method === 'GET' && rest === '/pulls') return this.listPulls(query);
    if (method === 'POST' && rest === '/pulls') return this.createPull(body);
    if ((match = m(/^\/pulls\/(\d+)$/))) {
      if (method === 'GET') return this.getPull(Number(match[1]));
      if (method === 'PATCH') return this.updatePull(Number(match[1]), body);
    }
    if (method === 'GET' && (match = m(/^\/pulls\/(\d+)\/files$/))) return this.pullFiles(Number(match[1]), query);
    if (method === 'GET' && (match = m(/^\/pulls\/(\d+)\/reviews$/))) return this.pullReviews(Number(match[1]), query);
    if (method === 'PUT' && (match = m(/^\/pulls\/(\d+)\/merge$/))) return this.mergePull(Number(match[1]), body);
    if (method === 'GET' && rest === '/commits') return this.listCommits(query);
    if (method === 'GET' && (match = m(/^\/commits\/([^/]+)\/check-runs$/))) return this.checkRuns(match[1] as string, query);
    if (method === 'GET' && (match = m(/^\/check-runs\/(\d+)\/annotations$/))) return this.annotations(Number(match[1]), query);
    if (method === 'GET' && (match = m(/^\/commits\/([^/]+)\/status$/))) return this.combinedStatus(match[1] as string);
    if (method === 'GET' && (match = m(/^\/commits\/([^/]+)$/))) return this.getCommit(match[1] as string);
    if (method === 'GET' && rest === '/issues') return this.listIssues(query);
    if (method === 'POST' && rest === '/issues') return this.createIssue(body);
    if ((match = m(/^\/issues\/(\d+)$/))) {
      if (method === 'GET') return this.getIssue(Number(match[1]));
      if (method === 'PATCH') return this.updateIssue(Number(match[1]), body);
    }
    if ((match = m(/^\/issues\/(\d+)\/comments$/))) {
      if (method === 'GET') return this.listComments(Number(match[1]), query);
      if (method === 'POST') return this.createComment(Number(match[1]), body);
    }
    if (method === 'POST' && (match = m(/^\/issues\/(\d+)\/labels$/))) return this.addLabels(Number(match[1]), body);
    if (method === 'DELETE' && (match = m(/^\/issues\/(\d+)\/labels\/(.+)$/)))
      return this.removeLabel(Number(match[1]), match[2] as string);
    if (method === 'GET' && (match = m(/^\/contents\/(.+)$/))) return this.contents(match[1] as string, query.get('ref') ?? 'main');
    if (method === 'GET' && (match = m(/^\/git\/trees\/([^/]+)$/)))
      return this.getTree(match[1] as string, query.get('recursive') !== null);
    if (method === 'POST' && rest === '/git/trees') return this.createTree(body);
    if (method === 'POST' && rest === '/git/commits') return this.createCommit(body);
    if (method === 'POST' && rest === '/git/refs') return this.createRef(body);
    return notFound();
  }

  private api(path: string): string {
    return `${this.url}/repos/${this.owner}/${this.name}${path}`;
  }

  private users = new Map<string, Record<string, unknown>>();
  private repositoryJson?: Record<string, unknown>;

  private user(login: string): Record<string, unknown> {
    const known = this.users.get(login);
    if (known) return known;
    const built = this.buildUser(login);
    this.users.set(login, built);
    return built;
  }

  private buildUser(login: string): Record<string, unknown> {
    const id = [...login].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 1_000_000, 7);
    return conform(
      'simple-user',
      {
        login,
        id,
        node_id: `U_${id}`,
        type: login.endsWith('[bot]') ? 'Bot' : 'User',
        site_admin: false,
        html_url: `${this.url}/${encodeURIComponent(login)}`,
        url: `${this.url}/users/${encodeURIComponent(login)}`,
      },
      this.url,
    );
  }

  private repository(): Record<string, unknown> {
    this.repositoryJson ??= conform(
      'repository',
      {
        id: 1,
        node_id: 'R_1',
        name: this.name,
        full_name: `${this.owner}/${this.name}`,
        owner: this.user(this.owner),
        private: false,
        fork: false,
        default_branch: 'main',
        url: this.api(''),
        html_url: `${this.url}/${this.owner}/${this.name}`,
      },
      this.url,
    );
    return this.repositoryJson;
  }

  private label(name: string): Record<string, unknown> {
    const id = [...name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 1_000_000, 11);
    return {
      id,
      node_id: `LA_${id}`,
      url: this.api(`/labels/${encodeURIComponent(name)}`),
      name,
      description: '',
      color: 'ededed',
      default: false,
    };
  }

  private page<T>(all: T[], query: URLSearchParams): { items: T[]; link: (url: URL) => string } {
    const perPage = Math.min(100, Math.max(1, Number(query.get('per_page') ?? 30)));
    const page = Math.max(1, Number(query.get('page') ?? 1));
    const last = Math.max(1, Math.ceil(all.length / perPage));
    const link = (url: URL) => {
      const at = (n: number) => {
        const u = new URL(url.toString());
        u.searchParams.set('page', String(n));
        u.searchParams.set('per_page', String(perPage));
        return u.toString();
      };
      const parts: string[] = [];
      if (page < last) parts.push(`<${at(page + 1)}>; rel="next"`, `<${at(last)}>; rel="last"`);
      if (page > 1) parts.push(`<${at(1)}>; rel="first"`, `<${at(page - 1)}>; rel="prev"`);
      return parts.join(', ');
    };
    return { items: all.slice((page - 1) * perPage, page * perPage), link };
  }

  private pullJson(item: Item, detail: boolean): Record<string, unknown> {
    const pull = item.pull as NonNullable<Item['pull']>;
    const head = this.headOf(item) ?? '0'.repeat(40);
    const base = this.refs().get(pull.base) ?? '0'.repeat(40);
    const branch = (ref: string, sha: string) => ({
      label: `${this.owner}:${ref}`,
      ref,
      sha,
      user: this.user(this.owner),
      repo: this.repository(),
    });
    const link = (p: string) => ({ href: this.api(p) });
    const value: Record<string, unknown> = {
      url: this.api(`/pulls/${item.number}`),
      id: item.number * 100,
      node_id: `PR_${item.number}`,
      html_url: `${this.url}/${this.owner}/${this.name}/pull/${item.number}`,
      number: item.number,
      state: item.state,
      locked: false,
      title: item.title,
      body: item.body,
      user: this.user(item.user),
      labels: item.labels.map((l) => this.label(l)),
      milestone: null,
      created_at: item.createdAt,
      updated_at: item.updatedAt,
      closed_at: item.closedAt,
      merged_at: pull.mergedAt,
      merge_commit_sha: pull.mergeCommit,
      assignee: null,
      assignees: [],
      requested_reviewers: [],
      requested_teams: [],
      head: branch(pull.head, head),
      base: branch(pull.base, base),
      _links: {
        self: link(`/pulls/${item.number}`),
        html: link(''),
        issue: link(`/issues/${item.number}`),
        comments: link(`/issues/${item.number}/comments`),
        review_comments: link(''),
        review_comment: link(''),
        commits: link(''),
        statuses: link(`/statuses/${head}`),
      },
      author_association: 'CONTRIBUTOR',
      auto_merge: null,
      draft: pull.draft,
    };
    if (!detail) return conform('pull-request-simple', value, this.url);
    let mergeable: boolean | null = null;
    if (item.state === 'open') {
      const key = `${base}:${head}`;
      const known = this.mergeable.get(key);
      if (known === undefined) {
        const computed = this.repo.mergeTree(base, head) !== undefined;
        this.mergeable.set(key, computed);
        mergeable = this.mergeabilityUnknownFirst ? null : computed;
      } else mergeable = known;
    }
    const diff = item.state === 'open' ? this.diffFiles(base, head) : [];
    Object.assign(value, {
      merged: pull.merged,
      mergeable,
      rebaseable: mergeable,
      mergeable_state: mergeable === null ? 'unknown' : mergeable ? 'clean' : 'dirty',
      merged_by: pull.merged ? this.user(pull.mergedBy ?? this.login) : null,
      comments: item.comments.length,
      review_comments: 0,
      maintainer_can_modify: false,
      commits: 1,
      additions: diff.reduce((n, f) => n + f.additions, 0),
      deletions: diff.reduce((n, f) => n + f.deletions, 0),
      changed_files: diff.length,
    });
    return conform('pull-request', value, this.url);
  }

  private listPulls(query: URLSearchParams): Answer {
    const state = query.get('state') ?? 'open';
    const head = query.get('head');
    const base = query.get('base');
    const all = this.pulls()
      .filter((item) => state === 'all' || item.state === state)
      .filter((item) => !head || `${this.owner}:${item.pull?.head}` === head)
      .filter((item) => !base || item.pull?.base === base)
      .sort((a, b) => b.number - a.number);
    const { items, link } = this.page(all, query);
    return { status: 200, body: items.map((item) => this.pullJson(item, false)), link };
  }

  private getPull(number: number): Answer {
    const item = this.items.get(number);
    if (!item?.pull) return notFound();
    return { status: 200, body: this.pullJson(item, true) };
  }

  private createPull(body: Record<string, unknown>): Answer {
    const head = String(body.head ?? '').replace(`${this.owner}:`, '');
    const base = String(body.base ?? '');
    if (!this.refs().has(head) || !this.refs().has(base))
      return unprocessable('Validation Failed', `the head or base branch does not exist`);
    if (this.pulls().some((p) => p.state === 'open' && p.pull?.head === head && p.pull.base === base))
      return unprocessable('Validation Failed', `A pull request already exists for ${this.owner}:${head}.`);
    const number = this.openPull({
      head,
      base,
      title: String(body.title ?? head),
      body: typeof body.body === 'string' ? body.body : '',
      draft: body.draft === true,
      user: this.login,
    });
    return { status: 201, body: this.pullJson(this.must(number), true), headers: { location: this.api(`/pulls/${number}`) } };
  }

  private updatePull(number: number, body: Record<string, unknown>): Answer {
    const item = this.items.get(number);
    if (!item?.pull) return notFound();
    if (body.state === 'closed' && item.state === 'open') this.close(item);
    if (typeof body.title === 'string') item.title = body.title;
    if (typeof body.body === 'string') item.body = body.body;
    if (typeof body.base === 'string') item.pull.base = body.base;
    item.updatedAt = this.now();
    return { status: 200, body: this.pullJson(item, true) };
  }

  private close(item: Item): void {
    item.state = 'closed';
    item.closedAt = this.now();
    if (item.pull) item.pull.closedHead = this.refs().get(item.pull.head);
  }

  private diffFiles(base: string, head: string): DiffFile[] {
    const key = `${base}:${head}`;
    const cached = this.diffs.get(key);
    if (cached) return cached;
    const mergeBase = this.repo.tryGit(['merge-base', base, head])?.trim();
    const files = mergeBase ? this.commitDiff(mergeBase, head) : [];
    this.diffs.set(key, files);
    return files;
  }

  /** Like GitHub: renames are detected (status `renamed`, with `previous_filename`). */
  private commitDiff(from: string | undefined, to: string): DiffFile[] {
    const range = from ? [from, to] : ['4b825dc642cb6eb9a060e54bf8d69288fbee4904', to];
    // -z: paths verbatim (no C quoting); a rename is "R<score>\0old\0new", anything else "<status>\0path".
    const statuses = this.repo.git(['diff', '--name-status', '-z', '-M', ...range]).split('\0');
    const entries: { filename: string; previous?: string; status: string }[] = [];
    for (let i = 0; i < statuses.length - 1;) {
      const code = statuses[i] as string;
      if (!code) break;
      if (code.startsWith('R') || code.startsWith('C')) {
        entries.push({
          previous: statuses[i + 1] as string,
          filename: statuses[i + 2] as string,
          status: code.startsWith('R') ? 'renamed' : 'copied',
        });
        i += 3;
      } else {
        entries.push({
          filename: statuses[i + 1] as string,
          status: code.startsWith('A') ? 'added' : code.startsWith('D') ? 'removed' : 'modified',
        });
        i += 2;
      }
    }
    const counts = new Map<string, { additions: number; deletions: number }>();
    const numstat = this.repo.git(['diff', '--numstat', '-z', '-M', ...range]).split('\0');
    for (let i = 0; i < numstat.length - 1;) {
      const [add, del, path] = (numstat[i] as string).split('\t') as [string, string, string];
      if (path === '') {
        // A rename: the paths follow as two fields.
        counts.set(numstat[i + 2] as string, { additions: Number(add) || 0, deletions: Number(del) || 0 });
        i += 3;
      } else {
        counts.set(path, { additions: Number(add) || 0, deletions: Number(del) || 0 });
        i += 1;
      }
    }
    const patches = new Map<string, string>();
    const text = this.repo.git(['diff', '--no-color', '-M', ...range]);
    for (const block of text.split(/^diff --git /m).slice(1)) {
      const file = /^\+\+\+ b\/(.+)$/m.exec(block)?.[1] ?? /^rename to (.+)$/m.exec(block)?.[1] ?? /^--- a\/(.+)$/m.exec(block)?.[1];
      const hunks = block.indexOf('\n@@');
      if (file && hunks >= 0) patches.set(file, block.slice(hunks + 1).replace(/\n$/, ''));
    }
    return entries.map(({ filename, previous, status }) => {
      const blob = status === 'removed' ? '0'.repeat(40) : (this.repo.tryGit(['rev-parse', `${to}:${filename}`])?.trim() ?? '0'.repeat(40));
      const patch = patches.get(filename);
      const { additions, deletions } = counts.get(filename) ?? { additions: 0, deletions: 0 };
      return {
        filename,
        status,
        additions,
        deletions,
        sha: blob,
        ...(previous ? { previous_filename: previous } : {}),
        ...(patch ? { patch } : {}),
      };
    });
  }

  private diffEntry(file: DiffFile): Record<string, unknown> {
    return conform(
      'diff-entry',
      {
        ...file,
        changes: file.additions + file.deletions,
        blob_url: `${this.url}/blob`,
        raw_url: `${this.url}/raw`,
        contents_url: this.api(`/contents/${file.filename}`),
      },
      this.url,
    );
  }

  private pullFiles(number: number, query: URLSearchParams): Answer {
    const item = this.items.get(number);
    if (!item?.pull) return notFound();
    const head = this.headOf(item);
    const base = this.refs().get(item.pull.base);
    const files = head && base ? this.diffFiles(base, head).slice(0, this.filesCap) : [];
    const { items, link } = this.page(files, query);
    return { status: 200, body: items.map((f) => this.diffEntry(f)), link };
  }

  private pullReviews(number: number, query: URLSearchParams): Answer {
    const item = this.items.get(number);
    if (!item?.pull) return notFound();
    const { items, link } = this.page(this.reviews.get(number) ?? [], query);
    return {
      status: 200,
      body: items.map((r) =>
        conform(
          'pull-request-review',
          {
            id: r.id,
            node_id: `PRR_${r.id}`,
            user: this.user(r.user),
            body: '',
            state: r.state,
            commit_id: r.commit,
            submitted_at: r.at,
            html_url: `${this.url}/review`,
            pull_request_url: this.api(`/pulls/${number}`),
            _links: { html: { href: '' }, pull_request: { href: '' } },
            author_association: 'MEMBER',
          },
          this.url,
        ),
      ),
      link,
    };
  }

  private mergePull(number: number, body: Record<string, unknown>): Answer {
    const item = this.items.get(number);
    if (!item?.pull) return notFound();
    const pull = item.pull;
    const notMergeable = {
      status: 405,
      body: {
        message: 'Pull Request is not mergeable',
        documentation_url: 'https://docs.github.com/rest/pulls/pulls#merge-a-pull-request',
      },
    };
    if (item.state !== 'open') return notMergeable;
    const head = this.headOf(item);
    const base = this.refs().get(pull.base);
    if (!head || !base) return notMergeable;
    if (typeof body.sha === 'string' && body.sha !== head) {
      return {
        status: 409,
        body: {
          message: 'Head branch was modified. Review and try the merge again.',
          documentation_url: 'https://docs.github.com/rest/pulls/pulls#merge-a-pull-request',
        },
      };
    }
    const tree = this.repo.mergeTree(base, head);
    if (!tree) return notMergeable;
    const method = String(body.merge_method ?? 'merge');
    const title =
      typeof body.commit_title === 'string'
        ? body.commit_title
        : method === 'merge'
          ? `Merge pull request #${number} from ${this.owner}/${pull.head}`
          : `${item.title} (#${number})`;
    const message = typeof body.commit_message === 'string' ? `${title}\n\n${body.commit_message}` : title;
    const parents = method === 'merge' ? [base, head] : [base];
    const sha = this.repo.commitTree(tree, parents, message);
    try {
      this.repo.git(['update-ref', `refs/heads/${pull.base}`, sha, base]);
    } catch {
      return {
        status: 409,
        body: {
          message: 'Base branch was modified. Review and try the merge again.',
          documentation_url: 'https://docs.github.com/rest/pulls/pulls#merge-a-pull-request',
        },
      };
    }
    this.refsChanged();
    this.close(item);
    pull.merged = true;
    pull.mergedAt = this.now();
    pull.mergeCommit = sha;
    // As with "automatically delete head branches": pull requests stacked on this one move to its base.
    for (const other of this.pulls()) {
      if (other.state === 'open' && other.pull?.base === pull.head) {
        other.pull.base = pull.base;
        other.updatedAt = this.now();
      }
    }
    return { status: 200, body: { sha, merged: true, message: 'Pull Request successfully merged' } };
  }

  private commitJson(sha: string, withFiles: boolean): Record<string, unknown> {
    // A commit never changes: built once per sha.
    const key = `${sha}:${withFiles}`;
    const cached = this.commits.get(key);
    if (cached) return cached;
    const built = this.buildCommitJson(sha, withFiles);
    this.commits.set(key, built);
    return built;
  }

  private buildCommitJson(sha: string, withFiles: boolean): Record<string, unknown> {
    const [tree, parents, an, ae, ad, cn, ce, cd] = this.repo
      .git(['show', '-s', '--format=%T%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%cI', sha])
      .trim()
      .split('\x1f') as string[];
    const message = this.repo.git(['show', '-s', '--format=%B', sha]).replace(/\n+$/, '');
    const parentShas = (parents ?? '').split(' ').filter(Boolean);
    const value: Record<string, unknown> = {
      url: this.api(`/commits/${sha}`),
      sha,
      node_id: `C_${sha}`,
      html_url: `${this.url}/${this.owner}/${this.name}/commit/${sha}`,
      comments_url: this.api(`/commits/${sha}/comments`),
      commit: {
        url: this.api(`/git/commits/${sha}`),
        author: { name: an, email: ae, date: ad },
        committer: { name: cn, email: ce, date: cd },
        message,
        comment_count: 0,
        tree: { sha: tree, url: this.api(`/git/trees/${tree}`) },
      },
      author: null,
      committer: null,
      parents: parentShas.map((p) => ({ sha: p, url: this.api(`/commits/${p}`), html_url: `${this.url}/commit/${p}` })),
    };
    if (withFiles) {
      const files = this.commitDiff(parentShas[0], sha);
      value.files = files.map((f) => this.diffEntry(f));
      const additions = files.reduce((n, f) => n + f.additions, 0);
      const deletions = files.reduce((n, f) => n + f.deletions, 0);
      value.stats = { additions, deletions, total: additions + deletions };
    }
    return conform('commit', value, this.url);
  }

  private listCommits(query: URLSearchParams): Answer {
    const ref = query.get('sha') ?? 'main';
    const sha = this.refs().get(ref) ?? this.repo.resolve(ref);
    if (!sha) return notFound();
    const perPage = Math.min(100, Number(query.get('per_page') ?? 30));
    const page = Math.max(1, Number(query.get('page') ?? 1));
    const all = this.repo
      .git(['rev-list', `--max-count=${page * perPage + 1}`, sha])
      .split('\n')
      .filter(Boolean);
    const shas = all.slice((page - 1) * perPage, page * perPage);
    const more = all.length > page * perPage;
    return {
      status: 200,
      body: shas.map((s) => this.commitJson(s, false)),
      link: (url) => {
        if (!more) return '';
        const next = new URL(url.toString());
        next.searchParams.set('page', String(page + 1));
        return `<${next.toString()}>; rel="next"`;
      },
    };
  }

  private getCommit(ref: string): Answer {
    const sha = this.refs().get(ref) ?? this.repo.resolve(ref);
    if (!sha) return unprocessable('No commit found for SHA: ' + ref);
    return { status: 200, body: this.commitJson(sha, true) };
  }

  /** A check run's id: stable for (commit, place in the commit's runs), whatever `filter` lists. */
  private checkRunId(sha: string, index: number): number {
    const id = Number.parseInt(sha.slice(0, 7), 16) * 1000 + index;
    this.checkRunsById.set(id, { sha, index });
    return id;
  }

  /** The commit's check runs; like GitHub, `filter=latest` (the default) lists only the newest run of each name. */
  private checkRuns(ref: string, query: URLSearchParams): Answer {
    const sha = this.refs().get(ref) ?? this.repo.resolve(ref);
    if (!sha) return notFound();
    const filter = query.get('filter') ?? 'latest';
    if (filter !== 'latest' && filter !== 'all') return unprocessable(`filter must be latest or all, not ${filter}`);
    const reported = Date.parse(this.checkTimes.get(sha) ?? this.now());
    const all = this.checksOf(sha)
      .map((run, index) => ({ run, index, at: run.at ?? reported }))
      .filter(({ run }) => run.type !== 'status');
    const newest = new Map<string, number>();
    for (const { run, at, index } of all) {
      const best = newest.get(run.name);
      const bestAt = best === undefined ? -Infinity : (all.find((r) => r.index === best)?.at ?? -Infinity);
      if (best === undefined || at >= bestAt) newest.set(run.name, index);
    }
    const runs = filter === 'all' ? all : all.filter(({ run, index }) => newest.get(run.name) === index);
    const { items, link } = this.page(runs, query);
    return {
      status: 200,
      body: {
        total_count: runs.length,
        check_runs: items.map(({ run, index, at }) => {
          const done = run.conclusion !== 'pending';
          const id = this.checkRunId(sha, index);
          const time = new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
          return conform(
            'check-run',
            {
              id,
              node_id: `CR_${id}`,
              head_sha: sha,
              external_id: '',
              url: this.api(`/check-runs/${id}`),
              html_url: `${this.url}/runs/${id}`,
              details_url: `${this.url}/runs/${id}`,
              status: done ? 'completed' : 'in_progress',
              conclusion: done ? (run.conclusion === 'error' ? 'failure' : run.conclusion) : null,
              started_at: time,
              completed_at: done ? time : null,
              output: {
                title: run.conclusion,
                summary: run.output ?? '',
                text: run.output ?? null,
                annotations_count: run.annotations?.length ?? 0,
                annotations_url: this.api(`/check-runs/${id}/annotations`),
              },
              name: run.name,
              check_suite: { id: 1 },
              app: null,
              pull_requests: [],
            },
            this.url,
          );
        }),
      },
      link,
    };
  }

  /** GET /check-runs/{id}/annotations: a run listed before, paginated as GitHub does. */
  private annotations(id: number, query: URLSearchParams): Answer {
    const where = this.checkRunsById.get(id);
    const run = where ? this.checksOf(where.sha)[where.index] : undefined;
    if (!where || !run || run.type === 'status') return notFound();
    const { items, link } = this.page(run.annotations ?? [], query);
    return {
      status: 200,
      body: items.map((a) =>
        conform(
          'check-annotation',
          {
            path: a.path,
            start_line: a.line,
            end_line: a.line,
            start_column: null,
            end_column: null,
            annotation_level: a.level ?? 'failure',
            title: a.title ?? null,
            message: a.message,
            raw_details: null,
            blob_href: `${this.url}/${this.owner}/${this.name}/blob/${where.sha}/${a.path}`,
          },
          this.url,
        ),
      ),
      link,
    };
  }

  private combinedStatus(ref: string): Answer {
    const sha = this.refs().get(ref) ?? this.repo.resolve(ref);
    if (!sha) return notFound();
    const statuses = this.checksOf(sha).filter((r) => r.type === 'status');
    const stateOf = (c: CiResult['conclusion']) =>
      c === 'success' ? 'success' : c === 'pending' ? 'pending' : c === 'error' ? 'error' : 'failure';
    const states = statuses.map((s) => stateOf(s.conclusion));
    const state = states.some((s) => s === 'failure' || s === 'error')
      ? 'failure'
      : states.some((s) => s === 'pending') || states.length === 0
        ? 'pending'
        : 'success';
    const repository = conform('minimal-repository', { ...this.repository() }, this.url);
    return {
      status: 200,
      body: {
        state,
        sha,
        total_count: statuses.length,
        statuses: statuses.map((s, i) => ({
          id: i + 1,
          node_id: `SC_${i}`,
          url: this.api(`/statuses/${sha}`),
          avatar_url: null,
          state: stateOf(s.conclusion),
          description: s.output ?? null,
          target_url: null,
          context: s.name,
          created_at: this.checkTimes.get(sha) ?? this.now(),
          updated_at: this.checkTimes.get(sha) ?? this.now(),
        })),
        repository,
        commit_url: this.api(`/commits/${sha}`),
        url: this.api(`/commits/${sha}/status`),
      },
    };
  }

  private issueJson(item: Item): Record<string, unknown> {
    const value: Record<string, unknown> = {
      id: item.number * 100 + 1,
      node_id: `I_${item.number}`,
      url: this.api(`/issues/${item.number}`),
      repository_url: this.api(''),
      labels_url: this.api(`/issues/${item.number}/labels{/name}`),
      comments_url: this.api(`/issues/${item.number}/comments`),
      events_url: this.api(`/issues/${item.number}/events`),
      html_url: `${this.url}/${this.owner}/${this.name}/issues/${item.number}`,
      number: item.number,
      state: item.state,
      title: item.title,
      body: item.body,
      user: this.user(item.user),
      labels: item.labels.map((l) => this.label(l)),
      assignee: null,
      assignees: [],
      milestone: null,
      locked: false,
      comments: item.comments.length,
      created_at: item.createdAt,
      updated_at: item.updatedAt,
      closed_at: item.closedAt,
      author_association: 'MEMBER',
    };
    if (item.pull)
      value.pull_request = {
        url: this.api(`/pulls/${item.number}`),
        html_url: `${this.url}/pull/${item.number}`,
        diff_url: null,
        patch_url: null,
        merged_at: item.pull.mergedAt,
      };
    return conform('issue', value, this.url);
  }

  private listIssues(query: URLSearchParams): Answer {
    const state = query.get('state') ?? 'open';
    const labels = (query.get('labels') ?? '').split(',').filter(Boolean);
    const all = [...this.items.values()]
      .filter((item) => state === 'all' || item.state === state)
      .filter((item) => labels.every((l) => item.labels.includes(l)))
      .sort((a, b) => b.number - a.number);
    const { items, link } = this.page(all, query);
    return { status: 200, body: items.map((item) => this.issueJson(item)), link };
  }

  private getIssue(number: number): Answer {
    const item = this.items.get(number);
    return item ? { status: 200, body: this.issueJson(item) } : notFound();
  }

  private createIssue(body: Record<string, unknown>): Answer {
    if (typeof body.title !== 'string' || !body.title) return unprocessable('Validation Failed', 'title is required');
    const labels = Array.isArray(body.labels) ? body.labels.map(String) : [];
    const number = this.openIssue({ title: body.title, body: typeof body.body === 'string' ? body.body : '', labels, user: this.login });
    return { status: 201, body: this.issueJson(this.must(number)), headers: { location: this.api(`/issues/${number}`) } };
  }

  private updateIssue(number: number, body: Record<string, unknown>): Answer {
    const item = this.items.get(number);
    if (!item) return notFound();
    if (body.state === 'closed' && item.state === 'open') this.close(item);
    if (body.state === 'open') item.state = 'open';
    if (typeof body.title === 'string') item.title = body.title;
    if (typeof body.body === 'string') item.body = body.body;
    if (Array.isArray(body.labels)) item.labels = body.labels.map(String);
    item.updatedAt = this.now();
    return { status: 200, body: this.issueJson(item) };
  }

  private commentJson(item: Item, c: Comment): Record<string, unknown> {
    return conform(
      'issue-comment',
      {
        id: c.id,
        node_id: `IC_${c.id}`,
        url: this.api(`/issues/comments/${c.id}`),
        html_url: `${this.url}/issues/${item.number}#issuecomment-${c.id}`,
        issue_url: this.api(`/issues/${item.number}`),
        body: c.body,
        user: this.user(c.user),
        created_at: c.at,
        updated_at: c.at,
        author_association: 'NONE',
      },
      this.url,
    );
  }

  private listComments(number: number, query: URLSearchParams): Answer {
    const item = this.items.get(number);
    if (!item) return notFound();
    const { items, link } = this.page(item.comments, query);
    return { status: 200, body: items.map((c) => this.commentJson(item, c)), link };
  }

  private createComment(number: number, body: Record<string, unknown>): Answer {
    const item = this.items.get(number);
    if (!item) return notFound();
    if (typeof body.body !== 'string' || !body.body) return unprocessable('Validation Failed', 'body is required');
    const comment = { id: this.nextId++, body: body.body, user: this.login, at: this.now() };
    item.comments.push(comment);
    item.updatedAt = this.now();
    return { status: 201, body: this.commentJson(item, comment), headers: { location: this.api(`/issues/comments/${comment.id}`) } };
  }

  private addLabels(number: number, body: Record<string, unknown>): Answer {
    const item = this.items.get(number);
    if (!item) return notFound();
    const labels = Array.isArray(body.labels) ? body.labels.map(String) : [];
    for (const label of labels) if (!item.labels.includes(label)) item.labels.push(label);
    item.updatedAt = this.now();
    return { status: 200, body: item.labels.map((l) => this.label(l)) };
  }

  private removeLabel(number: number, name: string): Answer {
    const item = this.items.get(number);
    if (!item) return notFound();
    if (!item.labels.includes(name))
      return {
        status: 404,
        body: {
          message: 'Label does not exist',
          documentation_url: 'https://docs.github.com/rest/issues/labels#remove-a-label-from-an-issue',
          status: '404',
        },
      };
    item.labels = item.labels.filter((l) => l !== name);
    item.updatedAt = this.now();
    return { status: 200, body: item.labels.map((l) => this.label(l)) };
  }

  private contents(path: string, ref: string): Answer {
    const sha = this.refs().get(ref) ?? this.repo.resolve(ref);
    const blob = sha ? this.repo.tryGit(['rev-parse', `${sha}:${path}`])?.trim() : undefined;
    if (!sha || !blob) return notFound();
    const type = this.repo.git(['cat-file', '-t', blob]).trim();
    if (type !== 'blob') return notFound();
    const content = Buffer.from(this.repo.git(['cat-file', 'blob', blob]), 'utf8');
    const name = path.split('/').pop() as string;
    return {
      status: 200,
      body: conform(
        'content-file',
        {
          type: 'file',
          encoding: 'base64',
          size: content.length,
          name,
          path,
          content: content.toString('base64'),
          sha: blob,
          url: this.api(`/contents/${path}`),
          git_url: this.api(`/git/blobs/${blob}`),
          html_url: `${this.url}/blob/${path}`,
          download_url: `${this.url}/raw/${path}`,
          _links: { self: this.api(`/contents/${path}`), git: null, html: null },
        },
        this.url,
      ),
    };
  }

  private treeJson(treeSha: string, recursive: boolean): Record<string, unknown> {
    const out = this.repo.git(['ls-tree', ...(recursive ? ['-r', '-t'] : []), '-l', treeSha]);
    const tree = out
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [meta, path] = line.split('\t') as [string, string];
        const [mode, type, sha, size] = meta.split(/\s+/) as [string, string, string, string];
        return { path, mode, type, sha, ...(type === 'blob' ? { size: Number(size) } : {}), url: this.api(`/git/${type}s/${sha}`) };
      });
    return { sha: treeSha, url: this.api(`/git/trees/${treeSha}`), tree, truncated: false };
  }

  private getTree(ref: string, recursive: boolean): Answer {
    const tree = this.repo.tryGit(['rev-parse', '--verify', '--quiet', `${ref}^{tree}`])?.trim();
    if (!tree) return notFound();
    return { status: 200, body: this.treeJson(tree, recursive) };
  }

  private createTree(body: Record<string, unknown>): Answer {
    const entries = Array.isArray(body.tree) ? (body.tree as { path: string; mode: string; sha: string | null }[]) : [];
    const base = typeof body.base_tree === 'string' ? body.base_tree : undefined;
    try {
      const tree = this.repo.treeFromEntries(base, entries);
      return { status: 201, body: this.treeJson(tree, false), headers: { location: this.api(`/git/trees/${tree}`) } };
    } catch (error) {
      return unprocessable('GitRPC::BadObjectState', (error as Error).message);
    }
  }

  private createCommit(body: Record<string, unknown>): Answer {
    const tree = String(body.tree ?? '');
    const parents = Array.isArray(body.parents) ? body.parents.map(String) : [];
    if (!this.repo.tryGit(['cat-file', '-t', tree])) return unprocessable('Tree SHA does not exist');
    const sha = this.repo.commitTree(tree, parents, String(body.message ?? ''), {
      name: 'Build Master',
      email: 'build-master@users.noreply.github.com',
    });
    const [an, ae, ad, cn, ce, cd] = this.repo
      .git(['show', '-s', '--format=%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%cI', sha])
      .trim()
      .split('\x1f') as string[];
    return {
      status: 201,
      body: {
        sha,
        node_id: `C_${sha}`,
        url: this.api(`/git/commits/${sha}`),
        html_url: `${this.url}/commit/${sha}`,
        author: { name: an, email: ae, date: ad },
        committer: { name: cn, email: ce, date: cd },
        tree: { sha: tree, url: this.api(`/git/trees/${tree}`) },
        message: String(body.message ?? ''),
        parents: parents.map((p) => ({ sha: p, url: this.api(`/git/commits/${p}`), html_url: `${this.url}/commit/${p}` })),
        verification: { verified: false, reason: 'unsigned', signature: null, payload: null, verified_at: null },
      },
      headers: { location: this.api(`/git/commits/${sha}`) },
    };
  }

  private createRef(body: Record<string, unknown>): Answer {
    const ref = String(body.ref ?? '');
    const sha = String(body.sha ?? '');
    if (!ref.startsWith('refs/heads/')) return unprocessable('Reference name must start with refs/heads/');
    const branch = ref.slice('refs/heads/'.length);
    if (this.refs().has(branch)) return unprocessable('Reference already exists');
    if (!this.repo.tryGit(['cat-file', '-t', sha])) return unprocessable('Object does not exist');
    this.repo.git(['update-ref', ref, sha]);
    this.refsChanged();
    return {
      status: 201,
      body: {
        ref,
        node_id: `REF_${branch}`,
        url: this.api(`/git/${ref}`),
        object: { type: 'commit', sha, url: this.api(`/git/commits/${sha}`) },
      },
      headers: { location: this.api(`/git/${ref}`) },
    };
  }
}

interface DiffFile {
  filename: string;
  previous_filename?: string;
  status: string;
  additions: number;
  deletions: number;
  patch?: string;
  sha: string;
}

interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  link?: (url: URL) => string;
}

function notFound(): Answer {
  return { status: 404, body: { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' } };
}

function unprocessable(message: string, detail?: string): Answer {
  return {
    status: 422,
    body: { message, documentation_url: 'https://docs.github.com/rest', ...(detail ? { errors: [detail] } : {}), status: '422' },
  };
}

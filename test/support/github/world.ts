// A GitHub-mode world for integration tests: a bare "origin" repository served
// by the test GitHub server, a clone that is the user's workspace (policy file
// and Build Master's store), CI that fails a lane's check when the tree holds
// that lane's BROKEN marker, and a controller session in GitHub mode.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCycle, type CycleReport } from '../../../extension/controller/cycle';
import { openSession, type Session } from '../../../extension/controller/session';
import { BareRepo } from './git';
import { GitHubServer, type CiResult } from './server';

export const LANES = ['web', 'api', 'docs'] as const;

export function githubPolicy(apiUrl: string, extra = ''): string {
  return `target: main
lanes:
  - name: web
    paths: ["web/**"]
    checks: ["test-web"]
  - name: api
    paths: ["api/**"]
    checks: ["test-api"]
  - name: docs
    paths: ["docs/**"]
merge:
  method: squash
  required_approvals: 1
autonomy:
  merge: A4
  fix: A2
  revert: A2
  hygiene: A4
incidents:
  page_owner_after: 1h
dispatch:
  worker: github-issue
  label: agent
owners: ["@octocat"]
github:
  repository: acme/app
  api_url: ${apiUrl}
${extra}`;
}

/** CI: test-<lane> fails when <lane>/BROKEN exists in the commit's tree; lint is a commit status. */
export function laneCi(sha: string, repo: BareRepo): CiResult[] {
  const files = new Set(repo.git(['ls-tree', '-r', '--name-only', sha]).split('\n'));
  return [
    ...(['web', 'api'] as const).map((lane): CiResult =>
      files.has(`${lane}/BROKEN`)
        ? { name: `test-${lane}`, conclusion: 'failure', output: `FAIL ${lane}/spec.test.js\n  expected 200, got 500\n1 failing test` }
        : { name: `test-${lane}`, conclusion: 'success' },
    ),
    { name: 'lint', conclusion: 'success', type: 'status' },
  ];
}

export interface PullOptions {
  approve?: boolean;
  title?: string;
  body?: string;
  labels?: string[];
  draft?: boolean;
  base?: string;
}

export class GitHubWorld {
  readonly dir: string;
  readonly origin: BareRepo;
  readonly workspace: string;
  server!: GitHubServer;
  session!: Session;
  now = Date.parse('2026-11-21T09:00:00Z');
  logs: string[] = [];

  /** A new origin and workspace, or a copy of a prepared template's (no git process runs). */
  constructor(template?: string) {
    this.dir = mkdtempSync(join(tmpdir(), 'bm-gh-'));
    this.workspace = join(this.dir, 'work');
    if (template) {
      cpSync(template, this.dir, { recursive: true });
      this.origin = new BareRepo(join(this.dir, 'origin.git'));
      return;
    }
    this.origin = BareRepo.init(join(this.dir, 'origin.git'));
    this.origin.commit(
      'main',
      {
        'README.md': '# app\n',
        'web/index.js': 'export const web = 1;\n',
        'api/server.js': 'export const api = 1;\n',
        'docs/guide.md': '# guide\n',
      },
      'initial',
    );
    execFileSync('git', ['clone', '--quiet', this.origin.dir, this.workspace]);
  }

  /**
   * Repositories prepared once for many worlds (`start({ from })` copies them):
   * a suite that needs a fresh world per case pays for its git setup once. The
   * caller removes the returned directory when done.
   */
  static prepare(setup: (origin: BareRepo) => void = () => undefined): string {
    const template = new GitHubWorld();
    setup(template.origin);
    return template.dir;
  }

  static async start(options: { extraPolicy?: string; mergeabilityUnknownFirst?: boolean; from?: string } = {}): Promise<GitHubWorld> {
    const world = new GitHubWorld(options.from);
    world.server = await new GitHubServer({
      repo: world.origin,
      ci: laneCi,
      now: () => world.now,
      mergeabilityUnknownFirst: options.mergeabilityUnknownFirst ?? false,
    }).start();
    world.writePolicy(options.extraPolicy ?? '');
    await world.open();
    return world;
  }

  writePolicy(extra: string): void {
    writeFileSync(join(this.workspace, '.buildmaster.yml'), githubPolicy(this.server.url, extra));
  }

  /** A fresh controller session: a restarted process, with its cache and store read from disk. */
  async open(): Promise<Session> {
    this.session = await openSession(this.workspace, {
      forge: 'github',
      github: { token: this.server.token, timing: { retryAfterBaseMs: 10, writeIntervalMs: 0 } },
      clock: { now: () => this.now },
      log: (m) => this.logs.push(m),
    });
    return this.session;
  }

  async cycle(): Promise<CycleReport> {
    return runCycle(this.session.deps);
  }

  /** Opens an approved pull request from a new branch with `files`. */
  pull(branch: string, files: Record<string, string | null>, options: PullOptions = {}): number {
    this.server.push(branch, files, options.title ?? branch, options.base ?? 'main');
    return this.pullFrom(branch, options);
  }

  /** Opens an approved pull request from a branch the origin already has. */
  pullFrom(branch: string, options: PullOptions = {}): number {
    const number = this.server.openPull({
      head: branch,
      title: options.title ?? branch,
      body: options.body ?? '',
      labels: options.labels ?? [],
      draft: options.draft ?? false,
      base: options.base ?? 'main',
    });
    if (options.approve ?? true) this.server.review(number, 'alice', 'APPROVED');
    return number;
  }

  /** Moves a branch of the origin to a commit it already has, as a push would. */
  moveBranch(branch: string, sha: string): void {
    this.origin.git(['update-ref', `refs/heads/${branch}`, sha]);
    this.server.refsChanged();
  }

  /** Commits on main whose subject names a pull request, counted per number. */
  mergesOf(number: number): number {
    const trailer = new RegExp(`^Build-Master-Change: #${number}$`, 'm');
    return this.origin
      .git(['log', '--format=%B%x1e', 'main'])
      .split('\x1e')
      .filter((m) => trailer.test(m)).length;
  }

  merged(number: number): boolean {
    return this.server.item(number)?.pull?.merged ?? false;
  }

  state() {
    return this.session.store.data.state;
  }

  advance(ms: number): void {
    this.now += ms;
  }

  async stop(): Promise<void> {
    await this.server.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// Real git repositories in temp folders for the integration tests.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MERGES_TIER_2, THREE_LANE_LANES } from '../../fixtures/policies';

const IDENTITY = {
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@localhost',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@localhost',
};

export class Sandbox {
  readonly dir: string;

  constructor(files: Record<string, string>) {
    this.dir = mkdtempSync(join(tmpdir(), 'bm-it-'));
    this.git('init', '--quiet', '--initial-branch=main');
    this.write(files);
    this.commitAll('initial');
  }

  git(...args: string[]): string {
    const env = Object.fromEntries(
      Object.entries({ ...process.env, ...IDENTITY }).filter(([key]) => !key.startsWith('GIT_') || key in IDENTITY),
    );
    return execFileSync('git', args, { cwd: this.dir, env, encoding: 'utf8' }).trim();
  }

  write(files: Record<string, string>): void {
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(this.dir, path)), { recursive: true });
      writeFileSync(join(this.dir, path), content);
    }
  }

  read(path: string): string {
    return readFileSync(join(this.dir, path), 'utf8');
  }

  commitAll(message: string): string {
    this.git('add', '-A');
    this.git('commit', '--quiet', '--allow-empty', '-m', message);
    return this.git('rev-parse', 'HEAD');
  }

  /** A branch off main (or `from`) with one commit writing `files`. */
  branch(name: string, files: Record<string, string>, from = 'main'): string {
    const current = this.git('rev-parse', '--abbrev-ref', 'HEAD');
    this.git('checkout', '--quiet', '-b', name, from);
    this.write(files);
    const sha = this.commitAll(`${name}: change`);
    this.git('checkout', '--quiet', current);
    return sha;
  }

  head(ref = 'main'): string {
    return this.git('rev-parse', ref);
  }

  /** Subjects of main's first-parent history, newest first. */
  log(ref = 'main'): string[] {
    return this.git('log', '--first-parent', '--format=%s', ref).split('\n');
  }

  /** Build-Master-Key trailers in main's history: one per merge Build Master made. */
  mergeKeys(): string[] {
    return this.git('log', '--first-parent', '--format=%B', 'main')
      .split('\n')
      .filter((line) => line.startsWith('Build-Master-Key: '))
      .map((line) => line.slice('Build-Master-Key: '.length));
  }

  /**
   * Keys of the merges Build Master itself committed (committer Build Master,
   * trailer block last): text anyone else wrote into a commit does not count.
   */
  ownMergeKeys(): string[] {
    return this.git('log', '--first-parent', '--format=%cn%x1f%B%x1e', 'main')
      .split('\x1e')
      .map((row) => row.trim().split('\x1f'))
      .filter(([committer]) => committer === 'Build Master')
      .map(
        ([, body = '']) =>
          /(?:^|\n)Build-Master-Key: (.+)\s*$/.exec(
            body
              .trim()
              .split(/\n\s*\n/)
              .pop() ?? '',
          )?.[1] ?? '',
      )
      .filter(Boolean);
  }

  get stateDir(): string {
    return join(this.dir, '.git', 'buildmaster');
  }

  events(): {
    seq: number;
    type: string;
    kind?: string;
    key?: string;
    status?: string;
    change?: string;
    lane?: string;
    message: string;
    from?: string;
    to?: string;
  }[] {
    const path = join(this.stateDir, 'events.jsonl');
    if (!existsSync(path)) return [];
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as ReturnType<Sandbox['events']>[number]);
  }

  state(): {
    state?: {
      lanes: Record<string, { state: string }>;
      incidents: Record<string, { status: string; retries: number; escalated: boolean }>;
      global: { state: string };
    };
    builds: { incident: string; attempt: number; status: string; history: { status: string }[] }[];
  } {
    return JSON.parse(readFileSync(join(this.stateDir, 'state.json'), 'utf8')) as ReturnType<Sandbox['state']>;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Three lanes whose checks grep a marker file; `fixer.sh` restores web's marker. */
export function threeLaneFiles(policyExtra = ''): Record<string, string> & { '.buildmaster.yml': string } {
  return {
    '.buildmaster.yml': `target: main
${THREE_LANE_LANES}${MERGES_TIER_2}dispatch:
  worker: command
  command: "sh scripts/fixer.sh"
  timeout: 1m
local:
  branches: ["agent/*"]
  checks:
    - name: test-web
      run: sh web/test.sh
    - name: test-api
      run: sh api/test.sh
    - name: test-docs
      run: sh docs/test.sh
  check_timeout: 30s
${policyExtra}`,
    'web/status': 'ok\n',
    'web/test.sh': 'grep -qx ok web/status || { echo "1 failing"; echo "AssertionError: web/status is not ok"; exit 1; }\n',
    'api/status': 'ok\n',
    'api/test.sh': 'grep -qx ok api/status || { echo "1 failing: api"; exit 1; }\n',
    'docs/index.md': '# docs\n',
    'docs/test.sh': 'test -s docs/index.md\n',
    'scripts/fixer.sh': 'cat > /dev/null\nprintf "ok\\n" > web/status\necho fixed\n',
  };
}

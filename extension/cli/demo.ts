// `build-master demo`: a sandbox repository with three lanes and several agent
// branches, one merge that breaks main (an agent merges by hand, around the
// queue), and a scripted fixer. Cycles run until main has recovered, and the
// timeline shows each step: merges, the incident, the pause, the fix, the recovery.
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { short } from '../core/text';
import type { Decision } from '../core/model';
import { runCycle, type ActionOutcome } from '../controller/cycle';
import { lockSession, openSession } from '../controller/session';
import { client } from '../git/repo';
import { UsageError } from './validate';

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

const POLICY = `# Build Master demo policy: three lanes, each with its own check.
target: main
lanes:
  - name: web
    paths: ["web/**"]
    checks: ["test-web"]
  - name: api
    paths: ["api/**"]
    checks: ["test-api"]
  - name: docs
    paths: ["docs/**"]
    checks: ["test-docs"]
autonomy:
  merge: A4     # merge tier 1 and tier 2 changes automatically
  fix: A2       # dispatch fixes automatically
  revert: A2
dispatch:
  worker: command
  command: "sh scripts/fixer.sh"
  timeout: 2m
local:
  branches: ["agent/*"]
  checks:
    - name: test-web
      run: sh web/test.sh
    - name: test-api
      run: sh api/test.sh
    - name: test-docs
      run: sh docs/test.sh
  check_timeout: 1m
`;

const FILES: Record<string, string> = {
  '.buildmaster.yml': POLICY,
  'README.md': '# Demo shop\n\nA sandbox for Build Master.\n',
  'web/app.js': "export const greeting = 'hello';\nexport const title = 'Shop';\n",
  'web/test.sh': `#!/bin/sh
# test-web: the page must greet the customer.
grep -q "greeting = 'hello'" web/app.js || { echo "1 failing"; echo "AssertionError: expected greeting to be 'hello' in web/app.js"; exit 1; }
echo "web: 1 passing"
`,
  'api/server.js': "export const routes = ['/health'];\n",
  'api/test.sh': `#!/bin/sh
grep -q "/health" api/server.js || { echo "1 failing: /health route missing"; exit 1; }
echo "api: 1 passing"
`,
  'docs/guide.md': '# Guide\n\nHow to shop.\n',
  'docs/test.sh': `#!/bin/sh
test -s docs/guide.md || { echo "docs/guide.md is empty"; exit 1; }
echo "docs: ok"
`,
  'scripts/fixer.sh': `#!/bin/sh
# A scripted stand-in for a coding agent: it reads the prompt on stdin and
# repairs the greeting the failing test names. It never commits: Build Master does.
prompt=$(cat)
case "$prompt" in
  *"greeting to be 'hello'"*)
    sed -i "s/greeting = '[^']*'/greeting = 'hello'/" web/app.js
    echo "fixer: restored the greeting in web/app.js"
    ;;
  *) echo "fixer: nothing I know how to fix"; exit 1 ;;
esac
`,
};

/** Agent branches: [branch, file, content, subject]. */
const AGENTS: [string, string, string, string][] = [
  ['agent/web-header', 'web/header.js', "export const header = 'Welcome';\n", 'Add a header to the shop page'],
  ['agent/api-users', 'api/users.js', "export const users = ['/users'];\n", 'Add the users endpoint'],
  ['agent/docs-intro', 'docs/intro.md', '# Intro\n\nStart here.\n', 'Write the introduction'],
  ['agent/api-orders', 'api/orders.js', "export const orders = ['/orders'];\n", 'Add the orders endpoint'],
  ['agent/web-footer', 'web/footer.js', "export const footer = '© Shop';\n", 'Add a footer'],
  ['agent/docs-faq', 'docs/faq.md', '# FAQ\n\nQuestions and answers.\n', 'Add a FAQ'],
];

/** A tier 3 change (infra/** by the default risk policy): it waits for a person's approval. */
const NEEDS_APPROVAL: [string, string, string, string] = [
  'agent/infra-deploy',
  'infra/deploy.sh',
  '#!/bin/sh\necho "deploying the shop"\n',
  'Deploy script for the shop',
];

export async function createDemoRepository(dir: string, options: { withApproval?: boolean } = {}): Promise<void> {
  mkdirSync(dir, { recursive: true });
  if (readdirSync(dir).length) throw new UsageError(`${dir} is not empty; give demo an empty or new --dir`);
  const git = client(dir, {
    GIT_AUTHOR_NAME: 'Demo',
    GIT_AUTHOR_EMAIL: 'demo@localhost',
    GIT_COMMITTER_NAME: 'Demo',
    GIT_COMMITTER_EMAIL: 'demo@localhost',
  });
  await git.raw(['init', '--quiet', '--initial-branch=main']);
  for (const [path, content] of Object.entries(FILES)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  await git.raw(['add', '-A']);
  await git.raw(['commit', '--quiet', '-m', 'Initial shop']);
  for (const [branch, file, content, subject] of [
    ...AGENTS,
    ...(options.withApproval ? [NEEDS_APPROVAL] : []),
    ['agent/web-rename', 'web/app.js', "export const greeting = 'hi there';\nexport const title = 'Shop';\n", 'Friendlier greeting'] as [
      string,
      string,
      string,
      string,
    ],
  ]) {
    await git.raw(['checkout', '--quiet', '-b', branch, 'main']);
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), content);
    await git.raw(['add', '-A']);
    await git.raw(['commit', '--quiet', '-m', subject]);
  }
  await git.raw(['checkout', '--quiet', 'main']);
}

/** The break: an agent merges its branch by hand, around the queue, and web's test goes red. */
async function mergeAroundTheQueue(dir: string): Promise<string> {
  const git = client(dir, {
    GIT_AUTHOR_NAME: 'Hasty Agent',
    GIT_AUTHOR_EMAIL: 'agent@localhost',
    GIT_COMMITTER_NAME: 'Hasty Agent',
    GIT_COMMITTER_EMAIL: 'agent@localhost',
  });
  await git.raw(['merge', '--quiet', '--no-ff', '-m', "Merge branch 'agent/web-rename'", 'agent/web-rename']);
  return (await git.raw(['rev-parse', 'HEAD'])).trim();
}

const ICON: Partial<Record<Decision['kind'], string>> = {
  merge: '✔ merge',
  'open-incident': '✖ incident',
  'lane-transition': '↻ lane',
  'dispatch-fix': '⚙ dispatch',
  'resolve-incident': '✔ resolved',
  escalate: '! escalate',
  'global-hold': '■ hold',
  'propose-revert': '↶ revert',
  'request-approval': '? approval',
  outcome: '· outcome',
};

export async function runDemo(options: { dir?: string | undefined; json: boolean; io: Io }): Promise<number> {
  const { io } = options;
  const dir = options.dir ? resolve(options.dir) : mkdtempSync(join(tmpdir(), 'build-master-demo-'));
  await createDemoRepository(dir);
  const say = (text: string) => {
    if (!options.json) io.out(text);
  };
  say(`Build Master demo — sandbox repository: ${dir}`);
  say('lanes web, api, docs; six agent branches waiting; a scripted fixer as the coding agent\n');
  const timeline: { cycle: number; note?: string; decisions: Decision[]; actions: ActionOutcome[]; lanes: Record<string, string> }[] = [];
  let broke = false;
  let recovered = false;
  for (let cycle = 1; cycle <= 12; cycle++) {
    if (cycle === 2) {
      const sha = await mergeAroundTheQueue(dir);
      broke = true;
      const note = `an agent merges agent/web-rename by hand, around the queue (${short(sha)}): it breaks test-web on main`;
      say(`\n⚡ ${note}`);
      timeline.push({ cycle, note, decisions: [], actions: [], lanes: {} });
    }
    // What the cycle does is said under its heading, which can only be written once the cycle is over.
    const during: string[] = [];
    const session = await openSession(dir, { log: (m) => during.push(`    · ${m}`) });
    const lock = await lockSession(session, 'demo', (m) => during.push(`    · ${m}`));
    let report;
    try {
      report = await runCycle(session.deps);
    } finally {
      lock.release();
    }
    const { decisions, state } = report.result;
    const lanes = Object.fromEntries(Object.values(state.lanes).map((lane) => [lane.name, lane.state]));
    timeline.push({ cycle, decisions, actions: report.actions, lanes });
    say(
      `\ncycle ${cycle} — global ${state.global.state}; lanes: ${Object.entries(lanes)
        .filter(([name]) => name !== 'shared')
        .map(([name, s]) => `${name} ${s}`)
        .join(', ')}`,
    );
    for (const line of during) say(line);
    const byKey = new Map(report.actions.map((a) => [a.key, a]));
    for (const decision of decisions) {
      const label = ICON[decision.kind];
      if (!label) continue;
      const action = decision.key ? byKey.get(decision.key) : undefined;
      const subject =
        decision.kind === 'lane-transition'
          ? `${decision.lane}: ${decision.from} → ${decision.to}`
          : [decision.lane, decision.change ?? decision.incident].filter(Boolean).join(' ');
      const result = action ? (action.status === 'done' ? ` — ${action.message}` : ` — ${action.status}: ${action.message}`) : '';
      say(`  ${label.padEnd(12)} ${subject}\n      ${decision.rationale}${result}`);
    }
    const open = report.snapshotChanges.length;
    if (
      broke &&
      Object.values(state.incidents).some((i) => i.status === 'resolved') &&
      Object.values(state.lanes).every((l) => l.state === 'healthy')
    ) {
      recovered = true;
      if (open === 0 || decisions.every((d) => d.kind !== 'merge')) break;
    }
  }
  const summary = recovered
    ? 'main broke, web was contained while api and docs kept merging, the fix merged first, and main recovered'
    : 'the demo did not reach recovery within 12 cycles';
  say(`\n${recovered ? '✔' : '✖'} ${summary}`);
  const cli = cliCommand();
  say(`inspect it: ${cli} status --repo ${dir}   |   ${cli} log --repo ${dir}`);
  say(`(the status also lists lane shared: the default lane, for changes that match no lane's paths and for cross-lane changes)`);
  if (options.json) io.out(JSON.stringify({ dir, recovered, summary, timeline }, null, 2));
  return recovered ? 0 : 1;
}

/** The command that runs this CLI as typed from the current folder: build-master is seldom on PATH. */
export function cliCommand(script = process.argv[1], cwd = process.cwd()): string {
  if (!script || !/\.[cm]?js$/.test(script)) return 'npx build-master';
  const path = relative(cwd, script);
  const shown = path.startsWith('..') || isAbsolute(path) ? script : path;
  return `node ${/^[\w./@+-]+$/.test(shown) ? shown : JSON.stringify(shown)}`;
}

// Runs against hostile agents and planners, with real git and real processes: a daemon that detaches
// from the agent (setsid, a double fork, `env -i`, `cd /`) to write into the repository after the agent
// ended, a planner inventing test commands to run on the user's machine, a review whose repair must
// still be a review. The scripted agent or a small shell script plays the attacker.
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { advance, recordResult } from '../../extension/core/runs/engine';
import { taskSchema, type Task } from '../../extension/core/runs/model';
import { runsPolicySchema, workerClassSchema } from '../../extension/core/runs/policy';
import { readTicket } from '../../extension/core/runs/template';
import { GitRepo } from '../../extension/git/repo';
import { runPlanner } from '../../extension/workers/planner/planner';
import { runTask, type TaskJob } from '../../extension/workers/task/worker';
import { context, result, run } from '../support/runs';
import { Sandbox } from '../support/sandbox';

const AGENT = join(process.cwd(), 'fixtures', 'agent', 'scripted-agent.mjs');

async function waitFor(what: string, probe: () => boolean, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

describe('runs adversarial (real git, real processes)', function () {
  this.timeout(180_000);
  let sb: Sandbox;
  let repo: GitRepo;
  let tools: string;
  const saved = { ...process.env };

  beforeEach(async () => {
    sb = new Sandbox({ 'src/app.txt': 'v1\n', 'README.md': '# app\n' });
    repo = await GitRepo.open(sb.dir);
    tools = mkdtempSync(join(tmpdir(), 'bm-adv-'));
  });

  afterEach(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) Reflect.deleteProperty(process.env, key);
    Object.assign(process.env, saved);
    rmSync(tools, { recursive: true, force: true });
    sb.remove();
  });

  function codeTask(id: string, type = 'code'): Task {
    return taskSchema.parse({
      id,
      type,
      spec: { prompt: `Implement ${id}`, variables: {}, write_scope: ['src/**'], test_commands: [], auto_commit: true },
      depends_on: [],
      attempts: 0,
      status: 'running',
    });
  }

  function shellJob(t: Task, script: string, fields: Partial<TaskJob> = {}): TaskJob {
    const file = join(tools, `agent-${Math.random().toString(36).slice(2)}.sh`);
    writeFileSync(file, script);
    return {
      run: 'r1',
      task: t,
      workerClass: workerClassSchema.parse({ name: 'shell', command: `sh ${JSON.stringify(file)}` }),
      attempt: 1,
      base: sb.head(),
      target: 'main',
      testCommands: t.spec.test_commands,
      testTimeoutMs: 60_000,
      ...fields,
    };
  }

  // The daemon waits for a file the test writes after runTask returned, then writes a branch and the user's checkout.
  const daemonBody = (go: string, proof: string) =>
    `while [ ! -e ${JSON.stringify(go)} ]; do sleep 0.1; done; git -C "$0" update-ref refs/heads/evil HEAD; echo evil > "$0/src/app.txt"; echo ran > ${JSON.stringify(proof)}`;

  for (const [name, spawn] of [
    [
      'a background daemon that clears its variables and leaves the worktree',
      (body: string) => `env -i PATH="$PATH" setsid sh -c 'cd /; ${body}' "$REPO" </dev/null >/dev/null 2>&1 &`,
    ],
    [
      'a double-forked daemon (the classic daemonize)',
      (body: string) => `(cd / && exec env -i PATH="$PATH" setsid sh -c '${body}' "$REPO" </dev/null >/dev/null 2>&1 &)`,
    ],
  ] as const) {
    it(`an agent's detached daemon dies with the agent: ${name}`, async () => {
      const go = join(tools, 'go');
      const proof = join(tools, 'daemon-ran');
      const script = [`REPO=${JSON.stringify(sb.dir)}`, 'echo x > src/a.txt', spawn(daemonBody(go, proof)), 'sleep 1', 'echo done'].join(
        '\n',
      );
      const outcome = await runTask(repo, shellJob(codeTask('daemon'), script));
      assert.ok(outcome.success, outcome.error);
      writeFileSync(go, '');
      // The daemon polls every 0.1 s: given ample time, a live one would have written its proof.
      const until = Date.now() + 3_000;
      await waitFor('a while', () => Date.now() > until);
      assert.equal(sb.git('for-each-ref', '--format=%(refname)', 'refs/heads/evil'), '', 'no branch written after the task ended');
      assert.equal(sb.git('status', '--porcelain'), '', "the user's checkout is untouched");
      assert.equal(sb.git('show', 'HEAD:src/app.txt'), 'v1');
    });
  }

  it('a test command that daemonizes dies with it too', async () => {
    const go = join(tools, 'go');
    const proof = join(tools, 'daemon-ran');
    const test = join(tools, 'test.sh');
    writeFileSync(
      test,
      [
        `REPO=${JSON.stringify(sb.dir)}`,
        `(cd / && exec env -i PATH="$PATH" setsid sh -c '${daemonBody(go, proof)}' "$REPO" </dev/null >/dev/null 2>&1 &)`,
        'sleep 1',
      ].join('\n'),
    );
    const t = codeTask('tested');
    const outcome = await runTask(repo, shellJob(t, 'echo x > src/a.txt\n', { testCommands: [`sh ${JSON.stringify(test)}`] }));
    assert.ok(outcome.success, outcome.error);
    writeFileSync(go, '');
    const until = Date.now() + 3_000;
    await waitFor('a while', () => Date.now() > until);
    assert.equal(sb.git('for-each-ref', '--format=%(refname)', 'refs/heads/evil'), '');
    assert.equal(sb.git('status', '--porcelain'), '');
  });

  it("the agent's exit status passes through the containment as it is", async () => {
    const killed = await runTask(repo, shellJob(codeTask('sig'), 'echo x > src/a.txt\nkill -9 $$\n'));
    assert.equal(killed.error, 'the agent exited with 137');
    const three = await runTask(repo, shellJob(codeTask('three'), 'echo x > src/a.txt\nexit 3\n'));
    assert.equal(three.error, 'the agent exited with 3');
  });

  it("a planner's plan with a test command the policy does not list is rejected, naming it; nothing runs", async () => {
    const marker = join(tools, 'pwned');
    const plan = {
      tasks: [
        { id: 'a', type: 'code', prompt: 'p', test_commands: ['npm test'] },
        { id: 'b', type: 'code', prompt: 'p', test_commands: [`touch ${marker}`] },
      ],
    };
    writeFileSync(join(tools, 'plan.json'), JSON.stringify(plan));
    const given = { planner: { command: `cat ${JSON.stringify(join(tools, 'plan.json'))}` }, test_commands: ['npm test'] };
    const runs = runsPolicySchema.parse(given);
    const outcome = await runPlanner(sb.dir, runs, readTicket('Add a health endpoint'));
    assert.equal(outcome.ok, false);
    assert.ok(!outcome.ok);
    assert.match(outcome.reason, /nothing runs/);
    assert.ok(outcome.reason.includes(`task "b" would run ${JSON.stringify(`touch ${marker}`)}`), outcome.reason);
    assert.match(outcome.reason, /runs\.test_commands/);
    assert.ok(!outcome.reason.includes('task "a"'), 'a listed command is fine');
    const fine = runsPolicySchema.parse({ ...given, test_commands: ['npm test', `touch ${marker}`] });
    const allowed = await runPlanner(sb.dir, fine, readTicket('Add a health endpoint'));
    assert.ok(allowed.ok, allowed.ok ? '' : allowed.reason);
    assert.equal(existsSync(marker), false, 'planning runs no test command');
  });

  it("a planner's detached daemon dies with the planner: nothing writes the repository after its plan was read", async () => {
    const go = join(tools, 'go');
    const proof = join(tools, 'daemon-ran');
    const script = join(tools, 'planner.sh');
    writeFileSync(
      script,
      [
        `REPO=${JSON.stringify(sb.dir)}`,
        `(cd / && exec env -i PATH="$PATH" setsid sh -c '${daemonBody(go, proof)}' "$REPO" </dev/null >/dev/null 2>&1 &)`,
        'sleep 1',
        `echo '{"tasks": [{"id": "a", "type": "code", "prompt": "p"}]}'`,
      ].join('\n'),
    );
    const runs = runsPolicySchema.parse({ planner: { command: `sh ${JSON.stringify(script)}` } });
    const outcome = await runPlanner(sb.dir, runs, readTicket('Add a health endpoint'));
    assert.ok(outcome.ok, outcome.ok ? '' : outcome.reason);
    writeFileSync(go, '');
    const until = Date.now() + 3_000;
    await waitFor('a while', () => Date.now() > until);
    assert.equal(existsSync(proof), false, 'the daemon never ran on');
    assert.equal(sb.git('for-each-ref', '--format=%(refname)', 'refs/heads/evil'), '');
    assert.equal(sb.git('status', '--porcelain'), '');
  });

  it("a failed review's repair is a review: an approving verdict with no file changed completes it", async () => {
    const ctx = context();
    const review = taskSchema.parse({ ...codeTask('rv', 'review'), status: 'pending' });
    const planned = run([review, taskSchema.parse({ ...codeTask('b'), status: 'pending', depends_on: ['rv'] })]);
    let of = advance(planned, ctx).run;
    of = advance(recordResult(of, 'rv', result({ success: false, error: 'the agent exited with 1' }), true, 1_100), ctx).run;
    const repair = of.tasks.find((t) => t.repair_of === 'rv');
    assert.ok(repair);
    const scriptFile = join(tools, 'script.json');
    writeFileSync(scriptFile, JSON.stringify({ '*': { verdict: 'approve', usage: { tokens_in: 10, tokens_out: 5 } } }));
    process.env.SCRIPTED_AGENT = scriptFile;
    const outcome = await runTask(repo, {
      run: 'r1',
      task: { ...repair, status: 'running' },
      workerClass: workerClassSchema.parse({ name: 'scripted', command: `node ${JSON.stringify(AGENT)}`, env: ['SCRIPTED_AGENT'] }),
      attempt: 1,
      base: sb.head(),
      testCommands: [],
      testTimeoutMs: 60_000,
    });
    assert.ok(outcome.success, outcome.error);
    assert.equal(outcome.verdict, 'approve');
    const recorded = advance(
      recordResult(of, repair.id, { ...result(), ...outcome, files_changed: [] }, true, 1_200, outcome.verdict),
      ctx,
    );
    assert.ok(
      recorded.commands.some((command) => command.kind === 'start' && command.task === 'b'),
      'what the review gates starts',
    );
  });
});

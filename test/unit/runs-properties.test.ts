// Property tests of the run engine: random DAGs with random write scopes, types and results, driven
// by a simulated shell (workers that finish, people who answer gates, lanes that merge) until the run
// ends. Whatever happens: no two overlapping scopes run at once, never more agents than the cap, a
// completed task never starts again, a key is never started twice (a crash included), advance on its own output does
// nothing, every run settles, and the spend passes the USD cap only by what was already running.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import type { RiskTier, RunStep } from '../../extension/core/model';
import {
  advance,
  recordGate,
  recordMerged,
  recordPromoted,
  recordResult,
  recoverRun,
  type RunCommand,
  type RunContext,
} from '../../extension/core/runs/engine';
import { usageOf, type Run, type Task } from '../../extension/core/runs/model';
import { holdsAgent } from '../../extension/core/runs/schedule';
import { scopesMayOverlap } from '../../extension/core/runs/scope';
import { policy, profile, result, run, task } from '../support/runs';

const SCOPES = ['src/**', 'src/a.ts', 'src/b/**', 'docs/**', 'test/x.ts', 'lib/**', 'lib/util/*.ts'];
const MINUTE = 60_000;

const taskShape = fc.record({
  deps: fc.array(fc.nat(), { maxLength: 3 }),
  scope: fc.subarray(SCOPES, { minLength: 1, maxLength: 2 }),
  type: fc.constantFrom('code', 'code', 'docs', 'review', 'deploy'),
});

const outcome = fc.record({
  success: fc.integer({ min: 0, max: 3 }).map((n) => n > 0),
  verified: fc.integer({ min: 0, max: 5 }).map((n) => n > 0),
  files: fc.boolean(),
  usd: fc.integer({ min: 0, max: 3 }),
  minutes: fc.integer({ min: 1, max: 30 }),
  verdict: fc.constantFrom('approve' as const, 'reject' as const),
});
type Outcome = typeof outcome extends fc.Arbitrary<infer T> ? T : never;

const scenario = fc.record({
  shapes: fc.array(taskShape, { minLength: 1, maxLength: 7 }),
  outcomes: fc.array(outcome, { minLength: 1, maxLength: 20 }),
  choices: fc.array(fc.nat(), { minLength: 1, maxLength: 20 }),
  maxAgents: fc.integer({ min: 1, max: 3 }),
  elsewhere: fc.integer({ min: 0, max: 1 }),
  repair: fc.boolean(),
  hedge: fc.boolean(),
  perClass: fc.boolean(),
  crashy: fc.boolean(),
  usd: fc.option(fc.integer({ min: 2, max: 12 }), { nil: undefined }),
  profile: fc.constantFrom('prod-conservative', 'staging-aggressive', 'exploration'),
});
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

function tasksOf(shapes: Scenario['shapes']): Task[] {
  return shapes.map((shape, i) => {
    const deps = i === 0 ? [] : [...new Set(shape.deps.map((dep) => `t${dep % i}`))];
    return task(`t${i}`, { depends_on: deps, type: shape.type }, shape.scope);
  });
}

function contextOf(s: Scenario): (now: number) => RunContext {
  const runs = policy({
    max_agents: Math.max(s.maxAgents, s.elsewhere + 1),
    repair_tasks: s.repair,
    ...(s.hedge ? { hedge_after: '10m' } : {}),
    ...(s.perClass ? { per_class: { fast: 1 } } : {}),
  });
  const chosen = profile(s.profile, runs);
  const tierOf = (files: readonly string[]): RiskTier => (files.some((file) => file.startsWith('lib')) ? 'tier2' : 'tier1');
  return (now) => ({
    runs,
    profile: chosen,
    now,
    route: (each, _run, budget) => ({
      worker_class: each.type === 'review' || budget.state !== 'ok' ? 'fast' : 'premium',
      rationale: 'by type',
      degraded: budget.state !== 'ok',
    }),
    tierOf,
    busyElsewhere: s.elsewhere,
  });
}

/** What the simulated shell holds: running workers, approvals asked, changes in lanes. */
interface Shell {
  workers: { task: string; at: number; outcome: Outcome }[];
  gates: { step: RunStep; task?: string; id: string }[];
  lanes: string[];
  keys: Set<string>;
  completedEver: Set<string>;
  drawn: number;
}

function checkRun(of: Run, ctx: RunContext): void {
  const running = of.tasks.filter((each) => each.status === 'running');
  for (const a of running) {
    for (const b of running) {
      if (a.id >= b.id || a.hedge_of === b.id || b.hedge_of === a.id) continue;
      assert.ok(!scopesMayOverlap(a.spec.write_scope, b.spec.write_scope), `${a.id} and ${b.id} run with overlapping scopes`);
    }
  }
  const agents = of.tasks.filter(holdsAgent).length;
  assert.ok(
    agents <= ctx.runs.max_agents - ctx.busyElsewhere,
    `${agents} agents run, the cap leaves ${ctx.runs.max_agents - ctx.busyElsewhere}`,
  );
}

function obey(shell: Shell, of: Run, commands: readonly RunCommand[], s: Scenario, now: number): Run {
  let next = of;
  for (const command of commands) {
    if (command.kind === 'start' || command.kind === 'hedge') {
      const id = command.kind === 'start' ? command.task : command.duplicate;
      assert.ok(!shell.completedEver.has(id), `${id} started again after it completed`);
      assert.ok(!shell.keys.has(command.key), `${command.key} started twice`);
      shell.keys.add(command.key);
      const drawn = s.outcomes[shell.drawn++ % s.outcomes.length];
      if (drawn) shell.workers.push({ task: id, at: now + drawn.minutes * MINUTE, outcome: drawn });
    } else if (command.kind === 'cancel') {
      const worker = shell.workers.find((each) => each.task === command.task);
      shell.workers = shell.workers.filter((each) => each.task !== command.task);
      // A stopped worker still reports what it spent.
      if (worker) next = recordResult(next, command.task, resultOf(worker.outcome, false), false, now);
    } else if (command.kind === 'gate') {
      const id = `ap-${shell.keys.size}-${command.key}`;
      shell.gates.push(command.task === undefined ? { step: command.step, id } : { step: command.step, task: command.task, id });
      next = recordGate(next, command.step, command.task, id, 'pending', now);
    } else if (command.kind === 'promote') {
      shell.lanes.push(command.task);
      next = recordPromoted(next, command.task, `buildmaster/task/r1/${command.task}`, now);
    }
  }
  return next;
}

function resultOf(drawn: Outcome, success: boolean) {
  return result({
    success,
    files_changed: drawn.files ? ['src/a.ts'] : [],
    usage: { tokens_in: 10, tokens_out: 10, usd: drawn.usd },
    ...(success ? {} : { error: 'boom' }),
  });
}

/** One event from outside: a worker finishes, a person answers, a lane merges. */
function happen(shell: Shell, of: Run, choice: number, now: number): { run: Run; now: number } | undefined {
  const kind = choice % 3;
  if (shell.gates.length > 0 && (kind === 0 || (shell.workers.length === 0 && shell.lanes.length === 0))) {
    const gate = shell.gates.splice(choice % shell.gates.length, 1)[0];
    if (!gate) return undefined;
    const answer = choice % 5 === 0 ? 'rejected' : 'approved';
    return { run: recordGate(of, gate.step, gate.task, gate.id, answer, now), now };
  }
  if (shell.lanes.length > 0 && (kind === 1 || shell.workers.length === 0)) {
    const id = shell.lanes.shift() ?? '';
    return { run: recordMerged(of, id, `sha-${id}`, now), now };
  }
  shell.workers.sort((a, b) => a.at - b.at);
  const worker = shell.workers.shift();
  if (!worker) return undefined;
  const at = Math.max(now, worker.at);
  const { outcome: drawn } = worker;
  return { run: recordResult(of, worker.task, resultOf(drawn, drawn.success), drawn.verified, at, drawn.verdict), now: at };
}

/** The budget property: past the cap, only what ran when it was reached may still cost. */
interface Crossing {
  running: string[];
}

function simulate(s: Scenario): void {
  const ctxAt = contextOf(s);
  let of = run(tasksOf(s.shapes), { budgets: s.usd === undefined ? {} : { usd: s.usd }, profile: s.profile });
  const shell: Shell = { workers: [], gates: [], lanes: [], keys: new Set(), completedEver: new Set(), drawn: 0 };
  let now = 0;
  let crossing: Crossing | undefined;
  let idle = 0;
  for (let step = 0; step < 400; step++) {
    const ctx = ctxAt(now);
    const out = advance(of, ctx);
    checkRun(out.run, ctx);
    assert.deepEqual(advance(out.run, ctx).commands, [], 'advance on its own output does nothing new');
    if (s.crashy && step % 4 === 2) {
      // The shell stored the run and died before acting on its commands; its workers died with it.
      shell.workers = [];
      const recovered = recoverRun(out.run, new Set(), now);
      of = obey(shell, recovered.run, recovered.commands, s, now);
    } else of = obey(shell, out.run, out.commands, s, now);
    for (const each of of.tasks) if (each.status === 'completed') shell.completedEver.add(each.id);
    if (of.status === 'completed' || of.status === 'failed' || of.status === 'killed') break;
    const before = usageOf(of.tasks).usd;
    const agents = of.tasks.filter(holdsAgent).map((each) => each.id);
    const event = happen(shell, of, s.choices[step % s.choices.length] ?? 0, now);
    // Right after a restart nothing may be under way yet: the next advance starts it. Twice idle is stuck.
    idle = event ? 0 : idle + 1;
    assert.ok(
      idle < 2,
      `the run is stuck: ${of.status}, tasks ${of.tasks.map((each) => `${each.id}:${each.status}/${each.stage ?? ''}`).join(' ')}`,
    );
    if (!event) continue;
    ({ run: of, now } = event);
    if (s.usd !== undefined && !crossing && before < s.usd && usageOf(of.tasks).usd >= s.usd) crossing = { running: agents };
  }
  assert.ok(['completed', 'failed'].includes(of.status), `the run did not settle: ${of.status}`);
  if (s.usd !== undefined && crossing) {
    const spentBy = (id: string): number => of.tasks.find((each) => each.id === id)?.result?.usage.usd ?? 0;
    const allowance = crossing.running.reduce((sum, id) => sum + spentBy(id), 0);
    assert.ok(usageOf(of.tasks).usd <= s.usd + allowance, `spent ${usageOf(of.tasks).usd} of ${s.usd}, allowance ${allowance}`);
  }
}

describe('runs: engine properties over random runs', () => {
  it('scopes, caps, no restart after completion, unique keys, idempotent advance, every run settles, the USD cap holds', () => {
    fc.assert(fc.property(scenario, simulate), { numRuns: 300 });
  });
});

// A simulated fleet of coding agents (issue 13, "Measure"): worker classes with cost, latency and success
// distributions work through 200 tickets given as progress rows, in simulated time (no sleeps), driven by
// the real core: selectRows/rowToTask (the planner), schedulePass and settleHedge (the scheduler), route
// and learn (the router), judgeBudget (the budgeter). Only the workers, the tests and the merge queue are
// simulated. The loop's decisions come from one swappable function, `FleetPolicy`: by default the run
// engine's `advance` (advanceFleetPolicy), the step the product runs; schedulerPolicy is the bare pass.
//
// Draws are keyed by what they are for (seed, ticket, try, attempt kind), not by call order, and the
// uniform behind "passes its tests" is shared by every class: a ticket hard for one class is hard for all
// (common random numbers, so strategies are compared on the same workload).
import type { BudgetVerdict } from '../../extension/core/runs/budget';
import { judgeBudget } from '../../extension/core/runs/budget';
import type { Run, Task } from '../../extension/core/runs/model';
import { runsPolicySchema, type RunsPolicy } from '../../extension/core/runs/policy';
import { rowToTask, selectRows, type ProgressRow } from '../../extension/core/runs/progress';
import { compileRouter, learn, route, type CompiledRouter, type RouterStat } from '../../extension/core/runs/router';
import { seededRng } from '../../extension/core/runs/router-learn';
import { advance } from '../../extension/core/runs/engine';
import { resolveProfile } from '../../extension/core/runs/profiles';
import { schedulePass, settleHedge, type ScheduleCaps } from '../../extension/core/runs/schedule';
import { uniform } from './random';

export const TASK_TYPES = ['code', 'test', 'docs', 'spec', 'fix'] as const;
export type TicketType = (typeof TASK_TYPES)[number];

/** One worker class's distributions. */
export interface ClassParams {
  name: string;
  /** Mean USD of one attempt on a medium ticket (log-normal, σ = usd_sigma). */
  usd_mean: number;
  /** Median minutes of one attempt's work on a medium ticket (log-normal, σ = duration_sigma; stalls on top). */
  median_min: number;
  /** Probability that an attempt passes the ticket's tests, per task type. */
  success: Record<TicketType, number>;
  /** Probability that a change which passed its tests still breaks the target after merging (a defect the tests miss). */
  defect: number;
  /** List prices (USD per million tokens), as in the policy; only the router's prior for an unseen class uses them. */
  usd_per_mtok_in: number;
  usd_per_mtok_out: number;
}

export const FLEET: ClassParams[] = [
  {
    name: 'premium',
    usd_mean: 1.2,
    median_min: 12,
    success: { code: 0.85, test: 0.88, docs: 0.95, spec: 0.9, fix: 0.85 },
    defect: 0.03,
    usd_per_mtok_in: 3,
    usd_per_mtok_out: 15,
  },
  {
    name: 'code',
    usd_mean: 0.45,
    median_min: 9,
    success: { code: 0.8, test: 0.82, docs: 0.9, spec: 0.65, fix: 0.78 },
    defect: 0.05,
    usd_per_mtok_in: 1.25,
    usd_per_mtok_out: 10,
  },
  {
    name: 'fast',
    usd_mean: 0.12,
    median_min: 5,
    success: { code: 0.6, test: 0.7, docs: 0.9, spec: 0.4, fix: 0.55 },
    defect: 0.08,
    usd_per_mtok_in: 0.25,
    usd_per_mtok_out: 2,
  },
  {
    name: 'local',
    usd_mean: 0.01,
    median_min: 15,
    success: { code: 0.3, test: 0.4, docs: 0.75, spec: 0.15, fix: 0.25 },
    defect: 0.12,
    usd_per_mtok_in: 0,
    usd_per_mtok_out: 0,
  },
];

/** The workload and the world around the workers. */
export const WORLD = {
  tickets: 200,
  lanes: ['web', 'api', 'core', 'data', 'infra'],
  /** Share of each ticket type (the rest of 1 is spec). */
  type_mix: { code: 0.55, test: 0.2, docs: 0.12, spec: 0.13 },
  /** Share of tickets blocked by one earlier ticket (one of the 30 before it). */
  blocked_share: 0.3,
  /** Share of tickets whose write scope is their whole lane (a refactor); the rest take one of 8 modules of their lane. */
  lane_wide_share: 0.05,
  modules_per_lane: 8,
  /** slice_size → work multiplier (duration and cost), with its share. */
  sizes: { small: { factor: 0.6, share: 0.4 }, medium: { factor: 1, share: 0.4 }, large: { factor: 1.8, share: 0.2 } },
  duration_sigma: 0.5,
  usd_sigma: 0.35,
  /** A stalled agent (stuck in a loop, a hung tool) takes this many times as long. */
  stall_probability: 0.05,
  stall_factor: 4,
  /** The ticket's test_commands on the worker branch, after each attempt. */
  verify_min: 3,
  /** Merging through the lane's queue (the gate's checks on the merge result); one merge at a time per lane. */
  merge_min: 6,
  /** Post-merge checks on the target: a defect shows here and spawns a fix ticket. */
  post_merge_min: 10,
  /** A ticket whose repair failed is escalated; a person re-queues it after about this long (exponential). */
  human_retry_min: 30,
  /** Tries (first attempt + repair each) before a ticket is abandoned. */
  max_tries: 6,
  /** The run's USD cap (judgeBudget; generous, so no strategy degrades by it). */
  usd_cap: 1000,
};

const MIN = 60_000;

/** The 200 tickets as progress rows: lanes, phases 1–3, dependencies, overlapping write scopes, sizes. */
export function tickets(seed: number): ProgressRow[] {
  const rows: ProgressRow[] = [];
  for (let i = 0; i < WORLD.tickets; i++) {
    const id = `T${String(i + 1).padStart(3, '0')}`;
    const lane = WORLD.lanes[Math.floor(uniform(seed, 'lane', i) * WORLD.lanes.length)] ?? 'web';
    const type = pickType(uniform(seed, 'type', i));
    const sizeDraw = uniform(seed, 'size', i);
    const size =
      sizeDraw < WORLD.sizes.small.share ? 'small' : sizeDraw < WORLD.sizes.small.share + WORLD.sizes.medium.share ? 'medium' : 'large';
    const blocker =
      i > 0 && uniform(seed, 'blocked', i) < WORLD.blocked_share ? i - 1 - Math.floor(uniform(seed, 'blocker', i) * Math.min(i, 30)) : -1;
    const module_ = Math.floor(uniform(seed, 'module', i) * WORLD.modules_per_lane);
    const root = type === 'docs' ? `docs/${lane}` : lane;
    const scope = uniform(seed, 'wide', i) < WORLD.lane_wide_share ? [`${root}/**`] : [`${root}/mod${module_}/**`];
    rows.push({
      id,
      line: i + 2,
      phase: 1 + Math.floor((3 * i) / WORLD.tickets),
      status: 'todo',
      blocked_by: blocker >= 0 ? [`T${String(blocker + 1).padStart(3, '0')}`] : [],
      ready_when: [],
      slice_size: size,
      write_scope: scope,
      test_commands: ['npm test'],
      done_signal: `${id} done`,
      lane,
      type,
      title: `${type} ticket ${id} in ${lane}`,
    });
  }
  return rows;
}

function pickType(draw: number): TicketType {
  let edge = 0;
  for (const [type, share] of Object.entries(WORLD.type_mix)) {
    edge += share;
    if (draw < edge) return type as TicketType;
  }
  return 'spec';
}

/** A standard normal from two keyed uniforms (Box–Muller). */
function normal(...keys: (string | number)[]): number {
  const u = 1 - uniform(...keys, 'u');
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform(...keys, 'v'));
}

/** One attempt's outcome: how long, how much, whether it passes its tests and whether it hides a defect. */
export interface Attempt {
  ms: number;
  usd: number;
  pass: boolean;
  defect: boolean;
}

/** How often an attempt stalls and how much longer it then takes (WORLD's by default; a strategy may test others). */
export interface Stragglers {
  probability: number;
  factor: number;
}

export function drawAttempt(
  seed: number,
  row: ProgressRow,
  tryIndex: number,
  kind: string,
  params: ClassParams,
  stragglers: Stragglers = { probability: WORLD.stall_probability, factor: WORLD.stall_factor },
): Attempt {
  const key = [seed, row.id, tryIndex, kind] as const;
  const size = WORLD.sizes[(row.slice_size ?? 'medium') as keyof typeof WORLD.sizes].factor;
  const stall = uniform(...key, 'stall') < stragglers.probability ? stragglers.factor : 1;
  const work = params.median_min * size * Math.exp(WORLD.duration_sigma * normal(...key, 'time')) * stall;
  const usd = params.usd_mean * size * Math.exp(WORLD.usd_sigma * normal(...key, 'usd') - WORLD.usd_sigma ** 2 / 2);
  const type = (TASK_TYPES as readonly string[]).includes(row.type) ? (row.type as TicketType) : 'code';
  const pass = uniform(...key, 'pass') < params.success[type];
  return { ms: Math.round((work + WORLD.verify_min) * MIN), usd, pass, defect: pass && uniform(...key, 'defect') < params.defect };
}

// ---------------------------------------------------------------------------------------------------------
// The policy: what starts now. Swappable: the run engine's `advance` (the default) or the bare scheduling pass.

/** What the policy sees: the run (its live tasks), the clock, the budget, what the router learned. */
export interface FleetView {
  run: Run;
  now: number;
  budget: BudgetVerdict;
  stats: Readonly<Record<string, RouterStat>>;
  /** Tasks running per class now (hedges included). */
  classLoad: Readonly<Record<string, number>>;
  /** Observed p90 of an attempt per class (ms), once a class has 20 attempts. */
  classP90: Readonly<Record<string, number>>;
}

/** Start `task` on `worker_class`; with `hedge_of`, `task` is a new duplicate of that running task. */
export interface Dispatch {
  task: string;
  worker_class: string;
  hedge_of?: string;
  rationale: string;
}

export type FleetPolicy = (view: FleetView) => Dispatch[];

export interface Strategy {
  name: string;
  max_agents: number;
  per_lane?: Record<string, number>;
  /** Hedge a straggler (past its class's p90, or hedge_after) on another class. */
  hedge: boolean;
  hedge_after_min: number;
  /**
   * Agents kept free for hedges (not in the product's scheduler, which starts ready work first and hedges
   * with what is left): a measurement of whether hedging would pay if it could pre-empt new work.
   */
  hedge_reserve?: number;
  /** A sensitivity run's stall distribution instead of WORLD's (heavier stragglers). */
  stragglers?: Stragglers;
  /** The policy's `runs.router` (rules, default, learn, min_success). */
  router: Record<string, unknown>;
}

/** The strategy as the policy's `runs` section: the fleet's classes as workers, its caps, hedge_after and router. */
export function runsPolicyOf(strategy: Strategy): RunsPolicy {
  const workers = FLEET.map((c) => ({
    name: c.name,
    command: c.name,
    usd_per_mtok_in: c.usd_per_mtok_in,
    usd_per_mtok_out: c.usd_per_mtok_out,
  }));
  return runsPolicySchema.parse({
    workers,
    router: strategy.router,
    max_agents: strategy.max_agents,
    ...(strategy.per_lane ? { per_lane: strategy.per_lane } : {}),
    ...(strategy.hedge ? { hedge_after: `${String(strategy.hedge_after_min)}m` } : {}),
  });
}

export function compiledRouterOf(strategy: Strategy): CompiledRouter {
  const compiled = compileRouter(runsPolicyOf(strategy));
  if (!compiled.ok) throw new Error(`the strategy's router does not compile: ${JSON.stringify(compiled.problems)}`);
  return compiled.router;
}

/** The scheduler pass decides what starts and what is hedged; the router gives each start its class. */
export function schedulerPolicy(strategy: Strategy, rng: () => number): FleetPolicy {
  const router = compiledRouterOf(strategy);
  const caps: ScheduleCaps = {
    max_agents: strategy.max_agents,
    ...(strategy.per_lane ? { per_lane: strategy.per_lane } : {}),
    ...(strategy.hedge ? { hedge_after_ms: strategy.hedge_after_min * MIN, hedge_classes: ['premium', 'code'] } : {}),
  };
  const reserve = strategy.hedge ? Math.min(strategy.hedge_reserve ?? 0, strategy.max_agents - 1) : 0;
  return (view) => {
    const full = strategy.hedge ? { ...caps, class_p90_ms: view.classP90 } : caps;
    const pass = schedulePass(view.run.tasks, { ...full, max_agents: strategy.max_agents - reserve }, view.now);
    const byId = new Map(view.run.tasks.map((task) => [task.id, task]));
    const load: Record<string, number> = { ...view.classLoad };
    const dispatches: Dispatch[] = [];
    const started = new Map<string, Task>();
    for (const start of pass.start) {
      const task = byId.get(start.task);
      if (!task) continue;
      const choice = route(router, task, view.run, view.budget, { classLoad: load, perClass: {}, stats: view.stats, rng });
      load[choice.worker_class] = (load[choice.worker_class] ?? 0) + 1;
      started.set(task.id, { ...task, status: 'running', worker_class: choice.worker_class, started_at: view.now });
      dispatches.push({ task: task.id, worker_class: choice.worker_class, rationale: `${start.rationale}; ${choice.rationale}` });
    }
    // With a reserve, hedges come from a second pass over what runs now (including what just started) at
    // the full cap: no pending task competes for the reserved agents.
    const hedges =
      reserve > 0
        ? schedulePass(
            view.run.tasks.flatMap((task) =>
              task.status === 'running' ? [task] : started.has(task.id) ? [started.get(task.id) ?? task] : [],
            ),
            full,
            view.now,
          ).hedge
        : pass.hedge;
    for (const hedge of hedges) {
      dispatches.push({ task: hedge.duplicate, worker_class: hedge.worker_class, hedge_of: hedge.task, rationale: hedge.rationale });
    }
    return dispatches;
  };
}

/**
 * The engine's `advance` as the fleet's policy: the product's scheduling step (every ready task routed,
 * the scheduler pass at the policy's caps, a result in its lane's queue no longer holding an agent,
 * hedges on any other worker class, waits as decisions) on the sim's view of the run. Only its start and
 * hedge commands act here: the sim's world stands in for the workers, promotion, the lanes' merge queues,
 * repairs and escalations, so the other commands are left to it.
 */
export function advanceFleetPolicy(strategy: Strategy, rng: () => number): FleetPolicy {
  const router = compiledRouterOf(strategy);
  const runs = runsPolicyOf(strategy);
  // Every step autonomous: the bench measures scheduling and routing, not people answering approvals.
  const resolved = resolveProfile(runs, 'staging-aggressive');
  if (!resolved.ok) throw new Error(resolved.message);
  const profile = resolved.profile;
  const reserve = strategy.hedge ? Math.min(strategy.hedge_reserve ?? 0, strategy.max_agents - 1) : 0;
  return (view) => {
    const live = new Set(view.run.tasks.map((task) => task.id));
    const step = (run: Run, max_agents: number) =>
      advance(run, {
        runs: { ...runs, max_agents },
        profile,
        now: view.now,
        route: (task, snapshot, budget) =>
          route(router, task, snapshot, budget, { classLoad: view.classLoad, perClass: runs.per_class, stats: view.stats, rng }),
        tierOf: () => 'tier3',
        busyElsewhere: 0,
        ...(strategy.hedge ? { classP90: view.classP90 } : {}),
      });
    const first = step(view.run, strategy.max_agents - reserve);
    // With a reserve, hedges come from a second step over what runs now (what just started included) at
    // the full cap, with no pending task to compete for the kept agents.
    const hedges =
      reserve > 0
        ? [
            ...first.commands,
            ...step({ ...first.run, tasks: first.run.tasks.filter((task) => task.status !== 'pending') }, strategy.max_agents).commands,
          ]
        : first.commands;
    return [
      ...first.commands.flatMap((command): Dispatch[] =>
        command.kind === 'start' && live.has(command.task)
          ? [{ task: command.task, worker_class: command.worker_class, rationale: command.rationale }]
          : [],
      ),
      ...hedges.flatMap((command): Dispatch[] =>
        command.kind === 'hedge'
          ? [{ task: command.duplicate, worker_class: command.worker_class, hedge_of: command.task, rationale: command.rationale }]
          : [],
      ),
    ];
  };
}

// ---------------------------------------------------------------------------------------------------------
// The world: workers, tests, the lanes' merge queues, post-merge checks, people re-queuing escalations.

export interface FleetMetrics {
  strategy: string;
  seed: number;
  tickets_merged: number;
  tickets_abandoned: number;
  hours: number;
  tickets_per_hour: number;
  usd: number;
  usd_per_merged_ticket: number;
  merges: number;
  broken_merges: number;
  change_failure_rate: number;
  p50_lead_time_min: number;
  p95_lead_time_min: number;
  attempts: number;
  repairs: number;
  escalations: number;
  hedges: number;
  hedges_won: number;
  fix_tickets: number;
  class_mix: Record<string, number>;
}

type Side = { task: Task; attempt: Attempt; class_: string; startedAt: number; done: boolean };

interface Live {
  row: ProgressRow;
  tryIndex: number;
  repairing: boolean;
  original: Side;
  hedge?: Side;
  firstStart: number;
}

type Event =
  | { at: number; kind: 'attempt-end'; task: string; side: 'original' | 'hedge' }
  | { at: number; kind: 'merged'; lane: string }
  | { at: number; kind: 'post-merge'; task: string; class_: string; type: string; defect: boolean; usd: number; ms: number; row: string }
  | { at: number; kind: 'retry'; row: string };

class Clock {
  private readonly events: Event[] = [];
  push(event: Event): void {
    // Sorted insert (stable: equal times keep their order); a run has a few thousand events.
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.events[mid]?.at ?? 0) <= event.at) lo = mid + 1;
      else hi = mid;
    }
    this.events.splice(lo, 0, event);
  }
  next(): Event | undefined {
    return this.events.shift();
  }
  get size(): number {
    return this.events.length;
  }
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** One run of the fleet over the seed's tickets under a strategy; `policy` defaults to the run engine's advance. */
export function simulate(seed: number, strategy: Strategy, policy?: FleetPolicy): FleetMetrics {
  return new Fleet(seed, strategy, policy ?? advanceFleetPolicy(strategy, seededRng(seed * 7919 + 17))).run();
}

class Fleet {
  private readonly rows: ProgressRow[];
  private readonly byRow = new Map<string, ProgressRow>();
  private readonly live = new Map<string, Live>();
  private readonly tries = new Map<string, number>();
  private readonly firstStart = new Map<string, number>();
  private readonly mergedAt = new Map<string, number>();
  private readonly lanes = new Map<string, { busy: boolean; queue: string[] }>();
  private readonly durations = new Map<string, number[]>();
  private readonly clock = new Clock();
  private stats: Record<string, RouterStat> = {};
  private now = 0;
  private usd = 0;
  private readonly counts = {
    merges: 0,
    broken: 0,
    attempts: 0,
    repairs: 0,
    escalations: 0,
    hedges: 0,
    hedges_won: 0,
    fixes: 0,
    abandoned: 0,
  };
  private readonly mix: Record<string, number> = {};

  constructor(
    private readonly seed: number,
    private readonly strategy: Strategy,
    private readonly policy: FleetPolicy,
  ) {
    this.rows = tickets(seed);
    for (const row of this.rows) this.byRow.set(row.id, row);
  }

  run(): FleetMetrics {
    this.decide();
    for (let event = this.clock.next(); event; event = this.clock.next()) {
      this.now = event.at;
      this.handle(event);
      this.decide();
    }
    return this.metrics();
  }

  private params(name: string): ClassParams {
    const found = FLEET.find((entry) => entry.name === name);
    if (!found) throw new Error(`unknown worker class ${name}`);
    return found;
  }

  /** Eligible rows become tasks; the policy says what starts; the world starts it. */
  private decide(): void {
    const selection = selectRows(this.rows, { max_agents: this.rows.length });
    for (const row of selection.selected) {
      row.status = 'in_progress';
      const tryIndex = this.tries.get(row.id) ?? 0;
      const task = { ...rowToTask(row), id: tryIndex === 0 ? row.id : `${row.id}-try${tryIndex + 1}`, attempts: tryIndex };
      this.live.set(task.id, {
        row,
        tryIndex,
        repairing: false,
        original: { task, attempt: noAttempt, class_: '', startedAt: 0, done: false },
        firstStart: -1,
      });
    }
    const tasks = [...this.live.values()].flatMap((entry) =>
      entry.hedge ? [entry.original.task, entry.hedge.task] : [entry.original.task],
    );
    const run: Run = {
      id: `fleet-${this.seed}`,
      goal: { kind: 'progress', text: 'simulated tickets' },
      profile: 'exploration',
      mode: 'apply',
      budgets: { usd: WORLD.usd_cap },
      status: 'running',
      created_at: 0,
      started_at: 0,
      tasks,
    };
    const budget = judgeBudget(run.budgets, { tokens_in: 0, tokens_out: 0, usd: this.usd }, 0, this.now);
    const classLoad: Record<string, number> = {};
    for (const task of tasks)
      if (task.status === 'running' && task.worker_class) classLoad[task.worker_class] = (classLoad[task.worker_class] ?? 0) + 1;
    const classP90 = Object.fromEntries(
      [...this.durations].filter(([, list]) => list.length >= 20).map(([name, list]) => [name, quantile(list, 0.9)]),
    );
    for (const dispatch of this.policy({ run, now: this.now, budget, stats: this.stats, classLoad, classP90 })) this.dispatch(dispatch);
  }

  private dispatch(dispatch: Dispatch): void {
    const entry = this.live.get(dispatch.hedge_of ?? dispatch.task);
    if (!entry) throw new Error(`the policy started ${dispatch.task}, which is no live task`);
    const kind = dispatch.hedge_of ? 'hedge' : entry.repairing ? 'repair' : 'first';
    const attempt = drawAttempt(this.seed, entry.row, entry.tryIndex, kind, this.params(dispatch.worker_class), this.strategy.stragglers);
    const task: Task = {
      ...entry.original.task,
      status: 'running',
      worker_class: dispatch.worker_class,
      started_at: this.now,
      stage: 'work',
    };
    const side: Side = { task, attempt, class_: dispatch.worker_class, startedAt: this.now, done: false };
    this.counts.attempts++;
    this.mix[dispatch.worker_class] = (this.mix[dispatch.worker_class] ?? 0) + 1;
    if (dispatch.hedge_of) {
      this.counts.hedges++;
      entry.hedge = { ...side, task: { ...task, id: dispatch.task, hedge_of: dispatch.hedge_of } };
    } else {
      entry.original = side;
      if (entry.firstStart < 0) entry.firstStart = this.now;
      if (!this.firstStart.has(entry.row.id)) this.firstStart.set(entry.row.id, this.now);
    }
    this.clock.push({
      at: this.now + attempt.ms,
      kind: 'attempt-end',
      task: entry.original.task.id,
      side: dispatch.hedge_of ? 'hedge' : 'original',
    });
  }

  private handle(event: Event): void {
    switch (event.kind) {
      case 'attempt-end':
        this.attemptEnd(event.task, event.side);
        return;
      case 'merged':
        this.merged(event.lane);
        return;
      case 'post-merge':
        this.postMerge(event);
        return;
      case 'retry': {
        const row = this.byRow.get(event.row);
        if (row) row.status = 'todo';
        return;
      }
    }
  }

  private attemptEnd(id: string, which: 'original' | 'hedge'): void {
    const entry = this.live.get(id);
    const side = entry?.[which];
    if (!entry || !side || side.done || side.task.status !== 'running' || side.startedAt + side.attempt.ms !== this.now) return; // cancelled or superseded
    side.done = true;
    this.usd += side.attempt.usd;
    this.record(side.class_, side.attempt.ms);
    const result = {
      success: side.attempt.pass,
      output: '',
      files_changed: [],
      duration_ms: side.attempt.ms,
      artifacts: [],
      usage: { tokens_in: 0, tokens_out: 0, usd: side.attempt.usd },
    };
    side.task = { ...side.task, status: side.attempt.pass ? 'completed' : 'failed', result };
    if (!side.attempt.pass)
      this.stats = learn(this.stats, side.class_, entry.row.type, { success: false, usd: side.attempt.usd, duration_ms: side.attempt.ms });
    if (!entry.hedge) {
      if (side.attempt.pass) this.promote(entry, side);
      else this.failed(entry);
      return;
    }
    const settled = settleHedge(entry.original.task, entry.hedge.task);
    if (settled.adopt !== undefined) {
      const winner = settled.adopt === entry.original.task.id ? entry.original : entry.hedge;
      const loser = winner === entry.original ? entry.hedge : entry.original;
      if (winner === entry.hedge) this.counts.hedges_won++;
      if (!loser.done) this.usd += loser.attempt.usd * Math.min(1, (this.now - loser.startedAt) / loser.attempt.ms); // cancelled: paid so far
      loser.done = true;
      loser.task = { ...loser.task, status: 'cancelled' };
      this.promote(entry, winner);
    } else if (settled.failed) this.failed(entry);
  }

  private record(name: string, ms: number): void {
    const list = this.durations.get(name) ?? [];
    list.push(ms);
    this.durations.set(name, list);
  }

  /** Tests passed: into the lane's merge queue; the task keeps its path lock (and its agent) until merged. */
  private promote(entry: Live, winner: Side): void {
    const { started_at: _dropped, ...rest } = entry.original.task;
    entry.original = {
      ...winner,
      task: { ...rest, id: entry.original.task.id, status: 'running', stage: 'queued', worker_class: winner.class_ },
    };
    delete entry.hedge;
    const lane = entry.row.lane ?? 'default';
    const queue = this.lanes.get(lane) ?? { busy: false, queue: [] };
    this.lanes.set(lane, queue);
    queue.queue.push(entry.original.task.id);
    if (!queue.busy) this.startMerge(lane);
  }

  private startMerge(lane: string): void {
    const queue = this.lanes.get(lane);
    if (!queue || queue.queue.length === 0) return;
    queue.busy = true;
    this.clock.push({ at: this.now + WORLD.merge_min * MIN, kind: 'merged', lane });
  }

  private merged(lane: string): void {
    const queue = this.lanes.get(lane);
    const id = queue?.queue.shift();
    const entry = id === undefined ? undefined : this.live.get(id);
    if (!queue || id === undefined || !entry) return;
    queue.busy = false;
    this.live.delete(id);
    entry.row.status = 'done';
    this.mergedAt.set(entry.row.id, this.now);
    this.counts.merges++;
    const { attempt, class_ } = entry.original;
    if (attempt.defect) this.counts.broken++;
    this.clock.push({
      at: this.now + WORLD.post_merge_min * MIN,
      kind: 'post-merge',
      task: id,
      class_,
      type: entry.row.type,
      defect: attempt.defect,
      usd: attempt.usd,
      ms: attempt.ms,
      row: entry.row.id,
    });
    this.startMerge(lane);
  }

  /** The post-merge checks: the router learns the attempt's outcome; a defect spawns a fix ticket. */
  private postMerge(event: Extract<Event, { kind: 'post-merge' }>): void {
    this.stats = learn(this.stats, event.class_, event.type, { success: !event.defect, usd: event.usd, duration_ms: event.ms });
    const row = this.byRow.get(event.row);
    if (!event.defect || !row) return;
    this.counts.fixes++;
    const fix: ProgressRow = {
      ...row,
      id: `${row.id}-fix${String(this.counts.fixes)}`,
      type: 'fix',
      blocked_by: [],
      phase: 1,
      status: 'todo',
      slice_size: 'small',
      done_signal: `${row.id} fixed`,
    };
    this.rows.push(fix);
    this.byRow.set(fix.id, fix);
  }

  /** Tests failed: one repair attempt on the same class; a failed repair is escalated to a person. */
  private failed(entry: Live): void {
    const id = entry.original.task.id;
    if (!entry.repairing) {
      entry.repairing = true;
      this.counts.repairs++;
      this.dispatch({
        task: id,
        worker_class: entry.original.class_,
        rationale: 'tests failed: one repair attempt with the failure output',
      });
      return;
    }
    this.live.delete(id);
    this.counts.escalations++;
    const tries = (this.tries.get(entry.row.id) ?? 0) + 1;
    this.tries.set(entry.row.id, tries);
    if (tries >= WORLD.max_tries) {
      this.counts.abandoned++;
      return; // stays in_progress: a person took it over
    }
    const wait = -WORLD.human_retry_min * Math.log(1 - uniform(this.seed, entry.row.id, tries, 'human'));
    this.clock.push({ at: this.now + Math.round(wait * MIN), kind: 'retry', row: entry.row.id });
  }

  private metrics(): FleetMetrics {
    const originals = this.rows.slice(0, WORLD.tickets).filter((row) => this.mergedAt.has(row.id));
    const last = Math.max(0, ...originals.map((row) => this.mergedAt.get(row.id) ?? 0));
    const hours = last / (60 * MIN);
    const lead = originals.map((row) => ((this.mergedAt.get(row.id) ?? 0) - (this.firstStart.get(row.id) ?? 0)) / MIN);
    const round = (value: number, digits = 3): number => Number(value.toFixed(digits));
    return {
      strategy: this.strategy.name,
      seed: this.seed,
      tickets_merged: originals.length,
      tickets_abandoned: this.counts.abandoned,
      hours: round(hours),
      tickets_per_hour: round(originals.length / Math.max(hours, 1e-9)),
      usd: round(this.usd, 2),
      usd_per_merged_ticket: round(this.usd / Math.max(1, originals.length), 4),
      merges: this.counts.merges,
      broken_merges: this.counts.broken,
      change_failure_rate: round(this.counts.broken / Math.max(1, this.counts.merges), 4),
      p50_lead_time_min: round(quantile(lead, 0.5), 1),
      p95_lead_time_min: round(quantile(lead, 0.95), 1),
      attempts: this.counts.attempts,
      repairs: this.counts.repairs,
      escalations: this.counts.escalations,
      hedges: this.counts.hedges,
      hedges_won: this.counts.hedges_won,
      fix_tickets: this.counts.fixes,
      class_mix: this.mix,
    };
  }
}

const noAttempt: Attempt = { ms: 0, usd: 0, pass: false, defect: false };

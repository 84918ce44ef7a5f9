// A discrete-event simulation of merge traffic. One world (agents, changes,
// the target branch and its checks, the fix process, people) and several
// controllers: Build Master is the real decide() on a simulated forge; the
// baselines are small rule-based controllers over the same world and the same
// observed signals. Time is in minutes.
import { decide, initialState } from '../../extension/core/decide';
import { applyOperator } from '../../extension/core/operator';
import { parsePolicy } from '../../extension/core/policy/parse';
import type { Policy } from '../../extension/core/policy/schema';
import type { Change, CheckRun, ControllerState, TargetCommit, TestFailure } from '../../extension/core/model';
import { around, exponential, uniform } from './random';

export interface SimParams {
  lanes: number;
  /** D: mean pre-merge and post-merge CI duration. */
  ciMinutes: number;
  /** p: probability that a merged change breaks its lane's check on the target. */
  breakProbability: number;
  /** Probability that a post-merge check run fails spuriously (passes on re-run). */
  flakyRate: number;
  fixMinutes: number;
  fixSuccess: number;
  /** How long a person takes to act on an escalation or a global hold. */
  humanMinutes: number;
  crossLaneFraction: number;
  agentsPerLane: number;
  /** Mean time an agent takes to produce its next change (Poisson arrivals per agent). */
  devMinutes: number;
  days: number;
  sharedCheck: boolean;
  /**
   * With a shared check: its failures name the broken lanes' failing tests
   * (what JUnit, annotations or the runner's output give), so Build Master can
   * attribute at test level. False: the shared check says only that it failed.
   */
  testLevel: boolean;
  seed: number;
  /** Relative spread of CI durations around D (0.2: ±20%). */
  ciSpread: number;
  /** Record every regular merge's time (for tests). */
  trace?: boolean;
}

export const DEFAULTS: SimParams = {
  lanes: 4,
  ciMinutes: 30,
  breakProbability: 0.1,
  flakyRate: 0.01,
  fixMinutes: 20,
  fixSuccess: 0.8,
  humanMinutes: 60,
  crossLaneFraction: 0.05,
  agentsPerLane: 4,
  devMinutes: 30,
  days: 14,
  sharedCheck: false,
  testLevel: true,
  seed: 1,
  ciSpread: 0.2,
};

export type StrategyName = 'build-master' | 'stop-the-world' | 'continue-everywhere' | 'single-queue';
export const STRATEGIES: StrategyName[] = ['build-master', 'stop-the-world', 'continue-everywhere', 'single-queue'];

type Kind = 'regular' | 'fix' | 'revert';

interface SimChange {
  id: string;
  kind: Kind;
  home: number;
  touched: number[];
  agent?: number;
  k?: number;
  readyAt: number;
  /** A regular change that breaks `breaks` when merged. */
  breaks?: number;
  /** A fix or revert that repairs these lanes (a failed fix repairs nothing and fails its checks). */
  repairs: number[];
  good: boolean;
  postCi: number;
  branch: string;
  head: string;
  incident?: string;
}

interface SimCommit {
  sha: string;
  time: number;
  doneAt: number;
  change: SimChange;
  /** Ground truth after this merge: which lanes' checks are red. */
  brokenAfter: boolean[];
  flaky: boolean[];
}

export interface StrategyMetrics {
  merges: number;
  merges_per_hour: number;
  p50_minutes: number;
  p95_minutes: number;
  /** Per lane, the share of time its own tests are green on the target, averaged over lanes. */
  target_green_share: number;
  /** The share of time the whole target is green (every lane's tests). */
  all_green_share: number;
  /** Regular merges into a lane whose own tests were red on the target (ground truth). */
  merges_on_red: number;
  /** Regular merges while any lane's tests were red (with one shared check: while the check was red). */
  merges_on_any_red: number;
  mttr_minutes: number;
  repairs: number;
  /** Regular merges per hour by lanes that were healthy while another lane was broken. */
  healthy_during_incident_per_lane_hour: number;
  per_lane_hour: number;
  /** With `trace`: the minute of every regular merge. */
  merge_times?: number[];
}

function quantile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

const checkName = (params: SimParams, lane: number) => (params.sharedCheck ? 'ci' : `test-l${lane}`);
/** The failing test a broken lane shows in the shared check. */
const laneTest = (lane: number): TestFailure => ({
  id: `l${lane}/lane.test.ts > lane l${lane} works`,
  file: `l${lane}/lane.test.ts`,
  line: 1,
});

export function simulationPolicy(params: SimParams): Policy {
  const lanes = Array.from(
    { length: params.lanes },
    (_, i) => `  - name: l${i}\n    paths: ["l${i}/**"]${params.sharedCheck ? '' : `\n    checks: ["test-l${i}"]`}`,
  ).join('\n');
  const text = `lanes:\n${lanes}\nautonomy:\n  merge: A5\n  fix: A2\n  revert: A2\nrisk:\n  tier3: []\n  tier1: []\nincidents:\n  fix_retries: 2\n  failed_fixes_before_revert: 2\n  page_owner_after: 30m\n  global_hold:\n    paused_lanes_at_least: ${params.lanes}\ndispatch:\n  worker: command\n  command: fix\n  timeout: 6h\n`;
  const parsed = parsePolicy(text);
  if (!parsed.ok) throw new Error(`simulation policy invalid: ${parsed.problems.map((p) => p.message).join('; ')}`);
  return parsed.policy;
}

interface SimEvent {
  at: number;
  seq: number;
  run: () => void;
}

/** A binary min-heap of events by time, then insertion order (so runs are deterministic). */
class EventQueue {
  private heap: SimEvent[] = [];
  private less = (a: SimEvent, b: SimEvent) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

  push(event: SimEvent): void {
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(heap[i] as SimEvent, heap[parent] as SimEvent)) break;
      [heap[i], heap[parent]] = [heap[parent] as SimEvent, heap[i] as SimEvent];
      i = parent;
    }
  }

  peek(): SimEvent | undefined {
    return this.heap[0];
  }

  pop(): SimEvent | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let smallest = i;
        if (l < heap.length && this.less(heap[l] as SimEvent, heap[smallest] as SimEvent)) smallest = l;
        if (r < heap.length && this.less(heap[r] as SimEvent, heap[smallest] as SimEvent)) smallest = r;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest] as SimEvent, heap[i] as SimEvent];
        i = smallest;
      }
    }
    return top;
  }
}

/** The world: agents, open changes, the target branch, ground truth, the event clock and the metrics. */
class World {
  now = 0;
  readonly end: number;
  open = new Map<string, SimChange>();
  commits: SimCommit[] = [];
  /** Unrepaired breaks per lane (ground truth): breaks pile up, and each good fix or revert repairs one. */
  breaks: number[];

  /** Which lanes' checks are red on the target (ground truth). */
  get broken(): boolean[] {
    return this.breaks.map((n) => n > 0);
  }

  private brokenSince: (number | undefined)[];
  private events = new EventQueue();
  private seq = 0;
  private commitCount = 0;
  readonly waits: number[] = [];
  readonly mergeTimes: number[] = [];
  mergesByLane: number[];
  mergesOnRed = 0;
  mergesOnSharedRed = 0;
  regularMerges = 0;
  repairs = 0;
  mttr: number[] = [];
  greenTime: number[];
  allGreenTime = 0;
  private lastTick = 0;
  healthyExposure = 0;
  /**
   * Whether a lane counts as healthy for the healthy-lane ratio. Ground truth by
   * default; Build Master's run uses its own lane states (a lane verifying its
   * recovery is not healthy yet, and it knows it).
   */
  healthy: (lane: number) => boolean = (lane) => !this.broken[lane];
  healthyMerges = 0;

  constructor(readonly params: SimParams) {
    this.end = params.days * 24 * 60;
    this.breaks = Array.from({ length: params.lanes }, () => 0);
    this.brokenSince = Array.from({ length: params.lanes }, () => undefined);
    this.mergesByLane = Array.from({ length: params.lanes }, () => 0);
    this.greenTime = Array.from({ length: params.lanes }, () => 0);
    for (let lane = 0; lane < params.lanes; lane++) {
      for (let agent = 0; agent < params.agentsPerLane; agent++) this.scheduleArrival(lane, agent, 0, 0);
    }
  }

  at(time: number, run: () => void): void {
    this.events.push({ at: time, seq: this.seq++, run });
  }

  /** Runs every event due at the earliest time; false when the run is over. */
  advance(): boolean {
    const first = this.events.peek();
    if (!first) return false;
    const next = first.at;
    if (next > this.end) {
      this.accrue(this.end);
      return false;
    }
    this.accrue(next);
    this.now = next;
    while (this.events.peek()?.at === next) (this.events.pop() as { run: () => void }).run();
    return true;
  }

  private accrue(until: number): void {
    const span = until - this.lastTick;
    if (span <= 0) return;
    const sharedRed = this.broken.some(Boolean);
    const lanes = Array.from({ length: this.params.lanes }, (_, lane) => lane);
    const anyUnhealthy = lanes.some((lane) => !this.healthy(lane));
    if (!sharedRed) this.allGreenTime += span;
    for (const lane of lanes) {
      if (!this.broken[lane]) this.greenTime[lane] = (this.greenTime[lane] as number) + span;
      if (anyUnhealthy && this.healthy(lane)) this.healthyExposure += span;
    }
    this.lastTick = until;
  }

  private scheduleArrival(lane: number, agent: number, k: number, from: number): void {
    const p = this.params;
    const arrival = from + exponential(p.devMinutes, p.seed, 'dev', lane, agent, k);
    this.at(arrival, () => {
      const cross = p.lanes > 1 && uniform(p.seed, 'cross', lane, agent, k) < p.crossLaneFraction;
      const other = (lane + 1 + Math.floor(uniform(p.seed, 'other', lane, agent, k) * (p.lanes - 1))) % p.lanes;
      const touched = cross ? [lane, other] : [lane];
      const bad = uniform(p.seed, 'bad', lane, agent, k) < p.breakProbability;
      const breaks = bad ? (touched[Math.floor(uniform(p.seed, 'which', lane, agent, k) * touched.length)] as number) : undefined;
      const id = `c-l${lane}-a${agent}-${k}`;
      this.open.set(id, {
        id,
        kind: 'regular',
        home: lane,
        touched,
        agent,
        k,
        readyAt: arrival + around(p.ciMinutes, p.ciSpread, p.seed, 'pre', lane, agent, k),
        ...(breaks !== undefined ? { breaks } : {}),
        repairs: [],
        good: true,
        postCi: around(p.ciMinutes, p.ciSpread, p.seed, 'post', lane, agent, k),
        branch: `agent/${id}`,
        head: `${id}-h`,
      });
      this.at(this.open.get(id)?.readyAt as number, () => undefined); // wake the controller when ready
    });
  }

  /** A fix (or a person's revert) for `lanes`, arriving after `delay`. */
  openRepair(kind: 'fix' | 'revert', lanes: number[], key: (string | number)[], delay: number, branch: string, incident?: string): void {
    const p = this.params;
    const arrive = this.now + delay;
    const good = kind === 'revert' || uniform(p.seed, 'fix-ok', ...key) < p.fixSuccess;
    this.at(arrive, () => {
      const id = branch;
      const home = lanes[0] ?? 0;
      this.open.set(id, {
        id,
        kind,
        home,
        touched: [home],
        readyAt: arrive + around(p.ciMinutes, p.ciSpread, p.seed, 'fix-ci', ...key),
        repairs: good ? lanes : [],
        good,
        postCi: around(p.ciMinutes, p.ciSpread, p.seed, 'fix-post', ...key),
        branch,
        head: `${id}-${key.join('-')}`,
        ...(incident ? { incident } : {}),
      });
      this.at(this.open.get(id)?.readyAt as number, () => undefined);
    });
  }

  merge(change: SimChange): SimCommit {
    const p = this.params;
    this.open.delete(change.id);
    if (change.kind === 'regular') {
      this.regularMerges += 1;
      if (p.trace) this.mergeTimes.push(this.now);
      this.mergesByLane[change.home] = (this.mergesByLane[change.home] as number) + 1;
      this.waits.push(this.now - change.readyAt);
      // On red: a lane it lands in has failing tests on the target. A shared check red only with other lanes' failures is not that lane's red.
      if (change.touched.some((lane) => this.broken[lane])) this.mergesOnRed += 1;
      if (this.broken.some(Boolean)) this.mergesOnSharedRed += 1;
      const lanes = Array.from({ length: p.lanes }, (_, lane) => lane);
      if (lanes.some((lane) => !this.healthy(lane)) && change.touched.every((lane) => this.healthy(lane))) this.healthyMerges += 1;
      if (change.breaks !== undefined) {
        if (this.breaks[change.breaks] === 0) this.brokenSince[change.breaks] = this.now;
        this.breaks[change.breaks] = (this.breaks[change.breaks] as number) + 1;
      }
      if (change.agent !== undefined && change.k !== undefined) this.scheduleArrival(change.home, change.agent, change.k + 1, this.now);
    } else {
      this.repairs += 1;
      for (const lane of change.repairs) {
        if ((this.breaks[lane] as number) === 0) continue;
        this.breaks[lane] = (this.breaks[lane] as number) - 1;
        if (this.breaks[lane] === 0) {
          this.mttr.push(this.now - (this.brokenSince[lane] as number));
          this.brokenSince[lane] = undefined;
        }
      }
    }
    this.commitCount += 1;
    const sha = `${this.commitCount.toString(16).padStart(7, '0')}${'f'.repeat(33)}`;
    const flaky = Array.from({ length: p.lanes }, (_, lane) => uniform(p.seed, 'flaky', sha, lane) < p.flakyRate);
    const commit: SimCommit = { sha, time: this.now, doneAt: this.now + change.postCi, change, brokenAfter: this.broken, flaky };
    this.commits.push(commit);
    if (this.commits.length > 120) this.commits.splice(0, this.commits.length - 120);
    this.at(commit.doneAt, () => undefined);
    return commit;
  }

  /** What the checks report on a commit, as of now. */
  checksOf(commit: SimCommit): CheckRun[] {
    const p = this.params;
    if (this.now < commit.doneAt) {
      return p.sharedCheck
        ? [{ name: 'ci', conclusion: 'pending' }]
        : Array.from({ length: p.lanes }, (_, lane) => ({ name: checkName(p, lane), conclusion: 'pending' as const }));
    }
    if (p.sharedCheck) {
      const red = commit.brokenAfter.some(Boolean);
      const flaky = !red && commit.flaky[0];
      const failures = p.testLevel && red ? commit.brokenAfter.flatMap((broken, lane) => (broken ? [laneTest(lane)] : [])) : undefined;
      return [
        {
          name: 'ci',
          conclusion: red || flaky ? 'failure' : 'success',
          ...(flaky ? { passedOnRerun: true } : {}),
          output: red ? `${failures?.length ?? 1} failing` : '',
          ...(failures ? { failures, failuresComplete: true } : {}),
        },
      ];
    }
    return commit.brokenAfter.map((red, lane) => {
      const flaky = !red && commit.flaky[lane];
      return {
        name: checkName(p, lane),
        conclusion: red || flaky ? ('failure' as const) : ('success' as const),
        ...(flaky ? { passedOnRerun: true } : {}),
        output: red ? '1 failing' : '',
      };
    });
  }

  /** The lanes whose check is red on the newest commit whose checks finished (what a controller can see). */
  observedRed(): Set<number> {
    const red = new Set<number>();
    const p = this.params;
    for (let lane = 0; lane < p.lanes; lane++) {
      for (let i = this.commits.length - 1; i >= 0; i--) {
        const commit = this.commits[i] as SimCommit;
        if (this.now < commit.doneAt) continue;
        const run = this.checksOf(commit)[p.sharedCheck ? 0 : lane];
        // A shared check that names its failing tests shows each lane's red on its own, as a lane's own check does.
        const named = p.sharedCheck && p.testLevel && run?.failures !== undefined;
        if (run?.conclusion === 'failure' && (!named || run.failures?.some((f) => f.id === laneTest(lane).id))) red.add(lane);
        break;
      }
    }
    return red;
  }

  metrics(): StrategyMetrics {
    const hours = this.end / 60;
    const p = this.params;
    return {
      merges: this.regularMerges,
      merges_per_hour: this.regularMerges / hours,
      p50_minutes: quantile(this.waits, 0.5),
      p95_minutes: quantile(this.waits, 0.95),
      target_green_share: this.greenTime.reduce((a, b) => a + b, 0) / (this.end * p.lanes),
      all_green_share: this.allGreenTime / this.end,
      merges_on_red: this.mergesOnRed,
      merges_on_any_red: this.mergesOnSharedRed,
      mttr_minutes: this.mttr.length ? this.mttr.reduce((a, b) => a + b, 0) / this.mttr.length : 0,
      repairs: this.repairs,
      healthy_during_incident_per_lane_hour: this.healthyExposure > 0 ? this.healthyMerges / (this.healthyExposure / 60) : 0,
      per_lane_hour: this.regularMerges / (hours * p.lanes),
      ...(p.trace ? { merge_times: this.mergeTimes } : {}),
    };
  }
}

/** Build Master: the real decide() on a simulated forge. */
function runBuildMaster(params: SimParams, inspect?: (state: ControllerState, now: number) => void): StrategyMetrics {
  const world = new World(params);
  const policy = simulationPolicy(params);
  let state: ControllerState = initialState(policy, 0);
  world.healthy = (lane) => state.lanes[`l${lane}`]?.state === 'healthy';
  const repairsByLane = new Map<string, number>();
  const ms = (minutes: number) => Math.round(minutes * 60_000);
  const toChange = (c: SimChange): Change => {
    const ready = world.now >= c.readyAt;
    const lanes = params.sharedCheck ? [0] : Array.from({ length: params.lanes }, (_, i) => i);
    return {
      id: c.id,
      title: c.id,
      branch: c.branch,
      base: 'main',
      headSha: c.head,
      files: c.touched.map((lane) => `l${lane}/${c.id}.ts`),
      labels: [],
      draft: false,
      reviews: [],
      // A failed fix fails its own lane's check; everything else passes pre-merge (p models breaks that slip past it).
      checks: lanes.map((lane): CheckRun => {
        const failed = ready && !c.good && (params.sharedCheck || lane === c.home);
        return {
          name: checkName(params, lane),
          conclusion: !ready ? 'pending' : failed ? 'failure' : 'success',
          ...(failed && params.sharedCheck && params.testLevel ? { failures: [laneTest(c.home)], failuresComplete: true } : {}),
        };
      }),
      mergeable: 'mergeable',
      readySince: ms(c.readyAt),
    };
  };
  const tick = () => {
    const snapshot = {
      forge: 'local' as const,
      target: 'main',
      changes: [...world.open.values()].map(toChange),
      targetCommits: world.commits.slice(-60).map((c): TargetCommit => ({
        sha: c.sha,
        time: ms(c.time),
        checks: world.checksOf(c),
        change: { id: c.change.id, files: c.change.touched.map((lane) => `l${lane}/${c.change.id}.ts`), branch: c.change.branch },
      })),
      builds: [],
      workers: ['command'],
    };
    const result = decide(snapshot, state, policy, ms(world.now));
    state = result.state;
    inspect?.(state, world.now);
    // A revert change is on its way only when a propose-revert decision named a culprit.
    const revertComing = new Set(result.decisions.filter((d) => d.kind === 'propose-revert' && d.sha).map((d) => d.incident));
    for (const d of result.decisions) {
      const incident = d.incident ? state.incidents[d.incident] : undefined;
      const lanes = (incident?.lanes ?? []).map((name) => Number(name.slice(1))).filter((n) => Number.isFinite(n));
      if (d.kind === 'merge') {
        const change = world.open.get(d.change as string);
        if (change) world.merge(change);
      } else if (d.kind === 'dispatch-fix' && incident) {
        const lane = lanes[0] ?? 0;
        const nth = repairsByLane.get(incident.id) ?? repairsByLane.size;
        repairsByLane.set(incident.id, nth);
        const key = [lane, nth, d.attempt ?? 1];
        world.openRepair(
          'fix',
          lanes.length ? lanes : [lane],
          key,
          exponential(params.fixMinutes, params.seed, 'fix-time', ...key),
          `buildmaster/fix/${incident.id}`,
          incident.id,
        );
      } else if (d.kind === 'propose-revert' && incident) {
        world.openRepair(
          'revert',
          lanes.length ? lanes : [0],
          ['revert', incident.id],
          10,
          `buildmaster/revert/${incident.id}`,
          incident.id,
        );
      } else if (
        d.kind === 'escalate' &&
        incident &&
        !revertComing.has(incident.id) &&
        !world.open.has(`buildmaster/revert/${incident.id}`)
      ) {
        // A person answers the escalation with a revert of the culprit.
        const broken = lanes.length ? lanes : world.broken.flatMap((b, i) => (b ? [i] : []));
        world.openRepair(
          'revert',
          broken,
          ['human', incident.id],
          exponential(params.humanMinutes, params.seed, 'human', incident.id),
          `buildmaster/revert/${incident.id}`,
          incident.id,
        );
      } else if (d.kind === 'global-hold') {
        world.at(world.now + exponential(params.humanMinutes, params.seed, 'ack', world.now), () => {
          const released = applyOperator(state, { kind: 'release', ack: true, by: 'owner' }, ms(world.now));
          if (released.ok) state = released.state;
        });
      }
    }
  };
  // A controller cycle after every event, plus a periodic one for time-based rules.
  for (let t = 5; t < world.end; t += 5) world.at(t, () => undefined);
  while (world.advance()) tick();
  return world.metrics();
}

/** The baselines share one repair process: detect red, dispatch a fix, retry, then a person reverts. */
function runBaseline(params: SimParams, strategy: Exclude<StrategyName, 'build-master'>): StrategyMetrics {
  const world = new World(params);
  const repairing = new Map<number, { attempt: number; nth: number }>();
  const awaiting: (SimCommit | undefined)[] = Array.from({ length: params.lanes }, () => undefined);
  let lastGlobal: SimCommit | undefined;
  let nth = 0;
  const opaque = params.sharedCheck && !params.testLevel;
  const settled = (c: SimCommit | undefined) => !c || world.now >= c.doneAt;
  const startRepair = (lane: number, attempt: number, n: number) => {
    repairing.set(lane, { attempt, nth: n });
    const key = [lane, n, attempt];
    const repairs = opaque ? Array.from({ length: params.lanes }, (_, i) => i) : [lane];
    if (attempt > 2) {
      world.openRepair(
        'revert',
        repairs,
        ['human', lane, n],
        exponential(params.humanMinutes, params.seed, 'human', lane, n),
        `revert-l${lane}-${n}`,
      );
    } else {
      world.openRepair('fix', repairs, key, exponential(params.fixMinutes, params.seed, 'fix-time', ...key), `fix-l${lane}-${n}`);
    }
  };
  const tick = () => {
    const red = world.observedRed();
    // Repairs: dispatch on an observed red lane; a failed fix triggers the next attempt.
    // A shared check that says only pass or fail is one red signal and one repair ("fix the build"), tracked as lane 0;
    // one that names its failing tests gives the baselines the same per-lane signal Build Master reads.
    const lanesToRepair = opaque ? (red.size ? [0] : []) : [...red];
    for (const lane of lanesToRepair) {
      if (!repairing.has(lane)) startRepair(lane, 1, nth++);
    }
    for (const change of [...world.open.values()]) {
      if (change.kind === 'regular' || world.now < change.readyAt || change.good) continue;
      const state = repairing.get(change.home);
      world.open.delete(change.id);
      if (state) startRepair(change.home, state.attempt + 1, state.nth);
    }
    const ready = [...world.open.values()]
      .filter((c) => world.now >= c.readyAt && c.good)
      .sort((a, b) => (a.kind === 'regular' ? 1 : 0) - (b.kind === 'regular' ? 1 : 0) || a.readyAt - b.readyAt || a.id.localeCompare(b.id));
    const anyRed = red.size > 0;
    if (strategy === 'single-queue') {
      if (!settled(lastGlobal)) return;
      const next = ready.find((c) => c.kind !== 'regular' || !anyRed);
      if (next) lastGlobal = mergeAndTrack(next);
      return;
    }
    const mergedLanes = new Set<number>();
    for (const change of ready) {
      if (mergedLanes.has(change.home) || !settled(awaiting[change.home])) continue;
      if (change.kind === 'regular' && strategy === 'stop-the-world' && anyRed) continue;
      mergedLanes.add(change.home);
      awaiting[change.home] = mergeAndTrack(change);
    }
  };
  const mergeAndTrack = (change: SimChange): SimCommit => {
    const commit = world.merge(change);
    if (change.kind !== 'regular') repairing.delete(change.home);
    return commit;
  };
  for (let t = 5; t < world.end; t += 5) world.at(t, () => undefined);
  while (world.advance()) tick();
  return world.metrics();
}

/** `inspect` sees Build Master's state after every cycle (for investigating a run). */
export function runStrategy(
  strategy: StrategyName,
  params: SimParams,
  inspect?: (state: ControllerState, now: number) => void,
): StrategyMetrics {
  return strategy === 'build-master' ? runBuildMaster(params, inspect) : runBaseline(params, strategy);
}

// One controller cycle: observe -> decide -> gate -> act -> record (SPEC §3).
// decide() (with the autonomy gate inside it) is pure; everything here is the
// shell that reads the forge, executes the decisions and writes them down.
// Every action's idempotency key is recorded before and after it runs, so a
// process killed at any point resumes without doing anything twice.
import { decide, initialState, type DecideResult } from '../core/decide';
import { refusedKey } from '../core/keys';
import { short } from '../core/text';
import type { Change, ControllerState, Decision, Incident, Snapshot } from '../core/model';
import type { Policy } from '../core/policy/schema';
import { writeScope } from '../core/scope';
import { touchesStateBranch } from '../core/state-branch';
import { ForgeRefusal, type Clock, type Forge, type FoundMerge, type ObserveFocus, type StorePort, type Worker } from '../ports';
import type { LogEvent, Store } from '../store/store';
import { tend } from './hygiene';

export interface CycleDeps {
  policy: Policy;
  forge: Forge;
  workers: Partial<Record<'command' | 'github-issue', Worker>>;
  store: Store;
  clock: Clock;
  log: (message: string) => void;
  /** Test hook: called at each action point, so tests can kill the process exactly there. */
  checkpoint?: (point: string) => void;
  /** Builds the prompt a worker receives for an incident. */
  prompt: (incident: Incident) => Promise<string>;
}

export interface ActionOutcome {
  key: string;
  kind: Decision['kind'];
  status: 'done' | 'failed' | 'skipped';
  message: string;
  decision: Decision;
  /** A refusal no retry resolves: what a person must change (the controller escalates it once). */
  escalation?: { code: string; text: string };
}

export interface CycleReport {
  result: DecideResult;
  actions: ActionOutcome[];
  dryRun: boolean;
  snapshotChanges: Change[];
  /**
   * The queues as the cycle's actions left them (what it merged is gone): what a
   * table of the state after the cycle shows. `result.queues` keeps the decided
   * entries, merged ones too, with the gates that let them merge.
   */
  queuesAfter?: DecideResult['queues'];
  /** The target's newest commit as observed (webhook mode matches check and status shas against it). */
  targetSha?: string;
}

const ACTIONS: ReadonlySet<Decision['kind']> = new Set([
  'merge',
  'dispatch-fix',
  'propose-revert',
  'escalate',
  'page-owner',
  'report-flaky',
  'update-branch',
]);

/** `focus`: what webhook deliveries said changed since the last cycle; the forge reads only that (absent: everything). */
export async function runCycle(deps: CycleDeps, options: { dryRun?: boolean; focus?: ObserveFocus } = {}): Promise<CycleReport> {
  const { store, forge, policy, clock } = deps;
  const dryRun = options.dryRun ?? false;
  const replayed = dryRun ? [] : await resumeUnfinished(deps);

  const state: ControllerState = store.data.state ?? initialState(policy, clock.now());
  const snapshot = await observe(deps, options.focus ? { focus: options.focus } : {});
  const now = clock.now();
  const result = decide(snapshot, state, policy, now);
  const targetSha = snapshot.targetCommits[snapshot.targetCommits.length - 1]?.sha;
  const seen = { snapshotChanges: snapshot.changes, ...(targetSha ? { targetSha } : {}) };
  if (dryRun) return { result, actions: [], dryRun, ...seen };

  // Record first: the decisions and the state they lead to, then act on them.
  store.append(result.decisions.map((decision) => eventOf(decision, now, result.state.cycle)));
  store.data.state = result.state;
  store.data.lastCycle = {
    at: now,
    cycle: result.state.cycle,
    outcome: result.outcome,
    queues: result.queues,
    decisions: result.decisions,
  };
  await store.save();

  const byId = new Map(snapshot.changes.map((change) => [change.id, change]));
  const actions: ActionOutcome[] = [...replayed];
  for (const decision of result.decisions) {
    if (!decision.key || !ACTIONS.has(decision.kind)) continue;
    const outcome = await act(deps, decision, byId);
    actions.push(outcome);
    const escalated = await escalateRefusal(deps, outcome, byId);
    if (escalated) actions.push(escalated);
  }
  const acted = afterMerges(result, actions);
  if (acted !== result) {
    // What `status` shows until the next cycle: the queues as the merges left them.
    store.data.lastCycle = { ...store.data.lastCycle, queues: acted.queues };
    await store.save();
  }
  if (forge.hygiene) {
    // Housekeeping (GitHub hygiene) after the cycle's own actions; its failures never fail the cycle.
    try {
      for (const outcome of await tend(forge.hygiene, store, { result, snapshot, policy, now: clock.now() })) {
        const done: ActionOutcome = { ...outcome, kind: 'outcome', decision: { kind: 'outcome', rationale: outcome.message } };
        store.append([
          {
            at: clock.now(),
            cycle: result.state.cycle,
            type: 'action',
            kind: 'hygiene',
            key: outcome.key,
            status: outcome.status,
            message: outcome.message,
          },
        ]);
        actions.push(done);
      }
    } catch (error) {
      deps.log(`hygiene failed: ${(error as Error).message}`);
      store.append([
        {
          at: clock.now(),
          cycle: result.state.cycle,
          type: 'error',
          kind: 'hygiene',
          message: `hygiene failed: ${(error as Error).message}`,
        },
      ]);
    }
  }
  return { result, actions, dryRun, ...seen, queuesAfter: acted.queues };
}

/**
 * The forge's look at the repository, and what it saw recorded here, once: when
 * each change was first seen (its place in the longest-ready order), when it was
 * authored, and merges found on the target with no record (a process stopped
 * between a merge and its record). A read-only look (explain) saves nothing: it
 * may run beside a sync that holds the lock.
 */
export async function observe(
  deps: Pick<CycleDeps, 'forge' | 'policy' | 'store' | 'clock'>,
  options: { readOnly?: boolean; focus?: ObserveFocus } = {},
): Promise<Snapshot> {
  const { forge, policy, store, clock } = deps;
  const observed = await forge.observe(policy, store.data.state, store.data.builds, { ...options, seen: store.firstSeen() });
  const { authored, foundMerged, ...snapshot } = observed;
  // Build Master's own state branch is its memory, never a change (whatever a forge lists).
  snapshot.changes = snapshot.changes.filter((change) => !touchesStateBranch(change));
  for (const found of foundMerged) await recordMerge(store, found, clock.now());
  for (const change of snapshot.changes) change.readySince = store.recordSeen(change.id, change.readySince);
  for (const [change, at] of Object.entries(authored)) store.recordAuthored(change, at);
  if (!options.readOnly) await store.save();
  return snapshot;
}

/**
 * The one place a merge is recorded, and saved at once: one made this cycle, one
 * found by its key after a process stopped, or one found on the target.
 */
async function recordMerge(store: StorePort, merge: FoundMerge, at: number): Promise<void> {
  store.recordMerge(merge.change, { head: merge.head, sha: merge.sha, at });
  await store.save();
}

/** The cycle's result with the changes it merged out of their queues: a merged change is no longer "ready to merge". */
function afterMerges(result: DecideResult, actions: readonly ActionOutcome[]): DecideResult {
  const merged = new Set(
    actions
      .filter((a) => a.kind === 'merge' && a.status !== 'failed' && a.decision.change !== undefined)
      .map((a) => a.decision.change as string),
  );
  if (merged.size === 0) return result;
  const queues = Object.fromEntries(
    Object.entries(result.queues).map(([lane, queue]) => [lane, queue.filter((entry) => !merged.has(entry.change))]),
  );
  return { ...result, queues };
}

async function act(deps: CycleDeps, decision: Decision, changes: Map<string, Change>): Promise<ActionOutcome> {
  const { store, clock } = deps;
  const key = decision.key as string;
  const previous = store.action(key);
  if (previous?.status === 'done') {
    return { key, kind: decision.kind, status: 'skipped', message: `already done: ${previous.result ?? ''}`, decision };
  }
  deps.checkpoint?.(`before:${decision.kind}`);
  await store.beginAction(decision, clock.now());
  let outcome: ActionOutcome;
  let failure: unknown;
  try {
    const message = await execute(deps, decision, changes);
    deps.checkpoint?.(`after:${decision.kind}`);
    await store.finishAction(key, clock.now(), { ok: true, result: message });
    outcome = { key, kind: decision.kind, status: 'done', message, decision };
  } catch (error) {
    failure = error;
    const message = error instanceof ForgeRefusal ? error.message : (error as Error).message;
    await store.finishAction(key, clock.now(), { ok: false, error: message });
    outcome = { key, kind: decision.kind, status: 'failed', message, decision };
    if (!(error instanceof ForgeRefusal)) deps.log(`${decision.kind} ${key} failed: ${(error as Error).stack ?? message}`);
  }
  if (failure instanceof ForgeRefusal && failure.escalation) outcome.escalation = { code: failure.code, text: failure.escalation };
  recordAction(store, outcome, clock.now());
  return outcome;
}

/**
 * A refusal no retry resolves (a token without permission, a merge method the
 * repository forbids) is escalated once per action key: the action itself is
 * tried again each cycle (the fix may land any time), the people are told once.
 */
async function escalateRefusal(deps: CycleDeps, outcome: ActionOutcome, changes: Map<string, Change>): Promise<ActionOutcome | undefined> {
  const { decision, escalation: refusal } = outcome;
  if (outcome.status !== 'failed' || !refusal || decision.kind === 'escalate') return undefined;
  const key = refusedKey(outcome.key, refusal.code);
  if (deps.store.action(key)?.status === 'done') return undefined;
  const escalation: Decision = {
    kind: 'escalate',
    ...(decision.lane ? { lane: decision.lane } : {}),
    ...(decision.change ? { change: decision.change } : {}),
    ...(decision.sha ? { sha: decision.sha } : {}),
    key,
    rationale: `${outcome.message}; ${refusal.text}`,
  };
  return act(deps, escalation, changes);
}

/** Appends an action's outcome to the event log. */
function recordAction(store: Store, outcome: ActionOutcome, at: number): void {
  store.append([
    {
      at,
      cycle: store.data.state?.cycle,
      type: 'action',
      kind: outcome.kind,
      key: outcome.key,
      status: outcome.status,
      message: outcome.message,
      ...pick(outcome.decision),
    },
  ]);
}

async function execute(deps: CycleDeps, decision: Decision, changes: Map<string, Change>): Promise<string> {
  const { forge, policy, store, clock } = deps;
  const state = store.data.state as ControllerState;
  const incident = decision.incident ? state.incidents[decision.incident] : undefined;
  switch (decision.kind) {
    case 'merge': {
      // A merge that happened before a crash is found by its key, never made twice.
      const earlier = await forge.findMerge(decision.key as string, policy);
      if (earlier) {
        if (decision.change) await recordMerge(store, { change: decision.change, head: decision.sha ?? '', sha: earlier.sha }, clock.now());
        return `already merged as ${short(earlier.sha)}`;
      }
      const change = changes.get(decision.change as string);
      if (!change) throw new ForgeRefusal(`${decision.change} is no longer open`, 'gone');
      const merged = await forge.merge(change, decision, policy, state);
      await recordMerge(store, { change: change.id, head: change.headSha, sha: merged.sha }, clock.now());
      deps.checkpoint?.('after:record-merge');
      await forge.afterMerge?.(merged, policy);
      return `merged ${change.id} as ${short(merged.sha)}`;
    }
    case 'dispatch-fix': {
      if (!incident) throw new Error(`unknown incident ${decision.incident}`);
      const attempt = decision.attempt ?? 1;
      const worker = deps.workers[policy.dispatch.worker];
      if (!worker) throw new ForgeRefusal(`no ${policy.dispatch.worker} worker is available here`, 'no-worker');
      const existing = store.build(incident.id, attempt);
      // A build cancelled by a stopped process is run again; one that finished is never redone.
      if (existing && (existing.status === 'completed' || existing.status === 'failed')) {
        return `build ${incident.id}#${attempt} already ${existing.status}`;
      }
      store.setBuildStatus(incident.id, attempt, 'pending', clock.now());
      store.setBuildStatus(incident.id, attempt, 'running', clock.now());
      await store.save();
      deps.checkpoint?.('during:dispatch-fix');
      const scope = writeScope(policy, incident);
      const result = await worker.dispatch(
        {
          prompt: await deps.prompt(incident),
          variables: { incident: incident.id, attempt: String(attempt), lane: incident.lanes.join(',') },
          incident: incident.id,
          write_scope: scope.globs,
          auto_commit: true,
          timeout: policy.dispatch.timeout,
        },
        incident,
        attempt,
        policy,
      );
      const { output, ...rest } = result;
      store.setBuildStatus(incident.id, attempt, result.success ? 'completed' : 'failed', clock.now(), {
        result: { ...rest, output_tail: output.slice(-2000) },
        ...(result.change ? { change: result.change } : {}),
        ...(result.error ? { error: result.error } : {}),
      });
      await store.save();
      for (const warning of result.warnings ?? []) deps.log(`fix attempt ${attempt} for ${incident.id}: ${warning}`);
      if (result.breach) {
        // Not an ordinary failed fix: the worker did something it was not given. A person looks at it now.
        await forge.notify(
          'escalate',
          { ...decision, kind: 'escalate', rationale: `fix attempt ${attempt} for ${incident.id}: ${result.breach}` },
          incident,
          policy,
        );
      }
      if (!result.success)
        throw new ForgeRefusal(
          `fix attempt ${attempt} for ${incident.id} failed: ${result.error ?? 'unknown error'}${result.warnings?.length ? `; ${result.warnings.join('; ')}` : ''}`,
          'build-failed',
        );
      const warned = result.warnings?.length ? `; ${result.warnings.join('; ')}` : '';
      return result.change
        ? `fix attempt ${attempt} for ${incident.id} produced ${result.change} (${result.files_changed.length} file(s))${warned}`
        : `${result.output}${warned}`;
    }
    case 'propose-revert': {
      if (!incident || !decision.sha) throw new Error(`revert needs an incident and a culprit sha`);
      const change = await forge.openRevert(incident, decision.sha, policy);
      return `opened ${change} reverting ${short(decision.sha)}`;
    }
    case 'escalate':
    case 'page-owner':
      await forge.notify(decision.kind, decision, incident, policy);
      return decision.kind === 'escalate' ? 'escalation recorded' : `paged ${policy.owners.join(' ') || 'the owners'}`;
    case 'report-flaky':
      await forge.notify('report-flaky', decision, undefined, policy);
      return 'flaky test reported for quarantine';
    case 'update-branch': {
      const change = changes.get(decision.change as string);
      if (!change) throw new ForgeRefusal(`${decision.change} is no longer open`, 'gone');
      if (!forge.updateBranch) throw new ForgeRefusal(`this forge cannot update ${change.id}'s branch; update it by hand`, 'unsupported');
      await forge.updateBranch(change, decision);
      return `asked GitHub to update ${change.id}'s branch to ${change.base} at ${short(decision.baseSha ?? '')}`;
    }
    default:
      return 'nothing to do';
  }
}

/**
 * Actions a killed process began but never finished. A merge is looked up by
 * its key in the target's history; anything else is retried (each action is
 * idempotent at its own level: a build that finished is not redone).
 */
async function resumeUnfinished(deps: CycleDeps): Promise<ActionOutcome[]> {
  const { store, forge, policy, clock } = deps;
  const outcomes: ActionOutcome[] = [];
  for (const record of store.unfinishedActions()) {
    // A run's starts and promotions are the run driver's to recover (controller/drive.ts), not a cycle's.
    if (record.key.startsWith('run:')) continue;
    const decision = record.decision;
    if (decision.kind === 'merge') {
      const earlier = await forge.findMerge(record.key, policy);
      if (earlier) {
        const message = `recovered: ${decision.change} was merged as ${short(earlier.sha)} before the previous process stopped`;
        if (decision.change) await recordMerge(store, { change: decision.change, head: decision.sha ?? '', sha: earlier.sha }, clock.now());
        await store.finishAction(record.key, clock.now(), { ok: true, result: message });
        const outcome: ActionOutcome = { key: record.key, kind: 'merge', status: 'done', message, decision };
        recordAction(store, outcome, clock.now());
        outcomes.push(outcome);
        continue;
      }
      // Never merged: the change is still open and decide() will choose it again.
      const message = 'recovered: the merge never happened before the previous process stopped; it is decided again';
      await store.finishAction(record.key, clock.now(), { ok: false, error: message });
      recordAction(store, { key: record.key, kind: 'merge', status: 'failed', message, decision }, clock.now());
      continue;
    }
    if (decision.kind === 'update-branch') {
      // Never sent twice blind: the next observe shows whether GitHub updated it (a new head), else decide() asks again.
      const message = 'recovered: the branch update was interrupted by a stopped process; it is decided again from what GitHub shows';
      await store.finishAction(record.key, clock.now(), { ok: false, error: message });
      recordAction(store, { key: record.key, kind: 'update-branch', status: 'failed', message, decision }, clock.now());
      continue;
    }
    if (decision.kind === 'dispatch-fix' && decision.incident) {
      const build = store.build(decision.incident, decision.attempt ?? 1);
      if (build && build.status === 'running') {
        store.setBuildStatus(decision.incident, decision.attempt ?? 1, 'cancelled', clock.now(), {
          error: 'the process running the build stopped',
        });
      }
    }
    deps.log(`resuming ${record.kind} ${record.key}, interrupted by a stopped process`);
    const changes = new Map<string, Change>();
    outcomes.push(await act(deps, decision, changes));
  }
  return outcomes;
}

export function eventOf(decision: Decision, at: number, cycle: number): Omit<LogEvent, 'seq'> {
  return {
    at,
    cycle,
    type: 'decision',
    kind: decision.kind,
    message: decision.rationale,
    ...pick(decision),
    ...(decision.key ? { key: decision.key } : {}),
  };
}

function pick(decision: Decision): Partial<LogEvent> {
  return {
    ...(decision.lane ? { lane: decision.lane } : {}),
    ...(decision.change ? { change: decision.change } : {}),
    ...(decision.incident ? { incident: decision.incident } : {}),
    ...(decision.approval ? { approval: decision.approval } : {}),
    ...(decision.from ? { from: decision.from } : {}),
    ...(decision.to ? { to: decision.to } : {}),
  };
}

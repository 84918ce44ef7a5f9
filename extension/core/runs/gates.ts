// A run's gated steps (issue 13, item 7): the run-wide apply and execute gates, the merge gate of
// each result (by the profile and the result's risk tier), and the deploy gate before a deploy task
// starts. A step the profile does not allow becomes one approval request; its answer is recorded by
// the shell (recordGate) and read back here.
import type { RiskTier, RunStep } from '../model';
import { runGateKey, runPromoteKey } from '../keys';
import { decide, gateOf, patchTask, type Draft, type RunCommand } from './ledger';
import type { Task } from './model';
import { stepVerdict, type Profile } from './profiles';

/** The run-wide steps gated before any worker starts: applying the plan (generate), running commands (execute). */
const RUN_STEPS = ['apply', 'execute'] as const;

export type RunGateState = { state: 'open' } | { state: 'wait' } | { state: 'rejected'; rationale: string };

/**
 * Asks for an approval once: the gate is recorded with no approval id yet (`approval: ''`) until the
 * shell creates the approval and calls recordGate; meanwhile nothing asks again.
 */
export function requestGate(draft: Draft, step: RunStep, rationale: string, task?: Task, tier?: RiskTier): void {
  const attempt = step === 'deploy' && task ? task.attempts + 1 : task?.attempts;
  const key = runGateKey(draft.run.id, step, task && attempt !== undefined ? { id: task.id, attempt } : undefined);
  draft.gates.push(task ? { step, task: task.id, approval: '', status: 'pending' } : { step, approval: '', status: 'pending' });
  const command: RunCommand = { kind: 'gate', step, key, rationale };
  if (task) command.task = task.id;
  if (tier) command.tier = tier;
  draft.commands.push(command);
  decide(draft, 'gate', `${step}${task ? ` of ${task.id}` : ''} waits for an approval: ${rationale}`, task);
}

/** The run-wide gates in order: open when each is allowed by the profile or approved. */
export function runWideGates(draft: Draft, profile: Profile): RunGateState {
  for (const step of RUN_STEPS) {
    const verdict = stepVerdict(profile, step);
    if (verdict.allowed) continue;
    const gate = gateOf(draft, step);
    if (!gate) {
      requestGate(draft, step, verdict.rationale);
      return { state: 'wait' };
    }
    if (gate.status === 'rejected')
      return { state: 'rejected', rationale: `a person rejected the ${step} step (approval ${gate.approval})` };
    if (gate.status === 'pending') return { state: 'wait' };
  }
  return { state: 'open' };
}

function promote(draft: Draft, task: Task, rationale: string): void {
  patchTask(draft, task.id, { stage: 'promote' });
  draft.commands.push({ kind: 'promote', task: task.id, key: runPromoteKey(draft.run.id, task.id, task.attempts), rationale });
  decide(draft, 'promote', rationale, task);
}

/** A gated step a person rejected: the task fails with that reason (no repair: a person said no). */
function refuse(draft: Draft, task: Task, step: RunStep, approval: string): void {
  const error = `a person rejected its ${step} (approval ${approval})`;
  const patch: Partial<Task> = { status: 'failed', finished_at: draft.now };
  if (task.result) patch.result = { ...task.result, error };
  patchTask(draft, task.id, patch);
  decide(draft, 'fail', `${task.id}: ${error}`, task);
}

/** A successful, verified result that changed files and waits for its merge decision (not yet gated or promoted). */
function awaitsMergeDecision(task: Task): boolean {
  return (
    task.status === 'running' &&
    task.result?.success === true &&
    task.result.files_changed.length > 0 &&
    task.stage !== 'approval' &&
    task.stage !== 'promote' &&
    task.stage !== 'queued' &&
    task.stage !== 'merged'
  );
}

/** Each finished result: promoted when the profile merges its tier, else an approval; an approved gate promotes it. */
export function decideMerges(draft: Draft, profile: Profile, tierOf: (files: readonly string[]) => RiskTier): void {
  for (const task of [...draft.tasks]) {
    const gate = gateOf(draft, 'merge', task.id);
    if (task.status === 'running' && task.stage === 'approval' && gate) {
      if (gate.status === 'approved') promote(draft, task, `a person approved its merge (approval ${gate.approval})`);
      if (gate.status === 'rejected') refuse(draft, task, 'merge', gate.approval);
      continue;
    }
    if (!awaitsMergeDecision(task) || !task.result) continue;
    const tier = tierOf(task.result.files_changed);
    const verdict = stepVerdict(profile, 'merge', tier);
    if (verdict.allowed) {
      promote(draft, task, `${tier}: ${verdict.rationale}`);
      continue;
    }
    patchTask(draft, task.id, { stage: 'approval' });
    requestGate(draft, 'merge', `${tier}: ${verdict.rationale}`, task, tier);
  }
}

/**
 * Deploy tasks whose dependencies completed: may they start? Held back (returned) while the deploy
 * step waits for a person; a rejected deploy fails the task.
 */
export function deployHeld(draft: Draft, profile: Profile, ready: readonly Task[]): Set<string> {
  const held = new Set<string>();
  for (const task of ready) {
    if (task.type !== 'deploy') continue;
    const verdict = stepVerdict(profile, 'deploy');
    if (verdict.allowed) continue;
    const gate = gateOf(draft, 'deploy', task.id);
    if (gate?.status === 'approved') continue;
    held.add(task.id);
    if (gate?.status === 'rejected') refuse(draft, task, 'deploy', gate.approval);
    else if (!gate) {
      patchTask(draft, task.id, { stage: 'approval' });
      requestGate(draft, 'deploy', verdict.rationale, task);
    }
  }
  return held;
}

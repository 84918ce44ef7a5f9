// Runs the hygiene protocol (SPEC §7) after a cycle's actions: the core plans
// (core/hygiene.ts), the forge's hands act, one action at a time. What was done
// is remembered in the store, and comments carry a marker, so a restart or a
// lost answer never repeats one.
import type { DecideResult } from '../core/decide';
import { digestOf, planHygiene, type HygieneAction } from '../core/hygiene';
import type { ControllerState, Snapshot } from '../core/model';
import type { Policy } from '../core/policy/schema';
import { own } from '../core/records';
import { carriesMarker, inert, issueMarker } from '../core/trailers';
import type { HygieneHands, HygieneView, StorePort } from '../ports';

/** One housekeeping action's outcome, logged like any other action. */
export interface TendOutcome {
  key: string;
  status: 'done' | 'failed' | 'skipped';
  message: string;
}

export async function tend(
  hands: HygieneHands,
  store: StorePort,
  input: { result: DecideResult; snapshot: Snapshot; policy: Policy; now: number },
): Promise<TendOutcome[]> {
  const { result, snapshot, policy, now } = input;
  const view = await hands.view();
  if (!view) return [];
  const memory = store.hygieneMemory();
  const merged = store.recordedMerges();
  const plan = planHygiene({
    policy,
    now,
    issues: view.issues,
    // Changes merged in this cycle are done: no label or nudge for them.
    changes: snapshot.changes
      .filter((c) => own(merged, c.id)?.head !== c.headSha)
      .map((c) => ({ ...c, updatedAt: own(view.updated, c.id) ?? now })),
    queues: result.queues,
    memory,
    digest: digestOf(result.state),
  });
  Object.assign(memory, plan.sightings);
  const outcomes: TendOutcome[] = [];
  for (const action of plan.actions) {
    if (!plan.allowed) {
      const key = `proposed:${action.key}`;
      if (memory[key] === undefined) {
        memory[key] = now;
        outcomes.push({ key: action.key, status: 'skipped', message: `proposed, not done (${plan.rationale}): ${action.reason}` });
      }
      continue;
    }
    try {
      const message = await perform(hands, action, policy);
      for (const key of [action.key, ...(action.remember ?? [])]) memory[key] = now;
      outcomes.push({ key: action.key, status: 'done', message });
    } catch (error) {
      outcomes.push({ key: action.key, status: 'failed', message: hands.describe(error, `hygiene ${action.kind} (${action.reason})`) });
    }
  }
  await closeResolved(hands, view, memory, result.state, outcomes, now);
  await store.save();
  return outcomes;
}

async function perform(hands: HygieneHands, action: HygieneAction, policy: Policy): Promise<string> {
  switch (action.kind) {
    case 'label':
      await hands.label(action.number, action.label);
      return `labelled #${action.number} ${action.label}: ${action.reason}`;
    case 'unlabel':
      await hands.unlabel(action.number, action.label);
      return `removed ${action.label} from #${action.number}: ${action.reason}`;
    case 'comment': {
      // Hygiene comments quote gate reasons (check names, outputs): they page nobody.
      const posted = await hands.comment(action.number, action.key, inert(action.body));
      if (action.addLabel) await hands.label(action.number, action.addLabel);
      return `${posted ? 'commented on' : 'already commented on'} #${action.number}${action.addLabel ? ` and labelled it ${action.addLabel}` : ''}: ${action.reason}`;
    }
    case 'digest': {
      const number = await hands.statusIssue(policy);
      await hands.comment(number, action.key, action.body);
      return `posted the status digest on #${number}`;
    }
  }
}

/** Fix and escalation issues of resolved incidents are closed with a note, once. */
async function closeResolved(
  hands: HygieneHands,
  view: HygieneView,
  memory: Record<string, number>,
  state: ControllerState,
  outcomes: TendOutcome[],
  now: number,
): Promise<void> {
  const resolved = Object.values(state.incidents).filter((i) => i.status === 'resolved');
  if (!resolved.length) return;
  for (const issue of view.issues) {
    // Someone else's issue quoting a marker is never closed by Build Master.
    if (!issue.own) continue;
    const incident = resolved.find(
      (i) => carriesMarker(issue.body, issueMarker.anyFix(i.id)) || carriesMarker(issue.body, issueMarker.escalation(i.id)),
    );
    if (!incident) continue;
    const key = `close:#${issue.number}`;
    if (memory[key] !== undefined) continue;
    try {
      await hands.comment(issue.number, key, `${incident.id} is resolved: ${inert(incident.rationale)}`);
      await hands.close(issue.number);
      memory[key] = now;
      outcomes.push({ key, status: 'done', message: `closed #${issue.number}: ${incident.id} is resolved` });
    } catch (error) {
      outcomes.push({ key, status: 'failed', message: hands.describe(error, `closing #${issue.number}`) });
    }
  }
}

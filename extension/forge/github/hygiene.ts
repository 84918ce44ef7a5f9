// Executes the hygiene plan (core/hygiene.ts) on GitHub: labels, comments and
// the status digest. What was done is remembered in the store, and comments
// carry a marker, so a restart or a lost answer never repeats one.
import type { DecideResult } from '../../core/decide';
import { planHygiene, type HygieneAction, type HygieneIssue } from '../../core/hygiene';
import type { ControllerState, Snapshot } from '../../core/model';
import type { Policy } from '../../core/policy/schema';
import type { TendOutcome } from '../../ports';
import { dict, type Store } from '../../store/store';
import { describeGitHubError } from './client';
import type { GitHubForge, IssueData } from './forge';
import { comment, inert, issueFor, markerOf } from './issues';

export async function tendRepository(
  forge: GitHubForge,
  store: Store,
  input: { result: DecideResult; snapshot: Snapshot; policy: Policy; now: number },
): Promise<TendOutcome[]> {
  const { result, snapshot, policy, now } = input;
  const observed = forge.observed;
  if (!observed) return [];
  const memory = (store.data.hygiene ??= dict());
  const owns = await forge.ownership();
  const updated = new Map(observed.pulls.map((p) => [`#${p.number}`, Date.parse(p.updated_at)]));
  const issues: HygieneIssue[] = observed.issues
    .filter((i) => !i.pull_request)
    .map((i) => ({
      number: i.number,
      title: i.title,
      labels: i.labels.map((l) => (typeof l === 'string' ? l : (l.name ?? ''))).filter(Boolean),
      createdAt: Date.parse(i.created_at),
      updatedAt: Date.parse(i.updated_at),
      // Only issues Build Master created are its own, whatever markers their text carries.
      own: owns(i),
    }));
  const plan = planHygiene({
    policy,
    now,
    issues,
    // Changes merged in this cycle are done: no label or nudge for them.
    changes: snapshot.changes
      .filter((c) => store.data.merged[c.id]?.head !== c.headSha)
      .map((c) => ({ ...c, updatedAt: updated.get(c.id) ?? now })),
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
      const message = await perform(forge, action, policy);
      for (const key of [action.key, ...(action.remember ?? [])]) memory[key] = now;
      outcomes.push({ key: action.key, status: 'done', message });
    } catch (error) {
      outcomes.push({
        key: action.key,
        status: 'failed',
        message: describeGitHubError(error, `hygiene ${action.kind} (${action.reason})`),
      });
    }
  }
  await closeResolved(forge, store, result.state, outcomes, now, owns);
  await store.save();
  return outcomes;
}

async function perform(forge: GitHubForge, action: HygieneAction, policy: Policy): Promise<string> {
  const repo = forge.repository;
  switch (action.kind) {
    case 'label':
      await forge.api.issues.addLabels({ ...repo, issue_number: action.number, labels: [action.label] });
      return `labelled #${action.number} ${action.label}: ${action.reason}`;
    case 'unlabel':
      try {
        await forge.api.issues.removeLabel({ ...repo, issue_number: action.number, name: action.label });
      } catch (error) {
        // Already gone (someone removed it, or a lost answer): the goal is reached.
        if ((error as { status?: number }).status !== 404) throw error;
      }
      return `removed ${action.label} from #${action.number}: ${action.reason}`;
    case 'comment': {
      // Hygiene comments quote gate reasons (check names, outputs): they page nobody.
      const posted = await comment(forge, action.number, action.key, inert(action.body));
      if (action.addLabel) await forge.api.issues.addLabels({ ...repo, issue_number: action.number, labels: [action.addLabel] });
      return `${posted ? 'commented on' : 'already commented on'} #${action.number}${action.addLabel ? ` and labelled it ${action.addLabel}` : ''}: ${action.reason}`;
    }
    case 'digest': {
      const number = await issueFor(forge, 'status-digest', () => ({
        title: 'Build Master status',
        labels: ['build-master'],
        body: `The status of the ${policy.target} lanes, posted by Build Master when it changes.`,
      }));
      await comment(forge, number, action.key, action.body);
      return `posted the status digest on #${number}`;
    }
  }
}

/** Fix and escalation issues of resolved incidents are closed with a note, once. */
async function closeResolved(
  forge: GitHubForge,
  store: Store,
  state: ControllerState,
  outcomes: TendOutcome[],
  now: number,
  owns: (issue: IssueData) => boolean,
): Promise<void> {
  const memory = store.data.hygiene ?? {};
  const resolved = Object.values(state.incidents).filter((i) => i.status === 'resolved');
  if (!resolved.length || !forge.observed) return;
  for (const issue of forge.observed.issues) {
    // Someone else's issue quoting a marker is never closed by Build Master.
    if (issue.pull_request || !owns(issue)) continue;
    // Fix issues are keyed `fix:<incident>#<attempt>`, escalations `escalate:<incident>`.
    const body = issue.body ?? '';
    const incident = resolved.find((i) => body.includes(`<!-- build-master:fix:${i.id}#`) || body.includes(markerOf(`escalate:${i.id}`)));
    if (!incident) continue;
    const key = `close:#${issue.number}`;
    if (memory[key] !== undefined) continue;
    try {
      await comment(forge, issue.number, key, `${incident.id} is resolved: ${inert(incident.rationale)}`);
      await forge.api.issues.update({ ...forge.repository, issue_number: issue.number, state: 'closed' });
      memory[key] = now;
      outcomes.push({ key, status: 'done', message: `closed #${issue.number}: ${incident.id} is resolved` });
    } catch (error) {
      outcomes.push({ key, status: 'failed', message: describeGitHubError(error, `closing #${issue.number}`) });
    }
  }
}

/** The digest: global state, each lane's state and open incidents. Posted when it changes. */
export function digestOf(state: ControllerState): string {
  const lanes = Object.values(state.lanes).map(
    (l) => `| ${l.name} | ${l.state} | ${l.incident ?? ''} | ${inert(l.reason).replace(/\|/g, '/')} |`,
  );
  const open = Object.values(state.incidents).filter((i) => i.status === 'open');
  return [
    `**Global:** ${state.global.state} — ${state.global.reason}`,
    '',
    '| lane | state | incident | reason |',
    '| --- | --- | --- | --- |',
    ...lanes,
    '',
    open.length
      ? `**Open incidents:** ${open.map((i) => `${i.id} (${i.failureClass}, ${i.lanes.join(', ') || 'unattributed'})`).join('; ')}`
      : '**Open incidents:** none',
  ].join('\n');
}

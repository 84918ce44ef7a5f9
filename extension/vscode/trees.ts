// The four tree views of the Build Master container. Each renders the cockpit
// model; items carry a contextValue so menus (package.json) show the right
// actions: pause on a running lane, resume on a paused one, approve on a
// pending approval, explain and open diff on a change.
import * as vscode from 'vscode';
import type { QueueEntry } from '../core/decide';
import type { Approval, FailureMark, Incident } from '../core/model';
import { formatDuration } from '../core/policy/duration';
import { incidentFailures, printable, testTitle, where } from '../protocol/failures';
import type { ActivityItem, CockpitModel, LaneView } from '../protocol/model';
import { changeDescription, laneReason, laneRow } from '../protocol/presentation';
import { approvalSubject } from '../protocol/runs';
import type { Cockpit } from './cockpit';
import { openFailureCommand } from './openFailure';

/** Failing tests listed under an incident in the tree; the rest are counted. */
const TREE_FAILURES = 10;
/** Failing tests in an incident's tooltip: a hover, not a report. */
const TOOLTIP_FAILURES = 8;

export type LaneNode =
  | { kind: 'lane'; lane: LaneView }
  | { kind: 'incident'; incident: Incident; lane: string }
  | { kind: 'change'; entry: QueueEntry; position: number; laneState: LaneView['state'] };

abstract class ModelTree<T> implements vscode.TreeDataProvider<T>, vscode.Disposable {
  protected readonly changed = new vscode.EventEmitter<T | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscription: vscode.Disposable;

  constructor(protected readonly cockpit: Cockpit) {
    this.subscription = cockpit.onDidChange(() => this.changed.fire(undefined));
  }

  protected get model(): CockpitModel {
    return this.cockpit.model;
  }

  abstract getTreeItem(element: T): vscode.TreeItem;
  abstract getChildren(element?: T): T[];

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}

export class LanesTree extends ModelTree<LaneNode> {
  getChildren(element?: LaneNode): LaneNode[] {
    // Without a policy file the welcome view (package.json viewsWelcome) offers to create one; it shows only for an empty tree.
    if (!element) return this.model.policyFile ? this.model.lanes.map((lane) => ({ kind: 'lane', lane })) : [];
    if (element.kind !== 'lane') return [];
    const { lane } = element;
    return [
      ...(lane.incident ? [{ kind: 'incident' as const, incident: lane.incident, lane: lane.name }] : []),
      ...lane.queue.map((entry, index) => ({ kind: 'change' as const, entry, position: index + 1, laneState: lane.state })),
    ];
  }

  getParent(element: LaneNode): LaneNode | undefined {
    if (element.kind === 'lane') return undefined;
    const name = element.kind === 'incident' ? element.lane : element.entry.lane;
    const lane = this.model.lanes.find((l) => l.name === name);
    return lane ? { kind: 'lane', lane } : undefined;
  }

  getTreeItem(node: LaneNode): vscode.TreeItem {
    const now = this.model.now;
    if (node.kind === 'lane') {
      const { lane } = node;
      const hasChildren = lane.queue.length > 0 || lane.incident !== null;
      // A long name is cut in its middle so the state and count beside it stay in sight.
      const row = laneRow(lane);
      const item = new vscode.TreeItem(
        row.label,
        hasChildren ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None,
      );
      // VS Code remembers a row's collapse state by id: an empty lane that gains a queue gets a new id, so it opens expanded.
      item.id = `lane:${lane.name}${hasChildren ? '' : ':empty'}`;
      // No icon: the state is written first in the description, and the 22 px an icon takes are what
      // keeps the state and count in sight beside a long name at a 230 px sidebar.
      item.description = row.description;
      // Screen readers (and the e2e tier) get the name whole.
      item.accessibilityInformation = { label: `${lane.name}, ${row.description}` };
      item.tooltip = new vscode.MarkdownString(
        `**${escape(lane.name)}**: ${lane.state} for ${formatDuration(Math.max(0, now - lane.since))}\n\n${escape(laneReason(lane))}`,
      );
      item.contextValue = lane.state === 'paused' || lane.operatorPaused ? 'lane.paused' : 'lane.running';
      return item;
    }
    if (node.kind === 'incident') {
      const { incident } = node;
      const item = new vscode.TreeItem(incident.id, vscode.TreeItemCollapsibleState.None);
      item.id = `lane:${node.lane}:incident:${incident.id}`;
      item.iconPath = new vscode.ThemeIcon('flame', new vscode.ThemeColor('testing.iconFailed'));
      item.description = `${incident.failureClass} · ${incident.failingChecks.join(', ')} · remedy ${incident.remedy}`;
      item.tooltip = new vscode.MarkdownString(incidentMarkdown(incident, now));
      item.contextValue = 'incident';
      return item;
    }
    const { entry } = node;
    const item = new vscode.TreeItem(entry.change, vscode.TreeItemCollapsibleState.None);
    item.id = `lane:${entry.lane}:change:${entry.change}`;
    const ready = entry.reasons.length === 0;
    item.iconPath = new vscode.ThemeIcon(
      entry.link ? 'tools' : ready ? 'check' : 'git-pull-request',
      new vscode.ThemeColor(ready ? 'testing.iconPassed' : 'descriptionForeground'),
    );
    item.description = changeDescription(entry, node.position);
    const reasons = entry.reasons.map((r) => `- \`${r.code}\` ${escape(r.message)}`).join('\n');
    item.tooltip = new vscode.MarkdownString(
      `**${escape(entry.change)}** — ${escape(entry.title)}\n\n${entry.tier}${entry.crossLane ? ', cross-lane' : ''}, position ${node.position} in ${escape(entry.lane)}\n\n${ready ? 'Every gate passes: it merges when it reaches the front of its lane.' : `Why it is not merging:\n\n${reasons}`}`,
    );
    item.contextValue = entry.approval ? 'change.approval' : 'change';
    item.command = { command: 'buildMaster.openReview', title: 'Review', arguments: [{ change: entry.change }] };
    return item;
  }
}

/** A row under an incident: one failing test (or check as a whole), a fix attempt or a suspect. */
export interface IncidentLine {
  incident: Incident;
  line: string;
  icon: string;
  description?: string;
  tooltip?: string;
  failure?: FailureMark;
}

export type IncidentNode = Incident | IncidentLine;

export class IncidentsTree extends ModelTree<IncidentNode> {
  getChildren(element?: IncidentNode): IncidentNode[] {
    if (!element) return this.model.incidents;
    if ('line' in element) return [];
    const lines: IncidentLine[] = [];
    // Fix attempts and suspects are few: they lead, so a long fingerprint never pushes them out of sight.
    for (const attempt of element.attempts) {
      lines.push({
        incident: element,
        icon: attempt.outcome === 'merged' ? 'check' : attempt.outcome === 'failed' ? 'error' : 'loading~spin',
        line: `fix attempt ${attempt.attempt}: ${attempt.outcome}${attempt.change ? ` — ${attempt.change}` : ''}${attempt.reason ? ` (${attempt.reason})` : ''}`,
      });
    }
    for (const suspect of element.suspects)
      lines.push({
        incident: element,
        icon: 'search',
        line: `suspect ${suspect.change ?? suspect.sha.slice(0, 8)}${suspect.lane ? ` in ${suspect.lane}` : ''}`,
      });
    // The fingerprint: what is failing, where, and why it is this lane's. The sidebar is narrow: the
    // label is the test's own title, the file and line are beside it, the full id is in the tooltip.
    const failures = incidentFailures(element, TREE_FAILURES);
    for (const group of failures.groups) {
      for (const mark of group.marks) {
        const at = where(mark.file, mark.line);
        lines.push({
          incident: element,
          icon: 'error',
          line: printable(mark.test ? testTitle(mark.test) : `${mark.check}: the check as a whole`),
          description: [at, mark.lane ? `lane ${mark.lane}` : 'no lane', mark.test ? mark.check : undefined].filter(Boolean).join(' · '),
          tooltip: failureMarkdown(mark),
          failure: mark,
        });
      }
    }
    if (failures.hidden)
      lines.push({
        incident: element,
        icon: 'ellipsis',
        line: `and ${failures.hidden} more failing tests`,
        description: `build-master explain ${element.id}`,
      });
    return lines;
  }

  getTreeItem(element: IncidentNode): vscode.TreeItem {
    if ('line' in element) {
      const item = new vscode.TreeItem(element.line, vscode.TreeItemCollapsibleState.None);
      item.iconPath = element.failure
        ? new vscode.ThemeIcon(element.icon, new vscode.ThemeColor('testing.iconFailed'))
        : new vscode.ThemeIcon(element.icon);
      if (element.description) item.description = element.description;
      if (element.tooltip) item.tooltip = new vscode.MarkdownString(element.tooltip);
      if (element.failure?.file) {
        const command = openFailureCommand(this.model.repo, {
          path: element.failure.file,
          ...(element.failure.line !== undefined ? { line: element.failure.line } : {}),
          sha: element.incident.redSha,
        });
        if (command) item.command = command;
        item.contextValue = 'incident.failure';
      }
      return item;
    }
    const now = this.model.now;
    const hasChildren =
      element.attempts.length > 0 || element.suspects.length > 0 || (element.failures?.length ?? 0) > 0 || element.failingChecks.length > 0;
    const item = new vscode.TreeItem(
      element.id,
      hasChildren ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None,
    );
    item.id = `incident:${element.id}`;
    item.iconPath = new vscode.ThemeIcon(element.escalated ? 'report' : 'flame', new vscode.ThemeColor('testing.iconFailed'));
    const fix = element.attempts.find((a) => a.outcome === 'pending')?.change ?? element.attempts[element.attempts.length - 1]?.change;
    const paused = this.model.lanes.filter((l) => element.lanes.includes(l.name) && l.state === 'paused');
    const pausedFor = paused.length ? ` · paused ${formatDuration(Math.max(0, now - Math.min(...paused.map((l) => l.since))))}` : '';
    const tests = element.failures?.filter((f) => f.test !== undefined).length ?? 0;
    item.description = `${element.lanes.join(', ') || 'unattributed'} · ${element.failureClass}${tests ? ` · ${tests} failing test${tests === 1 ? '' : 's'}` : ''} · retries ${element.retries} · open ${formatDuration(Math.max(0, now - element.openedAt))}${pausedFor}${fix ? ` · fix ${fix}` : ''}`;
    item.tooltip = new vscode.MarkdownString(incidentMarkdown(element, now));
    item.contextValue = 'incident';
    return item;
  }
}

export class ApprovalsTree extends ModelTree<Approval> {
  getChildren(element?: Approval): Approval[] {
    return element ? [] : this.model.approvals;
  }

  getTreeItem(approval: Approval): vscode.TreeItem {
    const item = new vscode.TreeItem(approvalSubject(approval), vscode.TreeItemCollapsibleState.None);
    item.id = `approval:${approval.id}`;
    item.iconPath = new vscode.ThemeIcon(
      'shield',
      new vscode.ThemeColor(approval.tier === 'tier3' ? 'problemsWarningIcon.foreground' : 'descriptionForeground'),
    );
    item.description = `${approval.id} · ${approval.tier}${approval.lane ? ` · ${approval.lane}` : ''}`;
    item.tooltip = new vscode.MarkdownString(
      `**${escape(approval.id)}** (${approval.actionClass}, ${approval.tier})\n\n${escape(approval.rationale)}`,
    );
    item.contextValue = 'approval';
    // A run's gate is reviewed on its run: the DAG, the budget and the decisions are what a person weighs.
    item.command = approval.run
      ? { command: 'buildMaster.openRun', title: 'Open Run', arguments: [approval.run, approval.task] }
      : { command: 'buildMaster.openReview', title: 'Review', arguments: [{ approval: approval.id }] };
    return item;
  }
}

export class ActivityTree extends ModelTree<ActivityItem> {
  getChildren(element?: ActivityItem): ActivityItem[] {
    return element ? [] : this.model.activity.filter((e) => !(e.type === 'decision' && e.kind === 'wait'));
  }

  getTreeItem(event: ActivityItem): vscode.TreeItem {
    const what = [
      event.type === 'action' ? `${event.kind} ${event.status}` : (event.kind ?? event.type),
      event.change ?? event.incident ?? event.approval,
    ]
      .filter(Boolean)
      .join(' ');
    const item = new vscode.TreeItem(what, vscode.TreeItemCollapsibleState.None);
    item.id = `event:${event.seq}`;
    item.iconPath = new vscode.ThemeIcon(activityIcon(event));
    item.description = `${event.lane ? `${event.lane} · ` : ''}${formatDuration(Math.max(0, this.model.now - event.at))} ago`;
    item.tooltip = new vscode.MarkdownString(`**${escape(what)}** — ${new Date(event.at).toLocaleString()}\n\n${escape(event.message)}`);
    return item;
  }
}

function activityIcon(event: ActivityItem): string {
  if (event.type === 'error' || event.status === 'failed') return 'error';
  if (event.type === 'operator') return 'person';
  switch (event.kind) {
    case 'merge':
      return 'git-merge';
    case 'open-incident':
      return 'flame';
    case 'resolve-incident':
      return 'pass';
    case 'dispatch-fix':
      return 'tools';
    case 'global-hold':
      return 'stop-circle';
    case 'lane-transition':
      return 'arrow-swap';
    case 'request-approval':
      return 'shield';
    default:
      return 'circle-small';
  }
}

function incidentMarkdown(incident: Incident, now: number): string {
  const failures = incidentFailures(incident, TOOLTIP_FAILURES);
  const tests = failures.recorded
    ? [
        `Failing tests (${failures.total}):`,
        failures.groups
          .flatMap((group) => group.marks.map((mark) => `- ${failureLine(mark)}`))
          .concat(failures.hidden ? [`- and ${failures.hidden} more`] : [])
          .join('\n'),
      ]
    : [];
  return [
    `**${escape(incident.id)}** — ${incident.failureClass} (${escape(incident.classRule)}), ${incident.tier}`,
    '',
    `Lanes: ${incident.lanes.map(escape).join(', ') || 'unattributed'} · red at \`${incident.redSha.slice(0, 8)}\` · open ${formatDuration(Math.max(0, now - incident.openedAt))}`,
    `Failing checks: ${incident.failingChecks.map(escape).join(', ')}`,
    ...tests,
    `Remedy: ${incident.remedy} · retries ${incident.retries}${incident.escalated ? ' · escalated' : ''}`,
    '',
    escape(incident.rationale),
  ].join('\n\n');
}

/** One failing test in markdown: check › test, file:line, the lane and why. */
function failureLine(mark: FailureMark): string {
  const at = where(mark.file, mark.line);
  return `${escape(printable(mark.check))} › ${mark.test ? escape(printable(mark.test)) : '*the check as a whole*'}${at ? ` — ${escape(at)}` : ''} → ${mark.lane ? `lane ${escape(mark.lane)}: ` : 'no lane: '}${escape(printable(mark.why))}`;
}

function failureMarkdown(mark: FailureMark): string {
  const at = where(mark.file, mark.line);
  return [
    `**${mark.test ? escape(printable(mark.test)) : 'The check as a whole'}**`,
    `Check: ${escape(printable(mark.check))}${at ? ` · ${escape(at)}` : ''}`,
    `${mark.lane ? `Lane **${escape(mark.lane)}**` : 'No lane'}: ${escape(printable(mark.why))}`,
  ].join('\n\n');
}

/** Branch names and messages are user text: keep markdown from interpreting them. */
function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}

// The status bar item: the global state and counts; a click opens the dashboard.
import * as vscode from 'vscode';
import { budgetLine, budgetLow } from '../protocol/budget';
import type { CockpitModel } from '../protocol/model';
import type { Cockpit } from './cockpit';

export function createStatusBar(cockpit: Cockpit): vscode.Disposable {
  const item = vscode.window.createStatusBarItem('buildMaster.status', vscode.StatusBarAlignment.Left, 50);
  item.name = 'Build Master';
  item.command = 'buildMaster.openDashboard';
  const render = (model: CockpitModel) => {
    const { text, tooltip, background } = statusBarText(model);
    item.text = text;
    item.tooltip = tooltip;
    item.backgroundColor = background ? new vscode.ThemeColor(background) : undefined;
    item.show();
  };
  render(cockpit.model);
  const subscription = cockpit.onDidChange(render);
  return vscode.Disposable.from(item, subscription);
}

export function statusBarText(model: CockpitModel): { text: string; tooltip: string; background?: string } {
  if (model.policyProblems.length)
    return {
      text: '$(error) Build Master: policy invalid',
      tooltip: `${model.policyProblems.length} problem(s) in the policy file; nothing acts until it is fixed`,
      background: 'statusBarItem.errorBackground',
    };
  if (model.unavailable) return { text: '$(circle-slash) Build Master', tooltip: model.unavailable };
  const paused = model.lanes.filter((l) => l.state === 'paused').length;
  const degraded = model.lanes.filter((l) => l.state === 'degraded' || l.state === 'recovering').length;
  const queued = model.lanes.reduce((n, l) => n + l.queue.length, 0);
  const icon = model.controller.syncing
    ? '$(sync~spin)'
    : model.global.state === 'global-hold'
      ? '$(stop-circle)'
      : model.global.state === 'incident-contained'
        ? '$(warning)'
        : '$(pass)';
  const counts = [
    `${model.lanes.length - paused - degraded}/${model.lanes.length} healthy`,
    queued ? `${queued} queued` : '',
    model.incidents.length ? `${model.incidents.length} incident${model.incidents.length > 1 ? 's' : ''}` : '',
    model.approvals.length ? `${model.approvals.length} approval${model.approvals.length > 1 ? 's' : ''}` : '',
    budgetLow(model.githubBudget) ? 'GitHub budget low' : '',
  ].filter(Boolean);
  const tooltip = [
    `Build Master: ${model.global.state} — ${model.global.reason}`,
    `controller ${model.controller.running ? 'running' : 'stopped'}${model.controller.trusted ? '' : ' (untrusted workspace)'}`,
    model.lastCycle ? `last cycle ${model.lastCycle.cycle}: ${model.lastCycle.outcome.rationale}` : 'no cycle has run yet',
    budgetLine(model.githubBudget) ?? '',
    'Click to open the dashboard',
  ]
    .filter(Boolean)
    .join('\n');
  return {
    text: `${icon} ${model.global.state === 'global-hold' ? 'HOLD' : 'Build Master'} ${counts.join(' · ')}`,
    tooltip,
    ...(model.global.state === 'global-hold'
      ? { background: 'statusBarItem.errorBackground' }
      : model.global.state === 'incident-contained'
        ? { background: 'statusBarItem.warningBackground' }
        : {}),
  };
}

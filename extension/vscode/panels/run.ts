// The run panel: one run's task DAG, its decisions with their rationales, its budget bars, each
// task's details, and kill / retry / approve / reject in place. One panel per run, live from the
// cockpit model, restored after a reload from the page's saved run id.
import * as vscode from 'vscode';
import { isRunRequest, type RunPanelState, type RunRequest } from '../../protocol/runs';
import type { Cockpit } from '../cockpit';
import { WebviewHost } from '../webviewHost';

export const RUN_VIEW_TYPE = 'buildMaster.run';

export class RunPanel {
  private static readonly open = new Map<string, RunPanel>();
  private readonly host: WebviewHost<RunPanelState, unknown>;
  private readonly subscription: vscode.Disposable;
  private focus: RunPanelState['focus'];

  static show(id: string, cockpit: Cockpit, extensionUri: vscode.Uri, log: vscode.LogOutputChannel): RunPanel {
    const existing = RunPanel.open.get(id);
    if (existing) {
      existing.host.panel.reveal();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(RUN_VIEW_TYPE, `Run ${id}`, vscode.ViewColumn.Active, { enableScripts: true });
    return new RunPanel(panel, id, cockpit, extensionUri, log);
  }

  static restore(panel: vscode.WebviewPanel, id: string, cockpit: Cockpit, extensionUri: vscode.Uri, log: vscode.LogOutputChannel): void {
    RunPanel.open.get(id)?.host.panel.dispose();
    new RunPanel(panel, id, cockpit, extensionUri, log);
  }

  /** The runs with an open panel (tests read it). */
  static shown(): string[] {
    return [...RunPanel.open.keys()];
  }

  private constructor(
    panel: vscode.WebviewPanel,
    private readonly id: string,
    private readonly cockpit: Cockpit,
    extensionUri: vscode.Uri,
    log: vscode.LogOutputChannel,
  ) {
    panel.title = `Run ${id}`;
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'build-master.svg');
    this.host = new WebviewHost<RunPanelState, unknown>({
      panel,
      extensionUri,
      script: 'run',
      title: panel.title,
      log,
      onRequest: (request) => {
        // The page is not trusted to send only what it should: a request is checked field by field.
        if (!isRunRequest(request)) throw new Error('the run panel sent a request this version does not know; reopen the panel');
        return this.handle(request);
      },
    });
    RunPanel.open.set(id, this);
    this.subscription = cockpit.onDidChange(() => this.update());
    this.host.onDidDispose(() => {
      this.subscription.dispose();
      if (RunPanel.open.get(id) === this) RunPanel.open.delete(id);
    });
    this.update();
  }

  /** Shows one task's details (the tree's task row opens the panel on it). */
  select(task: string | undefined): this {
    if (task) {
      this.focus = { task, seq: (this.focus?.seq ?? 0) + 1 };
      this.update();
    }
    return this;
  }

  private update(): void {
    const model = this.cockpit.model;
    const run = model.runs.find((r) => r.id === this.id);
    this.host.setState({
      id: this.id,
      ...(run ? { run } : {}),
      ...(this.focus ? { focus: this.focus } : {}),
      trusted: model.controller.trusted,
      now: model.now,
    });
  }

  private async handle(request: RunRequest): Promise<string | undefined> {
    const run = this.id;
    switch (request.kind) {
      case 'kill':
        return vscode.commands.executeCommand<string | undefined>('buildMaster.killRun', run);
      case 'retry':
        return vscode.commands.executeCommand<string | undefined>('buildMaster.retryTask', run, request.task);
      case 'approve':
        return vscode.commands.executeCommand<string | undefined>('buildMaster.approveRunStep', run, request.step, request.task);
      case 'reject':
        return vscode.commands.executeCommand<string | undefined>(
          'buildMaster.rejectRunStep',
          run,
          request.step,
          request.task,
          request.reason,
        );
      case 'openBranch': {
        // Only a branch this run's task records: the page cannot name any ref it likes.
        const known = this.cockpit.model.runs.find((r) => r.id === run)?.tasks.some((t) => t.branch === request.branch);
        if (!known) throw new Error(`branch ${request.branch} is no task's branch in run ${run}`);
        await vscode.env.clipboard.writeText(request.branch);
        return `copied ${request.branch}`;
      }
    }
  }
}

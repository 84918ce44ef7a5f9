// The dashboard panel: one per window, live from the cockpit model, restored
// after a reload by its serializer.
import * as vscode from 'vscode';
import type { CockpitModel, DashboardRequest } from '../../protocol/model';
import type { Cockpit } from '../cockpit';
import { WebviewHost } from '../webviewHost';
import { fileOf, openFailureFile } from '../openFailure';

export const DASHBOARD_VIEW_TYPE = 'buildMaster.dashboard';

export class DashboardPanel {
  private static current: DashboardPanel | undefined;
  private readonly host: WebviewHost<CockpitModel, DashboardRequest>;
  private readonly subscription: vscode.Disposable;

  static show(cockpit: Cockpit, extensionUri: vscode.Uri, log: vscode.LogOutputChannel): DashboardPanel {
    if (DashboardPanel.current) {
      DashboardPanel.current.host.panel.reveal();
      return DashboardPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(DASHBOARD_VIEW_TYPE, 'Build Master', vscode.ViewColumn.Active, { enableScripts: true });
    return new DashboardPanel(panel, cockpit, extensionUri, log);
  }

  static restore(panel: vscode.WebviewPanel, cockpit: Cockpit, extensionUri: vscode.Uri, log: vscode.LogOutputChannel): void {
    DashboardPanel.current?.host.panel.dispose();
    new DashboardPanel(panel, cockpit, extensionUri, log);
  }

  private constructor(panel: vscode.WebviewPanel, cockpit: Cockpit, extensionUri: vscode.Uri, log: vscode.LogOutputChannel) {
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'build-master.svg');
    this.host = new WebviewHost<CockpitModel, DashboardRequest>({
      panel,
      extensionUri,
      script: 'dashboard',
      title: 'Build Master',
      log,
      onRequest: async (request) => {
        switch (request.kind) {
          case 'sync':
            await vscode.commands.executeCommand('buildMaster.sync');
            return 'cycle finished';
          case 'review':
            await vscode.commands.executeCommand('buildMaster.openReview', request);
            return;
          case 'pause':
            await vscode.commands.executeCommand('buildMaster.pauseLane', request.lane);
            return;
          case 'resume':
            await vscode.commands.executeCommand('buildMaster.resumeLane', request.lane);
            return;
          case 'start':
            await vscode.commands.executeCommand('buildMaster.startController');
            return;
          case 'stop':
            await vscode.commands.executeCommand('buildMaster.stopController');
            return;
          case 'openFile':
            await openFailureFile(cockpit.repoRoot ?? cockpit.model.repo, fileOf(request));
            return;
        }
      },
    });
    this.host.setState(cockpit.model);
    this.subscription = cockpit.onDidChange((model) => this.host.setState(model));
    this.host.onDidDispose(() => {
      this.subscription.dispose();
      if (DashboardPanel.current === this) DashboardPanel.current = undefined;
    });
    DashboardPanel.current = this;
  }
}

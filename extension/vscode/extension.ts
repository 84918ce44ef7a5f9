// The cockpit's entry point. Activation is lazy (package.json activationEvents):
// opening the Build Master container, running one of its commands, or a
// workspace with a policy file. Everything registered here is disposed on
// deactivate.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { parsePolicy } from '../core/policy/parse';
import { GitHubAuth } from './auth';
import { Cockpit } from './cockpit';
import { registerCommands } from './commands';
import { CommitFileProvider, DIFF_SCHEME } from './diffContent';
import { DashboardPanel, DASHBOARD_VIEW_TYPE } from './panels/dashboard';
import { REVIEW_VIEW_TYPE, ReviewPanel, type ReviewSubject } from './panels/review';
import { RUN_VIEW_TYPE, RunPanel } from './panels/run';
import { RunProgress, RunsTree } from './runs';
import { startPolicyLanguageServer } from './policyLanguage';
import { createStatusBar } from './statusBar';
import { ActivityTree, ApprovalsTree, IncidentsTree, LanesTree } from './trees';

let client: LanguageClient | undefined;

/** What tests and the benchmark read: the services of the running cockpit. */
export interface CockpitApi {
  cockpit: Cockpit;
  lanes: LanesTree;
  approvals: ApprovalsTree;
  runs: RunsTree;
  runProgress: RunProgress;
  activation: { startedAt: number; ms: number };
}

export function activate(context: vscode.ExtensionContext): CockpitApi {
  const startedAt = Date.now();
  const started = performance.now();
  const log = vscode.window.createOutputChannel('Build Master', { log: true });
  context.subscriptions.push(log);
  log.info('[activate] start');

  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const auth = new GitHubAuth(context.secrets, log);
  const cockpit = new Cockpit({ folder, log, githubToken: async () => (await auth.silent())?.token });
  const lanes = new LanesTree(cockpit);
  const incidents = new IncidentsTree(cockpit);
  const approvals = new ApprovalsTree(cockpit);
  const activity = new ActivityTree(cockpit);
  const runs = new RunsTree(cockpit);
  const runProgress = new RunProgress(cockpit);
  const lanesView = vscode.window.createTreeView('buildMaster.lanes', { treeDataProvider: lanes, showCollapseAll: true });
  const approvalsView = vscode.window.createTreeView('buildMaster.approvals', { treeDataProvider: approvals });
  const syncContext = () => {
    const model = cockpit.model;
    void vscode.commands.executeCommand('setContext', 'buildMaster.hasRepository', Boolean(model.repo));
    void vscode.commands.executeCommand('setContext', 'buildMaster.hasPolicy', Boolean(model.policyFile));
    void vscode.commands.executeCommand('setContext', 'buildMaster.policyInvalid', model.policyProblems.length > 0);
    void vscode.commands.executeCommand('setContext', 'buildMaster.running', model.controller.running);
    void vscode.commands.executeCommand('setContext', 'buildMaster.globalHold', model.global.state === 'global-hold');
    // Incidents and Approvals show only with something in them (package.json `when`): an empty view takes
    // no room from Lanes, and one that appears gets its share by weight, not a leftover sliver.
    void vscode.commands.executeCommand('setContext', 'buildMaster.hasIncidents', model.incidents.length > 0);
    void vscode.commands.executeCommand('setContext', 'buildMaster.hasApprovals', model.approvals.length > 0);
    void vscode.commands.executeCommand('setContext', 'buildMaster.hasRuns', model.runs.length > 0);
    approvalsView.badge = model.approvals.length
      ? { value: model.approvals.length, tooltip: `${model.approvals.length} approval(s) waiting` }
      : undefined;
    lanesView.message = model.policyProblems.length
      ? `The policy file is invalid (${model.policyProblems.length} problem(s)): nothing acts until it is fixed.`
      : model.global.state === 'global-hold'
        ? `Global hold: ${model.global.reason}`
        : model.repo && model.policyFile && !model.lastCycle
          ? 'No cycle has run yet: run "Build Master: Run One Cycle" or start the controller.'
          : undefined;
  };

  const validatePolicy = async () => {
    const [file] = await vscode.workspace.findFiles('{.buildmaster.yml,.github/buildmaster.yml}', undefined, 1);
    if (!file) {
      void vscode.window
        .showInformationMessage('Build Master: no .buildmaster.yml in this workspace; every key uses its default.', 'Create One')
        .then((c) => c && vscode.commands.executeCommand('buildMaster.createPolicy'));
      return;
    }
    const document = await vscode.workspace.openTextDocument(file);
    await vscode.window.showTextDocument(document);
    const result = parsePolicy(document.getText(), vscode.workspace.asRelativePath(file));
    log.info(`[policy] validated ${file.fsPath}: ${result.problems.length} problem(s)`);
    if (result.ok) void vscode.window.showInformationMessage('Build Master: the policy file is valid.');
    else
      void vscode.window.showErrorMessage(`Build Master: ${result.problems.length} problem(s) in the policy file; see the Problems panel.`);
  };

  context.subscriptions.push(
    cockpit,
    lanes,
    incidents,
    approvals,
    activity,
    runs,
    runProgress,
    lanesView,
    approvalsView,
    vscode.window.createTreeView('buildMaster.incidents', { treeDataProvider: incidents }),
    vscode.window.createTreeView('buildMaster.activity', { treeDataProvider: activity }),
    vscode.window.createTreeView('buildMaster.runs', { treeDataProvider: runs, showCollapseAll: true }),
    createStatusBar(cockpit),
    cockpit.onDidChange(syncContext),
    vscode.workspace.registerTextDocumentContentProvider(DIFF_SCHEME, new CommitFileProvider(cockpit)),
    vscode.window.registerWebviewPanelSerializer(DASHBOARD_VIEW_TYPE, {
      deserializeWebviewPanel: (panel) => {
        DashboardPanel.restore(panel, cockpit, context.extensionUri, log);
        return Promise.resolve();
      },
    }),
    vscode.window.registerWebviewPanelSerializer(REVIEW_VIEW_TYPE, {
      deserializeWebviewPanel: (panel, state: unknown) => {
        const subject = (state ?? {}) as ReviewSubject;
        if (!subject.approval && !subject.change) panel.dispose();
        else ReviewPanel.restore(panel, subject, cockpit, context.extensionUri, log);
        return Promise.resolve();
      },
    }),
    vscode.window.registerWebviewPanelSerializer(RUN_VIEW_TYPE, {
      deserializeWebviewPanel: (panel, state: unknown) => {
        const id = (state as { run?: unknown } | undefined)?.run;
        if (typeof id === 'string') RunPanel.restore(panel, id, cockpit, context.extensionUri, log);
        else panel.dispose();
        return Promise.resolve();
      },
    }),
    ...registerCommands({ cockpit, auth, extensionUri: context.extensionUri, log, validatePolicy }),
    vscode.workspace.onDidSaveTextDocument((doc) => {
      if (/(^|[\\/])(\.buildmaster\.yml|\.github[\\/]buildmaster\.yml)$/.test(doc.fileName)) void cockpit.refresh();
    }),
  );
  syncContext();

  // The language server and the first read of the store do not hold up activation.
  void startPolicyLanguageServer(context.extensionUri, log).then(
    (started) => {
      client = started;
    },
    (error: unknown) => log.error(`[policy] the language server did not start: ${(error as Error).message}`),
  );
  void cockpit.start().then(undefined, (error: unknown) => log.error(`[controller] ${(error as Error).message}`));

  const ms = performance.now() - started;
  log.info(`[activate] end: activated in ${ms.toFixed(1)} ms`);
  return { cockpit, lanes, approvals, runs, runProgress, activation: { startedAt, ms } };
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}

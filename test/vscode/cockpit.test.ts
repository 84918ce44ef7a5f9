// The cockpit inside a real extension host, on the demo repository the runner
// created (a real git repository with agent branches and a tier 3 change).
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { CockpitApi } from '../../extension/vscode/extension';
import type { LaneNode } from '../../extension/vscode/trees';
import type { RunNode } from '../../extension/vscode/runs';
import type { RunView } from '../../extension/protocol/runs';
import type { Session } from '../../extension/controller/session';
import { initialState } from '../../extension/core/decide';
import { BIG_RUN, FAILED_TASK, GATED_TASK, LIVE_RUN, LONG_RUN, bigRun, liveRun, longRun } from '../../fixtures/runs';

const EXTENSION_ID = 'build-master.build-master';

function workspaceDir(): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the runner opens the demo repository as the workspace');
  return folder.uri.fsPath;
}

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: workspaceDir(), encoding: 'utf8' }).trim();
}

async function api(): Promise<CockpitApi> {
  const extension = vscode.extensions.getExtension<CockpitApi>(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is installed`);
  return extension.isActive ? extension.exports : extension.activate();
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A tree item's label as text (a label may be a highlighted label). */
function labelText(label: string | vscode.TreeItemLabel | undefined): string {
  return typeof label === 'object' ? label.label : (label ?? '');
}

/** A diagnostic's code as text (a code may carry a link to its documentation). */
function codeText(code: vscode.Diagnostic['code']): string {
  return typeof code === 'object' ? String(code.value) : String(code);
}

/** A hover's content as text (VS Code hands a provider's markdown back as a MarkdownString). */
function markdownText(content: vscode.Hover['contents'][number]): string {
  return content instanceof vscode.MarkdownString ? content.value : JSON.stringify(content);
}

function laneItems(cockpit: CockpitApi): { node: LaneNode; item: vscode.TreeItem }[] {
  return cockpit.lanes.getChildren().map((node) => ({ node, item: cockpit.lanes.getTreeItem(node) }));
}

describe('cockpit in a real VS Code', function () {
  this.timeout(120_000);

  it('activates on the workspace with a policy file and logs how long activation took', async () => {
    const cockpit = await api();
    assert.ok(cockpit.activation.ms >= 0 && cockpit.activation.ms < 10_000, `activation took ${cockpit.activation.ms} ms`);
    await until('the first read of the repository', () => cockpit.cockpit.model.repo);
    assert.equal(cockpit.cockpit.model.repo, workspaceDir());
  });

  it('registers every contributed command, and contributes every command it registers', async () => {
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    const contributed = (extension?.packageJSON as { contributes: { commands: { command: string }[] } }).contributes.commands
      .map((c) => c.command)
      .sort();
    const registered = (await vscode.commands.getCommands(true)).filter((c) => /^buildMaster\.[A-Za-z]+$/.test(c)).sort(); // not the view commands VS Code adds
    assert.deepEqual(registered, contributed);
    assert.ok(contributed.length >= 20, `${contributed.length} commands`);
  });

  it('shows the policy lanes before any cycle, then queues, a merge and an approval after a sync', async () => {
    const cockpit = await api();
    await cockpit.cockpit.refresh();
    const before = laneItems(cockpit);
    assert.deepEqual(
      before.map(({ item }) => item.label),
      ['web', 'api', 'docs', 'shared'],
    );
    for (const { item } of before) assert.match(String(item.description), /^healthy · 0 queued/);
    const mainBefore = git('rev-parse', 'main');

    await vscode.commands.executeCommand('buildMaster.sync');
    const model = await until('a cycle', () => cockpit.cockpit.model.lastCycle && cockpit.cockpit.model);

    // Merges committed by Build Master (the author stays the change's), with its trailers: real git.
    const merged = git('log', '--format=%cn|%(trailers:key=Build-Master-Change,valueonly)', `${mainBefore}..main`)
      .split('\n')
      .filter(Boolean);
    assert.ok(merged.length >= 1, 'the sync merged at least one change');
    for (const line of merged) assert.match(line, /^Build Master\|agent\//);

    const lanes = laneItems(cockpit);
    const web = lanes.find(({ item }) => item.label === 'web');
    assert.ok(web);
    const webChildren = cockpit.lanes.getChildren(web.node).map((node) => cockpit.lanes.getTreeItem(node));
    // agent/web-rename breaks the web test: its pre-merge check fails and the first reason says so.
    const rename = webChildren.find((item) => item.label === 'agent/web-rename');
    assert.ok(rename, `web's queue lists agent/web-rename: ${webChildren.map((i) => labelText(i.label)).join(', ')}`);
    assert.match(String(rename.description), /^#\d+ checks? /); // short: the sidebar cuts the rest, the tooltip has it
    assert.match((rename.tooltip as vscode.MarkdownString).value, /test\\-web/);

    // The tier 3 change waits for a person.
    const approval = model.approvals.find((a) => a.change === 'agent/infra-deploy');
    assert.ok(approval, `an approval for the tier 3 change: ${JSON.stringify(model.approvals)}`);
    const shared = lanes.find(({ item }) => item.label === 'shared');
    assert.ok(shared);
    const infra = cockpit.lanes
      .getChildren(shared.node)
      .map((node) => cockpit.lanes.getTreeItem(node))
      .find((i) => i.label === 'agent/infra-deploy');
    assert.equal(infra?.contextValue, 'change.approval');
  });

  it('approves from a command and merges the approved change on the next cycle', async () => {
    const cockpit = await api();
    const approval = cockpit.cockpit.model.approvals.find((a) => a.change === 'agent/infra-deploy');
    assert.ok(approval);
    await vscode.commands.executeCommand('buildMaster.approve', approval.id);
    assert.equal(
      cockpit.cockpit.model.approvals.some((a) => a.id === approval.id),
      false,
    );
    await vscode.commands.executeCommand('buildMaster.sync');
    const subjects = git('log', '--format=%(trailers:key=Build-Master-Change,valueonly)', 'main').split('\n');
    assert.ok(subjects.includes('agent/infra-deploy'), 'the approved tier 3 change is on main');
    const events = cockpit.cockpit.model.activity;
    assert.ok(
      events.some((e) => e.type === 'operator' && e.kind === 'approve' && e.approval === approval.id),
      'the approval is in the log',
    );
  });

  it('opens a change in the native diff editor: the merge base on the left, the branch on the right', async () => {
    await vscode.commands.executeCommand('buildMaster.openDiff', { change: 'agent/web-rename' });
    const tab = await until('a diff tab', () => {
      const active = vscode.window.tabGroups.activeTabGroup.activeTab;
      return active?.input instanceof vscode.TabInputTextDiff ? active : undefined;
    });
    const input = tab.input as vscode.TabInputTextDiff;
    assert.equal(input.original.scheme, 'buildmaster-git');
    assert.equal(input.original.path, '/web/app.js');
    const left = await vscode.workspace.openTextDocument(input.original);
    const right = await vscode.workspace.openTextDocument(input.modified);
    assert.equal(left.getText(), git('show', `${git('merge-base', 'main', 'agent/web-rename')}:web/app.js`) + '\n');
    assert.match(right.getText(), /greeting = 'hi there'/);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('pauses and resumes a lane from commands, as the CLI would', async () => {
    const cockpit = await api();
    await vscode.commands.executeCommand('buildMaster.pauseLane', 'docs', 'release freeze');
    const paused = cockpit.cockpit.model.lanes.find((l) => l.name === 'docs');
    assert.equal(paused?.operatorPaused, true);
    assert.ok(cockpit.cockpit.model.activity.some((e) => e.type === 'operator' && e.kind === 'pause' && e.lane === 'docs'));
    const docs = laneItems(cockpit).find(({ item }) => item.label === 'docs');
    assert.equal(docs?.item.contextValue, 'lane.paused');
    await vscode.commands.executeCommand('buildMaster.resumeLane', 'docs');
    assert.equal(cockpit.cockpit.model.lanes.find((l) => l.name === 'docs')?.operatorPaused, false);
  });

  it('reads its settings and starts and stops the controller when autoStart changes', async () => {
    const cockpit = await api();
    const config = vscode.workspace.getConfiguration('buildMaster');
    assert.equal(config.get('forge'), 'local');
    assert.equal(config.get('interval'), '60s');
    assert.equal(config.get('autoStart'), false);
    assert.equal(cockpit.cockpit.model.controller.running, false);
    await config.update('autoStart', true, vscode.ConfigurationTarget.Workspace);
    await until('the controller to start', () => cockpit.cockpit.model.controller.running || undefined);
    await config.update('autoStart', undefined, vscode.ConfigurationTarget.Workspace);
    await until('the controller to stop', () => (cockpit.cockpit.model.controller.running ? undefined : true));
  });

  it("shows the validator's diagnostics at their positions, and completes and documents keys", async () => {
    const dir = join(workspaceDir(), 'fixtures', 'broken');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, '.buildmaster.yml');
    writeFileSync(file, 'merge:\n  method: squosh\nincidents:\n  page_owner_after: 30\n');
    const uri = vscode.Uri.file(file);
    const document = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(document);
    const diagnostics = await until('diagnostics from the language server', () => {
      const found = vscode.languages.getDiagnostics(uri);
      return found.length >= 2 ? found : undefined;
    });
    const byLine = diagnostics.map((d) => [d.range.start.line, d.range.start.character, d.source, codeText(d.code)]).sort();
    assert.deepEqual(byLine, [
      [1, 10, 'build-master', 'bad-enum'],
      [3, 20, 'build-master', 'bad-duration'],
    ]);
    assert.match(diagnostics.find((d) => d.code === 'bad-enum')?.message ?? '', /did you mean "squash"/);

    const completions = await vscode.commands.executeCommand<vscode.CompletionList>(
      'vscode.executeCompletionItemProvider',
      uri,
      new vscode.Position(1, 10),
    );
    const labels = completions.items.map((i) => (typeof i.label === 'string' ? i.label : i.label.label));
    for (const value of ['merge', 'squash', 'rebase'])
      assert.ok(labels.includes(value), `completes ${value}: ${labels.slice(0, 20).join(', ')}`);

    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uri, new vscode.Position(3, 5));
    const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : markdownText(c)))).join('\n');
    assert.match(text, /incidents\.page_owner_after/);

    // Fixing the file clears them.
    const edit = new vscode.WorkspaceEdit();
    edit.replace(uri, new vscode.Range(0, 0, document.lineCount, 0), 'merge:\n  method: squash\n');
    await vscode.workspace.applyEdit(edit);
    await until('the diagnostics to clear', () => (vscode.languages.getDiagnostics(uri).length === 0 ? true : undefined));
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('reports an invalid workspace policy instead of acting, and recovers when it is fixed', async () => {
    const cockpit = await api();
    const file = join(workspaceDir(), '.buildmaster.yml');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, `${good}\nmerge:\n  method: squosh\n`);
    try {
      const model = await cockpit.cockpit.refresh();
      assert.ok(model.policyProblems.length > 0, 'the problems are in the model');
      const before = git('rev-parse', 'main');
      await vscode.commands.executeCommand('buildMaster.sync');
      assert.equal(git('rev-parse', 'main'), before, 'nothing merged with an invalid policy');
    } finally {
      writeFileSync(file, good);
    }
    const fixed = await cockpit.cockpit.refresh();
    assert.equal(fixed.policyProblems.length, 0);
    assert.deepEqual(
      fixed.lanes.map((l) => l.name),
      ['web', 'api', 'docs', 'shared'],
    );
  });
});

describe('runs in the cockpit', function () {
  this.timeout(120_000);

  /** Writes the fixture runs and their gates' approvals into the workspace's store, as the operator would. */
  async function storeRuns(cockpit: CockpitApi): Promise<Session> {
    const session = await cockpit.cockpit.openedSession();
    assert.ok(session, 'the cockpit has a session on the demo repository');
    const now = Date.now();
    const live = liveRun(now);
    const long = longRun(now);
    session.store.putRun(live.run);
    session.store.putRun(long.run);
    session.store.putRun(bigRun(now));
    const state = (session.store.data.state ??= initialState(session.policy, now));
    for (const approval of [...live.approvals, ...long.approvals]) state.approvals[approval.id] = approval;
    await session.store.save();
    await cockpit.cockpit.refresh();
    return session;
  }

  function runItems(cockpit: CockpitApi): { node: RunNode; item: vscode.TreeItem }[] {
    return cockpit.runs.getChildren().map((node) => ({ node, item: cockpit.runs.getTreeItem(node) }));
  }

  it('shows each run with its status and budget use, and its tasks with status, worker class and cost', async () => {
    const cockpit = await api();
    await until('the first read of the repository', () => cockpit.cockpit.model.repo);
    assert.deepEqual(runItems(cockpit), [], 'no run yet: the Runs view is empty (and hidden by buildMaster.hasRuns)');
    await storeRuns(cockpit);
    const runs = runItems(cockpit);
    assert.deepEqual(
      runs.map(({ item }) => item.id),
      [LONG_RUN, LIVE_RUN, BIG_RUN].map((id) => `run:${id}`),
      'newest first',
    );
    // A long id is cut in its middle, so the status beside it stays in sight; screen readers get it whole.
    const long = runs.find(({ item }) => item.id === `run:${LONG_RUN}`);
    assert.ok(long && labelText(long.item.label).length <= 24, `the long run's label: ${labelText(long?.item.label)}`);
    assert.match(String(long.item.accessibilityInformation?.label), new RegExp(`^run ${LONG_RUN}, awaiting-approval`));
    const live = runs.find(({ item }) => item.label === LIVE_RUN);
    assert.ok(live);
    assert.match(String(live.item.description), /^running · 3\/7 tasks · 1 failed · \$3\.02 · 7\d% of time cap$/);
    assert.equal(live.item.collapsibleState, vscode.TreeItemCollapsibleState.Expanded, 'a live run opens on its tasks');
    assert.match(String(live.item.contextValue), /^run\.live\.gate$/);
    const big = runs.find(({ item }) => item.label === BIG_RUN);
    assert.match(String(big?.item.description), /^failed · 201\/201 tasks · 6 failed · \$25\.16 · 78% of token cap$/);

    const tasks = cockpit.runs.getChildren(live.node).map((node) => cockpit.runs.getTreeItem(node));
    const row = (id: string) => tasks.find((t) => t.label === id);
    assert.equal(tasks.length, 7);
    assert.equal(row(FAILED_TASK)?.description, 'failed · coder-small · $0.62 · attempt 2');
    assert.equal(row(FAILED_TASK)?.contextValue, 'task.retryable');
    assert.equal(row(GATED_TASK)?.description, 'awaiting merge approval · coder-large · $0.87');
    assert.equal(row(GATED_TASK)?.contextValue, 'task.gate');
    assert.equal(row('spec-checkout')?.description, 'completed · planner-large · $0.41');
    assert.equal(row('docs-checkout')?.description, 'pending · no class yet · $0.00');
    assert.match((row(FAILED_TASK)?.tooltip as vscode.MarkdownString).value, /rejects an empty basket/, 'the tooltip has the error');

    // The gates are approvals too, named by their step and run rather than as an empty change.
    const approvals = cockpit.approvals.getChildren().map((a) => cockpit.approvals.getTreeItem(a));
    const labels = approvals.map((a) => labelText(a.label));
    assert.ok(labels.includes(`merge step of run ${LIVE_RUN} (task ${GATED_TASK})`), labels.join(' | '));
    assert.ok(labels.includes(`apply step of run ${LONG_RUN}`), labels.join(' | '));
    assert.equal(approvals.find((a) => labelText(a.label).includes(LIVE_RUN))?.command?.command, 'buildMaster.openRun');

    // One progress notification per live run, none for a finished one.
    assert.deepEqual([...cockpit.runProgress.shown].sort(), [LIVE_RUN, LONG_RUN].sort());
  });

  it('retries a failed task, approves a gated step and kills a run from commands, in the store', async () => {
    const cockpit = await api();
    const session = await storeRuns(cockpit);
    const stored = (id: string) => {
      const run = session.store.run(id);
      assert.ok(run, `run ${id} is in the store`);
      return run;
    };

    await vscode.commands.executeCommand('buildMaster.retryTask', LIVE_RUN, FAILED_TASK);
    assert.equal(stored(LIVE_RUN).tasks.find((t) => t.id === FAILED_TASK)?.status, 'pending');
    assert.ok(stored(LIVE_RUN).decisions?.some((d) => d.kind === 'retry' && d.task === FAILED_TASK));
    const retried = cockpit.runs.getChildren({ kind: 'run', run: cockpit.cockpit.model.runs.find((r) => r.id === LIVE_RUN) as RunView });
    assert.match(String(retried.map((n) => cockpit.runs.getTreeItem(n)).find((i) => i.label === FAILED_TASK)?.description), /^pending/);

    // From the Runs view's task row (the node itself), as the inline action passes it.
    const liveNode = cockpit.runs.getChildren().find((n) => n.kind === 'run' && n.run.id === LIVE_RUN);
    assert.ok(liveNode);
    const gated = cockpit.runs.getChildren(liveNode).find((n) => n.kind === 'task' && n.task.id === GATED_TASK);
    await vscode.commands.executeCommand('buildMaster.approveRunStep', gated);
    assert.equal(stored(LIVE_RUN).gates?.[0]?.status, 'approved');
    assert.equal(
      cockpit.cockpit.model.approvals.some((a) => a.id === 'apr-run-checkout-merge'),
      false,
      'the queue no longer lists the approved gate',
    );

    // The Approvals view's Approve on a run gate decides the run's step, so run and queue agree.
    await vscode.commands.executeCommand('buildMaster.approve', 'apr-run-long-apply');
    assert.equal(stored(LONG_RUN).gates?.[0]?.status, 'approved');

    await vscode.commands.executeCommand('buildMaster.killRun', LIVE_RUN, true);
    const killed = stored(LIVE_RUN);
    assert.equal(killed.status, 'killed');
    assert.deepEqual(
      killed.tasks.filter((t) => t.status === 'running' || t.status === 'pending').map((t) => t.id),
      [],
      'nothing of a killed run runs or waits',
    );
    assert.match(String(runItems(cockpit).find(({ item }) => item.label === LIVE_RUN)?.item.description), /^killed/);
    await until('the live run’s progress notification to close', () => (cockpit.runProgress.shown.includes(LIVE_RUN) ? undefined : true));
    assert.ok(cockpit.cockpit.model.activity.some((e) => e.type === 'operator' && e.kind === 'kill'));

    // The run panel opens on a run, as a webview of its own.
    await vscode.commands.executeCommand('buildMaster.openRun', BIG_RUN);
    const tab = await until('the run panel', () => {
      const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
      return input instanceof vscode.TabInputWebview ? input : undefined;
    });
    assert.match(tab.viewType, /buildMaster\.run$/);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });
});

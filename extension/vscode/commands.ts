// Every CLI action as a command, in the palette and on tree items. A command
// invoked from the palette asks for what it needs (a lane, an approval, a
// reason); from a tree item it takes it from the item.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { QueueEntry } from '../core/decide';
import type { Approval } from '../core/model';
import { formatDuration } from '../core/policy/duration';
import { policyTemplate } from '../core/policy/template';
import { approvalSubject } from '../protocol/runs';
import type { GitHubAuth } from './auth';
import type { Cockpit } from './cockpit';
import { fileUri } from './diffContent';
import { operatorName } from './operatorName';
import { DashboardPanel } from './panels/dashboard';
import { ReviewPanel, type ReviewSubject } from './panels/review';
import { RunPanel } from './panels/run';
import { RUN_COMMANDS, runCommandHandlers } from './runs';
import type { LaneNode } from './trees';

export interface CommandContext {
  cockpit: Cockpit;
  auth: GitHubAuth;
  extensionUri: vscode.Uri;
  log: vscode.LogOutputChannel;
  validatePolicy: () => Promise<void>;
}

/** Every command id the extension registers (package.json contributes the same list; a test checks both). */
export const COMMANDS = [
  'buildMaster.sync',
  'buildMaster.syncDryRun',
  'buildMaster.startController',
  'buildMaster.stopController',
  'buildMaster.refresh',
  'buildMaster.openDashboard',
  'buildMaster.openReview',
  'buildMaster.openDiff',
  'buildMaster.explain',
  'buildMaster.approve',
  'buildMaster.reject',
  'buildMaster.hold',
  'buildMaster.release',
  'buildMaster.pauseLane',
  'buildMaster.resumeLane',
  'buildMaster.showLog',
  'buildMaster.showOutput',
  'buildMaster.validatePolicy',
  'buildMaster.createPolicy',
  'buildMaster.signIn',
  'buildMaster.setGitHubToken',
  'buildMaster.clearGitHubToken',
  ...RUN_COMMANDS,
] as const;

type CommandId = (typeof COMMANDS)[number];

export function registerCommands(context: CommandContext): vscode.Disposable[] {
  const { cockpit, log } = context;
  const handlers: Record<CommandId, (...args: unknown[]) => unknown> = {
    'buildMaster.sync': () => runSync(cockpit, false),
    'buildMaster.syncDryRun': () => runSync(cockpit, true),
    'buildMaster.startController': () => {
      cockpit.startLoop();
      if (!cockpit.trusted)
        void vscode.window.showWarningMessage('Build Master: this workspace is not trusted, so the controller does not run here.');
    },
    'buildMaster.stopController': () => cockpit.stopLoop(),
    'buildMaster.refresh': () => cockpit.refresh(),
    'buildMaster.openDashboard': () => DashboardPanel.show(cockpit, context.extensionUri, log),
    'buildMaster.openReview': (arg) => {
      const subject = subjectOf(arg);
      if (!subject)
        return pickApproval(cockpit).then(
          (approval) => approval && ReviewPanel.show({ approval: approval.id }, cockpit, context.extensionUri, log),
        );
      // A run's gate is weighed on its run panel (DAG, budget, decisions), not as a change's diff.
      const runGate = subject.approval ? cockpit.model.approvals.find((a) => a.id === subject.approval && a.run) : undefined;
      if (runGate?.run) return vscode.commands.executeCommand('buildMaster.openRun', runGate.run, runGate.task);
      return ReviewPanel.show(subject, cockpit, context.extensionUri, log);
    },
    'buildMaster.openDiff': async (arg) => {
      const change = (arg as { change?: string } | undefined)?.change ?? changeOf(arg) ?? (await pickChange(cockpit))?.change;
      if (change) await openDiff(cockpit, change, (arg as { path?: string } | undefined)?.path);
    },
    'buildMaster.explain': async (arg) => {
      const entry = entryOf(cockpit, changeOf(arg)) ?? (await pickChange(cockpit));
      if (entry) await showExplanation(cockpit, entry);
    },
    'buildMaster.approve': async (arg) => {
      const approval = approvalOf(cockpit, arg) ?? (await pickApproval(cockpit));
      if (!approval) return;
      // A run's gate is decided on the run (controller/runs.ts), so the run's gate and the queue agree.
      if (approval.actionClass === 'run' && approval.run && approval.step)
        return vscode.commands.executeCommand('buildMaster.approveRunStep', approval.run, approval.step, approval.task);
      await cockpit.operate({ kind: 'approve', id: approval.id, by: operatorName() });
      void vscode.window.showInformationMessage(
        `Build Master: approved ${approval.id} (${approvalSubject(approval)}); the next cycle acts on it.`,
      );
    },
    'buildMaster.reject': async (arg) => {
      const approval = approvalOf(cockpit, arg) ?? (await pickApproval(cockpit));
      if (!approval) return;
      const reason = await vscode.window.showInputBox({
        title: `Reject ${approval.id}`,
        prompt: 'Why? The reason is logged and shown to whoever proposed it.',
        validateInput: (v) => (v.trim() ? undefined : 'a rejection needs a reason'),
      });
      if (!reason) return;
      if (approval.actionClass === 'run' && approval.run && approval.step)
        return vscode.commands.executeCommand('buildMaster.rejectRunStep', approval.run, approval.step, approval.task, reason.trim());
      await cockpit.operate({ kind: 'reject', id: approval.id, reason: reason.trim(), by: operatorName() });
    },
    'buildMaster.hold': async () => {
      const reason = await vscode.window.showInputBox({
        title: 'Hold every merge (the kill switch)',
        prompt: 'Why? Nothing merges until an owner releases the hold.',
        validateInput: (v) => (v.trim() ? undefined : 'a hold needs a reason'),
      });
      if (reason) await cockpit.operate({ kind: 'hold', reason: reason.trim(), by: operatorName() });
    },
    'buildMaster.release': async () => {
      const global = cockpit.model.global;
      const choice = await vscode.window.showWarningMessage(
        `Release the global hold? ${global.reason}`,
        { modal: true, detail: 'As an owner, you acknowledge what caused it; merging resumes in healthy lanes.' },
        'Acknowledge and Release',
      );
      if (choice) await cockpit.operate({ kind: 'release', ack: true, by: operatorName() });
    },
    'buildMaster.pauseLane': async (arg, given) => {
      const lane = laneOf(arg) ?? (await pickLane(cockpit, (l) => l.state !== 'paused'));
      if (!lane) return;
      // A reason passed by a caller (the dashboard, a keybinding) skips the prompt.
      const reason =
        typeof given === 'string'
          ? given
          : await vscode.window.showInputBox({ title: `Pause lane ${lane}`, prompt: 'Why? (optional)', value: '' });
      if (reason === undefined) return;
      await cockpit.operate({ kind: 'pause', lane, reason: reason.trim() || 'paused by an operator', by: operatorName() });
    },
    'buildMaster.resumeLane': async (arg) => {
      const lane = laneOf(arg) ?? (await pickLane(cockpit, (l) => l.state === 'paused' || l.operatorPaused));
      if (lane) await cockpit.operate({ kind: 'resume', lane, by: operatorName() });
    },
    'buildMaster.showLog': async () => {
      const lines = [...cockpit.model.activity]
        .reverse()
        .map(
          (e) =>
            `${new Date(e.at).toISOString()}  #${e.seq}  ${[e.type === 'action' ? `${e.kind} ${e.status}` : (e.kind ?? e.type), e.lane, e.change ?? e.incident].filter(Boolean).join(' ')}: ${e.message}`,
        );
      const doc = await vscode.workspace.openTextDocument({ language: 'log', content: lines.join('\n') || 'no events yet' });
      await vscode.window.showTextDocument(doc, { preview: true });
    },
    'buildMaster.showOutput': () => log.show(true),
    'buildMaster.validatePolicy': () => context.validatePolicy(),
    'buildMaster.createPolicy': () => createPolicy(cockpit),
    'buildMaster.signIn': () => withNewCredential(context, () => context.auth.signIn()),
    'buildMaster.setGitHubToken': () => withNewCredential(context, () => context.auth.setToken()),
    'buildMaster.clearGitHubToken': () => withNewCredential(context, async () => (await context.auth.clearToken(), undefined)),
    ...runCommandHandlers({ cockpit, openRun: (id, task) => RunPanel.show(id, cockpit, context.extensionUri, log).select(task) }),
  };
  return COMMANDS.map((id) =>
    vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        return await handlers[id](...args);
      } catch (error) {
        log.warn(`[command] ${id}: ${(error as Error).message}`);
        void vscode.window
          .showErrorMessage(`Build Master: ${(error as Error).message}`, 'Show Log')
          .then((choice) => choice && log.show(true));
        return undefined;
      }
    }),
  );
}

async function runSync(cockpit: Cockpit, dryRun: boolean): Promise<void> {
  const report = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: dryRun ? 'Build Master: dry run' : 'Build Master: cycle' },
    () => cockpit.sync({ dryRun }),
  );
  if (!report) return;
  const done = report.actions.filter((a) => a.status === 'done');
  const failed = report.actions.filter((a) => a.status === 'failed');
  const text = `${dryRun ? 'Dry run: ' : ''}${report.result.outcome.kind} — ${done.length} action(s)${failed.length ? `, ${failed.length} failed: ${failed[0]?.message}` : ''}`;
  if (failed.length) void vscode.window.showWarningMessage(`Build Master: ${text}`);
  else vscode.window.setStatusBarMessage(`Build Master: ${text}`, 5000);
}

function subjectOf(arg: unknown): ReviewSubject | undefined {
  if (!arg || typeof arg !== 'object') return typeof arg === 'string' ? { change: arg } : undefined;
  const node = arg as Partial<LaneNode> & { approval?: unknown; change?: unknown; id?: unknown; key?: unknown };
  if (node.kind === 'change' && 'entry' in node && node.entry)
    return node.entry.approval ? { approval: node.entry.approval } : { change: node.entry.change };
  if (typeof node.key === 'string' && typeof node.id === 'string') return { approval: node.id }; // an Approval
  if (typeof node.approval === 'string') return { approval: node.approval };
  if (typeof node.change === 'string') return { change: node.change };
  return undefined;
}

function changeOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  const node = arg as Partial<LaneNode> | undefined;
  if (node?.kind === 'change' && 'entry' in node) return node.entry?.change;
  return undefined;
}

function laneOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  const node = arg as Partial<LaneNode> | undefined;
  return node?.kind === 'lane' && 'lane' in node ? node.lane?.name : undefined;
}

function approvalOf(cockpit: Cockpit, arg: unknown): Approval | undefined {
  const subject = subjectOf(arg);
  const id = typeof arg === 'string' ? arg : subject?.approval;
  if (id) {
    const approval = cockpit.model.approvals.find((a) => a.id === id);
    if (!approval) throw new Error(`no pending approval "${id}"`);
    return approval;
  }
  return subject?.change ? cockpit.model.approvals.find((a) => a.change === subject.change) : undefined;
}

function entryOf(cockpit: Cockpit, change: string | undefined): QueueEntry | undefined {
  if (!change) return undefined;
  for (const lane of cockpit.model.lanes) {
    const entry = lane.queue.find((e) => e.change === change);
    if (entry) return entry;
  }
  throw new Error(`no open change "${change}" in the last cycle; run a cycle to refresh`);
}

async function pickLane(cockpit: Cockpit, filter: (lane: Cockpit['model']['lanes'][number]) => boolean): Promise<string | undefined> {
  const lanes = cockpit.model.lanes.filter(filter);
  if (!lanes.length) {
    void vscode.window.showInformationMessage('Build Master: no lane to choose from.');
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(
    lanes.map((l) => ({ label: l.name, description: l.state, detail: l.reason })),
    { title: 'Lane' },
  );
  return pick?.label;
}

async function pickApproval(cockpit: Cockpit): Promise<Approval | undefined> {
  const approvals = cockpit.model.approvals;
  if (!approvals.length) {
    void vscode.window.showInformationMessage('Build Master: no approval is waiting.');
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(
    approvals.map((a) => ({
      label: approvalSubject(a),
      description: `${a.id} · ${a.tier}`,
      detail: a.rationale,
      approval: a,
    })),
    { title: 'Approval' },
  );
  return pick?.approval;
}

async function pickChange(cockpit: Cockpit): Promise<QueueEntry | undefined> {
  const entries = cockpit.model.lanes.flatMap((l) => l.queue);
  if (!entries.length) {
    void vscode.window.showInformationMessage('Build Master: no open change in the last cycle.');
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(
    entries.map((e) => ({
      label: e.change,
      description: `${e.lane} · ${e.tier}`,
      detail: e.reasons[0]?.message ?? 'ready to merge',
      entry: e,
    })),
    { title: 'Change', matchOnDescription: true },
  );
  return pick?.entry;
}

async function showExplanation(cockpit: Cockpit, entry: QueueEntry): Promise<void> {
  const lane = cockpit.model.lanes.find((l) => l.name === entry.lane);
  const position = (lane?.queue.findIndex((e) => e.change === entry.change) ?? 0) + 1;
  const lines = [
    `# ${entry.change} — ${entry.title}`,
    '',
    `Lane **${entry.lane}** (${lane?.state ?? 'unknown'}; ${entry.laneRationale}), ${entry.tier}${entry.crossLane ? ', cross-lane' : ''}, position ${position} in the lane's merge order.`,
    ...(entry.link ? ['', `Linked ${entry.link.kind} for ${entry.link.incident}.`] : []),
    '',
    `Required checks: ${entry.requiredChecks.join(', ') || 'none'}`,
    '',
    entry.reasons.length ? '## Why it is not merging' : 'Every gate passes: it merges when it reaches the front of its lane.',
    ...entry.reasons.map((r) => `- \`${r.code}\` ${r.message}`),
    ...entry.notes.map((n) => `- note: ${n}`),
    '',
    `_As of cycle ${cockpit.model.lastCycle?.cycle ?? '—'}${cockpit.model.lastCycle ? `, ${formatDuration(Math.max(0, Date.now() - cockpit.model.lastCycle.at))} ago` : ''}._`,
  ];
  const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: lines.join('\n') });
  await vscode.commands.executeCommand('markdown.showPreview', doc.uri).then(undefined, () => vscode.window.showTextDocument(doc));
}

async function openDiff(cockpit: Cockpit, change: string, path?: string): Promise<void> {
  const session = await cockpit.openedSession();
  if (!session) throw new Error('no repository session');
  const diff = await session.forge.changeDiff(change, session.policy);
  const files = path ? diff.files.filter((f) => f.path === path) : diff.files;
  if (!files.length) throw new Error(path ? `${change} does not change ${path}` : `${change} changes no files`);
  const pair = (f: (typeof files)[number]) => [fileUri(f.oldPath ?? f.path, diff.base), fileUri(f.path, diff.head)] as const;
  if (files.length === 1) {
    const [left, right] = pair(files[0] as (typeof files)[number]);
    await vscode.commands.executeCommand('vscode.diff', left, right, `${files[0]?.path} (${change})`);
    return;
  }
  await vscode.commands.executeCommand(
    'vscode.changes',
    `${change}: ${files.length} files`,
    files.map((f) => {
      const [left, right] = pair(f);
      return [right, left, right];
    }),
  );
}

async function createPolicy(cockpit: Cockpit): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) throw new Error('open a folder first');
  const root = cockpit.repoRoot ?? folder.uri.fsPath;
  const target = vscode.Uri.file(join(root, '.buildmaster.yml'));
  try {
    await vscode.workspace.fs.stat(target);
    await vscode.window.showTextDocument(target);
    return;
  } catch {
    // not there yet: create it
  }
  const folders = readdirSync(root).filter((name) => {
    try {
      return statSync(join(root, name)).isDirectory();
    } catch {
      return false;
    }
  });
  await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(policyTemplate(folders.sort())));
  await vscode.window.showTextDocument(target);
  await cockpit.refresh();
}

/** A new (or no) GitHub credential means a new GitHub client: the cockpit reopens its session. */
async function withNewCredential(
  context: CommandContext,
  change: () => Promise<{ source: string } | undefined>,
): Promise<{ source: string } | undefined> {
  const credential = await change();
  context.cockpit.forgetSession();
  await context.cockpit.refresh();
  return credential ? { source: credential.source } : undefined;
}

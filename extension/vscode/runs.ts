// The Runs view (run → tasks with status, worker class and cost), the run commands (open, kill,
// retry, approve or reject a gated step) and one progress notification per live run. Everything
// renders the cockpit model; the commands go through controller/runs.ts like the CLI's.
import * as vscode from 'vscode';
import type { RunStep } from '../core/model';
import { formatDuration } from '../core/policy/duration';
import { decideRunStep, killRun, retryTask } from '../controller/runs';
import type { CockpitModel } from '../protocol/model';
import { middleEllipsis } from '../protocol/presentation';
import {
  budgetWord,
  isLive,
  runDescription,
  settled,
  taskDescription,
  tokens,
  usd,
  type RunTaskView,
  type RunView,
} from '../protocol/runs';
import type { Cockpit } from './cockpit';
import { operatorName } from './operatorName';

/** Label lengths past which an id is cut in its middle: at a 300 px sidebar the status still shows beside it. */
const RUN_LABEL_CHARS = 24;
const TASK_LABEL_CHARS = 26;
/** A live run with more tasks than this opens collapsed: the run panel's DAG is the place to read them. */
const EXPANDED_TASKS = 30;

export type RunNode = { kind: 'run'; run: RunView } | { kind: 'task'; run: RunView; task: RunTaskView };

const STATUS_ICON: Record<RunTaskView['status'], [string, string | undefined]> = {
  pending: ['circle-large-outline', 'descriptionForeground'],
  running: ['loading~spin', undefined],
  completed: ['pass', 'testing.iconPassed'],
  failed: ['error', 'testing.iconFailed'],
  cancelled: ['circle-slash', 'descriptionForeground'],
};

const RUN_ICON: Record<RunView['status'], [string, string | undefined]> = {
  planning: ['loading~spin', undefined],
  running: ['run-all', 'charts.blue'],
  'awaiting-approval': ['shield', 'problemsWarningIcon.foreground'],
  completed: ['pass-filled', 'testing.iconPassed'],
  failed: ['error', 'testing.iconFailed'],
  killed: ['stop-circle', 'testing.iconFailed'],
};

function icon([name, color]: [string, string | undefined]): vscode.ThemeIcon {
  return color ? new vscode.ThemeIcon(name, new vscode.ThemeColor(color)) : new vscode.ThemeIcon(name);
}

export class RunsTree implements vscode.TreeDataProvider<RunNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscription: vscode.Disposable;

  constructor(private readonly cockpit: Cockpit) {
    this.subscription = cockpit.onDidChange(() => this.changed.fire(undefined));
  }

  private get model(): CockpitModel {
    return this.cockpit.model;
  }

  getChildren(element?: RunNode): RunNode[] {
    if (!element) return this.model.runs.map((run) => ({ kind: 'run', run }));
    if (element.kind === 'task') return [];
    return element.run.tasks.map((task) => ({ kind: 'task', run: element.run, task }));
  }

  getParent(element: RunNode): RunNode | undefined {
    return element.kind === 'task' ? { kind: 'run', run: element.run } : undefined;
  }

  getTreeItem(node: RunNode): vscode.TreeItem {
    const now = this.model.now;
    if (node.kind === 'run') {
      const { run } = node;
      // Live runs open expanded (their tasks are what a person watches), unless so many would bury the other runs.
      // A long id is cut in its middle so the status beside it stays in sight; the tooltip has it whole.
      const item = new vscode.TreeItem(
        middleEllipsis(run.id, RUN_LABEL_CHARS),
        run.tasks.length === 0
          ? vscode.TreeItemCollapsibleState.None
          : isLive(run.status) && run.tasks.length <= EXPANDED_TASKS
            ? vscode.TreeItemCollapsibleState.Expanded
            : vscode.TreeItemCollapsibleState.Collapsed,
      );
      item.id = `run:${run.id}`;
      item.iconPath = icon(RUN_ICON[run.status]);
      item.description = runDescription(run);
      item.accessibilityInformation = { label: `run ${run.id}, ${item.description}` };
      const bars = run.budget.bars.map(
        (b) =>
          `- ${budgetWord(b.dimension)}: ${amount(b.dimension, b.spent)}${b.cap !== undefined ? ` of ${amount(b.dimension, b.cap)} (${Math.round((b.fraction ?? 0) * 100)}%)` : ' (no cap)'}`,
      );
      const pending = run.gates.filter((g) => g.status === 'pending');
      item.tooltip = new vscode.MarkdownString(
        [
          `**${escape(run.id)}** — ${run.status}${run.killedBy ? ` by ${escape(run.killedBy)}` : ''}, ${run.mode} mode, profile ${escape(run.profile)}`,
          `${run.goal.kind}: ${escape(run.goal.text.slice(0, 300))}`,
          `Started ${formatDuration(Math.max(0, now - (run.startedAt ?? run.createdAt)))} ago${run.by ? ` by ${escape(run.by)}` : ''}`,
          `Budget (${run.budget.state}): ${escape(run.budget.rationale)}\n\n${bars.join('\n')}`,
          ...(pending.length
            ? [`Waiting for approval: ${pending.map((g) => `${g.step}${g.task ? ` (task ${escape(g.task)})` : ''}`).join(', ')}`]
            : []),
          ...(run.handoff ? [`Hand-off: ${escape(run.handoff.slice(0, 500))}`] : []),
        ].join('\n\n'),
      );
      item.contextValue = `run${isLive(run.status) ? '.live' : ''}${pending.length ? '.gate' : ''}`;
      item.command = { command: 'buildMaster.openRun', title: 'Open Run', arguments: [run.id] };
      return item;
    }
    const { run, task } = node;
    const item = new vscode.TreeItem(middleEllipsis(task.id, TASK_LABEL_CHARS), vscode.TreeItemCollapsibleState.None);
    item.id = `run:${run.id}:task:${task.id}`;
    item.iconPath = task.gate ? icon(['shield', 'problemsWarningIcon.foreground']) : icon(STATUS_ICON[task.status]);
    item.description = taskDescription(task);
    item.accessibilityInformation = { label: `task ${task.id}, ${item.description}` };
    item.tooltip = new vscode.MarkdownString(
      [
        `**${escape(task.id)}** (${escape(task.type)}) — ${task.status}${task.stage ? `, ${task.stage}` : ''}`,
        `Class ${escape(task.workerClass ?? 'not routed yet')} · ${usd(task.usd)} · ${tokens(task.tokens)} tokens · attempts ${task.attempts}`,
        ...(task.dependsOn.length ? [`Depends on ${task.dependsOn.map(escape).join(', ')}`] : []),
        ...(task.hedgeOf ? [`Hedges ${escape(task.hedgeOf)}`] : []),
        ...(task.repairOf ? [`Repairs ${escape(task.repairOf)}`] : []),
        ...(task.branch ? [`Branch \`${task.branch.replace(/`/g, '')}\``] : []),
        ...(task.error ? [`Error: ${escape(task.error.slice(0, 500))}`] : []),
      ].join('\n\n'),
    );
    const retryable = run.status !== 'killed' && (task.status === 'failed' || task.status === 'cancelled');
    item.contextValue = task.gate ? 'task.gate' : retryable ? 'task.retryable' : 'task';
    item.command = { command: 'buildMaster.openRun', title: 'Open Run', arguments: [run.id, task.id] };
    return item;
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}

function amount(dimension: RunView['budget']['bars'][number]['dimension'], value: number): string {
  return dimension === 'usd' ? usd(value) : dimension === 'tokens' ? tokens(value) : formatDuration(value);
}

/** Markdown is user text here (goals, errors, names): keep it from being interpreted. */
function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}

// ---- commands ----

/** The run a command is about: a tree node, a run id, or `{ run }` (the panel, a test). */
export function runIdOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (typeof arg !== 'object' || arg === null) return undefined;
  const node = arg as { kind?: unknown; run?: unknown };
  if ((node.kind === 'run' || node.kind === 'task') && typeof node.run === 'object' && node.run !== null) return (node.run as RunView).id;
  return typeof node.run === 'string' ? node.run : undefined;
}

function taskIdOf(arg: unknown, given: unknown): string | undefined {
  if (typeof given === 'string') return given;
  if (typeof arg !== 'object' || arg === null) return undefined;
  const node = arg as { kind?: unknown; task?: unknown };
  if (node.kind === 'task' && typeof node.task === 'object' && node.task !== null) return (node.task as RunTaskView).id;
  return typeof node.task === 'string' ? node.task : undefined;
}

function findRun(cockpit: Cockpit, id: string): RunView {
  const run = cockpit.model.runs.find((r) => r.id === id);
  if (!run) throw new Error(`no run "${id}" in this repository's store; build-master runs lists them`);
  return run;
}

async function pickRun(cockpit: Cockpit, filter: (run: RunView) => boolean, title: string): Promise<RunView | undefined> {
  const runs = cockpit.model.runs.filter(filter);
  if (!runs.length) {
    void vscode.window.showInformationMessage(`Build Master: no run to ${title.toLowerCase()}.`);
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(
    runs.map((run) => ({ label: run.id, description: runDescription(run), detail: run.goal.text.slice(0, 200), run })),
    { title },
  );
  return pick?.run;
}

export interface RunCommandContext {
  cockpit: Cockpit;
  openRun: (id: string, task?: string) => unknown;
}

/** The pending gate a command acts on: the node's, the one named, or the only one of the run. */
async function gateOf(run: RunView, step: unknown, task: string | undefined): Promise<{ step: RunStep; task?: string } | undefined> {
  const pending = run.gates.filter((g) => g.status === 'pending');
  const named = pending.filter((g) => (typeof step !== 'string' || g.step === step) && (task === undefined || g.task === task));
  if (named.length === 0)
    throw new Error(
      `run ${run.id} has no pending ${typeof step === 'string' ? `${step} ` : ''}step${task ? ` for task ${task}` : ''}${pending.length ? `; pending: ${pending.map((g) => `${g.step}${g.task ? ` (task ${g.task})` : ''}`).join(', ')}` : ''}`,
    );
  if (named.length === 1) {
    const gate = named[0] as (typeof named)[number];
    return { step: gate.step, ...(gate.task ? { task: gate.task } : {}) };
  }
  const pick = await vscode.window.showQuickPick(
    named.map((g) => ({ label: `${g.step}${g.task ? ` — task ${g.task}` : ''}`, gate: g })),
    { title: `Which step of run ${run.id}?` },
  );
  return pick ? { step: pick.gate.step, ...(pick.gate.task ? { task: pick.gate.task } : {}) } : undefined;
}

export const RUN_COMMANDS = [
  'buildMaster.openRun',
  'buildMaster.killRun',
  'buildMaster.retryTask',
  'buildMaster.approveRunStep',
  'buildMaster.rejectRunStep',
] as const;

/**
 * Handlers of the run commands. Arguments: a tree node or a run id first; then what the palette
 * would ask for (kill: `true` to skip the confirmation; retry: the task; approve/reject: the step,
 * the task, and for reject the reason).
 */
export function runCommandHandlers(context: RunCommandContext): Record<(typeof RUN_COMMANDS)[number], (...args: unknown[]) => unknown> {
  const { cockpit } = context;
  const by = () => operatorName();
  return {
    'buildMaster.openRun': async (arg, task) => {
      const id = runIdOf(arg) ?? (await pickRun(cockpit, () => true, 'Open Run'))?.id;
      if (id) return context.openRun(id, typeof task === 'string' ? task : taskIdOf(arg, undefined));
      return undefined;
    },
    'buildMaster.killRun': async (arg, confirmed) => {
      const given = runIdOf(arg);
      const run = given ? findRun(cockpit, given) : await pickRun(cockpit, (r) => isLive(r.status), 'Kill Run');
      if (!run) return undefined;
      if (confirmed !== true) {
        const { settled: done, total } = settled(run);
        const choice = await vscode.window.showWarningMessage(
          `Kill run ${run.id}?`,
          {
            modal: true,
            detail: `${done} of ${total} tasks are settled. Running workers are stopped and their worktrees removed; pending tasks are cancelled. Merged results stay.`,
          },
          'Kill Run',
        );
        if (!choice) return undefined;
      }
      const outcome = await cockpit.operateRun('kill a run', (session, log) => killRun(session, run.id, by(), log));
      vscode.window.setStatusBarMessage(`Build Master: ${outcome.message}`, 5000);
      return outcome.message;
    },
    'buildMaster.retryTask': async (arg, taskArg) => {
      const id =
        runIdOf(arg) ??
        (await pickRun(cockpit, (r) => r.status !== 'killed' && (r.counts.failed > 0 || r.counts.cancelled > 0), 'Retry a Task'))?.id;
      if (!id) return undefined;
      let task = taskIdOf(arg, taskArg);
      if (!task) {
        const run = findRun(cockpit, id);
        const pick = await vscode.window.showQuickPick(
          run.tasks
            .filter((t) => t.status === 'failed' || t.status === 'cancelled')
            .map((t) => ({ label: t.id, description: taskDescription(t), detail: t.error?.slice(0, 200) })),
          { title: `Retry a task of run ${id}` },
        );
        task = pick?.label;
      }
      if (!task) return undefined;
      const taskId = task;
      const outcome = await cockpit.operateRun('retry a task', (session, log) => retryTask(session, id, taskId, by(), log));
      vscode.window.setStatusBarMessage(`Build Master: ${outcome.message}`, 5000);
      return outcome.message;
    },
    'buildMaster.approveRunStep': async (arg, step, taskArg) => {
      const id = runIdOf(arg) ?? (await pickRun(cockpit, (r) => r.gates.some((g) => g.status === 'pending'), 'Approve a Step'))?.id;
      if (!id) return undefined;
      const gate = await gateOf(findRun(cockpit, id), step, taskIdOf(arg, taskArg));
      if (!gate) return undefined;
      const outcome = await cockpit.operateRun('approve a run step', (session, log) =>
        decideRunStep(session, id, gate.step, { approve: true }, by(), log, gate.task),
      );
      vscode.window.setStatusBarMessage(`Build Master: ${outcome.message}`, 5000);
      return outcome.message;
    },
    'buildMaster.rejectRunStep': async (arg, step, taskArg, reasonArg) => {
      const id = runIdOf(arg) ?? (await pickRun(cockpit, (r) => r.gates.some((g) => g.status === 'pending'), 'Reject a Step'))?.id;
      if (!id) return undefined;
      const gate = await gateOf(findRun(cockpit, id), step, taskIdOf(arg, taskArg));
      if (!gate) return undefined;
      const reason =
        typeof reasonArg === 'string' && reasonArg.trim()
          ? reasonArg.trim()
          : (
              await vscode.window.showInputBox({
                title: `Reject the ${gate.step} step of run ${id}`,
                prompt: 'Why? The reason is logged with the run.',
                validateInput: (v) => (v.trim() ? undefined : 'a rejection needs a reason'),
              })
            )?.trim();
      if (!reason) return undefined;
      const outcome = await cockpit.operateRun('reject a run step', (session, log) =>
        decideRunStep(session, id, gate.step, { approve: false, reason }, by(), log, gate.task),
      );
      vscode.window.setStatusBarMessage(`Build Master: ${outcome.message}`, 5000);
      return outcome.message;
    },
  };
}

// ---- progress ----

/**
 * One progress notification per live run, for as long as it is live: its message follows the
 * tasks as they settle and it closes when the run ends. Nothing is posted for a model change that
 * settled no task, so a busy store does not make the notification flicker.
 */
export class RunProgress implements vscode.Disposable {
  private readonly open = new Map<string, { settled: number; report: (settled: number, message: string) => void; close: () => void }>();
  private readonly subscription: vscode.Disposable;

  constructor(private readonly cockpit: Cockpit) {
    this.subscription = cockpit.onDidChange((model) => this.update(model));
    this.update(cockpit.model);
  }

  /** The runs with an open notification (tests read it). */
  get shown(): string[] {
    return [...this.open.keys()];
  }

  private update(model: CockpitModel): void {
    // A run with no tasks yet has nothing to show progress of: it gets its notification once planned.
    const live = new Map(model.runs.filter((r) => isLive(r.status) && r.tasks.length > 0).map((r) => [r.id, r]));
    for (const [id, entry] of this.open) {
      const run = model.runs.find((r) => r.id === id);
      if (live.has(id)) continue;
      entry.close();
      this.open.delete(id);
      if (run)
        vscode.window.setStatusBarMessage(
          `Build Master: run ${id} ${run.status} (${settled(run).settled}/${run.tasks.length} tasks, ${usd(run.usd)})`,
          10_000,
        );
    }
    for (const run of live.values()) {
      const counts = settled(run);
      const message = progressMessage(run);
      const entry = this.open.get(run.id);
      if (entry) {
        if (counts.settled !== entry.settled || run.status === 'awaiting-approval') entry.report(counts.settled, message);
        entry.settled = counts.settled;
        continue;
      }
      this.start(run, counts.settled, message);
    }
  }

  private start(run: RunView, first: number, message: string): void {
    let close: () => void = () => undefined;
    let reportTo: ((value: { increment?: number; message?: string }) => void) | undefined;
    let total = run.tasks.length;
    let shownSettled = first;
    let lastMessage = '';
    const report = (done: number, text: string) => {
      if (!reportTo || text === lastMessage) return;
      lastMessage = text;
      const increment = total ? ((done - shownSettled) / total) * 100 : 0;
      shownSettled = done;
      reportTo({ message: text, ...(increment > 0 ? { increment } : {}) });
    };
    const entry = { settled: first, report, close: () => close() };
    this.open.set(run.id, entry);
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Build Master: run ${run.id}`, cancellable: false },
      (progress) =>
        new Promise<void>((resolve) => {
          reportTo = (value) => progress.report(value);
          close = resolve;
          total = Math.max(1, run.tasks.length);
          lastMessage = message;
          progress.report({ message, ...(first > 0 ? { increment: (first / total) * 100 } : {}) });
        }),
    );
  }

  dispose(): void {
    this.subscription.dispose();
    for (const entry of this.open.values()) entry.close();
    this.open.clear();
  }
}

function progressMessage(run: RunView): string {
  const { settled: done, total } = settled(run);
  const waiting = run.gates.filter((g) => g.status === 'pending');
  if (run.status === 'awaiting-approval' || waiting.length)
    return `${done}/${total} tasks settled · waiting for approval of ${waiting.map((g) => g.step).join(', ') || 'a step'}`;
  const running = run.counts.running;
  return `${done}/${total} tasks settled${running ? ` · ${running} running` : ''}${run.counts.failed ? ` · ${run.counts.failed} failed` : ''} · ${usd(run.usd)}`;
}

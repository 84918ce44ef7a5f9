// The review panel: one approval or change with its diff, checks, gate reasons
// and rationale, and Approve / Reject. One panel per subject; opening the same
// subject again reveals it. Restored after a reload from the page's saved subject.
import * as vscode from 'vscode';
import type { Approval } from '../../core/model';
import { redChecks } from '../../protocol/failures';
import type { ReviewRequest, ReviewState } from '../../protocol/model';
import type { Cockpit } from '../cockpit';
import { WebviewHost } from '../webviewHost';
import { operatorName } from '../operatorName';
import { fileOf, openFailureFile } from '../openFailure';

export const REVIEW_VIEW_TYPE = 'buildMaster.review';

export interface ReviewSubject {
  approval?: string;
  change?: string;
}

export class ReviewPanel {
  private static readonly open = new Map<string, ReviewPanel>();
  private readonly host: WebviewHost<ReviewState, ReviewRequest>;
  private readonly subscription: vscode.Disposable;
  private diffCache: Pick<ReviewState, 'diff' | 'diffError' | 'checks'> | undefined;
  private resolved: ReviewState['resolved'];
  private last: { approval?: Approval; entry?: NonNullable<ReviewState['change']> } = {};

  static show(subject: ReviewSubject, cockpit: Cockpit, extensionUri: vscode.Uri, log: vscode.LogOutputChannel): ReviewPanel {
    const subjectKey = keyOf(subject);
    const existing = ReviewPanel.open.get(subjectKey);
    if (existing) {
      existing.host.panel.reveal();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(REVIEW_VIEW_TYPE, titleOf(subject), vscode.ViewColumn.Active, { enableScripts: true });
    return new ReviewPanel(panel, subject, cockpit, extensionUri, log);
  }

  static restore(
    panel: vscode.WebviewPanel,
    subject: ReviewSubject,
    cockpit: Cockpit,
    extensionUri: vscode.Uri,
    log: vscode.LogOutputChannel,
  ): void {
    new ReviewPanel(panel, subject, cockpit, extensionUri, log);
  }

  private constructor(
    panel: vscode.WebviewPanel,
    private readonly subject: ReviewSubject,
    private readonly cockpit: Cockpit,
    extensionUri: vscode.Uri,
    private readonly log: vscode.LogOutputChannel,
  ) {
    panel.title = titleOf(subject);
    this.host = new WebviewHost<ReviewState, ReviewRequest>({
      panel,
      extensionUri,
      script: 'review',
      title: panel.title,
      log,
      onRequest: (request) => this.handle(request),
    });
    ReviewPanel.open.set(keyOf(subject), this);
    this.subscription = cockpit.onDidChange(() => void this.update());
    this.host.onDidDispose(() => {
      this.subscription.dispose();
      ReviewPanel.open.delete(keyOf(subject));
    });
    void this.update();
  }

  private approval(): Approval | undefined {
    if (this.subject.approval) return this.cockpit.model.approvals.find((a) => a.id === this.subject.approval);
    return this.cockpit.model.approvals.find((a) => a.change === this.subject.change);
  }

  private changeId(): string | undefined {
    return this.subject.change ?? this.approval()?.change ?? this.last.approval?.change;
  }

  private async update(): Promise<void> {
    const model = this.cockpit.model;
    // Once decided, the approval and the queue entry leave the model: keep showing what was decided on.
    const approval = this.approval() ?? this.last.approval;
    const changeId = this.changeId() ?? approval?.change;
    const lane = model.lanes.find((l) => l.queue.some((e) => e.change === changeId));
    const entry = lane?.queue.find((e) => e.change === changeId) ?? this.last.entry;
    this.last = {
      ...(approval ? { approval } : {}),
      ...(entry ? { entry: { ...entry, ...(lane ? { laneState: lane.state } : {}) } } : {}),
    };
    if (changeId && !this.diffCache) this.diffCache = await this.loadDiff(changeId);
    if (approval && !this.approval() && !this.resolved) {
      // Decided elsewhere (the CLI, another window): show how, from the stored state.
      const stored = (await this.cockpit.openedSession())?.store.data.state?.approvals[approval.id];
      if (stored && stored.status !== 'pending')
        this.resolved = {
          status: stored.status,
          ...(stored.resolvedBy ? { by: stored.resolvedBy } : {}),
          ...(stored.reason ? { reason: stored.reason } : {}),
        };
    }
    const state: ReviewState = {
      ...(approval ? { approval } : {}),
      ...(this.last.entry ? { change: this.last.entry } : {}),
      ...(this.diffCache ?? { checks: [] }),
      failures: redChecks(this.diffCache?.checks ?? [], this.last.entry, model.incidents),
      ...(this.resolved ? { resolved: this.resolved } : {}),
      trusted: model.controller.trusted,
    };
    this.host.setState(state);
  }

  private async loadDiff(change: string): Promise<Pick<ReviewState, 'diff' | 'diffError' | 'checks'>> {
    const session = await this.cockpit.openedSession();
    if (!session) return { diffError: 'no repository session: see the Build Master log', checks: [] };
    try {
      const [diff, checks] = await Promise.all([
        session.forge.changeDiff(change, session.policy),
        session.forge.changeChecks(change, session.policy),
      ]);
      return { diff, checks };
    } catch (error) {
      return { diffError: (error as Error).message, checks: [] };
    }
  }

  private async handle(request: ReviewRequest): Promise<string | undefined> {
    switch (request.kind) {
      case 'approve':
      case 'reject': {
        const approval = this.approval();
        if (!approval)
          throw new Error('there is no pending approval for this change any more (it was decided elsewhere, or the change left the queue)');
        const by = operatorName();
        if (request.kind === 'reject') {
          if (!request.reason.trim()) throw new Error('a rejection needs a reason: say what should change');
          await this.cockpit.operate({ kind: 'reject', id: approval.id, reason: request.reason.trim(), by });
          this.resolved = { status: 'rejected', by, reason: request.reason.trim() };
          await this.update();
          return `rejected ${approval.id}`;
        }
        await this.cockpit.operate({ kind: 'approve', id: approval.id, by });
        this.resolved = { status: 'approved', by };
        await this.update();
        // Apply it now rather than at the next interval: the person is watching.
        const report = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `Build Master: applying approval ${approval.id}` },
          () => this.cockpit.sync(),
        );
        const merged = report?.actions.find(
          (a) => a.kind === 'merge' && a.status === 'done' && (a.decision.change === approval.change || a.key === approval.key),
        );
        if (merged) {
          this.resolved = { status: 'merged', by };
          await this.update();
          return `approved and merged ${approval.change ?? approval.id}`;
        }
        return `approved ${approval.id}; it acts when its gates pass`;
      }
      case 'openDiff': {
        const change = this.changeId();
        if (!change) throw new Error('this approval has no change to diff');
        await vscode.commands.executeCommand('buildMaster.openDiff', { change, path: request.path || undefined });
        return;
      }
      case 'openFile':
        await openFailureFile(this.cockpit.repoRoot ?? this.cockpit.model.repo, fileOf(request));
        return;
      case 'refresh':
        this.diffCache = undefined;
        await this.cockpit.refresh();
        await this.update();
        this.log.info(`[review] refreshed ${keyOf(this.subject)}`);
        return;
    }
  }
}

function keyOf(subject: ReviewSubject): string {
  return subject.approval ? `approval:${subject.approval}` : `change:${subject.change ?? ''}`;
}

function titleOf(subject: ReviewSubject): string {
  return subject.approval ? `Review ${subject.approval}` : `Review ${subject.change ?? ''}`;
}

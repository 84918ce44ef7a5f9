// The review panel: one approval or change with its diff (files and hunks),
// checks, gate reasons and rationale, and Approve / Reject (with a reason).
import { LitElement, css, html, nothing, type TemplateResult } from 'lit';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-textarea/index.js';
import type { CheckRun, FileDiff, ReviewRequest, ReviewState } from '../../extension/protocol/model';
import { heldBy, knownText, printable, where, type CheckFailures, type FailureView } from '../../extension/protocol/failures';
import { Channel, type Notice } from '../shared/channel';

const CHECK_ICON: Record<string, string> = {
  success: 'pass-filled',
  failure: 'error',
  timed_out: 'watch',
  cancelled: 'circle-slash',
  pending: 'clock',
  queued: 'clock',
  in_progress: 'loading',
  neutral: 'circle',
  skipped: 'debug-step-over',
};

class BuildMasterReview extends LitElement {
  static override properties = { review: { state: true }, busy: { state: true }, rejecting: { state: true }, notice: { state: true } };
  declare review: ReviewState | undefined;
  declare busy: boolean;
  declare rejecting: boolean;
  declare notice: Notice | undefined;
  private readonly channel: Channel<ReviewState, ReviewRequest>;

  constructor() {
    super();
    this.review = undefined;
    this.busy = false;
    this.rejecting = false;
    this.notice = undefined;
    this.channel = new Channel<ReviewState, ReviewRequest>((review) => {
      this.review = review;
      // The serializer restores the same subject after a reload.
      const approval = review.approval?.id;
      const change = review.change?.change ?? review.diff?.change ?? review.approval?.change;
      this.channel.persist({ ...(approval ? { approval } : {}), ...(change && !approval ? { change } : {}) });
    });
  }

  private async send(request: ReviewRequest): Promise<void> {
    this.busy = true;
    this.notice = await this.channel.ask(request);
    if (request.kind === 'reject' && !this.notice?.error) this.rejecting = false;
    this.busy = false;
  }

  static override styles = css`
    :host { display: block; padding: 12px 20px 32px; color: var(--vscode-foreground); font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); }
    h1 { font-size: 1.4em; margin: 0 0 4px; overflow-wrap: anywhere; }
    /* Headings carry file names and shas: never change their case. */
    h2 { font-size: 1.05em; font-weight: 600; margin: 20px 0 6px; color: var(--vscode-descriptionForeground); }
    h2 .muted { font-weight: normal; }
    .muted { color: var(--vscode-descriptionForeground); }
    .actions { display: flex; gap: 8px; align-items: center; margin: 12px 0; flex-wrap: wrap; }
    .rationale { padding: 8px 12px; border-left: 3px solid var(--vscode-textBlockQuote-border); background: var(--vscode-textBlockQuote-background); overflow-wrap: anywhere; }
    .notice { margin: 8px 0; padding: 6px 10px; border-left: 3px solid var(--vscode-focusBorder); background: var(--vscode-textBlockQuote-background); }
    .notice.error { border-color: var(--vscode-errorForeground); }
    .resolved { font-weight: 600; }
    .resolved.approved, .resolved.merged { color: var(--vscode-testing-iconPassed); }
    .resolved.rejected { color: var(--vscode-errorForeground); }
    ul.reasons { margin: 0; padding-left: 18px; }
    code { font-family: var(--vscode-editor-font-family); background: var(--vscode-textCodeBlock-background); padding: 0 3px; border-radius: 3px; }
    .check { display: flex; gap: 6px; align-items: center; margin: 2px 0; }
    .success { color: var(--vscode-testing-iconPassed); }
    .failure, .timed_out { color: var(--vscode-testing-iconFailed); }
    details.file { margin: 4px 0 10px; }
    .file-head { display: flex; gap: 8px; align-items: baseline; padding: 4px 6px; cursor: pointer; background: var(--vscode-editorWidget-background); border: 1px solid var(--vscode-panel-border, var(--vscode-widget-border)); }
    .file-head .path { font-family: var(--vscode-editor-font-family); overflow-wrap: anywhere; min-width: 0; }
    .file-head .status { color: var(--vscode-descriptionForeground); }
    .add-count { color: var(--vscode-gitDecoration-addedResourceForeground); }
    .del-count { color: var(--vscode-gitDecoration-deletedResourceForeground); }
    table.hunk { border-collapse: collapse; width: 100%; font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); }
    table.hunk td { padding: 0 6px; white-space: pre; vertical-align: top; }
    table.hunk td.num { color: var(--vscode-editorLineNumber-foreground); text-align: right; user-select: none; width: 1%; }
    table.hunk td.text { white-space: pre-wrap; overflow-wrap: anywhere; }
    tr.add { background: var(--vscode-diffEditor-insertedLineBackground, rgba(0, 160, 0, 0.15)); }
    tr.del { background: var(--vscode-diffEditor-removedLineBackground, rgba(200, 0, 0, 0.15)); }
    tr.header td { color: var(--vscode-descriptionForeground); background: var(--vscode-editorWidget-background); }
    .diff-wrap { overflow-x: auto; border: 1px solid var(--vscode-panel-border, var(--vscode-widget-border)); border-top: none; }
    .link { color: var(--vscode-textLink-foreground); cursor: pointer; }
    vscode-textarea { width: 100%; max-width: 640px; }
    .check-failures { margin: 2px 0 8px 22px; }
    .check-failures .verdict { margin: 2px 0; overflow-wrap: anywhere; }
    ul.failures { list-style: none; margin: 2px 0 0; padding: 0; }
    ul.failures li { display: flex; gap: 6px; align-items: baseline; margin: 3px 0; min-width: 0; }
    ul.failures li .what { min-width: 0; overflow-wrap: anywhere; }
    ul.failures .test { font-family: var(--vscode-editor-font-family); }
    ul.failures .file { font-family: var(--vscode-editor-font-family); white-space: nowrap; }
    ul.failures vscode-icon { flex: none; }
    .known { color: var(--vscode-descriptionForeground); }
    .unknown { color: var(--vscode-errorForeground); }
  `;

  override render(): TemplateResult {
    const review = this.review;
    if (!review) return html`<p class="muted">Loading…</p>`;
    const { approval, change, diff } = review;
    const title = change
      ? `${change.change} — ${change.title}`
      : approval
        ? `${approval.kind} ${approval.change ?? approval.incident ?? ''}`
        : (diff?.change ?? 'Review');
    return html`
      <h1 data-testid="review-title">${title}</h1>
      <div class="muted">${change ? html`lane <strong>${change.lane}</strong> (${change.laneState ?? '?'}) · ${change.tier}${change.crossLane ? ' · cross-lane' : ''}${change.link ? ` · ${change.link.kind} for ${change.link.incident}` : ''}` : nothing}
        ${approval ? html` · approval <code>${approval.id}</code> (${approval.actionClass}, ${approval.tier})` : nothing}</div>
      ${this.renderDecision(review)}
      ${this.notice ? html`<div class="notice ${this.notice.error ? 'error' : ''}" data-testid="notice">${this.notice.text}</div>` : nothing}
      ${approval ? html`<h2>Rationale</h2><div class="rationale">${approval.rationale}</div>` : nothing}
      ${change ? this.renderGate(change) : nothing}
      <h2>Checks</h2>
      ${
        review.checks.length
          ? review.checks.map(
              (
                c,
              ) => html`<div class="check ${c.conclusion}"><vscode-icon name=${CHECK_ICON[c.conclusion] ?? 'circle'}></vscode-icon> ${c.name} <span class="muted">${c.conclusion}${change && !change.requiredChecks.includes(c.name) ? ' · not required for this change' : ''}</span></div>
              ${this.renderFailures(
                c,
                review.failures?.find((f) => f.check === c.name),
                diff?.head,
              )}`,
            )
          : html`<p class="muted">No checks reported.</p>`
      }
      <h2 data-testid="diff-heading">Diff ${diff ? html`<span class="muted">${diff.files.length} file(s) · base <code>${diff.base.slice(0, 8)}</code> · head <code>${diff.head.slice(0, 8)}</code></span>` : nothing}</h2>
      ${review.diffError ? html`<p class="notice error">${review.diffError}</p>` : nothing}
      ${
        diff
          ? html`<div class="actions"><vscode-button secondary @click=${() => this.send({ kind: 'openDiff', path: '' })}><vscode-icon name="diff" slot="start"></vscode-icon>Open in diff editor</vscode-button></div>
        ${diff.files.map((f) => this.renderFile(f))}${diff.truncated ? html`<p class="muted">Long files are cut in this view; the diff editor shows them whole.</p>` : nothing}`
          : nothing
      }
    `;
  }

  private renderDecision(review: ReviewState): TemplateResult | typeof nothing {
    if (review.resolved) {
      const { status, by, reason } = review.resolved;
      return html`<p class="resolved ${status}" data-testid="resolved">${status === 'merged' ? 'Approved and merged' : status === 'approved' ? 'Approved' : 'Rejected'}${by ? ` by ${by}` : ''}${reason ? `: ${reason}` : ''}</p>`;
    }
    if (!review.approval) return nothing;
    const disabled = this.busy || !review.trusted;
    return html`
      <div class="actions">
        <vscode-button data-testid="approve" ?disabled=${disabled} @click=${() => this.send({ kind: 'approve' })}><vscode-icon name="check" slot="start"></vscode-icon>Approve</vscode-button>
        <vscode-button data-testid="reject" secondary ?disabled=${disabled} @click=${() => (this.rejecting = !this.rejecting)}><vscode-icon name="close" slot="start"></vscode-icon>Reject…</vscode-button>
        ${review.trusted ? nothing : html`<span class="muted">Trust this workspace to approve or reject.</span>`}
      </div>
      ${
        this.rejecting
          ? html`<div class="actions">
            <vscode-textarea data-testid="reject-reason" rows="3" placeholder="Why? The reason is logged and shown to whoever proposed it."></vscode-textarea>
            <vscode-button data-testid="confirm-reject" ?disabled=${this.busy} @click=${() => this.reject()}>Reject with this reason</vscode-button>
          </div>`
          : nothing
      }
    `;
  }

  private reject(): void {
    const area = this.renderRoot.querySelector('vscode-textarea') as (HTMLElement & { value: string }) | null;
    const reason = area?.value.trim() ?? '';
    if (!reason) {
      this.notice = { text: 'A rejection needs a reason: say what should change.', error: true };
      return;
    }
    void this.send({ kind: 'reject', reason });
  }

  private renderGate(change: NonNullable<ReviewState['change']>): TemplateResult {
    return html`<h2>Merge gate</h2>
      ${
        change.reasons.length
          ? html`<ul class="reasons" data-testid="reasons">${change.reasons.map((r) => html`<li><code>${r.code}</code> ${r.message}</li>`)}</ul>`
          : html`<p class="success">Every gate passes: it merges when it reaches the front of its lane.</p>`
      }
      ${change.notes.length ? html`<ul class="reasons muted">${change.notes.map((n) => html`<li>${n}</li>`)}</ul>` : nothing}
      <p class="muted">Required checks: ${change.requiredChecks.join(', ') || 'none'} · ${change.laneRationale}</p>`;
  }

  /** A red check's failing tests: where each is, and whether an open incident already knows it. */
  private renderFailures(check: CheckRun, view: CheckFailures | undefined, head: string | undefined): TemplateResult | typeof nothing {
    if (!view) return nothing;
    const verdict =
      view.status === 'excused' && view.excusedBy
        ? html`<span class="known">Excused: only failures ${heldBy(view.excusedBy)} already holds; it does not block this change.</span>`
        : view.unknown
          ? html`<span class="unknown">${view.unknown} of ${view.total} failing tests no other lane's incident holds.</span>`
          : nothing;
    return html`<div class="check-failures" data-testid="check-failures" data-check=${check.name}>
      ${verdict === nothing ? nothing : html`<div class="verdict">${verdict}</div>`}
      <ul class="failures">
        ${
          view.wholeCheck
            ? html`<li data-testid="failure"><vscode-icon name="error" class="failure"></vscode-icon><span class="what"><em>the check as a whole</em>
              <span class="muted"> — ${view.note !== undefined ? printable(view.note) : view.total ? 'its failing tests may be incomplete' : 'no failing tests could be read'}</span>
              <span class=${view.wholeKnown?.excuses ? 'known' : 'unknown'}> — ${knownText(view.wholeKnown)}</span></span></li>`
            : nothing
        }
        ${view.failures.map((f) => this.renderFailure(f, head))}
      </ul>
      ${!view.wholeCheck && view.note ? html`<div class="muted">${printable(view.note)}</div>` : nothing}
      ${view.hidden ? html`<div class="muted" data-testid="failures-more">and ${view.hidden} more: <code>build-master explain ${this.review?.change?.change ?? ''} --json</code> lists them all</div>` : nothing}
    </div>`;
  }

  private renderFailure(failure: FailureView, head: string | undefined): TemplateResult {
    const at = where(failure.file, failure.line);
    const file = failure.file;
    const status = failure.flaky ? 'flaky: passed on a re-run' : knownText(failure.known);
    return html`<li data-testid="failure"><vscode-icon name=${failure.flaky ? 'warning' : 'error'} class="failure"></vscode-icon>
      <span class="what"><span class="test">${printable(failure.id)}</span>
        ${at && file ? html` <span class="link file" title="Open ${at}" @click=${() => this.send({ kind: 'openFile', path: file, ...(failure.line !== undefined ? { line: failure.line } : {}), ...(head ? { sha: head } : {}) })}>${at}</span>` : nothing}
        <span class=${failure.known?.excuses || failure.flaky ? 'known' : 'unknown'}> — ${status}</span>
        ${failure.message ? html`<div class="muted">${firstLine(failure.message)}</div>` : nothing}</span></li>`;
  }

  /** One file: a single header (path, status, counts, open) that folds its hunks. */
  private renderFile(file: FileDiff): TemplateResult {
    return html`<details class="file" open data-testid="file-diff" data-path=${file.path}>
      <summary class="file-head" data-testid="file-head"><span class="path">${file.oldPath ? `${file.oldPath} → ` : ''}${file.path}</span>
        <span class="status">${file.status}</span><span class="add-count">+${file.additions}</span><span class="del-count">−${file.deletions}</span>
        <span class="link" @click=${(event: Event) => {
          event.preventDefault(); // opening the diff editor must not fold the file
          void this.send({ kind: 'openDiff', path: file.path });
        }}>open</span></summary>
      <div class="diff-wrap">
        ${file.binary ? html`<p class="muted" style="padding:0 6px">Binary file</p>` : nothing}
        ${
          file.hunks.length
            ? html`<table class="hunk">${file.hunks.map(
                (h) => html`<tr class="header"><td class="num"></td><td class="num"></td><td class="text">${h.header}</td></tr>
                ${h.lines.map((l) => html`<tr class=${l.kind}><td class="num">${l.oldLine ?? ''}</td><td class="num">${l.newLine ?? ''}</td><td class="text">${l.kind === 'add' ? '+' : l.kind === 'del' ? '−' : ' '}${l.text}</td></tr>`)}`,
              )}</table>`
            : nothing
        }
      </div>
    </details>`;
  }
}

/** A failure message's first line, cut: the check's log has the rest. */
function firstLine(message: string): string {
  const line = printable(message.split('\n', 1)[0] ?? '');
  return line.length > 240 ? `${line.slice(0, 239)}…` : line;
}

customElements.define('build-master-review', BuildMasterReview);
document.body.append(document.createElement('build-master-review'));

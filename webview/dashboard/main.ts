// The dashboard: global state, controller, KPIs with charts, lanes with their
// queues, incidents and approvals. Renders whatever state the host sends.
import { LitElement, css, html, nothing, svg, type TemplateResult } from 'lit';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import type { CockpitModel, DashboardRequest, Incident, Kpis, LaneView } from '../../extension/protocol/model';
import { incidentFailures, printable, where } from '../../extension/protocol/failures';
import { controllerText, laneReason, quietTimeline, sparseChart } from '../../extension/protocol/presentation';
import { budgetLine } from '../../extension/protocol/budget';

/** Failing tests listed per incident; `build-master explain <incident>` has the rest. */
const FAILURES_SHOWN = 10;
import { Channel, duration, type Notice } from '../shared/channel';
import { approvalSubject, tokens, usd, type RunKpisView } from '../../extension/protocol/runs';

const QUEUE_SHOWN = 8;

const STATE_ICON: Record<LaneView['state'], string> = {
  healthy: 'pass-filled',
  degraded: 'warning',
  paused: 'debug-pause',
  recovering: 'sync',
};

class BuildMasterDashboard extends LitElement {
  static override properties = { model: { state: true }, busy: { state: true }, notice: { state: true } };
  declare model: CockpitModel | undefined;
  declare busy: boolean;
  declare notice: Notice | undefined;
  private readonly channel: Channel<CockpitModel, DashboardRequest>;

  constructor() {
    super();
    this.model = undefined;
    this.busy = false;
    this.notice = undefined;
    this.channel = new Channel<CockpitModel, DashboardRequest>((model) => {
      this.model = model;
    });
    this.channel.persist({ dashboard: true });
  }

  private async send(request: DashboardRequest): Promise<void> {
    this.busy = request.kind === 'sync';
    this.notice = await this.channel.ask(request);
    this.busy = false;
  }

  static override styles = css`
    :host { display: block; padding: 12px 20px 32px; color: var(--vscode-foreground); font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); }
    h1 { font-size: 1.5em; font-weight: 600; margin: 0; }
    h2 { font-size: 1.1em; font-weight: 600; margin: 24px 0 8px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--vscode-descriptionForeground); }
    vscode-icon { vertical-align: text-bottom; }
    .header { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
    .global { display: inline-flex; align-items: center; gap: 6px; padding: 2px 10px; border-radius: 10px; font-weight: 600; }
    .global.normal { background: var(--vscode-testing-iconPassed); color: var(--vscode-editor-background); }
    .global.incident-contained { background: var(--vscode-editorWarning-foreground); color: var(--vscode-editor-background); }
    .global.global-hold { background: var(--vscode-errorForeground); color: var(--vscode-editor-background); }
    .muted { color: var(--vscode-descriptionForeground); }
    .spacer { flex: 1; }
    .notice { margin-top: 8px; padding: 6px 10px; border-left: 3px solid var(--vscode-focusBorder); background: var(--vscode-textBlockQuote-background); }
    .notice.error { border-color: var(--vscode-errorForeground); }
    .problems { padding: 8px 12px; border: 1px solid var(--vscode-inputValidation-errorBorder); background: var(--vscode-inputValidation-errorBackground); }
    .kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
    .kpi { border: 1px solid var(--vscode-panel-border, var(--vscode-widget-border)); border-radius: 4px; padding: 10px 12px; background: var(--vscode-editorWidget-background); }
    .kpi .value { font-size: 1.6em; font-weight: 600; }
    .kpi .label { color: var(--vscode-descriptionForeground); font-size: 0.9em; }
    .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 12px; margin-top: 12px; }
    .chart { border: 1px solid var(--vscode-panel-border, var(--vscode-widget-border)); border-radius: 4px; padding: 8px 10px; }
    .chart svg { width: 100%; height: 110px; display: block; }
    .chart .title { font-size: 0.9em; color: var(--vscode-descriptionForeground); margin-bottom: 4px; }
    .lanes { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 12px; }
    .lane { border: 1px solid var(--vscode-panel-border, var(--vscode-widget-border)); border-left-width: 4px; border-radius: 4px; padding: 10px 12px; min-width: 0; }
    .lane.healthy { border-left-color: var(--vscode-testing-iconPassed); }
    .lane.degraded, .lane.recovering { border-left-color: var(--vscode-editorWarning-foreground); }
    .lane.paused { border-left-color: var(--vscode-errorForeground); }
    .lane .top { display: flex; align-items: center; gap: 8px; }
    .lane .name { font-weight: 600; font-size: 1.1em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0; }
    /* The state and the buttons keep their width; a long name gives way (its title has it whole). */
    .lane .top > :not(.name):not(.spacer) { flex: none; white-space: nowrap; }
    .lane .reason { margin: 6px 0; color: var(--vscode-descriptionForeground); overflow-wrap: anywhere; }
    ol.queue { margin: 6px 0 0; padding-left: 22px; }
    ol.queue li { margin: 2px 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    a, .link { color: var(--vscode-textLink-foreground); cursor: pointer; text-decoration: none; }
    a:hover, .link:hover { text-decoration: underline; }
    .ready { color: var(--vscode-testing-iconPassed); }
    table.classes { margin-top: 10px; max-width: 560px; }
    table { border-collapse: collapse; width: 100%; }
    th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--vscode-panel-border, var(--vscode-widget-border)); vertical-align: top; }
    th { color: var(--vscode-descriptionForeground); font-weight: 600; }
    td.wrap { overflow-wrap: anywhere; }
    /* Ids and buttons are read whole: the free text beside them wraps instead. */
    td.id, td.nowrap { white-space: nowrap; }
    /* The action reads on one line; a long change name is cut with an ellipsis (the cell's title has it whole). */
    td.action div { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 32ch; }
    tr.has-failures td { border-bottom: none; }
    td.failures { padding: 0 8px 8px 24px; }
    .check-group { margin-top: 4px; }
    .check-group .check { font-weight: 600; }
    ul.failures { list-style: none; margin: 2px 0 0; padding: 0; }
    ul.failures li { display: flex; gap: 6px; align-items: baseline; margin: 3px 0; min-width: 0; }
    ul.failures li .what { min-width: 0; overflow-wrap: anywhere; }
    ul.failures .test { font-family: var(--vscode-editor-font-family); }
    ul.failures .file { font-family: var(--vscode-editor-font-family); white-space: nowrap; }
    ul.failures vscode-icon { flex: none; }
    code { font-family: var(--vscode-editor-font-family); background: var(--vscode-textCodeBlock-background); padding: 0 3px; border-radius: 3px; }
    .empty { color: var(--vscode-descriptionForeground); font-style: italic; }
    .icon-healthy { color: var(--vscode-testing-iconPassed); }
    .icon-degraded, .icon-recovering { color: var(--vscode-editorWarning-foreground); }
    .icon-paused { color: var(--vscode-errorForeground); }
  `;

  override render(): TemplateResult {
    const model = this.model;
    if (!model) return html`<p class="muted">Loading…</p>`;
    return html`
      <div class="header">
        <h1>Build Master</h1>
        <span class="global ${model.global.state}" data-testid="global-state">${model.global.state}</span>
        <span class="muted">${model.global.reason}</span>
        <span class="spacer"></span>
        <span class="muted" data-testid="controller">${controllerText(model.controller, this.busy)}</span>
        ${
          model.controller.running
            ? html`<vscode-button secondary @click=${() => this.send({ kind: 'stop' })}>Stop</vscode-button>`
            : html`<vscode-button secondary ?disabled=${!model.controller.trusted || !model.repo || model.controller.syncing} @click=${() => this.send({ kind: 'start' })}>Start</vscode-button>`
        }
        <vscode-button ?disabled=${this.busy || model.controller.syncing || !model.controller.trusted || !model.repo} @click=${() => this.send({ kind: 'sync' })}>${this.busy || model.controller.syncing ? 'Running…' : 'Run cycle'}</vscode-button>
      </div>
      <div class="muted">${model.repo ?? ''}${model.repo ? ` · target ${model.target} · ${model.forge} mode` : ''}${model.lastCycle ? ` · cycle ${model.lastCycle.cycle} ${duration(model.now - model.lastCycle.at)} ago: ${model.lastCycle.outcome.rationale}` : model.repo ? ' · no cycle has run yet' : ''}</div>
      ${model.githubBudget ? html`<div class="muted" data-testid="github-budget">${budgetLine(model.githubBudget) ?? ''}</div>` : nothing}
      ${model.controller.lastError ? html`<div class="notice error">Last cycle failed: ${model.controller.lastError}</div>` : nothing}
      ${this.notice ? html`<div class="notice ${this.notice.error ? 'error' : ''}">${this.notice.text}</div>` : nothing}
      ${model.unavailable ? html`<p class="problems">${model.unavailable}</p>` : nothing}
      ${
        model.policyProblems.length
          ? html`<div class="problems"><strong>The policy file is invalid; nothing acts until it is fixed.</strong>
            <ul>${model.policyProblems.map((p) => html`<li>${p.file}:${p.line}:${p.column}: ${p.message} — ${p.hint}</li>`)}</ul></div>`
          : nothing
      }
      ${this.renderKpis(model.kpis)}
      ${model.runs.length ? this.renderRunKpis(model.runKpis) : nothing}
      <h2>Lanes</h2>
      ${model.lanes.length ? html`<div class="lanes">${model.lanes.map((lane) => this.renderLane(lane))}</div>` : html`<p class="empty">No lanes: add lanes to .buildmaster.yml, or run a cycle.</p>`}
      <h2>Incidents</h2>
      ${this.renderIncidents(model)}
      <h2>Approvals</h2>
      ${this.renderApprovals(model)}
    `;
  }

  private renderKpis(kpis: Kpis): TemplateResult {
    const percent = (x: number | undefined) => (x === undefined ? '—' : `${Math.round(x * 100)}%`);
    const cards: [string, string, string][] = [
      ['Merges (14 days)', String(kpis.merges), 'kpi-merges'],
      ['Lead time (median)', duration(kpis.medianLeadTime), 'kpi-lead'],
      ['Time to merge (median)', duration(kpis.medianTimeToMerge), 'kpi-ttm'],
      ['MTTR', duration(kpis.mttr), 'kpi-mttr'],
      ['Change failure rate', percent(kpis.changeFailureRate), 'kpi-cfr'],
      ['Target green', percent(kpis.greenShare), 'kpi-green'],
    ];
    return html`
      <h2>Delivery</h2>
      <div class="kpis">${cards.map(([label, value, id]) => html`<div class="kpi" data-testid=${id}><div class="value">${value}</div><div class="label">${label}</div></div>`)}</div>
      <div class="charts">
        <div class="chart"><div class="title">Merges and incidents per day</div>${this.barChart(kpis)}</div>
        <div class="chart"><div class="title">Median time to merge per day</div>${this.lineChart(kpis)}</div>
        <div class="chart"><div class="title">Target red (open incidents) over 14 days</div>${this.timeline(kpis)}</div>
      </div>
    `;
  }

  /** The runs' KPIs (issue 13), once the repository has a run: "—" until there is something to measure. */
  private renderRunKpis(kpis: RunKpisView): TemplateResult {
    const percent = (x: number | undefined) => (x === undefined ? '—' : `${Math.round(x * 100)}%`);
    const cards: [string, string, string][] = [
      ['Cost per merged change', kpis.costPerMergedChange === undefined ? '—' : usd(kpis.costPerMergedChange), 'kpi-run-cost'],
      [
        'Tokens per successful task',
        kpis.tokensPerSuccessfulTask === undefined ? '—' : tokens(kpis.tokensPerSuccessfulTask),
        'kpi-run-tokens',
      ],
      ['Accepted without rework', percent(kpis.acceptanceWithoutRework), 'kpi-run-acceptance'],
      ['Lead time ticket → merge (p50)', duration(kpis.leadTimeP50), 'kpi-run-lead-p50'],
      ['Lead time ticket → merge (p95)', duration(kpis.leadTimeP95), 'kpi-run-lead-p95'],
    ];
    return html`
      <h2>Runs</h2>
      <div class="kpis" data-testid="run-kpis">${cards.map(([label, value, id]) => html`<div class="kpi" data-testid=${id}><div class="value">${value}</div><div class="label">${label}</div></div>`)}</div>
      ${
        kpis.successRateByClass.length
          ? html`<table class="classes" data-testid="run-kpi-classes"><tr><th>Worker class</th><th>Success rate</th><th>Settled tasks</th></tr>
            ${kpis.successRateByClass.map((c) => html`<tr><td>${c.workerClass}</td><td>${percent(c.rate)}</td><td>${c.tasks}</td></tr>`)}</table>`
          : html`<p class="empty" data-testid="run-kpi-classes-empty">No worker class has settled a task yet.</p>`
      }
      <p class="muted" data-testid="run-kpi-scope">Over ${kpis.runs} run${kpis.runs === 1 ? '' : 's'} and ${kpis.mergedChanges} merged change${kpis.mergedChanges === 1 ? '' : 's'}.</p>
    `;
  }

  private barChart(kpis: Kpis): TemplateResult {
    const sparse = sparseChart(kpis, 'activity');
    if (sparse) return html`<p class="empty" data-testid="chart-empty">${sparse}</p>`;
    const days = kpis.days;
    const max = Math.max(1, ...days.map((d) => d.merges + d.incidents));
    const w = 300 / Math.max(1, days.length);
    return html`<svg viewBox="0 0 300 100" preserveAspectRatio="none" role="img" aria-label="merges per day">
      ${days.map((d, i) => {
        const mh = (d.merges / max) * 90;
        const ih = (d.incidents / max) * 90;
        return svg`<rect x=${i * w + 1} y=${100 - mh} width=${Math.max(1, w - 2)} height=${mh} fill="var(--vscode-charts-blue)"><title>${new Date(d.day).toLocaleDateString()}: ${d.merges} merges, ${d.incidents} incidents</title></rect>
          <rect x=${i * w + 1} y=${100 - mh - ih} width=${Math.max(1, w - 2)} height=${ih} fill="var(--vscode-charts-red)"></rect>`;
      })}
      <line x1="0" y1="100" x2="300" y2="100" stroke="var(--vscode-panel-border, gray)" />
    </svg>`;
  }

  private lineChart(kpis: Kpis): TemplateResult {
    const sparse = sparseChart(kpis, 'time-to-merge');
    if (sparse) return html`<p class="empty" data-testid="chart-empty">${sparse}</p>`;
    const points = kpis.days
      .map((d, i) => [i, d.medianTimeToMerge] as const)
      .filter((p): p is readonly [number, number] => p[1] !== undefined);
    const max = Math.max(...points.map((p) => p[1]), 1);
    const x = (i: number) => (kpis.days.length > 1 ? (i / (kpis.days.length - 1)) * 296 + 2 : 150);
    const y = (v: number) => 96 - (v / max) * 90;
    return html`<svg viewBox="0 0 300 100" preserveAspectRatio="none" role="img" aria-label="median time to merge per day">
      <polyline fill="none" stroke="var(--vscode-charts-green)" stroke-width="2" points=${points.map(([i, v]) => `${x(i)},${y(v)}`).join(' ')} />
      ${points.map(([i, v]) => svg`<circle cx=${x(i)} cy=${y(v)} r="2.5" fill="var(--vscode-charts-green)"><title>${duration(v)}</title></circle>`)}
      <text x="2" y="10" font-size="9" fill="var(--vscode-descriptionForeground)">${duration(max)}</text>
    </svg>`;
  }

  private timeline(kpis: Kpis): TemplateResult {
    const quiet = quietTimeline(kpis);
    if (quiet) return html`<p class="empty" data-testid="chart-empty">${quiet}</p>`;
    const { from, to } = kpis.window;
    const span = Math.max(1, to - from);
    const x = (t: number) => ((Math.max(from, t) - from) / span) * 300;
    return html`<svg viewBox="0 0 300 100" preserveAspectRatio="none" role="img" aria-label="incidents over time">
      <rect x="0" y="40" width="300" height="20" fill="var(--vscode-testing-iconPassed)" opacity="0.35" />
      ${kpis.incidents.map((i) => svg`<rect x=${x(i.openedAt)} y="36" width=${Math.max(1.5, x(i.resolvedAt ?? to) - x(i.openedAt))} height="28" fill="var(--vscode-charts-red)"><title>${i.id}: ${duration((i.resolvedAt ?? to) - i.openedAt)}</title></rect>`)}
      <text x="2" y="90" font-size="9" fill="var(--vscode-descriptionForeground)">${new Date(from).toLocaleDateString()}</text>
      <text x="298" y="90" font-size="9" text-anchor="end" fill="var(--vscode-descriptionForeground)">now</text>
    </svg>`;
  }

  private renderLane(lane: LaneView): TemplateResult {
    const shown = lane.queue.slice(0, QUEUE_SHOWN);
    return html`<div class="lane ${lane.state}" data-testid="lane" data-lane=${lane.name} data-state=${lane.state}>
      <div class="top">
        <vscode-icon name=${STATE_ICON[lane.state]} class="icon-${lane.state}"></vscode-icon>
        <span class="name" title=${lane.name}>${lane.name}</span>
        <vscode-badge variant="counter">${lane.queue.length}</vscode-badge>
        <span class="spacer"></span>
        <span class="muted state">${lane.state} ${duration(this.model ? this.model.now - lane.since : 0)}</span>
        ${
          lane.state === 'paused' || lane.operatorPaused
            ? html`<vscode-button secondary @click=${() => this.send({ kind: 'resume', lane: lane.name })}>Resume</vscode-button>`
            : html`<vscode-button secondary @click=${() => this.send({ kind: 'pause', lane: lane.name })}>Pause</vscode-button>`
        }
      </div>
      <div class="reason" data-testid="lane-reason">${laneReason(lane)}</div>
      ${lane.incident ? html`<div><vscode-icon name="flame" class="icon-paused"></vscode-icon> ${lane.incident.id}: ${lane.incident.failureClass}, retries ${lane.incident.retries}${this.fixLink(lane.incident.attempts)}</div>` : nothing}
      ${
        shown.length
          ? html`<ol class="queue">${shown.map(
              (entry) => html`<li title="${entry.change}: ${entry.reasons.map((r) => r.message).join('; ') || 'ready to merge'}">
            <span class="link" @click=${() => this.send({ kind: 'review', change: entry.change })}>${entry.change}</span>
            ${entry.reasons.length ? html`<span class="muted"> — ${entry.reasons[0]?.message}</span>` : html`<span class="ready"> — ready to merge</span>`}</li>`,
            )}</ol>
          ${lane.queue.length > shown.length ? html`<div class="muted">and ${lane.queue.length - shown.length} more</div>` : nothing}`
          : html`<div class="empty">Queue empty</div>`
      }
    </div>`;
  }

  private fixLink(attempts: { attempt: number; outcome: string; change?: string }[]): TemplateResult | typeof nothing {
    const last = attempts[attempts.length - 1];
    if (!last) return nothing;
    return html`, fix attempt ${last.attempt} ${last.outcome}${last.change ? html` — <span class="link" @click=${() => this.send({ kind: 'review', change: last.change as string })}>${last.change}</span>` : nothing}`;
  }

  private renderIncidents(model: CockpitModel): TemplateResult {
    if (!model.incidents.length) return html`<p class="empty">No open incidents.</p>`;
    return html`<table>
      <tr><th>Incident</th><th>Lanes</th><th>Class</th><th>Checks</th><th>Retries</th><th>Fix</th><th>Open</th></tr>
      ${model.incidents.map(
        (i) => html`<tr data-testid="incident" data-incident=${i.id} class=${i.failures?.length ? 'has-failures' : ''}>
        <td class="id">${i.id}${i.escalated ? html` <vscode-badge>escalated</vscode-badge>` : nothing}</td>
        <td>${i.lanes.join(', ') || 'unattributed'}</td><td>${i.failureClass}</td><td class="wrap">${i.failingChecks.join(', ')}</td><td>${i.retries}</td>
        <td class="wrap">${this.fixLink(i.attempts)}</td><td>${duration(model.now - i.openedAt)}</td></tr>
        ${this.renderIncidentFailures(i)}`,
      )}
    </table>`;
  }

  /** The incident's failing tests under its row: where each is, the lane it maps to and why. */
  private renderIncidentFailures(incident: Incident): TemplateResult | typeof nothing {
    const view = incidentFailures(incident, FAILURES_SHOWN);
    if (!view.recorded) return nothing;
    return html`<tr data-testid="incident-failures" data-incident=${incident.id}><td colspan="7" class="failures">
      ${view.groups.map(
        (group) => html`<div class="check-group"><span class="check">${group.check}</span> <span class="muted">${group.total} failing</span>
          <ul class="failures">${group.marks.map((mark) => {
            const at = where(mark.file, mark.line);
            const file = mark.file;
            return html`<li data-testid="failure">
              <vscode-icon name="error" class="icon-paused"></vscode-icon>
              <span class="what">${mark.test ? html`<span class="test">${printable(mark.test)}</span>` : html`<em>the check as a whole</em>`}
                ${at && file ? html` <span class="link file" title="Open ${at}" @click=${() => this.send({ kind: 'openFile', path: file, ...(mark.line !== undefined ? { line: mark.line } : {}), sha: incident.redSha })}>${at}</span>` : nothing}
                <span class="muted"> → ${mark.lane ? `lane ${mark.lane}` : 'no lane'}: ${printable(mark.why)}</span></span></li>`;
          })}</ul>
          ${group.marks.length < group.total ? html`<div class="muted" data-testid="failures-more">and ${group.total - group.marks.length} more in ${group.check}: <code>build-master explain ${incident.id} --json</code> lists them all</div>` : nothing}</div>`,
      )}
    </td></tr>`;
  }

  private renderApprovals(model: CockpitModel): TemplateResult {
    if (!model.approvals.length) return html`<p class="empty">No approvals waiting.</p>`;
    return html`<table>
      <tr><th>Approval</th><th>Action</th><th>Tier</th><th>Why</th><th></th></tr>
      ${model.approvals.map(
        (a) => html`<tr data-testid="approval">
        <td class="id" data-testid="approval-id">${a.id}</td><td class="action" title=${approvalSubject(a)}><div>${approvalSubject(a)}</div></td><td class="nowrap">${a.tier}</td><td class="wrap">${a.rationale}</td>
        <td class="nowrap"><vscode-button @click=${() => this.send({ kind: 'review', approval: a.id })}>Review</vscode-button></td></tr>`,
      )}
    </table>`;
  }
}

customElements.define('build-master-dashboard', BuildMasterDashboard);
document.body.append(document.createElement('build-master-dashboard'));

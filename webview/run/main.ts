// The run panel: the run's budget bars, its task DAG (layered by dependency depth, scrollable), the
// selected task's details with retry / approve / reject, every task in a table, and the timeline of
// the run's decisions with their rationales. Renders whatever state the host sends.
import { LitElement, css, html, nothing, svg, type TemplateResult } from 'lit';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-textarea/index.js';
import {
  budgetWord,
  isLive,
  settled,
  tokens,
  usd,
  type BudgetBarView,
  type RunGate,
  type RunPanelState,
  type RunRequest,
  type RunTaskView,
  type RunView,
} from '../../extension/protocol/runs';
import { Directive, PartType, directive, type ElementPart, type PartInfo } from 'lit/directive.js';
import { noChange } from 'lit';
import { middleEllipsis } from '../../extension/protocol/presentation';
import { Channel, duration, type Notice } from '../shared/channel';

/** The DAG's geometry: a node's box and the gaps between layers and rows. */
const NODE_W_MAX = 200;
const NODE_W_MIN = 140;
const NODE_W_SCROLLING = 176;
const NODE_H = 26;
const COL_GAP = 40;
const ROW_GAP = 8;
const PAD = 8;
/** Past this many edges, edges fade until a task is selected: the layers stay readable. */
const EDGES_FADED = 150;
/** Decisions listed before "and N older". */
const DECISIONS_SHOWN = 200;

const STATUS_ICON: Record<RunTaskView['status'], string> = {
  pending: 'circle-large-outline',
  running: 'sync',
  completed: 'pass',
  failed: 'error',
  cancelled: 'circle-slash',
};

/**
 * Sets inline style properties through the CSSOM. The panel's CSP forbids style attributes (Lit's
 * styleMap writes one on first render), so positions and bar widths are set as properties.
 */
class PlaceDirective extends Directive {
  constructor(part: PartInfo) {
    super(part);
    if (part.type !== PartType.ELEMENT) throw new Error('place() goes on an element');
  }
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- Lit types a directive's arguments by render's parameters
  render(_styles: Record<string, string>): unknown {
    return noChange;
  }
  override update(part: ElementPart, [styles]: [Record<string, string>]): unknown {
    const style = (part.element as HTMLElement).style;
    for (const [name, value] of Object.entries(styles)) style.setProperty(name, value);
    return noChange;
  }
}
const place = directive(PlaceDirective);

interface Placed {
  task: RunTaskView;
  x: number;
  y: number;
}

interface Layout {
  nodeW: number;
  nodes: Map<string, Placed>;
  width: number;
  height: number;
  edges: { from: string; to: string; kind: 'dep' | 'hedge' | 'repair' }[];
}

/**
 * Layers by depth; inside a layer, tasks are ordered by the mean row of their dependencies (one
 * barycentre pass), so edges run mostly straight across instead of crossing the whole column.
 */
function layout(tasks: readonly RunTaskView[], nodeW: number): Layout {
  const layers: RunTaskView[][] = [];
  for (const task of tasks) (layers[task.depth] ??= []).push(task);
  const row = new Map<string, number>();
  const nodes = new Map<string, Placed>();
  let tallest = 0;
  layers.forEach((layer, depth) => {
    const keyed = layer.map((task, index) => {
      const parents = [...task.dependsOn, ...(task.hedgeOf ? [task.hedgeOf] : []), ...(task.repairOf ? [task.repairOf] : [])]
        .map((d) => row.get(d))
        .filter((r): r is number => r !== undefined);
      return { task, key: parents.length ? parents.reduce((a, b) => a + b, 0) / parents.length : index, index };
    });
    keyed.sort((a, b) => a.key - b.key || a.index - b.index);
    keyed.forEach(({ task }, i) => {
      row.set(task.id, i);
      nodes.set(task.id, { task, x: PAD + depth * (nodeW + COL_GAP), y: PAD + i * (NODE_H + ROW_GAP) });
    });
    tallest = Math.max(tallest, keyed.length);
  });
  const edges: Layout['edges'] = [];
  for (const task of tasks) {
    for (const dep of task.dependsOn) if (nodes.has(dep)) edges.push({ from: dep, to: task.id, kind: 'dep' });
    if (task.hedgeOf && nodes.has(task.hedgeOf)) edges.push({ from: task.hedgeOf, to: task.id, kind: 'hedge' });
    if (task.repairOf && nodes.has(task.repairOf)) edges.push({ from: task.repairOf, to: task.id, kind: 'repair' });
  }
  return {
    nodes,
    edges,
    nodeW,
    width: PAD * 2 + Math.max(1, layers.length) * (nodeW + COL_GAP) - COL_GAP,
    height: PAD * 2 + Math.max(1, tallest) * (NODE_H + ROW_GAP) - ROW_GAP,
  };
}

class BuildMasterRun extends LitElement {
  static override properties = {
    state: { state: true },
    selected: { state: true },
    busy: { state: true },
    notice: { state: true },
    rejecting: { state: true },
  };
  declare state: RunPanelState | undefined;
  declare selected: string | undefined;
  declare busy: boolean;
  declare notice: Notice | undefined;
  /** The gate whose reject form is open. */
  declare rejecting: { step: RunGate['step']; task?: string } | undefined;
  private readonly channel: Channel<RunPanelState, RunRequest>;
  private focusSeq = 0;
  private cached: { tasks: readonly RunTaskView[]; width: number; layout: Layout } | undefined;
  /** The page's content width: the DAG's boxes narrow (down to a minimum) so a few layers fit without scrolling. */
  private available = 900;
  private readonly resize = new ResizeObserver(([entry]) => {
    const width = Math.floor(entry?.contentRect.width ?? this.available);
    if (Math.abs(width - this.available) > 8) {
      this.available = width;
      this.requestUpdate();
    }
  });

  override connectedCallback(): void {
    super.connectedCallback();
    this.resize.observe(this);
  }

  override disconnectedCallback(): void {
    this.resize.disconnect();
    super.disconnectedCallback();
  }

  constructor() {
    super();
    this.state = undefined;
    this.selected = undefined;
    this.busy = false;
    this.notice = undefined;
    this.rejecting = undefined;
    this.channel = new Channel<RunPanelState, RunRequest>((state) => {
      this.state = state;
      this.channel.persist({ run: state.id });
      if (state.focus && state.focus.seq !== this.focusSeq) {
        this.focusSeq = state.focus.seq;
        this.select(state.focus.task);
      }
    });
  }

  private async send(request: RunRequest): Promise<void> {
    this.busy = true;
    this.notice = await this.channel.ask(request);
    this.busy = false;
    if (request.kind === 'reject' && !this.notice?.error) this.rejecting = undefined;
  }

  private select(task: string): void {
    this.selected = task;
    void this.updateComplete.then(() => {
      const node = this.renderRoot.querySelector(`[data-node="${CSS.escape(task)}"]`);
      node?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
      this.renderRoot.querySelector('[data-testid="task-detail"]')?.scrollIntoView({ block: 'nearest' });
    });
  }

  static override styles = css`
    :host { display: block; padding: 12px 20px 32px; color: var(--vscode-foreground); font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); }
    h1 { font-size: 1.4em; font-weight: 600; margin: 0; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    h2 { font-size: 1em; font-weight: 600; margin: 20px 0 8px; color: var(--vscode-descriptionForeground); letter-spacing: 0.02em; }
    vscode-icon { vertical-align: text-bottom; flex: none; }
    .header { display: flex; align-items: center; gap: 10px; min-width: 0; }
    .header > :not(h1):not(.spacer) { flex: none; white-space: nowrap; }
    .spacer { flex: 1; }
    .muted { color: var(--vscode-descriptionForeground); }
    .goal { margin: 6px 0 2px; overflow-wrap: anywhere; max-height: 6em; overflow: auto; }
    .status { display: inline-block; padding: 1px 8px; border-radius: 9px; font-weight: 600; font-size: 0.9em; color: var(--vscode-editor-background); background: var(--vscode-descriptionForeground); }
    .status.running, .status.planning { background: var(--vscode-charts-blue); }
    .status.awaiting-approval { background: var(--vscode-editorWarning-foreground); }
    .status.completed { background: var(--vscode-testing-iconPassed); }
    .status.failed, .status.killed { background: var(--vscode-errorForeground); }
    .notice { margin-top: 8px; padding: 6px 10px; border-left: 3px solid var(--vscode-focusBorder); background: var(--vscode-textBlockQuote-background); overflow-wrap: anywhere; }
    .notice.error { border-color: var(--vscode-errorForeground); }
    .gates { margin-top: 8px; display: flex; flex-direction: column; gap: 6px; }
    .gate { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; padding: 6px 10px; border: 1px solid var(--vscode-editorWarning-foreground); border-radius: 4px; }
    .reject-form { display: flex; flex-direction: column; gap: 6px; width: 100%; }
    vscode-textarea { width: 100%; max-width: 640px; }
    .budgets { display: grid; grid-template-columns: max-content minmax(80px, 1fr) max-content; gap: 6px 12px; align-items: center; max-width: 820px; }
    .bar { height: 10px; border-radius: 5px; background: var(--vscode-editorWidget-background); border: 1px solid var(--vscode-panel-border, var(--vscode-widget-border)); overflow: hidden; }
    .bar > div { height: 100%; background: var(--vscode-charts-blue); }
    .bar.near > div { background: var(--vscode-editorWarning-foreground); }
    .bar.over > div { background: var(--vscode-errorForeground); }
    .handoff { white-space: pre-wrap; overflow-wrap: anywhere; padding: 6px 10px; border-left: 3px solid var(--vscode-editorWarning-foreground); background: var(--vscode-textBlockQuote-background); max-height: 12em; overflow: auto; }
    .dag { position: relative; overflow: auto; max-height: 440px; border: 1px solid var(--vscode-panel-border, var(--vscode-widget-border)); border-radius: 4px; background: var(--vscode-editor-background); }
    .dag svg { position: absolute; left: 0; top: 0; pointer-events: none; }
    .node { position: absolute; box-sizing: border-box; height: ${NODE_H}px; display: flex; align-items: center; gap: 4px; padding: 0 6px; border: 1px solid var(--vscode-panel-border, var(--vscode-widget-border)); border-left: 4px solid var(--vscode-descriptionForeground); border-radius: 3px; background: var(--vscode-editorWidget-background); color: var(--vscode-foreground); font: inherit; font-size: 0.92em; cursor: pointer; text-align: left; }
    .node .name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0; flex: 1; }
    .node .cost { flex: none; color: var(--vscode-descriptionForeground); font-size: 0.9em; }
    .node:focus-visible { outline: 1px solid var(--vscode-focusBorder); outline-offset: 1px; }
    .node.selected { outline: 2px solid var(--vscode-focusBorder); outline-offset: 1px; }
    .node.running { border-left-color: var(--vscode-charts-blue); }
    .node.completed { border-left-color: var(--vscode-testing-iconPassed); }
    .node.failed { border-left-color: var(--vscode-errorForeground); }
    .node.cancelled { opacity: 0.7; border-left-style: dashed; }
    .node.gate { border-left-color: var(--vscode-editorWarning-foreground); }
    .legend { display: flex; gap: 14px; flex-wrap: wrap; margin: 4px 0; font-size: 0.9em; }
    .detail { margin-top: 10px; padding: 8px 12px; border: 1px solid var(--vscode-panel-border, var(--vscode-widget-border)); border-radius: 4px; }
    .detail dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 6px 0; }
    .detail dt { color: var(--vscode-descriptionForeground); }
    .detail dd { margin: 0; overflow-wrap: anywhere; min-width: 0; }
    .detail .actions { display: flex; gap: 8px; flex-wrap: wrap; }
    pre.error { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; font-family: var(--vscode-editor-font-family); color: var(--vscode-errorForeground); max-height: 10em; overflow: auto; }
    table { border-collapse: collapse; width: 100%; table-layout: fixed; }
    th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--vscode-panel-border, var(--vscode-widget-border)); vertical-align: top; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    th { color: var(--vscode-descriptionForeground); font-weight: 600; }
    td.num, th.num { text-align: right; }
    td.wrap { white-space: normal; overflow-wrap: anywhere; }
    tr.task { cursor: pointer; }
    tr.task.selected td { background: var(--vscode-list-inactiveSelectionBackground); }
    .link { color: var(--vscode-textLink-foreground); cursor: pointer; }
    .link:hover { text-decoration: underline; }
    ol.timeline { list-style: none; margin: 0; padding: 0; }
    ol.timeline li { display: grid; grid-template-columns: 7.5em 8em minmax(0, 1fr); gap: 2px 10px; padding: 4px 0; border-bottom: 1px solid var(--vscode-panel-border, var(--vscode-widget-border)); }
    ol.timeline .when { white-space: nowrap; }
    ol.timeline .kind { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    ol.timeline .why { overflow-wrap: anywhere; }
    .rationale { margin-top: 4px; overflow-wrap: anywhere; }
    .rationale.degrade { color: var(--vscode-editorWarning-foreground); }
    .rationale.stop { color: var(--vscode-errorForeground); }
    .canvas { position: relative; }
    .task-name { overflow-wrap: anywhere; }
    col.w-task { width: 26%; } col.w-status, col.w-class { width: 13%; } col.w-num { width: 8%; } col.w-tries { width: 6%; } col.w-rest { width: 26%; }
    .empty { color: var(--vscode-descriptionForeground); font-style: italic; }
    .icon-completed { color: var(--vscode-testing-iconPassed); }
    .icon-failed { color: var(--vscode-errorForeground); }
    .icon-running { color: var(--vscode-charts-blue); }
    .icon-pending, .icon-cancelled { color: var(--vscode-descriptionForeground); }
  `;

  override render(): TemplateResult {
    const state = this.state;
    if (!state) return html`<p class="muted">Loading…</p>`;
    const run = state.run;
    if (!run)
      return html`<h1>Run ${state.id}</h1>
        <p class="empty" data-testid="run-missing">This run is no longer in the repository's store (it was removed, or the store was reset).</p>`;
    const live = isLive(run.status);
    const { settled: done, total } = settled(run);
    return html`
      <div class="header">
        <h1 title=${run.id}>${run.id}</h1>
        <span class="status ${run.status}" data-testid="run-status">${run.status}</span>
        <span class="muted">${done}/${total} tasks settled</span>
        <span class="spacer"></span>
        ${live ? html`<vscode-button data-testid="kill" secondary ?disabled=${this.busy || !state.trusted} @click=${() => this.send({ kind: 'kill' })}><vscode-icon name="stop-circle" slot="content-before"></vscode-icon>Kill run</vscode-button>` : nothing}
      </div>
      <div class="goal" title=${run.goal.text}>${run.goal.kind === 'ticket' ? 'Ticket' : 'Progress file'}: ${run.goal.text}</div>
      <div class="muted">${run.mode} mode · profile ${run.profile} · ${this.when(run)}${run.by ? ` · started by ${run.by}` : ''}${run.killedBy ? ` · killed by ${run.killedBy}` : ''}</div>
      ${state.trusted ? nothing : html`<div class="notice error">This workspace is not trusted: Build Master changes no run here.</div>`}
      ${this.notice ? html`<div class="notice ${this.notice.error ? 'error' : ''}" data-testid="notice">${this.notice.text}</div>` : nothing}
      ${this.renderGates(run.gates.filter((g) => g.status === 'pending' && !g.task))}
      <h2>Budget</h2>
      ${this.renderBudget(run)}
      ${run.handoff ? html`<h2>Hand-off</h2><div class="handoff" data-testid="handoff">${run.handoff}</div>` : nothing}
      <h2>Tasks (${total})</h2>
      ${total ? this.renderDag(run) : html`<p class="empty" data-testid="no-tasks">No tasks yet${run.status === 'planning' ? ': the run is planning' : ''}.</p>`}
      ${this.renderDetail(run)}
      ${total ? this.renderTable(run) : nothing}
      <h2>Decisions (${run.decisions.length})</h2>
      ${this.renderTimeline(run, state.now)}
    `;
  }

  private when(run: RunView): string {
    const now = this.state?.now ?? Date.now();
    const start = run.startedAt ?? run.createdAt;
    if (run.finishedAt !== undefined) return `ran ${duration(run.finishedAt - start)}, ended ${duration(now - run.finishedAt)} ago`;
    return run.startedAt !== undefined ? `started ${duration(now - start)} ago` : `created ${duration(now - run.createdAt)} ago`;
  }

  private renderGates(gates: RunGate[]): TemplateResult | typeof nothing {
    if (!gates.length) return nothing;
    return html`<div class="gates">${gates.map((gate) => this.renderGate(gate))}</div>`;
  }

  private renderGate(gate: RunGate): TemplateResult {
    const open = this.rejecting?.step === gate.step && this.rejecting.task === gate.task;
    const disabled = this.busy || !this.state?.trusted;
    return html`<div class="gate" data-testid="gate" data-step=${gate.step}>
      <vscode-icon name="shield"></vscode-icon>
      <span>The <strong>${gate.step}</strong> step${gate.task ? html` of task <strong>${gate.task}</strong>` : nothing} waits for approval</span>
      <span class="spacer"></span>
      <vscode-button data-testid="approve" ?disabled=${disabled} @click=${() => this.send({ kind: 'approve', step: gate.step, ...(gate.task ? { task: gate.task } : {}) })}>Approve</vscode-button>
      <vscode-button data-testid="reject" secondary ?disabled=${disabled} @click=${() => (this.rejecting = { step: gate.step, ...(gate.task ? { task: gate.task } : {}) })}>Reject…</vscode-button>
      ${
        open
          ? html`<div class="reject-form"><vscode-textarea data-testid="reject-reason" rows="2" placeholder="Why? The reason is logged with the run."></vscode-textarea>
            <div><vscode-button data-testid="confirm-reject" ?disabled=${disabled} @click=${() => this.reject(gate)}>Reject with this reason</vscode-button></div></div>`
          : nothing
      }
    </div>`;
  }

  private reject(gate: RunGate): void {
    const area = this.renderRoot.querySelector('vscode-textarea') as (HTMLElement & { value: string }) | null;
    const reason = area?.value.trim() ?? '';
    if (!reason) {
      this.notice = { text: 'A rejection needs a reason: say what should change.', error: true };
      return;
    }
    void this.send({ kind: 'reject', step: gate.step, ...(gate.task ? { task: gate.task } : {}), reason });
  }

  private renderBudget(run: RunView): TemplateResult {
    const amount = (bar: BudgetBarView, value: number) =>
      bar.dimension === 'usd' ? usd(value) : bar.dimension === 'tokens' ? tokens(value) : duration(value);
    return html`<div class="budgets" data-testid="budgets">
        ${run.budget.bars.map((bar) => {
          const fraction = bar.fraction;
          const cls = fraction === undefined ? 'nocap' : fraction >= 1 ? 'over' : fraction >= 0.8 ? 'near' : '';
          const width = fraction === undefined ? 0 : Math.min(1, fraction) * 100;
          return html`<span>${budgetWord(bar.dimension) === 'time' ? 'Wall time' : budgetWord(bar.dimension) === 'token' ? 'Tokens' : 'USD'}</span>
            ${
              fraction === undefined
                ? html`<span class="muted nocap" data-testid="budget-bar" data-dimension=${bar.dimension}>no cap</span>`
                : html`<div class="bar ${cls}" data-testid="budget-bar" data-dimension=${bar.dimension} role="meter" aria-valuenow=${Math.round(width)} aria-valuemin="0" aria-valuemax="100"><div ${place({ width: `${width}%` })}></div></div>`
            }
            <span class="muted">${amount(bar, bar.spent)}${bar.cap !== undefined ? ` of ${amount(bar, bar.cap)} · ${Math.round((fraction ?? 0) * 100)}%` : ''}</span>`;
        })}
      </div>
      ${run.budget.state === 'ok' ? nothing : html`<div class="rationale ${run.budget.state}" data-testid="budget-verdict">${run.budget.state === 'stop' ? 'Stopped' : 'Degraded'}: ${run.budget.rationale}</div>`}`;
  }

  private layoutOf(run: RunView): Layout {
    const layers = Math.max(1, ...run.tasks.map((t) => t.depth + 1));
    const fit = Math.floor((this.available - 2 * PAD - 2 + COL_GAP) / layers - COL_GAP);
    // Narrow the boxes only as far as names stay readable; past that the DAG scrolls at a comfortable width.
    const nodeW = fit >= NODE_W_MIN ? Math.min(NODE_W_MAX, fit) : NODE_W_SCROLLING;
    if (this.cached?.tasks !== run.tasks || this.cached.width !== nodeW)
      this.cached = { tasks: run.tasks, width: nodeW, layout: layout(run.tasks, nodeW) };
    return this.cached.layout;
  }

  private renderDag(run: RunView): TemplateResult {
    const placed = this.layoutOf(run);
    const selected = this.selected;
    const faded = placed.edges.length > EDGES_FADED;
    const edges = placed.edges.map((edge) => {
      const a = placed.nodes.get(edge.from);
      const b = placed.nodes.get(edge.to);
      if (!a || !b) return nothing;
      const x1 = a.x + placed.nodeW;
      const y1 = a.y + NODE_H / 2;
      const x2 = b.x;
      const y2 = b.y + NODE_H / 2;
      const mid = (x1 + x2) / 2;
      const lit = selected !== undefined && (edge.from === selected || edge.to === selected);
      const opacity = lit ? 1 : faded ? (selected ? 0.08 : 0.18) : 0.5;
      return svg`<path d="M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}" fill="none"
        stroke=${lit ? 'var(--vscode-focusBorder)' : 'var(--vscode-descriptionForeground)'} stroke-width=${lit ? 2 : 1}
        stroke-dasharray=${edge.kind === 'dep' ? 'none' : '4 3'} opacity=${opacity}></path>`;
    });
    return html`<div class="legend muted">
        <span>Columns are dependency depth; a task depends on the tasks it is joined to on its left.</span>
        <span>Dashed: a hedge or a repair.</span>
      </div>
      <div class="dag" data-testid="dag">
        <div class="canvas" ${place({ width: `${placed.width}px`, height: `${placed.height}px` })}>
          <svg width=${placed.width} height=${placed.height} viewBox="0 0 ${placed.width} ${placed.height}" aria-hidden="true">${edges}</svg>
          ${[...placed.nodes.values()].map(
            ({ task, x, y }) => html`<button class="node ${task.gate ? 'gate' : task.status} ${task.id === selected ? 'selected' : ''}"
              data-node=${task.id} data-testid="dag-node" ${place({ left: `${x}px`, top: `${y}px`, width: `${placed.nodeW}px` })}
              title="${task.id} — ${task.status}${task.workerClass ? ` · ${task.workerClass}` : ''} · ${usd(task.usd)}${task.dependsOn.length ? `\ndepends on ${task.dependsOn.join(', ')}` : ''}"
              @click=${() => this.select(task.id)}>
              <vscode-icon name=${task.gate ? 'shield' : STATUS_ICON[task.status]} class="icon-${task.status}" size="14"></vscode-icon>
              <span class="name">${middleEllipsis(task.id, Math.max(8, Math.floor((placed.nodeW - (task.usd > 0 ? 80 : 40)) / 7.2)))}</span>
              ${task.usd > 0 ? html`<span class="cost">${usd(task.usd)}</span>` : nothing}
            </button>`,
          )}
        </div>
      </div>`;
  }

  private renderDetail(run: RunView): TemplateResult | typeof nothing {
    const task = run.tasks.find((t) => t.id === this.selected);
    if (!task) return run.tasks.length ? html`<p class="muted">Select a task to see its details.</p>` : nothing;
    const gate = run.gates.find((g) => g.status === 'pending' && g.task === task.id);
    const retryable = run.status !== 'killed' && (task.status === 'failed' || task.status === 'cancelled');
    const disabled = this.busy || !this.state?.trusted;
    const branch = task.branch;
    return html`<div class="detail" data-testid="task-detail" data-task=${task.id}>
      <strong class="task-name">${task.id}</strong> <span class="muted">(${task.type})</span>
      <dl>
        <dt>Status</dt><dd data-testid="detail-status">${task.status}${task.stage ? ` · ${task.stage}` : ''}${task.gate ? ` · awaiting ${task.gate} approval` : ''}</dd>
        <dt>Worker class</dt><dd>${task.workerClass ?? 'not routed yet'}</dd>
        <dt>Cost</dt><dd>${usd(task.usd)} · ${tokens(task.tokens)} tokens</dd>
        <dt>Attempts</dt><dd>${task.attempts}</dd>
        ${task.row ? html`<dt>Progress row</dt><dd>${task.row}</dd>` : nothing}
        ${task.dependsOn.length ? html`<dt>Depends on</dt><dd>${task.dependsOn.map((d, i) => html`${i ? ', ' : ''}<span class="link" @click=${() => this.select(d)}>${d}</span>`)}</dd>` : nothing}
        ${task.hedgeOf ? html`<dt>Hedges</dt><dd><span class="link" @click=${() => this.select(task.hedgeOf as string)}>${task.hedgeOf}</span></dd>` : nothing}
        ${task.repairOf ? html`<dt>Repairs</dt><dd><span class="link" @click=${() => this.select(task.repairOf as string)}>${task.repairOf}</span></dd>` : nothing}
        ${branch ? html`<dt>Branch</dt><dd><span class="link" title="Copy the branch name" @click=${() => this.send({ kind: 'openBranch', branch })}>${branch}</span></dd>` : nothing}
        ${task.error ? html`<dt>Error</dt><dd><pre class="error" data-testid="detail-error">${task.error}</pre></dd>` : nothing}
      </dl>
      <div class="actions">
        ${retryable ? html`<vscode-button data-testid="retry" ?disabled=${disabled} @click=${() => this.send({ kind: 'retry', task: task.id })}>Retry task</vscode-button>` : nothing}
      </div>
      ${gate ? html`<div class="gates">${this.renderGate(gate)}</div>` : nothing}
    </div>`;
  }

  private renderTable(run: RunView): TemplateResult {
    const rows = [...run.tasks].sort((a, b) => a.depth - b.depth);
    return html`<h2>Every task</h2>
      <table data-testid="task-table">
        <colgroup><col class="w-task"><col class="w-status"><col class="w-class"><col class="w-num"><col class="w-num"><col class="w-tries"><col class="w-rest"></colgroup>
        <tr><th>Task</th><th>Status</th><th>Class</th><th class="num">Cost</th><th class="num">Tokens</th><th class="num">Tries</th><th>Branch / error</th></tr>
        ${rows.map(
          (
            t,
          ) => html`<tr class="task ${t.id === this.selected ? 'selected' : ''}" data-testid="task-row" data-task=${t.id} @click=${() => this.select(t.id)}>
            <td title=${t.id}><vscode-icon name=${STATUS_ICON[t.status]} class="icon-${t.status}" size="14"></vscode-icon> ${middleEllipsis(t.id, 44)}</td>
            <td title=${t.stage ? `${t.status} · ${t.stage}` : t.status}>${t.gate ? `awaiting ${t.gate}` : t.status}</td>
            <td title=${t.workerClass ?? ''}>${t.workerClass ?? '—'}</td>
            <td class="num">${usd(t.usd)}</td><td class="num">${tokens(t.tokens)}</td><td class="num">${t.attempts}</td>
            <td title=${t.error ?? t.branch ?? ''} class=${t.error ? 'icon-failed' : ''}>${t.error ? (t.error.split('\n')[0] ?? '') : (t.branch ?? '')}</td>
          </tr>`,
        )}
      </table>`;
  }

  private renderTimeline(run: RunView, now: number): TemplateResult {
    if (!run.decisions.length) return html`<p class="empty">No decisions yet.</p>`;
    const newest = [...run.decisions].reverse();
    const shown = newest.slice(0, DECISIONS_SHOWN);
    return html`<ol class="timeline" data-testid="timeline">
        ${shown.map(
          (d) => html`<li data-testid="decision">
            <span class="muted when" title=${new Date(d.at).toLocaleString()}>${duration(Math.max(0, now - d.at))} ago</span>
            <span class="kind" title=${d.kind}>${d.kind}</span>
            <span class="why">${d.task ? html`<span class="link" @click=${() => this.select(d.task as string)}>${d.task}</span>${d.worker_class ? ` on ${d.worker_class}` : ''}: ` : d.worker_class ? `${d.worker_class}: ` : ''}${d.rationale}</span>
          </li>`,
        )}
      </ol>
      ${newest.length > shown.length ? html`<p class="muted">and ${newest.length - shown.length} older decisions: <code>build-master run show ${run.id}</code></p>` : nothing}`;
  }
}

customElements.define('build-master-run', BuildMasterRun);
document.body.append(document.createElement('build-master-run'));

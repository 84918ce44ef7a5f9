// The cockpit's root service: one repository, its session (the same store, lock
// and controller the CLI uses), the model every view renders, and the
// controller loop. Views subscribe to onDidChange; nothing else holds state.
import { watch, type FSWatcher } from 'node:fs';
import * as vscode from 'vscode';
import { initialState } from '../core/decide';
import { computeKpis } from '../core/kpi';
import type { OperatorCommand } from '../core/operator';
import { defaultPolicy } from '../core/policy/parse';
import { parseDuration } from '../core/policy/duration';
import { runCycle, type CycleReport } from '../controller/cycle';
import { LockedError } from '../controller/lock';
import { operate, type OperatorOutcome } from '../controller/operate';
import type { RunOpOutcome } from '../controller/runs';
import {
  findPolicyFile,
  lockSession,
  openSession,
  PolicyError,
  RepoError,
  sessionEvents,
  type LogEvent,
  type Session,
} from '../controller/session';
import { statusDocument } from '../controller/status';
import type { CockpitModel } from '../protocol/model';
import type { GitHubBudget } from '../protocol/budget';
import { readBudget } from '../github/budget';
import { runKpisView, runViews } from '../protocol/runView';
import { systemClock, type Clock } from '../ports';

const ACTIVITY_SHOWN = 200;

export interface CockpitOptions {
  folder: string | undefined;
  log: vscode.LogOutputChannel;
  /** The GitHub token for `buildMaster.forge: github` (VS Code sign-in or SecretStorage), fetched without prompting. */
  githubToken?: () => Promise<string | undefined>;
  /** The time the model and the controller read (tests set it; the cycle's decisions use the same clock). */
  clock?: Clock;
}

export class Cockpit implements vscode.Disposable {
  private session: Session | undefined;
  private policyText: string | undefined;
  private current: CockpitModel;
  private readonly changed = new vscode.EventEmitter<CockpitModel>();
  readonly onDidChange = this.changed.event;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private syncing: Promise<CycleReport | undefined> | undefined;
  private lastError: string | undefined;
  private watcher: FSWatcher | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly disposables: { dispose(): unknown }[] = [];
  private readonly clock: Clock;

  constructor(private readonly options: CockpitOptions) {
    this.clock = options.clock ?? systemClock;
    this.current = emptyModel(this.clock.now(), options.folder ? undefined : 'Open a folder that is a git repository to use Build Master.');
    this.disposables.push(
      this.changed,
      vscode.workspace.onDidGrantWorkspaceTrust(() => void this.refresh()),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration('buildMaster')) this.applySettings();
      }),
    );
  }

  get model(): CockpitModel {
    return this.current;
  }

  get trusted(): boolean {
    return vscode.workspace.isTrusted;
  }

  get repoRoot(): string | undefined {
    return this.session?.repo.root;
  }

  /** Opens the session (first call) and starts the loop if the settings ask for it. */
  async start(): Promise<void> {
    await this.refresh();
    this.applySettings();
  }

  private settings() {
    const config = vscode.workspace.getConfiguration('buildMaster');
    const intervalText = config.get<string>('interval', '60s');
    const interval = parseDuration(intervalText);
    if (interval === undefined || interval < 5_000)
      this.options.log.warn(`buildMaster.interval "${intervalText}" is not a duration of at least 5s; using 60s`);
    return {
      forge: config.get<'local' | 'github'>('forge', 'local'),
      interval: interval !== undefined && interval >= 5_000 ? interval : 60_000,
      autoStart: config.get<boolean>('autoStart', false),
    };
  }

  private applySettings(): void {
    const { autoStart } = this.settings();
    if (autoStart && !this.running) this.startLoop();
    else if (!autoStart && this.running) this.stopLoop();
    else if (this.running) this.schedule();
    void this.refresh();
  }

  startLoop(): void {
    if (!this.trusted) {
      this.options.log.warn(
        '[controller] not started: this workspace is not trusted; Build Master runs no commands and merges nothing here',
      );
      return;
    }
    this.running = true;
    this.options.log.info(`[controller] started: a cycle every ${this.settings().interval / 1000}s`);
    this.schedule(0);
  }

  stopLoop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.options.log.info('[controller] stopped');
    this.publish();
  }

  private schedule(delay = this.settings().interval): void {
    if (this.timer) clearTimeout(this.timer);
    if (!this.running) return;
    this.timer = setTimeout(() => {
      void this.sync().finally(() => this.schedule());
    }, delay);
  }

  /** Drops the open session (the GitHub credential changed): the next refresh opens a new one. */
  forgetSession(): void {
    this.session = undefined;
    this.policyText = undefined;
  }

  /** Opens (or reopens, after a policy change) the session; undefined when the repository cannot be used. */
  private async ensureSession(): Promise<Session | undefined> {
    const folder = this.options.folder;
    if (!folder) return undefined;
    // Reopen only when the policy file changed: refreshes run on every store write.
    const policyText = findPolicyFile(this.session?.repo.root ?? folder).text;
    if (this.session && policyText === this.policyText) return this.session;
    this.policyText = policyText;
    try {
      const forge = this.settings().forge;
      // GitHub mode takes the token from VS Code (GITHUB_TOKEN in the environment remains the fallback). It is never logged.
      const token = forge === 'github' ? await this.options.githubToken?.() : undefined;
      const fresh = await openSession(folder, {
        forge,
        clock: this.clock,
        ...(token ? { github: { token } } : {}),
        log: (m) => this.options.log.info(`[controller] ${m}`),
      });
      if (!this.session || this.session.repo.stateDir !== fresh.repo.stateDir) this.watchStore(fresh.repo.stateDir);
      this.session = fresh;
      this.current.policyProblems = [];
      this.current.unavailable = undefined;
      return fresh;
    } catch (error) {
      if (error instanceof PolicyError) {
        this.current.policyProblems = error.problems.map(({ file, line, column, message, hint }) => ({
          file,
          line,
          column,
          message,
          hint,
        }));
        this.current.unavailable = undefined;
        this.session = undefined;
        return undefined;
      }
      if (error instanceof RepoError) {
        this.current.unavailable = `${error.message}. Build Master needs a git repository.`;
        this.session = undefined;
        return undefined;
      }
      this.current.unavailable = (error as Error).message;
      this.options.log.error(`[controller] cannot open ${folder}: ${(error as Error).message}`);
      return undefined;
    }
  }

  /** Re-reads the store and the policy and publishes a new model. Cheap: no git, no network. */
  async refresh(): Promise<CockpitModel> {
    const session = await this.ensureSession();
    if (session) {
      try {
        this.current = this.build(session, await sessionEvents(session, this.syncing !== undefined));
      } catch (error) {
        this.current.unavailable = (error as Error).message;
      }
    } else {
      const keep = { policyProblems: this.current.policyProblems, unavailable: this.current.unavailable };
      this.current = { ...emptyModel(this.clock.now(), keep.unavailable), policyProblems: keep.policyProblems };
    }
    this.publish();
    return this.current;
  }

  private build(session: Session, events: LogEvent[]): CockpitModel {
    const now = this.clock.now();
    const { store, policy } = session;
    const state = store.data.state ?? initialState(policy, now);
    const last = store.data.lastCycle;
    const doc = statusDocument(state, last?.queues ?? {}, last?.decisions ?? []);
    return {
      repo: session.repo.root,
      ...(session.policyFile ? { policyFile: session.policyFile } : {}),
      policyProblems: [],
      forge: session.forge.kind,
      target: policy.target,
      global: { state: state.global.state, reason: state.global.reason, since: state.global.since },
      lanes: doc.lanes.map((lane) => ({
        ...lane,
        state: lane.state as CockpitModel['lanes'][number]['state'],
        operatorPaused: Boolean(state.lanes[lane.name]?.operatorPaused),
      })),
      incidents: doc.incidents,
      approvals: doc.approvals,
      activity: events.slice(-ACTIVITY_SHOWN).reverse(),
      kpis: computeKpis(events, store.data.seen, now, undefined, store.data.authored),
      runs: runViews(store.runs(), now),
      runKpis: runKpisView(store.runs()),
      ...(last ? { lastCycle: { cycle: last.cycle, at: last.at, outcome: last.outcome } } : {}),
      controller: this.controllerView(),
      ...githubBudgetOf(session),
      now,
    };
  }

  private controllerView(): CockpitModel['controller'] {
    return {
      running: this.running,
      syncing: this.syncing !== undefined,
      trusted: this.trusted,
      interval: this.settings().interval,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  private publish(): void {
    this.current = { ...this.current, controller: this.controllerView(), now: this.clock.now() };
    this.changed.fire(this.current);
  }

  /** The CLI (or another window) changed the store: show it. Debounced, since a cycle writes several times. */
  private watchStore(dir: string): void {
    this.watcher?.close();
    try {
      this.watcher = watch(dir, () => {
        if (this.refreshTimer) clearTimeout(this.refreshTimer);
        this.refreshTimer = setTimeout(() => void this.refresh(), 250);
      });
    } catch {
      this.watcher = undefined; // the directory appears with the first cycle; refresh() retries
    }
  }

  /** One controller cycle under the shared lock. Skips (with a log line) when the CLI holds the lock. */
  async sync(options: { dryRun?: boolean } = {}): Promise<CycleReport | undefined> {
    if (!this.trusted) throw new UntrustedError('run a cycle');
    if (this.syncing) return this.syncing;
    this.syncing = this.runOnce(options).finally(() => {
      this.syncing = undefined;
      void this.refresh();
    });
    this.publish();
    return this.syncing;
  }

  private async runOnce(options: { dryRun?: boolean }): Promise<CycleReport | undefined> {
    const session = await this.ensureSession();
    if (!session) {
      const why = this.current.policyProblems.length
        ? 'the policy file is invalid; fix the problems shown in the editor'
        : (this.current.unavailable ?? 'no repository');
      this.options.log.warn(`[controller] cycle skipped: ${why}`);
      this.lastError = why;
      return undefined;
    }
    const started = this.clock.now();
    let lock;
    try {
      lock = await lockSession(session, options.dryRun ? 'cockpit sync --dry-run' : 'cockpit sync', (m) =>
        this.options.log.info(`[controller] ${m}`),
      );
    } catch (error) {
      if (error instanceof LockedError) {
        this.options.log.info(`[controller] ${error.message}; skipping this cycle`);
        return undefined;
      }
      throw error;
    }
    try {
      const report = await runCycle(session.deps, options);
      const acted = report.actions.filter((a) => a.status === 'done').length;
      this.options.log.info(
        `[controller] cycle ${report.result.state.cycle}${options.dryRun ? ' (dry run)' : ''}: ${report.result.outcome.kind}, ${acted} action(s) in ${this.clock.now() - started} ms`,
      );
      for (const action of report.actions) {
        const line = `[controller] ${action.kind} ${action.status}: ${action.message}`;
        if (action.status === 'failed') this.options.log.warn(line);
        else this.options.log.info(line);
      }
      this.lastError = undefined;
      return report;
    } catch (error) {
      this.lastError = (error as Error).message;
      this.options.log.error(`[controller] cycle failed: ${(error as Error).stack ?? String(error)}`);
      throw error;
    } finally {
      lock.release();
    }
  }

  /** An operator command through the same path as the CLI's; logged, then shown. */
  async operate(command: OperatorCommand): Promise<OperatorOutcome> {
    if (!this.trusted) throw new UntrustedError(command.kind);
    const session = await this.ensureSession();
    if (!session)
      throw new Error(
        this.current.policyProblems.length ? 'the policy file is invalid; fix it first' : (this.current.unavailable ?? 'no repository'),
      );
    const outcome = await operate(session, command, (m) => this.options.log.info(`[operator] ${m}`));
    this.options.log.info(`[operator] ${command.kind}: ${outcome.decision.rationale}`);
    await this.refresh();
    return outcome;
  }

  /** A run command (kill, retry, a gated step) through controller/runs.ts, as the CLI's: under the lock, logged, then shown. */
  async operateRun(what: string, act: (session: Session, log: (message: string) => void) => Promise<RunOpOutcome>): Promise<RunOpOutcome> {
    if (!this.trusted) throw new UntrustedError(what);
    const session = await this.ensureSession();
    if (!session)
      throw new Error(
        this.current.policyProblems.length ? 'the policy file is invalid; fix it first' : (this.current.unavailable ?? 'no repository'),
      );
    try {
      const outcome = await act(session, (m) => this.options.log.info(`[operator] ${m}`));
      this.options.log.info(`[operator] ${outcome.message}`);
      return outcome;
    } finally {
      // Another process may have changed the store under the lock: show what is there either way.
      await this.refresh();
    }
  }

  /** The open session, for panels that read diffs and check results. */
  async openedSession(): Promise<Session | undefined> {
    return this.session ?? this.ensureSession();
  }

  dispose(): void {
    this.stopLoopQuietly();
    this.watcher?.close();
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    for (const d of this.disposables) d.dispose();
  }

  private stopLoopQuietly(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
  }
}

export class UntrustedError extends Error {
  constructor(what: string) {
    super(
      `Build Master does not ${what} in an untrusted workspace: it would run the repository's check commands. Trust the workspace to enable it.`,
    );
  }
}

function emptyModel(now: number, unavailable?: string): CockpitModel {
  const policy = defaultPolicy();
  const state = initialState(policy, now);
  return {
    policyProblems: [],
    ...(unavailable ? { unavailable } : {}),
    forge: 'local',
    target: policy.target,
    global: { state: state.global.state, reason: state.global.reason, since: state.global.since },
    lanes: [],
    incidents: [],
    approvals: [],
    activity: [],
    kpis: computeKpis([], {}, now),
    runs: [],
    runKpis: runKpisView([]),
    controller: { running: false, syncing: false, trusted: vscode.workspace.isTrusted, interval: 60_000 },
    now,
  };
}

/** GitHub mode's budget file beside the store (a small read, no network). */
function githubBudgetOf(session: Session): { githubBudget?: GitHubBudget } {
  if (session.forge.kind !== 'github') return {};
  const budget = readBudget(session.repo.stateDir);
  return budget ? { githubBudget: budget } : {};
}

// The build-master command. Thin: parse arguments, call the controller, print.
import { appendFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { OperatorCommand } from '../core/operator';
import { operate, operateOnRef } from '../controller/operate';
import { parseDuration } from '../core/policy/duration';
import { LockedError } from '../controller/lock';
import { observe, runCycle } from '../controller/cycle';
import { whyNotAChange } from '../forge/local/forge';
import { readBudget } from '../github/budget';
import { budgetLine } from '../protocol/budget';
import { lockSession, openSession, PolicyError, stateRefStore, type Session, type SessionOptions } from '../controller/session';
import { RepoError } from '../controller/session';
import { InputError } from '../ports';
import { runDemo } from './demo';
import { planRun, renderPlan } from './plan';
import { driveRun, planTicket, renderRun, renderRuns, renderRunsLine, renderTicketPlan, runsDocument, runsSummary, startRun } from './runs';
import { decideRunStep, killRun, retryTask } from '../controller/runs';
import type { RunStep } from '../core/model';
import type { Run } from '../core/runs/model';
import {
  renderCheckFailures,
  renderDecisions,
  renderEvents,
  renderExplain,
  renderFlakes,
  renderIncidentExplain,
  renderStatus,
  statusDocument,
} from './render';
import { checkFailures, flakesInWindow, isRed } from '../protocol/failures';
import { formatProblem, UsageError, validateFile } from './validate';
import { closest } from '../core/policy/suggest';
import { decide, initialState } from '../core/decide';
import { judgeChecks } from '../core/gate';
import { short } from '../core/text';
import { userInfo } from 'node:os';
import { takeGitHubToken } from '../process/env';
import { SECRET_ENV, serveWebhooks } from '../controller/serve';

export const EXIT = { ok: 0, failure: 1, badInput: 2, globalHold: 3 } as const;

const USAGE = `usage: build-master <command> [--repo DIR] [--forge local|github] [--json]

commands:
  sync [--dry-run]              one cycle: observe, decide, act, record
  watch [--interval 60s]        cycle until SIGINT/SIGTERM (the cycle in flight finishes)
  serve --webhooks [--port 8787] [--host 127.0.0.1] [--path /webhooks] [--resync 10m] [--quiet 2s] [--recheck 30s]
                                GitHub mode: cycle on webhook deliveries (secret in BUILDMASTER_WEBHOOK_SECRET)
  status                        lanes, incidents, queue, approvals, global state
  explain <change|incident>     every gate reason for one change, or an incident's failing tests
  approve <id>                  approve a pending approval
  reject <id> --reason TEXT     reject a pending approval
  hold --reason TEXT            hold every merge (the kill switch)
  release --ack                 release a global hold (an owner's acknowledgment)
  pause <lane> [--reason TEXT]  stop a lane
  resume <lane>                 resume a lane (verified by green target checks)
  log [--since 1h|ISO-DATE]     the decision and action log
  validate [file]               check a policy file; exit 2 on any problem
  demo [--dir DIR]              a sandbox repository through a full incident lifecycle
  run --ticket FILE|TEXT | --progress FILE [--profile NAME] [--cap 200k-tokens] [--usd 50] [--wall 2h]
                                plan a run and drive its agents until it merges, stops or needs approval
  run --progress FILE --plan-only [--agents N] [--max-phase N]
                                which rows of a progress file would run now, and why the others wait
  run --resume ID               drive a run again (after an approval, a retry or a stopped process)
  run show ID                   a run's tasks, gates, budget and decisions
  runs                          every run with its status and cost
  approve --run ID --step STEP [--task T]   approve a run's gated step (plan, apply, execute, merge, deploy)
  kill --run ID                 the run's kill switch: its workers stop, their worktrees are removed
  retry TASK --run ID           a failed or cancelled task runs again

--from-ref (status, log, approve, reject, hold, release, pause, resume): the state the GitHub Action
keeps on the buildmaster/state branch (or --state-ref NAME) instead of this clone's; needs GITHUB_TOKEN

exit codes: 0 ok, 1 runtime failure, 2 bad input, 3 global hold in force (sync, status)`;

export interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
}

export interface RunOptions {
  /** Test hook passed to the controller: called at each action point. */
  checkpoint?: (point: string) => void;
  /** Resolves when a long-running command (watch) should stop. */
  stopSignal?: Promise<void>;
}

export async function run(argv: string[], io: Output, options: RunOptions = {}): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        repo: { type: 'string' },
        forge: { type: 'string' },
        json: { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        interval: { type: 'string' },
        reason: { type: 'string' },
        ack: { type: 'boolean', default: false },
        since: { type: 'string' },
        dir: { type: 'string' },
        cycles: { type: 'string' },
        progress: { type: 'string' },
        'plan-only': { type: 'boolean', default: false },
        agents: { type: 'string' },
        'max-phase': { type: 'string' },
        ticket: { type: 'string' },
        profile: { type: 'string' },
        cap: { type: 'string' },
        usd: { type: 'string' },
        wall: { type: 'string' },
        template: { type: 'string' },
        resume: { type: 'string' },
        run: { type: 'string' },
        step: { type: 'string' },
        task: { type: 'string' },
        webhooks: { type: 'boolean', default: false },
        port: { type: 'string' },
        host: { type: 'string' },
        path: { type: 'string' },
        resync: { type: 'string' },
        quiet: { type: 'string' },
        recheck: { type: 'string' },
        'from-ref': { type: 'boolean', default: false },
        'state-ref': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    io.err(`build-master: ${argumentProblem(error as Error & { code?: string }, argv)}\n\n${usageFor(argv)}`);
    return EXIT.badInput;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    (values.help ? io.out : io.err)(USAGE);
    return values.help ? EXIT.ok : EXIT.badInput;
  }
  const repoDir = resolve(values.repo ?? process.cwd());
  const forge = values.forge ?? 'local';
  const json = values.json;
  const log = (message: string) => io.err(`build-master: ${message}`);
  const print = (doc: unknown, text: string) => io.out(json ? JSON.stringify(doc, null, 2) : text);
  const by = process.env.USER ?? userInfo().username;

  try {
    if (forge !== 'local' && forge !== 'github') throw new UsageError(`--forge must be local or github, not "${forge}"`);
    const sessionOptions: SessionOptions = { forge, log, ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}) };
    const session = async () => openSession(repoDir, sessionOptions);
    switch (command) {
      case 'validate': {
        const outcome = validateFile(repoDir, rest[0]);
        if (!json && outcome.warnings.length) io.err(outcome.warnings.join('\n'));
        if (json)
          io.out(
            JSON.stringify(
              { file: outcome.file, valid: outcome.problems.length === 0, problems: outcome.problems, warnings: outcome.warnings },
              null,
              2,
            ),
          );
        else if (outcome.problems.length === 0)
          io.out(outcome.exists ? `${outcome.file}: valid` : `no policy file in ${repoDir}: every key takes its default (valid)`);
        else {
          io.err(outcome.problems.map(formatProblem).join('\n'));
          io.err(`${outcome.problems.length} problem(s) in ${outcome.file}`);
        }
        return outcome.problems.length === 0 ? EXIT.ok : EXIT.badInput;
      }
      case 'sync':
        return await sync(await session(), values['dry-run'], json, io, log);
      case 'watch': {
        const interval = parseDuration(values.interval ?? '60s');
        if (interval === undefined) throw new UsageError(`--interval "${values.interval}" is not a duration (e.g. 30s, 5m)`);
        // A cycle runs git and checks: back to back they would keep the machine (and the lock) busy.
        if (interval < 1000) throw new UsageError(`--interval ${values.interval} is too short: at least 1s (e.g. 30s, 5m)`);
        const cycles = values.cycles === undefined ? undefined : Number(values.cycles);
        if (cycles !== undefined && !(Number.isInteger(cycles) && cycles > 0))
          throw new UsageError(`--cycles "${values.cycles}" is not a positive whole number`);
        // Each cycle reopens the session exactly as the first was opened (same forge, same options).
        return await watch(await session(), session, interval, json, io, log, options.stopSignal, cycles);
      }
      case 'serve':
        return await serve(values, forge, session, io, log, options.stopSignal);
      case 'status': {
        const s = await session();
        // --from-ref: the state the GitHub Action keeps on the state branch, not this clone's.
        const store = values['from-ref'] ? await stateRefStore(s, values['state-ref']) : s.store;
        const state = store.data.state ?? initialState(s.policy, Date.now());
        const last = store.data.lastCycle;
        const doc = statusDocument(state, last?.queues ?? {}, last?.decisions ?? [], {
          ...(last ? { outcome: last.outcome, at: last.at } : {}),
        });
        const window = s.policy.incidents.flaky.window;
        const flakes = flakesInWindow(state.flakes, window, Date.now());
        const flaky = renderFlakes(flakes, window);
        const runs = store.runs();
        const runsLine = renderRunsLine(runs);
        // GitHub mode's rate-limit budget, as the last cycle's answers reported it.
        const budget = readBudget(s.repo.stateDir);
        const budgetText = budgetLine(budget);
        print(
          { ...doc, flakes, runs: runsSummary(runs), ...(budget ? { github: { budget } } : {}) },
          `${renderStatus(doc, Date.now())}${flaky ? `\n\n${flaky}` : ''}${runsLine ? `\n\n${runsLine}` : ''}${budgetText ? `\n\n${budgetText}` : ''}${last ? `\n\nas of cycle ${last.cycle} at ${new Date(last.at).toISOString()}` : '\n\nno cycle has run yet: build-master sync'}`,
        );
        return state.global.state === 'global-hold' ? EXIT.globalHold : EXIT.ok;
      }
      case 'explain': {
        const given = rest[0];
        if (!given) throw new UsageError('explain needs a change or an incident: build-master explain <change|incident>');
        return await explain(await session(), given, json, print);
      }
      case 'approve':
      case 'reject':
      case 'hold':
      case 'release':
      case 'pause':
      case 'resume': {
        if ((command === 'approve' || command === 'reject') && values.run !== undefined) {
          const step = runStepOf(values.step, command);
          const verdict =
            command === 'approve' ? ({ approve: true } as const) : { approve: false as const, reason: needReason(values.reason) };
          const outcome = await decideRunStep(await session(), values.run, step, verdict, by, log, values.task);
          print(outcome, `${outcome.message}\ncontinue the run: build-master run --resume ${values.run}`);
          return EXIT.ok;
        }
        const operatorCommand = toOperator(command, rest, values, by);
        // --from-ref: the command goes to the state the GitHub Action keeps, which its next run acts on.
        const outcome = values['from-ref']
          ? await operateOnRef(await session(), values['state-ref'], operatorCommand, log)
          : await operate(await session(), operatorCommand, log);
        print(
          outcome,
          `${outcome.decision.rationale}\n${values['from-ref'] ? 'saved on the state branch: the Action’s next run acts on it' : 'the next sync acts on it'}`,
        );
        return EXIT.ok;
      }
      case 'log': {
        const s = await session();
        const store = values['from-ref'] ? await stateRefStore(s, values['state-ref']) : s.store;
        const since = values.since ? sinceOf(values.since) : 0;
        const events = store.readEvents().filter((e) => e.at >= since);
        print({ events }, renderEvents(events, store.data.state?.incidents ?? {}));
        return EXIT.ok;
      }
      case 'demo':
        return await runDemo({ dir: values.dir, json, io });
      case 'runs': {
        const s = await session();
        const runs = s.store.runs();
        print(runsDocument(runs), renderRuns(runs));
        return EXIT.ok;
      }
      case 'kill': {
        if (values.run === undefined)
          throw new UsageError('kill needs a run: build-master kill --run ID (to stop every merge, use build-master hold)');
        const outcome = await killRun(await session(), values.run, by, log);
        print(outcome, outcome.message);
        return EXIT.ok;
      }
      case 'retry': {
        const target = rest[0];
        if (!target) throw new UsageError('retry needs a task: build-master retry TASK --run ID (or RUN/TASK)');
        const [runId, taskId] = target.includes('/') ? (target.split('/', 2) as [string, string]) : [values.run, target];
        if (!runId) throw new UsageError(`retry ${target}: name its run with --run ID or write RUN/TASK`);
        const outcome = await retryTask(await session(), runId, taskId, by, log);
        print(outcome, `${outcome.message}\ncontinue the run: build-master run --resume ${runId}`);
        return EXIT.ok;
      }
      case 'run': {
        if (rest[0] === 'show') {
          const id = rest[1];
          if (!id) throw new UsageError('run show needs a run id: build-master run show ID (build-master runs lists them)');
          const s = await session();
          const found = s.store.run(id);
          if (!found) throw new InputError(`no run "${id}": build-master runs lists them`);
          print({ run: found }, renderRun(found, Date.now()));
          return EXIT.ok;
        }
        if (rest.length > 0)
          throw new UsageError(
            `run takes no "${rest[0]}": build-master run --ticket FILE|TEXT, run --progress FILE, run --resume ID or run show ID`,
          );
        if (!values['plan-only'] && (values.ticket !== undefined || values.progress !== undefined || values.resume !== undefined))
          return await driveFromCli(await session(), values, by, log, print, io, options);
        if (values['plan-only'] && values.ticket !== undefined) {
          const preview = await planTicket(await session(), { cwd: process.cwd(), ticket: values.ticket, template: values.template });
          print(preview, renderTicketPlan(preview));
          return EXIT.ok;
        }
        const plan = planRun({
          cwd: process.cwd(),
          progress: values.progress,
          planOnly: values['plan-only'],
          agents: values.agents,
          maxPhase: values['max-phase'],
        });
        print(plan, renderPlan(plan));
        return EXIT.ok;
      }
      default:
        throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
    }
  } catch (error) {
    if (error instanceof PolicyError) {
      io.err(error.problems.map(formatProblem).join('\n'));
      io.err(`build-master: ${error.message}`);
      return EXIT.badInput;
    }
    if (error instanceof UsageError || error instanceof InputError || error instanceof RepoError) {
      io.err(`build-master: ${error.message}`);
      return EXIT.badInput;
    }
    if (error instanceof LockedError) {
      io.err(`build-master: ${error.message}`);
      return EXIT.failure;
    }
    io.err(`build-master: ${(error as Error).stack ?? String(error)}`);
    return EXIT.failure;
  }
}

/** What `watch` printed last, so that a cycle that changed nothing prints one line, not the whole table again. */
interface Shown {
  state?: string;
}

async function sync(s: Session, dryRun: boolean, json: boolean, io: Output, log: (m: string) => void, shown?: Shown): Promise<number> {
  const lock = await lockSession(s, dryRun ? 'sync --dry-run' : 'sync', log);
  try {
    const report = await runCycle(s.deps, { dryRun });
    const { state, decisions, queues, outcome } = report.result;
    const doc = statusDocument(state, queues, decisions, { actions: report.actions, outcome, at: Date.now() });
    // The table is the state after the cycle acted: a change it merged is no longer queued.
    const after = statusDocument(state, report.queuesAfter ?? queues, decisions, { actions: report.actions, outcome, at: Date.now() });
    // The state without the lanes' ages (which change every cycle): what watch compares with what it last printed.
    const seen = `${renderStatus(after, 0).replace(/^(\S+\s+\S+ \S+) \S+/gm, '$1')}\n${outcome.kind} — ${outcome.rationale}`;
    const acted = decisions.some((d) => d.kind !== 'wait');
    if (!json && shown && !acted && shown.state === seen) io.out(`cycle ${state.cycle} at ${new Date().toISOString()}: nothing changed`);
    else
      io.out(
        json
          ? JSON.stringify({ ...doc, dryRun }, null, 2)
          : `${dryRun ? '(dry run: nothing acted on or recorded)\n' : ''}${renderDecisions(decisions, report.actions)}\n\n${renderStatus(after, Date.now())}\n\noutcome: ${outcome.kind} — ${outcome.rationale}`,
      );
    if (shown) shown.state = seen;
    return state.global.state === 'global-hold' ? EXIT.globalHold : EXIT.ok;
  } finally {
    lock.release();
  }
}

async function watch(
  s: Session,
  reopen: () => Promise<Session>,
  interval: number,
  json: boolean,
  io: Output,
  log: (m: string) => void,
  stopSignal?: Promise<void>,
  maxCycles?: number,
): Promise<number> {
  let stopping = false;
  // Set by a signal handler between awaits: read through a call, which the type checker does not narrow.
  const stopRequested = () => stopping;
  let wake: () => void = () => undefined;
  const stop = () => {
    stopping = true;
    wake();
  };
  const onSignal = () => {
    log('stopping after the cycle in flight');
    stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  void stopSignal?.then(stop);
  try {
    const shown: Shown = {};
    for (let cycle = 0; !stopRequested() && (maxCycles === undefined || cycle < maxCycles); cycle++) {
      try {
        const code = await sync(s, false, json, io, log, shown);
        if (code === EXIT.globalHold) log('global hold in force: nothing merges until an owner runs build-master release --ack');
      } catch (error) {
        if (error instanceof LockedError) log(`${error.message}; skipping this cycle`);
        else if (error instanceof PolicyError) {
          io.err(error.problems.map(formatProblem).join('\n'));
          log('the policy file became invalid: no action until it is fixed');
        } else throw error;
      }
      if (stopRequested() || (maxCycles !== undefined && cycle + 1 >= maxCycles)) break;
      await new Promise<void>((done) => {
        const timer = setTimeout(done, interval);
        wake = () => {
          clearTimeout(timer);
          done();
        };
      });
      // The policy may have changed between cycles: reopen to pick it up.
      try {
        const fresh = await reopen();
        Object.assign(s, fresh);
      } catch (error) {
        if (!(error instanceof PolicyError)) throw error;
        io.err(error.problems.map(formatProblem).join('\n'));
        log('the policy file is invalid: waiting until it is fixed');
      }
    }
    return EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** `serve --webhooks`: GitHub mode driven by webhook deliveries (controller/serve.ts), until SIGINT/SIGTERM. */
async function serve(
  values: Record<string, string | boolean | undefined>,
  forge: string,
  session: () => Promise<Session>,
  io: Output,
  log: (m: string) => void,
  stopSignal?: Promise<void>,
): Promise<number> {
  const text = (key: string): string | undefined => (typeof values[key] === 'string' ? values[key] : undefined);
  if (values.webhooks !== true) throw new UsageError('serve needs --webhooks: build-master serve --webhooks --forge github');
  if (forge !== 'github') throw new UsageError('serve --webhooks needs GitHub mode: webhooks come from GitHub (add --forge github)');
  // Read once and taken out of the environment, like the token: nothing this process spawns inherits it.
  const secret = process.env[SECRET_ENV];
  Reflect.deleteProperty(process.env, SECRET_ENV);
  if (!secret)
    throw new UsageError(
      `serve --webhooks needs the webhook secret in ${SECRET_ENV} (the same secret as on the repository's or the App's webhook)`,
    );
  const port = Number(text('port') ?? '8787');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port "${text('port') ?? ''}" is not a port (0-65535)`);
  const path = text('path') ?? '/webhooks';
  if (!path.startsWith('/')) throw new UsageError(`--path "${path}" must start with / (e.g. /webhooks)`);
  const duration = (key: string, fallback: string, least: number): number => {
    const given = text(key) ?? fallback;
    const ms = parseDuration(given);
    if (ms === undefined) throw new UsageError(`--${key} "${given}" is not a duration (e.g. 2s, 10m)`);
    if (ms < least) throw new UsageError(`--${key} ${given} is too short: at least ${least} ms`);
    return ms;
  };
  const resyncMs = duration('resync', '10m', 1000);
  const quietMs = duration('quiet', '2s', 0);
  const recheckMs = duration('recheck', '30s', 0);
  let stop: () => void = () => undefined;
  const stopping = new Promise<void>((done) => (stop = done));
  const onSignal = () => stop();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  void stopSignal?.then(stop);
  try {
    await serveWebhooks(await session(), {
      secret,
      host: text('host') ?? '127.0.0.1',
      port,
      path,
      resyncMs,
      quietMs,
      maxDelayMs: Math.max(quietMs * 5, 10_000),
      recheckMs,
      open: session,
      announce: (url) => io.out(`listening on ${url}`),
      log,
      stop: stopping,
    });
    return EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * Every gate reason for one change, without the controller lock: the stored
 * state and a read-only look at the forge (no check runs, nothing saved), so
 * explain never waits on or blocks a running sync. What it cannot know yet
 * (checks that have not run) it says.
 */
async function explain(s: Session, given: string, json: boolean, print: (doc: unknown, text: string) => void): Promise<number> {
  // Pull requests are `#12`; a bare `12` (no shell quoting needed) names the same one.
  const id = s.forge.kind === 'github' && /^\d+$/.test(given) ? `#${given}` : given;
  const now = Date.now();
  const state = s.store.data.state ?? initialState(s.policy, now);
  // Incidents are in the stored state: no need to ask the forge.
  const incident = Object.hasOwn(state.incidents, given) ? state.incidents[given] : undefined;
  if (incident) {
    print({ incident }, renderIncidentExplain(incident, now));
    return EXIT.ok;
  }
  const snapshot = await observe(s.deps, { readOnly: true });
  const result = decide(snapshot, state, s.policy, now);
  for (const [lane, queue] of Object.entries(result.queues)) {
    const index = queue.findIndex((entry) => entry.change === id);
    if (index < 0) continue;
    const entry = queue[index] as (typeof queue)[number];
    const change = snapshot.changes.find((c) => c.id === id);
    const unknown: string[] = [];
    // A conflicting change's checks are not unknown: they do not run until it is restacked (its gate says so).
    const notRun = change?.mergeable === 'conflicting' ? [] : (change?.checks ?? []).filter((check) => check.conclusion === 'pending');
    if (notRun.length) {
      const names = notRun.map((check) => check.name).join(', ');
      unknown.push(
        s.forge.kind === 'local'
          ? `checks for this head (${short(entry.headSha)}) have not run yet: ${names}; the next sync runs them`
          : `checks for this head (${short(entry.headSha)}) have not finished: ${names}`,
      );
    }
    const target = snapshot.targetCommits[snapshot.targetCommits.length - 1];
    if (target && target.checks.some((check) => check.conclusion === 'pending'))
      unknown.push(`the checks of ${s.policy.target} ${short(target.sha)} have not finished or not run yet`);
    // Its red checks down to the failing tests, as the gate judged them: which another lane's open incident holds (known), which none does.
    const judged = change ? judgeChecks(s.policy, change, snapshot.forge, result.state.incidents) : undefined;
    const incidents = Object.values(result.state.incidents);
    const checks = (change?.checks ?? [])
      .filter((check) => isRed(check) && entry.requiredChecks.includes(check.name))
      .map((check) => {
        const view = checkFailures(check, incidents, judged?.required.lanes ?? [entry.lane], json ? Infinity : undefined);
        const verdict = judged?.verdicts.find((v) => v.name === check.name);
        // The gate's verdict is the truth; the view only explains it.
        if (verdict?.status === 'excused')
          return { ...view, status: 'excused' as const, excusedBy: { incident: verdict.incident.id, lanes: verdict.incident.lanes } };
        if (verdict?.status === 'failing' && view.status === 'excused') {
          const { excusedBy: _dropped, ...failing } = view;
          return { ...failing, status: 'failing' as const };
        }
        return view;
      });
    const failures = renderCheckFailures(checks);
    const blocked = snapshot.mergeBlocked ? [`merging waits: ${snapshot.mergeBlocked}`] : [];
    const last = s.store.data.lastCycle;
    const asOf = last
      ? `as of now (read-only: no check was run); the last sync was cycle ${last.cycle} at ${new Date(last.at).toISOString()}`
      : 'as of now (read-only: no check was run); no sync has run yet';
    const text = [
      renderExplain(entry, index + 1, result.state.lanes[lane]?.state ?? 'unknown'),
      ...blocked.map((line) => `  ${line}`),
      ...(failures ? ['', failures] : []),
      ...(unknown.length ? ['', 'not known yet:', ...unknown.map((line) => `  ${line}`)] : []),
      '',
      asOf,
    ].join('\n');
    print(
      {
        ...entry,
        ...(snapshot.mergeBlocked ? { mergeBlocked: snapshot.mergeBlocked } : {}),
        checks,
        unknown,
        lastCycle: last ? { cycle: last.cycle, at: last.at } : null,
      },
      text,
    );
    return EXIT.ok;
  }
  const open = snapshot.changes.map((c) => c.id);
  if (s.forge.kind === 'local') {
    const why = await whyNotAChange(s.repo, s.policy, id, snapshot.changes.find((c) => c.id === id)?.emptyOnTarget === true);
    if (why) throw new UsageError(why);
  }
  const incidents = Object.values(state.incidents)
    .filter((i) => i.status === 'open')
    .map((i) => i.id);
  throw new UsageError(
    `no open change "${id}"${open.length ? `; open changes: ${open.slice(0, 20).join(', ')}${open.length > 20 ? ', …' : ''}` : '; there are no open changes'}` +
      (incidents.length ? `; open incidents: ${incidents.slice(0, 20).join(', ')}${incidents.length > 20 ? ', …' : ''}` : ''),
  );
}

const OPTIONS = [
  'repo',
  'forge',
  'json',
  'dry-run',
  'interval',
  'reason',
  'ack',
  'since',
  'dir',
  'cycles',
  'progress',
  'plan-only',
  'agents',
  'max-phase',
  'webhooks',
  'port',
  'host',
  'path',
  'resync',
  'quiet',
  'recheck',
  'from-ref',
  'state-ref',
  'help',
];

/**
 * Node's argument parser speaks of positionals and `--` escapes; say what is
 * wrong with the option the user typed instead, with the closest real one.
 */
function argumentProblem(error: Error & { code?: string }, argv: readonly string[]): string {
  const option = /'(-{1,2}[^']+)'/.exec(error.message)?.[1];
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) {
    const guess = closest(option.replace(/^-+/, '').split('=')[0] ?? '', OPTIONS);
    return `unknown option ${option}${guess ? `; did you mean --${guess}?` : ''}`;
  }
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option) {
    const name = option.split(/[ =]/)[0] ?? option;
    return /ambiguous/.test(error.message)
      ? `${name} needs a value, and "${argv[argv.indexOf(name) + 1] ?? ''}" looks like an option; write ${name}=VALUE if you meant it`
      : `${name} needs a value`;
  }
  return error.message;
}

/** The usage line of the command the user typed, or the whole usage when there is none. */
function usageFor(argv: readonly string[]): string {
  const command = argv.find((arg) => !arg.startsWith('-'));
  const line = command ? USAGE.split('\n').find((l) => l.startsWith(`  ${command} `) || l.trim() === command) : undefined;
  return line ? `usage: build-master ${line.trim().replace(/\s{2,}/, '    # ')}\n(build-master --help lists every command)` : USAGE;
}

const RUN_STEPS: readonly RunStep[] = ['plan', 'apply', 'execute', 'merge', 'deploy'];

function runStepOf(step: string | undefined, command: string): RunStep {
  if (step === undefined)
    throw new UsageError(`${command} --run needs --step (${RUN_STEPS.join(', ')}): build-master ${command} --run ID --step apply`);
  const known = RUN_STEPS.find((s) => s === step);
  if (!known) throw new UsageError(`--step ${step} is not a run step: ${RUN_STEPS.join(', ')}`);
  return known;
}

function needReason(reason: string | undefined): string {
  if (!reason) throw new UsageError('reject needs a reason: build-master reject --run ID --step STEP --reason "…"');
  return reason;
}

/** `run --ticket/--progress` (a new run) or `run --resume ID`: drives it in the foreground until it settles or needs a person. */
async function driveFromCli(
  s: Session,
  values: Record<string, string | boolean | undefined>,
  by: string,
  log: (message: string) => void,
  print: (doc: unknown, text: string) => void,
  io: Output,
  options: RunOptions,
): Promise<number> {
  const text = (key: string): string | undefined => (typeof values[key] === 'string' ? values[key] : undefined);
  let run: Run;
  if (text('resume') !== undefined) {
    const id = text('resume') ?? '';
    const found = s.store.run(id);
    if (!found) throw new InputError(`no run "${id}": build-master runs lists them`);
    if (found.status === 'completed' || found.status === 'killed')
      throw new InputError(`run ${id} is ${found.status}; nothing to resume${found.status === 'killed' ? ' (start a new run)' : ''}`);
    run = found;
  } else {
    run = await startRun(
      s,
      {
        cwd: process.cwd(),
        ticket: text('ticket'),
        progress: text('progress'),
        profile: text('profile'),
        cap: text('cap'),
        usd: text('usd'),
        wall: text('wall'),
        template: text('template'),
        maxPhase: text('max-phase'),
      },
      by,
      log,
    );
    io.err(`build-master: run ${run.id} started: ${run.tasks.length} task(s) (${run.tasks.map((t) => t.id).join(', ')})`);
  }
  let stop: () => void = () => undefined;
  const stopping = new Promise<void>((done) => (stop = done));
  const onSignal = () => {
    log('stopping the run: its workers stop now, build-master run --resume picks it up');
    stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  void options.stopSignal?.then(stop);
  try {
    const final = await driveRun(s, run.id, {
      by,
      log,
      progress: (message) => io.err(`build-master: ${message}`),
      stop: stopping,
      ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
    });
    print({ run: final }, renderRun(final, Date.now()));
    return final.status === 'failed' || final.status === 'killed' ? EXIT.failure : EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function toOperator(
  command: string,
  rest: string[],
  values: { reason?: string | undefined; ack?: boolean | undefined },
  by: string,
): OperatorCommand {
  const need = (what: string) => {
    const value = rest[0];
    if (!value) throw new UsageError(`${command} needs ${what}: build-master ${command} <${what}>`);
    return value;
  };
  switch (command) {
    case 'approve':
      return { kind: 'approve', id: need('id'), by };
    case 'reject':
      if (!values.reason) throw new UsageError('reject needs a reason: build-master reject <id> --reason "…"');
      return { kind: 'reject', id: need('id'), reason: values.reason, by };
    case 'hold':
      if (!values.reason) throw new UsageError('hold needs a reason: build-master hold --reason "…"');
      return { kind: 'hold', reason: values.reason, by };
    case 'release':
      return { kind: 'release', ack: values.ack ?? false, by };
    case 'pause':
      return { kind: 'pause', lane: need('lane'), reason: values.reason ?? 'paused by an operator', by };
    default:
      return { kind: 'resume', lane: need('lane'), by };
  }
}

function sinceOf(text: string): number {
  const duration = parseDuration(text);
  if (duration !== undefined) return Date.now() - duration;
  const date = Date.parse(text);
  if (Number.isNaN(date)) throw new UsageError(`--since "${text}" is neither a duration (1h, 2d) nor a date (2026-11-21T10:00:00Z)`);
  return date;
}

/**
 * Crash testing: BUILDMASTER_TEST_CRASH_AT=<point> kills this process with
 * SIGKILL at that action point (e.g. `after:merge`), the way a power cut would.
 */
function crashHook(): RunOptions {
  const point = process.env.BUILDMASTER_TEST_CRASH_AT;
  const barrier = process.env.BUILDMASTER_TEST_LOCK_BARRIER;
  if (!point && !barrier) return {};
  return {
    checkpoint: (at) => {
      if (at === point) process.kill(process.pid, 'SIGKILL');
      // Race testing: BUILDMASTER_TEST_LOCK_BARRIER=<file> holds every process just before it takes
      // the lock (announced in <file>.arrived) until the file exists, so many processes contend for it at the same instant.
      if (barrier && at === 'before:lock') {
        appendFileSync(`${barrier}.arrived`, `${process.pid}\n`);
        const pause = new Int32Array(new SharedArrayBuffer(4));
        while (!existsSync(barrier)) Atomics.wait(pause, 0, 0, 1);
      }
    },
  };
}

if (require.main === module) {
  // The token is read once, now, and leaves the environment: nothing this process spawns inherits it.
  takeGitHubToken();
  run(
    process.argv.slice(2),
    {
      out: (text) => process.stdout.write(`${text}\n`),
      err: (text) => process.stderr.write(`${text}\n`),
    },
    crashHook(),
  ).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`build-master: ${String(error)}\n`);
      process.exitCode = EXIT.failure;
    },
  );
}

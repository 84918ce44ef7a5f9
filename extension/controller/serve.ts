// `build-master serve --webhooks`: cycles driven by GitHub's webhook deliveries
// instead of a timer. Each delivery says what changed (forge/github/events.ts);
// a burst is united into one pending focus, and one cycle runs on it after a
// short quiet window (or a maximum delay under a steady stream). Never two
// cycles at once: deliveries that arrive during a cycle go to the next. A full
// cycle at the start and a slow safety resync catch deliveries that never came
// (GitHub does not retry a failed delivery by itself).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeWanted, focusOf, wantOf, type FocusContext, type SeenRepository, type Wanted } from '../forge/github/events';
import { githubVerifier } from '../github/signature';
import { webhookListener, type Routed } from '../github/webhooks';
import { CycleQueue } from './cycle-queue';
import { InputError } from '../ports';
import { runCycle, type CycleReport } from './cycle';
import { LockedError } from './lock';
import { findPolicyFile, githubRepository, lockSession, PolicyError, type Session } from './session';

export interface ServeOptions {
  secret: string;
  host: string;
  /** 0: any free port (the bound URL is printed). */
  port: number;
  path: string;
  /** The safety resync: a full cycle this often, whatever arrived. */
  resyncMs: number;
  /** A burst is run once no delivery came for this long… */
  quietMs: number;
  /** …or once its first delivery waited this long. Also the wait before a failed cycle is tried again. */
  maxDelayMs: number;
  /** The wait before a change whose mergeability GitHub had not computed is read again; default 30 s. */
  recheckMs?: number;
  /** A fresh session (the policy re-read): taken for every full cycle. */
  open: () => Promise<Session>;
  /** The bound URL, once listening. */
  announce: (url: string) => void;
  log: (line: string) => void;
  /** Resolves when serving should stop (SIGINT/SIGTERM): the cycle in flight finishes first. */
  stop: Promise<void>;
}

/** How often, and how long after, a change whose mergeability GitHub had not computed yet is read again (per head). */
const UNKNOWN_RECHECKS = 3;
const UNKNOWN_RECHECK_MS = 30_000;

/** The environment variable holding the webhook secret (never a command-line argument: those show in `ps`). */
export const SECRET_ENV = 'BUILDMASTER_WEBHOOK_SECRET';

/** How long one delivery may take to arrive whole (GitHub itself gives up after 10 s). */
const REQUEST_TIMEOUT_MS = 30_000;

/** Serves until `stop`; resolves once the server is closed and the last cycle finished. */
export async function serveWebhooks(first: Session, options: ServeOptions): Promise<void> {
  if (first.forge.kind !== 'github')
    throw new InputError('serve --webhooks needs GitHub mode: webhooks come from GitHub (add --forge github)');
  let session = first;
  let repository = await githubRepository(session.repo, session.policy);
  let seen: SeenRepository | undefined;
  const context = (): FocusContext => ({
    repository: `${repository.owner}/${repository.repo}`,
    target: session.policy.target,
    ...(seen ? { seen } : {}),
  });

  // The policy file as the session read it. A focused cycle keeps its session (the forge remembers its last
  // full read); an edited policy file opens a new one and reads everything, an invalid one stops every cycle.
  let policyText = findPolicyFile(session.repo.root).text;
  // Deliveries skipped while the policy was invalid: the next cycle reads everything.
  let owed = false;
  const cycle = async (asked: Wanted): Promise<boolean> => {
    const text = findPolicyFile(session.repo.root).text;
    let wanted = asked;
    if (wanted === 'everything' || owed || text !== policyText) {
      try {
        session = await options.open();
      } catch (error) {
        if (!(error instanceof PolicyError)) throw error;
        options.log(`${error.message}: no cycle until it is fixed`);
        owed = true;
        return true;
      }
      policyText = text;
      owed = false;
      repository = await githubRepository(session.repo, session.policy);
      wanted = 'everything';
    }
    const started = Date.now();
    let lock;
    try {
      lock = await lockSession(session, 'serve --webhooks', options.log);
    } catch (error) {
      if (!(error instanceof LockedError)) throw error;
      options.log(`${error.message}; the cycle waits`);
      return false;
    }
    try {
      const report = await runCycle(session.deps, wanted === 'everything' ? {} : { focus: wanted });
      seen = seenOf(report);
      options.log(cycleLine(report, wanted, Date.now() - started));
      recheckUnknown(report);
      return true;
    } finally {
      lock.release();
    }
  };

  // GitHub computes mergeability in the background after a head or the target moves, and sends no delivery
  // when it is done: a change whose mergeability was unknown is read again shortly, a few times per head.
  const rechecks = new Map<string, number>();
  const recheckTimers = new Set<NodeJS.Timeout>();
  const recheckUnknown = (report: CycleReport): void => {
    const ids: string[] = [];
    for (const change of report.snapshotChanges) {
      if (change.mergeable !== 'unknown') continue;
      const key = `${change.id}@${change.headSha}`;
      const count = rechecks.get(key) ?? 0;
      if (count >= UNKNOWN_RECHECKS) continue;
      rechecks.set(key, count + 1);
      ids.push(change.id);
    }
    if (rechecks.size > 10_000) rechecks.clear();
    if (ids.length === 0) return;
    const timer = setTimeout(() => {
      recheckTimers.delete(timer);
      queue.add({ changes: ids, target: false, issues: false });
    }, options.recheckMs ?? UNKNOWN_RECHECK_MS);
    recheckTimers.add(timer);
  };

  const queue = new CycleQueue(cycle, options);
  const route = (delivery: { event: string; payload: unknown }): Routed<Wanted> => {
    const mapped = focusOf(delivery.event, delivery.payload, context());
    const adds = wantOf(mapped);
    if (adds !== undefined) return { kind: 'accepted', adds, why: `reads ${describeWanted(adds)}: ${mapped.why}` };
    return mapped.kind === 'malformed' ? { kind: 'malformed', why: mapped.why } : { kind: 'ignored', why: mapped.why };
  };
  const server = createServer(
    webhookListener(options.path, { verify: githubVerifier(options.secret), route, log: options.log }, (adds) => queue.add(adds)),
  );
  // GitHub gives a delivery 10 s: a client still sending after this is not GitHub, and is cut off.
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  await listen(server, options.port, options.host);
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  options.announce(`http://${host}:${address.port}${options.path}`);

  queue.add('everything', { now: true });
  const resync = setInterval(() => queue.add('everything', { now: true }), options.resyncMs);
  await options.stop;
  options.log('stopping: no more deliveries; the cycle in flight finishes');
  clearInterval(resync);
  for (const timer of recheckTimers) clearTimeout(timer);
  await Promise.all([close(server), queue.close()]);
}

function seenOf(report: CycleReport): SeenRepository {
  return {
    changes: report.snapshotChanges.map((change) => ({
      id: change.id,
      headSha: change.headSha,
      branch: change.branch,
      ...(change.headRepo ? { headRepo: change.headRepo } : {}),
    })),
    ...(report.targetSha ? { targetSha: report.targetSha } : {}),
  };
}

/** One line per cycle: what it read, what it did, its outcome. */
function cycleLine(report: CycleReport, wanted: Wanted, ms: number): string {
  const done = report.actions.filter((action) => action.status !== 'skipped').map((action) => `${action.status} ${action.message}`);
  const outcome = report.result.outcome;
  return `cycle ${report.result.state.cycle} read ${describeWanted(wanted)} in ${ms} ms: ${done.length ? `${done.join('; ')}; ` : ''}${outcome.kind} — ${outcome.rationale}`;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        ['EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN'].includes(error.code ?? '')
          ? new InputError(`cannot listen on ${host}:${port} (${error.code ?? ''}): choose another --port or --host`)
          : error,
      );
    });
    server.listen(port, host, resolve);
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Every connection, not only idle ones: a client that never finishes its body must not hold the stop.
    server.closeAllConnections();
  });
}

// Build Master's memory of a repository: controller state, check results per
// sha, builds, action records (idempotency keys) and an append-only event log.
// Kept under the repository's git directory: never tracked, survives branch
// switches, shared by every worktree, the CLI and the editor.
import { appendFileSync, closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { TextFile } from 'lowdb/node';
import { z } from 'zod';
import type { BuildRecord, BuildStatus, CheckRun, ControllerState, Decision } from '../core/model';
import type { QueueEntry } from '../core/decide';
import { runSchema, type Run } from '../core/runs/model';
import type { RouterStat } from '../core/runs/router-learn';
import { drop, own, put } from '../core/records';
import { InputError, type BuildResult, type CachedFact, type MergeRecord, type StorePort } from '../ports';

export type ActionStatus = 'started' | 'done' | 'failed';

export interface ActionRecord {
  key: string;
  kind: Decision['kind'];
  status: ActionStatus;
  decision: Decision;
  startedAt: number;
  finishedAt?: number;
  result?: string;
  error?: string;
  attempts: number;
}

export interface StoredBuild extends BuildRecord {
  history: { status: BuildStatus; at: number }[];
  result?: Omit<BuildResult, 'output'> & { output_tail: string };
}

export interface LastCycle {
  at: number;
  cycle: number;
  outcome: { kind: string; rationale: string };
  queues: Record<string, QueueEntry[]>;
  decisions: Decision[];
}

export interface StoreData {
  version: 1;
  state?: ControllerState;
  actions: Record<string, ActionRecord>;
  /** Check results by key: `tree:<sha>` (pre-merge) and `commit:<sha>` (post-merge). */
  checks: Record<string, { runs: CheckRun[]; at: number }>;
  builds: StoredBuild[];
  /** When each change was first seen: its place in the longest-ready order. */
  seen: Record<string, number>;
  /** When each change's head commit was authored (lead time starts there). */
  authored: Record<string, number>;
  /** Changes merged by Build Master, by id, with the head sha that merged. */
  merged: Record<string, MergeRecord>;
  lastCycle?: LastCycle;
  /** Immutable git facts cached by key: files and merge trees per (head, target), files per commit. */
  facts: Record<string, CachedFact>;
  /** Hygiene actions done (GitHub mode), by key with its window: when each was done. */
  hygiene?: Record<string, number>;
  /** The highest event sequence number handed out: a torn or lost log tail never makes one reused. */
  lastSeq?: number;
  /** GitHub mode: who Build Master is there, and the issues it created (only those carry trusted markers). */
  github?: { login?: string; issues: number[] };
  /** Runs (SPEC §11): each with its tasks, gates and decisions; validated with the core's run schema on read. */
  runs?: Record<string, Run>;
  /** The router's learned record per worker class and task type (`runs.router.learn`). */
  routerStats?: Record<string, RouterStat>;
}

export interface LogEvent {
  seq: number;
  at: number;
  cycle?: number;
  type: 'decision' | 'action' | 'operator' | 'error' | 'info';
  kind?: string;
  lane?: string;
  change?: string;
  incident?: string;
  approval?: string;
  run?: string;
  task?: string;
  key?: string;
  status?: string;
  from?: string;
  to?: string;
  message: string;
}

const CHECK_LIMIT = 2000;
const ACTION_LIMIT = 5000;
/** Issues Build Master remembers creating on GitHub (their markers are trusted). */
const OWN_ISSUES_KEPT = 1000;

export class Store implements StorePort {
  private seq: number;
  private data_: StoreData;

  private constructor(
    readonly dir: string,
    private readonly file: TextFile,
    data: StoreData,
  ) {
    this.data_ = data;
    this.seq = this.lastSeq(this.readEvents());
  }

  static async open(dir: string): Promise<Store> {
    mkdirSync(dir, { recursive: true });
    const file = new TextFile(join(dir, 'state.json'));
    return new Store(dir, file, await readState(file, join(dir, 'state.json')));
  }

  /**
   * Re-reads state.json and the event log: after taking the lock, another
   * process may have written since this store was opened. Returns the events
   * read, so a caller that shows them does not read the log a second time.
   */
  async reload(): Promise<LogEvent[]> {
    this.data_ = await readState(this.file, join(this.dir, 'state.json'));
    const events = this.readEvents();
    this.seq = this.lastSeq(events);
    return events;
  }

  get data(): StoreData {
    return this.data_;
  }

  /** Writes state.json atomically (a temp file renamed over it). */
  async save(): Promise<void> {
    this.prune();
    this.data_.lastSeq = Math.max(this.data_.lastSeq ?? 0, this.seq);
    await this.file.write(JSON.stringify(this.data_, null, 2));
  }

  action(key: string): ActionRecord | undefined {
    return this.data_.actions[key];
  }

  /** Records an action's key before it runs, so a crash leaves a trace to resume from. */
  async beginAction(decision: Decision, now: number): Promise<ActionRecord> {
    const key = decision.key as string;
    const previous = this.data_.actions[key];
    const record: ActionRecord = {
      key,
      kind: decision.kind,
      status: 'started',
      decision,
      startedAt: now,
      attempts: (previous?.attempts ?? 0) + 1,
    };
    this.data_.actions[key] = record;
    await this.save();
    return record;
  }

  async finishAction(key: string, now: number, outcome: { ok: true; result: string } | { ok: false; error: string }): Promise<void> {
    const record = this.data_.actions[key];
    if (!record) return;
    record.finishedAt = now;
    if (outcome.ok) {
      record.status = 'done';
      record.result = outcome.result;
      delete record.error;
    } else {
      record.status = 'failed';
      record.error = outcome.error;
    }
    await this.save();
  }

  /** Actions that began but never finished: a process died mid-action. */
  unfinishedActions(): ActionRecord[] {
    return Object.values(this.data_.actions)
      .filter((a) => a.status === 'started')
      .sort((a, b) => a.startedAt - b.startedAt);
  }

  firstSeen(): Readonly<Record<string, number>> {
    return this.data_.seen;
  }

  recordSeen(change: string, at: number): number {
    const seen = own(this.data_.seen, change);
    if (seen !== undefined) return seen;
    put(this.data_.seen, change, at);
    return at;
  }

  recordAuthored(change: string, at: number): void {
    put(this.data_.authored, change, at);
  }

  recordMerge(change: string, merge: MergeRecord): void {
    put(this.data_.merged, change, merge);
  }

  recordedMerges(): Readonly<Record<string, MergeRecord>> {
    return this.data_.merged;
  }

  fact(key: string): CachedFact | undefined {
    return own(this.data_.facts, key);
  }

  setFact(key: string, fact: CachedFact): void {
    put(this.data_.facts, key, fact);
  }

  /** Every run, oldest first. */
  runs(): Run[] {
    return Object.values(this.data_.runs ?? {}).sort((a, b) => a.created_at - b.created_at || a.id.localeCompare(b.id));
  }

  run(id: string): Run | undefined {
    return this.data_.runs ? own(this.data_.runs, id) : undefined;
  }

  /** Stores a run as given (validated, so a bad write fails here, not on the next read); save() writes it. */
  putRun(run: Run): void {
    const checked = runSchema.parse(run);
    put((this.data_.runs ??= dict()), run.id, checked);
  }

  routerStats(): Record<string, RouterStat> {
    return (this.data_.routerStats ??= dict());
  }

  hygieneMemory(): Record<string, number> {
    return (this.data_.hygiene ??= dict());
  }

  githubLogin(): string | undefined {
    return this.data_.github?.login;
  }

  githubIssues(): readonly number[] {
    return this.data_.github?.issues ?? [];
  }

  rememberGitHub(created: { login?: string | undefined; issue?: number }): void {
    const memory = (this.data_.github ??= { issues: [] });
    if (created.login) memory.login = created.login;
    if (created.issue !== undefined && !memory.issues.includes(created.issue))
      memory.issues = [...memory.issues, created.issue].slice(-OWN_ISSUES_KEPT);
  }

  checkResult(key: string): CheckRun[] | undefined {
    return this.data_.checks[key]?.runs;
  }

  setCheckResult(key: string, runs: CheckRun[], now: number): void {
    this.data_.checks[key] = { runs, at: now };
  }

  build(incident: string, attempt: number): StoredBuild | undefined {
    return this.data_.builds.find((b) => b.incident === incident && b.attempt === attempt);
  }

  setBuildStatus(incident: string, attempt: number, status: BuildStatus, now: number, extra: Partial<StoredBuild> = {}): StoredBuild {
    let build = this.build(incident, attempt);
    if (!build) {
      build = { incident, attempt, status, updatedAt: now, history: [] };
      this.data_.builds.push(build);
    }
    Object.assign(build, extra, { status, updatedAt: now });
    build.history.push({ status, at: now });
    return build;
  }

  /**
   * Appends events to events.jsonl and flushes them to disk. The log is never
   * rewritten: a torn last line (a process killed mid-write) is left as it is
   * and the new events start on a line of their own, numbered after it.
   */
  append(events: Omit<LogEvent, 'seq'>[]): LogEvent[] {
    if (events.length === 0) return [];
    const path = join(this.dir, 'events.jsonl');
    const tail = readTail(path);
    this.seq = Math.max(this.seq, tail.lastSeq, this.data_.lastSeq ?? 0);
    const written = events.map((event) => ({ seq: ++this.seq, ...event }));
    appendFileSync(path, `${tail.torn ? '\n' : ''}${written.map((e) => `${JSON.stringify(e)}\n`).join('')}`);
    const fd = openSync(path, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return written;
  }

  readEvents(): LogEvent[] {
    const path = join(this.dir, 'events.jsonl');
    if (!existsSync(path)) return [];
    const events: LogEvent[] = [];
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        events.push(JSON.parse(line) as LogEvent);
      } catch {
        // A torn line from a process killed mid-write; every complete line is kept.
        const seq = tornSeq(line);
        if (seq !== undefined) this.tornMax = Math.max(this.tornMax, seq);
      }
    }
    return events;
  }

  /** The highest sequence number torn lines carried: numbers they used are never handed out again. */
  private tornMax = 0;

  private lastSeq(events: LogEvent[]): number {
    return Math.max(this.tornMax, this.data_.lastSeq ?? 0, ...events.map((e) => (typeof e.seq === 'number' ? e.seq : 0)));
  }

  private prune(): void {
    const data = this.data_;
    const checks = Object.entries(data.checks);
    if (checks.length > CHECK_LIMIT) {
      checks.sort((a, b) => a[1].at - b[1].at);
      for (const [key] of checks.slice(0, checks.length - CHECK_LIMIT)) drop(data.checks, key);
    }
    const facts = Object.entries(data.facts);
    if (facts.length > CHECK_LIMIT * 2) {
      facts.sort((a, b) => a[1].at - b[1].at);
      for (const [key] of facts.slice(0, facts.length - CHECK_LIMIT * 2)) drop(data.facts, key);
    }
    // Hygiene memory: windows are hours or days; a month-old entry can no longer suppress anything useful.
    if (data.hygiene) {
      const newest = Math.max(0, ...Object.values(data.hygiene));
      for (const [key, at] of Object.entries(data.hygiene)) if (newest - at > 30 * 24 * 3600_000) drop(data.hygiene, key);
    }
    const done = Object.values(data.actions).filter((a) => a.status !== 'started');
    if (done.length > ACTION_LIMIT) {
      done.sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0));
      for (const a of done.slice(0, done.length - ACTION_LIMIT)) drop(data.actions, a.key);
    }
  }
}

function emptyData(): StoreData {
  return { version: 1, actions: dict(), checks: dict(), builds: [], seen: dict(), authored: dict(), merged: dict(), facts: dict() };
}

/**
 * A record keyed by user text (branch, lane, check names): no prototype, so a
 * branch named `__proto__` or `constructor` is a key like any other.
 */
export function dict<T>(entries?: Record<string, T>): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  // Object.assign sets each own key, `__proto__` included, as a plain property of a prototype-less object.
  if (entries) Object.assign(out, entries);
  return out;
}

/** The store refuses a state.json it cannot trust; nothing is reset behind the operator's back. */
export class StoreError extends InputError {}

const record = <T extends z.ZodType>(value: T) => z.record(z.string(), value);
const objectValue = z.looseObject({});
const storeSchema = z.looseObject({
  version: z.literal(1, { error: 'version must be 1' }),
  state: z
    .looseObject({
      global: z.looseObject({ state: z.string(), reason: z.string() }),
      lanes: record(z.looseObject({ name: z.string(), state: z.string() })),
      incidents: record(objectValue),
      approvals: record(objectValue),
      examinedRed: z.array(z.string()),
      cycle: z.number(),
    })
    .optional(),
  actions: record(
    z.looseObject({
      key: z.string(),
      status: z.enum(['started', 'done', 'failed']),
      decision: objectValue,
      startedAt: z.number(),
      attempts: z.number(),
    }),
  ).optional(),
  checks: record(z.looseObject({ runs: z.array(objectValue), at: z.number() })).optional(),
  builds: z
    .array(z.looseObject({ incident: z.string(), attempt: z.number(), status: z.string(), history: z.array(objectValue) }))
    .optional(),
  seen: record(z.number()).optional(),
  authored: record(z.number()).optional(),
  merged: record(z.looseObject({ head: z.string(), sha: z.string(), at: z.number() })).optional(),
  lastCycle: z
    .looseObject({ at: z.number(), cycle: z.number(), queues: record(z.array(objectValue)), decisions: z.array(objectValue) })
    .optional(),
  facts: record(z.looseObject({ at: z.number() })).optional(),
  hygiene: record(z.number()).optional(),
  lastSeq: z.number().optional(),
  github: z.looseObject({ login: z.string().optional(), issues: z.array(z.number()) }).optional(),
  runs: record(runSchema).optional(),
  routerStats: record(
    z.looseObject({
      worker_class: z.string(),
      type: z.string(),
      successes: z.number(),
      failures: z.number(),
      usd: z.number(),
      duration_ms: z.number(),
    }),
  ).optional(),
});

/** Reads and validates state.json: absent is a fresh store, anything that is not a valid state is refused. */
async function readState(file: TextFile, path: string): Promise<StoreData> {
  const text = await file.read();
  if (text === null) return emptyData();
  const refuse = (what: string) =>
    new StoreError(
      `the Build Master store ${path} ${what}; Build Master refuses to act rather than forget its state (holds, pauses, approvals, merges). ` +
        `Restore the file from a backup, or move it aside to start afresh (then re-apply any hold or pause: \`build-master log\` lists them); the event log events.jsonl beside it is kept`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw refuse(`is not valid JSON (${(error as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw refuse(
      `does not hold a state (it holds ${parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : `a ${typeof parsed}`})`,
    );
  }
  const result = storeSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? issue.path.map(String).join('.') : 'the top level';
    throw refuse(`is not a valid state (at ${where}: ${issue?.message ?? 'invalid'})`);
  }
  return normalise(parsed);
}

/** Fills what older stores lack, and makes every record keyed by user text prototype-less. */
function normalise(raw: Partial<StoreData>): StoreData {
  const data: StoreData = { ...emptyData(), ...raw, version: 1 };
  data.actions = dict(raw.actions);
  data.checks = dict(raw.checks);
  data.seen = dict(raw.seen);
  data.authored = dict(raw.authored);
  data.merged = dict(raw.merged);
  data.facts = dict(raw.facts);
  if (raw.hygiene) data.hygiene = dict(raw.hygiene);
  if (raw.runs) data.runs = dict(raw.runs);
  if (raw.routerStats) data.routerStats = dict(raw.routerStats);
  if (raw.state)
    data.state = { ...raw.state, lanes: dict(raw.state.lanes), incidents: dict(raw.state.incidents), approvals: dict(raw.state.approvals) };
  if (raw.lastCycle) data.lastCycle = { ...raw.lastCycle, queues: dict(raw.lastCycle.queues) };
  return data;
}

/** The sequence number a torn line carried, when its start survived (`{"seq":12,…`). */
function tornSeq(line: string): number | undefined {
  const match = /^\s*\{\s*"seq"\s*:\s*(\d+)/.exec(line);
  return match ? Number(match[1]) : undefined;
}

const TAIL_BYTES = 64 * 1024;

/** The end of the log: whether its last line is torn, and the highest sequence number near the end. */
function readTail(path: string): { torn: boolean; lastSeq: number } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return { torn: false, lastSeq: 0 };
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return { torn: false, lastSeq: 0 };
    const length = Math.min(size, TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    const text = buffer.toString('utf8');
    let lastSeq = 0;
    for (const line of text.split('\n')) {
      const seq = tornSeq(line);
      if (seq !== undefined) lastSeq = Math.max(lastSeq, seq);
    }
    return { torn: !text.endsWith('\n'), lastSeq };
  } finally {
    closeSync(fd);
  }
}

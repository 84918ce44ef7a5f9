// Build Master's memory of a repository: controller state, check results per
// sha, builds, action records (idempotency keys) and an append-only event log.
// Kept under the repository's git directory: never tracked, survives branch
// switches, shared by every worktree, the CLI and the editor.
import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import type { BuildRecord, BuildStatus, CheckRun, ControllerState, Decision } from '../core/model';
import type { QueueEntry } from '../core/decide';
import type { BuildResult } from '../ports';

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
  merged: Record<string, { head: string; sha: string; at: number }>;
  lastCycle?: LastCycle;
  /** Immutable git facts cached by key: files and merge trees per (head, target), files per commit. */
  facts: Record<string, { files?: string[]; tree?: string; conflict?: boolean; at: number }>;
  /** Hygiene actions done (GitHub mode), by key with its window: when each was done. */
  hygiene?: Record<string, number>;
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
  key?: string;
  status?: string;
  from?: string;
  to?: string;
  message: string;
}

const CHECK_LIMIT = 2000;
const ACTION_LIMIT = 5000;

export class Store {
  private seq: number;

  private constructor(
    readonly dir: string,
    private readonly db: Low<StoreData>,
  ) {
    this.seq = this.readEvents().reduce((max, e) => Math.max(max, e.seq), 0);
  }

  static async open(dir: string): Promise<Store> {
    mkdirSync(dir, { recursive: true });
    const db = new Low<StoreData>(new JSONFile(join(dir, 'state.json')), emptyData());
    try {
      await db.read();
    } catch (error) {
      throw new Error(`the Build Master store ${join(dir, 'state.json')} is not valid JSON (${(error as Error).message}); move it aside to start afresh — the event log in events.jsonl is kept`);
    }
    db.data = { ...emptyData(), ...(db.data ?? {}) };
    return new Store(dir, db);
  }

  /**
   * Re-reads state.json and the event log: after taking the lock, another
   * process may have written since this store was opened. Returns the events
   * read, so a caller that shows them does not read the log a second time.
   */
  async reload(): Promise<LogEvent[]> {
    await this.db.read();
    this.db.data = { ...emptyData(), ...(this.db.data ?? {}) };
    const events = this.readEvents();
    this.seq = events.reduce((max, e) => Math.max(max, e.seq), 0);
    return events;
  }

  get data(): StoreData {
    return this.db.data;
  }

  /** Writes state.json atomically (a temp file renamed over it). */
  async save(): Promise<void> {
    this.prune();
    await this.db.write();
  }

  action(key: string): ActionRecord | undefined {
    return this.db.data.actions[key];
  }

  /** Records an action's key before it runs, so a crash leaves a trace to resume from. */
  async beginAction(decision: Decision, now: number): Promise<ActionRecord> {
    const key = decision.key as string;
    const previous = this.db.data.actions[key];
    const record: ActionRecord = { key, kind: decision.kind, status: 'started', decision, startedAt: now, attempts: (previous?.attempts ?? 0) + 1 };
    this.db.data.actions[key] = record;
    await this.save();
    return record;
  }

  async finishAction(key: string, now: number, outcome: { ok: true; result: string } | { ok: false; error: string }): Promise<void> {
    const record = this.db.data.actions[key];
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
    return Object.values(this.db.data.actions)
      .filter((a) => a.status === 'started')
      .sort((a, b) => a.startedAt - b.startedAt);
  }

  checkResult(key: string): CheckRun[] | undefined {
    return this.db.data.checks[key]?.runs;
  }

  setCheckResult(key: string, runs: CheckRun[], now: number): void {
    this.db.data.checks[key] = { runs, at: now };
  }

  build(incident: string, attempt: number): StoredBuild | undefined {
    return this.db.data.builds.find((b) => b.incident === incident && b.attempt === attempt);
  }

  setBuildStatus(incident: string, attempt: number, status: BuildStatus, now: number, extra: Partial<StoredBuild> = {}): StoredBuild {
    let build = this.build(incident, attempt);
    if (!build) {
      build = { incident, attempt, status, updatedAt: now, history: [] };
      this.db.data.builds.push(build);
    }
    Object.assign(build, extra, { status, updatedAt: now });
    build.history.push({ status, at: now });
    return build;
  }

  /** Appends events to events.jsonl and flushes them to disk. The log is never rewritten. */
  append(events: Omit<LogEvent, 'seq'>[]): LogEvent[] {
    if (events.length === 0) return [];
    const written = events.map((event) => ({ seq: ++this.seq, ...event }));
    const path = join(this.dir, 'events.jsonl');
    appendFileSync(path, written.map((e) => `${JSON.stringify(e)}\n`).join(''));
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
        // A torn last line from a process killed mid-write; every complete line is kept.
      }
    }
    return events;
  }

  private prune(): void {
    const data = this.db.data;
    const checks = Object.entries(data.checks);
    if (checks.length > CHECK_LIMIT) {
      checks.sort((a, b) => a[1].at - b[1].at);
      for (const [key] of checks.slice(0, checks.length - CHECK_LIMIT)) delete data.checks[key];
    }
    const facts = Object.entries(data.facts);
    if (facts.length > CHECK_LIMIT * 2) {
      facts.sort((a, b) => a[1].at - b[1].at);
      for (const [key] of facts.slice(0, facts.length - CHECK_LIMIT * 2)) delete data.facts[key];
    }
    // Hygiene memory: windows are hours or days; a month-old entry can no longer suppress anything useful.
    if (data.hygiene) {
      const newest = Math.max(0, ...Object.values(data.hygiene));
      for (const [key, at] of Object.entries(data.hygiene)) if (newest - at > 30 * 24 * 3600_000) delete data.hygiene[key];
    }
    const done = Object.values(data.actions).filter((a) => a.status !== 'started');
    if (done.length > ACTION_LIMIT) {
      done.sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0));
      for (const a of done.slice(0, done.length - ACTION_LIMIT)) delete data.actions[a.key];
    }
  }
}

function emptyData(): StoreData {
  return { version: 1, actions: {}, checks: {}, builds: [], seen: {}, authored: {}, merged: {}, facts: {} };
}

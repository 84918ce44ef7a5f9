// The progress-file planner (builder-loop seed): parse a progress file's rows, say what is wrong with
// each by line, and select the rows a round of workers may take, each choice a decision with a reason.
//
// The format: the seed's canonical progress file is JSON (`progress.json`); YAML is accepted too (JSON is
// YAML). The document is `{ rows: [ ... ] }` (a bare list of rows also reads). A row:
//   id            unique name, required
//   phase         1, 2, 3 …, required; rows above `max_phase` (default 3) are not selected
//   status        todo | in_progress | done (default todo); only todo rows are selected
//   blocked_by    ids of rows that must be done first
//   ready_when    signals that must have been seen first: another row's done_signal once that row is done,
//                 or a signal the caller reports; both blocked_by and ready_when must hold
//   slice_size    a free word (small, medium …); `umbrella` means "split me first" and is never selected
//   write_scope, test_commands, done_signal, lane, type (default code)   the worker's contract
//   title, notes  free text
// Any other key is a problem: a misspelt `blocked_by` would otherwise let a row run before its blocker.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode, type YAMLMap } from 'yaml';
import { cyclesOf } from './graph';
import { z } from 'zod';
import { scopeGlob } from './plan';
import type { Task } from './model';

const id = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'an id is letters, digits, ".", "_" and "-"')
  // A row's id becomes its task's branch (`buildmaster/task/<run>/<id>`): refused here, not when its worker starts.
  .refine((id) => !id.includes('..') && !id.endsWith('.') && !id.toLowerCase().endsWith('.lock'), {
    message: 'an id may not contain "..", nor end with "." or ".lock" (it becomes part of a branch name)',
  });
const strings = z.array(z.string().min(1));

const rowSchema = z.strictObject({
  id,
  phase: z.number().int().min(1),
  status: z.enum(['todo', 'in_progress', 'done']).default('todo'),
  blocked_by: z.array(id).default([]),
  ready_when: strings.default([]),
  slice_size: z.string().min(1).optional(),
  write_scope: z.array(scopeGlob).optional(),
  test_commands: strings.optional(),
  done_signal: z.string().min(1).optional(),
  lane: z.string().min(1).optional(),
  type: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,31}$/, 'a lowercase word such as code, test or docs')
    .default('code'),
  title: z.string().optional(),
  notes: z.string().optional(),
});

/** A row as read, with the line it starts on. */
export type ProgressRow = z.infer<typeof rowSchema> & { line: number };

export interface ProgressProblem {
  line: number;
  reason: string;
  row?: string;
}

export type ProgressParse = { ok: true; rows: ProgressRow[] } | { ok: false; problems: ProgressProblem[] };

/** Reads a progress file; every problem carries its line and a reason, and any problem means no rows. */
export function parseProgress(text: string): ProgressParse {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const lineAt = (offset: number): number => lines.linePos(offset).line;
  if (doc.errors.length > 0) {
    return { ok: false, problems: doc.errors.map((error) => ({ line: lineAt(error.pos[0]), reason: error.message.split('\n')[0] ?? '' })) };
  }
  const list = isMap(doc.contents) ? doc.contents.get('rows', true) : doc.contents;
  if (!isSeq(list)) return { ok: false, problems: [{ line: 1, reason: 'a progress file is `rows:` followed by a list of rows' }] };
  const rows: ProgressRow[] = [];
  const problems: ProgressProblem[] = [];
  list.items.forEach((item, index) => {
    const line = isNode(item) ? lineAt(item.range[0]) : 1;
    const parsed = rowSchema.safeParse(isNode(item) ? item.toJSON() : item);
    if (parsed.success) {
      rows.push({ ...parsed.data, line });
      return;
    }
    for (const issue of parsed.error.issues) {
      const at = isMap(item) ? fieldNode(item, issue) : undefined;
      const where = isNode(at) && at.range ? lineAt(at.range[0]) : line;
      problems.push({ line: where, reason: describeIssue(issue, index), ...rowIdOf(item) });
    }
  });
  problems.push(...graphProblems(rows));
  return problems.length > 0 ? { ok: false, problems: problems.sort((a, b) => a.line - b.line) } : { ok: true, rows };
}

function isNode(value: unknown): value is YamlNode {
  return typeof value === 'object' && value !== null && 'toJSON' in value && 'range' in value;
}

/** The node an issue is about: the field's value, or for an unknown field its key. */
function fieldNode(item: YAMLMap, issue: z.core.$ZodIssue): unknown {
  if (issue.code === 'unrecognized_keys') {
    return item.items.find((pair) => isScalar(pair.key) && pair.key.value === issue.keys[0])?.key;
  }
  return item.getIn(issue.path, true);
}

function rowIdOf(item: unknown): { row?: string } {
  const value: unknown = isMap(item) ? item.get('id') : undefined;
  return typeof value === 'string' ? { row: value } : {};
}

function describeIssue(issue: z.core.$ZodIssue, index: number): string {
  const field = issue.path.map(String).join('.');
  const where = field === '' ? `row ${index + 1}` : `row ${index + 1}, ${field}`;
  if (issue.code === 'unrecognized_keys') {
    return `${where}: unknown field ${issue.keys.map((key) => `"${key}"`).join(', ')} (known: ${Object.keys(rowSchema.shape).join(', ')})`;
  }
  return `${where}: ${issue.message}`;
}

/** Duplicate ids, blockers that name no row, and cycles in blocked_by: a plan nothing could finish. */
function graphProblems(rows: readonly ProgressRow[]): ProgressProblem[] {
  const problems: ProgressProblem[] = [];
  const byId = new Map<string, ProgressRow>();
  for (const row of rows) {
    const first = byId.get(row.id);
    if (first) problems.push({ line: row.line, row: row.id, reason: `duplicate id "${row.id}" (first on line ${first.line})` });
    else byId.set(row.id, row);
  }
  for (const row of rows) {
    for (const blocker of row.blocked_by) {
      if (!byId.has(blocker)) problems.push({ line: row.line, row: row.id, reason: `blocked_by names "${blocker}", which is no row's id` });
    }
  }
  for (const cycle of cyclesOf(new Map([...byId].map(([id, node]) => [id, node.blocked_by])))) {
    const head = byId.get(cycle[0] ?? '');
    problems.push({ line: head?.line ?? 1, row: cycle[0], reason: `blocked_by forms a cycle: ${[...cycle, cycle[0]].join(' → ')}` });
  }
  return problems;
}

export type RowVerdict =
  'selected' | 'done' | 'in-progress' | 'umbrella' | 'above-max-phase' | 'blocked' | 'waiting-signal' | 'agents-full';

/** Why a row was or was not taken this round. */
export interface RowDecision {
  row: string;
  verdict: RowVerdict;
  rationale: string;
}

export interface SelectOptions {
  max_agents: number;
  /** Default 3 (the builder loop's MAX_PHASE). */
  max_phase?: number;
  /** Signals seen outside the file (e.g. reported by a check); done rows' done_signals count on their own. */
  signals?: readonly string[];
}

export interface Selection {
  selected: ProgressRow[];
  decisions: RowDecision[];
}

/** A contract row tells the worker where to write, how to test and when it is done: it goes first. */
function isContract(row: ProgressRow): boolean {
  return (row.write_scope?.length ?? 0) > 0 && (row.test_commands?.length ?? 0) > 0 && row.done_signal !== undefined;
}

/** The verdict on one row before the agent cap, or undefined when it is eligible. */
function ineligibility(
  row: ProgressRow,
  done: ReadonlySet<string>,
  signals: ReadonlySet<string>,
  maxPhase: number,
): RowDecision | undefined {
  const skip = (verdict: RowVerdict, rationale: string): RowDecision => ({ row: row.id, verdict, rationale });
  if (row.status === 'done') return skip('done', 'already done');
  if (row.status === 'in_progress') return skip('in-progress', 'already being worked on');
  if (row.slice_size === 'umbrella') return skip('umbrella', 'an umbrella row: split it into slices first');
  if (row.phase > maxPhase) return skip('above-max-phase', `phase ${row.phase} is above max_phase ${maxPhase}`);
  const blockers = row.blocked_by.filter((blocker) => !done.has(blocker));
  if (blockers.length > 0) return skip('blocked', `blocked by ${blockers.join(', ')} (not done)`);
  const waiting = row.ready_when.filter((signal) => !signals.has(signal));
  if (waiting.length > 0) return skip('waiting-signal', `ready when ${waiting.map((s) => `"${s}"`).join(', ')}, not seen yet`);
  return undefined;
}

/**
 * The rows a round takes: eligible rows only, contract rows first, then by phase and file order, at most
 * `max_agents`. Fewer eligible rows than agents means fewer workers, never filler.
 */
export function selectRows(rows: readonly ProgressRow[], options: SelectOptions): Selection {
  const maxPhase = options.max_phase ?? 3;
  const doneRows = rows.filter((row) => row.status === 'done');
  const done = new Set(doneRows.map((row) => row.id));
  const signals = new Set([...(options.signals ?? []), ...doneRows.flatMap((row) => (row.done_signal ? [row.done_signal] : []))]);
  const decisions = new Map<string, RowDecision>();
  const eligible: ProgressRow[] = [];
  for (const row of rows) {
    const skip = ineligibility(row, done, signals, maxPhase);
    if (skip) decisions.set(row.id, skip);
    else eligible.push(row);
  }
  const ranked = eligible
    .map((row, order) => ({ row, order }))
    .sort((a, b) => Number(isContract(b.row)) - Number(isContract(a.row)) || a.row.phase - b.row.phase || a.order - b.order)
    .map(({ row }) => row);
  const selected = ranked.slice(0, Math.max(0, options.max_agents));
  const chosen = new Set(selected);
  for (const row of ranked) {
    const taken = chosen.has(row);
    const contract = isContract(row) ? 'a contract row' : 'no full contract (write_scope, test_commands, done_signal)';
    decisions.set(row.id, {
      row: row.id,
      verdict: taken ? 'selected' : 'agents-full',
      rationale: taken
        ? `eligible: phase ${row.phase}, ${contract}`
        : `eligible, but all ${options.max_agents} agents are taken this round`,
    });
  }
  return { selected, decisions: rows.map((row) => decisions.get(row.id)).filter((decision) => decision !== undefined) };
}

/** The row's own metadata as BuildSpec variables: the worker gets its slice, not the whole roadmap. */
export function rowVariables(row: ProgressRow): Record<string, string> {
  const variables: Record<string, string> = { row_id: row.id, phase: String(row.phase), type: row.type };
  if (row.title !== undefined) variables.title = row.title;
  if (row.notes !== undefined) variables.notes = row.notes;
  if (row.slice_size !== undefined) variables.slice_size = row.slice_size;
  if (row.write_scope) variables.write_scope = row.write_scope.join('\n');
  if (row.test_commands) variables.test_commands = row.test_commands.join('\n');
  if (row.done_signal !== undefined) variables.done_signal = row.done_signal;
  return variables;
}

/** A selected row as a pending task. A row without write_scope may write anywhere, so it locks everything. */
export function rowToTask(row: ProgressRow, autoCommit = true): Task {
  const variables = rowVariables(row);
  const prompt = Object.entries(variables)
    .map(([key, value]) => `${key}: ${value.replace(/\n/g, '\n  ')}`)
    .join('\n');
  return {
    id: row.id,
    type: row.type,
    spec: {
      prompt: `Work on this progress row only:\n${prompt}`,
      variables,
      write_scope: row.write_scope ?? ['**'],
      test_commands: row.test_commands ?? [],
      ...(row.done_signal === undefined ? {} : { done_signal: row.done_signal }),
      auto_commit: autoCommit,
    },
    depends_on: [],
    ...(row.lane === undefined ? {} : { lane: row.lane }),
    attempts: 0,
    status: 'pending',
  };
}

export interface RowPlan {
  /** The run's tasks: rows eligible now or once rows of the run are done, each depending on those rows. */
  tasks: Task[];
  /** Why every other row is left out (done, umbrella, above max_phase, blocked by a row outside the run…). */
  left: RowDecision[];
}

/**
 * The rows a run takes, round by round as selectRows would take them, but each row's unmet blockers and
 * signals are counted down as rows are taken: a chain of 10,000 rows is linear, not 10,000 passes.
 */
function takeInRounds(rows: readonly ProgressRow[], options: Omit<SelectOptions, 'max_agents'>): Map<string, ProgressRow> {
  const taken = new Map<string, ProgressRow>();
  const waits = waitingRows(rows, options);
  const { unmet, byBlocker, bySignal, seen } = waits;
  let round = waits.ready;
  const order = new Map(rows.map((row, index) => [row, index]));
  const rank = (a: ProgressRow, b: ProgressRow) =>
    Number(isContract(b)) - Number(isContract(a)) || a.phase - b.phase || (order.get(a) ?? 0) - (order.get(b) ?? 0);
  while (round.length > 0) {
    const next: ProgressRow[] = [];
    const release = (waiting: readonly ProgressRow[] | undefined) => {
      for (const row of waiting ?? []) {
        const left = (unmet.get(row) ?? 0) - 1;
        unmet.set(row, left);
        if (left === 0) next.push(row);
      }
    };
    for (const row of round.sort(rank)) taken.set(row.id, row);
    // Rows the run takes count as done for what follows them (their done_signal too), from the next round on.
    for (const row of round) {
      release(byBlocker.get(row.id));
      byBlocker.delete(row.id);
      if (row.done_signal !== undefined && !seen.has(row.done_signal)) {
        seen.add(row.done_signal);
        release(bySignal.get(row.done_signal));
      }
    }
    round = next.filter((row) => !taken.has(row.id));
  }
  return taken;
}

/** The rows that may ever be taken, what each still waits for (by blocker and by signal), and those ready now. */
function waitingRows(rows: readonly ProgressRow[], options: Omit<SelectOptions, 'max_agents'>) {
  const maxPhase = options.max_phase ?? 3;
  const done = new Set(rows.filter((row) => row.status === 'done').map((row) => row.id));
  const seen = new Set([
    ...(options.signals ?? []),
    ...rows.flatMap((row) => (row.status === 'done' && row.done_signal ? [row.done_signal] : [])),
  ]);
  const unmet = new Map<ProgressRow, number>();
  const byBlocker = new Map<string, ProgressRow[]>();
  const bySignal = new Map<string, ProgressRow[]>();
  const wait = (index: Map<string, ProgressRow[]>, key: string, row: ProgressRow) => {
    const list = index.get(key);
    if (list) list.push(row);
    else index.set(key, [row]);
  };
  const ready: ProgressRow[] = [];
  for (const row of rows) {
    if (row.status !== 'todo' || row.slice_size === 'umbrella' || row.phase > maxPhase) continue;
    const blockers = [...new Set(row.blocked_by)].filter((id) => !done.has(id));
    const signals = [...new Set(row.ready_when)].filter((signal) => !seen.has(signal));
    for (const id of blockers) wait(byBlocker, id, row);
    for (const signal of signals) wait(bySignal, signal, row);
    unmet.set(row, blockers.length + signals.length);
    if (blockers.length + signals.length === 0) ready.push(row);
  }
  return { unmet, byBlocker, bySignal, seen, ready };
}

/**
 * The rows a run takes: what is eligible now, then what becomes eligible when those rows are done
 * (their ids and done_signals), until nothing more opens up. A row waiting on a row the run does not
 * take, or on a signal nobody gives, is left out with its reason. The agent cap is the scheduler's.
 */
export function planRows(rows: readonly ProgressRow[], options: Omit<SelectOptions, 'max_agents'>): RowPlan {
  const taken = takeInRounds(rows, options);
  // Why every other row waits, judged with every taken row done.
  const last = selectRows(
    rows.map((row) => (taken.has(row.id) ? { ...row, status: 'done' as const } : row)),
    { ...options, max_agents: Number.MAX_SAFE_INTEGER },
  );
  const signalOf = new Map([...taken.values()].flatMap((row) => (row.done_signal ? [[row.done_signal, row.id] as const] : [])));
  const tasks = [...taken.values()].map((row) => {
    const after = [...row.blocked_by.filter((id) => taken.has(id)), ...row.ready_when.flatMap((signal) => signalOf.get(signal) ?? [])];
    return { ...rowToTask(row), row: row.id, depends_on: [...new Set(after)].filter((id) => id !== row.id) };
  });
  const left = last.decisions.filter((decision) => !taken.has(decision.row) && decision.verdict !== 'done');
  return { tasks, left };
}

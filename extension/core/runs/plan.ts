// The planner command's output (issue 13): an agent CLI reads the ticket and prints a DAG of tasks as
// JSON. Agents print prose around it, so the last JSON object with "tasks" is the plan; it is checked
// against a schema and as a graph, every problem names its line in the planner's output, and any problem
// means nothing runs.
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { cyclesOf } from './graph';
import { z } from 'zod';
import { jsonSyntaxError } from './json-syntax';
import { usageSchema, type Task, type Usage } from './model';
import type { RunsPolicy } from './policy';

/** More tasks than this is no longer a plan a person can review: the ticket wants splitting. */
export const MAX_PLAN_TASKS = 200;
/** Output past this is not read (a plan of 200 tasks is far smaller). */
export const MAX_PLAN_CHARS = 2_000_000;
const MAX_PROMPT_CHARS = 100_000;

/** The shape the planner prints; part of the planner's prompt and of docs/runs.md. */
export const PLAN_FORMAT = `Print the plan as one JSON object, the last thing in your output (a \`\`\`json fence is fine; text before it is ignored):
{
  "rationale": "why the ticket splits this way (optional)",
  "tasks": [
    { "id": "spec", "type": "spec", "prompt": "Write docs/specs/login.md: …", "write_scope": ["docs/specs/**"] },
    { "id": "code", "type": "code", "prompt": "Implement …", "depends_on": ["spec"], "write_scope": ["src/auth/**"], "test_commands": ["npm test"] }
  ]
}
Each task has exactly these keys:
- "id": unique; letters, digits, ".", "_" and "-" (at most 64).
- "type": a lowercase word: spec, code, test, docs, review, fix, …
- "prompt": the whole instruction for one coding agent, which sees only this prompt and the repository.
- "depends_on" (optional): ids of tasks that must be finished first; no cycles.
- "write_scope" (optional): globs of the files the task may change, relative to the repository root (default: every file).
- "test_commands" (optional): shell commands the task's result must pass, each one of the repository's runs.test_commands (default: all of them).
- "lane" (optional): the lane whose queue the result enters.
Between 1 and ${MAX_PLAN_TASKS} tasks; no other keys. Do not change any file: only print the plan.`;

/** A task id becomes part of a branch (`buildmaster/task/<run>/<id>`) and a worktree's directory name. */
export const safeId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'an id is 1 to 64 letters, digits, ".", "_" and "-", starting with a letter or digit')
  .refine((id) => !id.includes('..') && !id.endsWith('.') && !id.toLowerCase().endsWith('.lock'), {
    message: 'an id may not contain "..", nor end with "." or ".lock" (it becomes part of a branch name)',
  });

/** A glob inside the repository: an absolute path or a `..` segment would name files outside it. */
export const scopeGlob = z
  .string()
  .min(1)
  .max(1000)
  .refine((glob) => !glob.startsWith('/') && !/^[A-Za-z]:/.test(glob) && !glob.split(/[\\/]/).includes('..'), {
    error: (issue) =>
      `${JSON.stringify(issue.input)} is outside the repository: a write_scope glob is relative to its root (no leading "/", no "..")`,
  })
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  .refine((glob) => !/[\x00-\x1f]/.test(glob), { message: 'a write_scope glob has no control characters' });

const command = z
  .string()
  .min(1)
  .max(2000)
  .refine((text) => !text.includes('\0'), { message: 'a test command has no NUL character' });

const planTaskSchema = z.strictObject({
  id: safeId,
  type: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'a lowercase word such as spec, code, test, docs, review or fix'),
  prompt: z
    .string()
    .refine((text) => text.trim().length > 0, { message: 'the prompt is empty' })
    .refine((text) => text.length <= MAX_PROMPT_CHARS, { message: `a prompt is at most ${MAX_PROMPT_CHARS} characters` }),
  depends_on: z.array(safeId).optional(),
  write_scope: z.array(scopeGlob).min(1, 'write_scope lists at least one glob (leave it out to allow every file)').optional(),
  test_commands: z.array(command).optional(),
  lane: z
    .string()
    .min(1)
    .max(128)
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
    .refine((lane) => !/[\x00-\x1f\x7f]/.test(lane), { message: 'a lane name has no line breaks or control characters' })
    .optional(),
});

const planSchema = z.strictObject({
  rationale: z.string().max(20_000).optional(),
  tasks: z
    .array(planTaskSchema)
    .min(1, 'the plan has no tasks: a plan is at least one task')
    .max(MAX_PLAN_TASKS, `a plan has at most ${MAX_PLAN_TASKS} tasks: split the ticket into smaller tickets`),
});

export interface PlanProblem {
  /** 1-based line of the planner's output. */
  line: number;
  /** Where in the plan, e.g. `tasks[2].depends_on[0]` (empty when about the output as a whole). */
  path: string;
  reason: string;
}

export type PlanParse = { ok: true; tasks: Task[]; rationale?: string } | { ok: false; problems: PlanProblem[] };

/** Reads the plan a planner command printed; `runs` gives the defaults (test commands). */
export function parsePlan(text: string, runs: RunsPolicy): PlanParse {
  if (text.length > MAX_PLAN_CHARS) {
    return {
      ok: false,
      problems: [{ line: 1, path: '', reason: `the output is ${text.length} characters; at most ${MAX_PLAN_CHARS} are read` }],
    };
  }
  const lines = lineIndex(text);
  const found = findPlan(text);
  if (found.kind === 'none') {
    const reason = 'no plan found: the output has no JSON object with "tasks" (see the plan format: { "tasks": [ … ] })';
    // The end of what it printed: where the plan should have been.
    return { ok: false, problems: [{ line: lineOf(lines, text.trimEnd().length), path: '', reason }] };
  }
  if (found.kind === 'broken') return { ok: false, problems: [{ line: lineOf(lines, found.at), path: '', reason: found.reason }] };
  const { start, raw, value } = found;
  const counter = new LineCounter();
  const doc = parseDocument(raw, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => lineOf(lines, start + offset);
  // JSON.parse keeps the last of two equal keys; which one the planner meant is anyone's guess.
  const duplicates = doc.errors.filter((error) => error.code === 'DUPLICATE_KEY');
  if (duplicates.length > 0) {
    const problems = duplicates.map((error) => {
      const key = /^"(?:[^"\\]|\\.)*"/.exec(raw.slice(error.pos[0]))?.[0] ?? 'a key';
      return { line: at(error.pos[0]), path: '', reason: `${key} appears twice in one object: which one was meant is unclear` };
    });
    return { ok: false, problems };
  }
  const lineFor = (path: readonly PropertyKey[], key?: string) => at(nodeOffset(doc.errors.length > 0 ? undefined : doc, path, key));
  const parsed = planSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
      const path = key === undefined ? issue.path : [...issue.path, key];
      return { line: lineFor(issue.path, key), path: pathText(path), reason: describeIssue(issue, value) };
    });
    return { ok: false, problems: problems.sort((a, b) => a.line - b.line) };
  }
  const plan = parsed.data;
  const graph = graphProblems(plan.tasks.map((task) => ({ id: task.id, depends_on: task.depends_on ?? [] })));
  if (graph.length > 0) {
    const problems = graph.map((problem) => {
      const path = problem.dependency === undefined ? ['tasks', problem.index] : ['tasks', problem.index, 'depends_on', problem.dependency];
      return { line: lineFor(path), path: pathText(path), reason: problem.reason };
    });
    return { ok: false, problems: problems.sort((a, b) => a.line - b.line) };
  }
  const tasks = plan.tasks.map((task): Task => planTaskToTask(task, runs));
  return { ok: true, tasks, ...(plan.rationale === undefined ? {} : { rationale: plan.rationale }) };
}

function planTaskToTask(task: z.infer<typeof planTaskSchema>, runs: RunsPolicy): Task {
  return {
    id: task.id,
    type: task.type,
    spec: {
      prompt: task.prompt,
      variables: {},
      // No scope given: the task may write anywhere, so its path lock covers everything.
      write_scope: task.write_scope ?? ['**'],
      test_commands: task.test_commands ?? runs.test_commands,
      auto_commit: true,
    },
    depends_on: task.depends_on ?? [],
    ...(task.lane === undefined ? {} : { lane: task.lane }),
    attempts: 0,
    status: 'pending',
  };
}

type Found =
  { kind: 'none' } | { kind: 'broken'; at: number; reason: string } | { kind: 'plan'; start: number; raw: string; value: unknown };

interface Candidate {
  start: number;
  end: number;
  raw: string;
  value?: unknown;
  error?: { at: number; reason: string };
}

/** Where a JSON object may start: a line's first `{`, or a `{` right before `"tasks":` inside a sentence. */
const STARTS = /^[ \t]*\{|\{(?=\s*"tasks"\s*:)/gm;

/**
 * The last JSON object in the output that is (or was meant to be) a plan. A broken one after a good one
 * wins: the planner's last word is what it meant, and an earlier draft must not run in its place.
 */
function findPlan(text: string): Found {
  const candidates: Candidate[] = [];
  let from = 0;
  // Each start may scan to the end: output made of unclosed braces must not take quadratic time.
  let budget = 20 * text.length + 1_000_000;
  for (const match of text.matchAll(STARTS)) {
    const start = match.index + match[0].indexOf('{');
    if (start < from) continue;
    const span = objectSpan(text, start);
    budget -= span.end - start;
    if (budget < 0) {
      return {
        kind: 'broken',
        at: start,
        reason: 'too many "{" that never close to find the plan among: print the plan as one JSON object',
      };
    }
    const raw = text.slice(start, span.end);
    if (!span.closed) {
      const reason = 'the JSON object that starts here never ends (was the output cut off?)';
      candidates.push({ start, end: span.end, raw, error: { at: start, reason } });
      continue;
    }
    try {
      candidates.push({ start, end: span.end, raw, value: JSON.parse(raw) as unknown });
      from = span.end;
    } catch (error) {
      candidates.push({ start, end: span.end, raw, error: jsonError(error, raw, start) });
    }
  }
  const isPlan = (c: Candidate) => (c.error ? /"tasks"\s*:/.test(c.raw) : isRecord(c.value) && Object.hasOwn(c.value, 'tasks'));
  const plan = [...candidates].reverse().find(isPlan);
  if (!plan) return { kind: 'none' };
  if (plan.error) return { kind: 'broken', ...plan.error };
  return { kind: 'plan', start: plan.start, raw: plan.raw, value: plan.value };
}

/** The end of the bracketed value starting at `start`, string-aware; a raw newline inside a string ends it unclosed. */
function objectSpan(text: string, start: number): { end: number; closed: boolean } {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') inString = false;
      else if (c === '\n') return { end: i, closed: false };
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return { end: i + 1, closed: true };
    }
  }
  return { end: text.length, closed: false };
}

/** JSON.parse failed: where and why, by a reader that always knows the offset. */
function jsonError(error: unknown, raw: string, start: number): { at: number; reason: string } {
  const found = jsonSyntaxError(raw);
  if (found) return { at: start + found.at, reason: `the plan is not valid JSON: ${found.reason}` };
  return { at: start, reason: `the plan is not valid JSON: ${error instanceof Error ? error.message : String(error)}` };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Offsets where each line starts, for a binary search from an offset to its 1-based line. */
function lineIndex(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

function lineOf(starts: readonly number[], offset: number): number {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if ((starts[mid] ?? 0) <= offset) low = mid;
    else high = mid - 1;
  }
  return low + 1;
}

/** The offset of the node at `path` (an unknown key's own key node), else of the nearest ancestor found. */
function nodeOffset(doc: Document | undefined, path: readonly PropertyKey[], key?: string): number {
  if (!doc) return 0;
  for (let depth = path.length; depth >= 0; depth--) {
    const node: unknown = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    if (key !== undefined && depth === path.length && isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && item.key.value === key);
      if (isScalar(pair?.key) && pair.key.range) return pair.key.range[0];
    }
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return range[0];
  }
  return 0;
}

function pathText(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`)).join('');
}

function describeIssue(issue: z.core.$ZodIssue, value: unknown): string {
  const task = taskIdAt(value, issue.path);
  const prefix = task === undefined ? '' : `task "${task}": `;
  if (issue.code === 'unrecognized_keys') {
    const known = issue.path.length === 0 ? Object.keys(planSchema.shape) : Object.keys(planTaskSchema.shape);
    return `${prefix}unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')} (known: ${known.join(', ')})`;
  }
  const inTask = issue.path[0] === 'tasks' && typeof issue.path[1] === 'number';
  const field = issue.path.slice(inTask ? 2 : 0).find((part) => typeof part === 'string');
  return `${prefix}${field === undefined || field === 'tasks' ? '' : `${field}: `}${issue.message}`;
}

/** The id of the task an issue is about, when it has a readable one. */
function taskIdAt(value: unknown, path: readonly PropertyKey[]): string | undefined {
  if (path[0] !== 'tasks' || typeof path[1] !== 'number' || !isRecord(value) || !Array.isArray(value.tasks)) return undefined;
  const task: unknown = value.tasks[path[1]];
  return isRecord(task) && typeof task.id === 'string' && /^[\w.-]{1,64}$/.test(task.id) ? task.id : undefined;
}

export interface GraphNode {
  id: string;
  depends_on: readonly string[];
}

/** A graph problem at a node (and one of its dependencies, when about that). */
export interface GraphProblem {
  index: number;
  dependency?: number;
  reason: string;
}

/**
 * Duplicate ids (also ids equal but for case: a case-insensitive disk makes their branches and worktrees
 * one), dependencies on no task, and cycles, each named: a graph nothing could finish never starts.
 */
export function graphProblems(nodes: readonly GraphNode[]): GraphProblem[] {
  const problems: GraphProblem[] = [];
  const first = new Map<string, number>();
  nodes.forEach((node, index) => {
    const seen = first.get(node.id.toLowerCase());
    if (seen === undefined) first.set(node.id.toLowerCase(), index);
    else {
      const other = nodes[seen]?.id ?? '';
      const why = other === node.id ? '' : ` ("${other}" differs only in case, and a case-insensitive disk cannot tell them apart)`;
      problems.push({ index, reason: `duplicate task id "${node.id}"${why}` });
    }
  });
  const byId = new Map<string, GraphNode>();
  for (const node of nodes) if (!byId.has(node.id)) byId.set(node.id, node);
  nodes.forEach((node, index) => {
    node.depends_on.forEach((dep, dependency) => {
      if (!byId.has(dep))
        problems.push({ index, dependency, reason: `task "${node.id}" depends on "${dep}", which is no task of the plan` });
    });
  });
  for (const cycle of cyclesOf(new Map([...byId].map(([id, node]) => [id, node.depends_on])))) {
    const index = nodes.findIndex((node) => node.id === cycle[0]);
    const self = cycle.length === 1 ? ' (a task cannot depend on itself)' : '';
    problems.push({ index, reason: `depends_on forms a cycle: ${[...cycle, cycle[0]].join(' → ')}${self}` });
  }
  return problems;
}

/**
 * The usage a planner reports, as the workers do: a line of JSON with `tokens_in`, `tokens_out` and
 * `usd` (bare or under "usage"); the last such line counts.
 */
export function parseUsage(text: string): Usage | undefined {
  const lines = text.split('\n').reverse();
  for (const line of lines) {
    const trimmed = line.trim();
    if (!trimmed.startsWith('{') || !trimmed.includes('tokens_in')) continue;
    try {
      const value = JSON.parse(trimmed) as unknown;
      const parsed = usageSchema.safeParse(isRecord(value) && 'usage' in value ? value.usage : value);
      if (parsed.success) return parsed.data;
    } catch {
      // prose that happens to start with a brace
    }
  }
  return undefined;
}

/**
 * The test commands of a planner's tasks that the policy does not list (runs.test_commands, or a
 * template task's test_commands). A planner is an agent: a command it invents (`curl … | sh`,
 * `rm -rf ~`) would run on the user's machine with the user's rights, so only commands a person
 * wrote into the policy may run; anything else rejects the plan.
 */
export function unlistedTestCommands(tasks: readonly Task[], runs: RunsPolicy): { task: string; command: string }[] {
  const listed = new Set([
    ...runs.test_commands,
    ...Object.values(runs.templates).flatMap((entries) => entries.flatMap((entry) => entry.test_commands)),
  ]);
  return tasks.flatMap((task) =>
    task.spec.test_commands.filter((command) => !listed.has(command)).map((command) => ({ task: task.id, command })),
  );
}

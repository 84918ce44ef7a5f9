// The router (issue 13): which worker class a task runs on. Rules are CEL expressions (`@bufbuild/cel`)
// over the task and the budget, tried in order, with fallbacks at a class's cap; a default; a cheaper
// class past the budget's degrade threshold; optionally a learned choice (router-learn.ts). Pure.
//
// CEL variables (docs/policy.md, `runs.router.rules[].when`):
//   task.type (string), task.id (string), task.lane (string, "" when none), task.attempts (int),
//   task.context_tokens (int, ≈ the prompt's characters / 4)
//   budget.usd_left (double, +Infinity without a USD cap), budget.tokens_left (int, 9007199254740991
//   without a token cap, so `budget.tokens_left < N` is false when nothing is capped),
//   budget.fraction_used (double, the largest spent/cap over the caps set, 0 without caps),
//   budget.state (string: "ok", "degrade" or "stop")
import { celEnv, CelScalar, isCelError, mapType, parse, plan, type CelResult } from '@bufbuild/cel';
import { classUnderBudget, type BudgetVerdict } from './budget';
import type { Run, Task } from './model';
import type { RunsPolicy } from './policy';
import { chooseLearned, seededRng, seedOf, type RouterStat } from './router-learn';

export { learn, type RouterStat } from './router-learn';

/** The fields each CEL variable has; any other name is a policy error, not a silent false. */
export const ROUTER_FIELDS = {
  task: ['type', 'id', 'lane', 'attempts', 'context_tokens'],
  budget: ['usd_left', 'tokens_left', 'fraction_used', 'state'],
} as const;
/** `budget.tokens_left` when the run has no token cap. */
export const NO_TOKEN_CAP = Number.MAX_SAFE_INTEGER;

type Bindings = { task: Map<string, string | bigint>; budget: Map<string, string | bigint | number> };

/** A `when` that parsed and passed the name check: evaluate it on a task and a budget. */
export interface CompiledWhen {
  source: string;
  evaluate(bindings: Bindings): CelResult;
}

export interface CompiledRule {
  when: CompiledWhen;
  use: string;
  fallback: string[];
  source: string;
}

export interface CompiledRouter {
  rules: CompiledRule[];
  /** The class when no rule matches: `router.default`, else the first worker class; undefined without classes. */
  default?: string;
  /** Every class, dearest first: by cost_rank (higher is dearer; absent: the list order), then list order. */
  classes: string[];
  learn: boolean;
  /** The learned choice's quality floor (`router.min_success`): see chooseLearned. */
  min_success: number;
  /** Per-token prices (USD per million) for an unseen class's prior cost. */
  prices: Readonly<Record<string, { in: number; out: number }>>;
}

export interface RouterProblem {
  path: (string | number)[];
  message: string;
  hint: string;
  /** The policy problem's code: `bad-cel` or `unknown-class`. */
  code: string;
}

const environment = celEnv({
  variables: { task: mapType(CelScalar.STRING, CelScalar.DYN), budget: mapType(CelScalar.STRING, CelScalar.DYN) },
});

type Expr = ReturnType<typeof parse>['expr'];

/** `task` or `budget` when the expression is that variable (not a comprehension's variable of the same name). */
function variableOf(expr: Expr | undefined, bound: ReadonlySet<string>): keyof typeof ROUTER_FIELDS | undefined {
  const kind = expr?.exprKind;
  if (kind?.case !== 'identExpr' || bound.has(kind.value.name)) return undefined;
  return kind.value.name === 'task' || kind.value.name === 'budget' ? kind.value.name : undefined;
}

function checkField(variable: keyof typeof ROUTER_FIELDS, field: string, out: string[]): void {
  const fields: readonly string[] = ROUTER_FIELDS[variable];
  if (!fields.includes(field)) out.push(`${variable} has no field "${field}" (known: ${fields.join(', ')})`);
}

/** Names the expression uses that are not variables or their fields (a typo would otherwise never match). */
function unknownNames(expr: Expr | undefined, bound: ReadonlySet<string>, out: string[]): void {
  const kind = expr?.exprKind;
  if (!kind) return;
  switch (kind.case) {
    case 'identExpr':
      if (!bound.has(kind.value.name) && !(kind.value.name in ROUTER_FIELDS))
        out.push(`unknown variable "${kind.value.name}" (known: task, budget)`);
      return;
    case 'selectExpr': {
      const variable = variableOf(kind.value.operand, bound);
      if (variable) checkField(variable, kind.value.field, out);
      else unknownNames(kind.value.operand, bound, out);
      return;
    }
    case 'callExpr': {
      // `task["type"]` names a field as surely as `task.type` does.
      const [operand, index] = kind.value.args;
      const variable = kind.value.function === '_[_]' ? variableOf(operand, bound) : undefined;
      const key =
        index?.exprKind.case === 'constExpr' && index.exprKind.value.constantKind.case === 'stringValue'
          ? index.exprKind.value.constantKind.value
          : undefined;
      if (variable && key !== undefined) checkField(variable, key, out);
      else for (const arg of kind.value.args) unknownNames(arg, bound, out);
      unknownNames(kind.value.target, bound, out);
      return;
    }
    case 'listExpr':
      for (const element of kind.value.elements) unknownNames(element, bound, out);
      return;
    case 'structExpr':
      for (const entry of kind.value.entries) {
        if (entry.keyKind.case === 'mapKey') unknownNames(entry.keyKind.value, bound, out);
        unknownNames(entry.value, bound, out);
      }
      return;
    case 'comprehensionExpr': {
      const c = kind.value;
      unknownNames(c.iterRange, bound, out);
      unknownNames(c.accuInit, bound, out);
      const inner = new Set([...bound, c.iterVar, c.iterVar2, c.accuVar].filter((name) => name !== ''));
      for (const part of [c.loopCondition, c.loopStep, c.result]) unknownNames(part, inner, out);
      return;
    }
    default:
      return;
  }
}

/** A task and a budget every field of which has its declared type, to find type errors before any task runs. */
const SAMPLE: Bindings = bindingsOf(
  {
    id: 'sample',
    type: 'code',
    spec: { prompt: 'x', variables: {}, write_scope: [], test_commands: [], auto_commit: true },
    depends_on: [],
    attempts: 0,
    status: 'pending',
  },
  { state: 'ok', lines: [], because: [], rationale: '' },
);

/** Compiles one `when`; the message says what is wrong in CEL's words. */
export function compileWhen(source: string): { ok: true; when: CompiledWhen } | { ok: false; message: string } {
  let evaluate: (bindings: Bindings) => CelResult;
  try {
    const parsed = parse(source);
    const unknown: string[] = [];
    unknownNames(parsed.expr, new Set(), unknown);
    if (unknown.length > 0) return { ok: false, message: [...new Set(unknown)].join('; ') };
    evaluate = plan(environment, parsed);
  } catch (error) {
    // The parser says `<input>:1:10: …`; a `when` is one line, so the column is what helps.
    const message = (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
    return { ok: false, message: message.replace(/^<input>:\d+:(\d+): /, 'at column $1: ') };
  }
  // A type error (e.g. a string compared with a number) fails on every task: say so now. Value-dependent
  // errors (division by zero …) and branches the sample does not take are left to run time.
  const trial = evaluate(SAMPLE);
  if (isCelError(trial) && /overload/i.test(trial.message)) return { ok: false, message: trial.message };
  if (!isCelError(trial) && typeof trial !== 'boolean') return { ok: false, message: `it gives ${describe(trial)}, not true or false` };
  return { ok: true, when: { source, evaluate } };
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `the string "${value}"`;
  if (typeof value === 'bigint' || typeof value === 'number') return `the number ${String(value)}`;
  return 'a value';
}

/** Classes dearest first: an explicit cost_rank, else the list position (first is dearest); ties keep the list order. */
function byCost(workers: RunsPolicy['workers']): string[] {
  const rank = (index: number): number => workers[index]?.cost_rank ?? workers.length - 1 - index;
  return workers
    .map((worker, index) => ({ name: worker.name, index }))
    .sort((a, b) => rank(b.index) - rank(a.index) || a.index - b.index)
    .map(({ name }) => name);
}

function classProblem(path: (string | number)[], name: string, known: readonly string[]): RouterProblem {
  const list = known.length > 0 ? known.join(', ') : 'none';
  const key = path
    .map((segment) => (typeof segment === 'number' ? `[${String(segment)}]` : `.${segment}`))
    .join('')
    .slice(1);
  return {
    path,
    message: `${key} is "${name}", which is no worker class (known: ${list})`,
    hint:
      known.length > 0 ? `use one of ${list}, or add a class named ${name} to runs.workers` : `add a class named ${name} to runs.workers`,
    code: 'unknown-class',
  };
}

/** The router of a policy's `runs` section, or every problem with its path (for policy validation). */
export function compileRouter(runs: RunsPolicy): { ok: true; router: CompiledRouter } | { ok: false; problems: RouterProblem[] } {
  const known = runs.workers.map((worker) => worker.name);
  const problems: RouterProblem[] = [];
  const rules: CompiledRule[] = [];
  runs.router.rules.forEach((rule, index) => {
    const at = ['runs', 'router', 'rules', index];
    const when = compileWhen(rule.when);
    if (!when.ok) {
      problems.push({
        path: [...at, 'when'],
        message: `runs.router.rules[${index}].when does not compile as CEL: ${when.message}`,
        hint: 'write a CEL expression over task (type, id, lane, attempts, context_tokens) and budget (usd_left, tokens_left, fraction_used, state), e.g. task.type == "spec" && task.context_tokens > 60000',
        code: 'bad-cel',
      });
    } else rules.push({ when: when.when, use: rule.use, fallback: rule.fallback, source: rule.when });
    if (!known.includes(rule.use)) problems.push(classProblem([...at, 'use'], rule.use, known));
    rule.fallback.forEach((name, j) => {
      if (!known.includes(name)) problems.push(classProblem([...at, 'fallback', j], name, known));
    });
  });
  const chosen = runs.router.default;
  if (chosen !== undefined && !known.includes(chosen)) problems.push(classProblem(['runs', 'router', 'default'], chosen, known));
  if (problems.length > 0) return { ok: false, problems };
  const prices = Object.fromEntries(
    runs.workers.map((worker) => [worker.name, { in: worker.usd_per_mtok_in, out: worker.usd_per_mtok_out }]),
  );
  const fallbackDefault = chosen ?? known[0];
  return {
    ok: true,
    router: {
      rules,
      classes: byCost(runs.workers),
      learn: runs.router.learn,
      min_success: runs.router.min_success,
      prices,
      ...(fallbackDefault === undefined ? {} : { default: fallbackDefault }),
    },
  };
}

/** The CEL variables for a task under a budget verdict. */
export function bindingsOf(task: Task, budget: BudgetVerdict): Bindings {
  const line = (dimension: 'usd' | 'tokens') => budget.lines.find((entry) => entry.dimension === dimension);
  const usd = line('usd');
  const tokens = line('tokens');
  return {
    task: new Map<string, string | bigint>([
      ['type', task.type],
      ['id', task.id],
      ['lane', task.lane ?? ''],
      ['attempts', BigInt(task.attempts)],
      ['context_tokens', BigInt(contextTokens(task))],
    ]),
    budget: new Map<string, string | bigint | number>([
      ['usd_left', usd ? Math.max(0, usd.cap - usd.spent) : Infinity],
      ['tokens_left', BigInt(tokens ? Math.max(0, Math.round(tokens.cap - tokens.spent)) : NO_TOKEN_CAP)],
      ['fraction_used', budget.lines.reduce((most, entry) => Math.max(most, entry.fraction), 0)],
      ['state', budget.state],
    ]),
  };
}

/** ≈ the prompt's tokens: four characters a token, the usual rule of thumb for English and code. */
export function contextTokens(task: Task): number {
  return Math.ceil(task.spec.prompt.length / 4);
}

export interface RouteOptions {
  /** Tasks running now per class (hedges included). */
  classLoad: Readonly<Record<string, number>>;
  /** The per_class caps; a class not named has none. */
  perClass: Readonly<Record<string, number>>;
  stats?: Readonly<Record<string, RouterStat>>;
  /** Default: seeded from the run, the task and its attempt, so the same choice replays. */
  rng?: () => number;
}

export interface RouteChoice {
  worker_class: string;
  rationale: string;
  degraded: boolean;
}

/** The first matching rule, and why earlier rules did not match when they could not be evaluated. */
function matchRule(router: CompiledRouter, bindings: Bindings): { rule?: CompiledRule; index: number; notes: string[] } {
  const notes: string[] = [];
  for (const [index, rule] of router.rules.entries()) {
    const result = rule.when.evaluate(bindings);
    if (isCelError(result)) notes.push(`rule ${index + 1} (${rule.source}) skipped: it failed to evaluate (${result.message})`);
    else if (typeof result !== 'boolean')
      notes.push(`rule ${index + 1} (${rule.source}) skipped: it gave ${describe(result)}, not true or false`);
    else if (result) return { rule, index, notes };
  }
  return { index: -1, notes };
}

function underCap(name: string, options: RouteOptions): boolean {
  const cap = options.perClass[name];
  return cap === undefined || (options.classLoad[name] ?? 0) < cap;
}

/** The first candidate below its cap; when all are at it, the first (the scheduler makes it wait, class-full). */
function firstUnderCap(candidates: readonly string[], options: RouteOptions): { worker_class: string; why: string } {
  const [first = ''] = candidates;
  const free = candidates.find((name) => underCap(name, options));
  const load = (name: string): string => `${String(options.classLoad[name] ?? 0)} of ${String(options.perClass[name])}`;
  if (free === undefined)
    return { worker_class: first, why: `every candidate is at its per_class cap (${first}: ${load(first)}): ${first} waits` };
  if (free === first) return { worker_class: first, why: `uses ${first}` };
  const full = candidates.slice(0, candidates.indexOf(free));
  return {
    worker_class: free,
    why: `${full.map((name) => `${name} is at its per_class cap (${load(name)})`).join(', ')}: fallback ${free}`,
  };
}

/** An unseen class's mean cost per attempt: its prices for the task's context in and as many tokens out; 0 without prices. */
function priorUsd(router: CompiledRouter, tokens: number): (name: string) => number {
  return (name) => {
    const price = router.prices[name];
    return price ? (tokens * (price.in + price.out)) / 1e6 : 0;
  };
}

/** The worker class of a task, as a decision with its rationale. */
export function route(router: CompiledRouter, task: Task, run: Run, budget: BudgetVerdict, options: RouteOptions): RouteChoice {
  const fallbackDefault = router.default ?? router.classes[0];
  if (fallbackDefault === undefined)
    return { worker_class: '', rationale: 'no worker classes: add runs.workers to the policy', degraded: false };
  const matched = matchRule(router, bindingsOf(task, budget));
  const because = matched.rule ? `rule ${matched.index + 1} (${matched.rule.source}) matched` : 'no rule matched';
  const ordered = matched.rule
    ? [matched.rule.use, ...matched.rule.fallback]
    : router.learn
      ? [fallbackDefault, ...router.classes]
      : [fallbackDefault];
  const candidates = [...new Set(ordered)];
  let pick = firstUnderCap(candidates, options);
  if (router.learn) {
    const free = candidates.filter((name) => underCap(name, options));
    const learned = chooseLearned({
      candidates: free.length > 0 ? free : candidates,
      type: task.type,
      stats: options.stats ?? {},
      priorUsd: priorUsd(router, contextTokens(task)),
      minSuccess: router.min_success,
      rng: options.rng ?? seededRng(seedOf(`${run.id}/${task.id}/${String(task.attempts)}`)),
    });
    if (learned) pick = { worker_class: learned.worker_class, why: learned.rationale };
  } else if (!matched.rule) pick = { ...pick, why: `the default class ${pick.worker_class}` };
  const budgeted = classUnderBudget(pick.worker_class, router.classes, budget);
  const parts = [because, ...matched.notes, pick.why, ...(budget.state === 'ok' ? [] : [budgeted.rationale])];
  return { worker_class: budgeted.worker_class, rationale: parts.join('; '), degraded: budgeted.degraded };
}

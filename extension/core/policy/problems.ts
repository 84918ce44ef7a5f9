// A schema issue as a policy problem a person can act on: the key's line and
// column, what is wrong in the policy's own words, and a hint with the fix.
import { isMap, isPair, isScalar, isSeq, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import type { PolicyProblem } from './parse';
import { closest } from './suggest';
import { DURATION_KEYS, policySchema } from './schema';

export type At = (start: number, end: number) => Pick<PolicyProblem, 'line' | 'column' | 'endLine' | 'endColumn'>;
type Issue = z.core.$ZodIssue;
type Segment = PropertyKey;

/** What every issue is described against: the document, its data, and how to position a node. */
export interface IssueContext {
  root: YamlNode | null;
  value: unknown;
  file: string;
  at: At;
}

/** One issue's problem(s), positioned at the node its path leads to. */
class Described {
  readonly name: string;
  constructor(
    readonly issue: Issue,
    readonly context: IssueContext,
  ) {
    this.name = keyPath(issue.path);
  }

  get path(): Segment[] {
    return this.issue.path;
  }

  /** The value the issue is about, as the file gives it. */
  given(): unknown {
    return valueAt(this.context.value, this.path);
  }

  where(node: { range?: [number, number, number] | null } | null | undefined): ReturnType<At> {
    const range = node?.range ?? [0, 0, 0];
    return this.context.at(range[0], range[1]);
  }

  problem(code: string, message: string, hint: string): PolicyProblem[] {
    return [{ file: this.context.file, ...this.where(locate(this.context.root, this.path).node), message, hint, code }];
  }
}

export function describeIssue(issue: Issue, context: IssueContext): PolicyProblem[] {
  const d = new Described(issue, context);
  switch (issue.code) {
    case 'unrecognized_keys':
      return unknownKeys(d, issue.keys);
    case 'invalid_value':
      return badEnum(d, issue.values);
    case 'invalid_type':
      return badType(d, issue.expected);
    case 'invalid_union':
      return d.problem(
        'bad-type',
        `${d.name} must be "all" or a list of check names, got ${describeValue(d.given())}`,
        'write `required_checks: all` or `required_checks: ["test", "lint"]`',
      );
    case 'too_small':
      return tooSmall(d, issue.origin);
    case 'custom':
      return custom(d, issue);
    default:
      return d.problem('invalid', `${d.name}: ${issue.message}`, 'see docs/policy.md for every key');
  }
}

function unknownKeys(d: Described, keys: readonly string[]): PolicyProblem[] {
  const mapNode = locate(d.context.root, d.path).node;
  const allowed = allowedKeys(d.path);
  return keys.map((key) => {
    const keyNode = isMap(mapNode) ? mapNode.items.find((pair) => isPair(pair) && scalarText(pair.key) === key)?.key : null;
    const guess = closest(key, allowed);
    return {
      file: d.context.file,
      ...d.where(keyNode ?? mapNode),
      message: `unknown key "${key}"${d.path.length ? ` in ${d.name}` : ''}`,
      hint: guess ? `did you mean "${guess}"?` : `allowed keys here: ${allowed.join(', ')}`,
      code: 'unknown-key',
    };
  });
}

function badEnum(d: Described, values: readonly unknown[]): PolicyProblem[] {
  const given = String(d.given());
  const options = values.map(String);
  const guess = closest(given, options);
  return d.problem(
    'bad-enum',
    `${d.name} is "${given}", expected one of ${options.join(', ')}`,
    guess ? `did you mean "${guess}"?` : `use one of ${options.join(', ')}`,
  );
}

function badType(d: Described, expectedType: string): PolicyProblem[] {
  const { path, name } = d;
  const given = d.given();
  if (given === undefined) {
    const last = String(path[path.length - 1]);
    return d.problem('missing-key', `${describeOwner(path.slice(0, -1), d.context.value)} has no "${last}"`, missingHint(last));
  }
  if (DURATION_KEYS.has(String(path[path.length - 1])) && typeof given === 'number') {
    return d.problem('bad-duration', `${name} is ${given}, which is not a duration (no unit)`, `add a unit, e.g. ${given}m or ${given}s`);
  }
  const expected = expectedType === 'int' ? 'a whole number' : article(expectedType);
  return d.problem('bad-type', `${name} must be ${expected}, got ${describeValue(given)}`, typeHint(expectedType, path));
}

function tooSmall(d: Described, origin: string): PolicyProblem[] {
  const { path, name } = d;
  if (origin === 'array') {
    const last = String(path[path.length - 1]);
    return d.problem('empty-list', `${describeOwner(path.slice(0, -1), d.context.value)} has an empty "${last}" list`, missingHint(last));
  }
  if (origin === 'string')
    return d.problem('empty-value', `${name} must not be empty`, 'give it a value or remove the key to use the default');
  return d.problem('negative-count', `${name} is ${String(d.given())}, it must be 0 or more`, 'counts cannot be negative');
}

function custom(d: Described, issue: Extract<Issue, { code: 'custom' }>): PolicyProblem[] {
  const params = (issue.params ?? {}) as { kind?: string; hint?: string };
  if (params.kind === 'duration') {
    return d.problem(
      'bad-duration',
      `${d.name} is "${String(d.given())}", which is not a duration`,
      'write a number and a unit, e.g. 90s, 30m, 2h, 3d or 1h30m',
    );
  }
  if (params.kind === 'regex') {
    return d.problem(
      'bad-regex',
      `${d.name} is not a valid regular expression`,
      'write plain text, or /pattern/flags with a valid pattern',
    );
  }
  return d.problem(params.kind ?? 'invalid', issue.message, params.hint ?? 'fix the value');
}

/** The YAML node for a path, or the deepest node on the way when the key is missing. */
function locate(root: YamlNode | null, path: Segment[]): { node: YamlNode | null; complete: boolean } {
  let node: YamlNode | null = root;
  for (const segment of path) {
    let next: unknown = undefined;
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && scalarText(item.key) === String(segment));
      next = pair?.value ?? pair?.key;
    } else if (isSeq(node) && typeof segment === 'number') {
      next = node.items[segment];
    }
    if (!next) return { node, complete: false };
    node = next as YamlNode;
  }
  return { node, complete: true };
}

function allowedKeys(path: Segment[]): string[] {
  // Walk the schema's shape alongside the path (array indexes step into elements).
  let schema: unknown = policySchema;
  for (const segment of path) {
    schema = unwrap(schema);
    const def = (schema as { def?: { type?: string; element?: unknown; shape?: Record<string, unknown> } }).def;
    if (def?.type === 'array') schema = def.element;
    else if (def?.shape) schema = def.shape[String(segment)];
    else return [];
  }
  const def = (unwrap(schema) as { def?: { shape?: Record<string, unknown> } }).def;
  return Object.keys(def?.shape ?? {});
}

function unwrap(schema: unknown): unknown {
  let current = schema as { def?: { type?: string; innerType?: unknown; in?: unknown; schema?: unknown } } | undefined;
  for (let i = 0; i < 10 && current?.def; i++) {
    const def = current.def;
    if (def.type === 'object' || def.type === 'array') return current;
    const inner = def.innerType ?? def.in ?? def.schema;
    if (!inner) return current;
    current = inner;
  }
  return current;
}

function scalarText(node: unknown): string | undefined {
  return isScalar(node) ? String(node.value) : undefined;
}

function valueAt(value: unknown, path: Segment[]): unknown {
  let current = value;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}

function keyPath(path: Segment[]): string {
  if (path.length === 0) return 'the policy';
  return path.reduce<string>(
    (text, segment) => (typeof segment === 'number' ? `${text}[${segment}]` : text ? `${text}.${String(segment)}` : String(segment)),
    '',
  );
}

function describeOwner(path: Segment[], value: unknown): string {
  if (path[0] === 'lanes' && typeof path[1] === 'number' && path.length === 2) {
    const lane = valueAt(value, path) as { name?: unknown } | undefined;
    return typeof lane?.name === 'string' ? `lane "${lane.name}"` : `lane ${path[1] + 1}`;
  }
  return path.length ? keyPath(path) : 'the policy';
}

function missingHint(key: string): string {
  switch (key) {
    case 'name':
      return 'every lane needs a name, e.g. `- name: web`';
    case 'paths':
      return 'list the path globs this lane owns, e.g. `paths: ["web/**"]`';
    case 'match':
      return 'a classify rule needs the text to match, e.g. `match: "No space left on device"`';
    case 'class':
      return 'a classify rule needs a failure class, e.g. `class: infra`';
    case 'run':
      return 'a local check needs the command to run, e.g. `run: npm test`';
    default:
      return `add "${key}"`;
  }
}

function typeHint(expected: string, path: Segment[]): string {
  const last = String(path[path.length - 1] ?? '');
  if (expected === 'array') return `write a list, e.g. ${last}: ["a", "b"]`;
  if (expected === 'boolean') return 'write true or false';
  if (expected === 'number' || expected === 'int') return 'write a whole number such as 2';
  if (expected === 'string') return 'write text (quote it if it starts with a special character)';
  if (expected === 'object') return `write ${last} as a mapping of keys`;
  return `expected ${expected}`;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object' && value !== null) return 'a mapping';
  if (typeof value === 'string') return `"${value}"`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  // YAML gives nothing else but null (a function or a symbol never comes out of a parse).
  return value === null ? 'object null' : typeof value;
}

function article(word: string): string {
  if (word === 'object') return 'a mapping';
  if (word === 'array') return 'a list';
  return /^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`;
}

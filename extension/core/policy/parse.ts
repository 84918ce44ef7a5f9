// Parses `.buildmaster.yml` keeping source positions, so every problem names
// its line and column. An invalid file yields no policy: nothing guesses.
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { closest } from './suggest';
import { DURATION_KEYS, duplicateIssues, policySchema, type Policy } from './schema';

export interface PolicyProblem {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  endLine: number;
  endColumn: number;
  message: string;
  hint: string;
  /** Stable code, e.g. `unknown-key`, `bad-enum`, `bad-duration`, `yaml-syntax`. */
  code: string;
}

export type PolicyResult = { ok: true; policy: Policy; problems: [] } | { ok: false; problems: PolicyProblem[] };

export const POLICY_FILES = ['.buildmaster.yml', '.github/buildmaster.yml'] as const;

/** The policy every key of which has its default: what an empty or missing file means. */
export function defaultPolicy(): Policy {
  return policySchema.parse({});
}

export function parsePolicy(text: string, file = '.buildmaster.yml'): PolicyResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (start: number, end: number) => {
    const from = lineCounter.linePos(start);
    const to = lineCounter.linePos(Math.max(start, end));
    return { line: from.line, column: from.col, endLine: to.line, endColumn: to.col };
  };

  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((error) => ({
        file,
        ...at(error.pos[0], error.pos[1]),
        // The yaml library's own wording for some errors names its API; say what it means for a policy.
        message:
          error.code === 'MULTIPLE_DOCS'
            ? 'the file holds more than one YAML document (a `---` line starts another); a policy is one document'
            : `YAML syntax error: ${firstLine(error.message)}`,
        hint: yamlHint(error.code),
        code: 'yaml-syntax',
      })),
    };
  }

  const contents = doc.contents as YamlNode | null;
  if (contents !== null && !isMap(contents) && !(isScalar(contents) && contents.value === null)) {
    const range = contents.range ?? [0, 0, 0];
    return {
      ok: false,
      problems: [
        {
          file,
          ...at(range[0], range[1]),
          message: 'the policy must be a mapping of keys (target, lanes, merge, …)',
          hint: 'start the file with a key such as `target: main`',
          code: 'not-a-mapping',
        },
      ],
    };
  }

  let data: unknown;
  try {
    data = doc.toJS();
  } catch (error) {
    // Aliases that expand exponentially (a "billion laughs" document) are refused by the
    // YAML library with an exception: a positioned problem, never a stack trace.
    return { ok: false, problems: [unreadable(doc, error, file, at)] };
  }
  const value = withoutNulls(data ?? {});
  const parsed = policySchema.safeParse(value);
  const duplicates = duplicateIssues(value);
  if (parsed.success && duplicates.length === 0) return { ok: true, policy: parsed.data, problems: [] };

  const issues = [...(parsed.success ? [] : parsed.error.issues), ...duplicates];
  const problems = issues.flatMap((issue) => describeIssue(issue, contents, value, file, at));
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  return { ok: false, problems };
}

type At = (start: number, end: number) => Pick<PolicyProblem, 'line' | 'column' | 'endLine' | 'endColumn'>;
type Issue = z.core.$ZodIssue;
type Segment = PropertyKey;

function describeIssue(issue: Issue, root: YamlNode | null, value: unknown, file: string, at: At): PolicyProblem[] {
  const path = issue.path;
  const where = (node: { range?: [number, number, number] | null } | null | undefined) => {
    const range = node?.range ?? [0, 0, 0];
    return at(range[0], range[1]);
  };
  const make = (code: string, message: string, hint: string, node: ReturnType<typeof locate>) => ({
    file,
    ...where(node.node),
    message,
    hint,
    code,
  });
  const name = keyPath(path);

  switch (issue.code) {
    case 'unrecognized_keys': {
      const mapNode = locate(root, path).node;
      const allowed = allowedKeys(path);
      return issue.keys.map((key) => {
        const keyNode = isMap(mapNode) ? mapNode.items.find((pair) => isPair(pair) && scalarText(pair.key) === key)?.key : null;
        const guess = closest(key, allowed);
        return {
          file,
          ...where(keyNode ?? mapNode),
          message: `unknown key "${key}"${path.length ? ` in ${name}` : ''}`,
          hint: guess ? `did you mean "${guess}"?` : `allowed keys here: ${allowed.join(', ')}`,
          code: 'unknown-key',
        };
      });
    }
    case 'invalid_value': {
      const found = locate(root, path);
      const given = String(valueAt(value, path));
      const options = issue.values.map(String);
      const guess = closest(given, options);
      return [
        make(
          'bad-enum',
          `${name} is "${given}", expected one of ${options.join(', ')}`,
          guess ? `did you mean "${guess}"?` : `use one of ${options.join(', ')}`,
          found,
        ),
      ];
    }
    case 'invalid_type': {
      const found = locate(root, path);
      const given = valueAt(value, path);
      if (given === undefined) {
        const last = path[path.length - 1];
        const owner = describeOwner(path.slice(0, -1), value);
        return [make('missing-key', `${owner} has no "${String(last)}"`, missingHint(String(last)), found)];
      }
      if (DURATION_KEYS.has(String(path[path.length - 1])) && typeof given === 'number') {
        return [
          make('bad-duration', `${name} is ${given}, which is not a duration (no unit)`, `add a unit, e.g. ${given}m or ${given}s`, found),
        ];
      }
      const expected = issue.expected === 'int' ? 'a whole number' : article(issue.expected);
      return [make('bad-type', `${name} must be ${expected}, got ${describeValue(given)}`, typeHint(issue.expected, path), found)];
    }
    case 'invalid_union': {
      const found = locate(root, path);
      return [
        make(
          'bad-type',
          `${name} must be "all" or a list of check names, got ${describeValue(valueAt(value, path))}`,
          'write `required_checks: all` or `required_checks: ["test", "lint"]`',
          found,
        ),
      ];
    }
    case 'too_small': {
      const found = locate(root, path);
      if (issue.origin === 'array') {
        const owner = describeOwner(path.slice(0, -1), value);
        return [
          make(
            'empty-list',
            `${owner} has an empty "${String(path[path.length - 1])}" list`,
            missingHint(String(path[path.length - 1])),
            found,
          ),
        ];
      }
      if (issue.origin === 'string') {
        return [make('empty-value', `${name} must not be empty`, 'give it a value or remove the key to use the default', found)];
      }
      return [
        make('negative-count', `${name} is ${String(valueAt(value, path))}, it must be 0 or more`, 'counts cannot be negative', found),
      ];
    }
    case 'custom': {
      const found = locate(root, path);
      const params = (issue.params ?? {}) as { kind?: string; hint?: string };
      if (params.kind === 'duration') {
        return [
          make(
            'bad-duration',
            `${name} is "${String(valueAt(value, path))}", which is not a duration`,
            'write a number and a unit, e.g. 90s, 30m, 2h, 3d or 1h30m',
            found,
          ),
        ];
      }
      if (params.kind === 'regex') {
        return [
          make('bad-regex', `${name} is not a valid regular expression`, 'write plain text, or /pattern/flags with a valid pattern', found),
        ];
      }
      return [make(params.kind ?? 'invalid', issue.message, params.hint ?? 'fix the value', found)];
    }
    default: {
      const found = locate(root, path);
      return [make('invalid', `${name}: ${issue.message}`, 'see docs/policy.md for every key', found)];
    }
  }
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

function yamlHint(code: string): string {
  switch (code) {
    case 'DUPLICATE_KEY':
      return 'each key may appear once in a mapping; remove or merge the duplicate';
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
      return 'check the indentation and punctuation on this line';
    case 'BLOCK_AS_IMPLICIT_KEY':
      return 'a key is probably missing its colon, or a line is mis-indented';
    case 'TAB_AS_INDENT':
      return 'indent with spaces, not tabs';
    case 'MULTIPLE_DOCS':
      return 'remove the `---` line and what follows it, or merge both documents into one';
    default:
      return 'fix the YAML syntax at this position';
  }
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

/** A document that parses but cannot become data: too many aliases, or anything else the library refuses. */
function unreadable(doc: Document, error: unknown, file: string, at: At): PolicyProblem {
  const message = error instanceof Error ? error.message : String(error);
  let alias: [number, number] | undefined;
  let aliases = 0;
  visit(doc, {
    Alias(_key, node) {
      aliases += 1;
      alias ??= node.range ? [node.range[0], node.range[1]] : undefined;
    },
  });
  const where = alias ? at(alias[0], alias[1]) : at(0, 0);
  if (/alias/i.test(message) || aliases > 0) {
    return {
      file,
      ...where,
      message: `the policy expands YAML aliases too many times (${aliases} alias(es) in the file, starting here): ${firstLine(message)}`,
      hint: 'write the values out instead of using anchors (&name) and aliases (*name); a policy needs no aliases',
      code: 'yaml-aliases',
    };
  }
  return {
    file,
    ...where,
    message: `the policy cannot be read as data: ${firstLine(message)}`,
    hint: 'simplify the YAML at this position',
    code: 'yaml-syntax',
  };
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

/** YAML `key:` with no value means "use the default", like leaving the key out. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== null)
        .map(([k, v]) => [k, withoutNulls(v)]),
    );
  }
  return value;
}

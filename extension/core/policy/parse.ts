// Parses `.buildmaster.yml` keeping source positions, so every problem names
// its line and column. An invalid file yields no policy: nothing guesses.
import { isMap, isScalar, LineCounter, parseDocument, visit, type Document, type Node as YamlNode, type YAMLError } from 'yaml';
import { describeIssue, type At } from './problems';
import { duplicateIssues, policySchema, type Policy } from './schema';

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
  const at: At = (start, end) => {
    const from = lineCounter.linePos(start);
    const to = lineCounter.linePos(Math.max(start, end));
    return { line: from.line, column: from.col, endLine: to.line, endColumn: to.col };
  };
  if (doc.errors.length > 0) return { ok: false, problems: doc.errors.map((error) => syntaxProblem(error, file, at)) };
  const contents = doc.contents as YamlNode | null;
  if (contents !== null && !isMap(contents) && !(isScalar(contents) && contents.value === null)) {
    const range = contents.range ?? [0, 0, 0];
    const problem: PolicyProblem = {
      file,
      ...at(range[0], range[1]),
      message: 'the policy must be a mapping of keys (target, lanes, merge, …)',
      hint: 'start the file with a key such as `target: main`',
      code: 'not-a-mapping',
    };
    return { ok: false, problems: [problem] };
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
  const problems = issues.flatMap((issue) => describeIssue(issue, { root: contents, value, file, at }));
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  return { ok: false, problems };
}

function syntaxProblem(error: YAMLError, file: string, at: At): PolicyProblem {
  return {
    file,
    ...at(error.pos[0], error.pos[1]),
    // The yaml library's own wording for some errors names its API; say what it means for a policy.
    message:
      error.code === 'MULTIPLE_DOCS'
        ? 'the file holds more than one YAML document (a `---` line starts another); a policy is one document'
        : `YAML syntax error: ${firstLine(error.message)}`,
    hint: yamlHint(error.code),
    code: 'yaml-syntax',
  };
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

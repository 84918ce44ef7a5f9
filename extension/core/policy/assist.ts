// Editing help for `.buildmaster.yml`: the keys allowed at a position, their
// values, and what they mean. The language server calls this; the schema is
// the one the controller validates with, so the two cannot disagree.
// Positions are found from indentation, not a parse, because the file being
// typed is usually not valid YAML yet.
import { z } from 'zod';
import { FAILURE_CLASS_DOCS, POLICY_DOCS } from './docs';
import { policySchema } from './schema';

export interface KeyInfo {
  key: string;
  /** Dotted path with `[]` for array items, e.g. `lanes[].paths`. */
  path: string;
  doc: string;
  type: string;
  values?: string[];
  default?: unknown;
  /** Keys of a mapping value. */
  children?: KeyInfo[];
  /** Keys of each item, when the value is a list of mappings. */
  itemKeys?: KeyInfo[];
}

interface JsonSchema {
  type?: string;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
}

let outline: KeyInfo[] | undefined;

/** Every top-level key of the policy with its nested keys. */
export function policyOutline(): KeyInfo[] {
  outline ??= keysOf(z.toJSONSchema(policySchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema, '');
  return outline;
}

function keysOf(schema: JsonSchema, prefix: string): KeyInfo[] {
  return Object.entries(schema.properties ?? {}).map(([key, node]) => infoOf(key, node, prefix ? `${prefix}.${key}` : key));
}

function infoOf(key: string, node: JsonSchema, path: string): KeyInfo {
  const variants = node.anyOf ?? [node];
  const values = variants.flatMap((v) => [...(v.enum ?? []), ...(v.const !== undefined ? [v.const] : [])]).map(String);
  const types = [...new Set(variants.map((v) => v.type ?? 'any'))];
  if (types.includes('boolean')) values.push('true', 'false');
  const objectNode = variants.find((v) => v.type === 'object');
  const arrayNode = variants.find((v) => v.type === 'array');
  const eligibilityClass = path.startsWith('eligibility.') ? FAILURE_CLASS_DOCS[key] : undefined;
  const doc = POLICY_DOCS[path] ?? (eligibilityClass ? `Remedy for ${key} failures: ${eligibilityClass}` : '');
  return {
    key,
    path,
    doc,
    type: types.map((t) => (t === 'array' && arrayNode?.items?.type ? `${arrayNode.items.type}[]` : t)).join(' | '),
    ...(values.length ? { values: [...new Set(values)] } : {}),
    ...(node.default !== undefined ? { default: node.default } : {}),
    ...(objectNode?.properties ? { children: keysOf(objectNode, path) } : {}),
    ...(arrayNode?.items?.properties ? { itemKeys: keysOf(arrayNode.items, `${path}[]`) } : {}),
  };
}

/** The key info at a path of keys and `[]` steps; undefined for an unknown path. */
export function keyAt(path: readonly string[]): KeyInfo | undefined {
  let keys: KeyInfo[] | undefined = policyOutline();
  let found: KeyInfo | undefined;
  for (let i = 0; i < path.length; i++) {
    const step = path[i];
    if (step === '[]') {
      if (!found?.itemKeys) return undefined;
      keys = found.itemKeys;
      continue;
    }
    found = keys?.find((k) => k.key === step);
    if (!found) return undefined;
    keys = found.children;
  }
  return found;
}

/** The keys allowed directly inside a path (the root for an empty path). */
export function keysInside(path: readonly string[]): KeyInfo[] {
  if (path.length === 0) return policyOutline();
  const last = path[path.length - 1];
  const info = keyAt(last === '[]' ? path.slice(0, -1) : path);
  if (!info) return [];
  return (last === '[]' ? info.itemKeys : info.children) ?? [];
}

export interface CursorContext {
  /** Parent path of the mapping the cursor is in. */
  parents: string[];
  /** `key`: typing a key; `value`: typing the value of `key`. */
  mode: 'key' | 'value';
  key?: string;
  /** The partial word before the cursor. */
  prefix: string;
}

const KEY_LINE = /^(\s*)(-\s+)?([A-Za-z0-9_-]+)\s*:(.*)$/;

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

/** The parent path of a line at `indent` (and whether that line is itself a list item), from the lines above. */
function parentsAbove(lines: readonly string[], lineNo: number, indent: number, isItem: boolean): string[] {
  const path: string[] = isItem ? ['[]'] : [];
  let keyLimit = isItem ? indent + 1 : indent;
  let dashLimit = indent;
  for (let i = lineNo - 1; i >= 0 && (keyLimit > 0 || dashLimit > 0); i--) {
    const line = lines[i] ?? '';
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const ind = indentOf(line);
    if (trimmed.startsWith('-')) {
      if (ind < dashLimit) {
        path.unshift('[]');
        keyLimit = ind + 1;
        dashLimit = ind;
      }
      continue;
    }
    const match = KEY_LINE.exec(line);
    if (match && ind < keyLimit) {
      path.unshift(match[3] as string);
      keyLimit = ind;
      dashLimit = ind;
    }
  }
  return path;
}

export function cursorContext(text: string, line: number, character: number): CursorContext {
  const lines = text.split(/\r?\n/);
  const before = (lines[line] ?? '').slice(0, character);
  const valueMatch = /^(\s*)(-\s+)?([A-Za-z0-9_-]+)\s*:\s*(?:\[?\s*(?:[^,\]]*,\s*)*)?["']?([^"',\]\s]*)$/.exec(before);
  if (valueMatch) {
    const indent = (valueMatch[1] as string).length + (valueMatch[2]?.length ?? 0);
    return {
      parents: parentsAbove(lines, line, indent, Boolean(valueMatch[2])),
      mode: 'value',
      key: valueMatch[3],
      prefix: valueMatch[4] as string,
    };
  }
  const keyMatch = /^(\s*)(-\s+)?([A-Za-z0-9_-]*)$/.exec(before);
  const indent = keyMatch ? (keyMatch[1] as string).length + (keyMatch[2]?.length ?? 0) : indentOf(before);
  return { parents: parentsAbove(lines, line, indent, Boolean(keyMatch?.[2])), mode: 'key', prefix: keyMatch?.[3] ?? '' };
}

export interface Completion {
  label: string;
  kind: 'key' | 'value';
  detail: string;
  doc: string;
  /** What to insert: `key: ` for scalars, `key:\n  ` for mappings. */
  insert: string;
}

export function completionsAt(text: string, line: number, character: number): Completion[] {
  const context = cursorContext(text, line, character);
  if (context.mode === 'value') {
    const info = keyAt([...context.parents, context.key as string]);
    return (info?.values ?? []).map((value) => ({
      label: value,
      kind: 'value',
      detail: `${info?.path}`,
      doc: valueDoc(info as KeyInfo, value),
      insert: value,
    }));
  }
  return keysInside(context.parents).map((info) => ({
    label: info.key,
    kind: 'key',
    detail: `${info.type}${info.default !== undefined ? ` = ${JSON.stringify(info.default)}` : ''}`,
    doc: info.doc,
    insert: info.children || info.itemKeys ? `${info.key}:` : `${info.key}: `,
  }));
}

function valueDoc(info: KeyInfo, value: string): string {
  if (info.path.startsWith('incidents.classify') && FAILURE_CLASS_DOCS[value]) return FAILURE_CLASS_DOCS[value];
  return info.doc;
}

export interface Hover {
  /** Markdown. */
  contents: string;
  /** 0-based character range of the word on its line. */
  start: number;
  end: number;
}

/** Documentation for the key (or enum value) under the cursor. */
export function hoverAt(text: string, line: number, character: number): Hover | undefined {
  const lines = text.split(/\r?\n/);
  const source = lines[line] ?? '';
  const match = KEY_LINE.exec(source);
  if (!match) return undefined;
  const keyStart = (match[1] as string).length + (match[2]?.length ?? 0);
  const key = match[3] as string;
  const parents = parentsAbove(lines, line, keyStart, Boolean(match[2]));
  const info = keyAt([...parents, key]);
  if (!info) return undefined;
  const keyEnd = keyStart + key.length;
  if (character >= keyStart && character <= keyEnd) {
    const lines = [`**${info.path}** \`${info.type}\``, '', info.doc];
    if (info.values?.length) lines.push('', `Values: ${info.values.map((v) => `\`${v}\``).join(', ')}`);
    if (info.default !== undefined) lines.push('', `Default: \`${JSON.stringify(info.default)}\``);
    return { contents: lines.join('\n'), start: keyStart, end: keyEnd };
  }
  const wordMatch = /[A-Za-z0-9_-]+/g;
  for (let m = wordMatch.exec(source); m; m = wordMatch.exec(source)) {
    if (m.index <= character && character <= m.index + m[0].length && m.index > keyEnd && info.values?.includes(m[0])) {
      return { contents: `\`${m[0]}\` — ${valueDoc(info, m[0])}`, start: m.index, end: m.index + m[0].length };
    }
  }
  return undefined;
}

// GitHub's published OpenAPI description (the @octokit/openapi package), used
// two ways by the test server: every response it sends is validated against
// the operation's documented response schema, so the server cannot drift from
// the real API; and fields Build Master never reads (urls, node ids, the
// hundred keys of a repository) are filled with type-correct values taken from
// the schema, so the server only hand-writes the fields that carry behaviour.
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';

type Schema = {
  $ref?: string;
  type?: string | string[];
  nullable?: boolean;
  enum?: unknown[];
  format?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
};

interface Operation {
  method: string;
  template: string;
  pattern: RegExp;
  responses: Record<string, { $ref?: string; content?: Record<string, { schema?: Schema }> }>;
}

interface Description {
  paths: Record<string, Record<string, Operation['responses'] extends infer R ? { responses: R } : never>>;
  components: { schemas: Record<string, Schema>; responses: Record<string, { content?: Record<string, { schema?: Schema }> }> };
}

let loaded: { doc: Description; ajv: Ajv; operations: Operation[]; validators: Map<string, ValidateFunction> } | undefined;

function description() {
  if (loaded) return loaded;
  const file = require.resolve('@octokit/openapi/generated/api.github.com.json');
  const doc = JSON.parse(readFileSync(file, 'utf8')) as Description;
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'gh', components: toJsonSchema(doc.components) });
  const operations: Operation[] = [];
  for (const [template, methods] of Object.entries(doc.paths)) {
    if (!template.startsWith('/repos/{owner}/{repo}/') && template !== '/user') continue;
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, (m) => (m === '{path}' ? '(.+)' : '([^/]+)'))}$`);
    for (const [method, op] of Object.entries(methods)) {
      operations.push({
        method: method.toUpperCase(),
        template,
        pattern,
        responses: (op as { responses: Operation['responses'] }).responses,
      });
    }
  }
  // Literal segments win over parameters (`/commits/{ref}/status` over `/commits/{ref}`), as on GitHub's router.
  operations.sort((a, b) => b.template.replace(/\{[^}]+\}/g, '').length - a.template.replace(/\{[^}]+\}/g, '').length);
  loaded = { doc, ajv, operations, validators: new Map() };
  return loaded;
}

/** The documented operation for a request path, e.g. `GET /repos/{owner}/{repo}/pulls/{pull_number}`. */
export function operationFor(method: string, path: string): Operation | undefined {
  return description().operations.find((op) => op.method === method && op.pattern.test(path));
}

function resolve(schema: Schema): Schema {
  const { doc } = description();
  let current = schema;
  while (current.$ref) {
    const name = current.$ref.replace('#/components/schemas/', '');
    current = doc.components.schemas[name] as Schema;
  }
  return current;
}

function responseSchema(op: Operation, status: number): Schema | undefined | null {
  const { doc } = description();
  let response = op.responses[String(status)];
  if (!response) return null;
  if (response.$ref) response = doc.components.responses[response.$ref.replace('#/components/responses/', '')] as typeof response;
  return response.content?.['application/json']?.schema;
}

export interface Violation {
  operation: string;
  status: number;
  errors: string[];
}

/**
 * Checks a response body against the documented schema of its operation and
 * status. Returns undefined when it conforms; a status the operation does not
 * document is a violation too.
 */
export function validateResponse(method: string, path: string, status: number, body: unknown): Violation | undefined {
  const op = operationFor(method, path);
  if (!op) return { operation: `${method} ${path}`, status, errors: ['no such operation in GitHub’s OpenAPI description'] };
  const name = `${method} ${op.template}`;
  const schema = responseSchema(op, status);
  if (schema === null) return { operation: name, status, errors: [`status ${status} is not documented for this operation`] };
  if (!schema)
    return body === undefined || body === ''
      ? undefined
      : { operation: name, status, errors: ['the operation documents no body for this status'] };
  const { ajv, validators } = description();
  const key = `${name} ${status}`;
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile(toJsonSchema(rebase(schema)) as object);
    validators.set(key, validate);
  }
  if (validate(body)) return undefined;
  return {
    operation: name,
    status,
    errors: (validate.errors ?? []).slice(0, 10).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`),
  };
}

/**
 * OpenAPI 3.0's `nullable: true` is not JSON Schema: it becomes "this schema
 * or null" (Ajv only accepts the keyword beside a `type`, and never with `enum`).
 */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    // Property names and examples are data, not schemas, but walking them is harmless.
    out[key] = toJsonSchema(value);
  }
  if (out.nullable === true) {
    delete out.nullable;
    return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

/** Inline schemas refer to `#/components/...`; compiled alone they must point into the registered description. */
function rebase(schema: Schema): Schema {
  return JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"gh#/components/')) as Schema;
}

/**
 * Completes `value` so it has every property the schema requires: given values
 * are kept (and completed inside), missing ones get a type-correct filler
 * (null where the schema allows it). Only the fields the server hand-writes
 * carry meaning; validation then checks those against the same schema.
 */
export function conform(schemaName: string, value: Record<string, unknown>, base = 'http://127.0.0.1'): Record<string, unknown> {
  return fill({ $ref: `#/components/schemas/${schemaName}` }, value, base, 0) as Record<string, unknown>;
}

function fill(schema: Schema, value: unknown, base: string, depth: number): unknown {
  const s = resolve(schema);
  if (s.allOf) {
    return s.allOf.reduce<unknown>((acc, part) => fill(part, acc, base, depth), value ?? {});
  }
  const options = s.anyOf ?? s.oneOf;
  if (options) {
    if (value === undefined) return s.nullable ? null : fill(options[0] as Schema, undefined, base, depth + 1);
    const objectOption = options.find((o) => resolve(o).type === 'object' || resolve(o).properties);
    return objectOption && typeof value === 'object' && value !== null ? fill(objectOption, value, base, depth + 1) : value;
  }
  if (value !== undefined) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && (s.properties || s.type === 'object')) {
      const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
      for (const key of s.required ?? []) {
        const prop = s.properties?.[key] ?? {};
        out[key] = fill(prop, out[key], base, depth + 1);
      }
      for (const [key, v] of Object.entries(out)) {
        const prop = s.properties?.[key];
        if (prop && v !== null && typeof v === 'object')
          out[key] =
            Array.isArray(v) && resolve(prop).items
              ? v.map((item) => fill(resolve(prop).items as Schema, item, base, depth + 1))
              : fill(prop, v, base, depth + 1);
      }
      return out;
    }
    return value;
  }
  if (s.nullable || (Array.isArray(s.type) && s.type.includes('null'))) return null;
  if (s.enum) return s.enum[0];
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'string':
      if (s.format === 'date-time') return '2026-01-01T00:00:00Z';
      if (s.format === 'uri' || s.format === 'uri-template') return `${base}/`;
      if (s.format === 'email') return 'noreply@example.com';
      return '';
    case 'integer':
    case 'number':
      return 0;
    case 'boolean':
      return false;
    case 'array':
      return [];
    default:
      if (depth > 12) return {};
      return fill(s, {}, base, depth + 1);
  }
}

import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { defaultPolicy, parsePolicy } from '../../extension/core/policy/parse';
import { policySchema } from '../../extension/core/policy/schema';
import { formatDuration, parseDuration } from '../../extension/core/policy/duration';

const ROOT = join(__dirname, '..', '..');

function problems(yaml: string) {
  const result = parsePolicy(yaml, 'p.yml');
  assert.equal(result.ok, false, 'expected the policy to be invalid');
  return result.problems;
}

describe('policy: parsing and validation', () => {
  it('treats an empty file, a comment-only file and `key:` with no value as defaults', () => {
    for (const text of ['', '# nothing here\n', 'merge:\nlanes:\n']) {
      const result = parsePolicy(text);
      assert.ok(result.ok, text);
      assert.deepEqual(result.policy, defaultPolicy());
    }
  });

  it('gives every key its documented default', () => {
    const policy = defaultPolicy();
    assert.equal(policy.target, 'main');
    assert.equal(policy.default_lane, 'shared');
    assert.deepEqual(policy.lanes, []);
    assert.equal(policy.merge.method, 'squash');
    assert.equal(policy.merge.required_approvals, 1);
    assert.equal(policy.merge.required_checks, 'all');
    assert.deepEqual(policy.merge.blocking_labels, ['do-not-merge', 'needs-rework', 'needs-restack']);
    assert.equal(policy.merge.wait_for_target_green, true);
    assert.deepEqual(policy.autonomy, { merge: 'A3', fix: 'A2', revert: 'A1', hygiene: 'A4' });
    assert.equal(policy.incidents.fix_retries, 2);
    assert.equal(policy.incidents.failed_fixes_before_revert, 2);
    assert.equal(policy.incidents.page_owner_after, 30 * 60_000);
    assert.deepEqual(policy.incidents.global_hold, { paused_lanes_at_least: 3, on_tier3_incident: true, on_cross_lane: true });
    assert.equal(policy.eligibility.security, 'escalate');
    assert.equal(policy.eligibility.flaky, 'quarantine');
    assert.equal(policy.eligibility.test, 'fix');
    assert.equal(policy.dispatch.worker, 'github-issue');
    assert.equal(policy.dispatch.timeout, 30 * 60_000);
    assert.equal(policy.hygiene.stale_after, 3 * 86_400_000);
    assert.equal(policy.local.check_timeout, 10 * 60_000);
  });

  it('accepts examples/buildmaster.yml, the complete example the README links, and it sets every key', () => {
    const text = readFileSync(join(ROOT, 'examples', 'buildmaster.yml'), 'utf8');
    const result = parsePolicy(text);
    assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
    assert.equal(result.policy.lanes.length, 3);
    assert.deepEqual(result.policy.lanes[0]?.checks, ['test-web']);
    assert.equal(result.policy.local.checks.length, 2);
    assert.equal(result.policy.incidents.classify[0]?.class, 'infra');
    const missing = [...schemaKeys().keys()].filter((key) => !keysSetIn(parseYaml(text)).has(key));
    assert.deepEqual(missing, [], 'examples/buildmaster.yml says it shows every key');
  });

  it('merges a partial eligibility matrix over the defaults', () => {
    const result = parsePolicy('eligibility:\n  security: fix\n');
    assert.ok(result.ok);
    assert.equal(result.policy.eligibility.security, 'fix');
    assert.equal(result.policy.eligibility.infra, 'escalate');
  });

  const cases: { name: string; yaml: string; code: string; line: number; column: number; message: RegExp; hint: RegExp }[] = [
    {
      name: 'unknown top-level key',
      yaml: 'target: main\nlane:\n  - x\n',
      code: 'unknown-key',
      line: 2,
      column: 1,
      message: /unknown key "lane"/,
      hint: /did you mean "lanes"/,
    },
    {
      name: 'unknown nested key',
      yaml: 'merge:\n  methd: squash\n',
      code: 'unknown-key',
      line: 2,
      column: 3,
      message: /unknown key "methd" in merge/,
      hint: /did you mean "method"/,
    },
    {
      name: 'unknown key with no close match',
      yaml: 'merge:\n  zzzzzz: 1\n',
      code: 'unknown-key',
      line: 2,
      column: 3,
      message: /zzzzzz/,
      hint: /allowed keys here: method, required_approvals/,
    },
    {
      name: 'bad enum',
      yaml: 'merge:\n  method: sqash\n',
      code: 'bad-enum',
      line: 2,
      column: 11,
      message: /merge.method is "sqash", expected one of merge, squash, rebase/,
      hint: /did you mean "squash"/,
    },
    {
      name: 'bad autonomy level',
      yaml: 'autonomy:\n  fix: a2\n',
      code: 'bad-enum',
      line: 2,
      column: 8,
      message: /autonomy.fix/,
      hint: /did you mean "A2"/,
    },
    {
      name: 'bad eligibility',
      yaml: 'eligibility:\n  test: fixx\n',
      code: 'bad-enum',
      line: 2,
      column: 9,
      message: /eligibility.test/,
      hint: /did you mean "fix"/,
    },
    {
      name: 'unknown failure class',
      yaml: 'eligibility:\n  tests: fix\n',
      code: 'unknown-key',
      line: 2,
      column: 3,
      message: /unknown key "tests"/,
      hint: /did you mean "test"/,
    },
    {
      name: 'wrong type: string for number',
      yaml: 'merge:\n  required_approvals: two\n',
      code: 'bad-type',
      line: 2,
      column: 23,
      message: /must be a number, got "two"/,
      hint: /whole number/,
    },
    {
      name: 'wrong type: fraction',
      yaml: 'incidents:\n  fix_retries: 1.5\n',
      code: 'bad-type',
      line: 2,
      column: 16,
      message: /fix_retries must be a whole number/,
      hint: /whole number/,
    },
    {
      name: 'wrong type: scalar for list',
      yaml: 'owners: "@me"\n',
      code: 'bad-type',
      line: 1,
      column: 9,
      message: /owners must be a list/,
      hint: /write a list/,
    },
    {
      name: 'wrong type: boolean',
      yaml: 'merge:\n  wait_for_target_green: sometimes\n',
      code: 'bad-type',
      line: 2,
      column: 26,
      message: /must be a boolean/,
      hint: /true or false/,
    },
    {
      name: 'required_checks neither all nor list',
      yaml: 'merge:\n  required_checks: some\n',
      code: 'bad-type',
      line: 2,
      column: 20,
      message: /"all" or a list/,
      hint: /required_checks: all/,
    },
    {
      name: 'bad duration',
      yaml: 'incidents:\n  page_owner_after: 30 minutes\n',
      code: 'bad-duration',
      line: 2,
      column: 21,
      message: /not a duration/,
      hint: /30m/,
    },
    {
      name: 'bare number duration',
      yaml: 'dispatch:\n  timeout: 30\n',
      code: 'bad-duration',
      line: 2,
      column: 12,
      message: /dispatch.timeout is 30, which is not a duration/,
      hint: /30m/,
    },
    {
      name: 'negative count',
      yaml: 'incidents:\n  fix_retries: -1\n',
      code: 'negative-count',
      line: 2,
      column: 16,
      message: /fix_retries is -1, it must be 0 or more/,
      hint: /negative/,
    },
    {
      name: 'lane without a name',
      yaml: 'lanes:\n  - paths: ["a/**"]\n',
      code: 'missing-key',
      line: 2,
      column: 5,
      message: /lane 1 has no "name"/,
      hint: /name: web/,
    },
    {
      name: 'lane without paths',
      yaml: 'lanes:\n  - name: web\n',
      code: 'missing-key',
      line: 2,
      column: 5,
      message: /lane "web" has no "paths"/,
      hint: /paths:/,
    },
    {
      name: 'lane with empty paths',
      yaml: 'lanes:\n  - name: web\n    paths: []\n',
      code: 'empty-list',
      line: 3,
      column: 12,
      message: /lane "web" has an empty "paths" list/,
      hint: /paths:/,
    },
    {
      name: 'duplicate lane names',
      yaml: 'lanes:\n  - name: web\n    paths: [a]\n  - name: web\n    paths: [b]\n',
      code: 'duplicate-lane',
      line: 4,
      column: 11,
      message: /duplicate lane name "web" \(lane 1/,
      hint: /unique/,
    },
    {
      name: 'classify rule with bad regex',
      yaml: 'incidents:\n  classify:\n    - match: "/([/"\n      class: infra\n',
      code: 'bad-regex',
      line: 3,
      column: 14,
      message: /not a valid regular expression/,
      hint: /pattern/,
    },
    {
      name: 'classify rule with bad class',
      yaml: 'incidents:\n  classify:\n    - match: boom\n      class: explosion\n',
      code: 'bad-enum',
      line: 4,
      column: 14,
      message: /class is "explosion"/,
      hint: /use one of|did you mean/,
    },
    {
      name: 'YAML syntax error',
      yaml: 'lanes: [\n',
      code: 'yaml-syntax',
      line: 2,
      column: 1,
      message: /YAML syntax error/,
      hint: /indentation|syntax/,
    },
    {
      name: 'duplicate YAML key',
      yaml: 'target: main\ntarget: dev\n',
      code: 'yaml-syntax',
      line: 2,
      column: 1,
      message: /unique/,
      hint: /once/,
    },
    { name: 'not a mapping', yaml: '- a\n- b\n', code: 'not-a-mapping', line: 1, column: 1, message: /mapping/, hint: /target: main/ },
  ];

  for (const c of cases) {
    it(`reports ${c.name} with line, column, message and hint`, () => {
      const found = problems(c.yaml).find((p) => p.code === c.code);
      assert.ok(found, `no ${c.code} problem in ${JSON.stringify(problems(c.yaml))}`);
      assert.equal(found.file, 'p.yml');
      assert.equal(found.line, c.line, `line of ${found.message}`);
      assert.equal(found.column, c.column, `column of ${found.message}`);
      assert.match(found.message, c.message);
      assert.match(found.hint, c.hint);
    });
  }

  it('reports every problem at once, in source order, and yields no policy', () => {
    const result = parsePolicy(
      'merge:\n  method: sqash\n  required_approvals: -2\nlanes:\n  - name: a\n    paths: [x]\n  - name: a\n    paths: [y]\nbogus: 1\n',
    );
    assert.equal(result.ok, false);
    assert.deepEqual(
      result.problems.map((p) => p.code),
      ['bad-enum', 'negative-count', 'duplicate-lane', 'unknown-key'],
    );
    assert.ok(!('policy' in result));
  });
});

describe('policy: durations', () => {
  const table: [string, number | undefined][] = [
    ['30m', 1_800_000],
    ['3d', 259_200_000],
    ['90s', 90_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['2w', 1_209_600_000],
    ['30', undefined],
    ['m30', undefined],
    ['30 m', undefined],
    ['-5m', undefined],
    ['', undefined],
  ];
  for (const [text, ms] of table) {
    it(`parses "${text}" as ${ms}`, () => assert.equal(parseDuration(text), ms));
  }
  it('formats back to the short form', () => {
    assert.equal(formatDuration(5_400_000), '1h30m');
    assert.equal(formatDuration(259_200_000), '3d');
    assert.equal(formatDuration(500), '500ms');
  });
});

// The policy reference (docs/policy.md) is the user's documentation of every
// key: it must list exactly the schema's keys, with the schema's defaults, and
// its examples must be valid policies. Keys are paths (`merge.method`,
// `lanes[].name`), as in the reference's tables.
interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  default?: unknown;
}

/** Every key path of the policy schema, with its JSON-schema node. */
function schemaKeys(): Map<string, SchemaNode> {
  const keys = new Map<string, SchemaNode>();
  const walk = (node: SchemaNode, prefix: string) => {
    for (const [name, child] of Object.entries(node.properties ?? {})) {
      const path = prefix ? `${prefix}.${name}` : name;
      keys.set(path, child);
      walk(child, path);
      if (child.items?.properties) walk(child.items, `${path}[]`);
    }
  };
  walk(z.toJSONSchema(policySchema, { io: 'input', unrepresentable: 'any' }) as SchemaNode, '');
  return keys;
}

/** The key paths a YAML document sets (list items as `[]`). */
function keysSetIn(value: unknown, prefix = '', into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) if (item && typeof item === 'object') keysSetIn(item, `${prefix}[]`, into);
  } else if (value && typeof value === 'object') {
    for (const [name, child] of Object.entries(value)) {
      const path = prefix ? `${prefix}.${name}` : name;
      into.add(path);
      keysSetIn(child, path, into);
    }
  }
  return into;
}

interface ReferenceRow {
  key: string;
  /** The default as written (YAML), or undefined for "—". */
  fallback: string | undefined;
  line: number;
}

function reference(): { rows: ReferenceRow[]; examples: string[] } {
  const text = readFileSync(join(ROOT, 'docs', 'policy.md'), 'utf8');
  const rows: ReferenceRow[] = [];
  text.split('\n').forEach((line, index) => {
    const cells = /^\| `([^`]+)` \|([^|]*)\|([^|]*)\|/.exec(line);
    if (!cells) return;
    const fallback = (cells[3] as string).trim();
    rows.push({ key: cells[1] as string, fallback: fallback === '—' ? undefined : fallback.replace(/^`|`$/g, ''), line: index + 1 });
  });
  const examples = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  return { rows, examples };
}

/** The project's own text files: what a fresh clone holds (build output, caches and installs excluded). */
function sourceFiles(dir: string): string[] {
  const skip = new Set(['node_modules', '.git', 'dist', 'dist-test', 'out', '.vscode-test', '.tmp', 'artifacts', 'results']);
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return skip.has(entry.name) ? [] : sourceFiles(path);
    return /\.(ts|mjs|cjs|js|sh|md|json|ya?ml)$|^run$/.test(entry.name) && entry.name !== 'package-lock.json' ? [path] : [];
  });
}

/** `a.b.c: value` as nested YAML mappings. */
function nested(path: string, value: unknown): unknown {
  return path.split('.').reduceRight<unknown>((inner, name) => ({ [name]: inner }), value);
}

function at(value: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((node, name) => (node as Record<string, unknown> | undefined)?.[name], value);
}

describe('policy: the reference in docs/policy.md', () => {
  it('documents every key of the schema, once, and no key the schema lacks', () => {
    const documented = reference().rows.map((row) => row.key);
    const keys = [...schemaKeys().keys()];
    const undocumented = keys.filter((key) => !documented.includes(key));
    assert.deepEqual(
      undocumented,
      [],
      'add a row to docs/policy.md for each of these keys (type, default, meaning) and show it in an example',
    );
    const unknown = documented.filter((key) => !keys.includes(key));
    assert.deepEqual(unknown, [], 'docs/policy.md documents keys the schema does not have');
    assert.deepEqual(
      documented.filter((key, i) => documented.indexOf(key) !== i),
      [],
      'a key documented twice',
    );
  });

  it("states each key's default as the schema applies it", () => {
    const keys = schemaKeys();
    const defaults = defaultPolicy();
    for (const row of reference().rows) {
      const node = keys.get(row.key);
      if (!node) continue; // reported by the test above
      const where = `docs/policy.md:${row.line} (${row.key})`;
      if (row.fallback === undefined) {
        assert.equal(node.default, undefined, `${where} says there is no default, the schema has ${JSON.stringify(node.default)}`);
        if (!row.key.includes('[]')) assert.equal(at(defaults, row.key), undefined, `${where} says there is no default`);
        continue;
      }
      const written = parseYaml(row.fallback) as unknown;
      if (row.key.includes('[]')) {
        assert.deepEqual(written, node.default, `${where}: documented default`);
        continue;
      }
      // Setting the key to the documented default must give the policy the schema gives without it
      // (durations and partial mappings go through the same parsing as a user's file).
      const result = parsePolicy(JSON.stringify(nested(row.key, written)));
      assert.ok(
        result.ok,
        `${where}: the documented default ${row.fallback} is not valid: ${JSON.stringify(!result.ok && result.problems)}`,
      );
      assert.deepEqual(at(result.policy, row.key), at(defaults, row.key), `${where}: documented default ${row.fallback}`);
    }
  });

  it('has examples that are valid policies and together show every key', () => {
    const { examples } = reference();
    assert.ok(examples.length >= 10, 'an example per section');
    const shown = new Set<string>();
    for (const example of examples) {
      const result = parsePolicy(example, 'docs/policy.md');
      assert.ok(result.ok, `example is invalid:\n${example}\n${JSON.stringify(!result.ok && result.problems)}`);
      keysSetIn(parseYaml(example), '', shown);
    }
    const missing = [...schemaKeys().keys()].filter((key) => !shown.has(key));
    assert.deepEqual(missing, [], 'keys no example in docs/policy.md shows');
  });

  it('is linked from the README, and nothing in the repository points outside it for documentation', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const link of [
      'docs/policy.md',
      'docs/getting-started-local.md',
      'docs/getting-started-github.md',
      'docs/testing.md',
      'examples/buildmaster.yml',
    ]) {
      assert.ok(readme.includes(`(${link})`), `the README links ${link}`);
    }
    // A fresh clone is all there is: no file may read or cite documents beside the repository.
    const outside = new RegExp(['shared' + '/docs', 'TESTING' + '\\.md', 'SPEC' + '\\.md'].join('|'));
    assert.deepEqual(
      sourceFiles(ROOT)
        .filter((file) => outside.test(readFileSync(file, 'utf8')))
        .map((file) => relative(ROOT, file)),
      [],
    );
  });
});

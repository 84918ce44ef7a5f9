// The rooms' arrows (docs/architecture.md) are checked by a tool: ESLint, with the
// zones of eslint.config.mjs, reports a planted wrong import in each room as an
// error, and leaves an allowed import in the same room alone. The type-aware rules
// are switched off here (they need the whole program); the zones are the real ones.
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ESLint, type Linter } from 'eslint';
import tseslint from 'typescript-eslint';

const ROOT = join(__dirname, '..', '..');

interface Planted {
  room: string;
  /** Where the planted file sits (it need not exist: ESLint lints the text as if it were there). */
  file: string;
  /** An import the room may not have. */
  wrong: string;
  /** An import the same room may have. */
  allowed: string;
}

const planted: Planted[] = [
  { room: 'the core (a Node built-in)', file: 'extension/core/planted.ts', wrong: 'node:fs', allowed: './model' },
  { room: 'the core (the store)', file: 'extension/core/planted.ts', wrong: '../store/store', allowed: 'zod' },
  {
    room: 'the core, a folder down (the store)',
    file: 'extension/core/policy/planted.ts',
    wrong: '../../store/store',
    allowed: '../model',
  },
  { room: 'the core (the controller)', file: 'extension/core/planted.ts', wrong: '../controller/cycle', allowed: 'picomatch' },
  { room: 'a forge (the store)', file: 'extension/forge/github/planted.ts', wrong: '../../store/store', allowed: '../../core/model' },
  { room: 'a forge (another forge)', file: 'extension/forge/local/planted.ts', wrong: '../github/forge', allowed: './checks' },
  { room: 'a forge (a worker)', file: 'extension/forge/local/planted.ts', wrong: '../../workers/command/worker', allowed: '../../ports' },
  {
    room: 'a worker (a forge)',
    file: 'extension/workers/command/planted.ts',
    wrong: '../../forge/local/checks',
    allowed: '../../core/model',
  },
  { room: 'GitHub plumbing (a forge)', file: 'extension/github/planted.ts', wrong: '../forge/github/forge', allowed: '../core/model' },
  { room: 'process plumbing (the store)', file: 'extension/process/planted.ts', wrong: '../store/store', allowed: '../ports' },
  { room: 'a worker (the store)', file: 'extension/workers/command/planted.ts', wrong: '../../store/store', allowed: '../../ports' },
  {
    room: 'a webview (the core)',
    file: 'webview/dashboard/planted.ts',
    wrong: '../../extension/core/model',
    allowed: '../../extension/protocol/model',
  },
  { room: 'the controller (vscode)', file: 'extension/controller/planted.ts', wrong: 'vscode', allowed: '../core/model' },
  { room: 'the CLI (vscode)', file: 'extension/cli/planted.ts', wrong: 'vscode', allowed: '../controller/session' },
  { room: 'a benchmark (a test)', file: 'bench/planted.ts', wrong: '../test/support/sandbox', allowed: '../fixtures/github/world' },
  { room: 'the simulation (a test)', file: 'bench/sim/planted.ts', wrong: '../../test/support/builders', allowed: './engine' },
  { room: 'a test (a benchmark)', file: 'test/unit/planted.ts', wrong: '../../bench/sim/engine', allowed: '../../fixtures/policies' },
  { room: 'a fixture (a test)', file: 'fixtures/planted.ts', wrong: '../test/support/sandbox', allowed: '../extension/core/model' },
];

/** A file that imports `from` and uses it (so only the import itself can be a finding). */
const importing = (from: string) => `import * as planted from '${JSON.stringify(from).slice(1, -1)}';\nexport const used = planted;\n`;

describe('lint: the arrows between rooms', function () {
  this.timeout(60_000);
  let eslint: ESLint;

  before(async () => {
    const url = pathToFileURL(join(ROOT, 'eslint.config.mjs')).href;
    const config = ((await import(url)) as { default: Linter.Config[] }).default;
    eslint = new ESLint({ cwd: ROOT, overrideConfigFile: true, overrideConfig: [...config, tseslint.configs.disableTypeChecked] });
  });

  const restricted = async (file: string, from: string) => {
    const [result] = await eslint.lintText(importing(from), { filePath: join(ROOT, file) });
    assert.ok(result, `ESLint linted ${file}`);
    return result.messages;
  };

  for (const { room, file, wrong, allowed } of planted) {
    it(`${room}: importing ${wrong} is an error, importing ${allowed} is clean`, async () => {
      const findings = await restricted(file, wrong);
      assert.deepEqual(
        findings.map((m) => [m.ruleId, m.severity]),
        [['no-restricted-imports', 2]],
        `${file} importing ${wrong}: ${JSON.stringify(findings)}`,
      );
      assert.match(findings[0]?.message ?? '', new RegExp(`'${wrong.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}' import is restricted`));
      assert.deepEqual(await restricted(file, allowed), [], `${file} importing ${allowed}`);
    });
  }

  it("an import() expression or an import('…') type cannot walk past the arrows", async () => {
    const sneaky = [
      ['extension/core/planted.ts', "export const read = async () => (await import('node:fs')).readFileSync;\n"],
      ['extension/forge/local/planted.ts', "export type Kept = import('../../store/store').Store;\n"],
      ['webview/review/planted.ts', "export const core = () => import('../../extension/core/model');\n"],
    ];
    for (const [file, text] of sneaky) {
      const [result] = await eslint.lintText(text ?? '', { filePath: join(ROOT, file ?? '') });
      assert.deepEqual(
        result?.messages.map((m) => m.ruleId),
        ['no-restricted-syntax'],
        `${file}: ${JSON.stringify(result?.messages)}`,
      );
    }
  });

  it('no file switches the arrows off with a comment (nor switches every rule off)', () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
        const path = `${dir}/${entry.name}`;
        if (entry.isDirectory()) walk(path);
        else if (/\.(ts|mjs)$/.test(entry.name)) {
          readFileSync(join(ROOT, path), 'utf8')
            .split('\n')
            .forEach((line, index) => {
              const directive = /\/[/*]\s*eslint-disable(?:-next-line|-line)?(.*)$/.exec(line);
              if (directive && (/no-restricted-(imports|syntax)/.test(directive[1] ?? '') || (directive[1] ?? '').trim() === ''))
                offenders.push(`${path}:${index + 1}`);
            });
        }
      }
    };
    for (const dir of ['extension', 'webview', 'bench', 'fixtures', 'test', 'scripts']) walk(dir);
    assert.deepEqual(offenders, []);
  });

  it('only extension/vscode/ (and the tests and benchmarks that drive VS Code) may import vscode', async () => {
    for (const file of ['extension/vscode/planted.ts', 'test/vscode/planted.ts', 'bench/vscode/planted.ts'])
      assert.deepEqual(await restricted(file, 'vscode'), [], file);
  });
});

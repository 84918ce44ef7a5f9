// A check's output read down to its failing tests (SPEC §4.1): each failure has
// an identity (what an incident's fingerprint is made of) and, where the runner
// says, a file and line (what maps it to a lane). Pure text parsing of the
// common runners' plain output; JUnit XML is read by the shell (reports/junit).

import type { CheckRun, OutputTail, TestFailure } from './model';
export type { TestFailure } from './model';

export type FailureParser = 'junit' | 'annotations' | 'tsc' | 'eslint' | 'jest' | 'vitest' | 'mocha' | 'node-test' | 'pytest' | 'go';

export interface FailureReport {
  /** The parser that read the output; undefined when none recognised it. */
  parser?: FailureParser;
  failures: TestFailure[];
  /**
   * False when the output was cut or malformed, so the list may miss failures:
   * attribution then falls back to the check as a whole, and says so.
   */
  complete: boolean;
  note?: string;
}

export interface ParseOptions {
  /** Absolute path of the checkout the check ran in: file paths are made relative to it. */
  root?: string;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
/** Failures kept per check run; more makes the list incomplete. */
const MAX_FAILURES = 500;

/** Reads a check's output with the first parser that recognises it. */
export function failuresFromOutput(output: string, options: ParseOptions = {}): FailureReport {
  const text = output.replace(ANSI, '').replace(/\r\n?/g, '\n');
  for (const parse of PARSERS) {
    const report = parse(text, options);
    if (report) return bounded(report);
  }
  return { failures: [], complete: false, note: 'no known test runner output was recognised; the check is attributed as a whole' };
}

/** A path as the repository names it: `file://` and the checkout's own prefix removed, `./` dropped. */
export function relativePath(path: string, root?: string): string {
  let p = path.trim().replace(/^file:\/\//, '');
  try {
    if (/%[0-9A-Fa-f]{2}/.test(p)) p = decodeURI(p);
  } catch {
    // not URI-encoded after all: keep it as written
  }
  if (root) {
    const base = root.endsWith('/') ? root : `${root}/`;
    if (p.startsWith(base)) p = p.slice(base.length);
  }
  return p.replace(/^\.\//, '');
}

type Parser = (text: string, options: ParseOptions) => FailureReport | undefined;

/*
 * What a check's failures may cost in the store: a check is untrusted, and a
 * report of a hundred thousand failing tests, or a test named with a megabyte,
 * must not swell state.json. Truncation is deterministic, so an identity stays
 * the same from one run to the next. Every parser's report goes through it.
 */
const MAX_ID = 500;
const MAX_MESSAGE = 1000;

export function bounded(report: FailureReport): FailureReport {
  const failures = report.failures.slice(0, MAX_FAILURES).map(boundedFailure);
  if (report.failures.length <= MAX_FAILURES) return { ...report, failures };
  const note = `${report.failures.length} failures, the first ${MAX_FAILURES} are kept`;
  return { ...report, failures, complete: false, note: report.note ? `${report.note}; ${note}` : note };
}

export function boundedFailure(failure: TestFailure): TestFailure {
  const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
  return {
    ...failure,
    id: cut(failure.id, MAX_ID),
    ...(failure.file !== undefined ? { file: cut(failure.file, MAX_ID) } : {}),
    ...(failure.message !== undefined ? { message: cut(failure.message, MAX_MESSAGE) } : {}),
  };
}

/** The first stack frame in the repository (not node internals or node_modules): where a test failed. */
export function frameOf(text: string, root?: string): { file: string; line: number } | undefined {
  const frames = text.matchAll(/(?:\(|at |\s)((?:file:\/\/)?[^\s()'"]+?):(\d+):(\d+)\)?/g);
  for (const frame of frames) {
    const raw = frame[1] as string;
    if (raw.startsWith('node:') || raw.includes('/node_modules/') || raw.startsWith('internal/')) continue;
    const file = relativePath(raw, root);
    if (file.startsWith('/') && root) continue; // outside the checkout
    return { file, line: Number(frame[2]) };
  }
  return undefined;
}

/** tsc: `file(line,col): error TS2322: …` or the pretty `file:line:col - error TS2322: …`. */
const tsc: Parser = (text, { root }) => {
  const failures: TestFailure[] = [];
  const pattern = /^(.+?)(?:\((\d+),(\d+)\):|:(\d+):(\d+) -) error (TS\d+): (.*)$/gm;
  for (const m of text.matchAll(pattern)) {
    const file = relativePath(m[1] as string, root);
    const message = `${m[6]}: ${(m[7] as string).trim()}`;
    failures.push({ id: `tsc ${file}: ${message}`, file, line: Number(m[2] ?? m[4]), message });
  }
  if (failures.length === 0) return undefined;
  const found = /Found (\d+) errors?/.exec(text);
  const complete = !found || Number(found[1]) <= failures.length;
  return {
    parser: 'tsc',
    failures: dedupe(failures),
    complete,
    ...(complete ? {} : { note: `tsc reported ${found[1]} errors, ${failures.length} are in the output` }),
  };
};

/** eslint's stylish format: a file line, then `  line:col  error  message  rule` lines. */
const eslint: Parser = (text, { root }) => {
  const failures: TestFailure[] = [];
  let file: string | undefined;
  for (const line of text.split('\n')) {
    if (/^\S.*\.\w+$/.test(line) && !/^\d/.test(line)) {
      file = relativePath(line, root);
      continue;
    }
    const m = /^\s+(\d+):(\d+)\s+error\s+(.+?)(?:\s{2,}(\S+))?\s*$/.exec(line);
    if (m && file) {
      const rule = m[4] ?? 'error';
      failures.push({ id: `eslint ${file}: ${rule}: ${(m[3] as string).trim()}`, file, line: Number(m[1]), message: `${m[3]} (${rule})` });
    }
  }
  if (failures.length === 0) return undefined;
  const summary = /✖ (\d+) problems? \((\d+) errors?/.exec(text);
  const complete = !summary || Number(summary[2]) <= failures.length;
  return { parser: 'eslint', failures: dedupe(failures), complete };
};

/** jest: `FAIL path` headers and `● Suite › test` blocks. */
const jest: Parser = (text, { root }) => {
  if (!/^\s*FAIL\s+\S/m.test(text) || !/●/.test(text)) return undefined;
  const failures: TestFailure[] = [];
  let file: string | undefined;
  for (const line of text.split('\n')) {
    const header = /^\s*FAIL\s+(\S+)/.exec(line);
    if (header) {
      file = relativePath(header[1] as string, root);
      continue;
    }
    const test = /^\s*● (.+)$/.exec(line);
    if (test && file && !/^Test suite failed to run/.test(test[1] as string)) {
      const name = (test[1] as string).trim();
      failures.push({ id: `${file} > ${name.replace(/ › /g, ' > ')}`, file, message: name });
    } else if (test && file) {
      failures.push({ id: `${file} > (suite failed to run)`, file, message: 'Test suite failed to run' });
    }
  }
  return failures.length ? { parser: 'jest', failures: dedupe(failures), complete: true } : undefined;
};

/** vitest: ` FAIL  file > suite > test` lines. */
const vitest: Parser = (text, { root }) => {
  const failures: TestFailure[] = [];
  for (const m of text.matchAll(/^\s*(?:FAIL|×|✗)\s+(\S+\.\w+) > (.+?)(?:\s+\d+ms)?$/gm)) {
    const file = relativePath(m[1] as string, root);
    failures.push({ id: `${file} > ${(m[2] as string).trim()}`, file });
  }
  return failures.length ? { parser: 'vitest', failures: dedupe(failures), complete: true } : undefined;
};

/** mocha's spec reporter: after `N failing`, numbered entries with their title path and stack. */
const mocha: Parser = (text, { root }) => {
  const summary = /^\s*(\d+) failing\s*$/m.exec(text);
  if (!summary) return undefined;
  const body = text.slice(summary.index + summary[0].length);
  const failures: TestFailure[] = [];
  const entries = body.split(/^\s{2}(?=\d+\) )/m).slice(1);
  for (const entry of entries) {
    const lines = entry.split('\n');
    const titles: string[] = [];
    let i = 0;
    for (; i < lines.length; i++) {
      const line = (lines[i] as string).replace(/^\d+\) /, '').trim();
      if (!line) continue;
      titles.push(line.replace(/:$/, ''));
      if (line.endsWith(':')) break;
    }
    const rest = lines.slice(i + 1).join('\n');
    const message = rest
      .split('\n')
      .map((l) => l.trim())
      .find(Boolean);
    const frame = frameOf(rest, root);
    const id = titles.join(' > ');
    if (!id) continue;
    failures.push({
      id: frame ? `${frame.file} > ${id}` : id,
      ...(frame ? { file: frame.file, line: frame.line } : {}),
      ...(message ? { message } : {}),
    });
  }
  const expected = Number(summary[1]);
  const complete = failures.length >= expected;
  return {
    parser: 'mocha',
    failures: dedupe(failures),
    complete,
    ...(complete ? {} : { note: `mocha reported ${expected} failing, ${failures.length} are in the output` }),
  };
};

/** node --test: TAP (`not ok N - name` with a `location:`) or the spec reporter's failing list. */
const nodeTest: Parser = (text, { root }) => {
  const failures: TestFailure[] = [];
  if (/^TAP version \d+/m.test(text) || /^\s*not ok \d+ - /m.test(text)) {
    for (const m of text.matchAll(/^(\s*)not ok \d+ - (.+)\n((?:\1 {2}.*\n?)*)/gm)) {
      const yaml = m[3] ?? '';
      if (/type: 'suite'|failureType: 'subtestsFailed'/.test(yaml)) continue;
      const location = /location: '(.+):(\d+):(\d+)'/.exec(yaml);
      const file = location ? relativePath(location[1] as string, root) : undefined;
      const error = /error: '(.*)'/.exec(yaml)?.[1];
      const name = (m[2] as string).replace(/ # .*$/, '').trim();
      failures.push({
        id: file ? `${file} > ${name}` : name,
        ...(file ? { file, line: Number(location?.[2]) } : {}),
        ...(error ? { message: error } : {}),
      });
    }
    if (failures.length === 0) return undefined;
    const fail = /^# fail (\d+)/m.exec(text);
    return { parser: 'node-test', failures: dedupe(failures), complete: !fail || Number(fail[1]) <= failures.length };
  }
  const section = /^✖ failing tests:\s*$/m.exec(text);
  if (!section) return undefined;
  const after = text.slice(section.index + section[0].length);
  for (const m of after.matchAll(/^test at (.+):(\d+):(\d+)\n✖ (.+?)(?: \([\d.]+m?s\))?$/gm)) {
    const file = relativePath(m[1] as string, root);
    failures.push({ id: `${file} > ${(m[4] as string).trim()}`, file, line: Number(m[2]) });
  }
  return failures.length ? { parser: 'node-test', failures: dedupe(failures), complete: true } : undefined;
};

/** pytest: the short summary's `FAILED path::test - message` and `ERROR path::test` lines. */
const pytest: Parser = (text, { root }) => {
  const failures: TestFailure[] = [];
  for (const m of text.matchAll(/^(?:FAILED|ERROR) (\S+?)::(\S+)(?: - (.*))?$/gm)) {
    const file = relativePath(m[1] as string, root);
    failures.push({ id: `${file}::${m[2]}`, file, ...(m[3] ? { message: m[3].trim() } : {}) });
  }
  if (failures.length === 0) return undefined;
  const summary = /(\d+) failed/.exec(text);
  return { parser: 'pytest', failures: dedupe(failures), complete: !summary || Number(summary[1]) <= failures.length };
};

/** go test: `--- FAIL: TestName (0.00s)` with its `file_test.go:12:` lines and the package's `FAIL\tpkg` line. */
const goTest: Parser = (text) => {
  if (!/^\s*--- FAIL: /m.test(text)) return undefined;
  const failures: TestFailure[] = [];
  const lines = text.split('\n');
  let pending: TestFailure[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const fail = /^\s*--- FAIL: (\S+) \(/.exec(line);
    if (fail) {
      const where = /^\s+(\S+_test\.go):(\d+): (.*)$/.exec(lines[i + 1] ?? '');
      pending.push({
        id: fail[1] as string,
        ...(where ? { file: where[1], line: Number(where[2]), message: (where[3] as string).trim() } : {}),
      });
      continue;
    }
    const pkg = /^FAIL\s+(\S+)\s+[\d.]+s$/.exec(line);
    if (pkg) {
      // go names only the test file's base name: the package path places it.
      for (const failure of pending) failures.push({ ...failure, id: `${pkg[1]}.${failure.id}` });
      pending = [];
    }
  }
  failures.push(...pending);
  return failures.length
    ? { parser: 'go', failures: dedupe(failures), complete: true, note: 'go test names files without their directory' }
    : undefined;
};

const PARSERS: Parser[] = [nodeTest, jest, vitest, mocha, pytest, goTest, tsc, eslint];

function dedupe(failures: TestFailure[]): TestFailure[] {
  const seen = new Set<string>();
  return failures.filter((failure) => (seen.has(failure.id) ? false : (seen.add(failure.id), true)));
}

/** How much of a failing check's output an incident keeps: enough to see the error, small enough for the state file. */
const TAIL_LINES = 15;
const TAIL_LINE_CHARS = 300;
const TAIL_CHECKS = 5;

/** The last non-blank lines of each failing run's output (runs without output are left out). */
export function outputTails(runs: readonly CheckRun[]): OutputTail[] {
  return runs
    .filter((run) => (run.output ?? '').trim() !== '')
    .slice(0, TAIL_CHECKS)
    .map((run) => ({
      check: run.name,
      lines: (run.output ?? '')
        .split('\n')
        .map((line) => line.trimEnd())
        .filter((line) => line.trim() !== '')
        .slice(-TAIL_LINES)
        .map((line) => (line.length > TAIL_LINE_CHARS ? `${line.slice(0, TAIL_LINE_CHARS - 1)}…` : line)),
    }));
}

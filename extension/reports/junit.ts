// JUnit XML — the report almost every test runner can write (jest-junit,
// vitest, mocha-junit-reporter, pytest --junitxml, gotestsum, cargo nextest,
// Surefire, node --test-reporter=junit) — read into the core's failures.
// XML parsing needs a library, so it lives in the shell, not in the core.
import { firstLine } from '../core/text';
import { XMLParser } from 'fast-xml-parser';
import { frameOf, relativePath, type FailureReport, type ParseOptions, type TestFailure } from '../core/failures';

type Node = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  textNodeName: '#text',
  // Elements that may repeat are always arrays, so a single test case reads like many.
  isArray: (name) => name === 'testsuite' || name === 'testcase' || name === 'failure' || name === 'error',
  processEntities: true,
  htmlEntities: true,
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: false,
});

/** The failing test cases of a JUnit report; a report that cannot be read says so instead of throwing. */
export function failuresFromJUnit(xml: string, options: ParseOptions = {}): FailureReport {
  let doc: Node;
  try {
    // The parser's own validation (deprecated for the separate fast-xml-validator package, not a dependency here) is what names invalid XML.
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    doc = parser.parse(xml, true) as Node;
  } catch (error) {
    return {
      parser: 'junit',
      failures: [],
      complete: false,
      note: `the JUnit report is not valid XML (${firstLine((error as Error).message)}); the check is attributed as a whole`,
    };
  }
  const roots = [doc.testsuites, doc.testsuite].flatMap((value) =>
    Array.isArray(value) ? (value as unknown[]) : value ? [value] : [],
  ) as Node[];
  if (roots.length === 0) {
    return {
      parser: 'junit',
      failures: [],
      complete: false,
      note: 'the JUnit report has no <testsuites> or <testsuite> element; the check is attributed as a whole',
    };
  }
  const failures: TestFailure[] = [];
  let declared = 0;
  const visit = (node: Node, inheritedFile?: string) => {
    const file = typeof node['@_file'] === 'string' ? node['@_file'] : inheritedFile;
    if (typeof node['@_failures'] === 'string' && node.testsuite === undefined) declared += Number(node['@_failures']) || 0;
    if (typeof node['@_errors'] === 'string' && node.testsuite === undefined) declared += Number(node['@_errors']) || 0;
    for (const testcase of (node.testcase as Node[] | undefined) ?? []) {
      const problems = [...((testcase.failure as unknown[] | undefined) ?? []), ...((testcase.error as unknown[] | undefined) ?? [])];
      if (problems.length === 0) continue;
      failures.push(failureOf(testcase, problems[0], typeof testcase['@_file'] === 'string' ? testcase['@_file'] : file, options));
    }
    for (const suite of (node.testsuite as Node[] | undefined) ?? []) visit(suite, file);
  };
  for (const root of roots) visit(root);
  const complete = declared === 0 || failures.length >= declared;
  return {
    parser: 'junit',
    failures: dedupe(failures),
    complete,
    ...(complete ? {} : { note: `the report declares ${declared} failures, ${failures.length} test cases carry one` }),
  };
}

function failureOf(testcase: Node, problem: unknown, file: string | undefined, options: ParseOptions): TestFailure {
  const name = typeof testcase['@_name'] === 'string' ? testcase['@_name'] : '(unnamed)';
  const classname = typeof testcase['@_classname'] === 'string' ? testcase['@_classname'] : undefined;
  const text = typeof problem === 'string' ? problem : (problem as Node)['#text'];
  const detail = typeof text === 'string' ? text : '';
  const message =
    typeof problem === 'object' && problem !== null && typeof (problem as Node)['@_message'] === 'string'
      ? ((problem as Node)['@_message'] as string)
      : firstLine(detail);
  // A report that names the file (mocha's xunit, vitest) still leaves the line to the stack: take it from a frame in that file.
  const named = file ? relativePath(file, options.root) : undefined;
  const frame = locate(detail, options.root);
  const where = named ? { file: named, ...(frame?.file === named && frame.line ? { line: frame.line } : {}) } : frame;
  const path = where?.file;
  // The file is the most stable part of a test's identity; runners without one have a class name.
  const id = path
    ? `${path} > ${classname && !looksLikePath(classname) && classname !== 'test' ? `${classname} > ` : ''}${name}`
    : `${classname ? `${classname} > ` : ''}${name}`;
  return {
    id,
    ...(path ? { file: path } : {}),
    ...(where && 'line' in where && where.line ? { line: where.line } : {}),
    ...(message ? { message: message.trim() } : {}),
  };
}

/** Where a failure points: a stack frame (`file:line:col`) or pytest's `path:line: Error` line. */
function locate(detail: string, root?: string): { file: string; line?: number } | undefined {
  const frame = frameOf(detail, root);
  if (frame) return frame;
  const pytest = /^(\S+\.\w+):(\d+): \w+/m.exec(detail);
  if (pytest) return { file: relativePath(pytest[1] as string, root), line: Number(pytest[2]) };
  return undefined;
}

function looksLikePath(text: string): boolean {
  return text.includes('/');
}

function dedupe(failures: TestFailure[]): TestFailure[] {
  const seen = new Set<string>();
  return failures.filter((failure) => (seen.has(failure.id) ? false : (seen.add(failure.id), true)));
}

// A change's diff as data: files and hunks, parsed from git's unified diff.
// The review panel renders it; the native diff editor gets the two shas.

export interface DiffLine {
  kind: 'add' | 'del' | 'ctx';
  text: string;
  /** Line numbers in the old and new file (absent on the side the line is not on). */
  oldLine?: number;
  newLine?: number;
}

export interface DiffHunk {
  header: string;
  lines: DiffLine[];
}

export interface FileDiff {
  path: string;
  /** The old path of a rename. */
  oldPath?: string;
  status: 'added' | 'deleted' | 'modified' | 'renamed';
  binary: boolean;
  additions: number;
  deletions: number;
  hunks: DiffHunk[];
}

export interface ChangeDiff {
  change: string;
  /** The merge base: the left side of every file. */
  base: string;
  head: string;
  files: FileDiff[];
  /** Hunk lines were cut at this many per file to keep the panel responsive. */
  truncated: boolean;
}

const HUNK = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/;
const LINES_PER_FILE = 2000;

export function parseUnifiedDiff(text: string): { files: FileDiff[]; truncated: boolean } {
  const files: FileDiff[] = [];
  let file: FileDiff | undefined;
  let hunk: DiffHunk | undefined;
  let oldLine = 0;
  let newLine = 0;
  let truncated = false;
  let lineCount = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('diff --git ')) {
      const match = /^diff --git a\/(.*) b\/(.*)$/.exec(line);
      file = { path: match?.[2] ?? line.slice(11), status: 'modified', binary: false, additions: 0, deletions: 0, hunks: [] };
      files.push(file);
      hunk = undefined;
      lineCount = 0;
      continue;
    }
    if (!file) continue;
    if (!hunk) readHeaderLine(file, line);
    const header = HUNK.exec(line);
    if (header) {
      oldLine = Number(header[1]);
      newLine = Number(header[2]);
      hunk = { header: line, lines: [] };
      file.hunks.push(hunk);
      continue;
    }
    if (!hunk || line.startsWith('\\')) continue;
    const sign = line[0];
    if (sign === '+') file.additions++;
    else if (sign === '-') file.deletions++;
    else if (sign !== ' ') continue;
    if (++lineCount > LINES_PER_FILE) {
      truncated = true;
      continue;
    }
    if (sign === '+') hunk.lines.push({ kind: 'add', text: line.slice(1), newLine: newLine++ });
    else if (sign === '-') hunk.lines.push({ kind: 'del', text: line.slice(1), oldLine: oldLine++ });
    else hunk.lines.push({ kind: 'ctx', text: line.slice(1), oldLine: oldLine++, newLine: newLine++ });
  }
  return { files, truncated };
}

/** A line of a file's header (before its first hunk): its status, old path, new path, binary. */
function readHeaderLine(file: FileDiff, line: string): void {
  if (line.startsWith('new file mode')) file.status = 'added';
  else if (line.startsWith('deleted file mode')) file.status = 'deleted';
  else if (line.startsWith('rename from ')) {
    file.status = 'renamed';
    file.oldPath = line.slice('rename from '.length);
  } else if (line.startsWith('rename to ')) file.path = line.slice('rename to '.length);
  else if (line.startsWith('Binary files ')) file.binary = true;
  else if (line.startsWith('+++ ') && line !== '+++ /dev/null') file.path = line.slice(4).replace(/^b\//, '');
}

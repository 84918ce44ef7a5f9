// Opening the file a failing test names, at its line: the working tree's copy
// when it is there (so it can be fixed), else the file as it was at the commit
// that failed. The path comes from a check's output, which is untrusted text:
// only files inside the repository open.
import { existsSync, realpathSync } from 'node:fs';
import { join, sep } from 'node:path';
import * as vscode from 'vscode';
import { repositoryPath } from '../protocol/failures';
import { fileUri } from './diffContent';

export interface FailureFile {
  path: string;
  line?: number;
  /** The commit the failure was seen on: the file is read from there when the working tree lacks it. */
  sha?: string;
}

/** Where a failure's file opens, or why it cannot. */
export function failureTarget(
  root: string | undefined,
  file: FailureFile,
): { uri: vscode.Uri; options: vscode.TextDocumentShowOptions } | { problem: string } {
  const path = repositoryPath(file.path);
  if (!path) return { problem: `"${file.path}" is not a path inside the repository` };
  const line = file.line !== undefined && Number.isInteger(file.line) && file.line > 0 ? file.line - 1 : 0;
  const options: vscode.TextDocumentShowOptions = { preview: true, selection: new vscode.Range(line, 0, line, 0) };
  if (root) {
    const absolute = join(root, path);
    if (existsSync(absolute) && inside(root, absolute)) return { uri: vscode.Uri.file(absolute), options };
  }
  if (file.sha && /^[0-9a-f]{7,64}$/i.test(file.sha)) return { uri: fileUri(path, file.sha), options };
  return { problem: `${path} is not in the working tree` };
}

/** The real file stays inside the repository (a symlink in the working tree may point anywhere). */
function inside(root: string, absolute: string): boolean {
  try {
    const realRoot = realpathSync(root);
    const real = realpathSync(absolute);
    return real === realRoot || real.startsWith(realRoot.endsWith(sep) ? realRoot : `${realRoot}${sep}`);
  } catch {
    return false;
  }
}

/** Opens the file at the line, for a webview's request; throws a message the panel shows. */
export async function openFailureFile(root: string | undefined, file: FailureFile): Promise<void> {
  const target = failureTarget(root, file);
  if ('problem' in target) throw new Error(target.problem);
  await vscode.window.showTextDocument(target.uri, target.options);
}

/** The tree item command that opens a failure's file, when it can be opened. */
export function openFailureCommand(root: string | undefined, file: FailureFile): vscode.Command | undefined {
  const target = failureTarget(root, file);
  if ('problem' in target) return undefined;
  return { command: 'vscode.open', title: 'Open File', arguments: [target.uri, target.options] };
}

/** A webview's request is untrusted input: keep only well-typed fields. */
export function fileOf(request: { path?: unknown; line?: unknown; sha?: unknown }): FailureFile {
  return {
    path: typeof request.path === 'string' ? request.path : '',
    ...(typeof request.line === 'number' ? { line: request.line } : {}),
    ...(typeof request.sha === 'string' ? { sha: request.sha } : {}),
  };
}

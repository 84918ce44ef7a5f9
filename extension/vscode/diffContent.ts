// File contents at a commit for the native diff editor: `buildmaster-git:/<path>?<sha>`.
import * as vscode from 'vscode';
import type { Cockpit } from './cockpit';

export const DIFF_SCHEME = 'buildmaster-git';

export function fileUri(path: string, sha: string): vscode.Uri {
  return vscode.Uri.from({ scheme: DIFF_SCHEME, path: `/${path}`, query: sha });
}

export class CommitFileProvider implements vscode.TextDocumentContentProvider {
  constructor(private readonly cockpit: Cockpit) {}

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const session = await this.cockpit.openedSession();
    if (!session) return '';
    return session.forge.fileAt(uri.query, uri.path.replace(/^\//, ''));
  }
}

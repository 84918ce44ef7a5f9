// GitHub credentials for the cockpit: VS Code's GitHub authentication when a
// provider exists (silently first, prompting only from a command), else a token
// the user stored with "Set GitHub Token" in SecretStorage. Tokens are never
// logged or shown; only where one came from is.
import * as vscode from 'vscode';
import { setSignedInAccount } from './operatorName';

const SECRET_KEY = 'buildMaster.githubToken';
const SCOPES = ['repo'];

export interface GitHubCredential {
  token: string;
  source: 'vscode-authentication' | 'secret-storage';
  account?: string;
}

export class GitHubAuth {
  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** The credential to use without prompting, if any. */
  async silent(): Promise<GitHubCredential | undefined> {
    try {
      const session = await vscode.authentication.getSession('github', SCOPES, { silent: true });
      if (session) {
        setSignedInAccount(session.account.label);
        return { token: session.accessToken, source: 'vscode-authentication', account: session.account.label };
      }
    } catch (error) {
      this.log.debug(`[auth] no GitHub authentication provider: ${(error as Error).message}`);
    }
    const stored = await this.secrets.get(SECRET_KEY);
    return stored ? { token: stored, source: 'secret-storage' } : undefined;
  }

  /** Sign in from a command: VS Code's GitHub provider, or a stored token where none exists. */
  async signIn(): Promise<GitHubCredential | undefined> {
    try {
      const session = await vscode.authentication.getSession('github', SCOPES, { createIfNone: true });
      setSignedInAccount(session.account.label);
      this.log.info(`[auth] signed in to GitHub as ${session.account.label}`);
      return { token: session.accessToken, source: 'vscode-authentication', account: session.account.label };
    } catch (error) {
      this.log.warn(
        `[auth] GitHub sign-in through VS Code is not available here (${(error as Error).message}); asking for a token instead`,
      );
      return this.setToken();
    }
  }

  /** Asks for a token and keeps it in SecretStorage (encrypted by VS Code). */
  async setToken(): Promise<GitHubCredential | undefined> {
    const token = await vscode.window.showInputBox({
      title: 'Build Master: GitHub token',
      prompt: 'A fine-grained or classic token with pull request, contents, checks and issues access. Stored in VS Code SecretStorage.',
      password: true,
      ignoreFocusOut: true,
      validateInput: (value) =>
        validToken(value) ? undefined : 'that does not look like a GitHub token (no spaces; ghp_…, github_pat_… or 40 hex characters)',
    });
    if (!token) return undefined;
    await this.secrets.store(SECRET_KEY, token.trim());
    this.log.info('[auth] GitHub token stored in SecretStorage');
    return { token: token.trim(), source: 'secret-storage' };
  }

  async clearToken(): Promise<void> {
    await this.secrets.delete(SECRET_KEY);
    this.log.info('[auth] GitHub token removed from SecretStorage');
  }
}

export function validToken(value: string): boolean {
  const token = value.trim();
  return /^(gh[pousr]_[A-Za-z0-9_]{20,}|github_pat_[A-Za-z0-9_]{20,}|[0-9a-f]{40})$/.test(token);
}

// One webview panel and its typed channel: a strict nonce CSP, resources only
// from the extension's dist folder, messages queued until the page says
// `ready`, and one reply per request.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { isWebviewMessage, type HostMessage } from '../protocol/messages';

export interface WebviewHostOptions<Request> {
  panel: vscode.WebviewPanel;
  extensionUri: vscode.Uri;
  /** The bundle under dist/webview (`dashboard` → dist/webview/dashboard.js). */
  script: string;
  title: string;
  /** Handles a request; the returned text is shown as the reply's message. */
  onRequest: (request: Request) => Promise<string | undefined>;
  log: vscode.LogOutputChannel;
}

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  return {
    enableScripts: true,
    retainContextWhenHidden: false,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'dist', 'media')],
  };
}

export class WebviewHost<State, Request> implements vscode.Disposable {
  private ready = false;
  private queue: HostMessage<State>[] = [];
  private latest: State | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly disposed = new vscode.EventEmitter<void>();
  readonly onDidDispose = this.disposed.event;

  constructor(private readonly options: WebviewHostOptions<Request>) {
    const { panel, extensionUri } = options;
    panel.webview.options = webviewOptions(extensionUri);
    panel.webview.html = this.html();
    this.disposables.push(
      panel.webview.onDidReceiveMessage((message: unknown) => void this.receive(message)),
      panel.onDidDispose(() => this.dispose()),
      // A hidden panel loses its page: resend the state when it comes back.
      panel.onDidChangeViewState(({ webviewPanel }) => {
        if (!webviewPanel.visible) this.ready = false;
      }),
    );
  }

  get panel(): vscode.WebviewPanel {
    return this.options.panel;
  }

  /** Sends the latest state (queued until the page is ready; older queued states are dropped). */
  setState(state: State): void {
    this.latest = state;
    this.queue = this.queue.filter((m) => m.type !== 'state');
    this.post({ type: 'state', state });
  }

  private post(message: HostMessage<State>): void {
    if (!this.ready) {
      this.queue.push(message);
      return;
    }
    void this.options.panel.webview.postMessage(message);
  }

  private async receive(message: unknown): Promise<void> {
    if (!isWebviewMessage<Request>(message)) {
      this.options.log.warn(`[webview] ${this.options.script}: ignored a malformed message`);
      return;
    }
    if (message.type === 'ready') {
      this.ready = true;
      const pending = this.queue;
      this.queue = [];
      if (!pending.some((m) => m.type === 'state') && this.latest !== undefined) pending.unshift({ type: 'state', state: this.latest });
      for (const m of pending) void this.options.panel.webview.postMessage(m);
      return;
    }
    try {
      const text = await this.options.onRequest(message.request);
      this.post({ type: 'reply', id: message.id, ok: true, ...(text ? { message: text } : {}) });
    } catch (error) {
      this.options.log.warn(`[webview] ${this.options.script}: ${(error as Error).message}`);
      this.post({ type: 'reply', id: message.id, ok: false, error: (error as Error).message });
    }
  }

  private html(): string {
    const { webview } = this.options.panel;
    const nonce = randomBytes(16).toString('base64');
    const asset = (...path: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(this.options.extensionUri, 'dist', ...path)).toString();
    const csp = [
      "default-src 'none'",
      `style-src ${webview.cspSource} 'nonce-${nonce}'`,
      `font-src ${webview.cspSource}`,
      `img-src ${webview.cspSource} data:`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${asset('media', 'codicons', 'codicon.css')}" id="vscode-codicon-stylesheet" nonce="${nonce}">
<title>${escapeHtml(this.options.title)}</title>
</head>
<body>
<script nonce="${nonce}" src="${asset('webview', `${this.options.script}.js`)}"></script>
</body>
</html>`;
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
    this.disposed.fire();
    this.disposed.dispose();
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

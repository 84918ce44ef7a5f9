// Starts the policy language server (dist/server.js) for the policy files.
import * as vscode from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';

export const POLICY_SELECTOR = [
  { scheme: 'file', language: 'yaml', pattern: '**/.buildmaster.yml' },
  { scheme: 'file', language: 'yaml', pattern: '**/.github/buildmaster.yml' },
];

export async function startPolicyLanguageServer(extensionUri: vscode.Uri, log: vscode.LogOutputChannel): Promise<LanguageClient> {
  const module = vscode.Uri.joinPath(extensionUri, 'dist', 'server.js').fsPath;
  const serverOptions: ServerOptions = {
    run: { module, transport: TransportKind.ipc },
    debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6019'] } },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: POLICY_SELECTOR,
    outputChannel: log,
    diagnosticCollectionName: 'build-master',
  };
  const client = new LanguageClient('buildMasterPolicy', 'Build Master Policy', serverOptions, clientOptions);
  await client.start();
  return client;
}

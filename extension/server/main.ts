// The language server for `.buildmaster.yml`: the controller's own validator
// gives the diagnostics (so the editor and the controller never disagree),
// the schema gives completion and hover.
import {
  createConnection,
  DiagnosticSeverity,
  CompletionItemKind,
  InsertTextFormat,
  MarkupKind,
  ProposedFeatures,
  TextDocuments,
  TextDocumentSyncKind,
  type Diagnostic,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { completionsAt, hoverAt } from '../core/policy/assist';
import { parsePolicy } from '../core/policy/parse';

const connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);

connection.onInitialize(() => ({
  capabilities: {
    textDocumentSync: TextDocumentSyncKind.Incremental,
    completionProvider: { triggerCharacters: [':', ' ', '-'] },
    hoverProvider: true,
  },
  serverInfo: { name: 'build-master-policy' },
}));

export function diagnosticsOf(text: string, uri: string): Diagnostic[] {
  const file = decodeURIComponent(uri.replace(/^.*\//, ''));
  const result = parsePolicy(text, file);
  if (result.ok) return [];
  return result.problems.map((problem) => ({
    range: {
      start: { line: problem.line - 1, character: problem.column - 1 },
      end: { line: problem.endLine - 1, character: Math.max(problem.endColumn - 1, problem.column) },
    },
    severity: DiagnosticSeverity.Error,
    source: 'build-master',
    code: problem.code,
    message: `${problem.message}\n${problem.hint}`,
  }));
}

const pending = new Map<string, NodeJS.Timeout>();
documents.onDidChangeContent(({ document }) => {
  // Debounced: validation is fast, but a burst of keystrokes needs one answer.
  clearTimeout(pending.get(document.uri));
  pending.set(
    document.uri,
    setTimeout(() => {
      pending.delete(document.uri);
      void connection.sendDiagnostics({
        uri: document.uri,
        version: document.version,
        diagnostics: diagnosticsOf(document.getText(), document.uri),
      });
    }, 150),
  );
});
documents.onDidClose(({ document }) => {
  clearTimeout(pending.get(document.uri));
  void connection.sendDiagnostics({ uri: document.uri, diagnostics: [] });
});

connection.onCompletion(({ textDocument, position }) => {
  const document = documents.get(textDocument.uri);
  if (!document) return [];
  return completionsAt(document.getText(), position.line, position.character).map((c, index) => ({
    label: c.label,
    kind: c.kind === 'key' ? CompletionItemKind.Property : CompletionItemKind.EnumMember,
    detail: c.detail,
    documentation: { kind: MarkupKind.Markdown, value: c.doc },
    insertText: c.insert,
    insertTextFormat: InsertTextFormat.PlainText,
    sortText: String(index).padStart(3, '0'),
  }));
});

connection.onHover(({ textDocument, position }) => {
  const document = documents.get(textDocument.uri);
  if (!document) return null;
  const hover = hoverAt(document.getText(), position.line, position.character);
  if (!hover) return null;
  return {
    contents: { kind: MarkupKind.Markdown, value: hover.contents },
    range: { start: { line: position.line, character: hover.start }, end: { line: position.line, character: hover.end } },
  };
});

documents.listen(connection);
connection.listen();

// The webhook signature check, by @octokit/webhooks (never compared by hand).
// Its own module: @octokit/webhooks needs @octokit/webhooks-methods, which
// exports only an ES module entry, so it loads in the bundled CLI but not where
// a file is loaded as CommonJS (tsx, the unit tests); webhooks.ts takes the
// verifier as an argument and stays loadable everywhere.
import { Webhooks } from '@octokit/webhooks';
import type { Verifier } from './webhooks';

/** Verifies X-Hub-Signature-256 against `secret`; the secret stays inside. */
export function githubVerifier(secret: string): Verifier {
  const webhooks = new Webhooks({ secret });
  return (payload, signature) => webhooks.verify(payload, signature);
}

// The environment a check or a worker runs with: an allowlist, never the
// controller's whole environment (a scrub by name lets GH_PAT, AWS_* and
// DATABASE_URL through). And Build Master's own token, taken out of the
// environment as soon as it is read so no child inherits it.
import { FORGE_CREDENTIALS, isBaseEnvName } from '../core/policy/env';

/**
 * The base variables (core/policy/env.ts says why each), the ones the policy
 * names, then what Build Master sets itself (BUILDMASTER_*, CI), which wins.
 * Build Master's forge token is never passed, even when named.
 */
export function allowlistedEnv(
  named: readonly string[],
  own: Record<string, string>,
  from: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(from)) {
    if (value === undefined || FORGE_CREDENTIALS.includes(name)) continue;
    if (isBaseEnvName(name) || named.includes(name)) env[name] = value;
  }
  return { ...env, ...own };
}

let taken: { token: string | undefined } | undefined;

/**
 * GITHUB_TOKEN (else GH_TOKEN), read once and deleted from `process.env` so
 * that nothing spawned later inherits it. The initial environment block the
 * kernel shows in /proc/<pid>/environ cannot be rewritten from Node (see the
 * README, "What a worker can and cannot do").
 */
export function takeGitHubToken(): string | undefined {
  if (!taken) {
    const token = process.env.GITHUB_TOKEN || process.env.GH_TOKEN || undefined;
    for (const name of FORGE_CREDENTIALS) Reflect.deleteProperty(process.env, name);
    taken = { token };
  }
  return taken.token;
}

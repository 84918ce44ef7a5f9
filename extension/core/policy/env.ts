// Which environment variables reach checks and workers (pure: the names and
// the rules; extension/process/env.ts applies them to the real environment).

/**
 * Passed to every check and worker, because ordinary tools need them and they
 * carry no credentials: where programs are (PATH), whose files (HOME, USER,
 * LOGNAME), which shell and terminal type (SHELL, TERM), language and time
 * (LANG, LANGUAGE, LC_*, TZ) and where temporary files go (TMPDIR). Anything
 * else — tokens, cloud keys, database URLs, SSH agent sockets, proxy settings
 * with passwords — must be named in the policy (`local.env`, `dispatch.env`).
 */
export const BASE_ENV_NAMES: readonly string[] = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'TERM', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR'];
const BASE_ENV_PATTERN = /^LC_[A-Z_]+$/;

/** Build Master's own forge credentials: never passed to a check or worker, even when the policy names them. */
export const FORGE_CREDENTIALS: readonly string[] = ['GITHUB_TOKEN', 'GH_TOKEN'];

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function isBaseEnvName(name: string): boolean {
  return BASE_ENV_NAMES.includes(name) || BASE_ENV_PATTERN.test(name);
}

/** A name that usually holds a credential (GH_PAT, AWS_SECRET_ACCESS_KEY, DATABASE_URL, NPM_TOKEN, …). */
export function looksLikeSecret(name: string): boolean {
  return /TOKEN|SECRET|PASSW|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_?KEY|AUTH|(^|_)PAT$|(^|_)KEY$|_URL$|DSN$|COOKIE|SESSION|SSH_AUTH_SOCK/i.test(
    name,
  );
}

export interface EnvWarning {
  /** Dotted policy path of the list, e.g. `local.env`. */
  key: 'local.env' | 'dispatch.env';
  name: string;
  message: string;
}

/** What `validate` warns about in the names a policy passes through (not errors: a check may need NPM_TOKEN). */
export function envWarnings(policy: { local: { env: readonly string[] }; dispatch: { env: readonly string[] } }): EnvWarning[] {
  const warnings: EnvWarning[] = [];
  const scan = (key: EnvWarning['key'], names: readonly string[], who: string) => {
    for (const name of names) {
      if (FORGE_CREDENTIALS.includes(name)) {
        warnings.push({ key, name, message: `${key} names ${name}, Build Master's own forge token: it is never passed to ${who}` });
      } else if (looksLikeSecret(name)) {
        warnings.push({
          key,
          name,
          message: `${key} passes ${name} to ${who}; it looks like a secret, and every command ${who === 'checks' ? 'a change under test runs' : 'the fixer runs'} can read it`,
        });
      }
    }
  };
  scan('local.env', policy.local.env, 'checks');
  scan('dispatch.env', policy.dispatch.env, 'the fix command');
  return warnings;
}

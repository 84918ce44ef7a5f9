// Field types the policy's sections share: durations, timeouts, counts, names of environment
// variables and autonomy levels. A module of its own so every section (runs/ too) uses the same rules.
import { z } from 'zod';
import { parseDuration } from './duration';
import { ENV_NAME } from './env';

export const AUTONOMY_LEVELS = ['A0', 'A1', 'A2', 'A3', 'A4', 'A5'] as const;

export const duration = (fallback: string) =>
  z
    .string()
    .refine((text) => parseDuration(text) !== undefined, { params: { kind: 'duration' } })
    .transform((text) => parseDuration(text) as number)
    .prefault(fallback);

/** A timeout: a duration of at least a second (`0s` would kill every command the moment it starts). */
export const timeout = (fallback: string) =>
  z
    .string()
    .refine((text) => parseDuration(text) !== undefined, { params: { kind: 'duration' } })
    .transform((text) => parseDuration(text) as number)
    .refine((ms) => ms >= 1000, {
      message: 'a timeout must be at least 1s',
      params: { kind: 'too-short', hint: 'a timeout under a second kills every command as it starts; write e.g. 30s or 10m' },
    })
    .prefault(fallback);

/** Whether git accepts `name` as a branch name (the rules of git check-ref-format, for one branch). */
export function validBranchName(name: string): boolean {
  if (!name || name === '@' || name.startsWith('-') || name.startsWith('/') || name.endsWith('/') || name.endsWith('.')) return false;
  // eslint-disable-next-line no-control-regex
  if (/\.\.|@\{|\/\/|[\x00-\x20\x7f~^:?*[\\]/.test(name)) return false;
  return name.split('/').every((part) => part.length > 0 && !part.startsWith('.') && !part.endsWith('.lock'));
}

/** Keys whose values are durations; a bare number there gets a duration-specific message. */
export const DURATION_KEYS: ReadonlySet<string> = new Set([
  'page_owner_after',
  'timeout',
  'stale_after',
  'nudge_review_after',
  'redispatch_rework_after',
  'check_timeout',
  'window',
  'hedge_after',
  'wall',
]);

export const count = (fallback: number) => z.number().int().min(0).default(fallback);
export const strings = (fallback: string[]) => z.array(z.string().min(1)).default(fallback);
/** Names of environment variables passed through to checks or the fix command. */
export const envNames = z
  .array(
    z.string().refine((name) => ENV_NAME.test(name), {
      params: { kind: 'bad-env-name', hint: "write the variable's name only (letters, digits, _), e.g. NPM_TOKEN; never its value" },
      error: (issue) => `"${String(issue.input)}" is not an environment variable name`,
    }),
  )
  .default([]);
export const level = (fallback: (typeof AUTONOMY_LEVELS)[number]) => z.enum(AUTONOMY_LEVELS).default(fallback);

/** A duration with no default: absent means "not set" (e.g. no hedging, no wall-time cap). */
export const optionalDuration = () =>
  z
    .string()
    .refine((text) => parseDuration(text) !== undefined, { params: { kind: 'duration' } })
    .transform((text) => parseDuration(text) as number)
    .optional();

// The policy file's schema (SPEC §2, §8 local). Every key has a safe default,
// so an empty file is a complete policy. Objects are strict: an unknown key is
// an error, never silently ignored.
import { z } from 'zod';
import { FAILURE_CLASSES } from '../model';
import { AUTONOMY_LEVELS, count, duration, envNames, level, strings, timeout, validBranchName } from './fields';
import { runsPolicySchema } from '../runs/policy';

export { AUTONOMY_LEVELS, DURATION_KEYS, validBranchName } from './fields';

export const MERGE_METHODS = ['merge', 'squash', 'rebase'] as const;
export const REMEDIES = ['fix', 'quarantine', 'revert', 'escalate'] as const;
export const WORKERS = ['github-issue', 'command'] as const;

const lane = z.strictObject({
  name: z.string().min(1),
  paths: z.array(z.string().min(1)).min(1),
  labels: strings([]),
  checks: strings([]),
  tests: strings([]),
});

const classifyRule = z.strictObject({
  match: z
    .string()
    .min(1)
    .refine((text) => regexOf(text) !== null, { params: { kind: 'regex' } }),
  class: z.enum(FAILURE_CLASSES),
  check: z.string().min(1).optional(),
});

const eligibility = z
  .strictObject(
    Object.fromEntries(FAILURE_CLASSES.map((c) => [c, z.enum(REMEDIES).optional()])) as Record<
      (typeof FAILURE_CLASSES)[number],
      z.ZodOptional<z.ZodEnum<{ [K in (typeof REMEDIES)[number]]: K }>>
    >,
  )
  .prefault({})
  .transform((given) => ({ ...DEFAULT_ELIGIBILITY, ...stripUndefined(given) }));

export const DEFAULT_ELIGIBILITY: Record<(typeof FAILURE_CLASSES)[number], (typeof REMEDIES)[number]> = {
  'ci-config': 'fix',
  build: 'fix',
  test: 'fix',
  lint: 'fix',
  flaky: 'quarantine',
  dependency: 'fix',
  security: 'escalate',
  infra: 'escalate',
  unknown: 'escalate',
};

const localCheck = z.strictObject({
  name: z.string().min(1),
  run: z.string().min(1),
  junit: z.string().min(1).optional(),
});

export const policySchema = z.strictObject({
  target: z
    .string()
    .min(1)
    .refine(validBranchName, {
      message: 'target is not a name git accepts for a branch',
      params: { kind: 'bad-branch-name', hint: 'write the branch name as git shows it, e.g. main' },
    })
    .default('main'),
  lanes: z.array(lane).default([]),
  default_lane: z.string().min(1).default('shared'),
  risk: z
    .strictObject({
      tier3: strings(['infra/**', '**/auth/**', '.github/workflows/**']),
      tier1: strings(['docs/**', '**/*.md']),
    })
    .prefault({}),
  merge: z
    .strictObject({
      method: z.enum(MERGE_METHODS).default('squash'),
      required_approvals: count(1),
      required_checks: z.union([z.literal('all'), z.array(z.string().min(1))]).default('all'),
      blocking_labels: strings(['do-not-merge', 'needs-rework', 'needs-restack']),
      wait_for_target_green: z.boolean().default(true),
      /**
       * GitHub says a pull request is behind its base (branch protection wants it up to date):
       * `update` asks GitHub to update its branch and waits for its checks, `merge` tries the merge
       * anyway (where protection allows it), `wait` leaves it to a person.
       */
      when_behind: z.enum(['update', 'merge', 'wait']).default('update'),
    })
    .prefault({}),
  autonomy: z.strictObject({ merge: level('A3'), fix: level('A2'), revert: level('A1'), hygiene: level('A4') }).prefault({}),
  incidents: z
    .strictObject({
      fix_retries: count(2),
      failed_fixes_before_revert: count(2),
      page_owner_after: duration('30m'),
      global_hold: z
        .strictObject({
          paused_lanes_at_least: count(3),
          on_tier3_incident: z.boolean().default(true),
          on_cross_lane: z.boolean().default(true),
        })
        .prefault({}),
      classify: z.array(classifyRule).default([]),
      flaky: z
        .strictObject({
          quarantine_after: count(3),
          window: duration('7d'),
        })
        .prefault({}),
    })
    .prefault({}),
  eligibility,
  dispatch: z
    .strictObject({
      worker: z.enum(WORKERS).default('github-issue'),
      label: z.string().min(1).default('agent'),
      command: z.string().min(1).optional(),
      timeout: timeout('30m'),
      env: envNames,
    })
    .prefault({}),
  hygiene: z
    .strictObject({
      triage_label: z.string().min(1).default('needs-triage'),
      stale_after: duration('3d'),
      nudge_review_after: duration('30m'),
      redispatch_rework_after: duration('15m'),
    })
    .prefault({}),
  owners: strings([]),
  github: z
    .strictObject({
      repository: z
        .string()
        .regex(/^[\w.-]+\/[\w.-]+$/, 'must be "owner/name"')
        .optional(),
      api_url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://github.example.com/api/v3' }).optional(),
    })
    .prefault({}),
  runs: runsPolicySchema,
  local: z
    .strictObject({
      branches: strings(['lane/*', 'agent/*', 'buildmaster/fix/*', 'buildmaster/revert/*']),
      checks: z.array(localCheck).default([]),
      check_timeout: timeout('10m'),
      env: envNames,
      rerun_failed: z.boolean().default(false),
    })
    .prefault({}),
});

/** Name clashes zod cannot see; checked on the raw value so they show beside every other problem. */
export function duplicateIssues(value: unknown): z.core.$ZodIssue[] {
  const issues: z.core.$ZodIssue[] = [];
  const scan = (items: unknown, path: string[], what: string, hint: string) => {
    if (!Array.isArray(items)) return;
    const seen = new Map<string, number>();
    items.forEach((item, index) => {
      const name = (item as { name?: unknown } | null)?.name;
      if (typeof name !== 'string') return;
      const first = seen.get(name);
      if (first === undefined) seen.set(name, index);
      else
        issues.push({
          code: 'custom',
          input: name,
          path: [...path, index, 'name'],
          message: `duplicate ${what} name "${name}" (${what} ${first + 1} already uses it)`,
          params: { kind: `duplicate-${what.replace(' ', '-')}`, hint },
        });
    });
  };
  const raw = (value ?? {}) as { lanes?: unknown; local?: { checks?: unknown } };
  scan(raw.lanes, ['lanes'], 'lane', 'give every lane a unique name');
  scan(raw.local?.checks, ['local', 'checks'], 'local check', 'give every local check a unique name');
  return issues;
}

export type Policy = z.output<typeof policySchema>;
export type LanePolicy = Policy['lanes'][number];
export type AutonomyLevel = (typeof AUTONOMY_LEVELS)[number];
export type Remedy = (typeof REMEDIES)[number];

/** A classify rule's `match`: `/regex/flags` or plain text matched case-insensitively. */
export function regexOf(match: string): RegExp | null {
  const literal = /^\/(.+)\/([a-z]*)$/s.exec(match);
  try {
    if (literal) return new RegExp(literal[1] as string, literal[2]);
    return new RegExp(match.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
  } catch {
    return null;
  }
}

function stripUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

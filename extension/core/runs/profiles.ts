// Autonomy profiles of a run (issue 13, item 7): a level per action class, preset by name or written
// in the policy, and the verdict on each gated step of a run. A step the profile does not allow is
// an approval in the approval queue, never a silent skip.
import type { RiskTier, RunStep } from '../model';
import type { AutonomyLevel } from '../policy/schema';
import { RUN_ACTIONS, type RunAction, type RunsPolicy } from './policy';

export type ProfileName = 'prod-conservative' | 'staging-aggressive' | 'exploration';

export interface Profile {
  name: string;
  levels: Record<RunAction, AutonomyLevel>;
}

/**
 * The presets of the autonomy roadmap. prod-conservative: work needs an approval to start and only
 * tier-1 results merge by themselves; staging-aggressive: everything but tier 3 runs by itself;
 * exploration: tries anything, merges only with an approval and never deploys by itself.
 */
export const BUILTIN_PROFILES: Readonly<Record<ProfileName, Readonly<Record<RunAction, AutonomyLevel>>>> = {
  'prod-conservative': { plan: 'A2', generate: 'A1', execute: 'A2', merge: 'A3', deploy: 'A1' },
  'staging-aggressive': { plan: 'A4', generate: 'A4', execute: 'A4', merge: 'A4', deploy: 'A4' },
  exploration: { plan: 'A5', generate: 'A5', execute: 'A5', merge: 'A2', deploy: 'A0' },
};

function isBuiltin(name: string): name is ProfileName {
  return Object.prototype.hasOwnProperty.call(BUILTIN_PROFILES, name);
}

/**
 * The profile a run names: the policy's `runs.profiles` override or extend the presets. A level the
 * policy leaves out keeps the preset's of the same name, or prod-conservative's for a new profile.
 */
export function resolveProfile(runs: RunsPolicy, name: string): { ok: true; profile: Profile } | { ok: false; message: string } {
  const own = Object.prototype.hasOwnProperty.call(runs.profiles, name) ? runs.profiles[name] : undefined;
  if (!own && !isBuiltin(name)) {
    const known = [...new Set([...Object.keys(BUILTIN_PROFILES), ...Object.keys(runs.profiles)])].sort();
    return { ok: false, message: `unknown profile "${name}": use one of ${known.join(', ')} (or add it under runs.profiles)` };
  }
  const base = isBuiltin(name) ? BUILTIN_PROFILES[name] : BUILTIN_PROFILES['prod-conservative'];
  const levels = { ...base };
  for (const action of RUN_ACTIONS) {
    const level = own?.[action];
    if (level !== undefined) levels[action] = level;
  }
  return { ok: true, profile: { name, levels } };
}

const RANK: Record<AutonomyLevel, number> = { A0: 0, A1: 1, A2: 2, A3: 3, A4: 4, A5: 5 };

/** The action class whose level gates a step: applying a plan is generating code. */
export function actionOf(step: RunStep): RunAction {
  return step === 'apply' ? 'generate' : step;
}

/**
 * May the run take this step without a person? apply, execute and plan from A2; merge: A3 tier 1,
 * A4 tiers 1–2 (A5 too: tier 3 always needs a human); deploy from A4. A merge of unknown tier is
 * judged as tier 3: an unknown risk is the highest.
 */
export function stepVerdict(profile: Profile, step: RunStep, tier?: RiskTier): { allowed: boolean; rationale: string } {
  const action = actionOf(step);
  const level = profile.levels[action];
  const rank = RANK[level];
  const named = `profile ${profile.name}: ${action} ${level}`;
  if ((step === 'merge' || step === 'deploy') && (tier === 'tier3' || (step === 'merge' && tier === undefined))) {
    const what = tier === undefined ? 'a change of unknown risk tier' : 'a tier 3 change';
    return { allowed: false, rationale: `${named}; ${what} always needs a person's approval to ${step}` };
  }
  if (step === 'merge') {
    const needed = tier === 'tier1' ? 3 : 4;
    return rank >= needed
      ? { allowed: true, rationale: `${named} merges ${tier ?? ''} results by itself` }
      : { allowed: false, rationale: `${named} needs an approval to merge a ${tier ?? ''} result (A${needed} would not)` };
  }
  const needed = step === 'deploy' ? 4 : 2;
  return rank >= needed
    ? { allowed: true, rationale: `${named} may ${step} without an approval` }
    : { allowed: false, rationale: `${named} needs an approval to ${step} (A${needed} would not)` };
}

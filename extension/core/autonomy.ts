// Autonomy levels per action class (SPEC §6). Tier 3 always needs a human.
import type { ActionClass, RiskTier } from './model';
import type { AutonomyLevel, Policy } from './policy/schema';

export interface AutonomyVerdict {
  allowed: boolean;
  rationale: string;
}

const RANK: Record<AutonomyLevel, number> = { A0: 0, A1: 1, A2: 2, A3: 3, A4: 4, A5: 5 };

/**
 * Merges: A3 merges tier 1 automatically, A4 tiers 1–2, A5 everything within
 * policy. Every other action class (dispatching a fix, opening a revert change,
 * hygiene) only opens changes, issues or labels, so it runs automatically from A2.
 */
export function autonomyAllows(policy: Policy, action: ActionClass, tier: RiskTier): AutonomyVerdict {
  const level = policy.autonomy[action];
  if (tier === 'tier3') {
    return { allowed: false, rationale: `tier 3 changes always need a human (autonomy.${action} is ${level})` };
  }
  const rank = RANK[level];
  if (action === 'merge') {
    const needed = tier === 'tier1' ? 3 : 4;
    return rank >= needed
      ? { allowed: true, rationale: `autonomy.merge ${level} merges ${tier} automatically` }
      : { allowed: false, rationale: `autonomy.merge ${level} does not merge ${tier} automatically (needs A${needed})` };
  }
  return rank >= 2
    ? { allowed: true, rationale: `autonomy.${action} ${level} acts automatically` }
    : { allowed: false, rationale: `autonomy.${action} ${level} needs an operator's approval` };
}

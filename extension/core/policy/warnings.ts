// Things a valid policy can say that will not do what its author meant: not
// errors (the policy still works), but `validate` names them before they cost
// a merge.
import type { Policy } from './schema';

/**
 * Check names a lane or `merge.required_checks` lists that no `local.checks`
 * entry defines: in local mode nothing ever reports them, so every change that
 * needs them waits on `check-missing`. (In GitHub mode CI reports checks, so a
 * policy without `local.checks` is not warned about.)
 */
export function undefinedCheckWarnings(policy: Policy): string[] {
  if (policy.local.checks.length === 0) return [];
  const defined = new Set(policy.local.checks.map((check) => check.name));
  const warnings: string[] = [];
  for (const lane of policy.lanes) {
    for (const name of lane.checks.filter((check) => !defined.has(check))) {
      warnings.push(`lane ${lane.name} lists the check "${name}", which no local.checks entry defines: in local mode it never reports, so changes in lane ${lane.name} wait on it; define it under local.checks or remove it`);
    }
  }
  if (Array.isArray(policy.merge.required_checks)) {
    for (const name of policy.merge.required_checks.filter((check) => !defined.has(check))) {
      warnings.push(`merge.required_checks lists "${name}", which no local.checks entry defines: in local mode it never reports; define it under local.checks or remove it`);
    }
  }
  return warnings;
}

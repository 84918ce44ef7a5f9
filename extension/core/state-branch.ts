// Build Master's own state branch (`buildmaster/state`, GitHub mode on ephemeral
// runners): a commit of state files, never a change, never merged, never a target.

/** The branch the Action and `--from-ref` read and write by default. */
export const DEFAULT_STATE_BRANCH = 'buildmaster/state';

/** Whether a branch is a Build Master state branch: `buildmaster/state` or `buildmaster/state-<name>`. */
export function isStateBranch(branch: string): boolean {
  return (
    branch === DEFAULT_STATE_BRANCH || (branch.startsWith(`${DEFAULT_STATE_BRANCH}-`) && branch.length > DEFAULT_STATE_BRANCH.length + 1)
  );
}

/**
 * Whether a change is a state branch's pull request (or one into it): someone
 * opened a pull request from Build Master's memory. It is never gated or merged.
 * A fork's branch of that name is an ordinary change.
 */
export function touchesStateBranch(change: { branch: string; base: string; headRepo?: string }): boolean {
  return (change.headRepo === undefined && isStateBranch(change.branch)) || isStateBranch(change.base);
}

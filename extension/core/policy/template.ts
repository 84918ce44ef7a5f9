// The commented starter `.buildmaster.yml` the cockpit's welcome view creates.
// Lanes are proposed from the repository's top-level folders, so the file is
// useful as written; every other key shows its default with a comment.

const IGNORED = new Set(['node_modules', 'dist', 'build', 'out', 'target', 'vendor', 'coverage']);

export function policyTemplate(topLevelFolders: readonly string[], target = 'main'): string {
  const lanes = topLevelFolders.filter((name) => !name.startsWith('.') && !IGNORED.has(name) && /^[A-Za-z0-9_.-]+$/.test(name)).slice(0, 8);
  const laneLines = lanes.length
    ? lanes.flatMap((name) => [
        `  - name: ${name}`,
        `    paths: ["${name}/**"]`,
        '    checks: []            # target-branch checks that belong to this lane',
      ])
    : ['  - name: app', '    paths: ["src/**"]', '    checks: []'];
  return [
    '# Build Master policy. Every key has a safe default; delete what you do not need.',
    '# Hover a key for its meaning; the editor checks this file as you type.',
    `target: ${target}`,
    'lanes:                    # order matters: the first lane whose paths match wins',
    ...laneLines,
    'default_lane: shared      # changes matching no lane; cross-lane changes go here too',
    'risk:',
    '  tier3: ["infra/**", "**/auth/**", ".github/workflows/**"]   # always needs a person',
    '  tier1: ["docs/**", "**/*.md"]                                # may auto-merge at A3',
    'merge:',
    '  method: squash          # merge | squash | rebase',
    '  required_approvals: 1',
    '  required_checks: all    # or a list of check names',
    '  wait_for_target_green: true',
    'autonomy:                 # A0 manual .. A5 everything within policy',
    '  merge: A3',
    '  fix: A2',
    '  revert: A1',
    'incidents:',
    '  fix_retries: 2',
    '  page_owner_after: 30m',
    'dispatch:',
    '  worker: command         # github-issue | command',
    '  # command: "./scripts/fix.sh"   # gets the repair prompt on stdin; without one, incidents escalate',
    '  timeout: 30m',
    'local:',
    '  branches: ["lane/*", "agent/*"]',
    '  checks: []              # e.g. - { name: test, run: "npm test" }',
    'owners: []                # e.g. ["@octocat"]',
    '',
  ].join('\n');
}

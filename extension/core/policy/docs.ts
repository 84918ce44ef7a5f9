// What each policy key means, for hover documentation and completion details.
// Paths use `[]` for an array's items (`lanes[].paths`). The schema supplies
// types, enum values and defaults; this file supplies the words (SPEC §2, §6, §8).

const LEVELS =
  'A0 manual (propose only) · A1 assisted (each action needs approval) · A2 guarded · A3 auto-merge tier 1 · A4 auto-merge tier 1–2 · A5 everything within policy. Tier 3 always needs a person.';

export const POLICY_DOCS: Readonly<Record<string, string>> = {
  target: 'The branch changes merge into. Build Master never pushes to it directly: only merges that passed the gate move it.',
  lanes:
    'Lanes group changes by the paths they touch. Order matters: the first lane whose paths match a file wins. A broken lane is isolated while healthy lanes keep merging.',
  'lanes[]': 'One lane: a name, the paths it owns, and the target-branch checks that belong to it.',
  'lanes[].name': "The lane's unique name, used in the cockpit, the CLI (`pause <lane>`) and incident attribution.",
  'lanes[].paths':
    'Glob patterns (picomatch) of the files this lane owns, e.g. `web/**`. At least one. Paths are matched exactly as git reports them: dotfiles match, `\\` is a character (not a separator), a leading `!` is a character (no negation), and names are compared in Unicode NFC. A renamed file counts at its old and its new path.',
  'lanes[].labels':
    "Labels that put a change into this lane's queue regardless of its paths (GitHub mode). A label never removes a check: the change still needs the checks of every lane its paths touch.",
  'lanes[].tests':
    'Globs of test files that belong to this lane although they live outside its paths (e.g. `e2e/web/**`). A failing test of a shared check maps to the lane whose `tests`, then `paths`, contain its file.',
  'lanes[].checks':
    "Checks that belong to this lane: every change touching the lane's paths must pass them, and a red one on the target branch is attributed to this lane.",
  default_lane:
    "The lane for changes that match no lane. Changes that touch several lanes are cross-lane and merge only when every lane they touch is healthy. A change in the default lane, and a cross-lane change, must pass every check the policy knows (every lane's `checks`, the listed `merge.required_checks`, and in local mode every `local.checks` name), unless you declare a lane with this name and `checks` of its own: then those are what it needs.",
  risk: "Risk tiers by path. Tier 3 always needs a person's approval; tier 1 may auto-merge at A3. The policy file itself and CI configuration are always tier 3.",
  'risk.tier3':
    'Globs of high-risk files (infrastructure, auth, CI workflows). A change touching one is tier 3: never merged or repaired without approval. These add to a built-in list that no policy can remove: the policy file (`.buildmaster.yml`, `.github/buildmaster.yml`) and CI configuration (`.github/workflows/**`, `.github/actions/**`, `CODEOWNERS`, `.gitlab-ci.yml`, `.circleci/**`, `Jenkinsfile`, `azure-pipelines.yml`, `.buildkite/**`, `.travis.yml`, `bitbucket-pipelines.yml`, `.drone.yml`, `.woodpecker*`, `appveyor.yml`), so a change that edits the policy to raise its own autonomy never merges on its own. Tier 3 matching ignores case (a case-insensitive file system reads `INFRA/` as `infra/`); a renamed file counts at its old and its new path.',
  'risk.tier1': 'Globs of low-risk files (docs, tests). A change touching only these is tier 1.',
  merge: 'How and when a change may merge.',
  'merge.method': 'How changes land: `merge` (a merge commit), `squash` (one commit) or `rebase` (GitHub rebases; local mode squashes).',
  'merge.required_approvals':
    'Approving reviews a pull request needs (the latest review of each reviewer counts). Not used in local mode, which has no reviews.',
  'merge.required_checks':
    "The checks no lane lists that every change must pass: `all` (every such check reported, and in local mode every `local.checks` name) or a list of names. A change always needs the `checks` of every lane its paths touch; a default-lane or cross-lane change needs every check the policy knows (see `default_lane`). A check red only because of another lane's open incident does not block. Nothing merges with no required check at all, unless you write `required_checks: []`: that explicitly lets changes no check judges merge.",
  'merge.blocking_labels': 'Labels that keep a change from merging.',
  'merge.wait_for_target_green': "Serialize each lane: its next merge waits until the last one's target-branch checks are green.",
  'merge.when_behind':
    'GitHub only: a pull request behind its base under strict branch protection. `update` (default): Build Master asks GitHub to update its branch once per head and base, then waits for its checks; `merge`: try the merge anyway; `wait`: a person updates it.',
  autonomy: `What Build Master may do on its own, per action class. ${LEVELS}`,
  'autonomy.merge': `Merging changes. ${LEVELS}`,
  'autonomy.fix': `Dispatching repairs to a worker. ${LEVELS}`,
  'autonomy.revert': `Proposing and merging reverts of a culprit merge. ${LEVELS}`,
  'autonomy.hygiene': `Labels, nudges and comments of the conductor protocol (GitHub mode). ${LEVELS}`,
  incidents: 'How a red target branch is handled: retries, reverts, paging and the global hold.',
  'incidents.fix_retries': 'Automated fix attempts per incident before the lane pauses and a person is asked.',
  'incidents.failed_fixes_before_revert': 'Failed fixes after which Build Master proposes reverting the culprit merge.',
  'incidents.page_owner_after': 'How long a lane may stay paused before the owners are paged (a duration: 30m, 2h, 1d).',
  'incidents.global_hold': 'When every merge stops until an owner runs `release --ack`.',
  'incidents.global_hold.paused_lanes_at_least': 'Hold everything when at least this many lanes are paused at once.',
  'incidents.global_hold.on_tier3_incident': 'Hold everything when an incident touches tier 3 files.',
  'incidents.global_hold.on_cross_lane': 'Hold everything when an incident spans several lanes.',
  'incidents.classify': 'Extra failure-classification rules, checked before the built-in ones.',
  'incidents.classify[]': "A rule: when a failing check's output matches, the failure has this class.",
  'incidents.classify[].match': 'Text matched case-insensitively, or `/regex/flags`.',
  'incidents.classify[].class': 'The failure class the rule assigns.',
  'incidents.classify[].check': 'Only apply the rule to this check.',
  eligibility: 'Which remedy each failure class gets: `fix` (dispatch a worker), `quarantine`, `revert` or `escalate` (ask a person).',
  dispatch: 'Who writes fixes: a GitHub issue that summons a coding agent, or a local command.',
  'dispatch.worker':
    '`github-issue` (an issue labelled for the coding agent) or `command` (a local command run in a fresh worktree with the prompt on stdin).',
  'dispatch.label': 'github-issue worker: the label that summons the coding agent.',
  'dispatch.command':
    "command worker: the command to run in its own worktree (detached at the target). It gets the prompt on stdin and an allowlisted environment (`dispatch.env`); only the lane's paths may change, every commit from the target to its result is checked, and moving a branch or touching git config or hooks fails the fix.",
  'dispatch.env':
    "Environment variables passed to the fix command beyond the basic ones (PATH, HOME, USER, LOGNAME, SHELL, TERM, LANG, LANGUAGE, LC_*, TZ, TMPDIR), e.g. `[ANTHROPIC_API_KEY]`. Everything else is withheld. Build Master's own GitHub token (GITHUB_TOKEN, GH_TOKEN) is never passed; `validate` warns about names that look like secrets.",
  'dispatch.timeout': 'How long a dispatched fix may take before it counts as failed (a duration).',
  hygiene: 'The conductor protocol in GitHub mode: triage, review nudges, stale detection.',
  'hygiene.triage_label': 'The label put on new pull requests that need triage.',
  'hygiene.stale_after': 'A pull request with no activity for this long is stale (a duration).',
  'hygiene.nudge_review_after': 'Nudge reviewers of a ready pull request after this long (a duration).',
  'hygiene.redispatch_rework_after': 'Re-dispatch a `needs-rework` pull request to its agent after this long (a duration).',
  owners: 'People paged and mentioned when a lane stays paused or a hold needs acknowledging (e.g. `@octocat`).',
  github:
    "GitHub mode (`--forge github`): which repository, through which API. The token comes from VS Code's GitHub sign-in, the stored token, or `GITHUB_TOKEN`; never from this file.",
  'github.repository': 'The repository as `owner/name`. Default: `GITHUB_REPOSITORY`, else the `origin` remote of this clone.',
  'github.api_url':
    'The REST API base URL, for GitHub Enterprise Server (`https://github.example.com/api/v3`). Default: `GITHUB_API_URL`, else `https://api.github.com`.',
  local: 'Local mode: branches of this repository are the changes; checks are commands.',
  'local.branches': 'Glob patterns of branches that are merge candidates.',
  'local.checks': 'Check commands run on the would-be merge commit (pre-merge) and on the target after each merge (post-merge).',
  'local.checks[]': 'One check: a unique name and a shell command; exit 0 passes.',
  'local.checks[].name': "The check's unique name; lanes refer to it in `checks`.",
  'local.checks[].run': 'The shell command, run in a checkout of the commit under test.',
  'local.env':
    "Environment variables passed to checks beyond the basic ones (PATH, HOME, USER, LOGNAME, SHELL, TERM, LANG, LANGUAGE, LC_*, TZ, TMPDIR, plus CI=true and BUILDMASTER_CHECK), e.g. `[JAVA_HOME, NPM_CONFIG_CACHE]`. Everything else is withheld: checks run the code under test. Build Master's own GitHub token (GITHUB_TOKEN, GH_TOKEN) is never passed; `validate` warns about names that look like secrets.",
  'local.checks[].junit':
    "A JUnit XML report the check command writes, relative to the checkout. Its failing test cases are the check's failures (what maps a shared check's break to a lane); without it, the command's output is read with the built-in parsers.",
  'local.rerun_failed':
    'Run a failed check once more on the same commit: tests that pass the second time are flaky (counted, never an incident), and a check that passes is flaky as a whole.',
  'incidents.flaky': 'Flaky tests: a test that fails and then passes on the same commit never opens an incident; it is counted per test.',
  'incidents.flaky.quarantine_after':
    'A test flaky this many times within `window` is reported for quarantine (a hygiene action, governed by `autonomy.hygiene`). 0 turns the report off.',
  'incidents.flaky.window': 'How far back flaky runs are counted (a duration).',
  runs: 'Runs: agents driven by Build Master. A run turns a ticket or progress rows into tasks, schedules them on worker classes within caps and budgets, and merges their results through the same gate as every change (docs/runs.md).',
  'runs.max_agents': 'Agents (task workers) working at once, over every run.',
  'runs.max_phase': "Progress rows of a later phase are not selected (the builder loop's cap).",
  'runs.per_lane': 'Tasks running at once per lane, e.g. `{ web: 2 }`; a lane not named is capped only by `max_agents`.',
  'runs.per_class': 'Tasks running at once per worker class, e.g. `{ premium: 1 }`.',
  'runs.hedge_after':
    "A task running longer than this (a duration) gets a duplicate on another worker class; the first success is adopted and the other cancelled. Absent: only a task past its class's observed p90 is hedged.",
  'runs.profile':
    'The autonomy profile a run uses unless `run --profile` names another: `prod-conservative`, `staging-aggressive`, `exploration`, or one of `profiles`.',
  'runs.profiles':
    "Your own autonomy profiles: a level (A0–A5) per action class (`plan`, `generate`, `execute`, `merge`, `deploy`); a class not named keeps prod-conservative's level. A gated step becomes an approval in the approval queue.",
  'runs.budgets':
    'Default caps of a run; `run --usd`, `--cap` and `--wall` override them. A run that reaches a cap stops with a hand-off summary.',
  'runs.budgets.usd': 'US dollars a run may spend (as the workers report it, or priced from their tokens).',
  'runs.budgets.tokens': 'Tokens (in + out) a run may spend.',
  'runs.budgets.wall': 'Wall time a run may take (a duration).',
  'runs.budgets.task_tokens': 'Tokens one task may spend; a task over it fails.',
  'runs.degrade_at': 'Past this fraction of any cap (0–1) the router picks a cheaper worker class.',
  'runs.workers':
    'Worker classes: any coding-agent CLI, run in a fresh worktree on `buildmaster/task/<run>/<task>` with the prompt on stdin and a scrubbed environment.',
  'runs.workers[].name':
    "The class's name, used by router rules, `per_class` and the cockpit (a lowercase word such as premium, code, fast, local).",
  'runs.workers[].command':
    'The command (run with `sh -c`). It gets the prompt on stdin; it reports usage as a JSON line `{"usage": {"tokens_in": N, "tokens_out": N, "usd": X}}` on stdout or in the file `$BUILDMASTER_RESULT`.',
  'runs.workers[].timeout': 'A worker running longer is killed and the attempt fails (a duration, at least 1s).',
  'runs.workers[].env': "Environment variables passed to the worker beyond the basic ones (an API key's name, never its value).",
  'runs.workers[].usd_per_mtok_in': 'Price per million input tokens, for an agent that reports tokens but not dollars.',
  'runs.workers[].usd_per_mtok_out': 'Price per million output tokens, for an agent that reports tokens but not dollars.',
  'runs.workers[].cost_rank': 'Where the class stands when degrading: a lower number is cheaper. Default: the list order, dearest first.',
  'runs.router': 'Which worker class each task gets: rules in CEL, a default, and optionally a learned choice.',
  'runs.router.rules': 'Rules tried in order; the first whose `when` is true chooses the class.',
  'runs.router.rules[].when':
    'A CEL expression over `task` (`type`, `id`, `lane`, `attempts`, `context_tokens`) and `budget` (`usd_left`, `tokens_left`, `fraction_used`), e.g. `task.type == "spec" && task.context_tokens > 60000`. A rule that does not compile is a policy error.',
  'runs.router.rules[].use': 'The worker class the rule chooses.',
  'runs.router.rules[].fallback': 'Classes to use, in order, when `use` is at its `per_class` cap.',
  'runs.router.default': 'The class when no rule matches. Default: the first worker class.',
  'runs.router.learn':
    'Learn cost, success and latency per class and task type, and choose by Thompson sampling among the classes a rule allows.',
  'runs.router.min_success':
    "The learned choice's quality floor (0–1): only classes whose sampled success rate (tests passed, no break after merging) is at least this compete on cost; when none does, the best sampled rate. 0 turns it off.",
  'runs.templates':
    'Ticket templates by name: a list of tasks (id, type, prompt, depends_on, write_scope, test_commands, lane). Built in: `feature` (spec → code → tests → docs).',
  'runs.template': 'The template a ticket uses when `planner` is not set.',
  'runs.planner':
    'An agent CLI that plans a ticket: it gets the ticket on stdin and prints the plan as JSON (docs/runs.md); a malformed plan is rejected with the reason and nothing runs.',
  'runs.planner.command': 'The planner command (run with `sh -c`).',
  'runs.planner.timeout': 'A planner running longer is killed and the run fails (a duration).',
  'runs.planner.env': 'Environment variables passed to the planner beyond the basic ones.',
  'runs.repair_tasks': "A failed task spawns one repair task (type `fix`) given the failure's detail.",
  'runs.test_commands': "Commands every task's result must pass before it enters its lane's queue, when the task names none.",
  'local.check_timeout': 'A check running longer than this is killed and counts as an infrastructure failure (a duration).',
};

export const FAILURE_CLASS_DOCS: Readonly<Record<string, string>> = {
  'ci-config': 'The CI configuration itself is broken.',
  build: 'The code does not compile or bundle.',
  test: 'A test fails.',
  lint: 'A linter or formatter check fails.',
  flaky: 'A failure that passed on a re-run.',
  dependency: 'A dependency could not be resolved or installed.',
  security: 'A security scan failed.',
  infra: 'The machine or network failed (disk full, timeout, runner lost).',
  unknown: 'No rule matched.',
};

// Which lane a change belongs to, and its risk tier (SPEC §1, §2).
import picomatch from 'picomatch';
import type { RiskTier } from './model';
import type { Policy } from './policy/schema';

export interface LaneAssignment {
  lane: string;
  /** The change touches files of more than one lane; it goes to the default lane. */
  crossLane: boolean;
  /** Every lane the change's files touch, in policy order (default lane last). */
  touched: string[];
  rationale: string;
}

/**
 * Tier 3 whatever the policy says: the policy file itself and CI configuration.
 * A change that edits them could raise its own autonomy or switch off the
 * checks that judge it, so it always waits for a person. `risk.tier3` adds to
 * this list; it cannot remove from it.
 */
export const ALWAYS_TIER3: readonly string[] = [
  '.buildmaster.yml',
  '.buildmaster.yaml',
  '.github/buildmaster.yml',
  '.github/buildmaster.yaml',
  '.github/workflows/**',
  '.github/actions/**',
  '**/CODEOWNERS',
  '.gitlab-ci.yml',
  '**/*.gitlab-ci.yml',
  '.gitlab/ci/**',
  '.circleci/**',
  '.travis.yml',
  'azure-pipelines.yml',
  '.azure-pipelines/**',
  '.buildkite/**',
  'Jenkinsfile',
  'bitbucket-pipelines.yml',
  '.drone.yml',
  '.woodpecker.yml',
  '.woodpecker/**',
  'appveyor.yml',
  '.appveyor.yml',
];

type Matcher = (path: string) => boolean;
interface Compiled {
  lanes: { name: string; match: Matcher; labels: string[] }[];
  tier3: Matcher;
  tier1: Matcher;
  /** Each file's lane, remembered: a cycle asks for the same files many times (gate, suspects, lane views). */
  laneOf: Map<string, string>;
  /** A change's lanes by path, remembered per files list (the same array is asked about by the gate and the planner). */
  byFiles: WeakMap<readonly string[], readonly string[]>;
}
const cache = new WeakMap<Policy, Compiled>();
/** A long-running controller sees files come and go; forgetting everything now and then bounds the memory. */
const REMEMBERED_FILES = 100_000;

/**
 * Paths are matched as the exact text git reports: dotfiles match `*`, a
 * backslash is a character (never a Windows separator), `!` in a pattern is a
 * character (a negated pattern in a list would match everything else), and a
 * newline in a name cannot end a `**` early. Both sides are compared in Unicode
 * NFC, so a name written decomposed (NFD) matches the composed pattern.
 */
const OPTIONS = { dot: true, windows: false, nonegate: true } as const;

function glob(patterns: readonly string[], nocase = false): Matcher {
  if (patterns.length === 0) return () => false;
  const compiled = patterns.map((pattern) => {
    const text = pattern.normalize('NFC');
    const re = picomatch.makeRe(text, { ...OPTIONS, nocase });
    // picomatch's `**` uses `.`, which stops at a newline without the dotAll flag.
    return { text: nocase ? text.toLowerCase() : text, re: new RegExp(re.source, re.flags.includes('s') ? re.flags : `${re.flags}s`) };
  });
  return (path: string) => {
    const text = path.normalize('NFC');
    const literal = nocase ? text.toLowerCase() : text;
    return compiled.some((c) => literal === c.text || c.re.test(text));
  };
}

function compiled(policy: Policy): Compiled {
  let entry = cache.get(policy);
  if (!entry) {
    entry = {
      lanes: policy.lanes.map((lane) => ({ name: lane.name, match: glob(lane.paths), labels: lane.labels })),
      // Case-insensitive: on a case-insensitive file system `INFRA/x` is `infra/x`,
      // and `.BuildMaster.yml` is read as the policy. Matching more is the safe side.
      tier3: glob([...ALWAYS_TIER3, ...policy.risk.tier3], true),
      tier1: glob(policy.risk.tier1),
      laneOf: new Map(),
      byFiles: new WeakMap(),
    };
    cache.set(policy, entry);
  }
  return entry;
}

/** The lane of one file: the first lane whose paths match, else the default lane. */
export function laneOfFile(policy: Policy, file: string): string {
  const entry = compiled(policy);
  let lane = entry.laneOf.get(file);
  if (lane === undefined) {
    lane = entry.lanes.find((candidate) => candidate.match(file))?.name ?? policy.default_lane;
    if (entry.laneOf.size >= REMEMBERED_FILES) entry.laneOf.clear();
    entry.laneOf.set(file, lane);
  }
  return lane;
}

/**
 * Every lane the files touch by their paths alone, in policy order with the
 * default lane last (no files: the default lane). Labels never change this:
 * it is what decides which checks a change must pass.
 */
export function lanesByPath(policy: Policy, files: readonly string[]): string[] {
  if (files.length === 0) return [policy.default_lane];
  const { byFiles } = compiled(policy);
  let lanes = byFiles.get(files);
  if (lanes === undefined) {
    const touched = new Set(files.map((file) => laneOfFile(policy, file)));
    const order = [...policy.lanes.map((lane) => lane.name), policy.default_lane];
    lanes = Object.freeze([...new Set(order.filter((name) => touched.has(name)))]);
    byFiles.set(files, lanes);
  }
  // A copy: callers own what they get, the remembered list stays as computed.
  return [...lanes];
}

export function assignLane(policy: Policy, files: readonly string[], labels: readonly string[] = []): LaneAssignment {
  const { lanes } = compiled(policy);
  const byLabel = lanes.find((lane) => lane.labels.some((label) => labels.includes(label)));
  if (byLabel) {
    return { lane: byLabel.name, crossLane: false, touched: [byLabel.name], rationale: `label assigns it to lane ${byLabel.name}` };
  }
  if (files.length === 0) {
    return { lane: policy.default_lane, crossLane: false, touched: [policy.default_lane], rationale: 'no changed files: default lane' };
  }
  const list = lanesByPath(policy, files);
  if (list.length === 1) {
    const lane = list[0] as string;
    const why = lane === policy.default_lane ? 'its files match no lane' : `its files match lane ${lane}`;
    return { lane, crossLane: false, touched: list, rationale: why };
  }
  return {
    lane: policy.default_lane,
    crossLane: true,
    touched: list,
    rationale: `it touches lanes ${list.join(', ')}, so it is cross-lane and goes to ${policy.default_lane}`,
  };
}

/** Tier 3 patterns (the policy's and the built-in ones) beat tier 1; a change is tier 1 only when every file is. */
export function riskTier(policy: Policy, files: readonly string[]): RiskTier {
  const { tier3, tier1 } = compiled(policy);
  if (files.some((file) => tier3(file))) return 'tier3';
  if (files.length > 0 && files.every((file) => tier1(file))) return 'tier1';
  return 'tier2';
}

export function maxTier(tiers: readonly RiskTier[]): RiskTier {
  if (tiers.includes('tier3')) return 'tier3';
  if (tiers.includes('tier2')) return 'tier2';
  return tiers.length ? 'tier1' : 'tier2';
}

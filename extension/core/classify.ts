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

type Matcher = (path: string) => boolean;
const cache = new WeakMap<Policy, { lanes: { name: string; match: Matcher; labels: string[] }[]; tier3: Matcher; tier1: Matcher }>();

function compiled(policy: Policy) {
  let entry = cache.get(policy);
  if (!entry) {
    const glob = (patterns: string[]): Matcher => {
      if (patterns.length === 0) return () => false;
      const match = picomatch(patterns, { dot: true });
      // picomatch never matches across a line break, so `infra/a<newline>b` would escape `infra/**`: match it as one character.
      return (path) => match(path.replace(/[\n\r\u2028\u2029]/g, '\uFFFD'));
    };
    entry = {
      lanes: policy.lanes.map((lane) => ({ name: lane.name, match: glob(lane.paths), labels: lane.labels })),
      tier3: glob(policy.risk.tier3),
      tier1: glob(policy.risk.tier1),
    };
    cache.set(policy, entry);
  }
  return entry;
}

/** The lane of one file: the first lane whose paths match, else the default lane. */
export function laneOfFile(policy: Policy, file: string): string {
  return compiled(policy).lanes.find((lane) => lane.match(file))?.name ?? policy.default_lane;
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
  const touched = new Set(files.map((file) => laneOfFile(policy, file)));
  const order = [...policy.lanes.map((lane) => lane.name), policy.default_lane];
  const list = order.filter((name) => touched.has(name));
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

/** Tier 3 patterns beat tier 1; a change is tier 1 only when every file is. */
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

// The learned router (issue 13, `router.learn`): per worker class and task type, what attempts cost and
// how often they succeeded; the choice is Thompson sampling on the success rate: among the classes whose
// sampled rate clears a quality floor (`router.min_success`), the least expected cost per success.
// A success is a change that passed its tests and did not break the target after merging; a failed test,
// a failed repair or a post-merge break is a failure. Pure: the random numbers come from a seeded generator.

/** What the router learned about one worker class on one task type; `usd` and `duration_ms` are totals over every attempt. */
export interface RouterStat {
  worker_class: string;
  type: string;
  successes: number;
  failures: number;
  usd: number;
  duration_ms: number;
}

/** The key of a class's stat for a task type. */
export function statKey(workerClass: string, type: string): string {
  return `${workerClass}:${type}`;
}

/** One attempt's outcome added to the stats; returns new stats (the input is not changed). */
export function learn(
  stats: Readonly<Record<string, RouterStat>>,
  worker_class: string,
  type: string,
  outcome: { success: boolean; usd: number; duration_ms: number },
): Record<string, RouterStat> {
  const key = statKey(worker_class, type);
  const before = stats[key] ?? { worker_class, type, successes: 0, failures: 0, usd: 0, duration_ms: 0 };
  const after: RouterStat = {
    worker_class,
    type,
    successes: before.successes + (outcome.success ? 1 : 0),
    failures: before.failures + (outcome.success ? 0 : 1),
    usd: before.usd + Math.max(0, outcome.usd),
    duration_ms: before.duration_ms + Math.max(0, outcome.duration_ms),
  };
  return { ...stats, [key]: after };
}

/** mulberry32: a small seeded generator in [0, 1), so a choice can be replayed. */
export function seededRng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A string's FNV-1a hash: the default seed of a task's choice (its run, id and attempt). */
export function seedOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** A standard normal draw (Box–Muller); 1 - u keeps the logarithm finite. */
function normal(rng: () => number): number {
  const u = 1 - rng();
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** A Gamma(shape, 1) draw by Marsaglia and Tsang's method; shape < 1 is boosted by U^(1/shape). */
export function gammaSample(shape: number, rng: () => number): number {
  if (shape < 1) return gammaSample(shape + 1, rng) * Math.pow(1 - rng(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = normal(rng);
    const v = Math.pow(1 + c * x, 3);
    if (v <= 0) continue;
    const u = 1 - rng();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** A Beta(a, b) draw as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b). */
export function betaSample(a: number, b: number, rng: () => number): number {
  const x = gammaSample(a, rng);
  const y = gammaSample(b, rng);
  return x / (x + y);
}

export interface LearnedChoice {
  worker_class: string;
  rationale: string;
}

export interface LearnInput {
  candidates: readonly string[];
  type: string;
  stats: Readonly<Record<string, RouterStat>>;
  /** The mean USD of an attempt on a class never tried on this type (see priorUsd in router.ts). */
  priorUsd: (workerClass: string) => number;
  rng: () => number;
  /**
   * The quality floor (`router.min_success`, 0–1): only a class whose sampled success rate is at least this
   * competes on cost; when none does, the class with the best sampled rate. Without it (0) a nearly free
   * class that fails three times in four wins on USD per success, and its failures cost escalations, lead
   * time and broken targets, which its USD does not show.
   */
  minSuccess?: number;
}

interface Scored {
  worker_class: string;
  p: number;
  mean: number;
  perSuccess: number;
  note: string;
}

function score(workerClass: string, input: LearnInput): Scored {
  const stat = input.stats[statKey(workerClass, input.type)];
  const successes = stat?.successes ?? 0;
  const failures = stat?.failures ?? 0;
  const attempts = successes + failures;
  const p = betaSample(successes + 1, failures + 1, input.rng);
  const mean = stat && attempts > 0 ? stat.usd / attempts : input.priorUsd(workerClass);
  const seen = attempts > 0 ? `${successes}/${attempts} succeeded, mean $${mean.toFixed(4)}` : `unseen, prior $${mean.toFixed(4)}`;
  // p > 0 almost surely; the floor keeps a pathological draw from dividing by zero.
  const perSuccess = mean / Math.max(p, 1e-9);
  return {
    worker_class: workerClass,
    p,
    mean,
    perSuccess,
    note: `${workerClass} p=${p.toFixed(3)} (${seen}) → $${perSuccess.toFixed(4)}/success`,
  };
}

/**
 * Thompson sampling: draw each candidate's success rate from Beta(successes + 1, failures + 1); among those
 * whose draw is at least `minSuccess`, take the least expected cost per success (mean USD per attempt / p);
 * when no draw clears the floor, take the best draw (quality before price). Ties keep candidate order.
 * The floor is applied to the draw, not the mean, so a class near it is still explored now and then.
 */
export function chooseLearned(input: LearnInput): LearnedChoice | undefined {
  const scored = input.candidates.map((workerClass) => score(workerClass, input));
  const floor = input.minSuccess ?? 0;
  const eligible = scored.filter((entry) => entry.p >= floor);
  let best: Scored | undefined;
  if (eligible.length > 0) {
    for (const entry of eligible) if (!best || entry.perSuccess < best.perSuccess) best = entry;
  } else for (const entry of scored) if (!best || entry.p > best.p) best = entry;
  if (!best) return undefined;
  const below = scored.filter((entry) => entry.p < floor).map((entry) => entry.worker_class);
  const why =
    floor <= 0
      ? 'the least expected cost per success'
      : eligible.length === 0
        ? `no class's sampled success reached min_success ${String(floor)}: the best sampled success`
        : `the least expected cost per success among the classes at or above min_success ${String(floor)}` +
          (below.length > 0 ? ` (below it: ${below.join(', ')})` : '');
  return {
    worker_class: best.worker_class,
    rationale: `learned (Thompson sampling on ${input.type}): ${scored.map((entry) => entry.note).join('; ')}; chose ${best.worker_class}, ${why}`,
  };
}

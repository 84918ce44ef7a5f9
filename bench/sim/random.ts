// Deterministic draws keyed by what they are for, not by call order: the k-th
// change of agent a in lane l gets the same draws under every strategy, so the
// strategies are compared on identical workloads.

function hash(parts: readonly (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    const text = String(part);
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    h ^= 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A uniform number in [0, 1) for these keys (mulberry32 seeded by the key hash). */
export function uniform(...keys: (string | number)[]): number {
  let t = (hash(keys) + 0x6d2b79f5) >>> 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

export function exponential(mean: number, ...keys: (string | number)[]): number {
  return -mean * Math.log(1 - uniform(...keys));
}

/** Around `mean`: uniform within ±spread. */
export function around(mean: number, spread: number, ...keys: (string | number)[]): number {
  return mean * (1 - spread + 2 * spread * uniform(...keys));
}

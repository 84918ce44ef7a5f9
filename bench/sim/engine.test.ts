// The simulation benchmark's own tests: deterministic for a seed, and exact on cases small enough to compute by hand.
import { strict as assert } from 'node:assert';
import { DEFAULTS, STRATEGIES, runStrategy, type SimParams } from './engine';

const tiny: SimParams = {
  ...DEFAULTS,
  lanes: 1,
  breakProbability: 0,
  flakyRate: 0,
  crossLaneFraction: 0,
  ciSpread: 0,
  ciMinutes: 30,
  agentsPerLane: 3,
  devMinutes: 0.001,
  days: 1,
  trace: true,
};

describe('simulation benchmark', function () {
  this.timeout(60_000);

  it('is deterministic: the same seed gives the same results', () => {
    for (const strategy of STRATEGIES) {
      const params = { ...DEFAULTS, days: 1, seed: 7 };
      assert.deepEqual(JSON.stringify(runStrategy(strategy, params)), JSON.stringify(runStrategy(strategy, params)), strategy);
    }
    assert.notDeepEqual(
      runStrategy('build-master', { ...DEFAULTS, days: 1, seed: 7 }),
      runStrategy('build-master', { ...DEFAULTS, days: 1, seed: 8 }),
    );
  });

  for (const strategy of STRATEGIES) {
    it(`${strategy}: one lane, no failures: exactly one merge per D`, () => {
      const result = runStrategy(strategy, tiny);
      const times = result.merge_times ?? [];
      // The first change is ready after its pre-merge CI (D); then one merge each time the last one's post-merge CI (D) ends.
      assert.ok(Math.abs((times[0] ?? 0) - 30) < 0.01, `first merge at ${times[0]}`);
      const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
      assert.ok(
        gaps.every((gap) => Math.abs(gap - 30) < 1e-6),
        `gaps ${gaps.slice(0, 5).join(', ')}`,
      );
      assert.equal(times.length, Math.floor((24 * 60 - (times[0] as number)) / 30) + 1);
      assert.equal(result.merges_on_red, 0);
      assert.equal(result.target_green_share, 1);
    });
  }

  it('two lanes, no failures: lanes merge two per D, a single queue one per D', () => {
    const two = { ...tiny, lanes: 2 };
    assert.equal(runStrategy('build-master', two).merges, 2 * 47);
    assert.equal(runStrategy('single-queue', two).merges, 47);
  });

  it('a break holds the broken lane only under build-master, every lane under stop-the-world, none under continue-everywhere', () => {
    const broken = { ...DEFAULTS, days: 3, breakProbability: 0.3, crossLaneFraction: 0, flakyRate: 0 };
    const bm = runStrategy('build-master', broken);
    const stw = runStrategy('stop-the-world', broken);
    const ce = runStrategy('continue-everywhere', broken);
    assert.equal(bm.merges_on_red, 0, 'build-master never compounds an unrepaired break');
    assert.ok(ce.merges_on_red > 0, 'continue-everywhere piles merges onto breaks');
    assert.ok(bm.merges > stw.merges, `healthy lanes keep merging under build-master (${bm.merges} vs ${stw.merges})`);
    assert.ok(ce.merges > bm.merges, 'continue-everywhere merges the most, on red included');
  });
});

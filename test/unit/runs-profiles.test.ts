// Autonomy profiles of a run: the presets, the policy's own profiles, and which steps a profile lets
// a run take without a person (a tier-3 change never).
import { strict as assert } from 'node:assert';
import type { RiskTier, RunStep } from '../../extension/core/model';
import { BUILTIN_PROFILES, resolveProfile, stepVerdict, type Profile } from '../../extension/core/runs/profiles';
import { policy } from '../support/runs';

function levels(name: string, runs = policy()): Profile['levels'] {
  const resolved = resolveProfile(runs, name);
  assert.ok(resolved.ok, resolved.ok ? '' : resolved.message);
  return resolved.profile.levels;
}

function allowed(level: Profile['levels']['plan'], step: RunStep, tier?: RiskTier): boolean {
  const profile: Profile = { name: 'p', levels: { plan: level, generate: level, execute: level, merge: level, deploy: level } };
  return stepVerdict(profile, step, tier).allowed;
}

describe('runs: autonomy profiles', () => {
  it('the presets are the roadmap’s: conservative asks before applying, exploration never deploys by itself', () => {
    assert.deepEqual(BUILTIN_PROFILES, {
      'prod-conservative': { plan: 'A2', generate: 'A1', execute: 'A2', merge: 'A3', deploy: 'A1' },
      'staging-aggressive': { plan: 'A4', generate: 'A4', execute: 'A4', merge: 'A4', deploy: 'A4' },
      exploration: { plan: 'A5', generate: 'A5', execute: 'A5', merge: 'A2', deploy: 'A0' },
    });
    assert.deepEqual(levels('exploration'), BUILTIN_PROFILES.exploration);
  });

  it('a policy profile overrides a preset level by level, and a new one starts from prod-conservative', () => {
    const runs = policy({ profiles: { 'staging-aggressive': { deploy: 'A1' }, nightly: { generate: 'A4' } } });
    assert.deepEqual(levels('staging-aggressive', runs), { ...BUILTIN_PROFILES['staging-aggressive'], deploy: 'A1' });
    assert.deepEqual(levels('nightly', runs), { ...BUILTIN_PROFILES['prod-conservative'], generate: 'A4' });
  });

  it('an unknown profile (a typo, an object’s built-in key) is refused with the names that exist', () => {
    const runs = policy({ profiles: { nightly: { generate: 'A4' } } });
    for (const name of ['prod-conservativ', 'constructor', '__proto__', 'toString']) {
      assert.deepEqual(resolveProfile(runs, name), {
        ok: false,
        message: `unknown profile "${name}": use one of exploration, nightly, prod-conservative, staging-aggressive (or add it under runs.profiles)`,
      });
    }
  });

  it('apply, execute and plan run by themselves from A2; deploy from A4', () => {
    for (const step of ['apply', 'execute', 'plan'] as const) {
      assert.deepEqual([allowed('A1', step), allowed('A2', step)], [false, true], step);
    }
    assert.deepEqual([allowed('A3', 'deploy'), allowed('A4', 'deploy'), allowed('A4', 'deploy', 'tier3')], [false, true, false]);
  });

  it('merge: A3 tier 1, A4 tiers 1–2, A5 the same; tier 3 and an unknown tier always need a person', () => {
    const table = (['A2', 'A3', 'A4', 'A5'] as const).map((level) =>
      [level, ...(['tier1', 'tier2', 'tier3', undefined] as const).map((tier) => allowed(level, 'merge', tier))].join(' '),
    );
    assert.deepEqual(table, [
      'A2 false false false false',
      'A3 true false false false',
      'A4 true true false false',
      'A5 true true false false',
    ]);
  });

  it('the rationale names the profile, the level and what would do', () => {
    const profile: Profile = { name: 'prod-conservative', levels: { ...BUILTIN_PROFILES['prod-conservative'] } };
    assert.equal(
      stepVerdict(profile, 'merge', 'tier2').rationale,
      'profile prod-conservative: merge A3 needs an approval to merge a tier2 result (A4 would not)',
    );
    assert.equal(
      stepVerdict(profile, 'merge', 'tier3').rationale,
      "profile prod-conservative: merge A3; a tier 3 change always needs a person's approval to merge",
    );
    assert.equal(
      stepVerdict(profile, 'apply').rationale,
      'profile prod-conservative: generate A1 needs an approval to apply (A2 would not)',
    );
  });
});

// A run's caps as typed on the command line (`--cap 200k-tokens --usd 50 --wall 2h`): the forms a user
// writes are read, anything else is refused with the forms that would have worked.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { parseTokens, parseUsd, parseWall } from '../../extension/core/runs/caps';

describe('runs: CLI caps', () => {
  it('reads token caps in the forms people write', () => {
    const cases: [string, number][] = [
      ['200k-tokens', 200_000],
      ['200k', 200_000],
      ['200K', 200_000],
      ['1.5m', 1_500_000],
      ['2M tokens', 2_000_000],
      ['200000', 200_000],
      ['200_000', 200_000],
      ['200,000', 200_000],
      [' 50k ', 50_000],
      ['1token', 1],
    ];
    for (const [text, tokens] of cases) assert.equal(parseTokens(text), tokens, text);
  });

  it('refuses other token caps, naming the accepted forms', () => {
    for (const text of ['', 'lots', '200g', '-5k', '1e6', '200 k tokens please', '0', '0k', '0.0001k', 'k', '99999999999999999999m']) {
      const parsed = parseTokens(text);
      assert.ok(typeof parsed === 'object', `${JSON.stringify(text)} refused`);
      assert.match(parsed.error, /200k-tokens, 200k, 1\.5m or 200000/, parsed.error);
    }
    const zero = parseTokens('0');
    assert.ok(typeof zero === 'object' && /leave --cap out for no cap/.test(zero.error));
  });

  it('reads USD caps with or without a dollar sign, and refuses the rest', () => {
    const cases: [string, number][] = [
      ['50', 50],
      ['$50', 50],
      ['12.5', 12.5],
      ['$ 12.50', 12.5],
      ['50 USD', 50],
      ['1,000', 1000],
      ['0.01', 0.01],
    ];
    for (const [text, usd] of cases) assert.equal(parseUsd(text), usd, text);
    for (const text of ['', 'fifty', '-5', '$-5', '€50', '5e3', '0', '$0.00', '1,00']) {
      const parsed = parseUsd(text);
      assert.ok(typeof parsed === 'object', `${JSON.stringify(text)} refused`);
      assert.match(parsed.error, /50, \$50 or 12\.5/);
    }
  });

  it('reads wall-time caps as the policy’s durations, and says the unit is missing on a bare number', () => {
    assert.equal(parseWall('2h'), 7_200_000);
    assert.equal(parseWall('90m'), 5_400_000);
    assert.equal(parseWall('1h30m'), 5_400_000);
    assert.equal(parseWall(' 45s '), 45_000);
    const bare = parseWall('90');
    assert.ok(typeof bare === 'object');
    assert.match(bare.error, /no unit.*\(minutes: 90m\)/);
    for (const text of ['', 'soon', '1.5h', '-2h', '0s', '0m0s', 'h2']) {
      const parsed = parseWall(text);
      assert.ok(typeof parsed === 'object', `${JSON.stringify(text)} refused`);
      assert.match(parsed.error, /2h, 90m or 1h30m/);
    }
  });

  it('reads every whole number of thousands written with k back to the same count (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000_000 }), (thousands) => {
        assert.equal(parseTokens(`${thousands}k-tokens`), thousands * 1000);
        assert.equal(parseTokens(String(thousands)), thousands);
      }),
    );
  });
});

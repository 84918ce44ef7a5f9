// An agent's report of its own usage is untrusted text: whatever it prints,
// the usage counted is never negative, never below what its tokens cost at the
// class's prices, and never below what it reports honestly.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { readReport } from '../../extension/workers/task/report';

const prices = { usd_per_mtok_in: 3, usd_per_mtok_out: 15 };
const anyValue = fc.oneof(
  fc.integer({ min: -1_000_000, max: 10_000_000 }),
  fc.double({ noNaN: false }),
  fc.constantFrom(Number.MAX_VALUE, 1e300, Number.MAX_SAFE_INTEGER + 2, Infinity, -0),
  fc.string(),
  fc.constant(null),
  fc.boolean(),
  fc.array(fc.integer()),
);
const usageObject = fc.record(
  { tokens_in: anyValue, tokens_out: anyValue, usd: anyValue, input_tokens: anyValue, output_tokens: anyValue },
  { requiredKeys: [] },
);

describe('task worker: the agent’s usage report', () => {
  it('is never negative and never cheaper than the tokens it counts, whatever the lines say', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            usageObject.map((usage) => JSON.stringify({ usage })),
            fc.string(),
          ),
        ),
        fc.option(fc.string()),
        (lines, file) => {
          const { usage } = readReport(lines.join('\n'), file ?? undefined, prices);
          for (const value of [usage.tokens_in, usage.tokens_out, usage.usd])
            assert.ok(Number.isFinite(value) && value >= 0, String(value));
          assert.ok(Number.isInteger(usage.tokens_in) && Number.isInteger(usage.tokens_out));
          const priced = (usage.tokens_in * prices.usd_per_mtok_in + usage.tokens_out * prices.usd_per_mtok_out) / 1_000_000;
          assert.ok(usage.usd >= priced - 1e-9, `${usage.usd} < ${priced}`);
        },
      ),
    );
  });

  it('counts an honest report in full, from the last usage line or the result file, whichever is larger', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 10_000_000 }),
        fc.nat({ max: 10_000_000 }),
        fc.nat({ max: 10_000_000 }),
        fc.double({ min: 0, max: 1000, noNaN: true }),
        (tokensIn, tokensOut, fileIn, usd) => {
          const output = `chatter\n${JSON.stringify({ usage: { tokens_in: tokensIn, tokens_out: tokensOut, usd } })}\nmore chatter`;
          const file = JSON.stringify({ usage: { tokens_in: fileIn, tokens_out: 0 } });
          const { usage } = readReport(output, file, prices);
          assert.equal(usage.tokens_in, Math.max(tokensIn, fileIn));
          assert.equal(usage.tokens_out, tokensOut);
          assert.ok(usage.usd >= usd);
        },
      ),
    );
  });

  it('names each number it refuses, and a verdict both sources disagree on is a reject', () => {
    const report = readReport('{"usage": {"tokens_in": -1, "tokens_out": "9"}}\n{"verdict": "approve"}', '{"verdict": "reject"}', prices);
    assert.deepEqual(report.usage, { tokens_in: 0, tokens_out: 0, usd: 0 });
    assert.equal(report.verdict, 'reject');
    assert.ok(report.warnings.some((w) => w.includes('usage.tokens_in in the output is -1')));
    assert.ok(report.warnings.some((w) => w.includes('usage.tokens_out in the output is "9"')));
    assert.ok(report.warnings.some((w) => w.includes('different verdicts')));
  });
});

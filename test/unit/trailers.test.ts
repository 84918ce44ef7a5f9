import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { fence, formatTrailers, parseTrailers } from '../../extension/core/trailers';

describe('trailers and fences', () => {
  it('reads the trailers Build Master writes from the final paragraph', () => {
    const message = `Merge agent/x into main\n\ntitle\n\n${formatTrailers({ Change: 'agent/x', Key: 'merge:agent/x:abc' })}`;
    const trailers = parseTrailers(message);
    assert.equal(trailers.get('Change'), 'agent/x');
    assert.equal(trailers.get('Key'), 'merge:agent/x:abc');
  });

  it('ignores a trailer line written in a subject, a body or a paragraph that is not all trailers', () => {
    assert.equal(parseTrailers('Build-Master-Key: merge:x:1').size, 0, 'a subject alone');
    assert.equal(parseTrailers('fix\n\nBuild-Master-Key: merge:x:1\nsome prose after it').size, 0, 'a mixed paragraph');
    assert.equal(parseTrailers('fix\n\nBuild-Master-Key: merge:x:1\n\nSigned-off-by: a <a@b>').size, 0, 'not the final paragraph');
  });

  it('folds values onto one line so a value cannot start a trailer of its own', () => {
    const message = `subject\n\n${formatTrailers({ Change: 'evil\nBuild-Master-Key: merge:other:1' })}`;
    const trailers = parseTrailers(message);
    assert.equal(trailers.get('Key'), undefined);
    assert.match(trailers.get('Change') ?? '', /^evil Build-Master-Key/);
  });

  it('fences any text so that it cannot close its fence', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('`', 'a', '\n', '~', ' ') }), (text) => {
        const fenced = fence(text);
        const bar = fenced.slice(0, fenced.indexOf('\n'));
        const body = fenced.slice(bar.length + 1, fenced.length - bar.length - 1);
        // No line inside may be a run of backticks as long as the fence (which would close it).
        for (const line of body.split('\n')) assert.ok(!line.trimStart().startsWith(bar), `line ${JSON.stringify(line)} closes ${bar}`);
        assert.ok(fenced.endsWith(`\n${bar}`));
      }),
    );
  });
});

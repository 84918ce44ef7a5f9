// Every GraphQL query GitHub mode sends is validated against GitHub's published
// schema (@octokit/graphql-schema): a field that does not exist, or an argument
// of the wrong type, fails here before it can fail against github.com.
import { strict as assert } from 'node:assert';
import { parse, validate } from 'graphql';
import * as queries from '../../extension/github/graphql';
import { focusedPullsQuery, OPEN_PULL_STATES_QUERY, OPEN_PULLS_QUERY, TARGET_QUERY } from '../../extension/github/graphql';
import { githubSchema, queryCost } from '../../fixtures/github/graphql';

const QUERIES: Record<string, string> = {
  // Every exported `*_QUERY` constant, so a query added later is validated without anyone listing it here.
  ...Object.fromEntries(
    Object.entries(queries).filter((entry): entry is [string, string] => entry[0].endsWith('_QUERY') && typeof entry[1] === 'string'),
  ),
  openPulls: OPEN_PULLS_QUERY,
  targetHistory: TARGET_QUERY,
  'focusedPulls (one)': focusedPullsQuery([12]),
  'focusedPulls (several)': focusedPullsQuery([3, 12, 250]),
};

function problems(query: string): string[] {
  return validate(githubSchema(), parse(query)).map((e) => e.message);
}

describe('GitHub GraphQL queries', function () {
  // Building GitHub's schema takes a moment, once.
  this.timeout(60_000);

  for (const [name, query] of Object.entries(QUERIES)) {
    it(`${name} is valid against GitHub's schema`, () => {
      assert.deepEqual(problems(query), []);
    });
  }

  it('a misspelt field fails validation', () => {
    const broken = OPEN_PULLS_QUERY.replace('mergeStateStatus', 'mergeStatusState');
    assert.notEqual(broken, OPEN_PULLS_QUERY);
    assert.ok(problems(broken).some((m) => m.includes('mergeStatusState')));
  });

  it('a field on the wrong type fails validation', () => {
    // `conclusion` belongs to check runs: a status context has a `state`.
    const broken = TARGET_QUERY.replace(/(\.\.\. on StatusContext \{\s*context)/, '$1\n        conclusion');
    assert.notEqual(broken, TARGET_QUERY);
    assert.ok(problems(broken).some((m) => m.includes('conclusion')));
  });

  it('the paginated query has the shape the GraphQL pagination plugin pages', () => {
    assert.match(OPEN_PULLS_QUERY, /\$cursor: String\b/);
    assert.match(OPEN_PULLS_QUERY, /after: \$cursor/);
    assert.match(OPEN_PULLS_QUERY, /pageInfo \{\s*hasNextPage\s*endCursor\s*\}/);
  });

  it('a focused query names each pull request once, and nothing that is not a number', () => {
    const query = focusedPullsQuery([7, 7, 0, -1, 1.5, 9]);
    assert.deepEqual(
      [...query.matchAll(/p(\d+): pullRequest\(number: (\d+)\)/g)].map((m) => [m[1], m[2]]),
      [
        ['7', '7'],
        ['9', '9'],
      ],
    );
  });
});

describe("GitHub's GraphQL cost formula", () => {
  it("costs GitHub's documented example 51 points", () => {
    // https://docs.github.com/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api: 1 + 100 + 5,000 requests.
    const example = parse(`query {
      viewer {
        login
        repositories(first: 100) {
          edges { node { id issues(first: 50) { edges { node { id labels(first: 60) { edges { node { id name } } } } } } } }
        }
      }
    }`);
    assert.equal(queryCost(example), 51);
  });

  it('reads limits from variables, counts fragments where they are spread, and costs at least 1', () => {
    const query = parse(`query q($n: Int!) { repository(owner: "a", name: "b") { ...R } }
      fragment R on Repository { pullRequests(first: $n) { nodes { labels(first: 5) { nodes { name } } } } }`);
    assert.equal(queryCost(query, { n: 100 }), 1);
    assert.equal(queryCost(query, { n: 10 }), 1);
    assert.equal(queryCost(parse('{ rateLimit { cost } }')), 1);
  });

  it('costs a page of open pull requests 4 points, and the target history 1', () => {
    assert.equal(queryCost(parse(OPEN_PULLS_QUERY), { owner: 'a', name: 'b', cursor: null }), 4);
    assert.equal(queryCost(parse(TARGET_QUERY), { owner: 'a', name: 'b', ref: 'refs/heads/main' }), 1);
  });

  it('costs a page of merge states 1 point: no nested connection', () => {
    assert.equal(queryCost(parse(OPEN_PULL_STATES_QUERY), { owner: 'a', name: 'b', cursor: null }), 1);
  });
});

// The GitHub budget as the CLI's `status` and the cockpit's status bar and dashboard word it.
import assert from 'node:assert/strict';
import { budgetLine, budgetLow, type GitHubBudget } from '../../extension/protocol/budget';

const at = Date.parse('2026-11-21T10:14:00Z');

function budget(extra: Partial<GitHubBudget> = {}): GitHubBudget {
  return {
    rest: { limit: 5000, remaining: 4812, used: 188, resetAt: at },
    graphql: { limit: 5000, remaining: 4950, used: 50, resetAt: Date.parse('2026-11-21T10:20:00Z') },
    lastMinute: { rest: 0, graphql: 0, restCap: 800, graphqlCap: 1800 },
    updatedAt: at - 3_600_000,
    ...extra,
  };
}

describe('GitHub budget line', () => {
  it('says what is left of each hourly budget and when it resets', () => {
    assert.equal(
      budgetLine(budget(), 'UTC'),
      'GitHub budget: REST 4,812/5,000 left (resets 10:14), GraphQL 4,950/5,000 left (resets 10:20)',
    );
  });

  it('adds the points spent in the last minute against the pacing caps, and only those spent', () => {
    const spent = budget({ lastMinute: { rest: 42, graphql: 0, restCap: 800, graphqlCap: 1800 } });
    assert.equal(
      budgetLine(spent, 'UTC'),
      'GitHub budget: REST 4,812/5,000 left (resets 10:14), GraphQL 4,950/5,000 left (resets 10:20); last minute 42 of 800 REST points',
    );
  });

  it('shows a budget GitHub has not reported (REST only, before any GraphQL query) without inventing it', () => {
    const { graphql: _none, ...restOnly } = budget();
    assert.equal(budgetLine(restOnly, 'UTC'), 'GitHub budget: REST 4,812/5,000 left (resets 10:14)');
    assert.equal(budgetLine(undefined), undefined);
    assert.equal(budgetLine({ lastMinute: { rest: 0, graphql: 0, restCap: 800, graphqlCap: 1800 }, updatedAt: at }), undefined);
  });

  it('is low when either budget has under a tenth left', () => {
    assert.equal(budgetLow(budget()), false);
    assert.equal(budgetLow(budget({ rest: { limit: 5000, remaining: 499, used: 4501, resetAt: at } })), true);
    assert.equal(budgetLow(budget({ graphql: { limit: 5000, remaining: 10, used: 4990, resetAt: at } })), true);
    assert.equal(budgetLow(undefined), false);
  });
});

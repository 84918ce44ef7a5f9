// A run's caps as the CLI takes them (`--cap 200k-tokens --usd 50 --wall 2h`): one parser each, a number
// or an error that names the forms accepted. A cap of nothing would stop the run before its first task,
// so zero is refused too: leave the option out for no cap.
import { parseDuration } from '../policy/duration';

export type Parsed = number | { error: string };

const TOKENS = /^(\d+(?:\.\d+)?)\s*([km])?(?:\s*-?\s*(?:tokens?|tok))?$/;
const TOKEN_FORMS = 'write e.g. 200k-tokens, 200k, 1.5m or 200000';

/** "200k-tokens", "200k", "1.5m", "200000" (also "200_000", "200,000", "2M tokens") → a whole number of tokens. */
export function parseTokens(text: string): Parsed {
  const match = TOKENS.exec(
    text
      .trim()
      .toLowerCase()
      .replace(/(?<=\d)[_,](?=\d{3})/g, ''),
  );
  if (!match) return { error: `"${text}" is not a token count: ${TOKEN_FORMS}` };
  const scale = match[2] === 'k' ? 1_000 : match[2] === 'm' ? 1_000_000 : 1;
  const tokens = Math.round(Number(match[1]) * scale);
  if (tokens <= 0)
    return { error: `a cap of ${text} tokens would stop the run before it starts: ${TOKEN_FORMS}, or leave --cap out for no cap` };
  if (!Number.isSafeInteger(tokens)) return { error: `"${text}" is more tokens than can be counted: ${TOKEN_FORMS}` };
  return tokens;
}

const USD = /^\$?\s*(\d+(?:\.\d+)?)\s*(?:\$|usd)?$/;
const USD_FORMS = 'write e.g. 50, $50 or 12.5';

/** "50", "$50", "12.5", "50 USD" → US dollars. */
export function parseUsd(text: string): Parsed {
  const match = USD.exec(
    text
      .trim()
      .toLowerCase()
      .replace(/(?<=\d),(?=\d{3})/g, ''),
  );
  if (!match) return { error: `"${text}" is not an amount in US dollars: ${USD_FORMS}` };
  const usd = Number(match[1]);
  if (!Number.isFinite(usd) || usd > 1e9) return { error: `"${text}" is not an amount in US dollars: ${USD_FORMS}` };
  if (usd === 0) return { error: `a cap of $0 would stop the run before it starts: ${USD_FORMS}, or leave --usd out for no cap` };
  return usd;
}

const WALL_FORMS = 'write a duration such as 2h, 90m or 1h30m';

/** "2h", "90m", "1h30m" → milliseconds (the policy's durations). */
export function parseWall(text: string): Parsed {
  const trimmed = text.trim().toLowerCase();
  if (/^\d+(?:\.\d+)?$/.test(trimmed)) return { error: `"${text}" has no unit: ${WALL_FORMS} (minutes: ${trimmed}m)` };
  const ms = parseDuration(trimmed);
  if (ms === undefined) return { error: `"${text}" is not a duration: ${WALL_FORMS}` };
  if (ms <= 0)
    return { error: `a wall-time cap of ${text} would stop the run before it starts: ${WALL_FORMS}, or leave --wall out for no cap` };
  if (!Number.isSafeInteger(ms)) return { error: `"${text}" is too long a duration: ${WALL_FORMS}` };
  return ms;
}

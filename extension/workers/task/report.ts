// What an agent says about its own work: usage, a review's verdict,
// artifacts. It comes from untrusted text (JSON lines on its output, a result
// file it writes), so every field is checked, and usage can only make a task
// look dearer, never cheaper: a bad number counts as zero with a warning, and
// the USD counted is the larger of what it reports and what its tokens cost at
// the class's prices.
import type { Usage } from '../../core/runs/model';

export type Verdict = 'approve' | 'reject';

export interface AgentReport {
  usage: Usage;
  verdict?: Verdict;
  artifacts: string[];
  warnings: string[];
}

export interface Prices {
  usd_per_mtok_in: number;
  usd_per_mtok_out: number;
}

const MAX_ARTIFACTS = 100;
/** The most one report may claim in USD (and a task's tokens at most MAX_SAFE_INTEGER each way). */
const MAX_USD = 1_000_000_000;
const MAX_ARTIFACT_CHARS = 1000;

type Fields = Record<string, unknown>;

/** A reported value as it was written, for a warning. */
function describe(value: unknown): string {
  // Parsed JSON holds no functions or undefined, so stringify always yields text here.
  return JSON.stringify(value);
}

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The JSON objects among an output's lines (anything else is the agent's chatter). */
export function jsonLines(output: string): Fields[] {
  const found: Fields[] = [];
  for (const raw of output.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line.startsWith('{') || !line.endsWith('}')) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (isObject(value)) found.push(value);
    } catch {
      // not JSON: chatter
    }
  }
  return found;
}

interface Reported {
  tokens_in: number;
  tokens_out: number;
  usd?: number;
}

/**
 * One usage object, each field a finite non-negative number or else zero
 * (absent USD stays absent: it is priced). Besides Build Master's own names
 * it reads the shapes agent CLIs print themselves: `input_tokens` /
 * `output_tokens` (Claude Code's and Codex's JSON), Anthropic's cache tokens
 * counted as input, and `total_cost_usd` beside the usage (Claude Code's
 * result). Where two names give the same figure, the larger counts.
 */
function readUsage(value: unknown, where: string, warnings: string[], line: Fields = {}): Reported {
  if (!isObject(value)) {
    warnings.push(`warning: the usage in ${where} is not an object (${describe(value)}): counted as zero`);
    return { tokens_in: 0, tokens_out: 0 };
  }
  const number = (from: Fields, key: string, label = `usage.${key}`): number | undefined => {
    const field = from[key];
    if (field === undefined) return undefined;
    if (typeof field === 'number' && Number.isFinite(field) && field >= 0) {
      // Absurdly large figures are kept large but finite: a run's totals must stay numbers.
      const cap = key.includes('usd') ? MAX_USD : Number.MAX_SAFE_INTEGER;
      if (field > cap) warnings.push(`warning: ${label} in ${where} is ${field}, more than ${cap}: counted as ${cap}`);
      return Math.min(field, cap);
    }
    warnings.push(`warning: ${label} in ${where} is ${describe(field)}, not a non-negative number: counted as zero`);
    return undefined;
  };
  const anthropicIn =
    (number(value, 'input_tokens') ?? 0) +
    (number(value, 'cache_creation_input_tokens') ?? 0) +
    (number(value, 'cache_read_input_tokens') ?? 0);
  const costs = [number(value, 'usd'), number(line, 'total_cost_usd', 'total_cost_usd')].filter((usd) => usd !== undefined);
  return {
    tokens_in: Math.ceil(Math.max(number(value, 'tokens_in') ?? 0, anthropicIn)),
    tokens_out: Math.ceil(Math.max(number(value, 'tokens_out') ?? 0, number(value, 'output_tokens') ?? 0)),
    ...(costs.length ? { usd: Math.max(...costs) } : {}),
  };
}

function readVerdict(value: unknown, where: string, warnings: string[]): Verdict | undefined {
  if (value === 'approve' || value === 'reject') return value;
  warnings.push(`warning: the verdict in ${where} is ${describe(value)}, not "approve" or "reject": ignored`);
  return undefined;
}

function readArtifacts(value: unknown, warnings: string[]): string[] {
  if (!Array.isArray(value)) {
    warnings.push('warning: artifacts in BUILDMASTER_RESULT is not a list of strings: ignored');
    return [];
  }
  const kept = value.filter((item): item is string => typeof item === 'string' && item.length > 0 && item.length <= MAX_ARTIFACT_CHARS);
  if (kept.length !== value.length || kept.length > MAX_ARTIFACTS)
    warnings.push(
      `warning: artifacts in BUILDMASTER_RESULT: only strings up to ${MAX_ARTIFACT_CHARS} characters are kept, at most ${MAX_ARTIFACTS}`,
    );
  return kept.slice(0, MAX_ARTIFACTS);
}

/** The result file's fields, or undefined (with a warning) when it is not a JSON object. */
function readResultFile(text: string | undefined, warnings: string[]): Fields | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (isObject(value)) return value;
  } catch {
    // reported below
  }
  warnings.push('warning: BUILDMASTER_RESULT does not hold a JSON object: ignored');
  return undefined;
}

/**
 * Reads an agent's report from its output (the last JSON line with a `usage`
 * object; every line with a `verdict`, a reject among them winning) and its result file (`{usage, verdict?,
 * artifacts?}`). When both give usage, the larger of each field counts; when
 * both give a verdict and they differ, `reject` wins.
 */
export function readReport(output: string, resultFile: string | undefined, prices: Prices): AgentReport {
  const warnings: string[] = [];
  const lines = jsonLines(output);
  const usageLine = lines.filter((line) => 'usage' in line).pop();
  const verdictLines = lines.filter((line) => 'verdict' in line);
  const file = readResultFile(resultFile, warnings);
  const reports: Reported[] = [];
  if (usageLine) reports.push(readUsage(usageLine.usage, 'the output', warnings, usageLine));
  if (file && 'usage' in file) reports.push(readUsage(file.usage, 'BUILDMASTER_RESULT', warnings));
  if (reports.length === 0)
    warnings.push('warning: the agent reported no usage (a JSON line {"usage": {"tokens_in": …, "tokens_out": …}}): counted as zero');
  const tokens_in = Math.max(0, ...reports.map((r) => r.tokens_in));
  const tokens_out = Math.max(0, ...reports.map((r) => r.tokens_out));
  const priced = (tokens_in * prices.usd_per_mtok_in + tokens_out * prices.usd_per_mtok_out) / 1_000_000;
  const claimed = reports.map((r) => r.usd).filter((usd): usd is number => usd !== undefined);
  const reportedUsd = claimed.length ? Math.max(...claimed) : undefined;
  if (reportedUsd !== undefined && reportedUsd < priced)
    warnings.push(
      `warning: the agent reported $${reportedUsd}, less than its tokens cost at the class's prices ($${priced.toFixed(6)}): the larger is counted`,
    );
  const usage: Usage = { tokens_in, tokens_out, usd: Math.max(reportedUsd ?? 0, priced) };

  const verdicts: Verdict[] = [];
  // Every verdict line counts, not only the last: a reviewer that echoes the reviewed code (or a test's
  // output) may print an `approve` written there after its own `reject`, and a reject must not be undone.
  const said = new Set(verdictLines.map((line) => readVerdict(line.verdict, 'the output', warnings)).filter((v) => v !== undefined));
  if (said.size > 1) warnings.push('warning: the output gives both "approve" and "reject" verdicts: reject counts');
  if (said.size > 0) verdicts.push(said.has('reject') ? 'reject' : 'approve');
  if (file && 'verdict' in file) {
    const verdict = readVerdict(file.verdict, 'BUILDMASTER_RESULT', warnings);
    if (verdict) verdicts.push(verdict);
  }
  if (new Set(verdicts).size > 1) warnings.push('warning: the output and BUILDMASTER_RESULT give different verdicts: reject counts');
  const verdict = verdicts.includes('reject') ? 'reject' : verdicts[0];
  const artifacts = file && 'artifacts' in file ? readArtifacts(file.artifacts, warnings) : [];
  return { usage, ...(verdict ? { verdict } : {}), artifacts, warnings };
}

export function addUsage(a: Usage, b: Usage): Usage {
  return { tokens_in: a.tokens_in + b.tokens_in, tokens_out: a.tokens_out + b.tokens_out, usd: a.usd + b.usd };
}

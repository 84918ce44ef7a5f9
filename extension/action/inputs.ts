// The GitHub Actions runner protocol, the small part Build Master needs: inputs
// arrive as INPUT_<NAME> variables (upper-cased, spaces to underscores, hyphens
// kept), outputs and the job summary are files named by GITHUB_OUTPUT and
// GITHUB_STEP_SUMMARY, and annotations are `::error::` lines on stdout. Written
// here (about fifty lines) rather than adding @actions/core and its HTTP client
// and OIDC dependencies to the bundle.
import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { InputError } from '../ports';

export type Env = Readonly<Record<string, string | undefined>>;

/** The variable the runner sets for an input, as @actions/core reads it. */
export function inputVariable(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;
}

/** An input's value, trimmed; empty when unset. */
export function readInput(env: Env, name: string): string {
  return (env[inputVariable(name)] ?? '').trim();
}

const TRUE = ['true', 'True', 'TRUE'];
const FALSE = ['false', 'False', 'FALSE'];

/** A boolean input as the YAML 1.2 core schema spells one (what @actions/core's getBooleanInput accepts); empty is `fallback`. */
export function readBooleanInput(env: Env, name: string, fallback: boolean): boolean {
  const value = readInput(env, name);
  if (value === '') return fallback;
  if (TRUE.includes(value)) return true;
  if (FALSE.includes(value)) return false;
  throw new InputError(`input ${name} must be true or false, not "${value}"`);
}

/** A workflow command's message: `%`, CR and LF escaped so one annotation stays one line. */
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** A workflow command's property value (file=, title=): also `:` and `,` escaped. */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** `::error::`, `::warning::` or `::notice::`, with optional properties (file, line, title). */
export function annotation(
  kind: 'error' | 'warning' | 'notice',
  message: string,
  properties: Record<string, string | number> = {},
): string {
  const props = Object.entries(properties)
    .map(([key, value]) => `${key}=${escapeProperty(String(value))}`)
    .join(',');
  return `::${kind}${props ? ` ${props}` : ''}::${escapeData(message)}`;
}

/** Appends `name` = `value` to the GITHUB_OUTPUT file (the multi-line form, with a delimiter the value does not hold). */
export function writeOutput(file: string, name: string, value: string): void {
  let delimiter = `ghadelimiter_${randomUUID()}`;
  while (value.includes(delimiter)) delimiter = `ghadelimiter_${randomUUID()}`;
  appendFileSync(file, `${name}<<${delimiter}\n${value}\n${delimiter}\n`);
}

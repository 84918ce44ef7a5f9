// `build-master run --progress FILE --plan-only`: which rows of a progress file a
// round of agents would take now, and why every other row waits. Reads the file,
// decides with the core's planner (core/runs/progress), prints; runs nothing.
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { parseProgress, selectRows, type RowDecision } from '../core/runs/progress';
import { InputError } from '../ports';
import { UsageError } from './validate';

export interface PlanRequest {
  cwd: string;
  progress: string | undefined;
  planOnly: boolean;
  agents: string | undefined;
  maxPhase: string | undefined;
}

export interface PlanDocument {
  file: string;
  max_agents: number;
  max_phase: number;
  selected: string[];
  rows: (RowDecision & { phase: number; line: number })[];
}

/** A whole number from an option, or a usage error naming the option. */
function count(value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^[1-9]\d{0,3}$/.test(value)) throw new UsageError(`--${option} takes a whole number from 1 to 9999, not "${value}"`);
  return Number(value);
}

export function planRun(request: PlanRequest): PlanDocument {
  if (!request.progress || !request.planOnly)
    throw new UsageError(
      'run needs a goal: build-master run --ticket FILE|TEXT or --progress FILE (add --plan-only to see the plan without running it), run --resume ID or run show ID',
    );
  const path = resolve(request.cwd, request.progress);
  const shown = relative(request.cwd, path) || path;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'it does not exist'
        : code === 'EISDIR'
          ? 'it is a folder'
          : code === 'EACCES'
            ? 'permission denied'
            : (error as Error).message;
    throw new InputError(`cannot read the progress file ${shown}: ${why}`);
  }
  const parsed = parseProgress(text);
  if (!parsed.ok) {
    const lines = parsed.problems.map((p) => `${shown}:${p.line}: ${p.row ? `row ${p.row}: ` : ''}${p.reason}`);
    throw new InputError(`${lines.join('\n')}\n${parsed.problems.length} problem(s) in ${shown}; nothing runs until they are fixed`);
  }
  const maxAgents = count(request.agents, 'agents', 1);
  const maxPhase = count(request.maxPhase, 'max-phase', 3);
  const selection = selectRows(parsed.rows, { max_agents: maxAgents, max_phase: maxPhase });
  const byId = new Map(parsed.rows.map((row) => [row.id, row]));
  return {
    file: shown,
    max_agents: maxAgents,
    max_phase: maxPhase,
    selected: selection.selected.map((row) => row.id),
    rows: selection.decisions.map((decision) => {
      const row = byId.get(decision.row);
      return { ...decision, phase: row?.phase ?? 0, line: row?.line ?? 0 };
    }),
  };
}

export function renderPlan(doc: PlanDocument): string {
  const width = Math.max(2, ...doc.rows.map((r) => r.row.length));
  const verdictWidth = Math.max(7, ...doc.rows.map((r) => r.verdict.length));
  const head = doc.selected.length
    ? `${doc.selected.length} row(s) would run now (max ${doc.max_agents} agent(s), phases up to ${doc.max_phase}): ${doc.selected.join(', ')}`
    : `no row can run now (max ${doc.max_agents} agent(s), phases up to ${doc.max_phase})`;
  const rows = doc.rows.map(
    (r) => `${r.row.padEnd(width)}  ${String(r.phase).padEnd(5)}  ${r.verdict.padEnd(verdictWidth)}  ${r.rationale}`,
  );
  return [
    head,
    '',
    `${'ID'.padEnd(width)}  PHASE  ${'VERDICT'.padEnd(verdictWidth)}  WHY`,
    ...rows,
    '',
    'plan only: nothing was started',
  ].join('\n');
}

// Cycles in a dependency graph (a progress file's blocked_by, a plan's depends_on): each cycle once, so
// the problem names it (`a → c → b → a`) instead of a plan that could never finish.

/**
 * Each cycle once, by an iterative depth-first walk (a chain of thousands must not blow the stack).
 * `edges`: each node's dependencies; a dependency that is no node is ignored (reported elsewhere).
 */
export function cyclesOf(edges: ReadonlyMap<string, readonly string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[][] = [];
  for (const start of edges.keys()) {
    if (state.has(start)) continue;
    const path: string[] = [start];
    const next: number[] = [0];
    state.set(start, 'open');
    while (path.length > 0) {
      const at = path[path.length - 1] ?? '';
      const deps = (edges.get(at) ?? []).filter((dep) => edges.has(dep));
      const index = next[next.length - 1] ?? 0;
      if (index >= deps.length) {
        state.set(at, 'done');
        path.pop();
        next.pop();
        continue;
      }
      next[next.length - 1] = index + 1;
      const dep = deps[index] ?? '';
      if (state.get(dep) === 'open') cycles.push(path.slice(path.indexOf(dep)));
      else if (!state.has(dep)) {
        state.set(dep, 'open');
        path.push(dep);
        next.push(0);
      }
    }
  }
  return cycles;
}

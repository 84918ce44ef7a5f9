// A task's write scope as the task worker enforces it: picomatch globs over
// exact git paths, dot files included.
import picomatch from 'picomatch';

/**
 * A write-scope glob as the path locks read it (core/runs/scope.ts): `./` and
 * doubled slashes folded, and a trailing `/` meaning everything under it.
 * Matching stays case-sensitive: git paths are exact.
 */
export function scopeGlob(glob: string): string {
  const folded = glob
    .normalize('NFC')
    .replace(/\/{2,}/g, '/')
    .replace(/^(\.\/)+/, '');
  return folded.length > 1 && folded.endsWith('/') ? `${folded}**` : folded;
}

/** Whether a path is inside the write scope (an empty scope allows nothing). */
export function scopeMatcher(writeScope: readonly string[]): (file: string) => boolean {
  const globs = writeScope.map(scopeGlob);
  const match = globs.length ? picomatch(globs, { dot: true }) : () => false;
  return (file) => match(file);
}

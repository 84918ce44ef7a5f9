// Path locks: may two write scopes touch the same file? Decided conservatively, so a "no" is a proof.
//
// How: every file a glob matches starts with the glob's literal prefix (the text before its first
// special character). Two globs with wildcards may overlap unless their prefixes differ somewhere
// within the shorter one. A literal path against a glob asks picomatch itself, and also counts as
// overlapping when it is a directory holding the other's prefix. Compared case-insensitively (a
// case-insensitive disk makes `Src/x` and `src/x` one file), dot files included, `./`, `//` and a
// trailing `/` folded, Unicode compared in NFC; a `..` segment or a leading `/` gives up on proof (empty prefix: overlaps everything).
import picomatch from 'picomatch';

/** Characters after which a glob's text is no longer literal (picomatch's specials, and `\` escapes). */
const SPECIAL = /[*?[\]{}()!+@\\]/;

interface Shape {
  /** Lowercased literal prefix; the whole glob when `literal`. */
  prefix: string;
  literal: boolean;
  glob: string;
}

const shapes = new Map<string, Shape>();

function shapeOf(raw: string): Shape {
  const cached = shapes.get(raw);
  if (cached) return cached;
  const glob = raw
    .normalize('NFC')
    .replace(/\/{2,}/g, '/')
    .replace(/^(\.\/)+/, '')
    .replace(/(.)\/+$/, '$1');
  const segments = glob.split('/');
  const unsafe = raw.startsWith('/') || segments.some((segment) => segment === '..');
  const cut = glob.search(SPECIAL);
  const shape: Shape = unsafe
    ? { prefix: '', literal: false, glob }
    : { prefix: (cut < 0 ? glob : glob.slice(0, cut)).toLowerCase(), literal: cut < 0, glob };
  if (shapes.size > 10_000) shapes.clear();
  shapes.set(raw, shape);
  return shape;
}

function literalMeets(path: Shape, other: Shape): boolean {
  if (other.literal)
    return path.prefix === other.prefix || other.prefix.startsWith(`${path.prefix}/`) || path.prefix.startsWith(`${other.prefix}/`);
  if (other.prefix.startsWith(`${path.prefix}/`)) return true;
  return matcherOf(other.glob)(path.glob);
}

/** Compiled once per glob: a scheduling pass asks the same globs many times. */
const matchers = new Map<string, (path: string) => boolean>();

function matcherOf(glob: string): (path: string) => boolean {
  let matcher = matchers.get(glob);
  if (!matcher) {
    matcher = picomatch(glob, { dot: true, nocase: true });
    if (matchers.size > 10_000) matchers.clear();
    matchers.set(glob, matcher);
  }
  return matcher;
}

/** May some file match both globs? False only when none can. */
export function globsMayOverlap(a: string, b: string): boolean {
  const left = shapeOf(a);
  const right = shapeOf(b);
  if (left.literal) return literalMeets(left, right);
  if (right.literal) return literalMeets(right, left);
  return left.prefix.startsWith(right.prefix) || right.prefix.startsWith(left.prefix);
}

/** May two write scopes (lists of globs) touch the same file? An empty scope writes nothing. */
export function scopesMayOverlap(a: readonly string[], b: readonly string[]): boolean {
  return a.some((left) => b.some((right) => globsMayOverlap(left, right)));
}

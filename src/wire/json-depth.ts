/**
 * Nesting depth of parsed JSON, checked without unbounded recursion. JSON.parse accepts 10,000
 * nested arrays in 40 KB, but every recursive walk after it (zod, the SDK's JSON.stringify, a
 * structured clone) overflows the stack on them: the edge refuses them first.
 */

/**
 * Deepest `maxDepth` the allocation-free pre-check recurses for: its recursion never goes deeper
 * than maxDepth + 1 frames (server.limits.maxDepth is at most 1,000). Beyond it, only the
 * explicit-stack walk runs.
 */
const MAX_RECURSIVE_DEPTH = 2_000;

/**
 * Whether some container is nested deeper than `maxDepth` (`depth` is the level of `v`). Runs
 * on every request body, so it allocates nothing: `for…in` over an object reads V8's enum cache
 * (no key array), and the recursion stops at maxDepth + 1 however deep the input goes. It may
 * see more than `findTooDeep`'s walk (for…in also lists inherited enumerable keys), never less,
 * so a `false` here is exact.
 */
function deeperThan(v: object, depth: number, maxDepth: number): boolean {
  if (depth > maxDepth) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const c: unknown = v[i];
      if (typeof c === 'object' && c !== null && deeperThan(c, depth + 1, maxDepth)) return true;
    }
    return false;
  }
  for (const k in v) {
    const c: unknown = (v as Record<string, unknown>)[k];
    if (typeof c === 'object' && c !== null && deeperThan(c, depth + 1, maxDepth)) return true;
  }
  return false;
}

/** Path (as formatParam segments) to the first value nested deeper than `maxDepth`, or undefined. */
export function findTooDeep(value: unknown, maxDepth: number): Array<string | number> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  // The common case (nothing too deep) is answered without allocating; only a body that is
  // refused pays for the walk below, which also decides which path is reported.
  if (maxDepth <= MAX_RECURSIVE_DEPTH && !deeperThan(value, 1, maxDepth)) return undefined;
  // Each entry: a container, its depth, and the path to it. Depth 1 is the body itself.
  const stack: Array<{ v: object; depth: number; path: Array<string | number> }> = [{ v: value, depth: 1, path: [] }];
  while (stack.length) {
    const { v, depth, path } = stack.pop()!;
    if (depth > maxDepth) return path;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        const c: unknown = v[i];
        if (typeof c === 'object' && c !== null) stack.push({ v: c, depth: depth + 1, path: [...path, i] });
      }
    } else {
      for (const k of Object.keys(v)) {
        const c: unknown = (v as Record<string, unknown>)[k];
        if (typeof c === 'object' && c !== null) stack.push({ v: c, depth: depth + 1, path: [...path, k] });
      }
    }
  }
  return undefined;
}

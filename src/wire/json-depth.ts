/**
 * Nesting depth of parsed JSON, checked without recursion. JSON.parse accepts 10,000 nested
 * arrays in 40 KB, but every recursive walk after it (zod, the SDK's JSON.stringify, a
 * structured clone) overflows the stack on them: the edge refuses them first.
 */

/** Path (as formatParam segments) to the first value nested deeper than `maxDepth`, or undefined. */
export function findTooDeep(value: unknown, maxDepth: number): Array<string | number> | undefined {
  // Each entry: a container, its depth, and the path to it. Depth 1 is the body itself.
  const stack: Array<{ v: object; depth: number; path: Array<string | number> }> = [];
  if (typeof value === 'object' && value !== null) stack.push({ v: value, depth: 1, path: [] });
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

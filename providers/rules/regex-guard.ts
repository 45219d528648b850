/**
 * A cheap guard against catastrophic backtracking in operator-written regexes: V8's engine
 * backtracks, and `(a+)+$` against forty a's and a b takes minutes on the event loop. This
 * rejects patterns of star height above one, as the `safe-regex` package does: a group that
 * holds an unbounded quantifier (`*`, `+`, `{n,}`) may not itself be repeated (`*`, `+`,
 * `{n,}`, `{n,m}` with m > 1). It is a guard, not a proof: overlapping alternatives such as
 * `(a|a)*` pass, which is why the matched text is also capped in length.
 */

/** Longest pattern accepted. */
export const MAX_PATTERN_LENGTH = 1_000;

interface Quantifier {
  /** Characters the quantifier spans, its lazy `?` included. */
  length: number;
  /** Most repetitions (Infinity for `*`, `+`, `{n,}`). */
  max: number;
}

/** The quantifier at `i` of `src`, if one starts there. A `{` that is not `{n}`, `{n,}` or `{n,m}` is a literal. */
function quantifierAt(src: string, i: number): Quantifier | undefined {
  const c = src[i];
  let q: Quantifier | undefined;
  if (c === '*' || c === '+') q = { length: 1, max: Infinity };
  else if (c === '?') q = { length: 1, max: 1 };
  else if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i, i + 24));
    if (m) q = { length: m[0].length, max: m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]) };
  }
  if (q && src[i + q.length] === '?') q.length++;
  return q;
}

/** Index just past the escape starting at `i` (`\d`, `\p{L}`, `\u{1F600}`, `\k<name>`). */
function escapeEnd(src: string, i: number): number {
  const c = src[i + 1];
  const close = (c === 'p' || c === 'P' || c === 'u') && src[i + 2] === '{' ? '}' : c === 'k' && src[i + 2] === '<' ? '>' : undefined;
  if (close) {
    const end = src.indexOf(close, i + 3);
    if (end !== -1) return end + 1;
  }
  return i + 2;
}

/** Index just past the character class starting at `i`. */
function classEnd(src: string, i: number): number {
  let j = i + 1;
  if (src[j] === '^') j++;
  while (j < src.length && src[j] !== ']') j = src[j] === '\\' ? j + 2 : j + 1;
  return j + 1;
}

/** Length of a group's prefix after `(`: `?:`, `?=`, `?!`, `?<=`, `?<!`, `?<name>`. */
function groupPrefix(src: string, i: number): number {
  if (src[i + 1] !== '?') return 0;
  const next = src[i + 2];
  if (next === '<' && src[i + 3] !== '=' && src[i + 3] !== '!') {
    const end = src.indexOf('>', i + 3);
    return end === -1 ? 1 : end - i;
  }
  return next === '<' ? 3 : 2;
}

/**
 * Why `source` is refused, or undefined when it passes: too long, or a repeated group that
 * holds an unbounded quantifier (nested quantifiers, the usual shape of a catastrophic regex).
 */
export function unsafePattern(source: string): string | undefined {
  if (source.length > MAX_PATTERN_LENGTH) return `longer than ${MAX_PATTERN_LENGTH} characters`;
  // One frame per open group: does its body hold an unbounded quantifier?
  const frames: boolean[] = [false];
  // The atom a quantifier would apply to: a group with an unbounded body, or anything else.
  let lastGroupUnbounded = false;
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '\\') {
      i = escapeEnd(source, i);
      lastGroupUnbounded = false;
    } else if (c === '[') {
      i = classEnd(source, i);
      lastGroupUnbounded = false;
    } else if (c === '(') {
      frames.push(false);
      i += 1 + groupPrefix(source, i);
      lastGroupUnbounded = false;
    } else if (c === ')') {
      const inner = frames.length > 1 ? frames.pop()! : false;
      if (inner) frames[frames.length - 1] = true;
      lastGroupUnbounded = inner;
      i++;
    } else {
      const q = quantifierAt(source, i);
      if (!q) {
        lastGroupUnbounded = false;
        i++;
        continue;
      }
      if (lastGroupUnbounded && q.max > 1) {
        return `nested quantifiers at character ${i + 1} (a repeated group that holds *, + or {n,}) can take exponential time; rewrite without the outer repetition`;
      }
      if (q.max === Infinity) frames[frames.length - 1] = true;
      lastGroupUnbounded = false;
      i += q.length;
    }
  }
  return undefined;
}

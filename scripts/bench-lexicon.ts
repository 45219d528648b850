/**
 * Lexicon speed (run by hand, not a test): npx tsx scripts/bench-lexicon.ts [--mb 32] [--seed 1]
 * Scan throughput of 10,000 mixed Latin/CJK terms over ASCII-heavy and CJK-heavy text (in
 * 64 KiB scans, the same with a zero-width space first so that each needs an offset map, one
 * whole-text scan, and streamed in 20-character chunks), and the time to
 * load a 100,000-term lexicon from files through loadLexicon. MB are UTF-8 megabytes (10^6).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { mulberry32 } from './bench/cli-options.js';
import { buildLexicon, loadLexicon, type Lexicon, type LexiconListSpec } from '../src/safety/lexicon/lexicon.js';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '32' }, seed: { type: 'string', default: '1' } } });
const targetMb = Number(values.mb);

const rnd = mulberry32(Number(values.seed));
const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
const latinWord = (lo: number, hi: number) => Array.from({ length: int(lo, hi) }, () => String.fromCharCode(97 + int(0, 25))).join('');
// Terms from the 2,500 most common-range ideographs; text from the whole URO block.
const cjkWord = (lo: number, hi: number, span = 2500) => Array.from({ length: int(lo, hi) }, () => String.fromCharCode(0x4e00 + int(0, span - 1))).join('');

function makeTerms(count: number): { latin: string[]; cjk: string[] } {
  const latin = new Set<string>();
  const cjk = new Set<string>();
  while (latin.size + cjk.size < count) {
    if (rnd() < 0.7) latin.add(latinWord(4, 10));
    else cjk.add(cjkWord(2, 4));
  }
  return { latin: [...latin], cjk: [...cjk] };
}

const spec = (id: string, category: string, wordBoundary: boolean, separators: boolean, file = ''): LexiconListSpec => ({ id, category, file, wordBoundary, separators });

/** ASCII-heavy text: lower/upper/capitalised words, punctuation, a term every ~200 words (some spelled b.a.d). */
function asciiText(chars: number, terms: readonly string[]): string {
  const parts: string[] = [];
  let n = 0;
  while (n < chars) {
    let w: string;
    const r = rnd();
    if (r < 0.005) {
      w = pick(terms);
      if (rnd() < 0.3) w = [...w].join('.');
      else if (rnd() < 0.3) w = w.toUpperCase();
    } else {
      w = latinWord(1, 9);
      if (r < 0.1) w = w[0]!.toUpperCase() + w.slice(1);
    }
    const sep = rnd() < 0.08 ? pick(['. ', ', ', '\n', '; ', '? ']) : ' ';
    parts.push(w, sep);
    n += w.length + sep.length;
  }
  return parts.join('');
}

/** CJK-heavy text: ideographs with full-width punctuation, a few Latin words, a term every ~300 chars. */
function cjkText(chars: number, terms: readonly string[]): string {
  const parts: string[] = [];
  let n = 0;
  while (n < chars) {
    const r = rnd();
    let w: string;
    if (r < 0.01) w = pick(terms);
    else if (r < 0.03) w = ` ${latinWord(2, 8)} `;
    else w = cjkWord(1, 6, 20_000);
    const p = rnd() < 0.15 ? pick(['，', '。', '、', '！', '\n']) : '';
    parts.push(w, p);
    n += w.length + p.length;
  }
  return parts.join('');
}

const mb = (s: string) => Buffer.byteLength(s, 'utf8') / 1e6;

function timeScan(lexicon: Lexicon, text: string, piece: number, prefix = ''): { seconds: number; hits: number } {
  let hits = 0;
  const t0 = performance.now();
  for (let i = 0; i < text.length; i += piece) hits += lexicon.scan(prefix + text.slice(i, i + piece)).hits.length;
  return { seconds: (performance.now() - t0) / 1000, hits };
}

/** The output filter's streaming loop: context code point + held tail + chunk, rescanned. */
function timeStream(lexicon: Lexicon, text: string, chunk: number): { seconds: number; hits: number } {
  let held = '';
  let before = '';
  let hits = 0;
  const t0 = performance.now();
  for (let i = 0; i <= text.length; i += chunk) {
    const final = i + chunk > text.length;
    const buf = before + held + text.slice(i, i + chunk);
    const r = lexicon.scan(buf, { final });
    const cut = final ? buf.length : Math.max(before.length, r.tailStart);
    for (const h of r.hits) if (h.start >= before.length && h.end <= cut) hits++;
    if (cut > before.length) {
      const c = buf.charCodeAt(cut - 1);
      before = c >= 0xdc00 && c <= 0xdfff && cut >= 2 ? buf.slice(cut - 2, cut) : buf.slice(cut - 1, cut);
    }
    held = buf.slice(cut);
  }
  return { seconds: (performance.now() - t0) / 1000, hits };
}

const rows: string[][] = [];
const row = (...cells: string[]) => rows.push(cells);

// --- scan throughput, 10,000 terms
const t10k = makeTerms(10_000);
const lex10k = buildLexicon([
  { spec: spec('latin', 'test', true, false), terms: t10k.latin.slice(0, Math.floor(t10k.latin.length / 2)) },
  { spec: spec('latin-sep', 'test', true, true), terms: t10k.latin.slice(Math.floor(t10k.latin.length / 2)) },
  { spec: spec('cjk', 'test', false, false), terms: t10k.cjk },
]);
const ascii = asciiText(targetMb * 1e6, t10k.latin);
const cjk = cjkText((targetMb * 1e6) / 3, t10k.cjk);
lex10k.scan(ascii.slice(0, 1 << 20));
lex10k.scan(cjk.slice(0, 1 << 20));

for (const [name, text] of [['ASCII-heavy', ascii], ['CJK-heavy', cjk]] as const) {
  const size = mb(text);
  const pieces = timeScan(lex10k, text, 64 * 1024);
  row(`${name}, 64 KiB scans`, `${size.toFixed(1)} MB`, `${(size / pieces.seconds).toFixed(0)} MB/s`, `${(text.length / 1e6 / pieces.seconds).toFixed(0)} Mchar/s`, `${pieces.hits} hits`);
  // A zero-width space at the start of each piece: the whole piece needs an offset map.
  const mapped = timeScan(lex10k, text, 64 * 1024, '\u200B');
  row(`${name}, 64 KiB scans with an offset map`, `${size.toFixed(1)} MB`, `${(size / mapped.seconds).toFixed(0)} MB/s`, `${(text.length / 1e6 / mapped.seconds).toFixed(0)} Mchar/s`, `${mapped.hits} hits`);
  const whole = timeScan(lex10k, text, text.length);
  row(`${name}, one scan`, `${size.toFixed(1)} MB`, `${(size / whole.seconds).toFixed(0)} MB/s`, `${(text.length / 1e6 / whole.seconds).toFixed(0)} Mchar/s`, `${whole.hits} hits`);
  const part = text.slice(0, 2_000_000);
  const streamed = timeStream(lex10k, part, 20);
  const oneShot = lex10k.scan(part).hits.length;
  row(`${name}, streamed 20-char chunks`, `${mb(part).toFixed(1)} MB`, `${(mb(part) / streamed.seconds).toFixed(0)} MB/s`, `${(part.length / 1e6 / streamed.seconds).toFixed(1)} Mchar/s`, `${streamed.hits} hits${streamed.hits === oneShot ? ' (= one scan)' : ` (one scan: ${oneShot}!)`}`);
}

// --- load time, 100,000 terms
const t100k = makeTerms(100_000);
const dir = mkdtempSync(path.join(tmpdir(), 'bench-lexicon-'));
try {
  const specs = [spec('latin', 'test', true, true, path.join(dir, 'latin.txt')), spec('cjk', 'test', false, false, path.join(dir, 'cjk.txt'))];
  writeFileSync(specs[0]!.file, `# latin terms\n${t100k.latin.join('\n')}\n`);
  writeFileSync(specs[1]!.file, `# cjk terms\n${t100k.cjk.join('\n')}\n`);
  const times: number[] = [];
  let count = 0;
  let longestBlock = 0;
  for (let run = 0; run < 3; run++) {
    // The longest the event loop goes without a turn while loading.
    let last = performance.now();
    const probe = setInterval(() => {
      const now = performance.now();
      longestBlock = Math.max(longestBlock, now - last);
      last = now;
    }, 1);
    const t0 = performance.now();
    const lex = await loadLexicon(specs);
    times.push(performance.now() - t0);
    clearInterval(probe);
    count = lex.termCount;
  }
  row('load 100,000 terms (read+parse+build)', `${count} terms`, times.map((t) => `${t.toFixed(0)} ms`).join(' / '), `event loop blocked ≤ ${longestBlock.toFixed(0)} ms`, '');
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
console.log(`node ${process.version}, 10,000 terms (${t10k.latin.length} Latin, ${t10k.cjk.length} CJK)`);
for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildLexicon, LexiconError, loadLexicon, parseLexiconFile } from '../../../../src/safety/lexicon/lexicon.js';
import { MAX_TERM_LENGTH } from '../../../../src/safety/lexicon/lexicon-file.js';
import { list, show, spec } from './lexicon-helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lexicon-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, body: string | Buffer) => {
  const p = path.join(dir, name);
  writeFileSync(p, body);
  return p;
};

/** The LexiconError `fn` throws (fails the test when it throws none or another error). */
function thrown(fn: () => unknown): LexiconError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LexiconError);
    return err as LexiconError;
  }
  throw new Error('expected a LexiconError');
}
async function rejected(p: Promise<unknown>): Promise<LexiconError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LexiconError);
  return err as LexiconError;
}

describe('parseLexiconFile', () => {
  it('reads one term a line, skipping comments and blank lines, trimming', () => {
    const text = '# a comment\n\nbad\n  worse  \n\t\n   # indented comment\n敏感词\n';
    expect(parseLexiconFile(text, 'l.txt')).toEqual(['bad', 'worse', '敏感词']);
  });

  it('accepts CRLF, CR and a BOM', () => {
    expect(parseLexiconFile('\uFEFFbad\r\nworse\r\n\r\n', 'l.txt')).toEqual(['bad', 'worse']);
    expect(parseLexiconFile('bad\rworse', 'l.txt')).toEqual(['bad', 'worse']);
  });

  it('cuts an inline comment after whitespace, keeps # inside terms, and \\# escapes a leading #', () => {
    const text = 'bad  # slang\nc#\nfoo #bar\nx\t#\n\\#tag\n#tag';
    expect(parseLexiconFile(text, 'l.txt')).toEqual(['bad', 'c#', 'foo #bar', 'x', '#tag']);
  });

  it('rejects an overlong term, naming the file and line', () => {
    const err = thrown(() => parseLexiconFile(`ok\n# fine\n${'a'.repeat(MAX_TERM_LENGTH + 1)}\n`, '/lists/long.txt'));
    expect(err.message).toMatch(/^\/lists\/long\.txt:3: the term is 257 characters long, more than 256/);
    expect(err).toMatchObject({ code: 'lexicon_bad_term', file: '/lists/long.txt', line: 3 });
    // Also when only normalisation makes it long (U+FDFA is 18 letters under NFKC).
    expect(thrown(() => parseLexiconFile('\uFDFA'.repeat(15), 'l.txt')).message).toMatch(/l\.txt:1: .*after normalisation/);
    expect(parseLexiconFile('a'.repeat(MAX_TERM_LENGTH), 'l.txt')).toHaveLength(1);
  });

  it('rejects control characters, broken UTF-8 and invisible-only terms', () => {
    expect(thrown(() => parseLexiconFile('ok\nb\u0000ad', 'l.txt')).message).toBe('l.txt:2: the term has control character U+0000');
    expect(thrown(() => parseLexiconFile('b\uFFFDd', 'l.txt')).message).toMatch(/l\.txt:1: .*U\+FFFD/);
    expect(thrown(() => parseLexiconFile('\u200B\u200D', 'l.txt')).message).toMatch(/l\.txt:1: .*empty after normalisation/);
  });
});

describe('loadLexicon', () => {
  it('reads, parses and builds the lists', async () => {
    const lx = await loadLexicon([
      spec('en', { file: file('en.txt', '# English\nbad\nBAD\nworse\n'), category: 'adult' }),
      spec('zh', { file: file('zh.txt', '\uFEFF敏感词\r\n'), wordBoundary: false }),
    ]);
    expect(lx.termCount).toBe(3);
    expect(lx.lists.map((l) => l.id)).toEqual(['en', 'zh']);
    expect(lx.scan('so bad, 这是敏感词').hits).toEqual([
      { start: 3, end: 6, listId: 'en', category: 'adult' },
      { start: 10, end: 13, listId: 'zh', category: 'zh' },
    ]);
  });

  it('names an unreadable file', async () => {
    const missing = path.join(dir, 'missing.txt');
    const err = await rejected(loadLexicon([spec('ok', { file: file('ok.txt', 'bad') }), spec('gone', { file: missing })]));
    expect(err.message).toContain(`${missing}: cannot read the lexicon file`);
    expect(err).toMatchObject({ code: 'lexicon_file_unreadable', file: missing });
  });

  it('names a file that is not UTF-8, with the line', async () => {
    const bad = file('latin1.txt', Buffer.concat([Buffer.from('ok\nfine\nstra'), Buffer.from([0xdf]), Buffer.from('e\n')]));
    const err = await rejected(loadLexicon([spec('l', { file: bad })]));
    expect(err.message).toBe(`${bad}:3: the lexicon file is not valid UTF-8`);
    expect(err.line).toBe(3);
  });

  it('names the file and line of a bad term', async () => {
    const f = file('bad-term.txt', 'ok\n\u0007\n');
    expect((await rejected(loadLexicon([spec('l', { file: f })]))).message).toBe(`${f}:2: the term has control character U+0007`);
  });

  it('refuses more than maxTerms terms, naming the list that crosses the cap', async () => {
    const a = file('a.txt', 'one\ntwo\n');
    const b = file('b.txt', 'three\nfour\n');
    const err = await rejected(loadLexicon([spec('a', { file: a }), spec('b', { file: b })], { maxTerms: 3 }));
    expect(err).toMatchObject({ code: 'lexicon_too_many_terms', file: b });
    expect(err.message).toContain('more than maxTerms (3)');
    await expect(loadLexicon([spec('a', { file: a }), spec('b', { file: b })], { maxTerms: 4 })).resolves.toMatchObject({ termCount: 4 });
  });
});

describe('buildLexicon', () => {
  it('checks terms and maxTerms too, naming the list file', () => {
    expect(thrown(() => buildLexicon([list('l', ['ok', '\u200B'])])).message).toBe('/lists/l.txt: term 2 of list "l" is empty after normalisation (only invisible characters)');
    expect(thrown(() => buildLexicon([list('l', ['x'.repeat(300)])])).code).toBe('lexicon_bad_term');
    expect(thrown(() => buildLexicon([list('l', ['a', 'b'])], { maxTerms: 1 })).code).toBe('lexicon_too_many_terms');
  });

  it('builds 100,000 terms and finds them', () => {
    let x = 12345;
    const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const word = (base: number, span: number, len: number) => Array.from({ length: len }, () => String.fromCharCode(base + Math.floor(rnd() * span))).join('');
    const latin = Array.from({ length: 70_000 }, () => word(97, 26, 5 + Math.floor(rnd() * 8)));
    const cjk = Array.from({ length: 30_000 }, () => word(0x4e00, 3000, 2 + Math.floor(rnd() * 3)));
    const started = performance.now();
    const lx = buildLexicon([list('latin', latin), list('cjk', cjk, { wordBoundary: false })]);
    const ms = performance.now() - started;
    expect(lx.termCount).toBeGreaterThan(99_000); // a few random duplicates merge
    expect(ms).toBeLessThan(5_000); // the bench asks < 1 s; this only guards against a blow-up on a loaded machine
    const text = `${latin[0]} and ${latin[69_999]!.toUpperCase()}: ${cjk[123]}`;
    expect(show(lx.scan(text).hits).filter((h) => h.startsWith('latin'))).toEqual([`latin:0-${latin[0]!.length}`, `latin:${latin[0]!.length + 5}-${latin[0]!.length + 5 + latin[69_999]!.length}`]);
    expect(lx.scan(text).hits.some((h) => h.listId === 'cjk' && text.slice(h.start, h.end) === cjk[123])).toBe(true);
  });
});

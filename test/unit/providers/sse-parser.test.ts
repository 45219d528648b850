import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SseParser, type SseEvent } from '../../../providers/shared/sse-parser.js';
import { ResponseTooLargeError } from '../../../providers/shared/node-fetch.js';

function parse(chunks: Buffer[], max = 1024 ** 2): SseEvent[] {
  const out: SseEvent[] = [];
  const p = new SseParser(max, (ev) => out.push(ev));
  for (const c of chunks) p.push(c);
  p.end();
  return out;
}

/** Splits `buf` at the given cut points. */
function cut(buf: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (buf.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let prev = 0;
  for (const p of at) {
    parts.push(buf.subarray(prev, p));
    prev = p;
  }
  parts.push(buf.subarray(prev));
  return parts;
}

describe('SseParser', () => {
  it('reads data events, joins multi-line data, keeps the event name, skips comments and other fields', () => {
    const text = ': keep-alive\n\ndata: {"a":1}\n\nevent: error\ndata: line one\ndata:line two\nid: 7\nretry: 10\n\ndata\n\n';
    expect(parse([Buffer.from(text)])).toEqual([
      { event: null, data: '{"a":1}' },
      { event: 'error', data: 'line one\nline two' },
      { event: null, data: '' },
    ]);
  });

  it('accepts LF, CRLF and CR line ends, also split between chunks', () => {
    const events = ['data: one', 'data: two'];
    for (const nl of ['\n', '\r\n', '\r']) {
      const buf = Buffer.from(events.map((e) => `${e}${nl}${nl}`).join(''));
      for (let i = 0; i <= buf.length; i++) {
        expect(parse([buf.subarray(0, i), buf.subarray(i)])).toEqual([
          { event: null, data: 'one' },
          { event: null, data: 'two' },
        ]);
      }
    }
  });

  it('drops an event not closed by a blank line at the end of the stream', () => {
    expect(parse([Buffer.from('data: whole\n\ndata: cut')])).toEqual([{ event: null, data: 'whole' }]);
  });

  it('keeps multi-byte characters split across chunks intact', () => {
    const buf = Buffer.from('data: {"t":"héllo 世界 🎉"}\n\n');
    for (let i = 0; i <= buf.length; i++) expect(parse([buf.subarray(0, i), buf.subarray(i)])).toEqual([{ event: null, data: '{"t":"héllo 世界 🎉"}' }]);
  });

  it('refuses a line longer than the cap before buffering past it, in one chunk or many', () => {
    expect(() => parse([Buffer.from(`data: ${'x'.repeat(200)}\n\n`)], 100)).toThrow(ResponseTooLargeError);
    const p = new SseParser(100, () => {});
    p.push(Buffer.from('data: '));
    p.push(Buffer.from('x'.repeat(90)));
    expect(() => p.push(Buffer.from('x'.repeat(20)))).toThrow(ResponseTooLargeError);
  });

  it('refuses an event whose data lines together cross the cap', () => {
    const lines = Array.from({ length: 20 }, () => `data: ${'y'.repeat(40)}\n`).join('');
    expect(() => parse([Buffer.from(`${lines}\n`)], 200)).toThrow(ResponseTooLargeError);
  });

  it('property: any chunking of a stream gives the same events as reading it whole', () => {
    const field = fc.stringMatching(/^[a-z{}":, 0-9é世]{0,20}$/);
    const event = fc.record({ name: fc.option(fc.stringMatching(/^[a-z]{1,8}$/), { nil: undefined }), lines: fc.array(field, { minLength: 1, maxLength: 3 }), nl: fc.constantFrom('\n', '\r\n', '\r') });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (evs, points) => {
        const text = evs.map((e) => `${e.name ? `event: ${e.name}${e.nl}` : ''}${e.lines.map((l) => `data: ${l}${e.nl}`).join('')}${e.nl}`).join('');
        const buf = Buffer.from(text);
        const whole = parse([buf]);
        expect(whole).toEqual(evs.map((e) => ({ event: e.name ?? null, data: e.lines.join('\n') })));
        expect(parse(cut(buf, points))).toEqual(whole);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 500) },
    );
  });
});

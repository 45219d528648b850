/**
 * Throughput of PII and secret detection and of reversible redaction (run by hand, not a test):
 *   npx tsx scripts/bench-pii.ts [--mb 2] [--rounds 5]
 * Builds mixed text (English and Chinese prose, code, logs) with a value to find every ~400
 * chars, and the project's README with values between its lines, then measures detection with
 * all detectors on, each detector alone, and the round trip detect → redact → restore (whole
 * and streamed in 16-char chunks).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { detectPii } from '../src/safety/pii/detect.js';
import { DETECTORS } from '../src/safety/pii/detectors.js';
import { PII_KINDS } from '../src/safety/pii/kinds.js';
import { PlaceholderVault } from '../src/safety/pii/vault.js';

const { values } = parseArgs({ options: { mb: { type: 'string', default: '2' }, rounds: { type: 'string', default: '5' } } });
const targetChars = Math.round(Number(values.mb) * 1024 * 1024);
const rounds = Number(values.rounds);

const PROSE = [
  'The quarterly report shows revenue growth across all regions, with the strongest gains in the enterprise segment. ',
  'Please review the attached proposal and let me know whether the timeline works for your team before Friday. ',
  '我们已经收到您的申请，工作人员会在三个工作日内与您联系，请保持电话畅通。 ',
  'function getUserProfileById(id: string) { return db.users.findOne({ where: { id }, include: [Profile] }); }\n',
  '2024-05-06T12:30:45.123Z INFO request_id=550e8400-e29b-41d4-a716-446655440000 path=/api/v1/users status=200 12ms\n',
  'See /usr/local/lib/node_modules/typescript/lib/tsc.js and docs at https://example.com/docs/getting-started#install. ',
];
const VALUES = [
  'alice.smith@example.com', '+44 20 7946 0958', '138-0013-8000', '4111 1111 1111 1111', 'DE89 3704 0044 0532 0130 00',
  '11010519491231002X', '192.168.10.24', '2001:db8::8a2e:370:7334', ['sk', 'proj', '3OkF5QNCrC82SF70AVWC7UcZX7WM7cbRkbuEi3McBqVxPKhI'].join('-'),
  ['AKIA', 'A7SG74WTLS4WRK3Z'].join(''), `ghp_${'p5v4oXdmcwA8FYoDvtG4ezCbM6fS9tT0KDVw'}`, '9hIZqKKvo3ubbO/ytkKbLWRpxVswrZKy9fKxmbgM',
  `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"sub":"42"}').toString('base64url')}.s_pzIAKkFDF96bWlo6hiAERA2uqy3hTYvu7jc1D6SWE`,
];

function mixedText(chars: number, withValues: boolean): string {
  let out = '';
  for (let i = 0; out.length < chars; i++) {
    out += PROSE[i % PROSE.length];
    if (withValues && i % 3 === 2) out += `contact: ${VALUES[(i / 3) % VALUES.length | 0]}. `;
  }
  return out;
}

function time(fn: () => void): number {
  fn(); // warm up
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) fn();
  return (performance.now() - t0) / rounds;
}

const mbps = (chars: number, ms: number) => ((chars / 1024 / 1024) / (ms / 1000)).toFixed(1);
const all = new Set(PII_KINDS);
const rows: string[][] = [];
const row = (...cells: string[]) => rows.push(cells);

/** The project's README (prose, YAML, code, shell), repeated, with a value after every 10th line. */
function readmeText(chars: number): string {
  const lines = readFileSync(new URL('../README.md', import.meta.url), 'utf8').split('\n');
  let out = '';
  for (let i = 0; out.length < chars; i++) {
    out += `${lines[i % lines.length]}\n`;
    if (i % 10 === 9) out += `contact: ${VALUES[(i / 10) % VALUES.length | 0]}\n`;
  }
  return out;
}

const corpora = [
  ['mixed, a value every ~400 chars', mixedText(targetChars, true)],
  ['same prose, no values', mixedText(targetChars, false)],
  ['README.md, a value every 10 lines', readmeText(targetChars)],
] as const;
for (const [name, text] of corpora) {
  const n = detectPii(text, all).length;
  const ms = time(() => detectPii(text, all));
  row(`detectPii, all kinds: ${name}`, `${(text.length / 1024 / 1024).toFixed(2)} M chars`, `${ms.toFixed(1)} ms`, `${mbps(text.length, ms)} M chars/s`, `${n} findings`);
}

const readme = corpora[2][1];
for (const kind of PII_KINDS) {
  const ms = time(() => DETECTORS[kind](readme, {}));
  row(`  ${kind} alone (README corpus)`, '', `${ms.toFixed(1)} ms`, `${mbps(readme.length, ms)} M chars/s`, '');
}

const text = corpora[0][1];
const findings = detectPii(text, all);
let redacted = '';
const redactMs = time(() => {
  redacted = new PlaceholderVault({ maxValues: 1e6 }).redact(text, findings);
});
const vault = new PlaceholderVault({ maxValues: 1e6 });
redacted = vault.redact(text, findings);
const restoreMs = time(() => vault.restore(redacted));
const streamMs = time(() => {
  const r = vault.streamRestorer();
  let out = '';
  for (let i = 0; i < redacted.length; i += 16) out += r.push(redacted.slice(i, i + 16));
  out += r.end();
  if (out !== text) throw new Error('streamed restore differs');
});
if (vault.restore(redacted) !== text) throw new Error('restore differs');
row('redact (findings given)', '', `${redactMs.toFixed(1)} ms`, `${mbps(text.length, redactMs)} M chars/s`, `${vault.size} values`);
row('restore, whole text', '', `${restoreMs.toFixed(1)} ms`, `${mbps(redacted.length, restoreMs)} M chars/s`, '');
row('restore, streamed in 16-char chunks', '', `${streamMs.toFixed(1)} ms`, `${mbps(redacted.length, streamMs)} M chars/s`, '');

const prompt = mixedText(4096, true);
const tripMs = time(() => {
  for (let i = 0; i < 1000; i++) {
    const v = new PlaceholderVault();
    v.restore(v.redact(prompt, detectPii(prompt, all)));
  }
}) / 1000;
row('round trip of a 4 KB prompt (detect+redact+restore)', '', `${(tripMs * 1000).toFixed(0)} µs`, '', '');

const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));

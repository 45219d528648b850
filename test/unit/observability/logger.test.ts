import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function run(lines: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/log-lines.ts'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LINES: String(lines) } });
    const parts: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => parts.push(d));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(Buffer.concat(parts).toString('utf8')) : reject(new Error(`exit ${code}`))));
  });
}

// The logger buffers lines (as Buffers) and writes them in chunks: every line must come out
// whole, once, in order, multi-byte text intact, including what was still buffered at exit.
describe('the buffered log destination', () => {
  it('writes every line whole and in order, and flushes what is buffered on exit', async () => {
    const out = await run(20_000);
    const lines = out.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(20_000);
    lines.forEach((l, n) => {
      const rec = JSON.parse(l) as { i: number; text: string; msg: string };
      expect(rec.i).toBe(n);
      expect(rec.text).toBe('héllo wörld ✓ 日本語 🙂');
      expect(rec.msg).toBe('line');
    });
  }, 30_000);

  it('flushes a few lines (less than one chunk) on exit', async () => {
    const out = await run(3);
    expect(out.trimEnd().split('\n').map((l) => (JSON.parse(l) as { i: number }).i)).toEqual([0, 1, 2]);
  }, 30_000);
});

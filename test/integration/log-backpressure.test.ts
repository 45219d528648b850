import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// The logger writes standard output asynchronously: a reader that stops must neither stall the
// event loop (as synchronous writes did) nor grow the buffer without bound.
describe('log output that nobody reads', () => {
  it('keeps the buffer bounded, drops lines past it and says so on standard error', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/log-flood.ts'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FLOOD_MS: '6000' } });
    child.stdout.pause(); // never read: the pipe fills, then the logger's buffer
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no report in time; stderr: ${stderr}`)), 40_000);
        const check = () => {
          if (stderr.includes('FLOOD-DONE') && stderr.includes('line(s) dropped')) {
            clearTimeout(t);
            resolve();
          }
        };
        child.stderr.on('data', check);
        child.once('exit', () => reject(new Error(`exited early; stderr: ${stderr}`)));
      });
      const lines = Number(/lines=(\d+)/.exec(stderr)![1]);
      const rss = Number(/rssMiB=(\d+)/.exec(stderr)![1]);
      // Far more log text than the 16 MiB the buffer may hold (~1 KB a line).
      expect(lines).toBeGreaterThan(50_000);
      expect(rss).toBeLessThan(400);
      expect(stderr).toMatch(/standard output is not keeping up with the log; \d+ line\(s\) dropped/);
    } finally {
      child.kill('SIGKILL');
    }
  }, 45_000);
});

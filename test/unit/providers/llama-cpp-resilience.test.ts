/**
 * The llama-cpp provider when things break: corrupt or truncated model files, a SHA-256
 * mismatch, a worker killed mid-request, a hung worker, close(). Real node-llama-cpp, real
 * worker processes, the generated tiny model.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// Each test boots real worker processes; on 2 shared cores under a full suite that alone can
// take many seconds, so these get more time than the suite's default.
vi.setConfig({ testTimeout: 120_000 });
import { collect, createLlamaEnv, failure, llamaRequest, longRequest, noSignal, tinyTarget, type LlamaEnv } from '../../fixtures/llama-env.js';

let env: LlamaEnv;

beforeAll(async () => {
  env = await createLlamaEnv();
});

afterAll(async () => {
  await env.cleanup();
});

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitFor(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('llama-cpp provider: bad model files', () => {
  it('a corrupt or truncated file fails with kind server naming the problem; other models still serve', async () => {
    const good = await readFile(env.tinyPath);
    await writeFile(join(env.dir, 'random.gguf'), randomBytes(4096));
    await writeFile(join(env.dir, 'truncated.gguf'), good.subarray(0, Math.floor(good.length * 0.6)));
    await env.writeRegistry({
      tiny: { file: 'tiny.gguf' },
      random: { file: 'random.gguf' },
      truncated: { file: 'truncated.gguf' },
      missing: { file: 'missing.gguf' },
    });
    const provider = env.provider();

    const random = await failure(provider.chat(llamaRequest(), { provider: 'local', model: 'random' }, { signal: noSignal() }));
    expect(random.kind).toBe('server');
    expect(random.retryable).toBe(true);
    expect(random.message).toContain('random.gguf');
    expect(random.message).toMatch(/GGUF/);

    const truncated = await failure(provider.stream(llamaRequest(), { provider: 'local', model: 'truncated' }, { signal: noSignal() }));
    expect(truncated.kind).toBe('server');
    expect(truncated.message).toMatch(/truncated\.gguf.*truncated/);

    const missing = await failure(provider.chat(llamaRequest(), { provider: 'local', model: 'missing' }, { signal: noSignal() }));
    expect(missing.message).toMatch(/missing\.gguf.*not found/);

    expect(await provider.health('random')).toMatchObject({ ok: false });
    const res = await provider.chat(llamaRequest(), tinyTarget, { signal: noSignal() });
    expect(res.choices[0]!.finishReason).toBe('stop');

    // A later call re-checks the file: once repaired, the model serves.
    await copyFile(env.tinyPath, join(env.dir, 'truncated.gguf'));
    const repaired = await provider.chat(llamaRequest(), { provider: 'local', model: 'truncated' }, { signal: noSignal() });
    expect(repaired.choices[0]!.message.content).toBe(res.choices[0]!.message.content);
    await provider.close();
  });

  it('verifies sha256 when the registry pins one', async () => {
    const { createHash } = await import('node:crypto');
    const sha = createHash('sha256').update(await readFile(env.tinyPath)).digest('hex');
    await env.writeRegistry({ pinned: { file: 'tiny.gguf', sha256: sha }, wrong: { file: 'tiny.gguf', sha256: 'ab'.repeat(32) } });
    const provider = env.provider({ model: 'pinned' });
    const wrong = await failure(provider.chat(llamaRequest(), { provider: 'local', model: 'wrong' }, { signal: noSignal() }));
    expect(wrong.kind).toBe('server');
    expect(wrong.message).toMatch(/sha256 mismatch/);
    const ok = await provider.chat(llamaRequest(), { provider: 'local', model: 'pinned' }, { signal: noSignal() });
    expect(ok.choices[0]!.finishReason).toBe('stop');
    await provider.close();
  });

  it('a broken registry fails with kind server naming file, field and line', async () => {
    await writeFile(join(env.dir, 'registry.yaml'), 'models:\n  tiny:\n    file: tiny.gguf\n    contextSize: lots\n');
    const provider = env.provider();
    const err = await failure(provider.chat(llamaRequest(), tinyTarget, { signal: noSignal() }));
    expect(err.kind).toBe('server');
    expect(err.message).toMatch(/registry\.yaml:4: models\.tiny\.contextSize/);
    await provider.close();
    await env.writeRegistry({ tiny: { file: 'tiny.gguf' } });
  });
});

describe('llama-cpp provider: worker failures', () => {
  it('a worker killed mid-request fails that request as retryable server error; the next one succeeds after restart', async () => {
    await env.writeRegistry({ tiny: { file: 'tiny.gguf', contextSize: 8192, parallel: 2 } });
    const provider = env.provider();
    const stream = await provider.stream(longRequest(8000), tinyTarget, { signal: noSignal() });
    const queuedBehind = provider.chat(longRequest(8000), tinyTarget, { signal: noSignal() });
    const iterator = stream.chunks[Symbol.asyncIterator]();
    expect((await iterator.next()).done).toBe(false);
    const pid = provider.workerPid('tiny')!;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');

    const err = await failure(
      (async () => {
        for (;;) if ((await iterator.next()).done) return;
      })(),
    );
    expect(err.kind).toBe('server');
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/SIGKILL/);
    expect((await failure(queuedBehind)).kind).toBe('server');

    const next = await provider.chat(llamaRequest(), tinyTarget, { signal: noSignal() });
    expect(next.choices[0]!.finishReason).toBe('stop');
    expect(provider.workerPid('tiny')).not.toBe(pid);
    expect(await provider.health('tiny')).toMatchObject({ ok: true, restarts: 1, loaded: true });
    await provider.close();
  });

  it('a hung worker is detected by the health probe, killed and restarted', async () => {
    const provider = env.provider({}, { healthTimeoutMs: 300 });
    await provider.chat(llamaRequest({ max_tokens: 1 }), tinyTarget, { signal: noSignal() });
    const pid = provider.workerPid('tiny')!;
    process.kill(pid, 'SIGSTOP');
    const health = await provider.health('tiny');
    expect(health.ok).toBe(false);
    expect(health.detail).toMatch(/unresponsive/);
    await waitFor(() => !isAlive(pid));
    const next = await provider.chat(llamaRequest(), tinyTarget, { signal: noSignal() });
    expect(next.choices[0]!.finishReason).toBe('stop');
    expect(provider.workerPid('tiny')).not.toBe(pid);
    await provider.close();
  });

  it('the watchdog kills a hung worker without anyone asking', async () => {
    // Generous timeout: with other suites loading the 2 cores, a healthy worker may take a few hundred ms to answer.
    const provider = env.provider({}, { healthIntervalMs: 100, healthTimeoutMs: 5_000 });
    await provider.chat(llamaRequest({ max_tokens: 1 }), tinyTarget, { signal: noSignal() });
    const pid = provider.workerPid('tiny')!;
    const stream = await provider.stream(longRequest(8000), tinyTarget, { signal: noSignal() });
    process.kill(pid, 'SIGSTOP');
    const err = await failure(collect(stream.chunks));
    expect(err.kind).toBe('server');
    expect(err.message).toMatch(/unresponsive/);
    await provider.close();
  });

  it('loadAtStart loads before the first request; close() ends the worker and later calls fail', async () => {
    const provider = env.provider({ loadAtStart: true });
    await waitFor(() => provider.workerPid('tiny') !== undefined);
    const pid = provider.workerPid('tiny')!;
    let health = await provider.health('tiny');
    // Up to 30 s: under load, booting a worker (bindings, model) can take several seconds.
    for (let i = 0; i < 600 && !health.loaded; i++) {
      await new Promise((r) => setTimeout(r, 50));
      health = await provider.health('tiny');
    }
    expect(health).toMatchObject({ ok: true, loaded: true });
    await provider.close();
    await waitFor(() => !isAlive(pid));
    expect((await failure(provider.chat(llamaRequest(), tinyTarget, { signal: noSignal() }))).kind).toBe('server');
  });

  it('a worker that dies booting fails the waiting requests at once, then fails fast during the backoff', async () => {
    const workerPath = fileURLToPath(new URL('../../fixtures/llama-boot-crash-worker.ts', import.meta.url));
    const provider = env.provider({}, { workerPath, restartBaseMs: 5_000 });
    const err = await failure(provider.chat(llamaRequest(), tinyTarget, { signal: noSignal() }));
    expect(err.kind).toBe('server');
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/exited with code 7: fake worker: cannot load bindings/);
    const started = performance.now();
    const fast = await failure(provider.chat(llamaRequest(), tinyTarget, { signal: noSignal() }));
    expect(performance.now() - started).toBeLessThan(200);
    expect(fast.message).toMatch(/crashed while starting or loading/);
    expect(fast.retryAfterMs).toBeGreaterThan(0);
    expect(await provider.health('tiny')).toMatchObject({ ok: false, restarts: 1 });
    await provider.close();
  });

  it('times out with kind timeout when the call deadline passes', async () => {
    const provider = env.provider({ timeoutMs: 150 });
    await provider.chat(llamaRequest({ max_tokens: 1 }), tinyTarget, { signal: noSignal() }).catch(() => undefined);
    const err = await failure(provider.chat(longRequest(8000), tinyTarget, { signal: noSignal() }));
    expect(err.kind).toBe('timeout');
    expect(err.retryable).toBe(true);
    await provider.close();
  });
});

import { describe, expect, it } from 'vitest';
import { startFakeUpstream } from '../fixtures/fake-upstream.js';
import { startRouter } from '../fixtures/router-harness.js';

describe('server.shutdownDelayMs: out of rotation before the listener closes', () => {
  it('keeps serving (readyz 503, Connection: close) for the delay, then closes', async () => {
    const up = await startFakeUpstream();
    const h = await startRouter(`
server: { shutdownDelayMs: 600, drainMs: 2000 }
providers:
  up: { kind: openai, apiKeys: [sk-1], baseURL: "${up.url}/v1" }
routes:
  chat: { targets: [{ provider: up, model: gpt-4o-mini }] }
`);
    try {
      const done = h.server.shutdown();
      const ready = await fetch(`${h.url}/readyz`);
      expect(ready.status).toBe(503);
      const res = await fetch(`${h.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'still here?' }] }) });
      expect(res.status).toBe(200);
      expect(res.headers.get('connection')).toBe('close');
      expect(await done).toBe(true);
      await expect(fetch(`${h.url}/healthz`)).rejects.toThrow();
    } finally {
      await h.close();
      await up.close();
    }
  });
});

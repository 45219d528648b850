/** A CliContext that records what a command writes, with a scripted fetch. */
import type { CliContext } from '../../../src/cli/cli-context.js';

export interface Captured {
  ctx: CliContext;
  out: () => string;
  err: () => string;
  /** Requests the command made through fetch. */
  calls: Array<{ url: string; method: string; headers: Record<string, string>; body: unknown }>;
}

export type FakeAnswer = { status: number; body: unknown } | Error;

export function captureContext(answer: (url: URL, method: string) => FakeAnswer = () => ({ status: 200, body: {} }), env: NodeJS.ProcessEnv = {}): Captured {
  let out = '';
  let err = '';
  const calls: Captured['calls'] = [];
  const fetchFake = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const method = init?.method ?? 'GET';
    calls.push({ url: url.href, method, headers: { ...(init?.headers as Record<string, string>) }, body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined });
    const a = answer(url, method);
    if (a instanceof Error) throw a;
    return new Response(typeof a.body === 'string' ? a.body : JSON.stringify(a.body), { status: a.status });
  }) as typeof fetch;
  return {
    ctx: {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      env,
      fetch: fetchFake,
      now: () => Date.parse('2026-03-01T12:00:00Z'),
    },
    out: () => out,
    err: () => err,
    calls,
  };
}

/** What fetch throws when nothing listens. */
export function refused(): Error {
  return Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) });
}

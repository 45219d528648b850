import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The real router process (src/main.ts), a real upstream that streams slowly, and SIGTERM in
 * the middle: what apps in flight get, what new ones get, and the exit code.
 */

/** An OpenAI-compatible upstream: the user message `"<chunks>x<gapMs>"` sets the pace of the answer. */
function startSlowUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', async () => {
      const body = JSON.parse(raw || '{}') as { stream?: boolean; messages?: Array<{ content: string }> };
      const [chunks, gap] = (body.messages?.at(-1)?.content ?? '1x0').split('x').map(Number) as [number, number];
      const base = { id: 'chatcmpl-up', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'm' };
      const wait = () => new Promise((r) => setTimeout(r, gap));
      if (!body.stream) {
        await new Promise((r) => setTimeout(r, chunks * gap));
        if (res.destroyed) return;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'done' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const send = (o: unknown) => !res.destroyed && res.write(`data: ${typeof o === 'string' ? o : JSON.stringify(o)}\n\n`);
      send({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
      for (let i = 0; i < chunks && !res.destroyed; i++) {
        send({ ...base, choices: [{ index: 0, delta: { content: `t${i} ` }, finish_reason: null }] });
        await wait();
      }
      send({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
      send('[DONE]');
      res.end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/v1`,
        close: () => {
          server.closeAllConnections();
          return new Promise<void>((r) => server.close(() => r()));
        },
      }),
    ),
  );
}

interface Proc {
  child: ChildProcess;
  url: string;
  adminUrl?: string;
  /** JSON log lines so far. */
  logs: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** Starts `node --import tsx src/main.ts --config <file> --port 0 [...args]`; resolves once it listens. */
function startProcess(configFile: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', configFile, '--port', '0', ...args], {
    cwd: repo,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'llm-router listening') resolve({ child, url: String(entry.url), adminUrl: entry.adminUrl as string | undefined, logs, exited });
        } catch {
          // not a log line
        }
      }
    });
    void exited.then((code) => reject(new Error(`router exited (${code}) before listening: ${stderr.slice(0, 2000)}`)));
  });
}

/** Reads an SSE answer as it comes; `first` resolves at the first content event. */
function streamChat(url: string, content: string, headers: Record<string, string> = {}) {
  let firstSeen: () => void;
  const first = new Promise<void>((r) => (firstSeen = r));
  const events: string[] = [];
  const done = (async () => {
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model: 'chat', stream: true, messages: [{ role: 'user', content }] }) });
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { done: end, value } = await reader.read();
      if (end) break;
      buf += dec.decode(value, { stream: true });
      let at: number;
      while ((at = buf.indexOf('\n\n')) >= 0) {
        events.push(buf.slice(0, at).replace(/^data: /, ''));
        buf = buf.slice(at + 2);
        if (events.length === 2) firstSeen!();
      }
    }
    return { status: res.status, events };
  })();
  return { first, done };
}

const connectRefused = (url: string) =>
  new Promise<boolean>((resolve) => {
    const u = new URL(url);
    const s = net.connect(Number(u.port), u.hostname);
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });

describe('graceful shutdown of the router process', () => {
  let upstream: Awaited<ReturnType<typeof startSlowUpstream>>;
  let dir: string;
  const KEY = 'proc-app-key';
  const config = (name: string, drainMs: number, extra = '') => {
    const file = path.join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      `server: { host: 127.0.0.1, port: 0, drainMs: ${drainMs}, adminListen: { host: 127.0.0.1, port: 0 } }
${extra}
providers: { up: { kind: openai, baseURL: "${upstream.url}", apiKeys: [k] } }
routes: { chat: { targets: [{ provider: up, model: m }], idleTimeoutMs: 10000, firstTokenTimeoutMs: 10000 } }
`,
    );
    return file;
  };
  // Two processes, started together (starting one takes seconds): one drains in time, the
  // other's drainMs is too short.
  let clean: Proc;
  let short: Proc;
  let cleanFile: string;
  beforeAll(async () => {
    upstream = await startSlowUpstream();
    dir = mkdtempSync(path.join(tmpdir(), 'router-shutdown-'));
    cleanFile = config('clean', 6_000, 'auth: { keys: ["${APP_KEY}"] }');
    // --host beyond loopback (overriding the file's 127.0.0.1): client keys are then mandatory.
    [clean, short] = await Promise.all([startProcess(cleanFile, ['--host', '0.0.0.0'], { APP_KEY: KEY }), startProcess(config('short', 400))]);
    clean.url = clean.url.replace('0.0.0.0', '127.0.0.1');
  }, 60_000);
  afterAll(async () => {
    clean?.child.kill('SIGKILL');
    short?.child.kill('SIGKILL');
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const auth = { authorization: `Bearer ${KEY}` };

  it('refuses a reload that would leave a --host beyond loopback without client keys', async () => {
    const models = (headers: Record<string, string> = {}) => fetch(`${clean.url}/v1/models`, { headers });
    expect((await models()).status).toBe(401);
    // The same file, edited: a typo in the variable name leaves no client key.
    config('clean', 6_000, 'auth: { keys: ["${APP_KEY_TYPO}"] }');
    const refused = () => clean.logs.some((l) => String(l.msg).includes('would switch client auth off'));
    for (let i = 0; i < 100 && !refused(); i++) await new Promise((r) => setTimeout(r, 30));
    expect(refused()).toBe(true);
    expect((await models()).status).toBe(401);
    expect((await models(auth)).status).toBe(200);
    expect(await (await fetch(`${clean.adminUrl}/metrics`)).text()).toContain('llm_router_config_reloads_total{result="rejected"} 1');
  });

  it('drains: streams in flight finish, /readyz says 503, new connections are refused, exit 0', async () => {
    const p = clean;
    // An idle keep-alive connection, to be closed at once.
    const idle = net.connect(Number(new URL(p.url).port), '127.0.0.1');
    let idleData = '';
    idle.on('data', (d) => (idleData += d));
    idle.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const idleClosed = new Promise<number>((r) => idle.once('close', () => r(performance.now())));
    const s = streamChat(p.url, '12x150', auth);
    await s.first;
    // A non-streamed request in flight, answered during the drain.
    const json = fetch(`${p.url}/v1/chat/completions`, { method: 'POST', headers: auth, body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: '1x800' }] }) });
    await new Promise((r) => setTimeout(r, 100));
    expect(idleData).toContain('"ok"');

    const sentAt = performance.now();
    p.child.kill('SIGTERM');
    let ready: Response | undefined;
    for (let i = 0; i < 100; i++) {
      ready = await fetch(`${p.adminUrl}/readyz`);
      if (ready.status === 503) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(ready!.status).toBe(503);
    expect(await ready!.json()).toMatchObject({ status: 'shutting_down' });
    expect(await connectRefused(p.url)).toBe(true);
    expect((await idleClosed) - sentAt).toBeLessThan(1_000);

    const answer = await json;
    expect(answer.status).toBe(200);
    expect(answer.headers.get('connection')).toBe('close');
    const { events } = await s.done;
    expect(events.at(-1)).toBe('[DONE]');
    expect(events.some((e) => e.includes('"error"'))).toBe(false);
    expect(events.filter((e) => e.includes('"t11 "'))).toHaveLength(1);
    expect(await p.exited).toBe(0);
  });

  it('past drainMs: streams end with a server_shutting_down event and [DONE], unanswered requests get a 503, exit 1', async () => {
    const p = short;
    const s = streamChat(p.url, '100x100');
    await s.first;
    const json = fetch(`${p.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: '1x5000' }] }) });
    await new Promise((r) => setTimeout(r, 100));
    const sentAt = performance.now();
    p.child.kill('SIGTERM');

    const { events } = await s.done;
    expect(events.at(-1)).toBe('[DONE]');
    const err = JSON.parse(events.at(-2)!);
    expect(err.error).toMatchObject({ code: 'server_shutting_down', type: 'server_error', message: expect.stringContaining('shutting down') });
    expect(performance.now() - sentAt).toBeLessThan(2_500);

    const answer = await json;
    expect(answer.status).toBe(503);
    expect((await answer.json()).error).toMatchObject({ code: 'server_shutting_down', type: 'service_unavailable' });
    expect(await p.exited).toBe(1);
  });
});

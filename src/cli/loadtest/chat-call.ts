/**
 * One chat completion against an OpenAI-compatible URL, timed: whole answer, and the first
 * token of a stream. Plain node:http(s) with a keep-alive agent: the load generator's own cost
 * per call stays small and the agent's sockets are ours to close at the end.
 */
import http from 'node:http';
import https from 'node:https';

export interface CallResult {
  stream: boolean;
  /**
   * "ok"; an HTTP status ("429", "503"); or what went wrong: "timeout", a socket error code
   * ("ECONNREFUSED", "ECONNRESET"), "stream_error" (an error event in the stream), "stream_cut"
   * (ended without [DONE]), "error_body" (a 2xx with an error), "bad_body" (not a completion).
   */
  outcome: string;
  /** No HTTP answer at all because nothing could be connected to (the URL cannot be reached). */
  unreachable: boolean;
  /** Until the last byte of the answer. */
  latencyMs: number;
  /** Streams: until the first content (or tool-call) delta. */
  ttftMs?: number;
}

export interface ChatTarget {
  url: URL;
  agent: http.Agent;
  /** Sent with every call (authorization, content-type). */
  headers: Record<string, string>;
  timeoutMs: number;
}

/** `…/chat/completions` as given; a bare origin gets `/v1/chat/completions`; any other path (`…/v1`) gets `/chat/completions`. */
export function chatCompletionsUrl(text: string): URL {
  const url = new URL(text);
  const p = url.pathname.replace(/\/+$/, '');
  if (!p.endsWith('/chat/completions')) url.pathname = `${p || '/v1'}/chat/completions`;
  return url;
}

/** An agent for `url` keeping at most `sockets` connections. */
export function agentFor(url: URL, sockets: number): http.Agent {
  const opts = { keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets };
  return url.protocol === 'https:' ? new https.Agent(opts) : new http.Agent(opts);
}

type Delta = { content?: unknown; refusal?: unknown; tool_calls?: unknown };

/** A chunk carries something of the answer (not just the role, or a usage-only chunk). */
function hasToken(chunk: { choices?: Array<{ delta?: Delta }> }): boolean {
  return (chunk.choices ?? []).some((c) => {
    const d = c.delta;
    return !!d && ((typeof d.content === 'string' && d.content.length > 0) || (typeof d.refusal === 'string' && d.refusal.length > 0) || (Array.isArray(d.tool_calls) && d.tool_calls.length > 0));
  });
}

/** Reads SSE `data:` payloads as they come: first token, an error event, the final [DONE]. */
class StreamWatch {
  private buf = '';
  done = false;
  errored = false;
  firstToken = false;

  /** Feeds text; returns whether the first token arrived in it. */
  push(text: string): boolean {
    this.buf += text;
    let first = false;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
      if (!line.startsWith('data:')) continue;
      const payload = line.slice(5).trim();
      if (payload === '[DONE]') {
        this.done = true;
        continue;
      }
      let chunk: { error?: unknown; choices?: Array<{ delta?: Delta }> };
      try {
        chunk = JSON.parse(payload) as typeof chunk;
      } catch {
        continue;
      }
      if (chunk.error) this.errored = true;
      else if (!this.firstToken && hasToken(chunk)) first = this.firstToken = true;
    }
    return first;
  }
}

/** What a non-streamed 2xx body is. */
function judgeBody(text: string): string {
  try {
    const body = JSON.parse(text) as { choices?: unknown; error?: unknown };
    if (body.error) return 'error_body';
    return Array.isArray(body.choices) ? 'ok' : 'bad_body';
  } catch {
    return 'bad_body';
  }
}

/** Sends one request; never rejects (every failure is an outcome). */
export function callChat(target: ChatTarget, body: string, stream: boolean, now: () => number = () => performance.now()): Promise<CallResult> {
  const t0 = now();
  const mod = target.url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    let answered = false;
    let ttftMs: number | undefined;
    const finish = (outcome: string, unreachable = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ stream, outcome, unreachable, latencyMs: now() - t0, ...(ttftMs !== undefined ? { ttftMs } : {}) });
    };
    const req = mod.request(target.url, { method: 'POST', agent: target.agent, headers: { ...target.headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      answered = true;
      const status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      res.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? 'stream_cut'));
      res.on('aborted', () => finish('stream_cut'));
      if (status < 200 || status > 299) {
        res.resume();
        res.on('end', () => finish(String(status)));
        return;
      }
      if (!stream) {
        let text = '';
        res.on('data', (d: string) => (text += d));
        res.on('end', () => finish(judgeBody(text)));
        return;
      }
      const watch = new StreamWatch();
      res.on('data', (d: string) => {
        if (watch.push(d)) ttftMs = now() - t0;
      });
      res.on('end', () => finish(watch.errored ? 'stream_error' : watch.done ? 'ok' : 'stream_cut'));
    });
    req.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? 'network', !answered));
    const timer = setTimeout(() => {
      // Never connected (a black-holed address) counts as unreachable; a slow answer does not.
      const connected = req.socket !== null && req.socket !== undefined && !req.socket.connecting;
      finish('timeout', !answered && !connected);
      req.destroy();
    }, target.timeoutMs);
    req.end(body);
  });
}

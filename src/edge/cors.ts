/**
 * CORS for browser apps calling the router directly (`server.cors`; off when absent).
 *
 * Our own ~80 lines rather than the `cors` npm package (evaluated first): `cors` answers a
 * preflight from a disallowed origin with a 204 and no headers instead of refusing it, never
 * checks the requested method or headers against the allowed ones, cannot match a header
 * prefix (`x-stainless-*`, sent by the official SDKs), and its last real release is years old.
 * Wrapping it to get those would be more code than this.
 *
 * Rules: an allowed origin is echoed exactly (with `Vary: Origin`), never `*`, so credentials
 * and any-origin can never meet; a disallowed origin gets no CORS headers at all, and its
 * preflight a 403 in OpenAI's error shape. Preflights need no API key (browsers never send one).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouterConfig } from '../config/schema.js';
import { sendAndClose } from './connection.js';
import { wireError } from './http-errors.js';

export type CorsConfig = NonNullable<RouterConfig['server']['cors']>;

interface CompiledCors {
  anyOrigin: boolean;
  origins: Set<string>;
  methods: Set<string>;
  methodList: string;
  exact: Set<string>;
  prefixes: string[];
  expose: string;
  credentials: boolean;
  maxAge: string;
}

const compiled = new WeakMap<CorsConfig, CompiledCors>();

function compile(cfg: CorsConfig): CompiledCors {
  let c = compiled.get(cfg);
  if (!c) {
    const headers = cfg.headers.map((h) => h.toLowerCase());
    c = {
      anyOrigin: cfg.origins.includes('*'),
      origins: new Set(cfg.origins),
      methods: new Set(cfg.methods),
      methodList: cfg.methods.join(', '),
      exact: new Set(headers.filter((h) => !h.endsWith('*'))),
      prefixes: headers.filter((h) => h.endsWith('*')).map((h) => h.slice(0, -1)),
      expose: cfg.exposeHeaders.join(', '),
      credentials: cfg.credentials,
      maxAge: String(cfg.maxAgeS),
    };
    compiled.set(cfg, c);
  }
  return c;
}

function addVary(res: ServerResponse, ...names: string[]): void {
  const have = String(res.getHeader('vary') ?? '');
  const list = have ? have.split(/\s*,\s*/) : [];
  for (const n of names) if (!list.some((v) => v.toLowerCase() === n.toLowerCase())) list.push(n);
  res.setHeader('vary', list.join(', '));
}

/**
 * Applies CORS to one request before anything else sees it. Returns true when the request was
 * a preflight and has been answered (204, or 403 when refused).
 */
export function handleCors(cfg: CorsConfig | undefined, req: IncomingMessage, res: ServerResponse): boolean {
  if (!cfg) return false;
  const c = compile(cfg);
  const origin = req.headers.origin;
  const requestedMethod = req.headers['access-control-request-method'];
  const preflight = req.method === 'OPTIONS' && typeof requestedMethod === 'string';
  addVary(res, 'Origin');
  if (typeof origin !== 'string') return false;
  const allowed = c.anyOrigin || c.origins.has(origin);

  if (!preflight) {
    if (allowed) {
      res.setHeader('access-control-allow-origin', origin);
      if (c.credentials) res.setHeader('access-control-allow-credentials', 'true');
      if (c.expose) res.setHeader('access-control-expose-headers', c.expose);
    }
    return false;
  }

  addVary(res, 'Access-Control-Request-Method', 'Access-Control-Request-Headers');
  const requested = String(req.headers['access-control-request-headers'] ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  const badHeader = requested.find((h) => !c.exact.has(h) && !c.prefixes.some((p) => h.startsWith(p)));
  const refused = !allowed
    ? `the origin ${JSON.stringify(origin)} is not allowed (server.cors.origins)`
    : !c.methods.has(requestedMethod.toUpperCase())
      ? `the method ${JSON.stringify(requestedMethod)} is not allowed (server.cors.methods)`
      : badHeader !== undefined
        ? `the request header ${JSON.stringify(badHeader)} is not allowed (server.cors.headers)`
        : undefined;
  if (refused) {
    sendAndClose(req, res, wireError(403, `CORS preflight refused: ${refused}.`, 'invalid_request_error', null, 'cors_not_allowed'));
    return true;
  }
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('access-control-allow-methods', c.methodList);
  if (requested.length) res.setHeader('access-control-allow-headers', requested.join(', '));
  res.setHeader('access-control-max-age', c.maxAge);
  if (c.credentials) res.setHeader('access-control-allow-credentials', 'true');
  res.writeHead(204);
  res.end();
  return true;
}

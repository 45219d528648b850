import { isIP } from 'node:net';
import type { Request } from 'express';

/**
 * Whether a request was made by a page of this very origin, or by no page at all (curl, a
 * script). Browsers say where a request comes from in `Sec-Fetch-Site` and, for anything but
 * a plain GET, `Origin`: a page of another site, or of a sibling subdomain (same-site, which
 * SameSite=Strict does not keep out), is refused even if the CORS settings of the main
 * listener would let that origin read answers.
 */
export function fromSameOrigin(req: Request): boolean {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return false; // "null" (a sandboxed frame, a file: page) and garbage
  }
  return host === req.headers.host || host === req.host;
}

const LOOPBACK_NAMES = new Set(['localhost', 'localhost.', 'ip6-localhost']);

/** Whether an IP address is a loopback one (127.0.0.0/8, ::1, and IPv4 mapped into IPv6). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(a) === 4) return a.startsWith('127.');
  return a === '::1';
}

/**
 * Whether a Host header names this machine's loopback (localhost, 127.x.x.x, [::1], with any
 * port). A page of another site whose name was made to resolve to 127.0.0.1 (DNS rebinding)
 * sends its own name here, so it is refused the keyless loopback login.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(host) ?? /^([^:]+)(?::\d+)?$/.exec(host);
  if (!m) return false;
  const name = m[1]!.toLowerCase();
  return LOOPBACK_NAMES.has(name) || isLoopbackAddress(name);
}

/** The client's address as express sees it (behind `server.trustProxy`, the forwarded one). */
export const clientOf = (req: Request): string => req.ip ?? req.socket.remoteAddress ?? 'unknown';

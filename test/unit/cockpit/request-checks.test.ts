import { describe, expect, it } from 'vitest';
import { parseCookies, sessionCookie } from '../../../src/cockpit/cookies.js';
import { isLoopbackAddress, isLoopbackHost } from '../../../src/cockpit/request-checks.js';

describe('loopback checks', () => {
  it('knows loopback Host headers, and refuses other names (DNS rebinding)', () => {
    for (const h of ['127.0.0.1', '127.0.0.1:9090', 'localhost:9090', 'LOCALHOST', '[::1]:9090', '[::1]', '127.8.9.10']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of [undefined, '', 'evil.example:9090', '127.0.0.1.evil.example', '10.0.0.1', '[::2]:80', 'localhost.evil', '0.0.0.0']) expect(isLoopbackHost(h), String(h)).toBe(false);
  });

  it('knows loopback peer addresses', () => {
    expect(isLoopbackAddress('127.0.0.1')).toBe(true);
    expect(isLoopbackAddress('::ffff:127.0.0.1')).toBe(true);
    expect(isLoopbackAddress('::1')).toBe(true);
    expect(isLoopbackAddress('10.1.2.3')).toBe(false);
    expect(isLoopbackAddress(undefined)).toBe(false);
  });
});

describe('cookies', () => {
  it('parses a Cookie header (first value wins, junk skipped)', () => {
    const c = parseCookies('a=1; b="two"; junk; a=3; =x');
    expect([...c]).toEqual([
      ['a', '1'],
      ['b', 'two'],
    ]);
    expect(parseCookies(undefined).size).toBe(0);
  });

  it('writes an HttpOnly, SameSite=Strict session cookie on the dashboard path', () => {
    expect(sessionCookie('s', 'tok', { path: '/dashboard', maxAgeSeconds: 60, secure: false })).toBe('s=tok; Path=/dashboard; Max-Age=60; HttpOnly; SameSite=Strict');
    expect(sessionCookie('s', '', { path: '/dashboard', maxAgeSeconds: 0, secure: true })).toBe('s=; Path=/dashboard; Max-Age=0; HttpOnly; SameSite=Strict; Secure');
  });
});

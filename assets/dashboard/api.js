// The dashboard's calls to its own API. The CSRF token comes from /api/session and goes in a
// header of every action; the session cookie itself is HttpOnly and sent by the browser.

let csrf = '';

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code ?? null;
  }
}

async function call(path, init = {}) {
  const res = await fetch(path, { credentials: 'same-origin', cache: 'no-store', ...init, headers: { accept: 'application/json', ...(init.headers ?? {}) } });
  if (res.status === 204) return null;
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

export async function session() {
  const s = await call('api/session');
  csrf = s.csrf;
  return s;
}

export async function login(key) {
  const s = await call('login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key }) });
  csrf = s.csrf;
  return s;
}

export const logout = () => call('logout', { method: 'POST', headers: { 'x-csrf-token': csrf } });

export function live(window, route) {
  const q = new URLSearchParams({ window });
  if (route) q.set('route', route);
  return call(`api/live?${q}`);
}

export const keys = () => call('api/keys');
export const ledger = (range) => call(`api/usage?${new URLSearchParams({ range })}`);

function act(path, body) {
  return call(path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify(body ?? {}) });
}

export const targetAction = (provider, model, action, reason) =>
  act(`api/targets/${encodeURIComponent(provider)}/${encodeURIComponent(model)}/${action}`, reason ? { reason } : {});

export const revokeKey = (id) => act(`api/keys/${encodeURIComponent(id)}/revoke`);

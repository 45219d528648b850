// The dashboard page: sign-in, then a poll of api/live once a second.
import * as api from './api.js';
import { $ } from './dom.js';
import { ago } from './format.js';
import { invalidateTargets, renderTargets, renderTimeline } from './views-health.js';
import { loadKeys } from './views-keys.js';
import { renderSpend, wireLedger } from './views-spend.js';
import { renderTraffic, syncRouteOptions } from './views-traffic.js';

const POLL_MS = 1000;
const HIDDEN_POLL_MS = 5000;
const KEYS_MS = 15_000;

const LOGIN_MESSAGES = {
  invalid_api_key: 'That is not an admin key.',
  too_many_login_attempts: 'Too many failed attempts: wait a few minutes.',
  dashboard_disabled: 'The dashboard is disabled: no auth.adminKeys are configured.',
  cross_origin: 'Sign in from the dashboard page itself.',
};

let timer;
let keysTimer;
let lastOk = 0;
let running = false;

function notify(text, isError = false) {
  const el = $('notice');
  el.textContent = text;
  el.classList.toggle('error', isError);
  el.hidden = false;
  clearTimeout(notify.t);
  notify.t = setTimeout(() => (el.hidden = true), 6000);
}

function showLogin(code) {
  stop();
  $('app').hidden = true;
  $('login').hidden = false;
  const err = $('login-error');
  err.hidden = !code || !LOGIN_MESSAGES[code];
  err.textContent = LOGIN_MESSAGES[code] ?? '';
  $('login-key').focus();
}

function showApp(s) {
  $('login').hidden = true;
  $('app').hidden = false;
  $('who').textContent = s.via === 'loopback' ? 'signed in: loopback operator listener' : `signed in with admin key ${s.keyId}`;
  start();
}

function stop() {
  running = false;
  clearTimeout(timer);
  clearInterval(keysTimer);
}

function start() {
  if (running) return;
  running = true;
  void poll();
  void loadKeys(notify);
  keysTimer = setInterval(() => void loadKeys(notify), KEYS_MS);
}

let inFlight = false;
let again = false;

/** One poll at a time: a poll asked for while one is under way runs right after it. */
async function poll() {
  if (!running) return;
  if (inFlight) {
    again = true;
    return;
  }
  inFlight = true;
  clearTimeout(timer);
  try {
    const data = await api.live($('window-select').value, $('route-select').value);
    lastOk = Date.now();
    renderTargets(data, refreshNow, notify);
    renderTimeline(data);
    renderTraffic(data);
    syncRouteOptions(data);
    renderSpend(data);
    const fresh = $('freshness');
    fresh.textContent = `updated ${new Date(lastOk).toLocaleTimeString('en-GB', { hour12: false })}`;
    fresh.classList.remove('stale');
  } catch (err) {
    if (err.status === 401) {
      inFlight = false;
      return showLogin('login_required');
    }
    const fresh = $('freshness');
    fresh.textContent = lastOk ? `no answer since ${ago(lastOk)}: ${err.message}` : `no answer: ${err.message}`;
    fresh.classList.add('stale');
  }
  inFlight = false;
  if (!running) return;
  if (again) {
    again = false;
    return void poll();
  }
  timer = setTimeout(poll, document.hidden ? HIDDEN_POLL_MS : POLL_MS);
}

function refreshNow() {
  invalidateTargets();
  void poll();
}

async function boot() {
  $('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('login-key');
    try {
      const s = await api.login(input.value);
      input.value = '';
      history.replaceState(null, '', location.pathname);
      showApp(s);
    } catch (err) {
      input.select();
      showLogin(err.code ?? 'invalid_api_key');
    }
  });
  $('logout').addEventListener('click', async () => {
    try {
      await api.logout();
    } finally {
      showLogin();
    }
  });
  $('controls').addEventListener('change', () => refreshNow());
  $('controls').addEventListener('submit', (event) => event.preventDefault());
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && running) void poll();
  });
  wireLedger(notify);

  try {
    showApp(await api.session());
  } catch (err) {
    // A form sign-in without script comes back with ?login=<why>.
    const why = new URLSearchParams(location.search).get('login');
    showLogin(err.code === 'dashboard_disabled' ? 'dashboard_disabled' : why);
  }
}

void boot();

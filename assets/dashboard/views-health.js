// Targets, their timeline and the transitions list.
import * as api from './api.js';
import { timeline } from './charts.js';
import { confirmAction } from './dialog.js';
import { $, h, setRows } from './dom.js';
import { ago, clock, num } from './format.js';

/** The breaker's error rate against the rate that opens it. */
function breakerCell(b) {
  const fill = h('span', { class: `fill${b.errorPercent >= b.opensAtPercent && b.calls >= b.minRequests ? ' hot' : ''}` });
  fill.style.width = `${Math.min(100, b.errorPercent)}%`;
  const mark = h('span', { class: 'mark' });
  mark.style.left = `${Math.min(100, b.opensAtPercent)}%`;
  return h(
    'td',
    {},
    h('span', { class: 'bar', 'aria-hidden': 'true' }, fill, mark),
    `${num(b.errorPercent, 1)} % of ${b.calls}`,
    h('span', { class: 'muted small' }, ` (opens at ${b.opensAtPercent} %, ≥ ${b.minRequests} calls)`),
  );
}

function probationCell(t) {
  if (!t.probation) return h('td', { class: 'muted' }, t.state === 'open' && t.probes.next ? `next probe ${clock(Date.parse(t.probes.next))}` : '—');
  const { good, needed } = t.probation;
  return h('td', {}, h('progress', { max: needed, value: good, 'aria-label': `probation of ${t.provider}/${t.model}` }), ` ${good}/${needed} good`);
}

function actionButtons(t, refresh, notify) {
  const name = `${t.provider}/${t.model}`;
  const button = (action, label, danger, text) =>
    h('button', {
      type: 'button',
      class: `small${danger ? ' danger' : ' secondary'}`,
      'aria-label': `${label} ${name}`,
      dataset: { action },
      on: {
        click: async () => {
          const answer = await confirmAction({ title: `${label} ${name}?`, text, confirm: label, askReason: action === 'drain' });
          if (!answer.ok) return;
          try {
            await api.targetAction(t.provider, t.model, action, answer.reason);
            notify(`${name}: ${action} done.`);
          } catch (err) {
            notify(`${name}: ${action} failed: ${err.message}`, true);
          }
          refresh();
        },
      },
    }, label);
  const out = [];
  if (t.state !== 'drained') out.push(button('drain', 'Drain', true, 'No live traffic, no probes and no shadow calls reach it until it is released or restored.'));
  if (t.state === 'drained') out.push(button('release', 'Release', false, 'It becomes open: probes resume and it earns its way back through probation.'));
  if (t.state !== 'healthy') out.push(button('restore', 'Restore', false, 'It takes live traffic again at once, with a clean breaker window.'));
  return h('td', { class: 'actions' }, out);
}

let shown = '';

/**
 * Rebuilds the rows only when a target changed (so a keyboard user's focus on a button is not
 * pulled away every second); otherwise just the "… ago" cells move on.
 */
export function renderTargets(data, refresh, notify) {
  const now = Date.parse(data.now);
  const tbody = $('targets-table').tBodies[0];
  const key = JSON.stringify([data.health, data.targets]);
  if (key === shown) {
    for (const cell of tbody.querySelectorAll('td[data-since]')) cell.textContent = ago(cell.dataset.since, now);
    return;
  }
  shown = key;
  // A rebuilt row gets its button's focus back (keyboard users stay where they were).
  const active = document.activeElement;
  const focused = tbody.contains(active) ? { target: active.closest('tr')?.dataset.target, action: active.dataset.action } : undefined;
  $('targets-empty').hidden = data.targets.length > 0;
  setRows(
    $('targets-table').tBodies[0],
    data.targets.map((t) =>
      h(
        'tr',
        { dataset: { target: `${t.provider}/${t.model}`, state: t.state } },
        h('th', { scope: 'row' }, `${t.provider}/${t.model}`, h('div', { class: 'muted small' }, t.routes.join(', '))),
        h('td', {}, h('span', { class: `badge state-${t.state}`, dataset: { role: 'state' } }, t.state)),
        h('td', { title: t.since, dataset: { since: t.since } }, ago(t.since, now)),
        h('td', { class: 'reason' }, t.reason),
        breakerCell(t.breaker),
        probationCell(t),
        actionButtons(t, refresh, notify),
      ),
    ),
    data.health === 'off' ? 'health checks are off' : 'no targets',
  );
  if (focused?.target) {
    const row = [...tbody.rows].find((r) => r.dataset.target === focused.target);
    (row?.querySelector(`button[data-action="${focused.action}"]`) ?? row?.querySelector('button'))?.focus();
  }
}

/** Forget what is shown (after an action: the next answer redraws). */
export const invalidateTargets = () => (shown = '');

export function renderTimeline(data) {
  const now = Date.parse(data.now);
  timeline($('timeline-chart'), { targets: data.targets, transitions: data.transitions, from: data.from, now, seenFrom: data.sampling.startedAt ?? now });
  $('transition-count').textContent = String(data.transitions.length);
  $('transitions').replaceChildren(
    ...data.transitions.map((e) =>
      h('li', {}, h('time', { datetime: e.at }, clock(Date.parse(e.at))), h('strong', {}, `${e.provider}/${e.model}`), ` ${e.from ?? 'first seen'} → ${e.to}: ${e.reason}`),
    ),
  );
}

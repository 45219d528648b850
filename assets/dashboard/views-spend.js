// Spend per key and team, limit refusals, the cache, the local model, and the ledger report.
import * as api from './api.js';
import { $, h, setRows } from './dom.js';
import { int, num, percent, usd } from './format.js';

/** A last row saying how many rows the server left out. */
function more(tbody, n, what) {
  if (!n) return;
  const cols = tbody.closest('table').querySelectorAll('thead th').length;
  tbody.append(h('tr', {}, h('td', { class: 'empty', colspan: cols }, `and ${int(n)} more ${what} (the ledger report has them all)`)));
}

export function renderSpend(data) {
  const sp = data.spend;
  $('spend-figures').replaceChildren('cost in the window ', h('strong', { dataset: { role: 'total-cost' } }, usd(sp.costUsd)));
  setRows(
    $('spend-keys').tBodies[0],
    sp.keys.map((k) =>
      h(
        'tr',
        { dataset: { key: k.key } },
        h('td', {}, k.name ?? k.key, k.name ? h('div', { class: 'muted small' }, k.key) : null),
        h('td', {}, k.team ?? '—'),
        h('td', { class: 'num', dataset: { role: 'cost' } }, usd(k.costUsd)),
        h('td', { class: 'num' }, usd(k.costUsdTotal)),
        h('td', { class: 'num' }, int(k.promptTokens)),
        h('td', { class: 'num' }, int(k.completionTokens)),
      ),
    ),
    'no spend recorded yet',
  );
  more($('spend-keys').tBodies[0], sp.moreKeys, 'keys');
  setRows(
    $('spend-teams').tBodies[0],
    sp.teams.map((t) => h('tr', { dataset: { team: t.team } }, h('td', {}, t.team), h('td', { class: 'num' }, int(t.keys)), h('td', { class: 'num' }, usd(t.costUsd)), h('td', { class: 'num' }, int(t.promptTokens + t.completionTokens)))),
    'no spend recorded yet',
  );
  more($('spend-teams').tBodies[0], sp.moreTeams, 'teams');

  setRows(
    $('refusals-table').tBodies[0],
    data.refusals.map((r) => h('tr', {}, h('td', {}, r.route), h('td', {}, r.kind), h('td', { class: 'num' }, int(r.count)))),
    'no refusals in this window',
  );

  const c = data.cache;
  $('cache-figures').replaceChildren('hit ratio ', h('strong', {}, c.hitRatio === null ? '—' : percent(c.hitRatio)));
  const results = Object.entries(c.results);
  $('cache-results').replaceChildren(...(results.length ? results.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, int(v))]) : [h('dt', {}, 'lookups'), h('dd', {}, 'none in this window')]));

  setRows(
    $('local-table').tBodies[0],
    data.local.map((l) =>
      h('tr', {}, h('td', {}, l.provider), h('td', { class: 'num' }, num(l.tokensPerSecond.now, 1)), h('td', { class: 'num' }, num(l.tokensPerSecond.window, 1)), h('td', { class: 'num' }, l.queueDepth ?? '—'), h('td', { class: 'num' }, l.inflight ?? '—')),
    ),
    'no local model enabled',
  );
}

/** The ledger report on demand: exact per team and key, records rather than metrics. */
export function wireLedger(notify) {
  $('ledger-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const out = $('ledger-report');
    out.replaceChildren(h('p', { class: 'muted' }, 'reading the ledger…'));
    try {
      const r = await api.ledger($('ledger-range').value);
      const rows = r.data.map((row) =>
        h('tr', {}, h('td', {}, row.group.team ?? '—'), h('td', {}, row.group.key ?? '—'), h('td', { class: 'num' }, int(row.requests)), h('td', { class: 'num' }, usd(row.costUsd)), h('td', { class: 'num' }, int(row.tokens.prompt + row.tokens.completion)), h('td', { class: 'num' }, int(row.errors))),
      );
      const table = h(
        'table',
        {},
        h('caption', {}, `Ledger ${new Date(r.from).toLocaleString()} – now: ${usd(r.totals.costUsd)} over ${int(r.totals.requests)} requests${r.truncated ? ' (truncated: narrow the range)' : ''}`),
        h('thead', {}, h('tr', {}, ['Team', 'Key', 'Requests', 'Cost', 'Tokens', 'Errors'].map((c, i) => h('th', { scope: 'col', class: i >= 2 ? 'num' : undefined }, c)))),
        h('tbody'),
      );
      setRows(table.tBodies[0], rows, 'no records in this range');
      out.replaceChildren(table);
    } catch (err) {
      out.replaceChildren();
      notify(`Ledger report failed: ${err.message}`, true);
    }
  });
}

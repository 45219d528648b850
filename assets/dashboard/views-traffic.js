// Traffic, latency and time-to-first-token charts; the routes and fallbacks tables.
import { lineChart } from './charts.js';
import { $, h, setRows } from './dom.js';
import { int, ms, num, percent } from './format.js';

const WINDOW_TEXT = { '5m': 'last 5 min', '15m': 'last 15 min', '60m': 'last 60 min' };

function figures(el, parts) {
  el.replaceChildren(...parts.flatMap(([label, value], i) => [i ? ' · ' : '', `${label} `, h('strong', {}, value)]));
}

export function renderTraffic(data) {
  const t = data.traffic;
  const now = Date.parse(data.now);
  const when = WINDOW_TEXT[data.window];
  figures($('traffic-figures'), [
    ['requests', int(t.requests)],
    ['per second', num(t.perSecond, 2)],
    ['errors', t.requests ? `${int(t.errors)} (${percent(t.errors / t.requests)})` : '0'],
  ]);
  lineChart($('traffic-chart'), { lines: t.lines, from: data.from, stepMs: data.stepMs, now, title: `Requests per second, ${when}`, format: (v) => num(v, 2), floor: 1 });

  const scope = data.route ? `route ${data.route}` : 'every route';
  for (const [id, view, what] of [
    ['latency', data.latency, 'Request latency'],
    ['ttft', data.ttft, 'Time to first token'],
  ]) {
    figures($(`${id}-figures`), [
      ['p50', ms(view.p50Ms)],
      ['p99', ms(view.p99Ms)],
      [scope, ''],
    ]);
    lineChart($(`${id}-chart`), { lines: view.lines, from: data.from, stepMs: data.stepMs, now, title: `${what} of ${scope}, ${when}`, format: ms, floor: 10 });
  }

  setRows(
    $('routes-table').tBodies[0],
    t.rows.map((r) =>
      h(
        'tr',
        {},
        h('td', {}, r.route),
        h('td', {}, r.provider),
        h('td', { class: 'num' }, int(r.requests)),
        h('td', { class: 'num' }, num(r.perSecond, 2)),
        h('td', { class: 'num' }, r.errors ? `${int(r.errors)} (${percent(r.errors / r.requests)})` : '0'),
        h('td', { class: 'num' }, ms(r.latencyMs.p50)),
        h('td', { class: 'num' }, ms(r.latencyMs.p99)),
        h('td', { class: 'num' }, ms(r.ttftMs.p50)),
        h('td', { class: 'num' }, ms(r.ttftMs.p99)),
      ),
    ),
    'no requests in this window',
  );

  setRows(
    $('fallbacks-table').tBodies[0],
    data.fallbacks.map((f) => h('tr', { dataset: { from: f.from, to: f.to } }, h('td', {}, f.from), h('td', {}, f.to), h('td', {}, f.kind), h('td', {}, f.route), h('td', { class: 'num' }, int(f.count)))),
    'no fallbacks in this window',
  );
}

/** Keeps the route choice list in step with the routes seen. */
export function syncRouteOptions(data) {
  const select = $('route-select');
  const have = new Set([...select.options].map((o) => o.value));
  for (const r of new Set(data.traffic.rows.map((row) => row.route))) if (!have.has(r)) select.append(h('option', { value: r }, r));
}

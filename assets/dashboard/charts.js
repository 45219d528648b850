// Hand-drawn SVG charts: a line chart for rates and latencies, and a state band per target.
import { clock } from './format.js';
import { h, s } from './dom.js';

const H = 170;
/** Charts are drawn at the width they are shown at, so their text stays at its CSS size. */
const widthOf = (container) => Math.max(320, Math.round(container.clientWidth || 600));
const M = { left: 52, right: 10, top: 10, bottom: 22 };

/** The smallest 1, 2 or 5 × 10^k at or above v. */
export function niceMax(v, floor) {
  const x = Math.max(v, floor);
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

/**
 * Draws lines (one value per bin, null = no data) into `container`.
 * opts: { lines: [{label, values}], from, stepMs, now, title, format, floor }
 */
export function lineChart(container, opts) {
  const { lines, from, now, title, format, floor = 1 } = opts;
  const W = widthOf(container);
  const n = Math.max(1, ...lines.map((l) => l.values.length));
  const max = niceMax(Math.max(0, ...lines.flatMap((l) => l.values.filter((v) => v !== null))), floor);
  const x = (i) => M.left + ((i + 0.5) / n) * (W - M.left - M.right);
  const y = (v) => H - M.bottom - (v / max) * (H - M.top - M.bottom);
  const latest = lines.map((l) => [...l.values].reverse().find((v) => v !== null) ?? null);
  const summary = `${title}: ${lines.map((l, i) => `${l.label} ${latest[i] === null ? 'no data' : format(latest[i])}`).join(', ')}`;

  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': summary });
  for (const frac of [0, 0.5, 1]) {
    const yy = y(max * frac);
    svg.append(s('line', { class: 'axis', x1: M.left, x2: W - M.right, y1: yy, y2: yy }));
    svg.append(s('text', { x: M.left - 6, y: yy + 4, 'text-anchor': 'end' }, format(max * frac)));
  }
  svg.append(s('text', { x: M.left, y: H - 6 }, clock(from)));
  svg.append(s('text', { x: W - M.right, y: H - 6, 'text-anchor': 'end' }, `now ${clock(now)}`));
  lines.forEach((l, k) => {
    // A run of points between gaps is one path; a lone point is drawn as a dot.
    const runs = [[]];
    l.values.forEach((v, i) => {
      if (v === null) runs.push([]);
      else runs.at(-1).push([x(i).toFixed(1), y(v).toFixed(1)]);
    });
    for (const run of runs) {
      if (run.length === 1) svg.append(s('circle', { class: `dot s${k % 6}`, cx: run[0][0], cy: run[0][1], r: 2.5 }, s('title', {}, l.label)));
      else if (run.length > 1) svg.append(s('path', { class: `line s${k % 6}`, d: run.map(([px, py], i) => `${i ? 'L' : 'M'}${px},${py}`).join(' ') }, s('title', {}, l.label)));
    }
  });
  const legend = h(
    'ul',
    { class: 'legend' },
    lines.map((l, k) => h('li', {}, h('span', { class: `swatch s${k % 6}` }), `${l.label}: ${latest[k] === null ? '—' : format(latest[k])}`)),
  );
  container.replaceChildren(svg, legend);
}

/** The state a target was in at time t, from its transitions (oldest first) and its current state. */
export function stateAt(t, transitions, current) {
  let state;
  for (const e of transitions) {
    if (e.at <= t) state = e.to;
    else {
      state ??= e.from ?? 'unknown';
      break;
    }
  }
  return state ?? current;
}

/** Bands of state over [from, now], one row per target. */
export function timeline(container, { targets, transitions, from, now, seenFrom }) {
  const rowH = 18;
  const labelW = 190;
  const width = widthOf(container);
  const height = Math.max(1, targets.length) * (rowH + 6) + 20;
  const x = (t) => labelW + ((t - from) / (now - from)) * (width - labelW - 10);
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `State of each target since ${clock(from)}` });
  targets.forEach((t, row) => {
    const key = `${t.provider}/${t.model}`;
    const mine = transitions
      .filter((e) => `${e.provider}/${e.model}` === key)
      .map((e) => ({ ...e, at: Date.parse(e.at) }))
      .sort((a, b) => a.at - b.at);
    // Before the dashboard first looked (seenFrom), nothing is known.
    const known = seenFrom > from && seenFrom < now ? [seenFrom] : [];
    const cuts = [from, ...known, ...mine.map((e) => e.at).filter((at) => at > from && at < now), now].sort((a, b) => a - b);
    const top = row * (rowH + 6) + 4;
    svg.append(s('text', { x: 0, y: top + rowH - 5 }, key.length > 30 ? `${key.slice(0, 29)}…` : key));
    for (let i = 0; i < cuts.length - 1; i++) {
      const state = seenFrom > cuts[i] ? 'unknown' : stateAt(cuts[i], mine, t.state);
      const x0 = x(cuts[i]);
      const w = Math.max(1, x(cuts[i + 1]) - x0);
      svg.append(s('rect', { class: `state-${state}`, x: x0.toFixed(1), y: top, width: w.toFixed(1), height: rowH, rx: 2 }, s('title', {}, `${key}: ${state} from ${clock(cuts[i])}`)));
    }
  });
  svg.append(s('text', { x: labelW, y: height - 4 }, clock(from)));
  svg.append(s('text', { x: width - 10, y: height - 4, 'text-anchor': 'end' }, 'now'));
  container.replaceChildren(svg);
}

// Small DOM helpers. Text always goes in as text nodes (never innerHTML), so nothing the
// router reports (model names, error messages, key names) can become markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function fill(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'on') for (const [type, fn] of Object.entries(v)) el.addEventListener(type, fn);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** An HTML element: h('td', { class: 'num' }, 'text', child…). */
export const h = (tag, attrs, ...children) => fill(document.createElement(tag), attrs, children);

/** An SVG element. */
export const s = (tag, attrs, ...children) => fill(document.createElementNS(SVG_NS, tag), attrs, children);

/** Replaces a table body's rows (or shows one "none" row spanning the table). */
export function setRows(tbody, rows, emptyText = 'none in this window') {
  const cols = tbody.closest('table')?.querySelectorAll('thead th').length ?? 1;
  tbody.replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { class: 'empty', colspan: cols }, emptyText))]));
}

export const $ = (id) => document.getElementById(id);

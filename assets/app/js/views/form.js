// Building blocks of the control panel's pages: headings, cards, labelled fields, tables, and running an
// action with its error shown.
import { h, replace, toast } from '../dom.js';

/** Fills a settings page with its heading and lead paragraph, then `children`. */
export function page(body, title, lead, ...children) {
  replace(body, h('h2', {}, title), h('p', { class: 'lead' }, lead), ...children);
}

/** A card with a heading. */
export function card(title, ...children) {
  return h('section', { class: 'card', 'aria-label': title }, h('h3', {}, title), ...children);
}

/** A labelled field. */
export function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', {}, label), input, hint ? h('span', { class: 'hint' }, hint) : null);
}

/** A checkbox with its label. */
export function checkbox(label, checked, onchange) {
  return h('label', { class: 'check' }, h('input', { type: 'checkbox', checked, onchange: (e) => onchange(e.target.checked) }), label);
}

/** A table with headers and rows of cells (the last cell of a row may hold actions). */
export function table(headers, rows, empty = 'Nothing yet.') {
  if (!rows.length) return h('p', { class: 'hint' }, empty);
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
    h('thead', {}, h('tr', {}, ...headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, ...rows.map((cells) => h('tr', {}, ...cells.map((c, i) =>
      h('td', { class: i === headers.length - 1 && c instanceof Node && c.tagName !== 'SPAN' ? 'actions' : null }, c)))))));
}

/** Runs `action`, toasting `done` on success and the server's message on failure; returns its result or null. */
export async function run(action, done) {
  try {
    const result = await action();
    if (done) toast(done);
    return result ?? true;
  } catch (err) {
    toast(err.message || String(err), { error: true });
    return null;
  }
}

/** A page that failed to load. */
export function failed(body, err) {
  replace(body, h('p', { class: 'error-text', role: 'alert' }, `Could not load this page: ${err.message}`));
}
